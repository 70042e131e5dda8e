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

// An EndTxn(commit) whose answer comes late (a slow coordinator) may
// still commit on the broker. The writer took it as failed, the records
// stayed dead pending, and the next transaction wrote their dead letters
// again: two committed dead letters for one record. Now the end has a
// timeout of its own (not what the produce left of DLQWriteTimeout), and
// when even that passes, the group's committed offsets tell whether it
// committed.
func TestSlowTransactionEndWritesDeadLetterOnce(t *testing.T) {
	for _, tc := range []struct {
		name             string
		endTimeout       time.Duration // 0: the default
		firstOfPartition bool          // no offset of the partition committed before
	}{
		{"answered after DLQWriteTimeout", 0, false},
		{"unanswered within the end's timeout", 300 * time.Millisecond, false},
		// A fetch of all the group's offsets leaves out a partition
		// without a committed offset, even while its first commit is
		// pending: the check must name the partitions (it failed 1 run
		// in 30 in CI, when the group's earlier commit was not there).
		{"unanswered, the partition's first commit", 300 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testSlowTransactionEnd(t, tc.endTimeout, tc.firstOfPartition) })
	}
}

func testSlowTransactionEnd(t *testing.T, endTimeout time.Duration, firstOfPartition bool) {
	c, kc := newInternalConsumer(t, "g-slow-end", []string{"good", "good.dlq"}, Config{DLQDelivery: DLQExactlyOnce,
		DLQWriteTimeout: time.Second, RetryBackoff: 50 * time.Millisecond, RetryBackoffMax: 200 * time.Millisecond},
		HandlerFunc(func(context.Context, *kgo.Record) (Outcome, error) {
			return Outcome{DLQ: &dlq.Failure{Class: dlq.ClassInvalid, Reason: "test"}}, nil
		}))
	var slowed atomic.Bool
	kc.ControlKey(int16(kmsg.EndTxn), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		if !kr.(*kmsg.EndTxnRequest).Commit || !slowed.CompareAndSwap(false, true) {
			return nil, nil, false
		}
		kc.SleepControl(func() { time.Sleep(1500 * time.Millisecond) }) // past the client's 1s
		return nil, nil, false                                          // then the broker commits
	})
	if endTimeout > 0 {
		c.dlqTxn.endTimeout = endTimeout
	}
	learnTopicIDs(t, c, "good")
	// The group exists, as it does for a member: a first commit at 0 of
	// another partition, or of this one.
	var first kadm.Offsets
	if firstOfPartition {
		first.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 0, LeaderEpoch: -1})
	} else {
		first.Add(kadm.Offset{Topic: "good", Partition: 0, At: 0, LeaderEpoch: -1})
	}
	if _, err := kadm.NewClient(c.cl).CommitOffsets(context.Background(), "g-slow-end", first); err != nil {
		t.Fatal(err)
	}
	runDeadLetterLoop(t, c)
	c.mu.Lock()
	gp := c.newPartitionLocked(tp{"good", 0})
	c.dispatchLocked(&kgo.Record{Topic: "good", Partition: 0, Offset: 0, Key: []byte("k"), Value: []byte("v")}, time.Now())
	c.mu.Unlock()
	poll.Until(t, 15*time.Second, "the dead letter written", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return gp.unfinished == 0
	})
	n := committedDeadLetters(t, kc, "good.dlq", 3*time.Second)
	t.Logf("EndTxn slowed: %v; committed dead letters: %d; dlq failures %d", slowed.Load(), n, c.stats.dlqFailures.Load())
	if !slowed.Load() {
		t.Fatal("the transaction's end was not slowed")
	}
	if n != 1 {
		t.Fatalf("%d committed dead letters for one record, want 1", n)
	}
}
