package main

import (
	"context"
	"github.com/cxone-bridge/bridge/poll"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// TestSignalsFirstCancelsLaterWatched: the first signal cancels the
// commands' context, after the watcher saw it; the later ones only reach
// the watcher, numbered; without a watcher they change nothing.
func TestSignalsFirstCancelsLaterWatched(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &signals{cancel: cancel}
	type seen struct {
		sig      os.Signal
		n        int
		canceled bool
	}
	var got []seen
	stop := s.watch(func(sig os.Signal, n int) { got = append(got, seen{sig, n, ctx.Err() != nil}) })
	s.deliver(syscall.SIGTERM)
	if ctx.Err() == nil {
		t.Fatal("the first signal did not cancel")
	}
	s.deliver(os.Interrupt)
	stop()
	s.deliver(syscall.SIGTERM)
	want := []seen{{syscall.SIGTERM, 1, false}, {os.Interrupt, 2, true}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("watcher saw %v, want %v", got, want)
	}
	var none *signals
	none.watch(func(os.Signal, int) {})() // a command run without main
}

// TestNotifySignals: a real SIGTERM to the process ends the context.
func TestNotifySignals(t *testing.T) {
	ctx, s, stop := notifySignals(context.Background())
	defer stop()
	n := make(chan int, 1)
	defer s.watch(func(_ os.Signal, i int) { n <- i })()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not end the context")
	}
	if i := <-n; i != 1 {
		t.Errorf("the watcher saw signal number %d, want 1", i)
	}
}

// TestSecondSignalExitsAtOnce runs the binary: the first SIGTERM starts
// the drain (the events under way are held by CXone, so it would last
// consumer.drain_timeout, 5s), the second ends the process at once with
// 130.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	e := newEnv(t, 2, "")
	if err := e.cxone.SetFaults(cxonetest.Faults{Targets: []cxonetest.Target{{EventType: "OrderCreated", Hang: true}}}); err != nil {
		t.Fatal(err)
	}
	e.produce(0, 10)
	p := e.start()
	if !poll.Check(30*time.Second, func() bool { return e.cxone.Stats().Hung > 0 }) {
		t.Fatalf("no event reached CXone; log:\n%s", tail(p.Logs(), 20))
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.WaitLog(`"signal received: draining; send it again to exit at once"`, 10*time.Second)
	sent := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(10 * time.Second); code != 130 {
		t.Fatalf("exit %d after a second SIGTERM, want 130; log:\n%s", code, tail(p.Logs(), 20))
	}
	if took := time.Since(sent); took > 3*time.Second {
		t.Errorf("the second signal took %s to end the process", took)
	}
	p.WaitLog(`"second signal: exiting without draining"`, time.Second)
}
