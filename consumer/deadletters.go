package consumer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/kafkaconn"
)

// Exactly-once dead letters ([DLQExactlyOnce]).
//
// A record the Handler sends to the DLQ does not write its dead letter at
// once: it leaves its lane (the records of its key go on) and waits in its
// partition's unfinished list, marked with its failure. It is "dead
// pending": unfinished, so no commit passes it, and counted in the budgets,
// since the consumer still holds it. When it reaches the head of its
// partition's list (every record before it finished), the dead-letter loop
// writes it, with every dead-pending record right behind it, in one Kafka
// transaction that also commits the partition's offset past them, for the
// group, with this member's generation. Only when that transaction
// committed are the records finished.
//
// Why at the head: a transaction can only commit a partition's watermark,
// the offset before which everything is finished. A dead letter written
// above the watermark would be committed by a later, separate commit, and a
// member killed in between would leave a dead letter whose record the next
// owner judges again and writes again: the duplicate this mode exists to
// prevent. Waiting costs little: the watermark reaches a record as soon as
// the records before it are published, except behind a record stuck in
// retries, whose partition's commit is held anyway.
//
// Failures: a transaction that fails (a broker down, the generation moved
// on in a rebalance, a zombie member fenced) is aborted; its dead letters
// are never visible to readers of committed records, its offsets are not
// committed, and the records stay dead pending, tried again with backoff
// while their partition is owned. A transaction whose end goes unanswered
// may have committed all the same: the group's committed offsets, once
// stable, say whether it did, so that its dead letters are not written a
// second time. A dead letter too large for the DLQ topic
// is written again without its value (as [DLQAtLeastOnce] does). A
// producer fenced by another process with the same transactional id is
// replaced by a new one, which fences the other in turn; the transactional
// id carries the host name and process id, so this only happens when two
// processes share both.
//
// Records of a partition's log that a data loss replaced (see the package
// documentation) have no offset left to commit: their dead letters are
// written in the next transaction without offsets.

// dlqTxnTimeout is the transaction timeout of the dead-letter producer: how
// long the brokers let a transaction of a member that died stay open
// before aborting it. While it is open, readers of committed DLQ records
// wait at it, and the next owner of its source partitions waits to read
// their committed offsets (stable offsets, KIP-447); a process restarted
// with the same transactional id aborts it at once. The transactions
// themselves last a few round trips.
const dlqTxnTimeout = 10 * time.Second

// TransactionalIDPrefix returns the prefix of the transactional ids that
// the consumer of group uses for exactly-once dead letters: a cluster with
// ACLs must allow WRITE and DESCRIBE on TransactionalId resources with this
// prefix.
func TransactionalIDPrefix(group string) string { return group + "-dlq-" }

// transactionalID is the id of this process's dead-letter producer: unique
// per host and process, and the same for a process restarted in the same
// container (same host name, same pid 1), so that its new producer aborts
// the transaction the old one left open.
func transactionalID(group string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return TransactionalIDPrefix(group) + host + "-" + strconv.Itoa(os.Getpid())
}

// producerOpts keeps of opts the options that are not the consumer's or the
// group's: the connection (brokers, TLS, SASL, client id) and the
// producer's.
func producerOpts(opts []kgo.Opt) []kgo.Opt {
	var out []kgo.Opt
	for _, o := range opts {
		if _, ok := o.(kgo.ConsumerOpt); ok {
			continue
		}
		if _, ok := o.(kgo.GroupOpt); ok {
			continue
		}
		out = append(out, o)
	}
	return out
}

// txnWriter is the transactional producer of exactly-once dead letters.
type txnWriter struct {
	id    string
	group string
	opts  []kgo.Opt
	cl    *kgo.Client // replaced after a fence
	// endTimeout bounds the end of a transaction (EndTxn), apart from
	// the rest of it: dlqTxnTimeout.
	endTimeout time.Duration
	// life is what the steps that outlive a transaction's own deadline
	// (its end, the check of an unanswered end, the abort) derive from:
	// cut (by Run, when its final commit's time is up) and no sooner, so
	// that a shutdown neither cuts a transaction's end short (written
	// again, its dead letters would be there twice) nor waits past its
	// budget.
	life context.Context
	cut  context.CancelFunc
	// seq and token tell this writer's transactions apart: token is the
	// metadata of the open transaction's offsets (see committedAnyway).
	seq   uint64
	token string
}

// outer is what the steps that outlive a transaction's own deadline derive
// from (see life).
func (w *txnWriter) outer(context.Context) context.Context { return w.life }

func newTxnWriter(group string, opts []kgo.Opt) (*txnWriter, error) {
	w := &txnWriter{id: transactionalID(group), group: group, endTimeout: dlqTxnTimeout}
	w.life, w.cut = context.WithCancel(context.Background())
	w.opts = append(producerOpts(opts),
		kgo.TransactionalID(w.id),
		kgo.TransactionTimeout(dlqTxnTimeout),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)
	w.opts = append(w.opts, kafkaconn.Transactional()...) // no stalls between back-to-back transactions
	cl, err := kgo.NewClient(w.opts...)
	if err != nil {
		return nil, err
	}
	w.cl = cl
	return w, nil
}

// deadItem is one dead-pending record bound for a transaction.
type deadItem struct {
	it  *item
	out *kgo.Record
}

// deadBatch is what one transaction writes: the dead letters, and the
// offsets it commits (the partitions whose head run it finishes).
type deadBatch struct {
	items   []deadItem
	offsets map[*partition]kgo.EpochOffset // taken under c.mu
}

// signalDead wakes the dead-letter loop. c.mu need not be held.
func (c *Consumer) signalDead() {
	select {
	case c.deadCh <- struct{}{}:
	default:
	}
}

// deadLetterLoop writes dead-pending records as they reach the head of
// their partitions, until ctx ends.
//
// One transaction carries the dead letters of every partition, except the
// partitions "written apart": those whose own dead letters failed to be
// written (their DLQ topic missing or refused, a DLQ partition without a
// leader, a record too large even without its value). Those are tried in a
// transaction of their own, with backoff, until it goes through, so that
// one dead letter that cannot be written holds its own partition's commit,
// not every partition's. A transaction that fails as a whole (a broker or
// the coordinator unreachable, a fence) is retried with backoff.
func (c *Consumer) deadLetterLoop(ctx context.Context) {
	attempt := 0
	var apart deadApart
	defer func() { c.apartLeft = apart }() // for the shutdown's last dead letters
	for {
		var retry *time.Timer
		var due <-chan time.Time
		if len(apart.parts) > 0 {
			retry = time.NewTimer(time.Until(apart.at))
			due = retry.C
		}
		select {
		case <-ctx.Done():
		case <-c.deadCh:
		case <-due:
		}
		if retry != nil {
			retry.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		for ctx.Err() == nil {
			n, failing, err := c.writeDeadLetters(ctx, apart.without)
			if err == nil {
				attempt = 0
				if n == 0 {
					break
				}
				if len(apart.parts) > 0 && !time.Now().Before(apart.at) {
					c.signalDead() // the others go on right after the apart try
					break
				}
				continue
			}
			if ctx.Err() != nil {
				return
			}
			c.stats.dlqFailures.Add(1)
			if len(failing) > 0 {
				// failing holds none of apart's partitions (the batch
				// left them out), so apart grows and this ends.
				apart.add(failing, c.cfg)
				c.log.Warn("dead letters of these partitions could not be written; they are written apart, with backoff, and the other partitions' go on",
					"partitions", formatTPs(failing), "retry_in", time.Until(apart.at).Round(time.Millisecond), "err", err)
				continue
			}
			wait := backoff(c.cfg.RetryBackoff, c.cfg.RetryBackoffMax, attempt)
			attempt++
			c.log.Warn("dead-letter transaction failed; the records stay unfinished and are written again",
				"records", n, "attempt", attempt, "retry_in", wait, "err", err)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if len(apart.parts) == 0 || time.Now().Before(apart.at) {
			continue
		}
		n, failing, err := c.writeDeadLetters(ctx, apart.only)
		switch {
		case err == nil:
			if n > 0 {
				c.log.Info("dead letters written apart went through; their partitions are written with the others again",
					"partitions", formatTPs(apart.parts), "records", n)
			}
			apart = deadApart{}
		case ctx.Err() != nil:
			return
		default:
			c.stats.dlqFailures.Add(1)
			released := apart.retry(failing, c.cfg)
			c.log.Warn("dead letters written apart failed again; the records stay unfinished and are written again",
				"partitions", formatTPs(apart.parts), "records", n, "attempt", apart.attempt, "retry_in", time.Until(apart.at).Round(time.Millisecond), "err", err)
			if released {
				c.signalDead() // the partitions that did not fail go with the others again
			}
		}
	}
}

// deadApart is the set of partitions whose dead letters are written apart
// (see deadLetterLoop), and when to try them again.
type deadApart struct {
	parts   map[tp]bool
	attempt int
	at      time.Time
}

// without selects the partitions not written apart; only those written
// apart.
func (a *deadApart) without(k tp) bool { return !a.parts[k] }
func (a *deadApart) only(k tp) bool    { return a.parts[k] }

// add sets failing apart, tried again after the first backoff unless a try
// is due sooner.
func (a *deadApart) add(failing map[tp]bool, cfg Config) {
	if a.parts == nil {
		a.parts = map[tp]bool{}
		a.at = time.Now().Add(backoff(cfg.RetryBackoff, cfg.RetryBackoffMax, 0))
	}
	for k := range failing {
		a.parts[k] = true
	}
}

// retry schedules the next try after a failed one. When the failure names
// its partitions, the others go back with the rest; it reports whether any
// did.
func (a *deadApart) retry(failing map[tp]bool, cfg Config) (released bool) {
	if len(failing) > 0 {
		for k := range a.parts {
			if !failing[k] {
				delete(a.parts, k)
				released = true
			}
		}
	}
	a.attempt++
	a.at = time.Now().Add(backoff(cfg.RetryBackoff, cfg.RetryBackoffMax, a.attempt))
	return released
}

// formatTPs writes partitions as "orders[0,1] payments[3]".
func formatTPs(parts map[tp]bool) string {
	m := map[string][]int32{}
	for k := range parts {
		m[k.topic] = append(m[k.topic], k.partition)
	}
	return formatPartitions(m)
}

// collectDeadLocked takes, for every owned partition selected by sel (all
// when nil), the run of dead-pending records at the head of its unfinished
// list, and every dead-pending record of the states a data loss replaced.
// It marks them taken. c.mu is held.
func (c *Consumer) collectDeadLocked(sel func(tp) bool) deadBatch {
	b := deadBatch{offsets: map[*partition]kgo.EpochOffset{}}
	take := func(it *item) {
		it.inTxn = true
		b.items = append(b.items, deadItem{it: it, out: dlq.NewRecord(it.rec, c.cfg.DLQTopic(it.rec.Topic), it.dead, time.Now())})
		if it.omitValue {
			dlq.OmitValue(b.items[len(b.items)-1].out, len(it.rec.Value))
		}
	}
	for key, p := range c.parts {
		if sel != nil && !sel(key) {
			continue
		}
		// While a record of a log a data loss replaced holds the commit
		// below this state's records (heldBelow), their dead letters wait:
		// written now, their offsets could not be committed with them, and
		// a crash would have them written twice. Its finish wakes the loop.
		if !p.revoked && p.heldBelow() < 0 {
			var last *item
			for it := p.head; it != nil && it.dead != nil && !it.inTxn; it = it.next {
				take(it)
				last = it
			}
			if last != nil {
				wm := p.next
				if last.next != nil {
					wm = last.next.rec.Offset
				}
				b.offsets[p] = kgo.EpochOffset{Epoch: p.epoch, Offset: wm}
			}
		}
		for q := p.prev; q != nil; q = q.prev {
			for it := q.head; it != nil; it = it.next {
				if it.dead != nil && !it.inTxn && it.wait != waitAbandoned {
					take(it)
				}
			}
		}
	}
	return b
}

// writeDeadLetters writes, in one transaction, the dead-pending records
// that reached the head of their partitions (selected by sel; all when
// nil), with the commit of the offsets past them. n is how many it tried;
// when it failed, failing are the partitions whose own dead letters the
// brokers refused (none when the transaction failed as a whole).
func (c *Consumer) writeDeadLetters(ctx context.Context, sel func(tp) bool) (n int, failing map[tp]bool, err error) {
	c.commitMu.Lock() // a commit computed before this one must not land after it
	defer c.commitMu.Unlock()
	c.mu.Lock()
	b := c.collectDeadLocked(sel)
	c.mu.Unlock()
	if len(b.items) == 0 {
		return 0, nil, nil
	}
	began := time.Now()
	wctx, cancel := context.WithTimeout(ctx, c.cfg.DLQWriteTimeout)
	defer cancel()
	err = c.dlqTxn.write(wctx, c, b)
	if err != nil && c.markTooLarge(b) {
		// Written again at once, without the values that did not fit.
		c.mu.Lock()
		for _, d := range b.items {
			d.it.inTxn = false
		}
		b = c.collectDeadLocked(sel)
		c.mu.Unlock()
		err = c.dlqTxn.write(wctx, c, b)
	}
	c.mu.Lock()
	if err != nil {
		for _, d := range b.items {
			d.it.inTxn = false
			if d.it.produceErr != nil {
				if failing == nil {
					failing = map[tp]bool{}
				}
				failing[d.it.part.tp] = true
			}
		}
		c.mu.Unlock()
		return len(b.items), failing, err
	}
	for p, eo := range b.offsets {
		if p.current && eo.Offset > p.committed {
			p.committed = eo.Offset
		}
	}
	type written struct {
		rec   kgo.Record
		f     *dlq.Failure
		topic string
	}
	done := make([]written, len(b.items))
	var touched []*partition
	for i, d := range b.items {
		done[i] = written{d.it.copy, d.it.dead, d.out.Topic}
		if len(touched) == 0 || touched[len(touched)-1] != d.it.part {
			touched = append(touched, d.it.part)
		}
		c.finishDeadLocked(d.it)
	}
	changed := c.throttleTouchedLocked(touched) // their dead-pending counts fell
	c.mu.Unlock()
	if changed {
		c.reconcilePauses()
	}
	c.stats.commits.Add(1)
	c.log.Debug("dead-letter transaction committed", "records", len(b.items), "partitions", len(b.offsets), "took", time.Since(began))
	for i := range done {
		rec, f := &done[i].rec, done[i].f
		c.log.Info("record dead-lettered", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset,
			"dlq_topic", done[i].topic, "class", f.Class, "reason", f.Reason, "correlation_id", f.CorrelationID)
		if c.obsDLQ != nil {
			c.obsDLQ.DeadLettered(rec, f)
		}
	}
	return len(b.items), nil, nil
}

// markTooLarge marks the records whose dead letters the DLQ topic refused
// as too large, to be written without their values, and reports whether it
// marked any.
func (c *Consumer) markTooLarge(b deadBatch) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	marked := false
	for _, d := range b.items {
		if d.it.produceErr != nil && errors.Is(d.it.produceErr, kerr.MessageTooLarge) && !d.it.omitValue {
			d.it.omitValue = true
			marked = true
			c.log.Warn("record too large for the dead-letter topic: parking it without its value",
				"topic", d.it.rec.Topic, "partition", d.it.rec.Partition, "offset", d.it.rec.Offset,
				"correlation_id", d.it.dead.CorrelationID, "value_bytes", len(d.it.rec.Value), "dlq_topic", d.out.Topic)
		}
	}
	return marked
}

// finishDeadLocked finishes a dead-pending record whose dead letter was
// committed. A record whose partition was dropped meanwhile has left the
// budgets already. c.mu is held.
func (c *Consumer) finishDeadLocked(it *item) {
	if it.wait == waitAbandoned {
		it.part.unlink(it)
		it.rec, it.copy = nil, kgo.Record{}
		c.cond.Broadcast()
		return
	}
	c.finishLocked(it, true)
}

// write runs one transaction: the dead letters of b, then the commit of
// b's offsets for the group, then the commit of the transaction. On any
// failure it aborts.
func (w *txnWriter) write(ctx context.Context, c *Consumer, b deadBatch) error {
	w.seq++
	w.token = fmt.Sprintf("dlq %s %d %d", w.id, time.Now().UnixNano(), w.seq)
	for _, d := range b.items {
		d.it.produceErr = nil // not a failure of an earlier attempt
	}
	if err := w.cl.BeginTransaction(); err != nil {
		return w.failed(ctx, c, fmt.Errorf("%w: %w", errBegin, err))
	}
	recs := make([]*kgo.Record, len(b.items))
	byRecord := make(map[*kgo.Record]*item, len(b.items))
	for i, d := range b.items {
		d.it.produceErr = nil
		recs[i] = d.out
		byRecord[d.out] = d.it
	}
	results := w.cl.ProduceSync(ctx, recs...) // in the order they completed
	var produceErr error
	for _, r := range results {
		if r.Err != nil {
			if it := byRecord[r.Record]; it != nil {
				it.produceErr = r.Err
			}
			if produceErr == nil {
				produceErr = fmt.Errorf("write to dead-letter topic %s: %w", r.Record.Topic, r.Err)
			}
		}
	}
	if produceErr != nil {
		return w.abort(ctx, c, produceErr)
	}
	if len(b.offsets) > 0 {
		if err := w.commitOffsets(ctx, c, b.offsets); err != nil {
			return w.abort(ctx, c, err)
		}
		// A member fenced out of its group (a zombie) that rejoined while
		// this transaction was under way commits with its new epoch, which
		// the coordinator accepts for any partition (KIP-848 checks no
		// ownership): its stale watermark would move the group back. Its
		// partitions were dropped when it learned of the fence (onLost), so
		// a partition no longer owned here aborts the transaction.
		if p := c.droppedOf(b.offsets); p != nil {
			return w.abort(ctx, c, fmt.Errorf("partition %s[%d] lost or revoked during the transaction", p.topic, p.partition))
		}
	}
	// The end has a timeout of its own: a slow produce must not leave it
	// too little time to be answered.
	ectx, cancel := context.WithTimeout(w.outer(ctx), w.endTimeout)
	err := w.cl.EndTransaction(ectx, kgo.TryCommit)
	cancel()
	if err != nil {
		// Unanswered is not refused: the coordinator may have committed
		// it. Written again, its dead letters would be in the DLQ twice.
		notSent := errors.Is(err, kerr.OperationNotAttempted) || errors.Is(err, kerr.TransactionAbortable)
		if !notSent && w.committedAnyway(ctx, c, b) {
			c.log.Warn("the dead-letter transaction's commit went unanswered, but the group's offsets show it committed; starting a new producer",
				"records", len(b.items), "err", err)
			w.replace()
			return nil
		}
		return w.abort(ctx, c, fmt.Errorf("commit transaction: %w", err))
	}
	return nil
}

// committedAnyway reports whether a transaction whose commit went
// unanswered committed after all: once no transactional offset commit of
// the group is pending for b's partitions (KIP-447's require-stable
// fetch), the group's committed offsets are those of b, and carry the
// metadata that this transaction (and no other commit) gave them
// (w.token). Without offsets, and when the brokers cannot say within
// CommitTimeout, it reports false: the dead letters are written again, at
// worst twice, never lost. (The offsets alone are not proof: after a data
// loss, or while a record of the replaced log holds the commit, the group
// may be at or past them before this transaction.)
//
// The fetch names b's partitions. A fetch of all the group's offsets
// lists only partitions with a committed offset, and a broker checks
// those alone for a pending commit: a partition whose first commit is
// this transaction's was missing from the answer while the commit was
// still being written, and the transaction was taken for aborted.
func (w *txnWriter) committedAnyway(ctx context.Context, c *Consumer, b deadBatch) bool {
	if len(b.offsets) == 0 {
		return false
	}
	fctx, cancel := context.WithTimeout(w.outer(ctx), c.cfg.CommitTimeout)
	defer cancel()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = w.group
	req.RequireStable = true
	byTopic := map[string]int{}
	for p := range b.offsets {
		i, ok := byTopic[p.topic]
		if !ok {
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic = p.topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			byTopic[p.topic] = i
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p.partition)
	}
	for {
		committed, known := w.stableOffsets(fctx, c, req)
		if known {
			for p, eo := range b.offsets {
				o, ok := committed[tp{p.topic, p.partition}]
				if !ok || o.Offset != eo.Offset || o.Metadata == nil || *o.Metadata != w.token {
					return false
				}
			}
			return true
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-fctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// stableOffsets sends req (a require-stable fetch of named partitions) and
// returns the committed offsets it answers. known is false while a
// partition's commit is pending (UNSTABLE_OFFSET_COMMIT) or the fetch
// failed, and the caller asks again; a partition the brokers answer with
// another error is left out (not proof of a commit).
func (w *txnWriter) stableOffsets(ctx context.Context, c *Consumer, req *kmsg.OffsetFetchRequest) (committed map[tp]kmsg.OffsetFetchResponseGroupTopicPartition, known bool) {
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil || len(resp.Groups) != 1 {
		return nil, false
	}
	g := resp.Groups[0]
	if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
		return nil, !errors.Is(err, kerr.UnstableOffsetCommit)
	}
	committed = map[tp]kmsg.OffsetFetchResponseGroupTopicPartition{}
	for _, t := range g.Topics {
		for _, p := range t.Partitions {
			switch err := kerr.ErrorForCode(p.ErrorCode); {
			case errors.Is(err, kerr.UnstableOffsetCommit):
				return nil, false
			case err == nil:
				committed[tp{t.Topic, p.Partition}] = p
			}
		}
	}
	return committed, true
}

// commitOffsets adds the group's offsets to the open transaction
// (AddOffsetsToTxn, then TxnOffsetCommit with the consumer's member id and
// generation: a member fenced out of the group is refused here).
func (w *txnWriter) commitOffsets(ctx context.Context, c *Consumer, offsets map[*partition]kgo.EpochOffset) error {
	id, epoch, err := w.cl.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("producer id: %w", err)
	}
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID = w.id
	add.ProducerID, add.ProducerEpoch = id, epoch
	add.Group = w.group
	err = retryConcurrent(ctx, func() error {
		addResp, err := add.RequestWith(ctx, w.cl)
		if err == nil {
			err = kerr.ErrorForCode(addResp.ErrorCode)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("add offsets to transaction: %w", err)
	}
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID = w.id
	req.Group = w.group
	req.ProducerID, req.ProducerEpoch = id, epoch
	req.MemberID, req.Generation = c.cl.GroupMetadata()
	if c.cfg.InstanceID != "" {
		inst := c.cfg.InstanceID
		req.InstanceID = &inst
	}
	ids := c.topicIDsFor(offsets)
	byTopic := map[string]int{}
	for p, eo := range offsets {
		i, ok := byTopic[p.topic]
		if !ok {
			t := kmsg.NewTxnOffsetCommitRequestTopic()
			t.Topic, t.TopicID = p.topic, ids[p.topic]
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[p.topic] = i
		}
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p.partition, eo.Offset, eo.Epoch
		tok := w.token
		rp.Metadata = &tok
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	var resp *kmsg.TxnOffsetCommitResponse
	err = retryConcurrent(ctx, func() error {
		var err error
		if resp, err = req.RequestWith(ctx, w.cl); err != nil {
			return err
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); errors.Is(e, kerr.ConcurrentTransactions) {
					return e
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit offsets in transaction: %w", err)
	}
	for _, t := range resp.Topics {
		name := t.Topic
		for _, rt := range req.Topics {
			if name == "" && rt.TopicID == t.TopicID {
				name = rt.Topic // v6 names topics by id
			}
		}
		for _, p := range t.Partitions {
			if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
				return fmt.Errorf("commit %s[%d] in transaction: %w", name, p.Partition, e)
			}
		}
	}
	return nil
}

// retryConcurrent calls fn until it returns anything but
// CONCURRENT_TRANSACTIONS, which a coordinator answers while it still
// writes the markers of this producer's previous transaction: a matter of
// milliseconds, so the waits start at 5 ms (as the client's own requests
// of a transaction do).
func retryConcurrent(ctx context.Context, fn func() error) error {
	wait := 5 * time.Millisecond
	for {
		err := fn()
		if !errors.Is(err, kerr.ConcurrentTransactions) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// abort ends the open transaction with an abort and returns cause.
func (w *txnWriter) abort(ctx context.Context, c *Consumer, cause error) error {
	actx, cancel := context.WithTimeout(w.outer(ctx), dlqTxnTimeout)
	defer cancel()
	if err := w.cl.AbortBufferedRecords(actx); err == nil {
		if err := w.cl.EndTransaction(actx, kgo.TryAbort); err != nil {
			return w.failed(ctx, c, fmt.Errorf("%w (and the abort failed: %w)", cause, err))
		}
	}
	return w.failed(ctx, c, cause)
}

// errBegin marks a transaction that could not begin: the client's
// producer id is in a state it does not recover from on its own (its
// InitProducerID was refused, say for want of an ACL since granted).
var errBegin = errors.New("begin transaction")

// failed replaces a producer that cannot go on, and returns err: one that
// another one fenced (the same transactional id elsewhere), one refused
// the use of its transactional id, and one whose transaction could not
// begin. A client keeps a refused InitProducerID as a fatal state of its
// producer id, so without a new client one refusal (the ACL granted a
// minute later) stopped every dead letter, and with them the commits of
// their partitions, until a restart. The dead-letter loop's backoff paces
// the new clients.
func (w *txnWriter) failed(_ context.Context, c *Consumer, err error) error {
	switch {
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		c.log.Error("the brokers refuse this bridge the use of transactional ids, which exactly-once dead letters need:"+
			" allow WRITE and DESCRIBE on TransactionalId resources with the prefix, or set dlq.delivery: at_least_once",
			"prefix", TransactionalIDPrefix(w.group), "err", err)
	case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch):
		c.log.Error("the dead-letter producer was fenced by another one with the same transactional id; starting a new one",
			"transactional_id", w.id, "err", err)
	case errors.Is(err, errBegin):
		c.log.Error("the dead-letter producer cannot begin a transaction; starting a new one", "transactional_id", w.id, "err", err)
	default:
		return err
	}
	if nerr := w.replace(); nerr != nil {
		return fmt.Errorf("%w (and a new producer: %w)", err, nerr)
	}
	return err
}

// replace closes the producer and starts a new one with the same
// transactional id, which fences whatever the old one left open.
func (w *txnWriter) replace() error {
	cl, err := kgo.NewClient(w.opts...)
	if err != nil {
		return err
	}
	old := w.cl
	w.cl = cl
	old.Close()
	return nil
}

// droppedOf returns a partition of offsets whose state is no longer the
// owned one (lost, revoked, or assigned anew), nil if none.
func (c *Consumer) droppedOf(offsets map[*partition]kgo.EpochOffset) *partition {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := range offsets {
		if !p.current || p.revoked {
			return p
		}
	}
	return nil
}

// topicIDsFor returns the topic ids (learned from fetches) of the topics
// of offsets; TxnOffsetCommit v6 names topics by id.
func (c *Consumer) topicIDsFor(offsets map[*partition]kgo.EpochOffset) map[string][16]byte {
	c.hwmMu.Lock()
	defer c.hwmMu.Unlock()
	out := make(map[string][16]byte, len(offsets))
	for p := range offsets {
		out[p.topic] = c.topicIDs[p.topic]
	}
	return out
}

// close closes the producer.
func (w *txnWriter) close() {
	w.cut()
	w.cl.Close()
}

// CheckTransactions asks the brokers cl reaches whether this bridge may use
// the transactional ids of exactly-once dead letters for group: it
// initialises a producer id for the id TransactionalIDPrefix(group)+"check",
// which no producer uses. An error says why not (no right to the id, or
// brokers without transactions), in words an operator can act on.
func CheckTransactions(ctx context.Context, cl *kgo.Client, group string) error {
	req := kmsg.NewPtrInitProducerIDRequest()
	id := TransactionalIDPrefix(group) + "check"
	req.TransactionalID = &id
	req.TransactionTimeoutMillis = int32(dlqTxnTimeout / time.Millisecond)
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return fmt.Errorf("not allowed to use transactional id %s: allow WRITE and DESCRIBE on TransactionalId resources with the prefix %s, or set dlq.delivery: at_least_once",
			id, TransactionalIDPrefix(group))
	default:
		return fmt.Errorf("cannot start a transactional producer (transactional id %s): %w", id, err)
	}
}
