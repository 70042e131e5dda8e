package sink

import (
	"context"
	"errors"
	"github.com/cxone-bridge/bridge/poll"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFlight checks the contract of flight: one call at a time shared by
// every caller, a caller's context ends its wait only, fresh skips the
// call, and stop ends the call and refuses new ones.
func TestFlight(t *testing.T) {
	bg := newBackground()
	var (
		calls   atomic.Int32
		release = make(chan struct{})
		known   atomic.Pointer[string]
	)
	f := &flight[string]{
		fn: func(ctx context.Context) (string, error) {
			calls.Add(1)
			select {
			case <-release:
				v := "v"
				known.Store(&v)
				return v, nil
			case <-ctx.Done():
				return "", context.Cause(ctx)
			}
		},
		timeout: time.Minute,
		bg:      bg,
	}
	fresh := func() (string, bool) {
		if v := known.Load(); v != nil {
			return *v, true
		}
		return "", false
	}

	// A caller that gives up does not end the call for the others.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.do(ctx, fresh); err != context.Canceled {
		t.Fatalf("a cancelled caller got %v", err)
	}
	var wg sync.WaitGroup
	results := make(chan string, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := f.do(context.Background(), fresh)
			if err != nil {
				t.Error(err)
			}
			results <- v
		}()
	}
	// Release the call only once all ten callers wait on it, so that it
	// is really shared (a late caller would start a call of its own).
	poll.Until(t, 5*time.Second, "ten callers waiting on the call", func() bool { return f.waiting() == 10 })
	close(release)
	wg.Wait()
	close(results)
	for v := range results {
		if v != "v" {
			t.Errorf("a caller got %q", v)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls, want 1 shared by every caller", n)
	}

	// A known value needs no call.
	if v, err := f.do(context.Background(), fresh); v != "v" || err != nil || calls.Load() != 1 {
		t.Errorf("with a fresh value: %q, %v, %d calls", v, err, calls.Load())
	}

	// stop ends the call in flight (with errClosed as its cause) and waits
	// for it; after it no call starts.
	known.Store(nil)
	release = make(chan struct{})
	c := f.start(nil)
	waitUntil(t, func() bool { return calls.Load() == 2 })
	if err := bg.stop(time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	default:
		t.Fatal("stop returned before the call ended")
	}
	if !errors.Is(c.err, errClosed) {
		t.Errorf("the call ended with %v, want errClosed", c.err)
	}
	if _, err := f.do(context.Background(), fresh); !errors.Is(err, errClosed) || calls.Load() != 2 {
		t.Errorf("after stop: %v, %d calls", err, calls.Load())
	}
}

// TestBackgroundStopBounded: stop gives up waiting after its bound, with
// an error, when a call ignores its context.
func TestBackgroundStopBounded(t *testing.T) {
	bg := newBackground()
	release := make(chan struct{})
	defer close(release)
	bg.goTimeout(time.Minute, func(context.Context) { <-release })
	start := time.Now()
	if err := bg.stop(50 * time.Millisecond); err == nil {
		t.Error("stop returned nil while a call still ran")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop waited %s", d)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	poll.Until(t, 5*time.Second, "the condition", cond)
}

// waiting is how many callers wait on the call in flight (0 without one).
func (f *flight[T]) waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.call == nil {
		return 0
	}
	return int(f.call.waiters.Load())
}
