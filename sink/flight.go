package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// errClosed is the cause of the cancellation of the calls [Publisher.Close]
// ends, and the error of a call asked for after it. Like a context's
// error, it carries no prefix: it reaches callers inside a sink error.
var errClosed = errors.New("publisher closed")

// closeWait bounds how long [Publisher.Close] waits for the calls it ended.
// They end as soon as their HTTP request does, which its context's end
// aborts: the bound is reached only if something else (a logger, a file
// system) hangs.
const closeWait = 5 * time.Second

// background runs the calls a [Publisher] makes on behalf of callers who
// may not wait for them (the token fetches and discoveries of its
// [flight]s), so that nothing of the Publisher outlives [Publisher.Close]:
// every call runs under a context that stop cancels, with errClosed as
// its cause, and stop waits for them.
type background struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	// stopWait, when set, ends the waits of callers (flight.do) with
	// ErrStopped once closed ([Publisher.StopWaiting]); the calls go on.
	stopWait <-chan struct{}

	mu      sync.Mutex
	stopped bool
	calls   sync.WaitGroup
}

func newBackground() *background {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &background{ctx: ctx, cancel: cancel}
}

// goTimeout runs fn in a new goroutine under a context that ends after
// timeout or at stop. It reports false, and runs nothing, once stop was
// called.
func (b *background) goTimeout(timeout time.Duration, fn func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return false
	}
	b.calls.Add(1)
	go func() {
		defer b.calls.Done()
		ctx, cancel := context.WithTimeout(b.ctx, timeout)
		defer cancel()
		fn(context.WithValue(ctx, inBackground{}, true))
	}()
	return true
}

// inBackground marks the context of a call of [background]: a wait inside
// it (a token fetch waiting for the token URL's discovery) is not a
// caller's, and stopWait does not end it.
type inBackground struct{}

// stop cancels every call, refuses new ones, and waits at most wait for
// the calls to return. Calling it again waits again.
func (b *background) stop(wait time.Duration) error {
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
	b.cancel(errClosed)
	done := make(chan struct{})
	go func() {
		b.calls.Wait()
		close(done)
	}()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
		return fmt.Errorf("sink: token fetches or discoveries still running %s after Close ended them", wait)
	}
}

// closing reports whether ctx, the context of a call of [background],
// ended because the Publisher is closing (rather than by its timeout).
func closing(ctx context.Context) bool { return errors.Is(context.Cause(ctx), errClosed) }

// flight is a single-flight call, shared by every caller that needs its
// result. It guarantees:
//
//   - at most one call of fn is in flight at a time: a caller that asks
//     while one is joins it and gets its result;
//   - the call runs in its own goroutine (through [background]), under a
//     context that ends after timeout or at [Publisher.Close], never under
//     a caller's: a caller stops waiting when its own context ends, without
//     cancelling the call for the others, and a caller may start a call and
//     not wait at all (a background refresh);
//   - fn's result is shared as is, error or not, and not kept: the next
//     caller after it starts a new call unless fresh says it need not.
//     Whatever fn stores for later callers (a token, a URL) must be stored
//     by fn itself, before it returns: a caller that finds no call in
//     flight then sees it through fresh.
//
// Once [Publisher.Close] was called, no call starts: the result is
// errClosed.
type flight[T any] struct {
	fn      func(ctx context.Context) (T, error)
	timeout time.Duration
	bg      *background

	mu   sync.Mutex
	call *flightCall[T]
}

// flightCall is one call of a flight; val and err are set before done is
// closed.
type flightCall[T any] struct {
	done    chan struct{}
	val     T
	err     error
	waiters atomic.Int32 // callers waiting on it in do (tests observe it)
}

// start returns the call in flight, or else the value fresh returns when it
// reports one (as a finished call), or else a new call. fresh, which may be
// nil, is called under the flight's lock: it must only read.
func (f *flight[T]) start(fresh func() (T, bool)) *flightCall[T] {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.call != nil {
		return f.call
	}
	c := &flightCall[T]{done: make(chan struct{})}
	if fresh != nil {
		if v, ok := fresh(); ok {
			c.val = v
			close(c.done)
			return c
		}
	}
	started := f.bg.goTimeout(f.timeout, func(ctx context.Context) {
		c.val, c.err = f.fn(ctx)
		f.mu.Lock()
		f.call = nil
		f.mu.Unlock()
		close(c.done)
	})
	if !started {
		c.err = errClosed
		close(c.done)
		return c
	}
	f.call = c
	return c
}

// do waits for the result of start(fresh), for ctx to end (ctx.Err()), or
// for the background's stopWait to close (ErrStopped): a caller shutting
// down does not wait for a slow token endpoint (the call goes on for the
// others). A call of the background itself (a token fetch waiting for a
// discovery) is not stopped that way: its failure would be taken for the
// endpoint's.
func (f *flight[T]) do(ctx context.Context, fresh func() (T, bool)) (T, error) {
	c := f.start(fresh)
	c.waiters.Add(1)
	defer c.waiters.Add(-1)
	var zero T
	stop := f.bg.stopWait
	if ctx.Value(inBackground{}) != nil {
		stop = nil
	}
	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-stop:
		select {
		case <-c.done: // both ready: the result is not lost
			return c.val, c.err
		default:
		}
		return zero, ErrStopped
	}
}
