package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// signals is the process's one handler of SIGINT and SIGTERM (main starts
// it; no command calls [signal.Notify]). The first signal cancels the
// context every command runs under, which starts the command's graceful
// shutdown. The signals after it change nothing by themselves (they are
// caught: they do not end the process), unless the command running watches
// them ([signals.watch]): run exits at once with 130 on the second, as
// README.md ("Shutdown") documents.
type signals struct {
	cancel context.CancelFunc

	mu    sync.Mutex
	count int                        // signals received so far
	fn    func(sig os.Signal, n int) // the watcher, if any
}

// notifySignals starts handling SIGINT and SIGTERM. ctx, derived from
// parent, ends at the first signal; stop ends the handling (and ctx).
func notifySignals(parent context.Context) (ctx context.Context, s *signals, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	s = &signals{cancel: cancel}
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				s.deliver(sig)
			}
		}
	}()
	return ctx, s, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

// deliver handles one signal: the watcher first (with the signal's number,
// from 1), then, for the first, the cancellation.
func (s *signals) deliver(sig os.Signal) {
	s.mu.Lock()
	s.count++
	n, fn := s.count, s.fn
	s.mu.Unlock()
	if fn != nil {
		fn(sig, n)
	}
	if n == 1 {
		s.cancel()
	}
}

// watch makes fn see every signal received until stop, numbered from 1
// since the process started, before the signal takes effect: fn may log
// it, or end the process. One watcher at a time; a nil *signals (a command
// run without main, in a test) watches nothing.
func (s *signals) watch(fn func(sig os.Signal, n int)) (stop func()) {
	if s == nil {
		return func() {}
	}
	s.mu.Lock()
	s.fn = fn
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.fn = nil
		s.mu.Unlock()
	}
}
