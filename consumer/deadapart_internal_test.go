package consumer

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/logbuf"
	"github.com/cxone-bridge/bridge/poll"
)

// Exactly-once dead letters of every partition go in one transaction, so
// one dead letter that cannot be written (here: its source topic's DLQ
// topic does not exist) aborted them all, every time: the dead letters of
// healthy topics were never written and their partitions' commits stayed
// behind them. Its partition is now written apart: the others go on, and
// it goes through once its DLQ topic exists.
func TestUnwritableDeadLetterHoldsOnlyItsPartition(t *testing.T) {
	c, _ := newInternalConsumer(t, "g-apart", []string{"good", "good.dlq", "bad"}, Config{DLQDelivery: DLQExactlyOnce, DLQWriteTimeout: 2 * time.Second, RetryBackoff: 50 * time.Millisecond, RetryBackoffMax: 200 * time.Millisecond},
		HandlerFunc(func(context.Context, *kgo.Record) (Outcome, error) {
			return Outcome{DLQ: &dlq.Failure{Class: dlq.ClassInvalid, Reason: "test"}}, nil
		}))
	// Topic ids, as fetches would have taught them (TxnOffsetCommit v6).
	learnTopicIDs(t, c, "good", "bad")
	runDeadLetterLoop(t, c)
	good, bad := tp{"good", 0}, tp{"bad", 0}
	c.mu.Lock()
	gp := c.newPartitionLocked(good)
	bp := c.newPartitionLocked(bad)
	c.dispatchLocked(&kgo.Record{Topic: "bad", Partition: 0, Offset: 0, Key: []byte("k"), Value: []byte("v")}, time.Now())
	c.dispatchLocked(&kgo.Record{Topic: "good", Partition: 0, Offset: 0, Key: []byte("k"), Value: []byte("v")}, time.Now())
	c.mu.Unlock()

	unfinished := func(p *partition) int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return p.unfinished
	}
	if !poll.Check(8*time.Second, func() bool { return unfinished(gp) == 0 }) {
		c.mu.Lock()
		defer c.mu.Unlock()
		t.Fatalf("after 8s the dead letter of good[0] (its DLQ topic exists) is still unwritten (unfinished %d, dead %d, committed %d); dlq failures %d: "+
			"every transaction also carries bad[0]'s dead letter, whose DLQ topic does not exist, and aborts",
			gp.unfinished, gp.dead, gp.committed, c.stats.dlqFailures.Load())
	}
	if n := unfinished(bp); n != 1 {
		t.Fatalf("bad[0] has %d unfinished records, want its dead letter still waiting", n)
	}
	// The operator creates the missing DLQ topic: the next try writes it.
	if _, err := kadm.NewClient(c.cl).CreateTopic(context.Background(), 1, 1, nil, "bad.dlq"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "bad[0]'s dead letter written once bad.dlq exists", func() bool { return unfinished(bp) == 0 })
	c.mu.Lock()
	committed := [2]int64{gp.committed, bp.committed}
	c.mu.Unlock()
	if committed != [2]int64{1, 1} {
		t.Errorf("committed good[0], bad[0] = %v, want both past their dead letter", committed)
	}
}

// At shutdown, the partitions the dead-letter loop had set apart (their
// own dead letters kept failing) stay apart: the last dead letters are
// written without them from the first try. The shutdown started with none
// apart, so its first transaction carried the known-bad partition's dead
// letter too, failed, and spent the shutdown's budget before the others'
// were written.
func TestShutdownKeepsPartitionsWrittenApart(t *testing.T) {
	var logs logbuf.Buffer
	c, _ := newInternalConsumer(t, "g-apart-shutdown", []string{"good", "good.dlq", "bad"}, Config{DLQDelivery: DLQExactlyOnce,
		DLQWriteTimeout: 2 * time.Second, RetryBackoff: 50 * time.Millisecond, RetryBackoffMax: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		HandlerFunc(func(context.Context, *kgo.Record) (Outcome, error) {
			return Outcome{DLQ: &dlq.Failure{Class: dlq.ClassInvalid, Reason: "test"}}, nil
		}))
	learnTopicIDs(t, c, "good", "bad")
	good, bad := tp{"good", 0}, tp{"bad", 0}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.deadLetterLoop(ctx) }()
	c.mu.Lock()
	gp := c.newPartitionLocked(good)
	bp := c.newPartitionLocked(bad)
	c.dispatchLocked(&kgo.Record{Topic: "bad", Partition: 0, Offset: 0, Key: []byte("k"), Value: []byte("v")}, time.Now())
	c.mu.Unlock()
	// bad.dlq does not exist: bad[0] is set apart after its first failure.
	poll.Until(t, 10*time.Second, "bad[0]'s dead letter failed", func() bool { return c.stats.dlqFailures.Load() >= 1 })
	stop()
	<-done
	if !c.apartLeft.parts[bad] {
		t.Fatalf("the loop returned with %v apart, want bad[0]", c.apartLeft.parts)
	}
	// Shutdown: good[0]'s dead letter reached its head after the loop
	// stopped.
	c.mu.Lock()
	c.dispatchLocked(&kgo.Record{Topic: "good", Partition: 0, Offset: 0, Key: []byte("k"), Value: []byte("v")}, time.Now())
	c.mu.Unlock()
	poll.Until(t, 5*time.Second, "good[0]'s record dead pending", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return gp.dead == 1
	})
	fin, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.finalDeadLetters(fin)
	c.mu.Lock()
	gu, bu := gp.unfinished, bp.unfinished
	c.mu.Unlock()
	if gu != 0 || bu != 1 {
		t.Fatalf("after the shutdown's dead letters: good[0] %d unfinished (want 0), bad[0] %d (want 1, left to the next owner)", gu, bu)
	}
	if strings.Contains(logs.String(), "could not be written at shutdown") {
		t.Errorf("the shutdown tried bad[0] again, though the loop had set it apart:\n%s", logs.String())
	}
}
