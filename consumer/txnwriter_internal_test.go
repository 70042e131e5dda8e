package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/poll"
)

// TestDeadLetterProducerRefreshesMetadataSoon guards the dead-letter
// producer's MetadataMinAge: a produce answered with CONCURRENT_TRANSACTIONS
// (the previous transaction's markers not yet written on that partition)
// is sent again only after a metadata refresh, and with the client's
// default of one refresh per 5s, exactly-once dead letters stood still for
// up to 5s every 5s on real Kafka (TestDeadLetterCost in e2e shows the
// effect: commits standing still for more than 3s).
func TestDeadLetterProducerRefreshesMetadataSoon(t *testing.T) {
	w, err := newTxnWriter("group", []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")})
	if err != nil {
		t.Fatal(err)
	}
	defer w.cl.Close()
	got, ok := w.cl.OptValue(kgo.MetadataMinAge).(time.Duration)
	if !ok || got > 250*time.Millisecond {
		t.Errorf("dead-letter producer's MetadataMinAge = %v, want at most 250ms", w.cl.OptValue(kgo.MetadataMinAge))
	}
	if id := w.cl.OptValue(kgo.TransactionalID); id != w.id {
		t.Errorf("transactional id %v, want %s", id, w.id)
	}
}

// One refused InitProducerID (the ACL on the transactional ids missing,
// then granted) must not stop the dead letters for good: the client keeps
// a non-retriable InitProducerID error as its producer id's fatal state,
// and every BeginTransaction returns it, so the writer starts a new client.
// Before, it replaced the client only after a fence, and no dead letter
// (nor the commit of its partition) moved until the process restarted.
func TestDeadLetterProducerRecoversFromRefusedInit(t *testing.T) {
	c, kc := newInternalConsumer(t, "g-refused-init", []string{"good", "good.dlq"}, Config{DLQDelivery: DLQExactlyOnce, DLQWriteTimeout: 2 * time.Second, RetryBackoff: 50 * time.Millisecond, RetryBackoffMax: 200 * time.Millisecond},
		HandlerFunc(func(context.Context, *kgo.Record) (Outcome, error) {
			return Outcome{DLQ: &dlq.Failure{Class: dlq.ClassInvalid, Reason: "test"}}, nil
		}))
	// One InitProducerID refused, then allowed (the operator fixed the ACL).
	kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.InitProducerID}, Err: kerr.TransactionalIDAuthorizationFailed, TopLevel: true, Count: 1})
	learnTopicIDs(t, c, "good")
	runDeadLetterLoop(t, c)
	good := tp{"good", 0}
	c.mu.Lock()
	gp := c.newPartitionLocked(good)
	c.dispatchLocked(&kgo.Record{Topic: "good", Partition: 0, Offset: 0, Key: []byte("k"), Value: []byte("v")}, time.Now())
	c.mu.Unlock()

	written := poll.Check(8*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return gp.unfinished == 0
	})
	if !written {
		_, _, perr := c.dlqTxn.cl.ProducerID(context.Background())
		t.Fatalf("8s after a single refused InitProducerID the dead letter is still unwritten (dlq failures %d); producer id state: %v",
			c.stats.dlqFailures.Load(), perr)
	}
	if n := c.stats.dlqFailures.Load(); n < 1 {
		t.Errorf("%d failed dead-letter transactions, want at least the refused one", n)
	}
}
