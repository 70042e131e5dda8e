package sink_test

// The breaker and the persistent failure rule at their edges: a second
// outage after a recovery, a rate-limited try of a suspect event.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// After a probe closed the breaker, a renewed outage must open it again
// when FailuresToOpen distinct events fail in a row with no healthy answer
// in between (BreakerConfig.FailuresToOpen, sink/doc.go).
//
// Also when those events are the ones that were already failing before the
// breaker closed, which is exactly what the consumer retries after a
// recovery. A first version called every failure of an event with a streak
// a repeat, however many times the breaker opened and closed meanwhile,
// and the breaker counts no repeat: with the consumer's budget full of such
// records, the breaker stayed closed for a whole second outage. An event
// now counts once per breaker state.
func TestBreakerReopensOnRecordsThatFailedBeforeItClosed(t *testing.T) {
	srv := newServer(t)
	outage := func() {
		t.Helper()
		if err := srv.SetFaults(cxonetest.Faults{OutageFrom: time.Now(), OutageUntil: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	rec := &stateRecorder{}
	halfOpen := make(chan struct{}, 8)
	cfg := testConfig(srv.URL)
	cfg.Retry.MaxAttempts = 1
	cfg.Breaker = sink.BreakerConfig{FailuresToOpen: 3, OpenTimeout: 200 * time.Millisecond}
	cfg.Poison = sink.PoisonConfig{MinAttempts: -1}
	cfg.OnBreakerState = func(from, to sink.BreakerState) {
		rec.record(from, to)
		if to == sink.BreakerHalfOpen {
			halfOpen <- struct{}{}
		}
	}
	p := newPublisher(t, cfg)

	// CXone goes down: three records in flight fail, the breaker opens.
	outage()
	var inFlight []*sink.Event
	for i := range 3 {
		ev := orderEvent(uniqueKey(), "r"+string(rune('a'+i)))
		inFlight = append(inFlight, ev)
		if _, err := p.Publish(context.Background(), ev); err == nil {
			t.Fatal("accepted during the outage")
		}
	}
	if p.BreakerState() != sink.BreakerOpen {
		t.Fatalf("breaker %v after 3 distinct failures, want open", p.BreakerState())
	}

	// CXone is back for a moment: the half-open probe (a new record)
	// closes the breaker.
	if err := srv.SetFaults(cxonetest.Faults{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-halfOpen:
	case <-time.After(5 * time.Second):
		t.Fatal("no half-open")
	}
	if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "probe")); err != nil {
		t.Fatal(err)
	}
	if p.BreakerState() != sink.BreakerClosed {
		t.Fatalf("breaker %v after a healthy probe, want closed", p.BreakerState())
	}

	// CXone goes down again. The consumer retries the records it holds:
	// three distinct records fail, five times each, with no healthy answer
	// in between.
	outage()
	for round := range 5 {
		for _, ev := range inFlight {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := p.Publish(ctx, ev)
			cancel()
			if err == nil {
				t.Fatal("accepted during the outage")
			}
			if p.BreakerState() == sink.BreakerOpen {
				t.Logf("open again after round %d", round)
				return
			}
		}
	}
	t.Errorf("breaker %v after 15 failures of 3 distinct records in a row with no healthy answer (transitions %v): a renewed outage never opens it while the records in flight are the ones that failed before it closed",
		p.BreakerState(), rec.get())
}

// A 429 is not a failed try (sink/doc.go: "a 429 ... not counted at all";
// health counts no failure for it), so it must not be the try that gives
// an event up as a persistent failure, and the DLQ envelope must not carry
// 429 as the "last status" of a record that CXone "kept failing".
//
// A first version applied the verdict after every try whose class was not
// rejected, 429s included: an event whose streak reached MinAttempts before
// MinDuration passed was given up on at its next try even if that try was
// rate limited, and the DLQ record reported HTTP 429.
func TestRateLimitedTryIsNotAPersistentFailure(t *testing.T) {
	poison := uniqueKey()
	srv := newServer(t, cxonetest.WithFaults(cxonetest.Faults{Targets: []cxonetest.Target{{IdempotencyKey: poison, Status: 503}}}))
	cfg := testConfig(srv.URL)
	cfg.Retry.MaxAttempts = 1
	cfg.Poison = sink.PoisonConfig{MinAttempts: 3, MinDuration: 2 * time.Second}
	p := newPublisher(t, cfg)
	ev := orderEvent(poison, "poison")
	start := time.Now()
	// Three failed tries of the poison event, then 200 others go through:
	// L = (1/201)^3 < 1e-6, only MinDuration is missing.
	for range 3 {
		if _, err := p.Publish(context.Background(), ev); !errors.Is(err, sink.ErrTransient) {
			t.Fatalf("poison try: %v, want transient", err)
		}
	}
	for range 200 {
		if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "ok")); err != nil {
			t.Fatal(err)
		}
	}
	if time.Since(start) >= 2*time.Second {
		t.Skip("too slow to stay within MinDuration; the test proves nothing")
	}
	// Now CXone rate-limits this event. Once MinDuration has passed since
	// its first failure (the rule's own clock), it is tried once more.
	if err := srv.SetFaults(cxonetest.Faults{Targets: []cxonetest.Target{{IdempotencyKey: poison, Status: http.StatusTooManyRequests}},
		RetryAfter: cxonetest.Duration(-1)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(start.Add(2100 * time.Millisecond))) // the rule's bound is a duration: wait it out
	_, err := p.Publish(context.Background(), ev)
	if errors.Is(err, sink.ErrPersistent) {
		e := asError(t, err)
		t.Errorf("a rate-limited try gave the event up as a persistent failure with last status %d: %v", e.Status, err)
	} else if e := asError(t, err); e.Status != http.StatusTooManyRequests {
		t.Errorf("got %v, want the 429", err)
	}
}

// An outage with fewer records in flight than FailuresToOpen (a quiet
// topic, a small budget) must still open the breaker: each event counts
// once, so two records failing for ever left it closed, nothing was
// paused, and readiness never said CXone was down. Two distinct events
// failing with no answer for OpenTimeout open it now. One event failing
// alone does not: it may be poison, and nothing tells it from an outage.
func TestBreakerOpensWithFewRecordsInFlight(t *testing.T) {
	for _, tc := range []struct {
		records  int
		wantOpen bool
	}{{2, true}, {1, false}} {
		t.Run(fmt.Sprintf("%d in flight", tc.records), func(t *testing.T) {
			srv := newServer(t)
			if err := srv.SetFaults(cxonetest.Faults{OutageFrom: time.Now(), OutageUntil: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			const openTimeout = 300 * time.Millisecond
			cfg := testConfig(srv.URL)
			cfg.Retry.MaxAttempts = 1
			cfg.Breaker = sink.BreakerConfig{FailuresToOpen: 5, OpenTimeout: openTimeout}
			cfg.Poison = sink.PoisonConfig{MinAttempts: -1}
			p := newPublisher(t, cfg)
			var evs []*sink.Event
			for range tc.records {
				evs = append(evs, orderEvent(uniqueKey(), "c"))
			}
			start := time.Now()
			// The consumer retries the records it holds, well past
			// OpenTimeout.
			for time.Since(start) < 4*openTimeout && p.BreakerState() == sink.BreakerClosed {
				for _, ev := range evs {
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					_, err := p.Publish(ctx, ev)
					cancel()
					if err == nil {
						t.Fatal("accepted during the outage")
					}
				}
			}
			open := p.BreakerState() != sink.BreakerClosed
			t.Logf("%d records failing: breaker %v after %v", tc.records, p.BreakerState(), time.Since(start).Round(time.Millisecond))
			if open != tc.wantOpen {
				t.Fatalf("breaker open: %v, want %v", open, tc.wantOpen)
			}
			if open && time.Since(start) < openTimeout {
				t.Fatalf("opened after %v, before OpenTimeout (%v) with %d of 5 failures", time.Since(start), openTimeout, tc.records)
			}
		})
	}
}
