package sink

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// health is what the Publisher learns of CXone from its answers: how many
// tries CXone answered (accepted the event, or refused the event itself)
// and how many failed (transient or systemic), in total, and for every event
// that is failing now, its streak: when it first failed, how many tries
// failed since, and the totals at its first failure. From these it tells
// whether an event's failures are its own (a poison record: the persistent
// failure rule, Config.Poison) or CXone's (an outage: never the event's
// fault).
//
// # The rule
//
// After each failed try of an event, with k its failed tries in a row that
// count (below), a the tries of other events that CXone answered since its
// first failure and f those that failed, the chance that a healthy event
// fails k tries in a row at the rate other events saw meanwhile is
//
//	L = (1 − s)^k,  s = a / (a + f + 1)
//
// (the +1 keeps a handful of answers from looking like certainty). A failed
// try counts only while CXone was last seen answering other events: since
// the event's previous failed try, another was answered, or none was tried
// and that was so at the previous one (at its first failed try, which
// counts: the last try of any event before it was answered). A try made
// while the others
// fail too, none answered, is an outage's and says nothing of the event.
// So an event that failed through an outage, then once more after it (a
// blip while the backlog drains), is not given up on for the outage's
// failures; a poison record whose key's followers wait behind it, with
// nothing else left to try, still is. The event is a persistent failure
// when
//
//   - a ≥ 1: CXone answered other events since its first failure,
//   - k ≥ Poison.MinAttempts and its first failure is at least
//     Poison.MinDuration ago (the bounded effort), and
//   - L ≤ 10⁻⁶: its failures cannot be bad luck.
//
// In an outage nothing is answered (a = 0, or f ≫ a), so nothing is a
// persistent failure however long it lasts. One record failing among
// healthy ones has s ≈ 1 and is given up on as soon as the bounds allow.
// With CXone failing half of all tries at random, a healthy event needs 20
// failures in a row, which happens to one event in a million. The evidence
// is this process's own: other replicas' successes are not seen.
//
// An event is suspected (the breaker does not pick it as a probe) while
// L ≤ 10⁻² with a ≥ 1: its failures already look like its own.
//
// Streaks are kept by idempotency key (two records with the same key are
// the same event for CXone) and dropped when the event goes through, is
// refused, is given up on, or has not been tried for staleAfter (its record
// was handed to another replica, say; the next failure starts a new
// streak, which can only delay a verdict).
type health struct {
	minAttempts int           // < 0: never a persistent failure
	minDuration time.Duration //

	answered atomic.Int64 // tries CXone answered (accepted, or refused the event itself)
	failed   atomic.Int64 // tries that failed transiently or systemically
	nstreaks atomic.Int64 // len(streaks), read without the lock on the success path
	// lastAnswered reports whether the last try of any event was answered.
	lastAnswered atomic.Bool

	mu        sync.Mutex
	streaks   map[string]*streak
	nextSweep int
}

// streak is one failing event's record.
type streak struct {
	since     time.Time // first failure
	answered0 int64     // health.answered before its first failure
	failed0   int64     // health.failed before its first failure
	fails     int       // failed tries since
	counted   int       // of them, those that count (see the rule)
	answeredL int64     // health.answered at its last failure
	failedL   int64     // health.failed after its last failure
	healthyL  bool      // CXone was last seen answering others at its last failure
	attempts  int       // HTTP requests made for it since its first failure
	touched   time.Time // last failure
	gen       uint64    // the breaker generation in which its failure was last counted
}

const (
	poisonLikelihood  = 1e-6
	suspectLikelihood = 1e-2
	staleAfter        = 15 * time.Minute
)

func newHealth(cfg PoisonConfig) *health {
	return &health{minAttempts: cfg.MinAttempts, minDuration: cfg.MinDuration, streaks: map[string]*streak{}, nextSweep: 256}
}

// likelihood returns L and a for s (see health). h.mu is held.
func (h *health) likelihood(s *streak) (l float64, others int64) {
	a := h.answered.Load() - s.answered0
	f := h.failed.Load() - s.failed0 - int64(s.fails)
	f = max(f, 0)
	rate := float64(a) / float64(a+f+1)
	return math.Pow(1-rate, float64(s.counted)), a
}

// suspect reports whether key's failures already look like its own.
func (h *health) suspect(key string) bool {
	if h.nstreaks.Load() == 0 {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streaks[key]
	if s == nil {
		return false
	}
	l, a := h.likelihood(s)
	return a > 0 && l <= suspectLikelihood
}

// healthy records a try CXone answered for key: it went through, or was
// refused for itself; either way its streak ends.
func (h *health) healthy(key string) {
	h.answered.Add(1)
	if !h.lastAnswered.Load() {
		h.lastAnswered.Store(true)
	}
	if h.nstreaks.Load() == 0 {
		return
	}
	h.mu.Lock()
	h.dropLocked(key)
	h.mu.Unlock()
}

func (h *health) dropLocked(key string) {
	if _, ok := h.streaks[key]; ok {
		delete(h.streaks, key)
		h.nstreaks.Store(int64(len(h.streaks)))
	}
}

// failedTry records a failed try of key that made attempts HTTP requests,
// under breaker generation gen, and reports whether key had failed before
// in that generation (its failure was counted by the breaker already: an
// event counts once per breaker state, so after the breaker closed again
// the events that were failing before count anew).
func (h *health) failedTry(key string, attempts int, now time.Time, gen uint64) (repeat bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streaks[key]
	if s != nil && now.Sub(s.touched) > staleAfter {
		s = nil
	}
	if s == nil {
		if len(h.streaks) >= h.nextSweep {
			h.sweepLocked(now)
		}
		s = &streak{since: now, answered0: h.answered.Load(), failed0: h.failed.Load(), gen: gen}
		h.streaks[key] = s
		h.nstreaks.Store(int64(len(h.streaks)))
	} else {
		repeat = s.gen == gen
		s.gen = gen
	}
	answered, failed := h.answered.Load(), h.failed.Load()
	switch {
	case s.fails == 0:
		s.healthyL = h.lastAnswered.Load()
	case answered > s.answeredL:
		s.healthyL = true
	case failed > s.failedL:
		s.healthyL = false // others failed, none was answered
	}
	if s.healthyL || s.fails == 0 {
		s.counted++ // the first failed try counts: the streak starts with it
	}
	h.lastAnswered.Store(false)
	s.answeredL, s.failedL = answered, h.failed.Add(1)
	s.fails++
	s.attempts += attempts
	s.touched = now
	return repeat
}

func (h *health) sweepLocked(now time.Time) {
	for k, s := range h.streaks {
		if now.Sub(s.touched) > staleAfter {
			delete(h.streaks, k)
		}
	}
	h.nextSweep = max(256, 2*len(h.streaks))
}

// Verdict explains why an event was given up on as a persistent failure.
type Verdict struct {
	Failures       int           // failed tries in a row
	Counted        int           // of them, those not in an outage (see health)
	Attempts       int           // HTTP requests made for it in that time
	Since          time.Duration // from its first failure to the last
	OthersAnswered int64         // tries of other events CXone answered meanwhile
	Likelihood     float64       // chance of so many failures by bad luck
}

func (v Verdict) String() string {
	return fmt.Sprintf("failed %d tries in a row (%d outside an outage) over %s while CXone answered %d tries of other events (chance of bad luck %.1g)",
		v.Failures, v.Counted, v.Since.Round(time.Millisecond), v.OthersAnswered, v.Likelihood)
}

// verdict applies the persistent failure rule to key after a failed try.
// When it holds, the streak ends (the event is given up on).
func (h *health) verdict(key string, now time.Time) (Verdict, bool) {
	if h.minAttempts < 0 {
		return Verdict{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streaks[key]
	if s == nil || s.counted < h.minAttempts || now.Sub(s.since) < h.minDuration {
		return Verdict{}, false
	}
	l, a := h.likelihood(s)
	if a < 1 || l > poisonLikelihood {
		return Verdict{}, false
	}
	h.dropLocked(key)
	return Verdict{Failures: s.fails, Counted: s.counted, Attempts: s.attempts, Since: s.touched.Sub(s.since), OthersAnswered: a, Likelihood: l}, true
}
