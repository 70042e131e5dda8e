package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newInternalConsumer returns a Consumer in group on a one-broker kfake
// cluster seeded with "orders" and topics (one partition each), for the
// tests that drive its internals by hand (newPartitionLocked,
// dispatchLocked, deadLetterLoop) instead of Run. cfg.Topics defaults to
// "orders" and cfg.DLQTopic to the topic's name + ".dlq". The partitions a
// test makes of other topics are its own: the group's assignment of
// "orders" never touches them. t.Cleanup stops the workers and closes the
// clients, then the cluster (after the test's deferred calls, and after
// runDeadLetterLoop's cleanup).
func newInternalConsumer(t *testing.T, group string, topics []string, cfg Config, h Handler) (*Consumer, *kfake.Cluster) {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, append([]string{"orders"}, topics...)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	if cfg.Topics == nil {
		cfg.Topics = []string{"orders"}
	}
	if cfg.DLQTopic == nil {
		cfg.DLQTopic = func(s string) string { return s + ".dlq" }
	}
	c, err := New(cfg, h, kgo.SeedBrokers(kc.ListenAddrs()...), kgo.ConsumerGroup(group))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.cancelBase()
		c.mu.Lock()
		c.stopWorkers = true
		c.workCond.Broadcast()
		c.mu.Unlock()
		c.workers.Wait()
		c.cl.Close()
		if c.dlqTxn != nil {
			c.dlqTxn.close()
		}
	})
	return c, kc
}

// learnTopicIDs gives c the ids of topics, as its fetches would: the
// dead-letter transaction's offset commit names topics by id.
func learnTopicIDs(t *testing.T, c *Consumer, topics ...string) {
	t.Helper()
	md, err := kadm.NewClient(c.cl).ListTopics(context.Background(), topics...)
	if err != nil {
		t.Fatal(err)
	}
	c.hwmMu.Lock()
	defer c.hwmMu.Unlock()
	for _, d := range md {
		c.topicIDs[d.Topic] = d.ID
	}
}

// runDeadLetterLoop runs c's dead-letter loop until the test ends.
func runDeadLetterLoop(t *testing.T, c *Consumer) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.deadLetterLoop(ctx) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
}

// committedDeadLetters counts the records of topic that a read-committed
// consumer sees within quiet: the dead letters of committed transactions.
func committedDeadLetters(t *testing.T, kc *kfake.Cluster, topic string, quiet time.Duration) int {
	t.Helper()
	rd, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	n := 0
	ctx, cancel := context.WithTimeout(context.Background(), quiet)
	defer cancel()
	for ctx.Err() == nil {
		rd.PollFetches(ctx).EachRecord(func(*kgo.Record) { n++ })
	}
	return n
}

// holdStuck returns a Handler that holds a record keyed "stuck" until
// release closes (or its context ends), and answers every other record
// with other.
func holdStuck(release <-chan struct{}, other Outcome) Handler {
	return HandlerFunc(func(ctx context.Context, r *kgo.Record) (Outcome, error) {
		if string(r.Key) == "stuck" {
			select {
			case <-release:
				return Outcome{}, nil
			case <-ctx.Done():
				return Outcome{}, ctx.Err()
			}
		}
		return other, nil
	})
}
