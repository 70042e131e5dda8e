package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/poll"
)

// A commit refused with STALE_MEMBER_EPOCH (KIP-848) is sent again with the
// member's new epoch, but only for the partitions still owned: one lost
// meanwhile (a fence, after which the member joined again with a new
// epoch) may be another member's by now, and the coordinator checks the
// epoch, not ownership, so its old watermark would move the group back.
func TestCommitRetryAfterStaleEpochSkipsDroppedPartitions(t *testing.T) {
	c, _ := newInternalConsumer(t, "g-stale", []string{"orders.dlq"}, Config{},
		HandlerFunc(func(context.Context, *kgo.Record) (Outcome, error) { return Outcome{}, nil }))
	// Two partitions of a topic the group does not consume (its own
	// assignment never touches them), each with a finished record.
	kept, lost := tp{"owned", 0}, tp{"owned", 1}
	c.mu.Lock()
	for _, key := range []tp{kept, lost} {
		c.newPartitionLocked(key)
		c.dispatchLocked(&kgo.Record{Topic: key.topic, Partition: key.partition, Offset: 0, Key: []byte("k"), Value: []byte("v")}, time.Now())
	}
	keptP := c.parts[kept]
	c.mu.Unlock()
	poll.Until(t, 5*time.Second, "both records finished", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.inflight == 0
	})

	var sent []map[string]map[int32]kgo.EpochOffset
	c.sendCommit = func(_ context.Context, offsets map[string]map[int32]kgo.EpochOffset) error {
		sent = append(sent, offsets)
		if len(sent) == 1 {
			c.drop(map[tp]bool{lost: true}) // the fence's onLost, while the commit was under way
			return kerr.StaleMemberEpoch
		}
		return nil
	}
	if err := c.commit(context.Background(), 0, nil); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 {
		t.Fatalf("%d commits sent, want 2 (one refused, one again)", len(sent))
	}
	if got := sent[0]["owned"]; len(got) != 2 {
		t.Errorf("first commit %v, want both partitions", sent[0])
	}
	again := sent[1]["owned"]
	if _, ok := again[lost.partition]; ok {
		t.Errorf("commit sent again with the lost partition: %v", sent[1])
	}
	if eo, ok := again[kept.partition]; !ok || eo.Offset != 1 {
		t.Errorf("commit sent again: %v, want the owned partition at 1", sent[1])
	}
	c.mu.Lock()
	committed := keptP.committed
	c.mu.Unlock()
	if committed != 1 {
		t.Errorf("owned partition committed at %d, want 1", committed)
	}
}
