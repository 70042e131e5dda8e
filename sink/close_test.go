package sink_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/sink"
)

// hangingServer counts its requests and answers none of them until the
// client gives up or the test ends. answer, when set, answers the first
// len(answer) requests instead, in order.
type hangingServer struct {
	*httptest.Server
	arrived atomic.Int32
}

func newHangingServer(t *testing.T, answer ...http.HandlerFunc) *hangingServer {
	t.Helper()
	h := &hangingServer{}
	quit := make(chan struct{})
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(h.arrived.Add(1))
		if n <= len(answer) {
			answer[n-1](w, r)
			return
		}
		select {
		case <-r.Context().Done():
		case <-quit:
		}
	}))
	t.Cleanup(func() {
		close(quit)
		h.Close()
	})
	return h
}

// sinkGoroutines returns the stacks of the goroutines that are running code
// of package sink, by goroutine header ("goroutine 12 [select]:").
func sinkGoroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("github.com/cxone-bridge/bridge/sink.")) {
			s := string(g)
			id, _, _ := strings.Cut(s, " [")
			out[id] = s
		}
	}
	return out
}

// Close ends the token fetches and discoveries in flight (their callers
// gave up, or never waited: a background refresh) and returns only once
// their goroutines have: nothing of the Publisher outlives it, however
// long the server would take to answer.
func TestCloseEndsCallsInFlight(t *testing.T) {
	tokenAnswer := func(expiresIn int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"access_token":"tok","token_type":"bearer","expires_in":` + strconv.Itoa(expiresIn) + `}`))
		}
	}
	cases := []struct {
		name string
		// start returns the server that hangs and starts the call that
		// reaches it; it calls the Publisher it builds through build.
		start func(t *testing.T, build func(sink.Config) *sink.Publisher) *hangingServer
		// calls is the number of requests the server must have seen when
		// the call hangs.
		calls int32
	}{
		{"token fetch", func(t *testing.T, build func(sink.Config) *sink.Publisher) *hangingServer {
			srv := newHangingServer(t)
			cfg := testConfig("http://127.0.0.1:1")
			cfg.TokenURL = srv.URL + "/oauth/token"
			p := build(cfg)
			go p.FetchToken(context.Background())
			return srv
		}, 1},
		{"token fetch, caller gone", func(t *testing.T, build func(sink.Config) *sink.Publisher) *hangingServer {
			srv := newHangingServer(t)
			cfg := testConfig("http://127.0.0.1:1")
			cfg.TokenURL = srv.URL + "/oauth/token"
			p := build(cfg)
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				poll.Check(5*time.Second, func() bool { return srv.arrived.Load() > 0 })
				cancel()
			}()
			if err := p.FetchToken(ctx); err != context.Canceled {
				t.Errorf("FetchToken: %v, want context.Canceled", err)
			}
			return srv
		}, 1},
		{"background token refresh", func(t *testing.T, build func(sink.Config) *sink.Publisher) *hangingServer {
			// A token of 2s is refreshed after 1s (at most half its life
			// early); the refresh hangs.
			srv := newHangingServer(t, tokenAnswer(2))
			cfg := testConfig("http://127.0.0.1:1")
			cfg.TokenURL = srv.URL + "/oauth/token"
			cfg.TokenRefreshBefore = time.Hour
			p := build(cfg)
			if err := p.FetchToken(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Once the token is within its refresh window, a fetch returns
			// the cached token and starts the refresh, which hangs.
			poll.Until(t, 5*time.Second, "the background refresh to start", func() bool {
				if err := p.FetchToken(context.Background()); err != nil {
					t.Fatal(err)
				}
				return srv.arrived.Load() >= 2
			})
			return srv
		}, 2},
		{"API endpoint discovery", func(t *testing.T, build func(sink.Config) *sink.Publisher) *hangingServer {
			srv := newHangingServer(t)
			cfg := testConfig("")
			cfg.BaseURL, cfg.DiscoverAPIEndpoint, cfg.TenantID = "", true, "tenant-1"
			cfg.Issuer, cfg.AllowInsecureHTTP = srv.URL, true
			p := build(cfg)
			go p.Endpoints(context.Background())
			return srv
		}, 1},
		{"token endpoint discovery under a token fetch", func(t *testing.T, build func(sink.Config) *sink.Publisher) *hangingServer {
			srv := newHangingServer(t)
			cfg := testConfig("http://127.0.0.1:1")
			cfg.Issuer, cfg.AllowInsecureHTTP = srv.URL, true
			p := build(cfg)
			go p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
			return srv
		}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := sinkGoroutines()
			var (
				mu sync.Mutex
				p  *sink.Publisher
			)
			srv := c.start(t, func(cfg sink.Config) *sink.Publisher {
				mu.Lock()
				defer mu.Unlock()
				var err error
				if p, err = sink.New(cfg); err != nil {
					t.Fatal(err)
				}
				return p
			})
			poll.Until(t, 5*time.Second, "the request at the server", func() bool { return srv.arrived.Load() == c.calls })
			mu.Lock()
			defer mu.Unlock()
			start := time.Now()
			if err := p.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Close took %s", d)
			}
			// What the Publisher started itself has ended when Close
			// returns; the callers (goroutines of this test) return soon
			// after, with the error of the call Close ended.
			for id, stack := range sinkGoroutines() {
				if _, ok := before[id]; !ok && !strings.Contains(stack, "sink_test.") && !exiting(stack) {
					t.Errorf("a goroutine outlived Close:\n%s", stack)
				}
			}
			poll.Until(t, 5*time.Second, "the callers to return", func() bool {
				for id := range sinkGoroutines() {
					if _, ok := before[id]; !ok {
						return false
					}
				}
				return true
			})
		})
	}
}

// exiting reports whether a goroutine's stack is only its exit: it
// returned (stop's waiter, for one, returns as soon as it closed its
// channel) and the runtime has not removed it yet.
func exiting(stack string) bool {
	frames, _, _ := strings.Cut(stack, "\ncreated by ")
	for _, line := range strings.Split(frames, "\n")[1:] {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "runtime.goexit") && !strings.HasPrefix(line, "/") {
			return false
		}
	}
	return true
}
