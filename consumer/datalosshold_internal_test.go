package consumer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/poll"
)

// After a truncation (ErrDataLoss with ResetTo below what was consumed),
// the old state's records below ResetTo are records of the current log
// (only ResetTo..ConsumedTo was lost). One of them still being handled
// must hold the commit, which before went to the fresh state's watermark
// (ResetTo), past it: a crash or a rebalance then lost it. Once it
// finishes, the commit moves on.
func TestDataLossCommitHeldByUnfinishedBelowReset(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	c, _ := newInternalConsumer(t, "g-loss-held", []string{"orders.dlq"}, Config{}, holdStuck(release, Outcome{}))
	defer releaseOnce.Do(func() { close(release) })
	key := tp{"lossy", 0}
	c.mu.Lock()
	c.newPartitionLocked(key)
	// offset 10 is stuck (CXone failing for it); 11..19 finish.
	c.dispatchLocked(&kgo.Record{Topic: key.topic, Partition: 0, Offset: 10, Key: []byte("stuck"), Value: []byte("v")}, time.Now())
	for off := int64(11); off < 20; off++ {
		c.dispatchLocked(&kgo.Record{Topic: key.topic, Partition: 0, Offset: off, Key: []byte{byte(off)}, Value: []byte("v")}, time.Now())
	}
	c.mu.Unlock()
	poll.Until(t, 5*time.Second, "11..19 finished", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.parts[key].unfinished == 1
	})
	// The log is truncated at 15 (unclean leader election): 15..19 lost,
	// 10..14 still there. The client resets to 15.
	c.mu.Lock()
	c.fetchErrorLocked(key.topic, 0, &kgo.ErrDataLoss{Topic: key.topic, Partition: 0, ConsumedTo: 20, ResetTo: 15})
	c.mu.Unlock()

	var sent []map[string]map[int32]kgo.EpochOffset
	c.sendCommit = func(_ context.Context, offsets map[string]map[int32]kgo.EpochOffset) error {
		sent = append(sent, offsets)
		return nil
	}
	if err := c.commit(context.Background(), 0, nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range sent {
		if eo, ok := s[key.topic][0]; ok && eo.Offset > 10 {
			t.Fatalf("committed %s[0]@%d while record 10 (below the reset point 15, still in the log) is unfinished: a crash or rebalance now loses it", key.topic, eo.Offset)
		}
	}
	if len(sent) != 1 {
		t.Fatalf("%d commits sent, want 1 (at 10)", len(sent))
	}
	releaseOnce.Do(func() { close(release) }) // record 10 finishes
	poll.Until(t, 5*time.Second, "record 10 finished", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.parts[key].prev.unfinished == 0
	})
	if err := c.commit(context.Background(), 0, nil); err != nil {
		t.Fatal(err)
	}
	if eo := sent[len(sent)-1][key.topic][0]; len(sent) != 2 || eo.Offset != 15 {
		t.Fatalf("commits %v, want the second at 15 (the reset point) once record 10 finished", sent)
	}
}

// After a truncation, while a record of the replaced log below the reset
// point still holds the commit, the current log's dead letters wait:
// written at once, their offsets could not be committed with them (the
// commit stops at the held record), and a crash before it finished would
// have them judged and written again. Once it finishes, they are written,
// with the commit past them.
func TestDeadLettersWaitForReplacedLogRecord(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	c, _ := newInternalConsumer(t, "g-loss-dead", []string{"lossy", "lossy.dlq"}, Config{DLQDelivery: DLQExactlyOnce},
		holdStuck(release, Outcome{DLQ: &dlq.Failure{Class: dlq.ClassInvalid, Reason: "test"}}))
	learnTopicIDs(t, c, "lossy")
	runDeadLetterLoop(t, c)
	defer releaseOnce.Do(func() { close(release) })
	key := tp{"lossy", 0}
	c.mu.Lock()
	c.newPartitionLocked(key)
	c.dispatchLocked(&kgo.Record{Topic: key.topic, Partition: 0, Offset: 10, Key: []byte("stuck"), Value: []byte("v")}, time.Now())
	c.parts[key].next = 20 // 11..19 finished
	// The log is truncated at 15; the client resets there, and record 15
	// of the new log is bad.
	c.fetchErrorLocked(key.topic, 0, &kgo.ErrDataLoss{Topic: key.topic, Partition: 0, ConsumedTo: 20, ResetTo: 15})
	np := c.parts[key]
	c.dispatchLocked(&kgo.Record{Topic: key.topic, Partition: 0, Offset: 15, Key: []byte("bad"), Value: []byte("v")}, time.Now())
	c.mu.Unlock()
	state := func() (unfinished, dead int, committed int64) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return np.unfinished, np.dead, np.committed
	}
	poll.Until(t, 5*time.Second, "record 15 judged for the DLQ", func() bool { _, d, _ := state(); return d == 1 })
	// Nothing to wait for but time: the loop, woken, must leave it.
	c.signalDead()
	<-time.After(300 * time.Millisecond)
	if u, _, _ := state(); u != 1 {
		t.Fatalf("record 15's dead letter was written while record 10 of the replaced log holds the commit below it")
	}
	releaseOnce.Do(func() { close(release) }) // record 10 finishes
	poll.Until(t, 5*time.Second, "record 15's dead letter written", func() bool { u, _, _ := state(); return u == 0 })
	if _, _, committed := state(); committed != 16 {
		t.Errorf("committed %d after the dead letter, want 16", committed)
	}
}
