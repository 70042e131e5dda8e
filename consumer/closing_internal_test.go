package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// A revoke's drain that is under way when shutdown starts must end once
// the revoked partition's records being handled are done: the records that
// had not started are left for the next run (abandoned) and never finish
// in this one, so waiting for them held the shutdown (the client's close
// waits for the revoke) for the whole RevokeDrainTimeout.
func TestRevokeDrainEndsWhenShutdownStarts(t *testing.T) {
	release := make(chan struct{})
	running := make(chan struct{}, 2)
	c, _ := newInternalConsumer(t, "g-closing", []string{"orders.dlq"}, Config{},
		HandlerFunc(func(context.Context, *kgo.Record) (Outcome, error) {
			running <- struct{}{}
			<-release
			return Outcome{}, nil
		}))
	// A partition of a topic the group does not consume: the group's own
	// assignment of "orders" never touches its state. Record 0 is handled
	// (held); record 1, same key, waits behind it.
	key := tp{"revoked", 0}
	c.mu.Lock()
	c.newPartitionLocked(key)
	for off := range int64(2) {
		c.dispatchLocked(&kgo.Record{Topic: key.topic, Partition: key.partition, Offset: off, Key: []byte("k"), Value: []byte("v")}, time.Now())
	}
	c.mu.Unlock()
	<-running

	const revokeDrain = 20 * time.Second
	drained := make(chan bool, 1)
	go func() { drained <- c.waitIdle(func(p *partition) bool { return p.tp == key }, revokeDrain) }()
	// Shutdown starts during the drain (or, should the goroutine be slow
	// to start, just before it: either way the drain must end).
	c.startClosing()
	began := time.Now()
	close(release) // record 0 finishes; record 1 is left for the next run
	select {
	case ok := <-drained:
		if !ok {
			t.Errorf("the drain reported a timeout after %s", time.Since(began).Round(time.Millisecond))
		}
	case <-time.After(revokeDrain / 2):
		t.Fatalf("the drain still waiting %s after shutdown started and the record being handled finished", revokeDrain/2)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("the drain ended %s after the record being handled finished, want at once", took.Round(time.Millisecond))
	}
	c.mu.Lock()
	p := c.parts[key]
	unfinished, inflight := p.unfinished, c.inflight
	c.mu.Unlock()
	if unfinished != 1 || inflight != 0 {
		t.Errorf("unfinished %d, in the budget %d: want record 1 left over (unfinished, out of the budget)", unfinished, inflight)
	}
}
