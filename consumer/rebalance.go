package consumer

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// onAssigned starts the state of each newly assigned partition and applies
// the pauses (a topic assigned while Pause is in force is paused before it
// is fetched).
func (c *Consumer) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	c.mu.Lock()
	for topic, ps := range assigned {
		for _, p := range ps {
			key := tp{topic, p}
			if old := c.parts[key]; old != nil {
				c.revokeLocked(old)
			}
			c.newPartitionLocked(key)
		}
	}
	c.rethrottleLocked() // the share changed
	c.mu.Unlock()
	c.reconcilePauses()
	c.stats.rebalances.Add(1)
	c.log.Info("partitions assigned", "partitions", assigned)
}

// partitionSet turns a callback's topic → partitions map into a set.
func partitionSet(m map[string][]int32) map[tp]bool {
	sel := map[tp]bool{}
	for topic, ps := range m {
		for _, p := range ps {
			sel[tp{topic, p}] = true
		}
	}
	return sel
}

// onRevoked lets the revoked partitions' records finish (bounded by
// RevokeDrainTimeout; not while shutting down, when the drain already
// happened), commits their watermarks and forgets them.
func (c *Consumer) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	sel := partitionSet(revoked)
	if len(sel) == 0 {
		return
	}
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if !closing {
		if !c.waitIdle(func(p *partition) bool { return sel[p.tp] }, c.cfg.RevokeDrainTimeout) {
			c.log.Warn("revoke drain timeout: abandoning unfinished records of revoked partitions", "timeout", c.cfg.RevokeDrainTimeout)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CommitTimeout)
	err := c.commit(cctx, sel)
	cancel()
	if err != nil {
		c.log.Error("commit on revoke failed; the next owner may redeliver finished records", "err", err)
	}
	c.drop(sel)
	c.log.Info("partitions revoked", "partitions", revoked)
}

// onLost forgets lost partitions without committing: another member may
// own them already.
func (c *Consumer) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.drop(partitionSet(lost))
	c.log.Warn("partitions lost; nothing committed for them", "partitions", lost)
}

// drop forgets partitions: their records not started are abandoned, the
// ones being handled are cancelled, and their completions are ignored from
// now on. Their partition pauses are lifted (kgo keeps a partition's pause
// across assignments).
func (c *Consumer) drop(sel map[tp]bool) {
	c.mu.Lock()
	for key := range sel {
		if p := c.parts[key]; p != nil {
			c.revokeLocked(p)
			p.current = false
			delete(c.parts, key)
		}
	}
	c.rethrottleLocked() // the share changed
	c.cond.Broadcast()
	c.mu.Unlock()
	c.reconcilePauses()
}

// revokeLocked ends an assignment's state, and those it replaced after a
// data loss. c.mu is held.
func (c *Consumer) revokeLocked(p *partition) {
	for ; p != nil; p = p.prev {
		p.revoked = true
		p.cancel()
	}
}
