package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/poll"
)

// A revoke's commit that waits for a dead-letter transaction under way
// (which holds commitMu for up to DLQWriteTimeout and its end) must still
// have CommitTimeout for itself once it may go: its timeout started before
// the wait, so it failed unsent, and the next owner redelivered the
// partition's finished records.
func TestRevokeCommitTimedFromItsTurn(t *testing.T) {
	const commitTimeout = 200 * time.Millisecond
	c, _ := newInternalConsumer(t, "g-revoke-commit", []string{"orders.dlq"}, Config{CommitTimeout: commitTimeout},
		HandlerFunc(func(context.Context, *kgo.Record) (Outcome, error) { return Outcome{}, nil }))
	key := tp{"owned", 0}
	c.mu.Lock()
	c.newPartitionLocked(key)
	c.dispatchLocked(&kgo.Record{Topic: key.topic, Partition: key.partition, Offset: 0, Key: []byte("k"), Value: []byte("v")}, time.Now())
	c.mu.Unlock()
	poll.Until(t, 5*time.Second, "the record finished", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.inflight == 0
	})
	type call struct {
		offsets map[string]map[int32]kgo.EpochOffset
		ctxErr  error
	}
	calls := make(chan call, 4)
	c.sendCommit = func(ctx context.Context, offsets map[string]map[int32]kgo.EpochOffset) error {
		calls <- call{offsets, ctx.Err()}
		return ctx.Err()
	}

	// A dead-letter transaction holds commitMu for three CommitTimeouts.
	c.commitMu.Lock()
	revoked := make(chan struct{})
	go func() {
		defer close(revoked)
		c.onRevoked(context.Background(), c.cl, map[string][]int32{key.topic: {key.partition}})
	}()
	<-time.After(3 * commitTimeout) // the transaction's length, not a wait for a condition
	c.commitMu.Unlock()
	<-revoked

	select {
	case got := <-calls:
		if got.ctxErr != nil {
			t.Fatalf("the revoke's commit was sent with its time already spent waiting for the transaction: %v", got.ctxErr)
		}
		if eo := got.offsets[key.topic][key.partition]; eo.Offset != 1 {
			t.Fatalf("revoke committed %v, want offset 1", got.offsets)
		}
	default:
		t.Fatal("the revoke sent no commit")
	}
}
