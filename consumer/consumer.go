// Package consumer is the bridge's Kafka side: a consumer-group member that
// fetches records, hands them to a Handler on a bounded, ordered worker
// pool, writes dead letters, and commits offsets only behind records that
// reached a final outcome (DESIGN §3).
//
// # Delivery semantics
//
// At least once, commit after outcome. A record is finished when the
// Handler returned a final outcome for it: done (published, or skipped), or
// dead-lettered, in which case the DLQ record has been acknowledged by all
// in-sync replicas (ProduceSync, acks=all, idempotent producer) before the
// record counts as finished. For each partition the consumer keeps the
// offsets it handed out in order and commits the lowest unfinished one (the
// watermark): franz-go's own marks do not check contiguity, so a finished
// record at offset 10 is never committed while offset 9 is still being
// retried.
//
// # Ordering
//
// Records are dispatched to lanes. With OrderingKey (the default) a lane is
// one Kafka key within one partition, so records with the same key are
// handled one at a time in offset order while different keys run in
// parallel; with OrderingPartition a lane is a partition; with OrderingNone
// every record is its own lane. A record whose Handler keeps failing blocks
// only its own lane (and holds back its partition's commit), never the
// others.
//
// # Backpressure
//
// At most MaxInFlight records are being handled at once (the publishes
// running against CXone), and at most MaxBuffered records and
// MaxInFlightBytes bytes are handed out and unfinished (running, or waiting
// for their lane or for a slot). When a budget is full the consumer stops
// polling, so franz-go stops fetching once its own bounded buffer is full:
// memory stays bounded however far behind the bridge is. The buffer lets
// the pool find records of other keys while some keys wait behind their
// own earlier records.
//
// # Rebalances
//
// The client blocks rebalances while a poll's records are being dispatched
// (kgo.BlockRebalanceOnPoll), so a dispatch never races a revoke. On revoke
// the consumer lets the revoked partitions' dispatched records finish for
// at most RevokeDrainTimeout (keep it well below the rebalance timeout),
// commits their watermarks synchronously, abandons what is left, and
// returns; abandoned records are redelivered to the next owner, with the
// same idempotency key. On loss (session expired, fenced) nothing is
// committed: another member may already own the partitions. Each
// assignment of a partition gets its own state, so completions arriving for
// a partition no longer owned, or owned again under a newer assignment, are
// ignored.
//
// # Pausing
//
// Pause stops fetching every consumed topic (the sink's circuit breaker
// calls it when CXone is down); Resume starts it again. franz-go keeps
// topic pauses across rebalances; the consumer also pauses topics first
// assigned while paused, so a rebalance during an outage cannot restart
// fetching behind the breaker's back.
//
// # Shutdown
//
// When Run's context is cancelled the consumer stops polling, lets
// dispatched records finish for at most DrainTimeout, abandons the rest,
// commits every watermark synchronously and leaves the group.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cxone-bridge/bridge/dlq"
)

// Handler decides the fate of one record.
//
// Handle returns a nil error when the record reached a final outcome: done
// (published, already ingested, or deliberately skipped), or, with
// Outcome.DLQ set, bound for the dead-letter topic. A non-nil error means
// "not final, try again later" (CXone down, rate limited, breaker open, ctx
// cancelled): the consumer retries the record with backoff, and its
// partition's commit stays behind it. Handle must honour ctx.
type Handler interface {
	Handle(ctx context.Context, rec *kgo.Record) (Outcome, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, rec *kgo.Record) (Outcome, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, rec *kgo.Record) (Outcome, error) {
	return f(ctx, rec)
}

// Outcome is a Handler's final verdict on a record.
type Outcome struct {
	// DLQ, when set, makes the consumer write the record to its dead-letter
	// topic; the record is finished once that write is acknowledged.
	DLQ *dlq.Failure
}

// Ordering says which records must be handled one after another.
type Ordering string

// Orderings.
const (
	OrderingKey       Ordering = "key"       // same key in a partition: in offset order
	OrderingPartition Ordering = "partition" // one record at a time per partition
	OrderingNone      Ordering = "none"      // no order
)

// Config configures a Consumer. Zero values take the documented defaults.
type Config struct {
	// Topics to consume. With Regex they are regular expressions.
	Topics []string
	Regex  bool

	Ordering         Ordering      // default OrderingKey
	MaxInFlight      int           // records handled at once; default 256
	MaxBuffered      int           // records handed out and unfinished; default 4 × MaxInFlight
	MaxInFlightBytes int64         // bytes of those; default 64 MiB
	CommitInterval   time.Duration // default 5s
	// RevokeDrainTimeout bounds the wait for revoked partitions' records;
	// default 10s. Keep it below the group's rebalance timeout.
	RevokeDrainTimeout time.Duration
	// DrainTimeout bounds the wait for dispatched records on shutdown;
	// default 20s.
	DrainTimeout time.Duration
	// RetryBackoff and RetryBackoffMax bound the exponential, fully
	// jittered wait between attempts at a record whose Handler failed or
	// whose DLQ write failed; defaults 500ms and 30s.
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration
	// DLQWriteTimeout bounds one DLQ write; default 30s.
	DLQWriteTimeout time.Duration

	// DLQTopic names the dead-letter topic of a source topic; required.
	DLQTopic func(source string) string

	Logger *slog.Logger
	// Observer, when set, is told about every finished record (for
	// metrics and progress). It must be quick and safe for concurrent use.
	Observer Observer
}

// Observer receives events of the consumer's life.
type Observer interface {
	// Finished is called when a record is finished; dlq tells whether it
	// went to the dead-letter topic.
	Finished(rec *kgo.Record, dlq bool)
}

// The Observer may also implement any of these optional interfaces; the
// consumer checks for them once, in New.

// DispatchObserver is told about every record handed out to a lane.
type DispatchObserver interface {
	Dispatched(rec *kgo.Record)
}

// RetryObserver is told before each retry of a record: err is why it is
// not finished; dlqWrite tells that the DLQ write failed (else the Handler
// returned err).
type RetryObserver interface {
	Retrying(rec *kgo.Record, err error, dlqWrite bool)
}

// DLQObserver is told about every acknowledged DLQ write.
type DLQObserver interface {
	DeadLettered(rec *kgo.Record, f *dlq.Failure)
}

func (c *Config) defaults() error {
	if len(c.Topics) == 0 {
		return errors.New("consumer: no topics")
	}
	if c.DLQTopic == nil {
		return errors.New("consumer: DLQTopic is required")
	}
	switch c.Ordering {
	case "":
		c.Ordering = OrderingKey
	case OrderingKey, OrderingPartition, OrderingNone:
	default:
		return fmt.Errorf("consumer: unknown ordering %q", c.Ordering)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 256
	}
	if c.MaxBuffered < c.MaxInFlight {
		c.MaxBuffered = 4 * c.MaxInFlight
	}
	if c.MaxInFlightBytes <= 0 {
		c.MaxInFlightBytes = 64 << 20
	}
	def(&c.CommitInterval, 5*time.Second)
	def(&c.RevokeDrainTimeout, 10*time.Second)
	def(&c.DrainTimeout, 20*time.Second)
	def(&c.RetryBackoff, 500*time.Millisecond)
	def(&c.RetryBackoffMax, 30*time.Second)
	def(&c.DLQWriteTimeout, 30*time.Second)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Consumer is one member of the bridge's consumer group. Create it with New
// and run it with Run; Pause, Resume and Stats are safe to call from any
// goroutine.
type Consumer struct {
	cfg     Config
	handler Handler
	cl      *kgo.Client
	log     *slog.Logger
	seed    maphash.Seed

	// base is cancelled to abandon all in-flight work at the end of Run.
	base       context.Context
	cancelBase context.CancelFunc

	mu       sync.Mutex
	cond     *sync.Cond // signalled when a record finishes or a partition changes
	workCond *sync.Cond // signalled when a lane joins ready, or workers must stop
	// ready holds the lanes whose first record waits for a worker, in the
	// order they became ready (see worker).
	ready       []*lane
	stopWorkers bool
	nWorkers    int // workers started (on demand, at most MaxInFlight)
	idle        int // workers waiting for a ready lane
	parts       map[tp]*partition
	lanes       map[laneKey]*lane
	inflight    int // dispatched, unfinished (running or waiting)
	active      int // being handled now; at most MaxInFlight
	bytes       int64
	paused      bool
	closing     bool
	nextGen     uint64
	workers     sync.WaitGroup // the workers (see worker)

	// pauseMu serialises partition pauses and resumes (reconcilePauses).
	pauseMu sync.Mutex

	// commitMu serialises commits, so a periodic commit computed before a
	// revoke can never land after the revoke's and move an offset back.
	commitMu sync.Mutex

	stats counters

	// Optional observers (see Observer).
	obsDispatch DispatchObserver
	obsRetry    RetryObserver
	obsDLQ      DLQObserver

	// Poll loop liveness (see Loop): loopState is loopStopped, loopWaiting
	// or loopBusy; loopSince is when it entered that state (UnixNano).
	loopState atomic.Int32
	loopSince atomic.Int64

	// hwm holds the high watermark last seen per partition (for lag).
	hwmMu sync.Mutex
	hwm   map[tp]int64
}

const (
	loopStopped int32 = iota
	loopWaiting
	loopBusy
)

func (c *Consumer) setLoop(state int32) {
	c.loopSince.Store(time.Now().UnixNano())
	c.loopState.Store(state)
}

// Loop reports the poll loop's state for a liveness probe: running is
// false before Run and once the poll loop ended; busy is how long the loop
// has been in its current step without waiting (0 while it waits for
// records from the brokers or for room in flight, which is not a stall).
func (c *Consumer) Loop() (running bool, busy time.Duration) {
	switch c.loopState.Load() {
	case loopStopped:
		return false, 0
	case loopWaiting:
		return true, 0
	}
	return true, time.Since(time.Unix(0, c.loopSince.Load()))
}

type tp struct {
	topic     string
	partition int32
}

// partition is the state of one assignment of one partition.
type partition struct {
	tp
	gen       uint64 // unique per assignment
	revoked   bool
	ctx       context.Context
	cancel    context.CancelFunc
	pending   []*item // dispatched, in offset order; finished ones are popped from the front
	next      int64   // offset after the last dispatched record; -1 before the first
	epoch     int32   // leader epoch of the last dispatched record
	committed int64   // last committed offset; -1 if none this assignment
	active    int     // its records being handled now
	queued    int     // dispatched records waiting behind another record of their lane
	throttled bool    // queued reached its share: fetching should be paused
	// fetchPaused is what was last asked of the client; reconcilePauses
	// brings it in line with throttled.
	fetchPaused bool
}

// watermark is the offset to commit: the lowest unfinished offset, or the
// one after the last dispatched record when all are finished.
func (p *partition) watermark() int64 {
	if len(p.pending) > 0 {
		return p.pending[0].rec.Offset
	}
	return p.next
}

type item struct {
	rec    *kgo.Record
	part   *partition
	size   int64
	done   bool
	queued bool // waiting behind another record of its lane
}

type laneKey struct {
	tp
	key string
	seq uint64 // OrderingNone: a unique lane per record
}

type lane struct {
	key   laneKey
	queue []*item
}

// New creates the consumer and its franz-go client. opts are the
// connection and group options (seed brokers, group id, TLS, SASL,
// timeouts, instance id ...); New adds the ones its semantics rest on:
// manual commits, blocked rebalances on poll, the cooperative-sticky
// balancer and its rebalance callbacks.
func New(cfg Config, h Handler, opts ...kgo.Opt) (*Consumer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	c := &Consumer{
		cfg:     cfg,
		handler: h,
		log:     cfg.Logger,
		seed:    maphash.MakeSeed(),
		parts:   map[tp]*partition{},
		lanes:   map[laneKey]*lane{},
	}
	c.cond = sync.NewCond(&c.mu)
	c.workCond = sync.NewCond(&c.mu)
	c.hwm = map[tp]int64{}
	c.obsDispatch, _ = cfg.Observer.(DispatchObserver)
	c.obsRetry, _ = cfg.Observer.(RetryObserver)
	c.obsDLQ, _ = cfg.Observer.(DLQObserver)
	c.base, c.cancelBase = context.WithCancel(context.Background())
	all := append([]kgo.Opt{
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
	}, opts...)
	all = append(all,
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(c.onAssigned),
		kgo.OnPartitionsRevoked(c.onRevoked),
		kgo.OnPartitionsLost(c.onLost),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Records of aborted transactions (a replay killed halfway, any
		// transactional producer upstream) must never reach CXone.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Transaction markers occupy offsets; seeing them lets the
		// watermark move past a marker at the end of a partition, so that
		// lag reaches 0 as it does for Kafka's own consumers.
		kgo.KeepControlRecords(),
	)
	if cfg.Regex {
		all = append(all, kgo.ConsumeRegex())
	}
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	c.cl = cl
	return c, nil
}

// Client returns the franz-go client, for metrics and admin requests. Do
// not poll, commit or close it.
func (c *Consumer) Client() *kgo.Client { return c.cl }

// Run consumes until ctx is cancelled, then drains, commits and leaves the
// group (see the package documentation). It returns nil after a clean
// shutdown and an error if the client failed fatally. Run may be called
// once.
func (c *Consumer) Run(ctx context.Context) error {
	commitDone := make(chan struct{})
	commitCtx, stopCommits := context.WithCancel(context.Background())
	go func() {
		defer close(commitDone)
		c.commitLoop(commitCtx)
	}()

	err := c.pollLoop(ctx)

	// Shutdown: no more polls. Let dispatched records finish, bounded.
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	drained := c.waitIdle(func(*partition) bool { return true }, c.cfg.DrainTimeout)
	if !drained {
		c.log.Warn("drain timeout: abandoning unfinished records; they will be redelivered", "timeout", c.cfg.DrainTimeout, "in_flight", c.InFlight())
	}
	c.cancelBase()
	c.mu.Lock()
	c.stopWorkers = true // workers skip what is left (abandoned) and exit
	c.workCond.Broadcast()
	c.mu.Unlock()
	c.workers.Wait()
	stopCommits()
	<-commitDone
	if cerr := c.commit(context.Background(), nil); cerr != nil {
		c.log.Error("final commit failed", "err", cerr)
		if err == nil {
			err = cerr
		}
	}
	c.cl.CloseAllowingRebalance()
	return err
}

// pollLoop polls while there is room in flight and dispatches to lanes.
func (c *Consumer) pollLoop(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	defer c.setLoop(loopStopped)
	for {
		c.setLoop(loopBusy)
		c.mu.Lock()
		if ctx.Err() == nil && (c.inflight >= c.cfg.MaxBuffered || c.bytes >= c.cfg.MaxInFlightBytes) {
			c.setLoop(loopWaiting)
		}
		for ctx.Err() == nil && (c.inflight >= c.cfg.MaxBuffered || c.bytes >= c.cfg.MaxInFlightBytes) {
			c.cond.Wait()
		}
		room := c.cfg.MaxBuffered - c.inflight
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
		fetches.EachError(func(topic string, p int32, err error) {
			switch {
			case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			default:
				c.log.Error("fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		c.mu.Lock()
		fetches.EachRecord(c.dispatch)
		changed := c.throttleLocked()
		c.mu.Unlock()
		if changed {
			c.reconcilePauses()
		}
		c.cl.AllowRebalance()
	}
}

// dispatch hands rec to its lane. c.mu is held.
func (c *Consumer) dispatch(rec *kgo.Record) {
	key := tp{rec.Topic, rec.Partition}
	p := c.parts[key]
	if p == nil {
		// Assigned before OnPartitionsAssigned ran for it; cannot happen
		// with blocked rebalances, but be safe.
		p = c.newPartition(key)
	}
	if p.next >= 0 && rec.Offset < p.next {
		return // already dispatched in this assignment
	}
	if rec.Attrs.IsControl() {
		// A transaction marker: nothing to handle, finished at once.
		p.next = rec.Offset + 1
		p.epoch = rec.LeaderEpoch
		if len(p.pending) > 0 {
			p.pending = append(p.pending, &item{rec: rec, part: p, done: true})
		}
		return
	}
	it := &item{rec: rec, part: p, size: int64(len(rec.Key) + len(rec.Value))}
	for _, h := range rec.Headers {
		it.size += int64(len(h.Key) + len(h.Value))
	}
	p.pending = append(p.pending, it)
	p.next = rec.Offset + 1
	p.epoch = rec.LeaderEpoch
	c.inflight++
	c.bytes += it.size
	c.stats.consumed.Add(1)
	if c.obsDispatch != nil {
		c.obsDispatch.Dispatched(rec)
	}

	lk := laneKey{tp: key}
	switch c.cfg.Ordering {
	case OrderingKey:
		lk.key = string(rec.Key)
	case OrderingNone:
		c.nextGen++
		lk.seq = c.nextGen
	}
	l := c.lanes[lk]
	if l != nil {
		it.queued = true
		p.queued++
		l.queue = append(l.queue, it)
		return
	}
	l = &lane{key: lk, queue: []*item{it}}
	c.lanes[lk] = l
	c.ready = append(c.ready, l)
	if len(c.ready) > c.idle && c.nWorkers < c.cfg.MaxInFlight {
		c.nWorkers++
		c.workers.Add(1)
		go c.worker()
	}
	c.workCond.Signal()
}

// Fair share. kgo's PollRecords hands out a buffered fetch partition by
// partition, so without a limit the in-flight budget can fill with one
// partition's backlog queued behind a few busy lanes (with ordering
// "partition", behind one), while the other partitions wait. A partition
// whose queued records reach its share of the budget therefore has its
// fetching paused (kgo drops what it buffered for it and fetches it again
// later, from the same offset), and is resumed once half of them started.
// Records that start at once (a free lane) never count, so key ordering
// over many keys keeps its full parallelism.

// queueShare is the number of queued records a partition may hold.
func (c *Consumer) queueShare() int {
	n := len(c.parts)
	if n == 0 {
		n = 1
	}
	return max(1, c.cfg.MaxBuffered/n)
}

// throttleLocked marks the partitions over their share and reports
// whether any changed. c.mu is held.
func (c *Consumer) throttleLocked() bool {
	changed := false
	share := c.queueShare()
	for _, p := range c.parts {
		if !p.throttled && p.queued >= share {
			p.throttled, changed = true, true
		}
	}
	return changed
}

// unthrottleLocked clears p's mark once its queue fell to half its share
// and reports whether it did. c.mu is held.
func (c *Consumer) unthrottleLocked(p *partition) bool {
	if !p.throttled || p.queued > c.queueShare()/2 || c.parts[p.tp] != p {
		return false
	}
	p.throttled = false
	return true
}

// reconcilePauses makes the client's partition pauses match the marks.
// Calls are serialised by pauseMu and each applies the latest marks, so a
// pause and a resume decided concurrently cannot reach the client in the
// wrong order and leave a partition paused for good.
func (c *Consumer) reconcilePauses() {
	c.pauseMu.Lock()
	defer c.pauseMu.Unlock()
	var pause, resume map[string][]int32
	add := func(m *map[string][]int32, key tp) {
		if *m == nil {
			*m = map[string][]int32{}
		}
		(*m)[key.topic] = append((*m)[key.topic], key.partition)
	}
	c.mu.Lock()
	for key, p := range c.parts {
		if p.throttled != p.fetchPaused {
			p.fetchPaused = p.throttled
			if p.throttled {
				add(&pause, key)
			} else {
				add(&resume, key)
			}
		}
	}
	c.mu.Unlock()
	if pause != nil {
		c.cl.PauseFetchPartitions(pause)
	}
	if resume != nil {
		c.cl.ResumeFetchPartitions(resume)
	}
}

func (c *Consumer) newPartition(key tp) *partition {
	c.nextGen++
	ctx, cancel := context.WithCancel(c.base)
	p := &partition{tp: key, gen: c.nextGen, ctx: ctx, cancel: cancel, next: -1, committed: -1}
	c.parts[key] = p
	return p
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
		// Records that must not start (their partition was dropped, or
		// shutdown gave up on them) are passed over in one go, so their
		// budget is released now rather than one turn at a time.
		for len(l.queue) > 0 && c.abandonLocked(l.queue[0]) {
			it := l.queue[0]
			if it.queued {
				it.queued = false
				it.part.queued--
			}
			l.queue[0] = nil
			l.queue = l.queue[1:]
			c.finish(it, false, false)
		}
		if len(l.queue) == 0 {
			delete(c.lanes, l.key)
			continue
		}
		it := l.queue[0]
		c.active++
		it.part.active++
		changed := false
		if it.queued {
			it.queued = false
			it.part.queued--
			changed = c.unthrottleLocked(it.part)
		}
		c.mu.Unlock()
		if changed {
			c.reconcilePauses()
		}

		finished, dead := c.process(it)

		c.mu.Lock()
		c.active--
		it.part.active--
		l.queue[0] = nil
		l.queue = l.queue[1:]
		c.finish(it, finished, dead)
		if len(l.queue) == 0 {
			delete(c.lanes, l.key)
		} else {
			c.ready = append(c.ready, l) // this worker takes the next head at once if it is alone
		}
	}
}

// abandonLocked reports whether a record that has not started must not
// start: its partition was dropped, or shutdown gave up waiting. It stays
// unfinished, so no commit passes it. c.mu is held.
func (c *Consumer) abandonLocked(it *item) bool {
	return it.part.revoked || c.base.Err() != nil
}

// process drives one record to a final outcome, retrying the Handler and
// the DLQ write with backoff. finished is false only when the record was
// abandoned (its partition revoked or lost, or shutdown); dead tells that
// it went to the DLQ.
func (c *Consumer) process(it *item) (finished, dead bool) {
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
			return true, false
		}
		if handled {
			if err = c.writeDLQ(ctx, rec, out.DLQ); err == nil {
				return true, true
			}
		}
		if ctx.Err() != nil {
			return false, false
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
			return false, false
		case <-t.C:
		}
	}
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

// finish records the end of an item. c.mu is held.
func (c *Consumer) finish(it *item, finished, dead bool) {
	// An abandoned record stays not done: it must keep holding its
	// partition's watermark, or a later record of the same partition that
	// finishes would pop it and the final commit would skip it.
	it.done = finished
	c.inflight--
	c.bytes -= it.size
	p := it.part
	if finished && !p.revoked && c.parts[p.tp] == p {
		for len(p.pending) > 0 && p.pending[0].done {
			p.pending[0] = nil
			p.pending = p.pending[1:]
		}
		if c.cfg.Observer != nil {
			c.cfg.Observer.Finished(it.rec, dead)
		}
		c.stats.finished.Add(1)
		if dead {
			c.stats.dlq.Add(1)
		}
	}
	c.cond.Broadcast()
}

// waitIdle waits until no partition selected by sel has an unfinished
// record, or timeout passes. It reports whether they drained.
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
			if sel(p) && unfinished(p) {
				busy = true
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

func unfinished(p *partition) bool {
	for _, it := range p.pending {
		if !it.done {
			return true
		}
	}
	return false
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
			if err := c.commit(ctx, nil); err != nil && ctx.Err() == nil {
				c.log.Warn("periodic commit failed; will retry", "err", err)
			}
		}
	}
}

// commit commits the watermark of every partition selected by only (all
// when nil) that moved since its last commit.
func (c *Consumer) commit(ctx context.Context, only map[tp]bool) error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	type mark struct {
		p  *partition
		wm int64
	}
	var marks []mark
	c.mu.Lock()
	for key, p := range c.parts {
		if only != nil && !only[key] {
			continue
		}
		wm := p.watermark()
		if wm < 0 || wm <= p.committed {
			continue
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

func (c *Consumer) onAssigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	c.mu.Lock()
	paused := c.paused
	var topics []string
	for topic, ps := range assigned {
		topics = append(topics, topic)
		for _, p := range ps {
			key := tp{topic, p}
			if old := c.parts[key]; old != nil {
				old.revoked = true
				old.cancel()
			}
			c.newPartition(key)
		}
	}
	c.mu.Unlock()
	c.stats.rebalances.Add(1)
	if paused {
		cl.PauseFetchTopics(topics...)
	}
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
	if err := c.commit(ctx, sel); err != nil {
		c.log.Error("commit on revoke failed; the next owner may redeliver finished records", "err", err)
	}
	c.drop(sel)
	c.log.Info("partitions revoked", "partitions", revoked)
}

func (c *Consumer) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	c.drop(partitionSet(lost))
	c.log.Warn("partitions lost; nothing committed for them", "partitions", lost)
}

// drop forgets partitions: their in-flight records are abandoned and their
// completions ignored from now on.
func (c *Consumer) drop(sel map[tp]bool) {
	resume := map[string][]int32{}
	c.mu.Lock()
	for key := range sel {
		if p := c.parts[key]; p != nil {
			p.revoked = true
			p.cancel()
			delete(c.parts, key)
		}
		// A partition pause outlives the assignment in franz-go: clear it,
		// or the partition would stay paused if it came back.
		resume[key.topic] = append(resume[key.topic], key.partition)
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	if len(resume) > 0 {
		c.pauseMu.Lock()
		c.cl.ResumeFetchPartitions(resume)
		c.pauseMu.Unlock()
	}
}

// Pause stops fetching every consumed topic until Resume. Records already
// dispatched keep being worked on.
func (c *Consumer) Pause() {
	c.mu.Lock()
	if c.paused {
		c.mu.Unlock()
		return
	}
	c.paused = true
	topics := c.topicsLocked()
	c.mu.Unlock()
	if c.cfg.Regex {
		c.cl.PauseFetchTopics(topics...)
	} else {
		c.cl.PauseFetchTopics(append(topics, c.cfg.Topics...)...)
	}
	c.log.Warn("fetching paused")
}

// Resume undoes Pause.
func (c *Consumer) Resume() {
	c.mu.Lock()
	if !c.paused {
		c.mu.Unlock()
		return
	}
	c.paused = false
	c.mu.Unlock()
	c.cl.ResumeFetchTopics(c.cl.PauseFetchTopics()...)
	c.log.Info("fetching resumed")
}

// Paused reports whether fetching is paused.
func (c *Consumer) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}

func (c *Consumer) topicsLocked() []string {
	seen := map[string]bool{}
	var out []string
	for key := range c.parts {
		if !seen[key.topic] {
			seen[key.topic] = true
			out = append(out, key.topic)
		}
	}
	return out
}

// InFlight returns the number of records handed out and not finished
// (being handled, or waiting for their lane or a slot).
func (c *Consumer) InFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inflight
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

// noteHighWatermarks remembers each fetched partition's high watermark.
func (c *Consumer) noteHighWatermarks(fetches kgo.Fetches) {
	c.hwmMu.Lock()
	defer c.hwmMu.Unlock()
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err == nil && p.HighWatermark >= 0 {
			c.hwm[tp{p.Topic, p.Partition}] = p.HighWatermark
		}
	})
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
			at = p.watermark()
		}
		if at < 0 {
			continue
		}
		out = append(out, PartitionLag{Topic: key.topic, Partition: key.partition, Lag: max(0, h-at)})
	}
	return out
}
