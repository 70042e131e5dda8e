package sink_test

// The Publisher under adversarial answers: one event failing over and over
// (it must not open the breaker alone), a breaker left open with nobody
// calling (it must still move to half-open), 429 cool-downs for callers
// that start later, and their release.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// retryWatch is a sink.Observer that signals the first retry for a reason.
type retryWatch struct {
	mu      sync.Mutex
	reasons map[string]chan struct{}
}

func newRetryWatch(reasons ...string) *retryWatch {
	w := &retryWatch{reasons: map[string]chan struct{}{}}
	for _, r := range reasons {
		w.arm(r)
	}
	return w
}

// arm makes seen(reason) wait for the next retry for reason.
func (w *retryWatch) arm(reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reasons[reason] = make(chan struct{})
}

func (w *retryWatch) Published(time.Duration, sink.Result, *sink.Error) {}
func (w *retryWatch) TokenFetched(error)                                {}
func (w *retryWatch) Retrying(reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.reasons[reason]; ok {
		close(ch)
		delete(w.reasons, reason)
	}
}

func (w *retryWatch) seen(reason string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.reasons[reason]; ok {
		return ch
	}
	ch := make(chan struct{})
	close(ch)
	return ch
}

// One event failing every try measures that event, not CXone: its six
// tries count once, so a breaker that opens at three failures stays closed.
func TestRetriesOfOneEventCountOnce(t *testing.T) {
	srv := newServer(t, cxonetest.WithFaults(cxonetest.Faults{ForceStatus: 503, ForceCount: 6}))
	rec := &stateRecorder{}
	cfg := testConfig(srv.URL)
	cfg.Retry.MaxAttempts = 6
	cfg.Breaker = sink.BreakerConfig{FailuresToOpen: 3, OpenTimeout: 200 * time.Millisecond}
	cfg.OnBreakerState = rec.record
	p := newPublisher(t, cfg)
	if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err == nil {
		t.Fatal("publish succeeded; want 6 failed tries")
	}
	if s := rec.get(); len(s) != 0 || p.BreakerState() != sink.BreakerClosed {
		t.Fatalf("one event's 6 failed tries moved the breaker: %v", s)
	}
	// Three distinct events failing do open it.
	if err := srv.SetFaults(cxonetest.Faults{ForceStatus: 503, ForceCount: 100}); err != nil {
		t.Fatal(err)
	}
	cfg.Retry.MaxAttempts = 1
	for range 3 {
		p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
	}
	if p.BreakerState() != sink.BreakerOpen {
		t.Fatalf("3 distinct events failed, breaker %v (transitions %v), want open", p.BreakerState(), rec.get())
	}
}

// An open breaker moves to half-open after OpenTimeout by itself: with
// nothing left in flight (the partitions were lost, say) nobody would ask.
func TestBreakerHalfOpensWithoutCallers(t *testing.T) {
	srv := newServer(t, cxonetest.WithFaults(cxonetest.Faults{ForceStatus: 503, ForceCount: 100}))
	halfOpen := make(chan struct{})
	var once sync.Once
	cfg := testConfig(srv.URL)
	cfg.Retry.MaxAttempts = 1
	cfg.Breaker = sink.BreakerConfig{FailuresToOpen: 2, OpenTimeout: 200 * time.Millisecond}
	cfg.OnBreakerState = func(from, to sink.BreakerState) {
		if to == sink.BreakerHalfOpen {
			once.Do(func() { close(halfOpen) })
		}
	}
	p := newPublisher(t, cfg)
	for range 2 {
		p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
	}
	if p.BreakerState() != sink.BreakerOpen {
		t.Fatalf("breaker %v, want open", p.BreakerState())
	}
	opened := time.Now()
	select {
	case <-halfOpen:
		t.Logf("half-open %s after opening, with no caller", time.Since(opened).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("the breaker stayed open with no caller: nothing in flight would ever probe")
	}
}

// A caller that starts after another caller's 429 waits for its
// Retry-After too: the cool-down is shared, not only the 429's receiver's.
func TestCooldownHoldsLaterCallers(t *testing.T) {
	srv := newServer(t, cxonetest.WithFaults(cxonetest.Faults{ForceStatus: 429, ForceCount: 1, RetryAfter: cxonetest.Duration(time.Second)}),
		cxonetest.WithEarlyGrace(50*time.Millisecond))
	w := newRetryWatch("http_429")
	cfg := testConfig(srv.URL)
	cfg.Observer = w
	p := newPublisher(t, cfg)
	first := make(chan error, 1)
	go func() { _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "a")); first <- err }()
	<-w.seen("http_429")
	later := uniqueKey()
	if _, err := p.Publish(context.Background(), orderEvent(later, "b")); err != nil {
		t.Fatal(err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	rls := srv.RateLimits()
	arr := srv.Arrivals(later)
	if len(rls) != 1 || len(arr) != 1 {
		t.Fatalf("429s %+v, arrivals of the later event %+v", rls, arr)
	}
	if arr[0].At.Before(rls[0].AllowedAt) {
		t.Errorf("a caller that started after the 429 posted at %v, %v before its Retry-After instant",
			arr[0].At.Format(time.StampMilli), rls[0].AllowedAt.Sub(arr[0].At).Round(time.Millisecond))
	}
	if st := srv.Stats(); st.EarlyRetries != 0 {
		t.Errorf("%d early retries", st.EarlyRetries)
	}
}

// When a cool-down ends, the callers waiting for it are released over a
// short window, not all at the same instant (which would be the next 429
// wave).
func TestCooldownReleaseIsJittered(t *testing.T) {
	srv := newServer(t)
	w := newRetryWatch()
	cfg := testConfig(srv.URL)
	cfg.Observer = w
	cfg.MaxInFlight = 64
	p := newPublisher(t, cfg)
	// Warm the connection pool so that dialling does not spread the
	// arrivals by itself.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); p.Publish(context.Background(), orderEvent(uniqueKey(), "warm")) }()
	}
	wg.Wait()
	w.arm("http_429")
	srv.SetFaults(cxonetest.Faults{ForceStatus: 429, ForceCount: 1, RetryAfter: cxonetest.Duration(2 * time.Second)})
	go p.Publish(context.Background(), orderEvent(uniqueKey(), "a"))
	<-w.seen("http_429")
	keys := make([]string, 20)
	for i := range keys {
		keys[i] = uniqueKey()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Publish(context.Background(), orderEvent(keys[i], "b")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var at []time.Time
	for _, k := range keys {
		at = append(at, srv.Arrivals(k)[0].At)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	spread := at[len(at)-1].Sub(at[0])
	t.Logf("20 callers released over %s after a 2 s Retry-After", spread.Round(time.Millisecond))
	if spread < 100*time.Millisecond {
		t.Errorf("20 waiting callers released within %s of each other: a synchronised wave", spread)
	}
}

// publishUntil publishes ev again and again, as the consumer retries a
// record, until Publish returns nil or a class in stop, or d passes.
func publishUntil(p *sink.Publisher, ev *sink.Event, d time.Duration, stop ...error) error {
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		_, err := p.Publish(ctx, ev)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		for _, s := range stop {
			if errors.Is(err, s) {
				return err
			}
		}
	}
}

// One event that CXone fails every time while it accepts the others is
// given up on as a persistent failure once both bounds are reached; the
// others all go through and the breaker never opens.
func TestPersistentFailureAmongHealthyEvents(t *testing.T) {
	poison := uniqueKey()
	srv := newServer(t, cxonetest.WithFaults(cxonetest.Faults{Targets: []cxonetest.Target{{IdempotencyKey: poison, Status: 503}}}))
	rec := &stateRecorder{}
	cfg := testConfig(srv.URL)
	cfg.Retry.MaxAttempts = 3
	cfg.Breaker = sink.BreakerConfig{FailuresToOpen: 2, OpenTimeout: time.Second}
	cfg.Poison = sink.PoisonConfig{MinAttempts: 7, MinDuration: 300 * time.Millisecond}
	cfg.OnBreakerState = rec.record
	p := newPublisher(t, cfg)
	stop := make(chan struct{})
	var healthy sync.WaitGroup
	var accepted atomic.Int64
	for range 4 {
		healthy.Add(1)
		go func() {
			defer healthy.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "ok")); err != nil {
					t.Errorf("healthy event: %v", err)
					return
				}
				accepted.Add(1)
			}
		}()
	}
	start := time.Now()
	err := publishUntil(p, orderEvent(poison, "poison"), 20*time.Second, sink.ErrPersistent)
	took := time.Since(start)
	close(stop)
	healthy.Wait()
	e := asError(t, err)
	if !errors.Is(err, sink.ErrPersistent) || e.Verdict == nil {
		t.Fatalf("got %v, want a persistent failure", err)
	}
	v := e.Verdict
	t.Logf("given up after %s: %v", took.Round(time.Millisecond), err)
	if v.Failures < 7 || took < 300*time.Millisecond || e.Status != 503 || e.Attempts < v.Failures || v.OthersAnswered < 1 {
		t.Errorf("verdict %+v, status %d, attempts %d after %s", *v, e.Status, e.Attempts, took)
	}
	if !strings.Contains(err.Error(), "answered") {
		t.Errorf("message %q does not say why", err)
	}
	if s := rec.get(); len(s) != 0 {
		t.Errorf("the breaker moved for one event: %v", s)
	}
	if accepted.Load() == 0 {
		t.Error("no healthy event accepted")
	}
}

// While CXone answers nothing (an outage), no event is ever a persistent
// failure, however long and however often it is tried.
func TestNoPersistentFailureInOutage(t *testing.T) {
	srv := newServer(t, cxonetest.WithFaults(cxonetest.Faults{OutageFrom: time.Now(), OutageUntil: time.Now().Add(time.Hour)}))
	cfg := testConfig(srv.URL)
	cfg.Retry.MaxAttempts = 2
	cfg.Breaker = sink.BreakerConfig{FailuresToOpen: 3, OpenTimeout: 100 * time.Millisecond}
	cfg.Poison = sink.PoisonConfig{MinAttempts: 1, MinDuration: time.Nanosecond}
	p := newPublisher(t, cfg)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := publishUntil(p, orderEvent(uniqueKey(), "c"), 1500*time.Millisecond, sink.ErrPersistent); errors.Is(err, sink.ErrPersistent) {
				t.Errorf("an event was given up on during an outage: %v", err)
			}
		}()
	}
	wg.Wait()
	if st := srv.Stats(); st.Faults < 10 {
		t.Errorf("only %d tries during the outage", st.Faults)
	}
}

// CXone failing half of all tries at random is bad luck for every event
// alike: healthy events retried until they go through are never given up
// on, even with the smallest bounds (a rule that counted failures alone
// would give up on half of them).
func TestNoPersistentFailureWhenFlaky(t *testing.T) {
	srv := newServer(t, cxonetest.WithFaults(cxonetest.Faults{ErrorRates: map[int]float64{503: 0.5}}))
	cfg := testConfig(srv.URL)
	cfg.Retry = sink.RetryConfig{BaseDelay: time.Microsecond, MaxDelay: time.Millisecond, MaxAttempts: 1, MaxElapsed: time.Minute}
	cfg.Breaker = sink.BreakerConfig{FailuresToOpen: 1000, OpenTimeout: 100 * time.Millisecond}
	cfg.Poison = sink.PoisonConfig{MinAttempts: 1, MinDuration: time.Nanosecond}
	p := newPublisher(t, cfg)
	var wg sync.WaitGroup
	var persistent, failedOnce atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 40 {
				ev := orderEvent(uniqueKey(), "c")
				for tries := 0; ; tries++ {
					_, err := p.Publish(context.Background(), ev)
					if err == nil {
						break
					}
					if tries == 0 {
						failedOnce.Add(1)
					}
					if errors.Is(err, sink.ErrPersistent) {
						persistent.Add(1)
						t.Errorf("worker %d: healthy event given up on: %v", w, err)
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("320 events at 50%% random 503s: %d failed at least once, %d given up on", failedOnce.Load(), persistent.Load())
	if failedOnce.Load() < 80 {
		t.Errorf("only %d of 320 events failed once: the fault was not in force", failedOnce.Load())
	}
}

// The half-open probe measures CXone: an event suspected of being poison
// (it kept failing while others went through) is not picked as the probe
// while a healthy one waits too.
func TestHalfOpenProbeIsNotTheSuspect(t *testing.T) {
	poison := uniqueKey()
	target := cxonetest.Faults{Targets: []cxonetest.Target{{IdempotencyKey: poison, Status: 503}}}
	srv := newServer(t, cxonetest.WithFaults(target))
	rec := &stateRecorder{}
	cfg := testConfig(srv.URL)
	cfg.Retry.MaxAttempts = 1
	cfg.Breaker = sink.BreakerConfig{FailuresToOpen: 2, OpenTimeout: 300 * time.Millisecond}
	cfg.Poison = sink.PoisonConfig{MinAttempts: -1} // never given up: it stays a suspect
	cfg.OnBreakerState = rec.record
	p := newPublisher(t, cfg)
	// The poison event fails three times while twenty others go through.
	for i := range 23 {
		if i%8 == 0 {
			if _, err := p.Publish(context.Background(), orderEvent(poison, "p")); err == nil {
				t.Fatal("poison accepted")
			}
			continue
		}
		if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "h")); err != nil {
			t.Fatal(err)
		}
	}
	// Then CXone goes down: two distinct events fail, the breaker opens.
	outage := target
	outage.OutageFrom, outage.OutageUntil = time.Now(), time.Now().Add(time.Hour)
	srv.SetFaults(outage)
	for range 2 {
		p.Publish(context.Background(), orderEvent(uniqueKey(), "h"))
	}
	if p.BreakerState() != sink.BreakerOpen {
		t.Fatalf("breaker %v, want open", p.BreakerState())
	}
	// The poison event and a healthy one wait for the breaker; CXone
	// recovers (for all but the poison event).
	healthy := uniqueKey()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.Publish(context.Background(), orderEvent(poison, "p")) }()
	go func() { defer wg.Done(); p.Publish(context.Background(), orderEvent(healthy, "h")) }()
	srv.SetFaults(target)
	wg.Wait()
	pa, ha := srv.Arrivals(poison), srv.Arrivals(healthy)
	if len(ha) != 1 || ha[0].Status != 202 {
		t.Fatalf("healthy arrivals %+v", ha)
	}
	if last := pa[len(pa)-1]; last.At.Before(ha[0].At) {
		t.Errorf("the suspect was sent at %s, before the healthy probe at %s", last.At.Format(time.StampMicro), ha[0].At.Format(time.StampMicro))
	}
	if got := strings.Join(rec.get(), " "); got != "closed>open open>half-open half-open>closed" {
		t.Errorf("transitions %q, want open, half-open, closed by the healthy probe", got)
	}
}

// tokenGate is a token endpoint in front of srv's: it passes the requests
// on, but holds the second one (the forced refresh after a 401) until
// release is closed; fetching is closed when it arrives.
type tokenGate struct {
	*httptest.Server
	calls    atomic.Int32
	fetching chan struct{}
	release  chan struct{}
}

func newTokenGate(t *testing.T, srv *cxonetest.Server) *tokenGate {
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	g := &tokenGate{fetching: make(chan struct{}), release: make(chan struct{})}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.calls.Add(1) == 2 {
			close(g.fetching)
			select {
			case <-g.release:
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(g.Close)
	return g
}

// The re-POST after a forced token refresh waits for the 429 cool-down
// like every other POST: here the cool-down begins while the refresh is
// under way.
func TestCooldownBeforeRepostAfterRefresh(t *testing.T) {
	keyA, keyB := uniqueKey(), uniqueKey()
	srv := newServer(t, cxonetest.WithFaults(cxonetest.Faults{
		Targets:    []cxonetest.Target{{IdempotencyKey: keyA, Status: 401}, {IdempotencyKey: keyB, Status: 429}},
		RetryAfter: cxonetest.Duration(time.Second),
		Latency:    cxonetest.Duration(200 * time.Millisecond),
	}))
	w := newRetryWatch("http_429")
	ts := newTokenGate(t, srv)
	cfg := testConfig(srv.URL)
	cfg.Retry.MaxAttempts = 2
	cfg.Observer = w
	cfg.TokenURL = ts.URL + cxonetest.TokenPath
	p := newPublisher(t, cfg)
	if err := p.FetchToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A posts, then B while A's answer is still on its way (the server's
	// latency), both with the cached token: A's answer is a 401 (a forced
	// refresh follows, held until B has its 429), B's a 429.
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.Publish(context.Background(), orderEvent(keyA, "a")) }()
	poll.Until(t, 5*time.Second, "A's request at the server", func() bool { return len(srv.Arrivals(keyA)) == 1 })
	go func() { defer wg.Done(); p.Publish(context.Background(), orderEvent(keyB, "b")) }()
	<-ts.fetching
	<-w.seen("http_429")
	close(ts.release) // the refresh completes during B's cool-down
	wg.Wait()
	rls, arr := srv.RateLimits(), srv.Arrivals(keyA)
	if len(rls) == 0 || len(arr) < 2 {
		t.Fatalf("429s %+v, arrivals of A %+v", rls, arr)
	}
	if repost := arr[1].At; repost.Before(rls[0].AllowedAt) {
		t.Errorf("A's re-POST after its token refresh came %s before the Retry-After instant of B's 429",
			rls[0].AllowedAt.Sub(repost).Round(time.Millisecond))
	}
}
