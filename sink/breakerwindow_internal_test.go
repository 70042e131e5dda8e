package sink

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// The open_timeout window of "two or more distinct events failing with no
// answer" starts when the second event fails, not the first: one event
// failing alone for longer (a poison record on a quiet topic) and then a
// single failure of another is no outage. Dated from the first, that one
// blip opened the breaker at once. (From a review.)
func TestBreakerWindowStartsAtSecondEvent(t *testing.T) {
	const openTimeout = 100 * time.Millisecond
	b := newBreaker(BreakerConfig{FailuresToOpen: 5, OpenTimeout: openTimeout, HalfOpenMaxRequests: 1},
		slog.New(slog.DiscardHandler), nil, make(chan struct{}))
	fail := func(repeat bool) {
		p, err := b.acquire(context.Background(), false)
		if err != nil {
			t.Fatal(err)
		}
		b.release(p, outcomeFailed, repeat)
	}
	fail(false) // poison P, first failure
	for range 4 {
		<-time.After(openTimeout / 2) // P's retries, spread over time
		fail(true)
	}
	if st := b.state(); st != BreakerClosed {
		t.Fatalf("one event alone opened the breaker: %v", st)
	}
	fail(false) // another event's first failure
	if st := b.state(); st != BreakerClosed {
		t.Fatalf("breaker %v after one failure of a second event (the first one failing alone for %v)", st, 2*openTimeout)
	}
	// Both keep failing, nothing answered, for open_timeout: an outage.
	<-time.After(openTimeout)
	fail(true)
	if st := b.state(); st != BreakerOpen {
		t.Fatalf("breaker %v after two events failed with no answer for open_timeout, want open", st)
	}
}
