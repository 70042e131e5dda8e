package consumer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/poll"
)

// A transaction whose end goes unanswered and that in fact ABORTED must not
// be taken as committed because the group's offset is at or past its own:
// after a data loss the group may hold the replaced log's offset. Taken
// as committed, its record was finished and its
// dead letter never written. Only offsets carrying the transaction's own
// metadata prove it committed.
func TestAbortedTransactionNotTakenAsCommitted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		groupAt int64 // the group's committed offset before the transaction
	}{
		{"group ahead from the replaced log", 20},
	} {
		t.Run(tc.name, func(t *testing.T) { testAbortedTransaction(t, tc.groupAt) })
	}
}

func testAbortedTransaction(t *testing.T, groupAt int64) {
	release := make(chan struct{})
	defer close(release)
	c, kc := newInternalConsumer(t, "g-aborted-end", []string{"good", "good.dlq"}, Config{DLQDelivery: DLQExactlyOnce, DLQWriteTimeout: 5 * time.Second, CommitTimeout: 5 * time.Second,
		RetryBackoff: 50 * time.Millisecond, RetryBackoffMax: 200 * time.Millisecond},
		holdStuck(release, Outcome{DLQ: &dlq.Failure{Class: dlq.ClassInvalid, Reason: "test"}}))
	var hit atomic.Bool
	kc.ControlKey(int16(kmsg.EndTxn), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.EndTxnRequest)
		if !req.Commit || !hit.CompareAndSwap(false, true) {
			return nil, nil, false
		}
		req.Commit = false                                  // the coordinator ends up aborting it ...
		kc.SleepControl(func() { time.Sleep(time.Second) }) // ... and answers after the client gave up
		return nil, nil, false
	})
	c.dlqTxn.endTimeout = 300 * time.Millisecond
	adm := kadm.NewClient(c.cl)
	learnTopicIDs(t, c, "good")
	var first kadm.Offsets
	first.Add(kadm.Offset{Topic: "good", Partition: 0, At: groupAt, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(context.Background(), "g-aborted-end", first); err != nil {
		t.Fatal(err)
	}
	key := tp{"good", 0}
	c.mu.Lock()
	c.newPartitionLocked(key)
	c.parts[key].next = 10
	c.parts[key].next = 20
	c.parts[key].committed = groupAt
	// truncation at 15; the client resets there
	c.fetchErrorLocked("good", 0, &kgo.ErrDataLoss{Topic: "good", Partition: 0, ConsumedTo: 20, ResetTo: 15})
	np := c.parts[key]
	c.dispatchLocked(&kgo.Record{Topic: "good", Partition: 0, Offset: 15, Key: []byte("dead"), Value: []byte("v")}, time.Now())
	c.mu.Unlock()

	runDeadLetterLoop(t, c)
	poll.Until(t, 8*time.Second, "record 15 finished", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return np.unfinished == 0
	})
	n := committedDeadLetters(t, kc, "good.dlq", 2*time.Second)
	t.Logf("end aborted+late: %v; committed dead letters %d; failures %d", hit.Load(), n, c.stats.dlqFailures.Load())
	if !hit.Load() {
		t.Fatal("EndTxn not intercepted")
	}
	if n != 1 {
		t.Fatalf("record 15 finished as dead-lettered but %d committed dead letters: LOST", n)
	}
}
