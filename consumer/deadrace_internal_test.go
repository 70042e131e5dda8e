package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/poll"
)

// A record judged for the DLQ (exactly once) whose partition is lost right
// after process saw it current, and before the worker files it as dead
// pending, must not keep its place in the budgets: nothing collects or
// abandons a dead-pending record of a dropped partition. The window is a
// few instructions wide, so the test runs many rounds.
func TestDeadPendingOfDroppedPartitionLeavesBudgets(t *testing.T) {
	judged := make(chan struct{})
	c, _ := newInternalConsumer(t, "g-deadrace", []string{"orders.dlq"}, Config{DLQDelivery: DLQExactlyOnce, MaxInFlight: 1, MaxBuffered: 4},
		HandlerFunc(func(context.Context, *kgo.Record) (Outcome, error) {
			judged <- struct{}{}
			return Outcome{DLQ: &dlq.Failure{Class: dlq.ClassInvalid, Reason: "test"}}, nil
		}))
	// A partition of a topic the group does not consume: the group's own
	// assignment of "orders" (callbacks on the client's goroutines) never
	// touches its state.
	key := tp{"judged", 0}
	deadline := time.Now().Add(5 * time.Second)
	rounds := 0
	for ; time.Now().Before(deadline); rounds++ {
		c.mu.Lock()
		p := c.newPartitionLocked(key)
		c.dispatchLocked(&kgo.Record{Topic: "judged", Partition: 0, Offset: 0, Key: []byte("k"), Value: []byte("v")}, time.Now())
		c.mu.Unlock()
		<-judged
		for i := 0; i < rounds%200; i++ { // sweep the window
		}
		c.drop(map[tp]bool{key: true})
		poll.Until(t, 10*time.Second, "the record settled", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.active == 0 && len(c.lanes) == 0
		})
		c.mu.Lock()
		inflight, bytes := c.inflight, c.bytes
		revoked, dead, headWait := p.revoked, p.dead, waitKind(255)
		if p.head != nil {
			headWait = p.head.wait
		}
		c.mu.Unlock()
		if inflight != 0 || bytes != 0 {
			t.Fatalf("round %d: partition dropped (revoked=%v), nothing owned, but %d records (%d bytes) still count against the budgets; "+
				"its dead count is %d, its head waits as %d (waitDead=%d): a dead-pending record of a dropped partition that nothing will write or abandon",
				rounds, revoked, inflight, bytes, dead, headWait, waitDead)
		}
	}
	t.Logf("%d rounds without a leak", rounds)
}
