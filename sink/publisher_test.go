package sink_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// ---- helpers ----

func newServer(t testing.TB, opts ...cxonetest.Option) *cxonetest.Server {
	t.Helper()
	s := cxonetest.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// testConfig is a fast Config for srv: short backoff and breaker timeouts.
// answerToken answers r with a valid bearer token when it is a request to
// the token endpoint (/oauth/token), and reports whether it was: the token
// half of a hand-written CXone for tests whose events answers are their own.
func answerToken(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != "/oauth/token" {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"access_token":"tok-abcdefghijklmnop","token_type":"bearer","expires_in":3600}`))
	return true
}

func testConfig(baseURL string) sink.Config {
	return sink.Config{
		BaseURL:      baseURL,
		ClientID:     cxonetest.DefaultClientID,
		ClientSecret: cxonetest.DefaultClientSecret,
		Retry: sink.RetryConfig{
			BaseDelay:     5 * time.Millisecond,
			MaxDelay:      50 * time.Millisecond,
			MaxAttempts:   5,
			MaxElapsed:    20 * time.Second,
			RetryAfterMax: 10 * time.Second,
		},
		Breaker: sink.BreakerConfig{FailuresToOpen: 5, OpenTimeout: 200 * time.Millisecond},
		Logger:  slog.New(slog.DiscardHandler),
	}
}

func newPublisher(t testing.TB, cfg sink.Config, opts ...sink.Option) *sink.Publisher {
	t.Helper()
	p, err := sink.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

var keySeq atomic.Int64

func uniqueKey() string { return fmt.Sprintf("key-%d-%d", time.Now().UnixNano(), keySeq.Add(1)) }

// orderEvent builds an event in the tutorial's shape.
func orderEvent(key, correlationID string) *sink.Event {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	body := fmt.Sprintf(`{"eventType":"OrderCreated","attributes":{"orderId":"ORD-1234567890","totalAmount":150.75,`+
		`"_correlationId":%q,"_publishedAt":%q},"timestamp":%q}`, correlationID, now, now)
	return &sink.Event{IdempotencyKey: key, CorrelationID: correlationID, Body: []byte(body)}
}

func asError(t testing.TB, err error) *sink.Error {
	t.Helper()
	var e *sink.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *sink.Error", err, err)
	}
	return e
}

// stateRecorder collects breaker transitions.
type stateRecorder struct {
	mu     sync.Mutex
	states []string
}

func (r *stateRecorder) record(from, to sink.BreakerState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, from.String()+">"+to.String())
}

func (r *stateRecorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.states...)
}

// ---- tests ----

func TestPublishSuccess(t *testing.T) {
	srv := newServer(t)
	p := newPublisher(t, testConfig(srv.URL))
	ev := orderEvent("8bb2fd79-b926-5d35-b05d-6c664ce6f258", "trace-abc-123-xyz")
	ev.Traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

	res, err := p.Publish(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if res.ID == "" || res.Status != http.StatusAccepted || res.Attempts != 1 || res.Duplicate {
		t.Fatalf("unexpected result %+v", res)
	}
	events := srv.Events()
	if len(events) != 1 {
		t.Fatalf("server recorded %d events", len(events))
	}
	got := events[0]
	if got.ID != res.ID || got.IdempotencyKey != ev.IdempotencyKey || got.CorrelationID != ev.CorrelationID ||
		got.Traceparent != ev.Traceparent || got.EventType != "OrderCreated" || !bytes.Equal(got.Body, ev.Body) {
		t.Fatalf("recorded event differs: %+v", got)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if st := srv.Stats(); st.Accepted != 1 || st.TokenRequests != 1 || st.Requests != 1 {
		t.Errorf("stats %+v", st)
	}
	// The token is cached.
	if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c2")); err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.TokenRequests != 1 {
		t.Errorf("token fetched again: %+v", st)
	}
}

func TestDuplicateKeySameID(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusConflict} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := newServer(t, cxonetest.WithDuplicateStatus(status))
			p := newPublisher(t, testConfig(srv.URL))
			key := uniqueKey()
			first, err := p.Publish(context.Background(), orderEvent(key, "c1"))
			if err != nil {
				t.Fatal(err)
			}
			second, err := p.Publish(context.Background(), orderEvent(key, "c1"))
			if err != nil {
				t.Fatal(err)
			}
			if second.ID != first.ID || second.Status != status || second.Duplicate != (status == http.StatusConflict) {
				t.Fatalf("first %+v, second %+v", first, second)
			}
			st := srv.Stats()
			if st.Accepted != 1 || st.Duplicates != 1 || len(srv.Events()) != 1 {
				t.Fatalf("stats %+v, %d events", st, len(srv.Events()))
			}
			arr := srv.Arrivals(key)
			if len(arr) != 2 || arr[0].Duplicate || !arr[1].Duplicate || arr[1].ID != first.ID {
				t.Fatalf("arrivals %+v", arr)
			}
		})
	}
}

func TestUnauthorizedRefreshesOnce(t *testing.T) {
	srv := newServer(t)
	p := newPublisher(t, testConfig(srv.URL))
	if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
		t.Fatal(err)
	}
	srv.RevokeTokens() // the cached token is now unknown to the server
	res, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 {
		t.Errorf("attempts %d, want 2 (401, then success)", res.Attempts)
	}
	if st := srv.Stats(); st.Unauthorized != 1 || st.TokenRequests != 2 || st.Accepted != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestSecond401IsSystemic(t *testing.T) {
	srv := newServer(t, cxonetest.WithFaults(cxonetest.Faults{ForceStatus: 401, ForceCount: 5}))
	p := newPublisher(t, testConfig(srv.URL))
	_, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
	e := asError(t, err)
	if !errors.Is(err, sink.ErrSystemic) || e.Status != 401 || e.Attempts != 2 {
		t.Fatalf("got %v (attempts %d)", err, e.Attempts)
	}
	if st := srv.Stats(); st.TokenRequests != 2 || st.Requests != 2 {
		t.Errorf("want exactly one forced refresh and one repeat: %+v", st)
	}
}

func TestTokenExpiresMidStream(t *testing.T) {
	srv := newServer(t, cxonetest.WithTokenTTL(time.Second))
	p := newPublisher(t, testConfig(srv.URL))
	const callers = 16
	stop := time.Now().Add(2500 * time.Millisecond)
	var wg sync.WaitGroup
	var published, failed atomic.Int64
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
					failed.Add(1)
					t.Errorf("publish failed: %v", err)
					return
				}
				published.Add(1)
			}
		}()
	}
	wg.Wait()
	st := srv.Stats()
	t.Logf("published %d, token requests %d, 401s %d", published.Load(), st.TokenRequests, st.Unauthorized)
	if failed.Load() != 0 || st.Accepted != published.Load() {
		t.Fatalf("failed %d, stats %+v", failed.Load(), st)
	}
	// 2.5s with 1s tokens refreshed at half-life: about 5; one per caller
	// per expiry would be 40+.
	if st.TokenRequests > 10 {
		t.Errorf("%d token requests: refresh is not shared", st.TokenRequests)
	}
}

func TestForbiddenIsSystemicAndOpensBreaker(t *testing.T) {
	const readScope = "eventbridge:events:read"
	srv := newServer(t, cxonetest.WithClient("reader", "reader-secret", readScope))
	rec := &stateRecorder{}
	cfg := testConfig(srv.URL)
	cfg.ClientID, cfg.ClientSecret, cfg.Scope = "reader", "reader-secret", readScope
	cfg.Breaker = sink.BreakerConfig{FailuresToOpen: 3, OpenTimeout: 300 * time.Millisecond}
	cfg.OnBreakerState = rec.record
	p := newPublisher(t, cfg)

	// 4 workers that retry systemic failures immediately, as a naive consumer would.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var systemic atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_, err := p.Publish(ctx, orderEvent(uniqueKey(), "c"))
				switch {
				case errors.Is(err, sink.ErrSystemic):
					if e := asError(t, err); e.Status != http.StatusForbidden {
						t.Errorf("status %d", e.Status)
					}
					systemic.Add(1)
				case errors.Is(err, context.DeadlineExceeded):
				default:
					t.Errorf("unexpected outcome %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := srv.Stats()
	t.Logf("forbidden %d, systemic errors %d, transitions %v", st.Forbidden, systemic.Load(), rec.get())
	if st.Forbidden < 3 {
		t.Fatalf("forbidden %d", st.Forbidden)
	}
	// Up to 4 in flight when it opens, then one probe per 300ms open period.
	if st.Forbidden > 12 {
		t.Errorf("retry storm: %d requests in 1s", st.Forbidden)
	}
	if s := rec.get(); len(s) == 0 || s[0] != "closed>open" {
		t.Errorf("breaker did not open: %v", s)
	}
	if st.TokenRequests != 1 {
		t.Errorf("a 403 must not refresh the token: %d token requests", st.TokenRequests)
	}
}

func TestUnprocessableIsRejectedWithFields(t *testing.T) {
	srv := newServer(t)
	rec := &stateRecorder{}
	cfg := testConfig(srv.URL)
	cfg.Breaker.FailuresToOpen = 2
	cfg.OnBreakerState = rec.record
	p := newPublisher(t, cfg)
	ev := &sink.Event{IdempotencyKey: uniqueKey(), CorrelationID: "c",
		Body: []byte(`{"eventType":"","attributes":{"_correlationId":"c"},"timestamp":"yesterday"}`)}
	for range 5 { // more than FailuresToOpen: rejections must not open the breaker
		_, err := p.Publish(context.Background(), ev)
		if !errors.Is(err, sink.ErrRejected) {
			t.Fatalf("got %v", err)
		}
		e := asError(t, err)
		if e.Status != 422 || e.Attempts != 1 || e.Excerpt == "" {
			t.Fatalf("error %+v", e)
		}
		fields := map[string]bool{}
		for _, f := range e.Fields {
			fields[f.Field] = true
		}
		for _, want := range []string{"eventType", "timestamp", "attributes._publishedAt"} {
			if !fields[want] {
				t.Errorf("field error %q missing from %+v", want, e.Fields)
			}
		}
	}
	if st := srv.Stats(); st.Rejected != 5 || st.Requests != 5 {
		t.Errorf("stats %+v", st)
	}
	if s := rec.get(); len(s) != 0 || p.BreakerState() != sink.BreakerClosed {
		t.Errorf("breaker moved on rejections: %v", s)
	}
}

func TestTooManyRequestsCoolsDownEveryCaller(t *testing.T) {
	tests := []struct {
		name   string
		faults cxonetest.Faults
	}{
		{"delta-seconds", cxonetest.Faults{ForceStatus: 429, ForceCount: 1, RetryAfter: cxonetest.Duration(2 * time.Second)}},
		{"http-date", cxonetest.Faults{ForceStatus: 429, ForceCount: 1, RetryAfter: cxonetest.Duration(time.Second), RetryAfterDate: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A request arriving within 200ms of a 429 may have been sent
			// before the client read it; past that, it is an early retry.
			srv := newServer(t, cxonetest.WithFaults(tt.faults), cxonetest.WithEarlyGrace(200*time.Millisecond))
			cfg := testConfig(srv.URL)
			// Backoff alone (without honouring Retry-After) would retry well
			// before the allowed instant, and be caught as early.
			cfg.Retry.BaseDelay, cfg.Retry.MaxDelay, cfg.Retry.MaxAttempts = 100*time.Millisecond, 300*time.Millisecond, 10
			p := newPublisher(t, cfg)

			const callers, perCaller = 8, 3
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for range perCaller {
						if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
							t.Errorf("publish: %v", err)
							return
						}
					}
				}()
			}
			close(start)
			wg.Wait()

			st := srv.Stats()
			rls := srv.RateLimits()
			t.Logf("stats %+v; 429s %+v", st, rls)
			if st.Accepted != callers*perCaller {
				t.Fatalf("accepted %d", st.Accepted)
			}
			if st.RateLimited < 1 || len(rls) < 1 {
				t.Fatal("no 429 was answered")
			}
			if st.EarlyRetries != 0 {
				t.Fatalf("%d requests arrived before the Retry-After instant", st.EarlyRetries)
			}
			// Everything accepted after the first 429 arrived at or after its instant.
			first := rls[0]
			for _, ev := range srv.Events() {
				if ev.ArrivedAt.After(first.IssuedAt.Add(200*time.Millisecond)) && ev.ArrivedAt.Before(first.AllowedAt) {
					t.Errorf("event accepted at %v, before %v", ev.ArrivedAt, first.AllowedAt)
				}
			}
		})
	}
}

func TestTransientRetriedThenSuccess(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter time.Duration
	}{
		{500, 0}, {502, 0}, {503, 0}, {504, 0}, {408, 0}, {425, 0},
		{503, time.Second}, // Retry-After on a 503 is honoured by that caller
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/retry-after=%v", tt.status, tt.retryAfter), func(t *testing.T) {
			srv := newServer(t, cxonetest.WithFaults(cxonetest.Faults{ForceStatus: tt.status, ForceCount: 2,
				RetryAfter: cxonetest.Duration(tt.retryAfter)}))
			p := newPublisher(t, testConfig(srv.URL))
			start := time.Now()
			res, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
			if err != nil {
				t.Fatal(err)
			}
			if res.Attempts != 3 {
				t.Errorf("attempts %d, want 3", res.Attempts)
			}
			if el := time.Since(start); el < 2*tt.retryAfter {
				t.Errorf("Retry-After %v not honoured: done after %v", tt.retryAfter, el)
			}
			if st := srv.Stats(); st.Faults != 2 || st.Accepted != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
	t.Run("exhausted", func(t *testing.T) {
		srv := newServer(t, cxonetest.WithFaults(cxonetest.Faults{ForceStatus: 503, ForceCount: 100}))
		cfg := testConfig(srv.URL)
		cfg.Retry.MaxAttempts = 3
		p := newPublisher(t, cfg)
		_, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
		if e := asError(t, err); !errors.Is(err, sink.ErrTransient) || e.Attempts != 3 || e.Status != 503 {
			t.Fatalf("got %v", err)
		}
	})
}

func TestOutageOpensBreakerThenProbeCloses(t *testing.T) {
	srv := newServer(t, cxonetest.WithFaults(cxonetest.Faults{OutageFor: cxonetest.Duration(600 * time.Millisecond)}))
	rec := &stateRecorder{}
	cfg := testConfig(srv.URL)
	cfg.Retry.MaxAttempts = -1 // bounded by MaxElapsed only
	cfg.Breaker = sink.BreakerConfig{FailuresToOpen: 3, OpenTimeout: 150 * time.Millisecond}
	cfg.OnBreakerState = rec.record
	p := newPublisher(t, cfg)

	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
				t.Errorf("publish: %v", err)
			}
		}()
	}
	wg.Wait()
	states := rec.get()
	st := srv.Stats()
	t.Logf("transitions %v; stats %+v", states, st)
	if st.Accepted != 4 {
		t.Fatalf("accepted %d", st.Accepted)
	}
	joined := strings.Join(states, " ")
	if !strings.Contains(joined, "closed>open") || !strings.Contains(joined, "open>half-open") ||
		states[len(states)-1] != "half-open>closed" {
		t.Fatalf("want open, half-open probe, closed; got %v", states)
	}
	// While open nobody sends: at most the 4 in flight when it opened plus
	// one probe per open period (600ms / 150ms) and slack.
	if st.Faults > 14 {
		t.Errorf("%d requests during a 600ms outage: callers did not wait", st.Faults)
	}
	if p.BreakerState() != sink.BreakerClosed {
		t.Errorf("state %v", p.BreakerState())
	}
}

func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func TestConnectionRefused(t *testing.T) {
	t.Run("token endpoint down is systemic", func(t *testing.T) {
		p := newPublisher(t, testConfig(closedURL(t)))
		_, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
		if e := asError(t, err); !errors.Is(err, sink.ErrSystemic) || e.Attempts != 0 {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("events endpoint down is transient", func(t *testing.T) {
		srv := newServer(t)
		cfg := testConfig(closedURL(t))
		cfg.TokenURL = srv.URL + cxonetest.TokenPath
		cfg.Retry.MaxAttempts = 3
		p := newPublisher(t, cfg)
		_, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
		var opErr *net.OpError
		if e := asError(t, err); !errors.Is(err, sink.ErrTransient) || e.Attempts != 3 || !errors.As(err, &opErr) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("token endpoint refusing is systemic", func(t *testing.T) {
		srv := newServer(t)
		cfg := testConfig(srv.URL)
		cfg.ClientSecret = "wrong-secret-value"
		p := newPublisher(t, cfg)
		_, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
		e := asError(t, err)
		if !errors.Is(err, sink.ErrSystemic) || e.Status != 401 || !strings.Contains(e.Excerpt, "invalid_client") {
			t.Fatalf("got %v", err)
		}
		if strings.Contains(err.Error(), "wrong-secret-value") {
			t.Fatal("secret in error")
		}
	})
}

func TestTLSFailureIsSystemic(t *testing.T) {
	srv := httptest.NewTLSServer(cxonetest.NewHandler()) // certificate not trusted by the default client
	t.Cleanup(srv.Close)
	p := newPublisher(t, testConfig(srv.URL))
	_, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
	if !errors.Is(err, sink.ErrSystemic) {
		t.Fatalf("got %v", err)
	}
	// With a client that trusts it, it works.
	p2 := newPublisher(t, testConfig(srv.URL), sink.WithHTTPClient(srv.Client()))
	if _, err := p2.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
		t.Fatal(err)
	}
}

func TestSlowServerTimesOut(t *testing.T) {
	// A client that did not time out would take 2 × 10s.
	srv := newServer(t, cxonetest.WithFaults(cxonetest.Faults{Latency: cxonetest.Duration(10 * time.Second)}))
	for _, tc := range []struct {
		name string
		set  func(*sink.Config)
	}{
		{"request timeout", func(c *sink.Config) { c.RequestTimeout = 100 * time.Millisecond }},
		{"response header timeout", func(c *sink.Config) { c.ResponseHeaderTimeout = 100 * time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(srv.URL)
			cfg.Retry.MaxAttempts = 2
			tc.set(&cfg)
			p := newPublisher(t, cfg)
			start := time.Now()
			_, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
			if e := asError(t, err); !errors.Is(err, sink.ErrTransient) || e.Attempts != 2 {
				t.Fatalf("got %v", err)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("took %v", el)
			}
		})
	}
}

func TestHugeAnswerIsReadBounded(t *testing.T) {
	const size = 50 << 20
	token := cxonetest.NewHandler()
	var mu sync.Mutex
	var written []int64
	done := make(chan struct{}, 10)
	mux := http.NewServeMux()
	mux.Handle(cxonetest.TokenPath, token)
	mux.HandleFunc("/{status}", func(w http.ResponseWriter, r *http.Request) {
		var status int
		fmt.Sscan(r.PathValue("status"), &status)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		var n int64
		for n < size {
			m, err := w.Write(chunk)
			n += int64(m)
			if err != nil {
				break
			}
		}
		mu.Lock()
		written = append(written, n)
		mu.Unlock()
		done <- struct{}{}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		status int
		check  func(t *testing.T, res sink.Result, err error)
	}{
		{200, func(t *testing.T, res sink.Result, err error) {
			if err != nil || res.ID != "" || res.Status != 200 {
				t.Fatalf("got %+v, %v", res, err)
			}
		}},
		{400, func(t *testing.T, _ sink.Result, err error) {
			e := asError(t, err)
			if !errors.Is(err, sink.ErrRejected) || len(e.Excerpt) != sink.MaxExcerptBytes || !e.Truncated {
				t.Fatalf("got %v: excerpt %d bytes, truncated %v", err, len(e.Excerpt), e.Truncated)
			}
		}},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			cfg := testConfig(srv.URL)
			cfg.TokenURL = srv.URL + cxonetest.TokenPath
			cfg.EventsPath = fmt.Sprintf("/%d", tc.status)
			p := newPublisher(t, cfg)
			res, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
			tc.check(t, res, err)
			<-done
			mu.Lock()
			n := written[len(written)-1]
			mu.Unlock()
			if n >= size {
				t.Fatalf("the client read the whole %d-byte answer", n)
			}
			t.Logf("server got %d bytes out before the client hung up", n)
		})
	}
}

// signalHandler is a slog.Handler that closes ch the first time a record
// with message msg is logged; tests use it to know Publish reached a wait.
type signalHandler struct {
	msg  string
	once *sync.Once
	ch   chan struct{}
}

func newSignal(msg string) signalHandler {
	return signalHandler{msg: msg, once: &sync.Once{}, ch: make(chan struct{})}
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h signalHandler) WithGroup(string) slog.Handler            { return h }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}

func TestCancelDuringWaitReturnsPromptly(t *testing.T) {
	const retrying = "cxone transient failure, retrying"
	tests := []struct {
		name   string
		faults cxonetest.Faults
		signal string // log message logged right before the wait
		cfg    func(*sink.Config)
	}{
		{"backoff with Retry-After", cxonetest.Faults{ForceStatus: 503, ForceCount: 100, RetryAfter: cxonetest.Duration(30 * time.Second)},
			retrying, func(c *sink.Config) {}},
		{"429 cooldown", cxonetest.Faults{ForceStatus: 429, ForceCount: 100, RetryAfter: cxonetest.Duration(30 * time.Second)},
			retrying, func(c *sink.Config) {}},
		{"open breaker", cxonetest.Faults{ForceStatus: 503, ForceCount: 100},
			"cxone circuit breaker state changed", func(c *sink.Config) {
				c.Breaker = sink.BreakerConfig{FailuresToOpen: 1, OpenTimeout: time.Minute}
				c.Retry.MaxAttempts = -1
			}},
		{"slow answer", cxonetest.Faults{Latency: cxonetest.Duration(time.Minute)}, "", func(*sink.Config) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, cxonetest.WithFaults(tt.faults))
			cfg := testConfig(srv.URL)
			cfg.Retry.RetryAfterMax, cfg.Retry.MaxElapsed = time.Minute, 5*time.Minute
			sig := newSignal(tt.signal)
			cfg.Logger = slog.New(sig)
			tt.cfg(&cfg)
			p := newPublisher(t, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				_, err := p.Publish(ctx, orderEvent(uniqueKey(), "c"))
				errc <- err
			}()
			if tt.signal != "" {
				select {
				case <-sig.ch:
				case err := <-errc:
					t.Fatalf("Publish returned before waiting: %v", err)
				case <-time.After(5 * time.Second):
					t.Fatal("Publish never reached the wait")
				}
			} else {
				poll.Until(t, 5*time.Second, "the request", func() bool { return srv.Stats().Requests >= 1 })
			}
			cancelled := time.Now()
			cancel()
			select {
			case err := <-errc:
				if el := time.Since(cancelled); el > 500*time.Millisecond {
					t.Errorf("returned %v after cancel", el)
				}
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("got %v", err)
				}
				if errors.Is(err, sink.ErrTransient) || errors.Is(err, sink.ErrSystemic) || errors.Is(err, sink.ErrRejected) {
					t.Errorf("a cancelled publish must not carry a class: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Publish did not return after cancel")
			}
		})
	}
}

func TestClientSideRateLimit(t *testing.T) {
	srv := newServer(t)
	cfg := testConfig(srv.URL)
	cfg.RateLimit = sink.RateLimitConfig{PerSecond: 50, Burst: 1}
	p := newPublisher(t, cfg)
	start := time.Now()
	for range 11 {
		if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
			t.Fatal(err)
		}
	}
	// 1 at once, then 10 at 50/s.
	if el := time.Since(start); el < 180*time.Millisecond {
		t.Errorf("11 events at 50/s took only %v", el)
	}
}

func TestInvalidEventNeverSent(t *testing.T) {
	srv := newServer(t)
	p := newPublisher(t, testConfig(srv.URL))
	good := orderEvent("k", "c")
	tests := []struct {
		name string
		ev   *sink.Event
	}{
		{"nil", nil},
		{"empty body", &sink.Event{IdempotencyKey: "k", CorrelationID: "c"}},
		{"no key", &sink.Event{CorrelationID: "c", Body: good.Body}},
		{"no correlation id", &sink.Event{IdempotencyKey: "k", Body: good.Body}},
		{"CRLF in correlation id", &sink.Event{IdempotencyKey: "k", CorrelationID: "c\r\nX-Evil: 1", Body: good.Body}},
		{"non-ASCII traceparent", &sink.Event{IdempotencyKey: "k", CorrelationID: "c", Traceparent: "ü", Body: good.Body}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Publish(context.Background(), tt.ev)
			if !errors.Is(err, sink.ErrRejected) || !errors.Is(err, sink.ErrInvalidEvent) {
				t.Fatalf("got %v", err)
			}
		})
	}
	if st := srv.Stats(); st.Requests != 0 || st.TokenRequests != 0 {
		t.Errorf("invalid events reached the server: %+v", st)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  sink.Config
	}{
		{"relative base URL", sink.Config{BaseURL: "/x", ClientID: "a", ClientSecret: "b"}},
		{"no client id", sink.Config{BaseURL: "http://x", ClientSecret: "b"}},
		{"no secret", sink.Config{BaseURL: "http://x", ClientID: "a"}},
		{"unknown auth mode", sink.Config{BaseURL: "http://x", ClientID: "a", ClientSecret: "b", AuthMode: "bogus"}},
		{"access key mode without key", sink.Config{BaseURL: "http://x", ClientID: "a", ClientSecret: "b", AuthMode: sink.AuthAccessKey}},
		{"access key mode without key secret", sink.Config{BaseURL: "http://x", ClientID: "a", ClientSecret: "b", AuthMode: sink.AuthAccessKey, AccessKeyID: "k"}},
		{"access key in client credentials mode", sink.Config{BaseURL: "http://x", ClientID: "a", ClientSecret: "b", AccessKeyID: "k"}},
		{"API discovery without tenant", sink.Config{DiscoverAPIEndpoint: true, Issuer: "https://x", ClientID: "a", ClientSecret: "b"}},
		{"API discovery without issuer", sink.Config{DiscoverAPIEndpoint: true, TenantID: "t", TokenURL: "https://x/t", ClientID: "a", ClientSecret: "b"}},
		{"missing secret file", sink.Config{BaseURL: "http://x", ClientID: "a", ClientSecretFile: "/nonexistent/secret"}},
		{"CA file without certificates", sink.Config{BaseURL: "http://x", ClientID: "a", ClientSecret: "b", CAFile: "publisher_test.go"}},
		{"bad events path", sink.Config{BaseURL: "http://x", ClientID: "a", ClientSecret: "b", EventsPath: "events"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := sink.New(tt.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := sink.New(sink.Config{BaseURL: "https://api-us-1.cxone.com", ClientID: "a", ClientSecret: "b"}); err != nil {
		t.Fatal(err)
	}
	// No base URL: the default, as for bridge.yaml (TestZeroConfig).
	if _, err := sink.New(sink.Config{ClientID: "a", ClientSecret: "b"}); err != nil {
		t.Fatal(err)
	}
	// Access keys: the token endpoint is discovered from CXone's issuer by default.
	if _, err := sink.New(sink.Config{DiscoverAPIEndpoint: true, TenantID: "t", AuthMode: sink.AuthAccessKey,
		ClientID: "a", ClientSecret: "b", AccessKeyID: "k", AccessKeySecret: "s"}); err != nil {
		t.Fatal(err)
	}
}

func TestSecretNeverInLogsOrErrors(t *testing.T) {
	const secret = "Sup3r-Secret-Value"
	srv := newServer(t, cxonetest.WithClient("app", secret))
	var logs bytes.Buffer
	var mu sync.Mutex
	cfg := testConfig(srv.URL)
	cfg.ClientID, cfg.ClientSecret = "app", secret
	cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Logger.Info("config", "cfg", cfg)
	p := newPublisher(t, cfg)
	if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
		t.Fatal(err)
	}
	srv.SetFaults(cxonetest.Faults{TokenStatus: 401})
	srv.RevokeTokens()
	_, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
	if !errors.Is(err, sink.ErrSystemic) {
		t.Fatalf("got %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for name, s := range map[string]string{"logs": logs.String(), "error": err.Error(), "config": fmt.Sprintf("%+v %#v", cfg, cfg)} {
		if strings.Contains(s, secret) {
			t.Errorf("secret in %s: %s", name, s)
		}
	}
	if !strings.Contains(logs.String(), "[redacted]") {
		t.Errorf("config not logged redacted: %s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
