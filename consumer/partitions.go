package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// partition is the state of one assignment of one partition.
//
// It keeps the records handed out and not finished, in offset order, as a
// doubly linked list through the items: a record is unlinked the moment it
// finishes, wherever it is in the list, so a finished record behind a stuck
// one costs nothing. The watermark (what to commit) is the first record of
// the list, or next when the list is empty.
type partition struct {
	tp
	gen     uint64 // unique per assignment
	revoked bool
	current bool // c.parts holds it: it is this partition's state now
	ctx     context.Context
	cancel  context.CancelFunc
	prev    *partition // the state this one replaced after a data loss, if any
	// resetTo is where the log was cut when this state replaced prev: the
	// offset the client reset to. prev's records below it are records of
	// the log still (only the offsets from resetTo on were lost).
	resetTo int64
	head    *item // lowest unfinished record
	tail    *item
	// unfinished counts the list. Abandoned records stay in it (they hold
	// the watermark) but no longer count against the budgets.
	unfinished int
	next       int64 // offset after the last record handed out (or marker seen); -1 before the first
	epoch      int32 // leader epoch of that record
	committed  int64 // last committed offset; -1 if none this assignment
	active     int   // its records being handled now
	// second counts its records right behind a lane's first record that
	// is being handled normally, queued those further behind; blocked
	// those behind a lane whose first record has failed and is being
	// retried (see throttle.go).
	second  int
	queued  int
	blocked int
	// dead counts its dead-pending records (exactly-once dead letters):
	// judged, and waiting for the transaction that writes them.
	dead int
	// The reasons to pause its fetching (throttle.go), and what was last
	// asked of the client for it.
	fair, stuck, ahead bool
}

// watermark is the offset to commit: the lowest unfinished offset, or the
// one after the last dispatched record when all are finished.
func (p *partition) watermark() int64 {
	if p.head != nil {
		return p.head.rec.Offset
	}
	return p.next
}

// heldBelow is the lowest offset that a record unfinished in a state a
// data loss replaced still holds, or -1 when none does: such a record
// below the offset where its log was cut is a record of the current log,
// and a commit must not pass it before it finishes (a crash would skip
// it); one at or above the cut was replaced by the new log's record at its
// offset. The lists are in offset order, so each state's head is enough.
func (p *partition) heldBelow() int64 {
	held := int64(-1)
	cut := p.resetTo
	for q := p.prev; q != nil; q = q.prev {
		if h := q.head; h != nil && h.rec.Offset < cut && (held < 0 || h.rec.Offset < held) {
			held = h.rec.Offset
		}
		if q.prev != nil {
			cut = min(cut, q.resetTo)
		}
	}
	return held
}

// commitPoint is the offset a commit may move the group to: the
// watermark, held lower by heldBelow.
func (p *partition) commitPoint() int64 {
	wm := p.watermark()
	if h := p.heldBelow(); h >= 0 && (wm < 0 || h < wm) {
		return h
	}
	return wm
}

// push appends it (the highest offset so far) to the unfinished list.
func (p *partition) push(it *item) {
	it.prev = p.tail
	if p.tail != nil {
		p.tail.next = it
	} else {
		p.head = it
	}
	p.tail = it
	p.unfinished++
}

// unlink removes it from the unfinished list.
func (p *partition) unlink(it *item) {
	if it.prev != nil {
		it.prev.next = it.next
	} else {
		p.head = it.next
	}
	if it.next != nil {
		it.next.prev = it.prev
	} else {
		p.tail = it.prev
	}
	it.prev, it.next = nil, nil
	p.unfinished--
}

// newPartitionLocked starts the state of a new assignment of key. c.mu is
// held.
func (c *Consumer) newPartitionLocked(key tp) *partition {
	c.nextGen++
	ctx, cancel := context.WithCancel(c.base)
	p := &partition{tp: key, gen: c.nextGen, ctx: ctx, cancel: cancel, next: -1, committed: -1, current: true}
	if old := c.parts[key]; old != nil {
		old.current = false
	}
	c.parts[key] = p
	return p
}

// waitIdle waits until no partition selected by sel has an unfinished
// record (handled, or waiting for its lane or a worker), or timeout passes.
// It reports whether they drained. Once the consumer is shutting down it
// waits only for the records being handled: the others are left for the
// next run (abandoned, or dead pending behind one that is) and never
// finish in this one; a dead-pending record at the head is still written
// (with its commit) by the dead-letter loop, so it is waited for too.
func (c *Consumer) waitIdle(sel func(*partition) bool, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		busy := false
		for _, p := range c.parts {
			if !sel(p) {
				continue
			}
			for q := p; q != nil && !busy; q = q.prev { // and the states a data loss replaced
				busy = q.unfinished > 0 && (!c.closing || q.active > 0 || q.head.writable())
			}
			if busy {
				break
			}
		}
		if !busy {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		c.cond.Wait()
	}
}

// commitLoop commits watermarks every CommitInterval.
func (c *Consumer) commitLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := c.commit(ctx, c.cfg.CommitTimeout, nil)
			if err != nil && ctx.Err() == nil {
				c.log.Warn("periodic commit failed; will retry", "err", err)
			}
		}
	}
}

// mark is a watermark a commit sends for a partition.
type mark struct {
	p  *partition
	wm int64
}

// commit commits the watermark of every partition selected by only (all
// when nil) that moved since its last commit. timeout, when not 0, bounds
// the commit from the moment it holds commitMu: waiting for a dead-letter
// transaction under way (up to DLQWriteTimeout and its end) must not spend
// the commit's own time, or a revoke's commit behind a slow transaction
// failed before it was sent and the next owner redelivered the partition's
// finished records. (The final commit passes 0: its budget, ctx, is the
// shutdown's, waits included.)
func (c *Consumer) commit(ctx context.Context, timeout time.Duration, only map[tp]bool) error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	offsets := map[string]map[int32]kgo.EpochOffset{}
	var marks []mark
	c.mu.Lock()
	for key, p := range c.parts {
		if only != nil && !only[key] {
			continue
		}
		wm := p.commitPoint()
		if wm < 0 || wm <= p.committed {
			continue // nothing new; never back within one assignment
		}
		if offsets[key.topic] == nil {
			offsets[key.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[key.topic][key.partition] = kgo.EpochOffset{Epoch: p.epoch, Offset: wm}
		marks = append(marks, mark{p, wm})
	}
	c.mu.Unlock()
	if len(offsets) == 0 {
		return nil
	}
	var firstErr error
	for attempt := 1; ; attempt++ {
		firstErr = c.sendCommit(ctx, offsets)
		// KIP-848: the member epoch moved on (a heartbeat reconciled a
		// new assignment, or the member was fenced and joined again) while
		// the commit was under way. The client sends the next commit with
		// the new epoch, and the partitions still owned accept it. Once is
		// enough: the epoch does not move twice so fast.
		if attempt == 2 || !errors.Is(firstErr, kerr.StaleMemberEpoch) || ctx.Err() != nil {
			break
		}
		// Only the partitions still owned are sent again. One dropped
		// meanwhile (lost in a fence) may be another member's by now, and
		// the coordinator checks the member epoch, not who owns the
		// partition: its old watermark would move the group back.
		offsets, marks = c.stillOwned(marks)
		if len(marks) == 0 {
			return nil
		}
		c.log.Debug("commit refused with a stale member epoch; sending it again", "err", firstErr)
	}
	if firstErr != nil {
		c.stats.commitFailures.Add(1)
		return firstErr
	}
	c.mu.Lock()
	for _, m := range marks {
		if m.wm > m.p.committed {
			m.p.committed = m.wm
		}
	}
	c.mu.Unlock()
	c.stats.commits.Add(1)
	return nil
}

// stillOwned keeps of marks the partitions still owned, with the offsets to
// commit for them.
func (c *Consumer) stillOwned(marks []mark) (map[string]map[int32]kgo.EpochOffset, []mark) {
	c.mu.Lock()
	defer c.mu.Unlock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	kept := marks[:0]
	for _, m := range marks {
		p := m.p
		if !p.current || p.revoked || c.parts[p.tp] != p {
			continue
		}
		if offsets[p.tp.topic] == nil {
			offsets[p.tp.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[p.tp.topic][p.tp.partition] = kgo.EpochOffset{Epoch: p.epoch, Offset: m.wm}
		kept = append(kept, m)
	}
	return offsets, kept
}

// commitOnce sends one commit of offsets and returns the first error: the
// request's, or the first partition's error code.
func (c *Consumer) commitOnce(ctx context.Context, offsets map[string]map[int32]kgo.EpochOffset) error {
	var firstErr error
	c.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			firstErr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && firstErr == nil {
					firstErr = fmt.Errorf("commit %s[%d]: %w", t.Topic, p.Partition, e)
				}
			}
		}
	})
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// PartitionLag is the client-side lag of one owned partition.
type PartitionLag struct {
	Topic     string
	Partition int32
	// Lag is the last seen high watermark minus the committed offset (or,
	// before the first commit of this assignment, the next offset to
	// finish).
	Lag int64
}

// Lag returns the client-side lag of every owned partition whose high
// watermark the consumer has seen in a fetch.
func (c *Consumer) Lag() []PartitionLag {
	c.hwmMu.Lock()
	hwm := make(map[tp]int64, len(c.hwm))
	for k, v := range c.hwm {
		hwm[k] = v
	}
	c.hwmMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []PartitionLag
	for key, p := range c.parts {
		h, ok := hwm[key]
		if !ok {
			continue
		}
		at := p.committed
		if at < 0 {
			at = p.commitPoint()
		}
		if at < 0 {
			continue
		}
		out = append(out, PartitionLag{Topic: key.topic, Partition: key.partition, Lag: max(0, h-at)})
	}
	return out
}

// PartitionState is a snapshot of one owned partition.
type PartitionState struct {
	Topic     string
	Partition int32
	// Watermark is the offset the next commit would write: the lowest
	// unfinished record's, or Next when none is unfinished; -1 before the
	// first record.
	Watermark int64
	// Next is the offset after the last record handed out; -1 before the
	// first.
	Next int64
	// Committed is the last offset committed under this assignment, -1 if
	// none.
	Committed int64
	// Unfinished counts the records handed out and not finished.
	Unfinished int
	// OldestUnfinished is how long ago the lowest unfinished record was
	// handed out: how long the partition's commit has been held by it. 0
	// when none is unfinished.
	OldestUnfinished time.Duration
	// Queued and Blocked count the records waiting behind a busy lane and
	// behind a failing one.
	Queued, Blocked int
	// Throttled tells that its fetching is paused by a budget (fair share,
	// blocked records, records ahead), apart from Pause.
	Throttled bool
}

// Partitions returns a snapshot of every owned partition.
func (c *Consumer) Partitions() []PartitionState {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]PartitionState, 0, len(c.parts))
	for key, p := range c.parts {
		s := PartitionState{Topic: key.topic, Partition: key.partition, Watermark: p.commitPoint(), Next: p.next,
			Committed: p.committed, Unfinished: p.unfinished, Queued: p.second + p.queued, Blocked: p.blocked, Throttled: p.throttled()}
		if p.head != nil {
			s.OldestUnfinished = now.Sub(p.head.at)
		}
		out = append(out, s)
	}
	return out
}
