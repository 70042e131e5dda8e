package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
)

// Probes answer the health endpoints; *pipeline.Bridge implements it.
type Probes interface {
	Live(stall time.Duration) (bool, string)
	Ready() (bool, string)
}

// ServerConfig configures the operations HTTP handler.
type ServerConfig struct {
	// StallTimeout is passed to Probes.Live.
	StallTimeout time.Duration
}

// Handler serves /metrics (m's registry), /healthz and /readyz. A probe
// answers 200 "ok" or 503 with the reason. It never serves pprof: that has
// a listener of its own (PprofHandler, metrics.pprof_listen), so that
// opening the metrics port to Prometheus never opens the profiler too.
func Handler(m *Metrics, p Probes, cfg ServerConfig) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	probe := func(check func() (bool, string)) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			ok, why := check()
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			if !ok {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			fmt.Fprintln(w, why)
		}
	}
	mux.Handle("GET /healthz", probe(func() (bool, string) { return p.Live(cfg.StallTimeout) }))
	mux.Handle("GET /readyz", probe(p.Ready))
	return mux
}

// MaxProfileSeconds bounds the seconds parameter of pprof's CPU profile,
// execution trace and delta profiles (/debug/pprof/heap?seconds=N …): a
// request for longer is refused, so one request cannot hold the profiler,
// a connection and a goroutine for hours. 30 is pprof's own default
// duration of a CPU profile.
const MaxProfileSeconds = 30

// PprofHandler serves net/http/pprof under /debug/pprof/, with the seconds
// parameter bounded by MaxProfileSeconds. Serve it on a listener of its
// own (ListenPprof), loopback by default.
func PprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// pprof reads seconds with FormValue: the query string or a form
		// body. Check every value it could pick.
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		for _, v := range r.Form["seconds"] {
			if f, err := strconv.ParseFloat(v, 64); err != nil || math.IsNaN(f) || f > MaxProfileSeconds {
				http.Error(w, "seconds must be a number of at most "+strconv.Itoa(MaxProfileSeconds), http.StatusBadRequest)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// Limits bound a listener's connections: how long a client may take to
// send a request and to read the answer, how long a kept-alive connection
// may sit idle, and how many connections may be open at once (more wait in
// the kernel's accept queue until one closes).
type Limits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxConns          int // 0: no bound
	MaxHeaderBytes    int
}

// OpsLimits are the operations listener's. Its clients are Prometheus (a
// scrape every 30s with a 10s timeout in the shipped ServiceMonitor, one
// small request) and the kubelet's probes (every 5 to 10s, without
// keep-alive): every request takes milliseconds. A kept-alive connection
// idle for 15s is closed, so Prometheus reconnects at each scrape, a TCP
// handshake every 30s; idle connections opened by anyone else go away.
// 128 connections (a few MB at most) leave room for several Prometheus
// replicas, probes and people, and keep a flood of connections from
// exhausting the pod's memory; a flood that holds them all delays scrapes
// and probes by at most the timeouts, the NetworkPolicy keeps strangers out.
func OpsLimits() Limits {
	return Limits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       15 * time.Second,
		MaxConns:          128,
		MaxHeaderBytes:    16 << 10,
	}
}

// PprofLimits are the pprof listener's: a profile takes up to
// MaxProfileSeconds before its answer is written, so the write timeout is
// that plus 30s for writing it (a trace may be large, read through kubectl
// port-forward). Few connections: profiling is for one person at a time.
func PprofLimits() Limits {
	l := OpsLimits()
	l.WriteTimeout = (MaxProfileSeconds + 30) * time.Second
	l.MaxConns = 8
	return l
}

// Server is a running listener: the operations listener or pprof's.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// Listen opens addr and serves h on it, within lim, until Close.
func Listen(addr string, h http.Handler, lim Limits, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if lim.MaxConns > 0 {
		ln = netutil.LimitListener(ln, lim.MaxConns)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: lim.ReadHeaderTimeout,
			ReadTimeout:       lim.ReadTimeout,
			WriteTimeout:      lim.WriteTimeout,
			IdleTimeout:       lim.IdleTimeout,
			MaxHeaderBytes:    lim.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// ListenPprof opens addr and serves PprofHandler on it within PprofLimits.
func ListenPprof(addr string, log *slog.Logger) (*Server, error) {
	return Listen(addr, PprofHandler(), PprofLimits(), log)
}

// Addr is the address listened on (useful with ":0").
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, waiting at most 5s for requests in progress and
// then closing their connections (a profile being taken, say).
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	if serr := <-s.done; err == nil {
		err = serr
	}
	return err
}
