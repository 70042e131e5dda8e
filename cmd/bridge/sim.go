package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// newSimCmd returns `bridge sim`: the CXone-compatible test server
// (sink/cxonetest) run standalone, for demos, benchmarks and the interop test.
func newSimCmd() *cobra.Command {
	var (
		addr, clientID, clientSecret, scopes string
		latency, errorRates                  string
		outageAfter, outageFor               time.Duration
		outageStatus                         int
		forceStatus, forceCount              int
		retryAfter                           time.Duration
		retryAfterDate                       bool
		rateLimit                            float64
		rateBurst                            int
		tokenTTL                             time.Duration
		tokenStatus                          int
		duplicateStatus                      int
		earlyGrace                           time.Duration
		recordLimit                          int
		verbose                              bool
		appID, appSecret, keyID, keySecret   string
		tenantID, caOut                      string
		basicEncoding                        string
		useTLS                               bool
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the CXone-compatible test server",
		Long: `Run the CXone-compatible test server (package sink/cxonetest) on a local address.

It speaks the EventBridge tutorial's contract strictly: POST /oauth/token
(client credentials, Basic auth) and POST /api/v2/eventbridge/events (bearer,
scope, body shape, dedupe by X-Idempotency-Key). It also speaks real CXone's
password grant with access keys (POST /auth/token) and serves the discovery
documents /.well-known/openid-configuration and
/.well-known/cxone-configuration?tenantId=… (--tenant-id); --tls serves
HTTPS (and HTTP/2) with a fresh CA written to --ca-out. POST
/_sim/credentials rotates a secret. Faults given by flags can be
changed at runtime: POST /_sim/faults with a JSON object (see GET /_sim/faults).
GET /_sim/stats, GET /_sim/events, POST /_sim/reset, POST /_sim/revoke.`,
		Example: `  bridge sim --addr 127.0.0.1:8089
  bridge sim --latency 5ms-50ms --error-rate 503=0.05,500=0.01 --rate-limit 200
  bridge sim --tls --ca-out /tmp/sim-ca.pem --tenant-id my-tenant
  curl -s -XPOST localhost:8089/_sim/faults -d '{"outage_for":"30s"}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cxonetest.Faults{
				OutageStatus:   outageStatus,
				ForceStatus:    forceStatus,
				ForceCount:     forceCount,
				RetryAfter:     cxonetest.Duration(retryAfter),
				RetryAfterDate: retryAfterDate,
				RateLimit:      rateLimit,
				RateBurst:      rateBurst,
				TokenTTL:       cxonetest.Duration(tokenTTL),
				TokenStatus:    tokenStatus,
			}
			var err error
			if f.Latency, f.LatencyMax, err = parseLatency(latency); err != nil {
				return err
			}
			if f.ErrorRates, err = parseErrorRates(errorRates); err != nil {
				return err
			}
			if outageFor > 0 {
				f.OutageFrom = time.Now().Add(outageAfter)
				f.OutageUntil = f.OutageFrom.Add(outageFor)
			}
			if clientID == "" {
				clientID = envOr("CXONE_CLIENT_ID", cxonetest.DefaultClientID)
			}
			if clientSecret == "" {
				clientSecret = envOr("CXONE_CLIENT_SECRET", cxonetest.DefaultClientSecret)
			}
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			if appSecret == "" {
				appSecret = envOr("CXONE_APP_SECRET", cxonetest.DefaultAppSecret)
			}
			if keySecret == "" {
				keySecret = envOr("CXONE_ACCESS_KEY_SECRET", cxonetest.DefaultAccessKeySecret)
			}
			var tlsCfg *tls.Config
			if useTLS {
				if caOut == "" {
					return errors.New("--tls needs --ca-out FILE, where the certificate authority is written")
				}
				hosts := append([]string(nil), cxonetest.DefaultCertHosts...)
				if host, _, _ := net.SplitHostPort(addr); host != "" && host != "0.0.0.0" && host != "::" {
					hosts = append(hosts, host)
				}
				cert, caPEM, err := cxonetest.GenerateCert(hosts...)
				if err != nil {
					return fmt.Errorf("sim: certificate: %w", err)
				}
				if err := os.WriteFile(caOut, caPEM, 0o644); err != nil {
					return fmt.Errorf("sim: %w", err)
				}
				tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			}
			if basicEncoding != cxonetest.BasicRaw && basicEncoding != cxonetest.BasicRFC6749 {
				return fmt.Errorf("--basic-encoding must be %s or %s, got %q", cxonetest.BasicRaw, cxonetest.BasicRFC6749, basicEncoding)
			}
			sc := strings.Fields(strings.ReplaceAll(scopes, ",", " "))
			h := cxonetest.NewHandler(
				cxonetest.WithBasicEncoding(basicEncoding),
				cxonetest.WithClient(clientID, clientSecret, sc...),
				cxonetest.WithApp(appID, appSecret, sc...),
				cxonetest.WithAccessKey(keyID, keySecret),
				cxonetest.WithTenant(tenantID, ""),
				cxonetest.WithDuplicateStatus(duplicateStatus),
				cxonetest.WithEarlyGrace(earlyGrace),
				cxonetest.WithRecordLimit(recordLimit),
				cxonetest.WithLogger(log),
			)
			if err := h.SetFaults(f); err != nil {
				return fmt.Errorf("faults: %w", err)
			}
			return serveSim(cmd.Context(), cmd, addr, tlsCfg, h, log)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&addr, "addr", "127.0.0.1:8089", "address to listen on")
	// No defaults shown for the credentials: --help must not print a secret
	// taken from the environment.
	fl.StringVar(&clientID, "client-id", "", "accepted client id (default $CXONE_CLIENT_ID or "+cxonetest.DefaultClientID+")")
	fl.StringVar(&clientSecret, "client-secret", "", "accepted client secret (default $CXONE_CLIENT_SECRET or "+cxonetest.DefaultClientSecret+")")
	fl.StringVar(&appID, "app-id", cxonetest.DefaultAppID, "accepted application (password grant) client id")
	fl.StringVar(&appSecret, "app-secret", "", "accepted application secret (default $CXONE_APP_SECRET or "+cxonetest.DefaultAppSecret+")")
	fl.StringVar(&keyID, "access-key-id", cxonetest.DefaultAccessKeyID, "accepted access key id")
	fl.StringVar(&keySecret, "access-key-secret", "", "accepted access key secret (default $CXONE_ACCESS_KEY_SECRET or "+cxonetest.DefaultAccessKeySecret+")")
	fl.StringVar(&basicEncoding, "basic-encoding", cxonetest.BasicRaw, "the one form of Basic credentials accepted: raw (id:secret as they are) or rfc6749 (form-URL-encoded first)")
	fl.StringVar(&tenantID, "tenant-id", cxonetest.DefaultTenantID, "tenant answered by /.well-known/cxone-configuration (its api_endpoint is this server)")
	fl.BoolVar(&useTLS, "tls", false, "serve HTTPS (HTTP/2 offered) with a certificate from a fresh CA")
	fl.StringVar(&caOut, "ca-out", "", "with --tls: write the CA certificate (PEM) here, for cxone.ca_file")
	fl.StringVar(&scopes, "scopes", cxonetest.WriteScope, "scopes the client may be granted (space or comma separated)")
	fl.StringVar(&latency, "latency", "0", `latency of every events answer: "20ms" or uniform "5ms-50ms"`)
	fl.StringVar(&errorRates, "error-rate", "", `random error answers by status, e.g. "503=0.05,500=0.01"`)
	fl.DurationVar(&outageAfter, "outage-after", 0, "start of the outage window, from startup")
	fl.DurationVar(&outageFor, "outage-for", 0, "length of the outage window (0: no outage)")
	fl.IntVar(&outageStatus, "outage-status", http.StatusServiceUnavailable, "status answered during the outage")
	fl.IntVar(&forceStatus, "force-status", 0, "answer the next --force-count events requests with this status")
	fl.IntVar(&forceCount, "force-count", 0, "how many requests get --force-status")
	fl.DurationVar(&retryAfter, "retry-after", 0, "Retry-After sent with injected 429/503 (429 defaults to 1s)")
	fl.BoolVar(&retryAfterDate, "retry-after-date", false, "send Retry-After as an HTTP date instead of seconds")
	fl.Float64Var(&rateLimit, "rate-limit", 0, "accepted events requests per second (0: unlimited)")
	fl.IntVar(&rateBurst, "rate-burst", 0, "rate limit burst (0: ceil(rate-limit))")
	fl.DurationVar(&tokenTTL, "token-ttl", time.Hour, "lifetime of issued tokens")
	fl.IntVar(&tokenStatus, "token-status", 0, "make the token endpoint refuse every request with this status")
	fl.IntVar(&duplicateStatus, "duplicate-status", http.StatusOK, "answer to a repeated idempotency key: 200 or 409")
	fl.DurationVar(&earlyGrace, "early-grace", 50*time.Millisecond, "requests this soon after a 429 are not counted as early retries")
	fl.IntVar(&recordLimit, "record-limit", 100000, "accepted events kept for GET /_sim/events")
	fl.BoolVarP(&verbose, "verbose", "v", false, "log every request")
	return cmd
}

// serveSim serves h on addr until ctx is done, then shuts down gracefully.
func serveSim(ctx context.Context, cmd *cobra.Command, addr string, tlsCfg *tls.Config, h http.Handler, log *slog.Logger) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		TLSConfig:         tlsCfg,
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	url := scheme + "://" + ln.Addr().String()
	fmt.Fprintf(cmd.OutOrStdout(), "cxone sim listening on %s\n", url)
	log.Info("cxone sim listening", "url", url, "token_url", url+cxonetest.TokenPath, "events_url", url+cxonetest.EventsPath)

	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("sim: %w", err)
	case <-ctx.Done():
	}
	log.Info("cxone sim shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sim: %w", err)
	}
	return nil
}

// parseLatency reads "20ms" (fixed) or "5ms-50ms" (uniform).
func parseLatency(s string) (lo, hi cxonetest.Duration, err error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return 0, 0, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	l, err := time.ParseDuration(strings.TrimSpace(a))
	if err != nil {
		return 0, 0, fmt.Errorf("--latency: %w", err)
	}
	if !isRange {
		return cxonetest.Duration(l), 0, nil
	}
	h, err := time.ParseDuration(strings.TrimSpace(b))
	if err != nil || h < l {
		return 0, 0, fmt.Errorf("--latency: bad range %q", s)
	}
	return cxonetest.Duration(l), cxonetest.Duration(h), nil
}

// parseErrorRates reads "503=0.05,500=0.01".
func parseErrorRates(s string) (map[int]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	m := map[int]float64{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		st, err1 := strconv.Atoi(k)
		p, err2 := strconv.ParseFloat(v, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("--error-rate: bad entry %q (want STATUS=PROBABILITY)", part)
		}
		m[st] = p
	}
	return m, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
