package sink

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// maxRetryAfter is what an absurd Retry-After (overflowing seconds) becomes
// before Config.Retry.RetryAfterMax caps it.
const maxRetryAfter = 100 * 365 * 24 * time.Hour

// parseRetryAfter reads a Retry-After header value (RFC 9110 §10.2.3): either
// delay-seconds (a non-negative decimal integer) or an HTTP-date (IMF-fixdate,
// RFC 850 or asctime form). It returns the delay relative to now (0 for a date
// in the past) and whether the value was understood. Garbage is not an error:
// the caller falls back to its own backoff.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true // only overflow gets here
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	switch {
	case d < 0:
		return 0, true
	case d > maxRetryAfter:
		return maxRetryAfter, true
	}
	return d, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// fullJitter returns a uniformly random delay in [0, min(maxDelay, base·2^retry)].
func fullJitter(base, maxDelay time.Duration, retry int) time.Duration {
	if base <= 0 {
		return 0
	}
	ceil := maxDelay
	if retry < 62 {
		if d := base << uint(retry); d > 0 && d>>uint(retry) == base && d < maxDelay {
			ceil = d
		}
	}
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil + 1)
}

// sleepCtx waits for d or until ctx is done, whichever comes first; it
// returns ctx.Err() in the latter case.
func sleepCtx(ctx context.Context, d time.Duration) error {
	return sleepStop(ctx, nil, d)
}

// sleepStop is sleepCtx that also ends, with ErrStopped, when stop closes
// (Publisher.StopWaiting).
func sleepStop(ctx context.Context, stop <-chan struct{}, d time.Duration) error {
	if d <= 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		return stopped(stop)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return ErrStopped
	}
}

// stopped returns ErrStopped once stop is closed.
func stopped(stop <-chan struct{}) error {
	select {
	case <-stop:
		return ErrStopped
	default:
		return nil
	}
}

// cooldown is the shared "not before" instant set by a 429. Every caller of
// the Publisher waits for it before every POST (the re-POST after a forced
// token refresh included), so one 429 slows all workers, not only the one
// that received it ("429 is global").
//
// A caller that had to wait is released at a random instant within a short
// window after the cool-down ends (a tenth of its length, between 50ms and
// 1s), not at the instant itself: dozens of workers released together would
// be the next 429 wave. A caller that finds the cool-down over goes at once.
type cooldown struct {
	until  atomic.Int64 // UnixNano; 0 = none
	spread atomic.Int64 // the release window of the current cool-down
}

// extend moves the instant to t unless it is already later; wait is the
// cool-down's length, which sizes the release window.
func (c *cooldown) extend(t time.Time, wait time.Duration) {
	n := t.UnixNano()
	for {
		cur := c.until.Load()
		if cur >= n {
			return
		}
		if c.until.CompareAndSwap(cur, n) {
			c.spread.Store(int64(min(max(wait/10, 50*time.Millisecond), time.Second)))
			return
		}
	}
}

// wait blocks until the instant has passed (plus the release jitter if it
// had to wait); it re-reads the instant after each sleep because another
// caller may have pushed it further meanwhile. It ends early with
// ctx.Err(), or ErrStopped when stop closes.
func (c *cooldown) wait(ctx context.Context, stop <-chan struct{}) error {
	waited, jittered := false, false
	for {
		var d time.Duration
		if u := c.until.Load(); u != 0 {
			d = time.Until(time.Unix(0, u))
		}
		if d <= 0 {
			if !waited || jittered {
				return nil
			}
			jittered = true
			d = rand.N(time.Duration(max(c.spread.Load(), 1)))
		} else {
			waited, jittered = true, false
		}
		if err := sleepStop(ctx, stop, d); err != nil {
			return err
		}
	}
}
