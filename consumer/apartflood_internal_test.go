package consumer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/poll"
)

// The partitions written apart were tried only once the loop found nothing
// else to write: while other partitions' dead letters kept coming, that
// never happened, and a partition set apart stayed held after its DLQ topic
// was created. Its try must come when due, flood or not.
func TestApartPartitionRetriedDuringFlood(t *testing.T) {
	c, kc := newInternalConsumer(t, "g-apart-flood", []string{"good", "good.dlq", "bad"}, Config{DLQDelivery: DLQExactlyOnce, DLQWriteTimeout: 2 * time.Second, RetryBackoff: 50 * time.Millisecond, RetryBackoffMax: 200 * time.Millisecond},
		HandlerFunc(func(context.Context, *kgo.Record) (Outcome, error) {
			return Outcome{DLQ: &dlq.Failure{Class: dlq.ClassInvalid, Reason: "test"}}, nil
		}))
	// a real cluster's transaction takes some ms (kfake's well under one)
	kc.ControlKey(int16(kmsg.EndTxn), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		kc.SleepControl(func() { time.Sleep(20 * time.Millisecond) })
		return nil, nil, false
	})
	learnTopicIDs(t, c, "good", "bad")
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.deadLetterLoop(ctx) }()
	floodStop := make(chan struct{})
	floodDone := make(chan struct{})
	defer func() {
		close(floodStop)
		<-floodDone
		stop()
		<-done
	}()
	c.mu.Lock()
	gp := c.newPartitionLocked(tp{"good", 0})
	bp := c.newPartitionLocked(tp{"bad", 0})
	c.dispatchLocked(&kgo.Record{Topic: "bad", Partition: 0, Offset: 0, Key: []byte("k"), Value: []byte("v")}, time.Now())
	c.mu.Unlock()
	// A steady stream of dead letters on good[0], paced (not a wait for a
	// condition).
	go func() {
		defer close(floodDone)
		for off := int64(0); ; {
			select {
			case <-floodStop:
				return
			case <-time.After(time.Millisecond):
			}
			c.mu.Lock()
			for i := 0; i < 5; i++ {
				c.dispatchLocked(&kgo.Record{Topic: "good", Partition: 0, Offset: off, Key: []byte(fmt.Sprint(off)), Value: []byte("v")}, time.Now())
				off++
			}
			c.mu.Unlock()
		}
	}()
	// bad[0] goes apart (its DLQ topic is missing) ...
	poll.Until(t, 8*time.Second, "bad[0] failed once", func() bool { return c.stats.dlqFailures.Load() > 0 })
	// ... then the operator creates bad.dlq.
	if _, err := kadm.NewClient(c.cl).CreateTopic(context.Background(), 1, 1, nil, "bad.dlq"); err != nil {
		t.Fatal(err)
	}
	ok := poll.Check(10*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return bp.unfinished == 0
	})
	c.mu.Lock()
	gc := gp.committed
	c.mu.Unlock()
	if !ok {
		t.Fatalf("10s after bad.dlq exists, bad[0]'s dead letter is still unwritten while good[0]'s flow (committed %d): the apart partition is never retried", gc)
	}
}
