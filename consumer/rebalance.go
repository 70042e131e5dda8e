package consumer

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// onAssigned starts the state of each newly assigned partition and applies
// the pauses (a topic assigned while Pause is in force is paused before it
// is fetched).
func (c *Consumer) onAssigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
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
	closing := c.closing
	if !closing {
		c.bg.Add(1) // under mu: Run waits for bg only after setting closing
	}
	c.mu.Unlock()
	c.reconcilePauses()
	c.stats.rebalances.Add(1)
	wasIn := c.inGroup.Swap(true)
	if since := c.stoppedSince.Swap(0); since != 0 && c.obsReb != nil && !closing {
		c.obsReb.Rebalanced(time.Duration(time.Now().UnixNano() - since))
	}
	if len(assigned) == 0 {
		// The second step of a cooperative rebalance, or nothing for
		// this member: said only when it owns nothing after a (re)join.
		if !closing {
			c.bg.Done() // nothing to look up
		}
		if !wasIn && c.Stats().Partitions == 0 {
			c.log.Info("group joined; no partitions assigned to this member (more members than partitions?)")
		}
		return
	}
	if closing {
		c.log.Info("partitions assigned", "partitions", formatPartitions(assigned))
		return
	}
	go func() {
		defer c.bg.Done()
		c.logAssigned(cl, assigned)
	}()
}

// logAssigned says which partitions the group gave this member and where
// each starts: at the group's committed offset, or at the start offset
// (earliest or latest) for a partition the group has never committed. An
// operator reads in it whether a run continues a group's work (a trial run
// pointed at a shared cluster would continue the production group's) or
// starts afresh.
//
// The committed offsets are asked of the group's coordinator in the
// background, so that the rebalance does not wait for them. They are the
// offsets the client fetches as it starts the partitions: this member
// commits nothing of a partition before its first records finish, and the
// previous owner committed before giving the partition up. A fetch that
// fails leaves the positions out of the line, not the line.
func (c *Consumer) logAssigned(cl *kgo.Client, assigned map[string][]int32) {
	ctx, cancel := context.WithTimeout(c.base, 10*time.Second)
	defer cancel()
	topics := make([]string, 0, len(assigned))
	for t := range assigned {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	group, _ := cl.OptValue(kgo.ConsumerGroup).(string)
	resp, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		if c.base.Err() == nil {
			c.log.Info("partitions assigned", "group", group, "partitions", assigned, "start_positions_err", err.Error())
		}
		return
	}
	var b strings.Builder
	committed, fresh := 0, 0
	for _, t := range topics {
		ps := slices.Clone(assigned[t])
		slices.Sort(ps)
		for _, p := range ps {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			if o, ok := resp.Lookup(t, p); ok && o.At >= 0 {
				fmt.Fprintf(&b, "%s[%d]@%d", t, p, o.At)
				committed++
			} else {
				fmt.Fprintf(&b, "%s[%d]@%s", t, p, c.cfg.StartOffset)
				fresh++
			}
		}
	}
	c.log.Info("partitions assigned", "group", group, "committed", committed, "without_commit", fresh,
		"start_offset", string(c.cfg.StartOffset), "starts", b.String())
	if group == DefaultGroupID && c.defaultGroupWarned.CompareAndSwap(false, true) {
		c.warnDefaultGroup(ctx, cl, group)
	}
}

// warnDefaultGroup warns, once a process, when this member joined the
// default group and found other members in it. A trial run pointed at a
// shared cluster with the default group would otherwise take part of the
// partitions of the deployment that owns the group, and commit in it,
// without a word. Committed offsets alone do not warn: a bridge restarted
// finds its own.
func (c *Consumer) warnDefaultGroup(ctx context.Context, cl *kgo.Client, group string) {
	self, _ := cl.GroupMetadata()
	others := 0
	adm := kadm.NewClient(cl)
	if c.cfg.GroupProtocol == ProtocolConsumer {
		// A KIP-848 group is described with its own request.
		if described, err := adm.DescribeConsumerGroups(ctx, group); err == nil {
			if g, ok := described[group]; ok && g.Err == nil {
				for _, m := range g.Members {
					if m.MemberID != self {
						others++
					}
				}
			}
		}
	} else if described, err := adm.DescribeGroups(ctx, group); err == nil {
		if g, ok := described[group]; ok && g.Err == nil {
			for _, m := range g.Members {
				if m.MemberID != self {
					others++
				}
			}
		}
	}
	if others == 0 {
		return
	}
	c.log.Warn("joined the default consumer group, which is already in use on this cluster: this process shares its partitions and commits in it;"+
		" if it is not part of the deployment that owns the group, stop it and set kafka.group_id to a group of its own",
		"group", group, "other_members", others)
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
		c.stoppedSince.CompareAndSwap(0, time.Now().UnixNano())
		if !c.waitIdle(func(p *partition) bool { return sel[p.tp] }, c.cfg.RevokeDrainTimeout) {
			c.log.Warn("revoke drain timeout: abandoning unfinished records of revoked partitions", "timeout", c.cfg.RevokeDrainTimeout)
		}
	}
	err := c.commit(ctx, c.cfg.CommitTimeout, sel)
	if err != nil {
		c.log.Error("commit on revoke failed; the next owner may redeliver finished records", "err", err)
	}
	c.drop(sel)
	c.log.Info("partitions revoked", "partitions", formatPartitions(revoked))
}

// onLost forgets lost partitions without committing: another member may
// own them already.
func (c *Consumer) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.inGroup.Store(false)
	c.stoppedSince.CompareAndSwap(0, time.Now().UnixNano())
	c.drop(partitionSet(lost))
	if len(partitionSet(lost)) == 0 {
		c.log.Warn("group membership lost; rejoining")
		return
	}
	c.log.Warn("group membership lost; rejoining; nothing committed for the partitions it owned", "partitions", formatPartitions(lost))
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
		// Dead-pending records (exactly-once dead letters) are in no lane:
		// no worker passes them over. They leave the budgets here, and
		// nothing writes them any more (the next owner judges them again).
		for it := p.head; it != nil; it = it.next {
			if it.dead != nil && it.wait != waitAbandoned {
				c.abandonItemLocked(it)
			}
		}
	}
}

// formatPartitions writes a callback's topic → partitions map as
// "orders[0,1,2] payments[3]", topics and partitions sorted.
func formatPartitions(m map[string][]int32) string {
	topics := make([]string, 0, len(m))
	for t, ps := range m {
		if len(ps) > 0 {
			topics = append(topics, t)
		}
	}
	slices.Sort(topics)
	var b strings.Builder
	for i, t := range topics {
		if i > 0 {
			b.WriteByte(' ')
		}
		ps := slices.Clone(m[t])
		slices.Sort(ps)
		b.WriteString(t)
		b.WriteByte('[')
		for j, p := range ps {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(int(p)))
		}
		b.WriteByte(']')
	}
	return b.String()
}

// InGroup reports whether this member is in its consumer group now: the
// group assigned it partitions (or none, when there are more members than
// partitions) and the membership has not been lost since (a session that
// expired, brokers that cannot be reached, a member fenced).
func (c *Consumer) InGroup() bool { return c.inGroup.Load() }

// NextGenSupported reports whether the brokers cl reaches serve the KIP-848
// consumer group protocol ([ProtocolConsumer]) in the version the client
// uses (ConsumerGroupHeartbeat v1, Kafka 4.0+). Without it a consumer
// configured for it falls back to the classic protocol with the eager
// sticky balancer.
func NextGenSupported(ctx context.Context, cl *kgo.Client) (bool, error) {
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName = "cxone-bridge"
	req.ClientSoftwareVersion = "0"
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return false, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return false, err
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == int16(kmsg.ConsumerGroupHeartbeat) {
			return k.MaxVersion >= 1, nil
		}
	}
	return false, nil
}
