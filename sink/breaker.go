package sink

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// errNotCounted is reported to the breaker for tries whose outcome says
// nothing about CXone's health: the caller's context ended, or a 429 (the
// shared cooldown already slows everyone; a rate limit is not an outage).
var errNotCounted = errors.New("not counted by the breaker")

// breaker wraps gobreaker's two-step breaker with context-aware waiting.
//
// gobreaker answers "no" at once while open (ErrOpenState) or while the
// half-open probe slots are taken (ErrTooManyRequests). Publish must not burn
// its retries on that, so acquire waits instead:
//
//   - open: until the open timeout has passed (gobreaker moves to half-open
//     lazily, on the next Allow), then asks again;
//   - half-open with the probe slots taken: until a probe finishes or the
//     state changes (signalled on the changed channel), with a periodic
//     re-check as a safety net against a missed wake-up;
//   - always: until ctx is done.
//
// Outcomes are mapped for gobreaker as follows: success and ClassRejected
// count as successes (a 422 says nothing about CXone's health); transient and
// systemic count as failures; errNotCounted is excluded.
type breaker struct {
	cb          *gobreaker.TwoStepCircuitBreaker[struct{}]
	openTimeout time.Duration
	poll        time.Duration

	openUntil atomic.Int64 // UnixNano, set when the breaker opens
	notClosed atomic.Bool

	mu      sync.Mutex
	changed chan struct{}
}

func newBreaker(cfg BreakerConfig, log *slog.Logger, onState func(from, to BreakerState)) *breaker {
	b := &breaker{
		openTimeout: cfg.OpenTimeout,
		poll:        min(cfg.OpenTimeout, time.Second),
		changed:     make(chan struct{}),
	}
	failures := uint32(cfg.FailuresToOpen)
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "cxone",
		MaxRequests: uint32(cfg.HalfOpenMaxRequests),
		Timeout:     cfg.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsSuccessful: func(err error) bool {
			return err == nil || errors.Is(err, ErrRejected)
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errNotCounted) },
		// Called with gobreaker's lock held: only atomics, our own lock and the
		// user's callback (documented as "return quickly") run here.
		OnStateChange: func(_ string, from, to gobreaker.State) {
			f, t := fromGobreaker(from), fromGobreaker(to)
			if t == BreakerOpen {
				b.openUntil.Store(time.Now().Add(b.openTimeout).UnixNano())
			}
			b.notClosed.Store(t != BreakerClosed)
			level := slog.LevelInfo
			if t == BreakerOpen {
				level = slog.LevelWarn
			}
			log.Log(context.Background(), level, "cxone circuit breaker state changed", "from", f.String(), "to", t.String())
			if onState != nil {
				onState(f, t)
			}
			b.signal()
		},
	})
	return b
}

func fromGobreaker(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateOpen:
		return BreakerOpen
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	}
	return BreakerClosed
}

func (b *breaker) state() BreakerState { return fromGobreaker(b.cb.State()) }

func (b *breaker) changedCh() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}

func (b *breaker) signal() {
	b.mu.Lock()
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// acquire blocks until the breaker lets one try through, and returns the
// function that must be called exactly once with the try's outcome. It
// returns ctx.Err() if ctx ends first; waiting never counts as a try.
func (b *breaker) acquire(ctx context.Context) (func(error), error) {
	for {
		ch := b.changedCh() // before Allow, so a change in between is not missed
		done, err := b.cb.Allow()
		if err == nil {
			return func(outcome error) {
				done(outcome)
				if b.notClosed.Load() {
					b.signal() // a probe finished: wake waiters to try for its slot
				}
			}, nil
		}
		wait := b.poll
		if errors.Is(err, gobreaker.ErrOpenState) {
			// gobreaker compares expiry.Before(now): aim just past it.
			wait = time.Until(time.Unix(0, b.openUntil.Load())) + time.Millisecond
			wait = max(wait, time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
}
