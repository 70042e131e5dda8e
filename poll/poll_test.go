package poll_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/poll"
)

func TestCheck(t *testing.T) {
	var calls atomic.Int32
	if !poll.Check(5*time.Second, func() bool { return calls.Add(1) >= 3 }) {
		t.Fatal("condition true on its third call, Check said false")
	}
	if calls.Load() != 3 {
		t.Errorf("%d calls, want 3 (no call after it held)", calls.Load())
	}
	start := time.Now()
	if poll.Check(30*time.Millisecond, func() bool { return false }) {
		t.Fatal("Check true for a condition never true")
	}
	if took := time.Since(start); took < 30*time.Millisecond || took > 2*time.Second {
		t.Errorf("Check gave up after %s, want about 30ms", took)
	}
}

// fakeTB records a Fatalf instead of stopping the test.
type fakeTB struct {
	testing.TB
	failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = format
}

func TestUntilFailsNamingWhat(t *testing.T) {
	f := &fakeTB{TB: t}
	poll.Until(f, 10*time.Millisecond, "the impossible", func() bool { return false })
	if f.failed == "" {
		t.Fatal("Until did not fail for a condition never true")
	}
	f2 := &fakeTB{TB: t}
	poll.Until(f2, time.Second, "true", func() bool { return true })
	if f2.failed != "" {
		t.Fatal("Until failed for a condition already true")
	}
}
