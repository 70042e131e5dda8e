package consumer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
)

// item is one record handed out and not finished.
type item struct {
	copy       kgo.Record  // the record, copied out of the fetch (detach)
	rec        *kgo.Record // &copy until the record finishes, then nil
	part       *partition
	at         time.Time // when it was handed out
	size       int64     // what it counts against MaxInFlightBytes
	prev, next *item     // the partition's unfinished list
	wait       waitKind  // which of its partition's counters it is in
	// dead is the failure of a dead-pending record: handled, bound for
	// the DLQ, waiting to reach the head of its partition (exactly-once
	// dead letters, deadletters.go). inTxn tells that a transaction is
	// writing it; omitValue that its value did not fit in the DLQ topic;
	// produceErr is what its last write returned.
	dead       *dlq.Failure
	inTxn      bool
	omitValue  bool
	produceErr error
}

// waitKind says why a record that has not started waits.
type waitKind uint8

const (
	notWaiting    waitKind = iota // first of its lane (running, or waiting for a worker)
	waitSecond                    // right behind a first record that is handled normally
	waitQueued                    // further behind such a record
	waitBlocked                   // behind a lane whose first record keeps failing
	waitDead                      // judged, its dead letter waiting for a transaction (exactly once)
	waitAbandoned                 // left for the next run or owner; counts nowhere
)

// setWait moves it to the counter of w. c.mu is held.
func (it *item) setWait(w waitKind) {
	p := it.part
	switch it.wait {
	case waitSecond:
		p.second--
	case waitQueued:
		p.queued--
	case waitBlocked:
		p.blocked--
	case waitDead:
		p.dead--
	}
	switch w {
	case waitSecond:
		p.second++
	case waitQueued:
		p.queued++
	case waitBlocked:
		p.blocked++
	case waitDead:
		p.dead++
	}
	it.wait = w
}

type laneKey struct {
	tp
	key string
	seq uint64 // OrderingNone: a unique lane per record
}

// lane is the records of one key (or partition, or record: see Ordering)
// handed out and not finished, in offset order. The first is running or
// waiting for a worker; the others wait for it.
type lane struct {
	key     laneKey
	queue   []*item
	one     [1]*item // queue's first backing array
	failing bool     // its first record failed and is being retried
}

// waitKindAt is how the record at index i of l's queue waits, once its
// lane's first record (at 0 while it is handled) is not running: index 0
// then waits for a worker only, and counts like the second.
func (l *lane) waitKindAt(i int) waitKind {
	switch {
	case l.failing:
		return waitBlocked
	case i <= 1:
		return waitSecond
	default:
		return waitQueued
	}
}

// advanced re-files the record that became second when l's first record
// left its queue: it was queued further behind. It reports its partition
// if a counter changed. c.mu is held.
func (l *lane) advanced() *partition {
	if len(l.queue) < 2 || l.queue[1].wait != waitQueued {
		return nil
	}
	it := l.queue[1]
	it.setWait(waitSecond)
	return it.part
}

// setFailing marks whether l's first record is failing, moving the records
// waiting behind it between their partitions' queued and blocked counters.
// It reports the partitions whose counters changed. c.mu is held.
func (l *lane) setFailing(failing bool) []*partition {
	if l.failing == failing {
		return nil
	}
	l.failing = failing
	var touched []*partition
	for i, it := range l.queue {
		if it.wait != waitSecond && it.wait != waitQueued && it.wait != waitBlocked {
			continue // the first record, or one left for the next run
		}
		it.setWait(l.waitKindAt(i))
		if len(touched) == 0 || touched[len(touched)-1] != it.part {
			touched = append(touched, it.part)
		}
	}
	return touched
}

// worker handles records until the consumer stops. Workers are started on
// demand, when a lane becomes ready and no worker is idle, up to
// MaxInFlight, so at most MaxInFlight records are handled at once. A worker
// takes the lane at the head of ready, handles that lane's first record and,
// while the lane has more, puts it back at the tail: records of one lane run
// one after another, lanes take turns in the order they became ready, and
// a finished record wakes no goroutine but the worker that ran it.
//
// (An earlier design ran a goroutine per lane, each waiting on c.cond for a
// free slot: every finished record woke every waiting lane, up to
// MaxBuffered − MaxInFlight goroutines, and each new goroutine grew its
// stack anew inside net/http. Long-lived workers do neither.)
func (c *Consumer) worker() {
	defer c.workers.Done()
	c.mu.Lock()
	for {
		for len(c.ready) == 0 && !c.stopWorkers {
			c.idle++
			c.workCond.Wait()
			c.idle--
		}
		if len(c.ready) == 0 {
			c.mu.Unlock()
			return // stopping, and nothing left to skip
		}
		l := c.ready[0]
		c.ready[0] = nil
		c.ready = c.ready[1:]
		// Records that must not start (their partition was dropped, or the
		// consumer is shutting down) are passed over in one go, so their
		// budget is released now rather than one turn at a time. They stay
		// unfinished: no commit passes them.
		var buf [4]*partition
		touched := buf[:0]
		for len(l.queue) > 0 && c.abandonLocked(l.queue[0]) {
			it := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			c.abandonItemLocked(it)
			touched = append(touched, it.part)
			if p := l.advanced(); p != nil {
				touched = append(touched, p)
			}
		}
		if len(l.queue) == 0 {
			delete(c.lanes, l.key)
			if c.throttleTouchedLocked(touched) {
				c.mu.Unlock()
				c.reconcilePauses()
				c.mu.Lock()
			}
			continue
		}
		it := l.queue[0]
		it.setWait(notWaiting)
		touched = append(touched, it.part)
		c.active++
		it.part.active++
		changed := c.throttleTouchedLocked(touched)

		c.mu.Unlock()
		if changed {
			c.reconcilePauses()
		}
		finished, dead, pending := c.process(l, it)
		c.mu.Lock()

		c.active--
		it.part.active--
		l.queue[0] = nil
		l.queue = l.queue[1:]
		touched = append(touched[:0], it.part)
		touched = append(touched, l.setFailing(false)...)
		if p := l.advanced(); p != nil {
			touched = append(touched, p)
		}
		switch {
		case pending != nil && it.part.revoked:
			// Its partition was dropped after process saw it current:
			// revokeLocked has passed over the dead-pending records
			// already, and nothing collects a dropped partition's. As a
			// dead-pending record it would hold its place in the budgets
			// for ever (enough of them stop the poll loop); abandoned, it
			// leaves them, and the next owner judges it again.
			c.abandonItemLocked(it)
		case pending != nil:
			c.deadPendingLocked(it, pending)
		case finished:
			c.finishLocked(it, dead)
		default:
			c.abandonItemLocked(it)
		}
		if len(l.queue) == 0 {
			delete(c.lanes, l.key)
		} else {
			c.ready = append(c.ready, l) // this worker takes the next head at once if it is alone
		}
		if c.throttleTouchedLocked(touched) {
			c.mu.Unlock()
			c.reconcilePauses()
			c.mu.Lock()
		}
	}
}

// abandonLocked reports whether a record that has not started must not
// start: its partition was dropped, or the consumer is shutting down. c.mu
// is held.
func (c *Consumer) abandonLocked(it *item) bool {
	return it.part.revoked || c.closing || c.base.Err() != nil
}

// abandonItemLocked gives up on it for this run: it leaves the budgets but
// stays in its partition's unfinished list, holding the watermark (a later
// record of the same partition that finishes must not let a commit pass
// it). c.mu is held.
func (c *Consumer) abandonItemLocked(it *item) {
	it.setWait(waitAbandoned)
	c.inflight--
	c.bytes -= it.size
	c.cond.Broadcast()
}

// writable reports whether it is a dead-pending record the dead-letter loop
// will write: judged, and not left for the next owner. c.mu is held.
func (it *item) writable() bool {
	return it != nil && it.dead != nil && it.wait != waitAbandoned
}

// deadPendingLocked makes it dead pending (exactly-once dead letters): it
// stays in its partition's unfinished list, and in the budgets, until the
// dead-letter loop writes it. The caller has counted it out of the records
// being handled (c.active). c.mu is held.
func (c *Consumer) deadPendingLocked(it *item, f *dlq.Failure) {
	it.setWait(waitDead)
	it.dead = f
	if it.part.head == it {
		c.signalDead()
	}
	// It is no longer being handled: a shutdown waiting for the records
	// being handled (waitActive) must see it, even when nothing finishes
	// after it (behind a record left for the next run, it is not written).
	c.cond.Broadcast()
}

// finishLocked records that it reached a final outcome (dead: the DLQ). It
// leaves its partition's unfinished list at once, wherever it is, and
// nothing keeps its record. c.mu is held.
func (c *Consumer) finishLocked(it *item, dead bool) {
	it.setWait(notWaiting)
	c.inflight--
	c.bytes -= it.size
	p := it.part
	p.unlink(it)
	if c.dlqTxn != nil && (!p.current || p.head != nil && p.head.dead != nil) {
		// A dead-pending record reached the head, or a record of a log a
		// data loss replaced finished, which may let the current state's
		// dead letters go (collectDeadLocked).
		c.signalDead()
	}
	if p.current { // still this assignment: it counts
		if c.cfg.Observer != nil {
			c.cfg.Observer.Finished(it.rec, dead)
		}
		c.stats.finished.Add(1)
		if dead {
			c.stats.dlq.Add(1)
		}
	}
	it.rec, it.copy = nil, kgo.Record{} // the item may outlive it in its lane's queue slot for a moment
	c.cond.Broadcast()
}

// process drives one record to a final outcome, retrying the Handler and
// the DLQ write with backoff. finished is false only when the record was
// abandoned (its partition revoked or lost, or shutdown); dead tells that
// it went to the DLQ. With exactly-once dead letters, a record of a
// partition's current log bound for the DLQ is not written here: pending is
// its failure, and the dead-letter loop writes it (deadletters.go). After
// its first failure its lane counts as failing (the records behind it as
// blocked) until it finishes.
func (c *Consumer) process(l *lane, it *item) (finished, dead bool, pending *dlq.Failure) {
	ctx := it.part.ctx
	rec := it.rec
	var out Outcome
	handled := false
	for attempt := 0; ; attempt++ {
		var err error
		if !handled {
			out, err = c.handler.Handle(ctx, rec)
			handled = err == nil
		}
		if handled && out.DLQ == nil {
			return true, false, nil
		}
		if handled && c.dlqTxn != nil && c.currentLog(it) {
			return false, false, out.DLQ
		}
		if handled {
			if err = c.writeDLQ(ctx, rec, out.DLQ); err == nil {
				return true, true, nil
			}
		}
		if ctx.Err() != nil {
			return false, false, nil
		}
		select {
		case <-c.closingCh:
			return false, false, nil // shutting down: no retry; left, uncommitted, for the next run
		default:
		}
		if attempt == 0 {
			c.mu.Lock()
			changed := c.throttleTouchedLocked(l.setFailing(true))
			c.mu.Unlock()
			if changed {
				c.reconcilePauses()
			}
		}
		c.stats.retries.Add(1)
		if c.obsRetry != nil {
			c.obsRetry.Retrying(rec, err, handled)
		}
		wait := backoff(c.cfg.RetryBackoff, c.cfg.RetryBackoffMax, attempt)
		c.log.Warn("record not finished; retrying", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset,
			"correlation_id", correlationID(err, out.DLQ), "attempt", attempt+1, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, false, nil
		case <-c.closingCh:
			t.Stop()
			return false, false, nil
		case <-t.C:
		}
	}
}

// currentLog reports whether it belongs to its partition's current state:
// not to a log that a data loss replaced, whose offsets no transaction can
// commit any more.
func (c *Consumer) currentLog(it *item) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return it.part.current
}

func (c *Consumer) writeDLQ(ctx context.Context, rec *kgo.Record, f *dlq.Failure) error {
	topic := c.cfg.DLQTopic(rec.Topic)
	out := dlq.NewRecord(rec, topic, f, time.Now())
	wctx, cancel := context.WithTimeout(ctx, c.cfg.DLQWriteTimeout)
	defer cancel()
	err := c.cl.ProduceSync(wctx, out).FirstErr()
	if errors.Is(err, kerr.MessageTooLarge) {
		// The record is bigger than the DLQ topic (or the producer) takes.
		// Retrying would stall the partition forever; park it without its
		// value instead. The envelope keeps the original size, and the value
		// stays readable at its source offset until retention removes it.
		c.log.Warn("record too large for the dead-letter topic: parking it without its value",
			"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "correlation_id", f.CorrelationID,
			"value_bytes", len(rec.Value), "dlq_topic", topic)
		dlq.OmitValue(out, len(rec.Value))
		err = c.cl.ProduceSync(wctx, out).FirstErr()
	}
	if err != nil {
		c.stats.dlqFailures.Add(1)
		return fmt.Errorf("write to dead-letter topic %s: %w", topic, err)
	}
	c.log.Info("record dead-lettered", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset,
		"dlq_topic", topic, "class", f.Class, "reason", f.Reason, "correlation_id", f.CorrelationID)
	if c.obsDLQ != nil {
		c.obsDLQ.DeadLettered(rec, f)
	}
	return nil
}

// backoff returns an exponential wait with full jitter.
func backoff(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

// correlationID finds the correlation id of a record that is not finished:
// from its DLQ failure, or from the Handler's error if that carries one
// (an error with a CorrelationID() string method, see CorrelatedError).
func correlationID(err error, f *dlq.Failure) string {
	if f != nil && f.CorrelationID != "" {
		return f.CorrelationID
	}
	var ce interface{ CorrelationID() string }
	if errors.As(err, &ce) {
		return ce.CorrelationID()
	}
	return ""
}

// CorrelatedError wraps a Handler error with the record's correlation id,
// so that the consumer's retry log line can carry it.
type CorrelatedError struct {
	Err error
	ID  string
}

func (e *CorrelatedError) Error() string         { return e.Err.Error() }
func (e *CorrelatedError) Unwrap() error         { return e.Err }
func (e *CorrelatedError) CorrelationID() string { return e.ID }
