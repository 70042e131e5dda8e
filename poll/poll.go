// Package poll is how the repository's tests wait: for a condition, never
// for a fixed time. The deadline only bounds a test that is failing.
//
//	poll.Until(t, 10*time.Second, "lag 0", func() bool { return lag() == 0 })
package poll

import (
	"testing"
	"time"
)

// maxInterval bounds the wait between two calls of the condition; the first
// calls come quickly (1 ms, then doubling), so a fast condition costs a
// fast test little, and a slow one is not polled in a busy loop.
const maxInterval = 50 * time.Millisecond

// Until calls cond until it returns true, and fails tb (Fatalf, naming
// what and d) if it is still false after d. It returns at once when cond
// is already true.
func Until(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	if !Check(d, cond) {
		tb.Fatalf("timed out after %s waiting for %s", d, what)
	}
}

// Check calls cond until it returns true or d has passed, and reports
// whether it did: for callers that log their state before failing.
func Check(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	interval := time.Millisecond
	for !cond() {
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(min(interval, time.Until(deadline)+time.Millisecond))
		interval = min(2*interval, maxInterval)
	}
	return true
}
