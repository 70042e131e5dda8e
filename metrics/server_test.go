package metrics_test

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/metrics"
)

type fakeProbes struct{}

func (fakeProbes) Live(time.Duration) (bool, string) { return true, "ok" }
func (fakeProbes) Ready() (bool, string)             { return true, "ok" }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func opsHandler() http.Handler {
	return metrics.Handler(metrics.New("test"), fakeProbes{}, metrics.ServerConfig{StallTimeout: time.Second})
}

// listen starts a listener with lim and closes it at the end of the test.
func listen(t *testing.T, h http.Handler, lim metrics.Limits) *metrics.Server {
	t.Helper()
	srv, err := metrics.Listen("127.0.0.1:0", h, lim, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// getOn sends one keep-alive request on conn and reads the answer.
func getOn(conn net.Conn, br *bufio.Reader, path string) (*http.Response, error) {
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

// TestListenClosesIdleConnections: 500 clients each make one request and
// keep their connection open without another; the listener closes every
// one of them once it has been idle for the idle timeout, not before.
func TestListenClosesIdleConnections(t *testing.T) {
	const conns = 500
	idle := 300 * time.Millisecond
	lim := metrics.OpsLimits()
	lim.IdleTimeout, lim.MaxConns = idle, conns
	srv := listen(t, opsHandler(), lim)

	type result struct {
		idleFor time.Duration // from the request to the close
		err     error
	}
	results := make(chan result, conns)
	for i := 0; i < conns; i++ {
		go func() {
			conn, err := net.Dial("tcp", srv.Addr())
			if err != nil {
				results <- result{err: err}
				return
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			// Before the request: the server's idle clock starts after its
			// answer, so the connection cannot close sooner than the idle
			// timeout after this, however late this goroutine runs.
			sent := time.Now()
			resp, err := getOn(conn, br, "/healthz")
			if err != nil || resp.StatusCode != 200 || resp.Close {
				results <- result{err: errors.Join(errors.New("first request failed or not kept alive"), err)}
				return
			}
			// The wait is the condition: a read returns when the server
			// closes the connection. The deadline only bounds a failure.
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = br.ReadByte()
			results <- result{idleFor: time.Since(sent), err: err}
		}()
	}
	closed := 0
	for i := 0; i < conns; i++ {
		r := <-results
		switch {
		case errors.Is(r.err, io.EOF) || isReset(r.err):
			closed++
			// Closed for idleness, not at once after the answer.
			if r.idleFor < idle*9/10 {
				t.Errorf("connection closed after %v idle, before the idle timeout %v", r.idleFor, idle)
			}
		case r.err != nil:
			t.Errorf("connection: %v (idle %v)", r.err, r.idleFor)
		}
	}
	if closed != conns {
		t.Errorf("%d of %d idle keep-alive connections closed by the server", closed, conns)
	}
}

func isReset(err error) bool {
	return err != nil && (errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "connection reset"))
}

// TestListenBoundsConnections: beyond MaxConns a new connection waits until
// one of the open ones closes.
func TestListenBoundsConnections(t *testing.T) {
	lim := metrics.OpsLimits()
	lim.MaxConns = 2
	srv := listen(t, opsHandler(), lim)
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if resp, err := getOn(c, bufio.NewReader(c), "/healthz"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: %v", i, err)
		}
		held = append(held, c)
	}
	third, err := net.Dial("tcp", srv.Addr()) // the kernel's accept queue takes it
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if _, err := io.WriteString(third, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(third)
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := br.ReadByte(); err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a third connection was served while two were open (err %v)", err)
	}
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(10 * time.Second))
	br.Reset(third) // the timed-out read consumed nothing
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("third connection after one closed: %v", err)
	}
	resp.Body.Close()
}

// TestServerLimits: the shipped limits have every timeout, and pprof's
// write timeout leaves room for the longest profile it accepts.
func TestServerLimits(t *testing.T) {
	for name, l := range map[string]metrics.Limits{"ops": metrics.OpsLimits(), "pprof": metrics.PprofLimits()} {
		if l.ReadHeaderTimeout <= 0 || l.ReadTimeout <= 0 || l.WriteTimeout <= 0 || l.IdleTimeout <= 0 || l.MaxConns <= 0 || l.MaxHeaderBytes <= 0 {
			t.Errorf("%s: a limit is missing: %+v", name, l)
		}
		if l.IdleTimeout > 30*time.Second {
			t.Errorf("%s: idle timeout %v: idle connections would outlive a scrape interval", name, l.IdleTimeout)
		}
	}
	if p := metrics.PprofLimits(); p.WriteTimeout < (metrics.MaxProfileSeconds+10)*time.Second {
		t.Errorf("pprof write timeout %v leaves no room to write a %ds profile", p.WriteTimeout, metrics.MaxProfileSeconds)
	}
	if o := metrics.OpsLimits(); o.WriteTimeout > 30*time.Second {
		t.Errorf("ops write timeout %v: a scrape takes milliseconds", o.WriteTimeout)
	}
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPprofNotOnMetricsPort: the operations handler serves metrics and
// probes, and nothing of pprof.
func TestPprofNotOnMetricsPort(t *testing.T) {
	srv := listen(t, opsHandler(), metrics.OpsLimits())
	base := "http://" + srv.Addr()
	if code, _ := get(t, base+"/metrics"); code != 200 {
		t.Errorf("/metrics = %d", code)
	}
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/profile?seconds=1", "/debug/pprof/heap", "/debug/pprof/trace"} {
		if code, _ := get(t, base+p); code != http.StatusNotFound {
			t.Errorf("%s on the metrics port = %d, want 404", p, code)
		}
	}
}

// TestPprofListener: pprof has a listener of its own, and refuses a
// duration above MaxProfileSeconds however it is given.
func TestPprofListener(t *testing.T) {
	srv, err := metrics.ListenPprof("127.0.0.1:0", quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := "http://" + srv.Addr()
	if code, body := get(t, base+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ = %d", code)
	}
	if code, _ := get(t, base+"/debug/pprof/goroutine?debug=1"); code != 200 {
		t.Errorf("goroutine profile = %d", code)
	}
	if code, _ := get(t, base+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the pprof port = %d, want 404", code)
	}
	for _, p := range []string{
		"/debug/pprof/profile?seconds=31", "/debug/pprof/profile?seconds=3600", "/debug/pprof/profile?seconds=1e9",
		"/debug/pprof/trace?seconds=30.5", "/debug/pprof/heap?seconds=86400", "/debug/pprof/allocs?seconds=NaN",
		"/debug/pprof/profile?seconds=1&seconds=3600",
	} {
		start := time.Now()
		code, body := get(t, base+p)
		if code != http.StatusBadRequest || !strings.Contains(body, "at most 30") {
			t.Errorf("%s = %d %q, want 400", p, code, body)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v to be refused", p, d)
		}
	}
	// pprof also reads seconds from a form body.
	resp, err := http.PostForm(base+"/debug/pprof/profile", url.Values{"seconds": {"3600"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("profile with seconds=3600 in a form body = %d, want 400", resp.StatusCode)
	}
	// Within the bound, a profile is served.
	if code, _ := get(t, base+"/debug/pprof/profile?seconds=1"); code != 200 {
		t.Errorf("a 1s CPU profile = %d", code)
	}
}
