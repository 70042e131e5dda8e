package sink

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// outcome is what one try tells the breaker about CXone.
type outcome int

const (
	// outcomeNone: nothing. The caller's context ended, or a 429 (the
	// shared cooldown handles rate limits; a quota is not an outage).
	outcomeNone outcome = iota
	// outcomeHealthy: CXone answered: it accepted the event, or refused the
	// event itself (a 422 says nothing bad about CXone's health).
	outcomeHealthy
	// outcomeFailed: a transient or systemic failure.
	outcomeFailed
)

// breaker is the circuit breaker in front of CXone. It measures CXone, not
// one event:
//
//   - Closed: every try goes. A failed try counts only if it is the first
//     failure of its event since that event last went through (the caller
//     says so with repeat): an event failing six tries in a row is one
//     failure, and FailuresToOpen failures of distinct events in a row, with
//     no healthy answer in between, open the breaker. A healthy answer
//     resets the count; a repeated failure neither counts nor resets, with
//     one exception: when at least two distinct events have failed and no
//     try has been answered for OpenTimeout since the second of them
//     first failed, a repeated failure opens the breaker too. An outage with fewer than
//     FailuresToOpen records in flight (a quiet topic, a small budget)
//     otherwise never opened it: nothing paused, and readiness never said
//     so. One event failing alone never opens it that way: it may be
//     poison, and nothing else tells it from an outage.
//   - Open: nothing goes; callers wait. After OpenTimeout a timer moves the
//     breaker to half-open by itself, so recovery never depends on a caller
//     being there to ask (after the partitions holding the waiting records
//     were lost, say).
//   - Half-open: up to HalfOpenMaxRequests probes go at once; that many
//     healthy answers in a row close the breaker, any failure opens it
//     again. An event suspected of being poison (its own failures are not
//     bad luck; see health) is not chosen as a probe while the breaker has
//     been half-open for less than OpenTimeout: the probe is to measure
//     CXone, and a poison record would keep the breaker open for every
//     other one. After that, any event may probe, so a breaker whose only
//     callers are suspects still closes when CXone answers.
//
// Outcomes of tries that started under an earlier state (generation) are
// ignored. Every change of state goes to onState, called with b.mu held (it
// must return quickly), then wakes the waiters.
type breaker struct {
	failuresToOpen int
	openTimeout    time.Duration
	maxProbes      int
	log            *slog.Logger
	onState        func(from, to BreakerState)
	stopWait       <-chan struct{} // closed by Publisher.StopWaiting: waiting ends with ErrStopped

	mu       sync.Mutex
	st       BreakerState
	gen      uint64    // changes with every transition
	since    time.Time // when st was entered
	failures int       // closed: distinct events failed in a row
	failed0  time.Time // closed: when the second of them first failed
	probes   int       // half-open: probes in flight
	passed   int       // half-open: healthy probes in a row
	timer    *time.Timer
	stopped  bool
	changed  chan struct{} // closed and replaced at every transition and freed probe slot
}

func newBreaker(cfg BreakerConfig, log *slog.Logger, onState func(from, to BreakerState), stop <-chan struct{}) *breaker {
	return &breaker{
		stopWait:       stop,
		failuresToOpen: cfg.FailuresToOpen,
		openTimeout:    cfg.OpenTimeout,
		maxProbes:      cfg.HalfOpenMaxRequests,
		log:            log,
		onState:        onState,
		since:          time.Now(),
		changed:        make(chan struct{}),
	}
}

// permit is one try let through by acquire.
type permit struct {
	gen   uint64
	probe bool
}

func (b *breaker) state() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st
}

// acquire blocks until the breaker lets one try through, and returns its
// permit, to be passed to release exactly once. suspect tells that the
// event is suspected of being poison (see breaker). It returns ctx.Err() if
// ctx ends first; waiting never counts as a try.
func (b *breaker) acquire(ctx context.Context, suspect bool) (permit, error) {
	for {
		b.mu.Lock()
		var wait time.Duration // 0: until the next change
		switch b.st {
		case BreakerClosed:
			p := permit{gen: b.gen}
			b.mu.Unlock()
			return p, nil
		case BreakerHalfOpen:
			left := b.openTimeout - time.Since(b.since) // until suspects may probe too
			if b.probes < b.maxProbes && (!suspect || left <= 0) {
				b.probes++
				p := permit{gen: b.gen, probe: true}
				b.mu.Unlock()
				return p, nil
			}
			if suspect && left > 0 {
				wait = left
			}
		}
		ch := b.changed
		b.mu.Unlock()
		if err := waitChange(ctx, b.stopWait, ch, wait); err != nil {
			return permit{}, err
		}
	}
}

// waitChange waits for ch to close, for d when d > 0, for ctx (ctx.Err()),
// or for stop to close (ErrStopped).
func waitChange(ctx context.Context, stop, ch <-chan struct{}, d time.Duration) error {
	var tc <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		tc = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return ErrStopped
	case <-ch:
	case <-tc:
	}
	return nil
}

// release reports the outcome of a try let through by p. repeat tells that
// the try's event had failed already since it last went through.
func (b *breaker) release(p permit, o outcome, repeat bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.gen != b.gen {
		return // started under an earlier state: says nothing about this one
	}
	switch b.st {
	case BreakerClosed:
		switch {
		case o == outcomeHealthy:
			b.failures = 0
		case o == outcomeFailed:
			if !repeat {
				b.failures++
				if b.failures == 2 {
					// The window starts when a second event fails: one
					// event failing alone for long (poison, say) and
					// then one blip of another is not an outage.
					b.failed0 = time.Now()
				}
			}
			switch {
			case b.failures >= b.failuresToOpen:
				b.setLocked(BreakerOpen)
			case b.failures >= 2 && time.Since(b.failed0) >= b.openTimeout:
				// Failing for OpenTimeout with no answer: an outage,
				// whatever the number of records in flight.
				b.log.Warn("cxone answered no try for open_timeout while distinct events kept failing",
					"events", b.failures, "open_timeout", b.openTimeout)
				b.setLocked(BreakerOpen)
			}
		}
	case BreakerHalfOpen:
		b.probes--
		switch o {
		case outcomeHealthy:
			b.passed++
			if b.passed >= b.maxProbes {
				b.setLocked(BreakerClosed)
				return
			}
		case outcomeFailed:
			b.setLocked(BreakerOpen)
			return
		}
		b.wakeLocked() // a probe slot is free
	}
}

// setLocked moves to state to. b.mu is held.
func (b *breaker) setLocked(to BreakerState) {
	from := b.st
	b.st = to
	b.gen++
	b.since = time.Now()
	b.failures, b.probes, b.passed = 0, 0, 0
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if to == BreakerOpen && !b.stopped {
		gen := b.gen
		b.timer = time.AfterFunc(b.openTimeout, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.gen == gen && b.st == BreakerOpen && !b.stopped {
				b.setLocked(BreakerHalfOpen)
			}
		})
	}
	level := slog.LevelInfo
	if to == BreakerOpen {
		level = slog.LevelWarn
	}
	b.log.Log(context.Background(), level, "cxone circuit breaker state changed", "from", from.String(), "to", to.String())
	if b.onState != nil {
		b.onState(from, to)
	}
	b.wakeLocked()
}

func (b *breaker) wakeLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// stop cancels the open timer; the breaker stays in its state.
func (b *breaker) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
}
