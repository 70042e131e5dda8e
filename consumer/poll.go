package consumer

import (
	"context"
	"errors"
	"strconv"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
)

// pollLoop polls while there is room in flight and dispatches to lanes.
func (c *Consumer) pollLoop(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	defer c.setLoop(loopStopped)
	// Before the loop reports itself stopped: from now on no record starts
	// (see Run).
	defer c.startClosing()
	var errBackoff time.Duration
	var touched []*partition
	var lastFull time.Time
	for {
		c.setLoop(loopBusy)
		c.mu.Lock()
		if ctx.Err() == nil && c.fullLocked() {
			c.setLoop(loopWaiting)
		}
		for ctx.Err() == nil && c.fullLocked() {
			c.cond.Wait()
		}
		// At most a partition's share at a time: the client hands out its
		// buffered fetch partition by partition, and the throttles see a
		// poll's records only once they are dispatched. One poll of the
		// whole room filled the buffer with one partition's records, and
		// with exactly-once dead letters (which hold the buffer until a
		// transaction takes them) each transaction let one more partition
		// in: the last had its first commit after 40-66% of a run. Before
		// the first assignment the share is unknown: a poll then waits
		// for one record (the one that returns with the assignment would
		// otherwise fill the buffer from one partition). At least a 32nd of
		// the buffer, though: with more partitions than buffered records
		// the share is one, and a poll per record would pay the throttles'
		// pass over every partition per record.
		room := min(c.cfg.MaxBuffered-c.inflight, max(c.share(), c.cfg.MaxBuffered/32))
		if len(c.parts) == 0 {
			room = 1
		}
		c.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}

		c.setLoop(loopWaiting)
		fetches := c.cl.PollRecords(ctx, room)
		c.setLoop(loopBusy)
		c.noteHighWatermarks(fetches)
		if fetches.IsClientClosed() {
			return errors.New("consumer: client closed")
		}
		now := time.Now()
		c.mu.Lock()
		// Errors first: a data loss resets its partition before the records
		// that the client re-serves from the reset offset are dispatched.
		reset := false
		fetches.EachError(func(topic string, p int32, err error) {
			if c.fetchErrorLocked(topic, p, err) {
				reset = true
			}
		})
		errs, records := 0, 0
		fetches.EachError(func(string, int32, error) { errs++ })
		touched = touched[:0]
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			for _, rec := range fp.Records {
				records++
				c.dispatchLocked(rec, now)
			}
			if p := c.parts[tp{fp.Topic, fp.Partition}]; p != nil && len(fp.Records) > 0 {
				touched = append(touched, p)
			}
		})
		// The throttles of the partitions this poll fed; every partition's
		// at most every fullRethrottle (the others' counters move with
		// their records' progress, which re-evaluates them as it goes:
		// the full pass is a safety net). A pass over every partition per
		// poll cost O(partitions) per poll: with 2,048 partitions and
		// polls of 32 records, a third of the consumer's throughput.
		var changed bool
		if now.Sub(lastFull) >= fullRethrottle {
			changed = c.rethrottleLocked()
			lastFull = now
		} else {
			changed = c.throttleTouchedLocked(touched)
		}
		// A reset partition may have been throttled (paused in the client)
		// under its old state: reconcile even if no flag changed.
		changed = changed || reset
		c.mu.Unlock()
		if changed {
			c.reconcilePauses()
		}
		c.cl.AllowRebalance()
		// A poll of errors only (a topic deleted and created again, a
		// partition whose leader is gone) returns at once, and so would
		// the next: back off before polling again, 50ms doubling to 1s.
		if errs > 0 && records == 0 {
			errBackoff = min(max(2*errBackoff, 50*time.Millisecond), time.Second)
			t := time.NewTimer(errBackoff)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		} else {
			errBackoff = 0
		}
	}
}

// fullRethrottle is how often the poll loop re-evaluates the throttles of
// every partition, not only those a poll fed.
const fullRethrottle = 100 * time.Millisecond

// startClosing marks the consumer as shutting down: no record starts any
// more, none is retried, and the waits for records (a revoke's drain) wait
// only for the ones being handled, since the others are left for the next
// run and will not finish in this one.
func (c *Consumer) startClosing() {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		close(c.closingCh)
	}
	c.workCond.Broadcast()
	c.cond.Broadcast()
	c.mu.Unlock()
}

// fullLocked reports whether a budget is spent. c.mu is held.
func (c *Consumer) fullLocked() bool {
	return c.inflight >= c.cfg.MaxBuffered || c.bytes >= c.cfg.MaxInFlightBytes
}

// fetchErrorLocked handles one partition error of a poll and reports
// whether it started the partition afresh (a data loss). c.mu is held.
func (c *Consumer) fetchErrorLocked(topic string, partition int32, err error) (reset bool) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var dl *kgo.ErrDataLoss
	if !errors.As(err, &dl) {
		c.logFetchErrorLocked(topic, partition, err)
		return false
	}
	c.stats.dataLoss.Add(1)
	key := tp{topic, partition}
	p := c.parts[key]
	if p == nil || p.next < 0 || dl.ResetTo >= p.next {
		c.log.Error("kafka lost records of this partition: the client skipped forward", "topic", topic, "partition", partition,
			"consumed_to", dl.ConsumedTo, "reset_to", dl.ResetTo, "err", err)
		return false
	}
	// The log was truncated below what was handed out, and the client
	// fetches again from ResetTo: the records it serves there are new
	// records at reused offsets. Start the partition afresh, so that they
	// are dispatched (not dropped as already seen) and its commit follows
	// them (even back below what was committed: the new state's watermark
	// is ResetTo until its first record arrives, so a commit in between
	// does not leave the group past the reset point). The old state's
	// records still in flight are still handled; their completions no
	// longer move any watermark, but those below ResetTo (still in the
	// log: only ResetTo on was lost) hold the commit until they finish
	// (partition.heldBelow).
	c.log.Error("kafka lost records of this partition (log truncated): handling it again from the offset the client reset to",
		"topic", topic, "partition", partition, "consumed_to", dl.ConsumedTo, "reset_to", dl.ResetTo,
		"in_flight_of_old_log", p.unfinished, "err", err)
	np := c.newPartitionLocked(key)
	np.prev = p
	np.next, np.epoch, np.resetTo = dl.ResetTo, dl.ResetToEpoch, dl.ResetTo
	return true
}

// itemOverhead is what a held record costs besides its key, value and
// headers (the item, which holds the copied kgo.Record).
const itemOverhead = int64(unsafe.Sizeof(item{}))

// dispatchLocked hands rec to its lane. c.mu is held.
func (c *Consumer) dispatchLocked(rec *kgo.Record, now time.Time) {
	key := tp{rec.Topic, rec.Partition}
	p := c.parts[key]
	if p == nil {
		// Assigned before OnPartitionsAssigned ran for it; cannot happen
		// with blocked rebalances, but be safe.
		p = c.newPartitionLocked(key)
	}
	if p.next >= 0 && rec.Offset < p.next {
		// Already handed out under this assignment, and no data loss was
		// reported: the client never does this. Never silently.
		c.stats.skipped.Add(1)
		c.log.Error("record below the partition's position skipped: it was handed out already", "topic", rec.Topic,
			"partition", rec.Partition, "offset", rec.Offset, "next", p.next)
		return
	}
	p.next = rec.Offset + 1
	p.epoch = rec.LeaderEpoch
	if rec.Attrs.IsControl() {
		return // a transaction marker: nothing to handle, finished at once
	}
	it := &item{part: p, at: now}
	it.rec = detach(rec, &it.copy)
	it.size = itemOverhead + int64(len(rec.Key)+len(rec.Value))
	for _, h := range rec.Headers {
		it.size += int64(len(h.Key) + len(h.Value))
	}
	rec = it.rec
	p.push(it)
	c.inflight++
	c.bytes += it.size
	c.stats.consumed.Add(1)
	if c.obsDispatch != nil {
		c.obsDispatch.Dispatched(rec)
	}

	lk := laneKey{tp: key}
	switch c.cfg.Ordering {
	case OrderingKey:
		// A view of the record's copied key, not a copy: the copy is
		// never written to, and the lane (which lives no longer than its
		// records) keeps at most that one buffer alive a little longer.
		lk.key = unsafe.String(unsafe.SliceData(rec.Key), len(rec.Key))
	case OrderingNone:
		c.nextGen++
		lk.seq = c.nextGen
	}
	if l := c.lanes[lk]; l != nil {
		l.queue = append(l.queue, it)
		it.setWait(l.waitKindAt(len(l.queue) - 1))
		return
	}
	l := &lane{key: lk}
	l.one[0] = it
	l.queue = l.one[:1:1] // most lanes hold one record: no second allocation
	c.lanes[lk] = l
	c.ready = append(c.ready, l)
	if len(c.ready) > c.idle && c.nWorkers < c.cfg.MaxInFlight {
		c.nWorkers++
		c.workers.Add(1)
		go c.worker()
	}
	c.workCond.Signal()
}

// detach copies rec into out, out of franz-go's memory, and returns out. A
// polled record is one element of an array holding every record of its
// batch, and its key, value and headers point into the fetch response:
// holding it holds all of those. The copy holds only its own bytes, in one
// allocation (and its headers' slice).
func detach(rec *kgo.Record, out *kgo.Record) *kgo.Record {
	n := len(rec.Key) + len(rec.Value)
	for _, h := range rec.Headers {
		n += len(h.Value)
	}
	buf := make([]byte, 0, n)
	take := func(b []byte) []byte {
		if b == nil {
			return nil // a null key or value (a tombstone) stays null
		}
		start := len(buf)
		buf = append(buf, b...)
		return buf[start:len(buf):len(buf)]
	}
	*out = kgo.Record{
		Key:           take(rec.Key),
		Value:         take(rec.Value),
		Timestamp:     rec.Timestamp,
		Topic:         rec.Topic,
		Partition:     rec.Partition,
		Attrs:         rec.Attrs,
		ProducerEpoch: rec.ProducerEpoch,
		ProducerID:    rec.ProducerID,
		LeaderEpoch:   rec.LeaderEpoch,
		Offset:        rec.Offset,
		Context:       rec.Context,
	}
	if len(rec.Headers) > 0 {
		out.Headers = make([]kgo.RecordHeader, len(rec.Headers))
		for i, h := range rec.Headers {
			out.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: take(h.Value)}
		}
	}
	return out
}

// noteHighWatermarks remembers each fetched partition's high watermark.
func (c *Consumer) noteHighWatermarks(fetches kgo.Fetches) {
	c.hwmMu.Lock()
	defer c.hwmMu.Unlock()
	fetches.EachTopic(func(t kgo.FetchTopic) {
		if t.TopicID != ([16]byte{}) && c.topicIDs[t.Topic] != t.TopicID {
			c.topicIDs[t.Topic] = t.TopicID
		}
	})
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err == nil && p.HighWatermark >= 0 {
			c.hwm[tp{p.Topic, p.Partition}] = p.HighWatermark
		}
	})
}

// fetchErrorEvery is how often one fetch error (the same error of the same
// partition) is logged while it repeats.
const fetchErrorEvery = 10 * time.Second

// fetchErrorLog is what logFetchErrorLocked remembers of one error.
type fetchErrorLog struct {
	at       time.Time
	repeated int
}

// logFetchErrorLocked logs a fetch error, the same error of the same
// partition at most once every fetchErrorEvery with how often it repeated
// meanwhile: a partition whose fetch fails at once would otherwise fill the
// log (a topic deleted and created again fails every fetch with
// UNKNOWN_TOPIC_ID). c.mu is held.
func (c *Consumer) logFetchErrorLocked(topic string, partition int32, err error) {
	if c.fetchErrs == nil {
		c.fetchErrs = map[string]*fetchErrorLog{}
	}
	key := topic + "\x00" + strconv.Itoa(int(partition)) + "\x00" + err.Error()
	now := time.Now()
	e := c.fetchErrs[key]
	if e != nil && now.Sub(e.at) < fetchErrorEvery {
		e.repeated++
		return
	}
	if len(c.fetchErrs) > 10000 { // errors that never repeat: forget them all
		clear(c.fetchErrs)
	}
	repeated := 0
	if e != nil {
		repeated = e.repeated
	}
	c.fetchErrs[key] = &fetchErrorLog{at: now}
	if topic == "" {
		c.log.Error("fetch error", "err", err, "repeated", repeated)
		return
	}
	c.log.Error("fetch error", "topic", topic, "partition", partition, "err", err, "repeated", repeated)
}
