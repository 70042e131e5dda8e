package sink_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/sink"
)

// A healthy record that failed through an outage (every request 503, for
// every record) must not be dead-lettered as a "persistent failure" at its
// first failed try after CXone recovers: before, its outage failures
// counted as evidence against it once the others were answered again.
func TestOutageFailuresDoNotCountAfterRecovery(t *testing.T) {
	var outage atomic.Bool
	var blipKey atomic.Value
	blipKey.Store("")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if answerToken(w, r) {
			return
		}
		if outage.Load() || r.Header.Get("X-Idempotency-Key") == blipKey.Load().(string) {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(202)
		w.Write([]byte(`{"id":"ok"}`))
	}))
	defer srv.Close()
	cfg := testConfig(srv.URL)
	cfg.AllowInsecureHTTP = true
	cfg.Retry.MaxAttempts = 6
	cfg.Breaker = sink.BreakerConfig{FailuresToOpen: 5, OpenTimeout: 30 * time.Second}   // the default; 4 records never open it
	cfg.Poison = sink.PoisonConfig{MinAttempts: 10, MinDuration: 300 * time.Millisecond} // stands for 1m
	p := newPublisher(t, cfg)

	h := uniqueKey()
	others := []string{uniqueKey(), uniqueKey(), uniqueKey()}
	// Outage: H and three other in-flight records fail alike, each retried
	// twice by the consumer (2 × 6 tries), for longer than MinDuration.
	outage.Store(true)
	for round := 0; round < 2; round++ {
		for _, k := range append([]string{h}, others...) {
			_, err := p.Publish(context.Background(), orderEvent(k, "c"))
			if !errors.Is(err, sink.ErrTransient) {
				t.Fatalf("outage: %v", err)
			}
		}
		<-time.After(200 * time.Millisecond) // the outage outlasts MinDuration: not a condition, a span of time
	}
	// CXone recovers: the other records and 200 new ones go through.
	outage.Store(false)
	for _, k := range others {
		if _, err := p.Publish(context.Background(), orderEvent(k, "c")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 200; i++ {
		if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
			t.Fatal(err)
		}
	}
	// H is retried; its first post-recovery try hits a 503 (a blip).
	blipKey.Store(h)
	_, err := p.Publish(context.Background(), orderEvent(h, "c"))
	if errors.Is(err, sink.ErrPersistent) {
		t.Fatalf("a record that only failed during an outage is given up on after one post-recovery blip: %v", err)
	}
	if !errors.Is(err, sink.ErrTransient) {
		t.Fatalf("the blip: %v, want a transient failure", err)
	}
	// The blip is over: it goes through.
	blipKey.Store("")
	if _, err := p.Publish(context.Background(), orderEvent(h, "c")); err != nil {
		t.Fatal(err)
	}
}
