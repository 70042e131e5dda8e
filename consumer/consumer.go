// Package consumer is the bridge's Kafka side: a consumer-group member that
// fetches records, hands them to a [Handler] on a bounded, ordered worker
// pool, writes dead letters, and commits offsets only behind records that
// reached a final outcome.
//
// The package is split by concept: this file holds the configuration, the
// [Consumer] and its life ([Consumer.Run]); poll.go fetches and dispatches;
// lanes.go is the worker pool and the retry of one record; partitions.go
// tracks watermarks and commits; throttle.go decides which partitions to
// pause and applies pauses to the client; rebalance.go handles assignments,
// revokes and losses.
//
// # Delivery semantics
//
// At least once, commit after outcome. A record is finished when the Handler
// returned a final outcome for it: done (published, or skipped), or
// dead-lettered, in which case its dead letter has been written before the
// record counts as finished: with [DLQExactlyOnce] (the default), in a
// Kafka transaction that also commits the offset past it, once every record
// before it is finished (deadletters.go); with [DLQAtLeastOnce],
// acknowledged by all in-sync replicas ([kgo.Client.ProduceSync], acks=all,
// idempotent producer) as soon as it is judged. For each partition the consumer
// keeps the records it handed out and did not finish, in offset order, and
// commits the lowest of their offsets (the watermark), or the offset after
// the last record handed out when all are finished: franz-go's own marks do
// not check contiguity, so a finished record at offset 10 is never committed
// while offset 9 is still being retried.
//
// A finished record is forgotten at once, wherever it is: behind a stuck
// record the consumer keeps only the unfinished ones, so what it holds is
// bounded by the budgets below, not by how far the partition ran ahead.
//
// # Ordering
//
// Records are dispatched to lanes. With [OrderingKey] (the default) a lane is
// one Kafka key within one partition, so records with the same key are
// handled one at a time in offset order while different keys run in
// parallel; with [OrderingPartition] a lane is a partition; with [OrderingNone]
// every record is its own lane. A record whose Handler keeps failing holds
// its own lane and its partition's commit. Its lane's later records wait
// (they count as blocked, see Backpressure); the partition's other lanes
// keep going until a budget stops the partition.
//
// # Backpressure
//
// At most [Config.MaxInFlight] records are being handled at once (the
// publishes running against CXone), and at most [Config.MaxBuffered] records
// and [Config.MaxInFlightBytes] bytes are handed out and unfinished
// (running, or waiting for their lane or for a slot). When a budget is full
// the consumer stops polling, so franz-go stops fetching once its own
// bounded buffer is full: memory stays bounded however far behind the bridge
// is. The bytes are those the consumer really holds: each record is copied
// out of franz-go's fetch buffers when it is handed out, so a record waiting
// for a long time never keeps a whole fetch response (and every record
// decoded with it) alive.
//
// Within the budget, partitions are paused one by one (throttle.go): a
// partition whose records waiting behind busy lanes reach its share of
// MaxBuffered (the fair share), one whose records waiting behind a failing
// lane reach that share (a stuck key's cost), and one that ran
// [Config.MaxRecordsAhead] offsets past its watermark (what a restart would
// redeliver).
//
// # Rebalances
//
// The client blocks rebalances while a poll's records are being dispatched
// ([kgo.BlockRebalanceOnPoll]), so a dispatch never races a revoke. On
// revoke the consumer lets the revoked partitions' dispatched records finish
// for at most [Config.RevokeDrainTimeout] (keep it well below the rebalance
// timeout), commits their watermarks synchronously, abandons what is left,
// and returns; abandoned records are redelivered to the next owner, with the
// same idempotency key. On loss (session expired, fenced) nothing is
// committed: another member may already own the partitions. Each assignment
// of a partition gets its own state, so completions arriving for a partition
// no longer owned, or owned again under a newer assignment, are ignored.
//
// # Pausing
//
// [Consumer.Pause] stops fetching every consumed topic (the sink's circuit
// breaker calls it when CXone is down); [Consumer.Resume] starts it again.
// Every change of the wanted pauses (Pause, Resume, an assignment, a
// throttle) is applied to the client by one serialised reconciliation that
// reads the latest state, so the client's pauses always end up matching the
// consumer's: a Resume racing an assignment cannot leave a topic paused for
// good.
//
// # Data loss
//
// When franz-go reports that a partition's log lost records it had
// consumed ([kgo.ErrDataLoss]: a truncation after an unclean leader election,
// an out-of-range reset) and rewinds, the consumer logs it as an error,
// counts it ([Stats.DataLoss]) and starts that partition afresh from where
// the client resumed: records at reused offsets are new records and are
// handled, never skipped as "already seen". Records of the old log still in
// flight are still published.
//
// # Shutdown
//
// When [Consumer.Run]'s context is cancelled the consumer stops polling and
// starts no more records; the records being handled may finish for at most
// [Config.DrainTimeout]; then the rest is abandoned, every watermark is
// committed (within [Config.CommitTimeout]) and the member leaves the group.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
)

// Handler decides the fate of one record.
//
// Handle returns a nil error when the record reached a final outcome: done
// (published, already ingested, or deliberately skipped), or, with
// [Outcome.DLQ] set, bound for the dead-letter topic. A non-nil error means
// "not final, try again later" (CXone down, rate limited, breaker open, ctx
// cancelled): the consumer retries the record with backoff, and its
// partition's commit stays behind it. Handle must honour ctx.
type Handler interface {
	Handle(ctx context.Context, rec *kgo.Record) (Outcome, error)
}

// HandlerFunc adapts a function to [Handler].
type HandlerFunc func(ctx context.Context, rec *kgo.Record) (Outcome, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, rec *kgo.Record) (Outcome, error) {
	return f(ctx, rec)
}

// Outcome is a [Handler]'s final verdict on a record.
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

// Config configures a [Consumer]. Zero values take the defaults below,
// which are also those of bridge.yaml's absent keys: package config applies
// them, so that a Consumer built directly (in a test) runs as the bridge
// does. Options given to [New] override what Config sets on the client.
type Config struct {
	// Topics to consume. With Regex they are regular expressions.
	Topics []string
	Regex  bool

	// The consumer group and fetching (bridge.yaml's kafka section; the
	// connection itself, brokers, TLS and SASL, comes with [New]'s options:
	// [github.com/cxone-bridge/bridge/kafkaconn.Options]).

	// GroupID is the consumer group; default [DefaultGroupID].
	GroupID string
	// InstanceID enables static membership (KIP-345); none by default.
	InstanceID string
	// SessionTimeout and RebalanceTimeout are the group's; defaults
	// [DefaultSessionTimeout] and [DefaultRebalanceTimeout].
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	// StartOffset is where a group without committed offsets starts;
	// default [StartEarliest].
	StartOffset StartOffset
	// GroupProtocol is the group membership protocol; default
	// [DefaultGroupProtocol]. See [GroupProtocol].
	GroupProtocol GroupProtocol
	// FetchMaxBytes and FetchMaxPartitionBytes bound one fetch response,
	// and so what franz-go buffers ahead of the workers; defaults
	// [DefaultFetchMaxBytes] and [DefaultFetchMaxPartitionBytes].
	FetchMaxBytes          int32
	FetchMaxPartitionBytes int32
	// FetchMaxWait is how long a broker may hold a fetch waiting for
	// records. It also bounds how soon a partition whose fetching resumed
	// (after the fair-share pause) is fetched again, so it is far below
	// franz-go's 5s; default [DefaultFetchMaxWait].
	FetchMaxWait time.Duration

	Ordering Ordering // default [DefaultOrdering]
	// MaxInFlight: records handled at once; default [DefaultMaxInFlight].
	MaxInFlight int
	// MaxBuffered: records handed out and unfinished; default
	// [DefaultMaxBuffered] of MaxInFlight. A value below MaxInFlight is
	// replaced by the default.
	MaxBuffered int
	// MaxInFlightBytes: bytes of those; default [DefaultMaxInFlightBytes].
	MaxInFlightBytes int64
	// MaxRecordsAhead bounds how far (in offsets) a partition may run past
	// its watermark, the lowest unfinished record: at that distance the
	// partition's fetching pauses until the watermark moves. It bounds what
	// a restart or a rebalance redelivers behind a stuck record. Default
	// [DefaultMaxRecordsAhead]; the bound can be passed by the records of
	// one poll.
	MaxRecordsAhead int64
	// CommitInterval: periodic commits; default [DefaultCommitInterval].
	CommitInterval time.Duration
	// CommitTimeout bounds one commit (periodic, on revoke, final); default
	// [DefaultCommitTimeout]. The final commit must fit in the pod's
	// termination grace period, after DrainTimeout.
	CommitTimeout time.Duration
	// RevokeDrainTimeout bounds the wait for revoked partitions' records;
	// default [DefaultRevokeDrainTimeout] of RebalanceTimeout. Keep it
	// below RebalanceTimeout.
	RevokeDrainTimeout time.Duration
	// DrainTimeout bounds the wait for the records being handled on
	// shutdown; default [DefaultDrainTimeout].
	DrainTimeout time.Duration
	// RetryBackoff and RetryBackoffMax bound the exponential, fully
	// jittered wait between attempts at a record whose Handler failed or
	// whose DLQ write failed; defaults [DefaultRetryBackoff] and
	// [DefaultRetryBackoffMax].
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration
	// DLQWriteTimeout bounds one DLQ write (with [DLQExactlyOnce], one
	// transaction up to its end, which has a timeout of its own);
	// default [DefaultDLQWriteTimeout].
	DLQWriteTimeout time.Duration
	// DLQDelivery says how dead letters are written; default
	// [DefaultDLQDelivery]. See [DLQDelivery].
	DLQDelivery DLQDelivery

	// DLQTopic names the dead-letter topic of a source topic; required.
	DLQTopic func(source string) string

	// Logger receives the consumer's logs. nil means none: they are
	// discarded.
	Logger *slog.Logger
	// Observer, when set, is told about every finished record (for
	// metrics and progress). It must be quick and safe for concurrent use.
	Observer Observer
}

// GroupProtocol is how the members of the group share its partitions.
//
// [ProtocolClassic] is the client-driven protocol (JoinGroup/SyncGroup)
// with the cooperative-sticky balancer (KIP-429): a change of membership
// is a rebalance in which every member rejoins, but only the partitions
// that move are revoked; the others keep flowing. The group's timeouts are
// SessionTimeout and RebalanceTimeout.
//
// [ProtocolConsumer] is the next-generation protocol of KIP-848 (Kafka
// 4.0+): the group coordinator assigns partitions (its "uniform"
// assignor), members heartbeat and reconcile incrementally, and there is
// no group-wide barrier: a member that joins or leaves moves only the
// partitions concerned, without the others rejoining. The session timeout
// is the broker's (group.consumer.session.timeout.ms, 45 s by default);
// SessionTimeout and RebalanceTimeout are not used. Commits carry the
// member epoch; a commit refused as STALE_MEMBER_EPOCH (the epoch moved on
// while the commit was under way) is sent again with the new epoch, and a
// member fenced out of the group loses its partitions without committing,
// exactly as a classic member that missed its session. With brokers that
// do not support it, the client falls back to the classic protocol with
// the eager sticky balancer; `bridge check` says which protocols the
// brokers support, and run warns.
type GroupProtocol string

// The group protocols.
const (
	ProtocolClassic  GroupProtocol = "classic"
	ProtocolConsumer GroupProtocol = "consumer"
)

// DLQDelivery says how a dead letter and the commit of its record's offset
// are tied together.
//
// [DLQExactlyOnce] writes them in one Kafka transaction: a record bound for
// the DLQ waits, unfinished, until every record before it in its partition
// is finished (its partition's watermark reaches it); then the dead letters
// at the head of each partition are produced by a transactional producer,
// and the offsets after them are committed for the group in the same
// transaction (TxnOffsetCommit, with this member's generation, so a member
// that was fenced out of the group, a zombie, cannot commit and its
// transaction aborts). Either both happen or neither: a member killed at
// any point leaves either the dead letter and the commit, or neither, and
// the next owner judges the record again. Readers of the DLQ must read
// committed records only (the bridge's own tools do); the consumer reads
// its source offsets stably (KIP-447), so a new owner waits for a
// transaction of the previous owner that is still open. Costs: a dead
// letter waits for the records before it (behind a record stuck in
// retries, it is written when that record finishes), each transaction adds
// a marker to the DLQ partitions it wrote and to the group's offsets, and
// the bridge needs the right to use transactional ids (ACL: WRITE and
// DESCRIBE on TransactionalId "<group>-dlq-" prefixed; see docs/dlq.md).
//
// [DLQAtLeastOnce] writes each dead letter as soon as the record is judged,
// and the periodic commit passes it later: a member killed in between
// leaves a dead letter whose record is judged again by the next owner, and
// written again.
type DLQDelivery string

// The DLQ deliveries.
const (
	DLQExactlyOnce DLQDelivery = "exactly_once"
	DLQAtLeastOnce DLQDelivery = "at_least_once"
)

// StartOffset says where a group without committed offsets starts.
type StartOffset string

// Start offsets.
const (
	StartEarliest StartOffset = "earliest" // the oldest retained record: nothing missed
	StartLatest   StartOffset = "latest"   // records produced from now on
)

// Observer receives events of the consumer's life.
type Observer interface {
	// Finished is called when a record is finished under its partition's
	// current assignment (not for a partition revoked meanwhile, nor for a
	// record of a log that a data loss replaced); dlq tells whether it went
	// to the dead-letter topic.
	Finished(rec *kgo.Record, dlq bool)
}

// The [Observer] may also implement any of these optional interfaces; the
// consumer checks for them once, in [New].

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

// RebalanceObserver is told how long each rebalance that touched this
// member lasted for it: from the moment it gave partitions up (a
// revocation), lost its membership, or started, to the assignment that
// ended the rebalance. The partitions it kept (cooperative-sticky, KIP-848)
// flowed meanwhile; a member that gave nothing up is not told.
type RebalanceObserver interface {
	Rebalanced(stopped time.Duration)
}

// DLQObserver is told about every acknowledged DLQ write.
type DLQObserver interface {
	DeadLettered(rec *kgo.Record, f *dlq.Failure)
}

// Defaults of [Config]. Package config applies the same ones to
// bridge.yaml's absent keys, and docs/config.md documents them (a test of
// package config compares the two).
const (
	DefaultGroupID                = "cxone-bridge"
	DefaultSessionTimeout         = 45 * time.Second
	DefaultRebalanceTimeout       = 60 * time.Second
	DefaultStartOffset            = StartEarliest
	DefaultGroupProtocol          = ProtocolClassic
	DefaultFetchMaxBytes          = 1 << 20
	DefaultFetchMaxPartitionBytes = 256 << 10
	DefaultFetchMaxWait           = 100 * time.Millisecond
	DefaultOrdering               = OrderingKey
	DefaultMaxInFlight            = 256
	DefaultMaxInFlightBytes       = 64 << 20
	DefaultMaxRecordsAhead        = 10000
	DefaultCommitInterval         = 5 * time.Second
	DefaultCommitTimeout          = 10 * time.Second
	DefaultDrainTimeout           = 20 * time.Second
	DefaultRetryBackoff           = 500 * time.Millisecond
	DefaultRetryBackoffMax        = 30 * time.Second
	DefaultDLQWriteTimeout        = 30 * time.Second
	DefaultDLQDelivery            = DLQExactlyOnce

	// MaxDefaultRevokeDrainTimeout caps [DefaultRevokeDrainTimeout].
	MaxDefaultRevokeDrainTimeout = 20 * time.Second
)

// DefaultMaxBuffered is the default [Config.MaxBuffered] for maxInFlight
// records in flight: four times as many, so that the workers find other
// keys' records while some keys wait.
func DefaultMaxBuffered(maxInFlight int) int { return 4 * maxInFlight }

// DefaultRevokeDrainTimeout is the default [Config.RevokeDrainTimeout] for a
// group whose rebalance timeout is rebalance: half of it, at most
// [MaxDefaultRevokeDrainTimeout], so that the revoke's commit still fits in
// the rebalance.
func DefaultRevokeDrainTimeout(rebalance time.Duration) time.Duration {
	return min(rebalance/2, MaxDefaultRevokeDrainTimeout)
}

// WithDefaults returns c with every zero (or negative) field replaced by
// its default, as [New] does. It checks nothing.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.GroupID == "" {
		c.GroupID = DefaultGroupID
	}
	def(&c.SessionTimeout, DefaultSessionTimeout)
	def(&c.RebalanceTimeout, DefaultRebalanceTimeout)
	if c.GroupProtocol == "" {
		c.GroupProtocol = DefaultGroupProtocol
	}
	if c.StartOffset == "" {
		c.StartOffset = DefaultStartOffset
	}
	if c.FetchMaxBytes <= 0 {
		c.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if c.FetchMaxPartitionBytes <= 0 {
		c.FetchMaxPartitionBytes = DefaultFetchMaxPartitionBytes
	}
	def(&c.FetchMaxWait, DefaultFetchMaxWait)
	if c.Ordering == "" {
		c.Ordering = DefaultOrdering
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxBuffered < c.MaxInFlight {
		c.MaxBuffered = DefaultMaxBuffered(c.MaxInFlight)
	}
	if c.MaxInFlightBytes <= 0 {
		c.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	if c.MaxRecordsAhead <= 0 {
		c.MaxRecordsAhead = DefaultMaxRecordsAhead
	}
	def(&c.CommitInterval, DefaultCommitInterval)
	def(&c.CommitTimeout, DefaultCommitTimeout)
	def(&c.RevokeDrainTimeout, DefaultRevokeDrainTimeout(c.RebalanceTimeout))
	def(&c.DrainTimeout, DefaultDrainTimeout)
	def(&c.RetryBackoff, DefaultRetryBackoff)
	def(&c.RetryBackoffMax, DefaultRetryBackoffMax)
	def(&c.DLQWriteTimeout, DefaultDLQWriteTimeout)
	if c.DLQDelivery == "" {
		c.DLQDelivery = DefaultDLQDelivery
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// defaults applies the defaults and checks what must be set.
func (c *Config) defaults() error {
	*c = c.WithDefaults()
	if len(c.Topics) == 0 {
		return errors.New("consumer: no topics")
	}
	if c.DLQTopic == nil {
		return errors.New("consumer: DLQTopic is required")
	}
	switch c.Ordering {
	case OrderingKey, OrderingPartition, OrderingNone:
	default:
		return fmt.Errorf("consumer: unknown ordering %q", c.Ordering)
	}
	switch c.StartOffset {
	case StartEarliest, StartLatest:
	default:
		return fmt.Errorf("consumer: unknown start offset %q", c.StartOffset)
	}
	switch c.GroupProtocol {
	case ProtocolClassic, ProtocolConsumer:
	default:
		return fmt.Errorf("consumer: unknown group protocol %q", c.GroupProtocol)
	}
	switch c.DLQDelivery {
	case DLQExactlyOnce, DLQAtLeastOnce:
	default:
		return fmt.Errorf("consumer: unknown DLQ delivery %q", c.DLQDelivery)
	}
	return nil
}

// groupOpts are the client options of the group and fetch settings.
func (c *Config) groupOpts() []kgo.Opt {
	start := kgo.NewOffset().AtStart()
	if c.StartOffset == StartLatest {
		start = kgo.NewOffset().AtEnd()
	}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(c.GroupID),
		kgo.SessionTimeout(c.SessionTimeout),
		kgo.RebalanceTimeout(c.RebalanceTimeout),
		kgo.ConsumeResetOffset(start),
		kgo.FetchMaxBytes(c.FetchMaxBytes),
		kgo.FetchMaxPartitionBytes(c.FetchMaxPartitionBytes),
		kgo.FetchMaxWait(c.FetchMaxWait),
	}
	if c.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(c.InstanceID))
	}
	if c.GroupProtocol == ProtocolConsumer {
		// KIP-848 wants a balancer the broker knows: sticky is its
		// "uniform" assignor.
		opts = append(opts, kgo.Balancers(kgo.StickyBalancer()), kgo.ServerSideBalancer())
	}
	return opts
}

// Consumer is one member of the bridge's consumer group. Create it with [New]
// and run it with [Consumer.Run]; [Consumer.Pause], [Consumer.Resume],
// [Consumer.Stats], [Consumer.Lag] and [Consumer.Partitions] are safe to
// call from any goroutine.
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
	paused      bool          // Pause was called (the breaker is open)
	closing     bool          // Run is shutting down: start nothing more, retry nothing
	closingCh   chan struct{} // closed when closing is set
	nextGen     uint64
	workers     sync.WaitGroup            // the workers (see worker)
	bg          sync.WaitGroup            // logAssigned's offset fetches
	fetchErrs   map[string]*fetchErrorLog // logFetchErrorLocked's memory
	// sendCommit sends one commit (commitOnce; a test's seam).
	sendCommit func(ctx context.Context, offsets map[string]map[int32]kgo.EpochOffset) error
	// inGroup is set when the group assigns partitions (even none) and
	// cleared when the membership is lost.
	inGroup atomic.Bool
	// stoppedSince is when a rebalance stopped this member (UnixNano), 0
	// while it is not stopped (see RebalanceObserver).
	stoppedSince atomic.Int64
	// defaultGroupWarned is set once warnDefaultGroup has looked.
	defaultGroupWarned atomic.Bool

	// pauseMu serialises the reconciliation of the client's pauses with
	// the wanted ones (reconcilePauses); applied is what it last told the
	// client.
	pauseMu sync.Mutex
	applied appliedPauses

	// commitMu serialises commits (and dead-letter transactions, which
	// commit too), so a periodic commit computed before a revoke can never
	// land after the revoke's and move an offset back.
	commitMu sync.Mutex

	// dlqTxn writes exactly-once dead letters (nil with DLQAtLeastOnce);
	// deadCh wakes its loop (deadletters.go). apartLeft is the set of
	// partitions written apart when the loop returned (finalDeadLetters).
	dlqTxn    *txnWriter
	deadCh    chan struct{}
	apartLeft deadApart

	stats counters

	// Optional observers (see Observer).
	obsDispatch DispatchObserver
	obsRetry    RetryObserver
	obsDLQ      DLQObserver
	obsReb      RebalanceObserver

	// Poll loop liveness (see Loop): loopState is loopStopped, loopWaiting
	// or loopBusy; loopSince is when it entered that state (UnixNano).
	loopState atomic.Int32
	loopSince atomic.Int64

	// hwm holds the high watermark last seen per partition (for lag);
	// topicIDs the id of each topic fetched (for TxnOffsetCommit).
	hwmMu    sync.Mutex
	hwm      map[tp]int64
	topicIDs map[string][16]byte
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

// New creates the consumer and its franz-go client. The client's group and
// fetch options come from cfg; opts are the connection options (seed
// brokers, client id, TLS, SASL: package kafkaconn) and may override cfg's
// (a test's group id). New adds the ones its semantics rest on: manual
// commits, blocked rebalances on poll, the cooperative-sticky balancer and
// its rebalance callbacks.
func New(cfg Config, h Handler, opts ...kgo.Opt) (*Consumer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	c := &Consumer{
		cfg:       cfg,
		handler:   h,
		log:       cfg.Logger,
		seed:      maphash.MakeSeed(),
		parts:     map[tp]*partition{},
		lanes:     map[laneKey]*lane{},
		hwm:       map[tp]int64{},
		topicIDs:  map[string][16]byte{},
		closingCh: make(chan struct{}),
		deadCh:    make(chan struct{}, 1),
	}
	c.sendCommit = c.commitOnce
	c.cond = sync.NewCond(&c.mu)
	c.workCond = sync.NewCond(&c.mu)
	c.obsDispatch, _ = cfg.Observer.(DispatchObserver)
	c.obsRetry, _ = cfg.Observer.(RetryObserver)
	c.obsDLQ, _ = cfg.Observer.(DLQObserver)
	c.obsReb, _ = cfg.Observer.(RebalanceObserver)
	c.stoppedSince.Store(time.Now().UnixNano()) // until the first assignment
	c.base, c.cancelBase = context.WithCancel(context.Background())
	all := append([]kgo.Opt{
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
	}, cfg.groupOpts()...)
	all = append(all, opts...)
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
	if cfg.DLQDelivery == DLQExactlyOnce {
		// A new owner reads the committed offsets only once no
		// dead-letter transaction of the previous owner is open (KIP-447):
		// a transaction that commits after it read them would leave the
		// records it judges again with their dead letters written twice.
		all = append(all, kgo.RequireStableFetchOffsets())
	}
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("consumer: %w", err)
	}
	c.cl = cl
	if cfg.DLQDelivery == DLQExactlyOnce {
		group, _ := cl.OptValue(kgo.ConsumerGroup).(string)
		w, err := newTxnWriter(group, opts)
		if err != nil {
			cl.Close()
			return nil, fmt.Errorf("consumer: dead-letter producer: %w", err)
		}
		c.dlqTxn = w
	}
	return c, nil
}

// Client returns the franz-go client, for metrics and admin requests. Do
// not poll, commit or close it.
func (c *Consumer) Client() *kgo.Client { return c.cl }

// Run consumes until ctx is cancelled, then drains, commits and leaves the
// group (see the package documentation). It returns nil after a clean
// shutdown, and an error, beginning with "consumer: ", if the client failed
// fatally or the final commit failed. Run may be called once.
func (c *Consumer) Run(ctx context.Context) error {
	commitDone := make(chan struct{})
	commitCtx, stopCommits := context.WithCancel(context.Background())
	go func() {
		defer close(commitDone)
		c.commitLoop(commitCtx)
	}()

	deadDone := make(chan struct{})
	deadCtx, stopDead := context.WithCancel(context.Background())
	go func() {
		defer close(deadDone)
		if c.dlqTxn != nil {
			c.deadLetterLoop(deadCtx)
		}
	}()

	err := c.pollLoop(ctx)

	// Shutdown: no more polls, and no record starts any more (pollLoop set
	// closing as it returned; workers skip what has not started: it stays
	// unfinished, holding its partition's commit, for the next run). The
	// records being handled may finish, bounded by DrainTimeout; one whose
	// attempt fails is not retried but left for the next run too.
	if !c.waitActive(c.cfg.DrainTimeout) {
		c.log.Warn("drain timeout: abandoning the records still being handled; they will be redelivered",
			"timeout", c.cfg.DrainTimeout, "in_flight", c.Stats().InFlight)
	}
	c.cancelBase()
	c.bg.Wait() // their requests end with base
	c.mu.Lock()
	c.stopWorkers = true // workers skip what is left (abandoned) and exit
	c.workCond.Broadcast()
	c.mu.Unlock()
	c.workers.Wait()
	stopCommits()
	<-commitDone
	// The final commit, bounded by CommitTimeout: a dead-letter
	// transaction under way ends, the dead letters that reached their
	// partitions' heads are written with their offsets (exactly once;
	// those behind a record left for the next run stay unwritten, judged
	// again then), then the watermarks are committed.
	fin, cancel := context.WithTimeout(context.Background(), c.cfg.CommitTimeout)
	defer cancel()
	if c.dlqTxn != nil {
		defer context.AfterFunc(fin, c.dlqTxn.cut)()
	}
	stopDead()
	<-deadDone
	if c.dlqTxn != nil {
		c.finalDeadLetters(fin)
	}
	cerr := c.commit(fin, 0, nil)
	switch {
	case cerr != nil && fenced(cerr):
		// The group fenced this member before it learned so (stopped or
		// cut off for longer than the session timeout, then shut down at
		// once): its partitions are another member's, as after a loss,
		// and nothing of it is to be committed. Not a failure of the
		// shutdown.
		c.log.Warn("final commit refused: the group had fenced this member; its partitions are another member's, which starts from their last commit",
			"err", cerr)
	case cerr != nil:
		c.log.Error("final commit failed; the next owner may redeliver finished records", "timeout", c.cfg.CommitTimeout, "err", cerr)
		if err == nil {
			err = fmt.Errorf("consumer: %w", cerr)
		}
	}
	c.cl.CloseAllowingRebalance()
	if c.dlqTxn != nil {
		c.dlqTxn.close()
	}
	return err
}

// finalDeadLetters writes, within fin, the dead letters that reached their
// partitions' heads at shutdown, with their offsets. The partitions the
// dead-letter loop had set apart (their own dead letters kept failing) are
// left out from the start, and so is any partition whose dead letters fail
// now: a known-bad partition must not spend the shutdown's budget, nor
// make the others' first try fail. What is left out is judged again by the
// next owner. Called after the dead-letter loop returned (apartLeft).
func (c *Consumer) finalDeadLetters(fin context.Context) {
	apart := c.apartLeft
	if len(apart.parts) > 0 {
		c.log.Info("dead letters of partitions written apart are left to the next owner", "partitions", formatTPs(apart.parts))
	}
	for {
		n, failing, derr := c.writeDeadLetters(fin, apart.without)
		if derr != nil && len(failing) > 0 && fin.Err() == nil {
			c.log.Warn("dead letters of these partitions could not be written at shutdown; the others' are written without them",
				"partitions", formatTPs(failing), "err", derr)
			apart.add(failing, c.cfg)
			continue
		}
		if derr != nil {
			c.log.Warn("dead-letter transaction at shutdown failed; the records are judged again by the next owner", "records", n, "err", derr)
			return
		}
		if n == 0 {
			return
		}
	}
}

// fenced reports whether a commit was refused because the group no longer
// knows this member as the owner of its partitions (KIP-848 or classic).
func fenced(err error) bool {
	return errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.FencedMemberEpoch) ||
		errors.Is(err, kerr.StaleMemberEpoch) || errors.Is(err, kerr.IllegalGeneration) ||
		errors.Is(err, kerr.FencedInstanceID)
}

// waitActive waits until no record is being handled, or timeout passes.
// It reports whether none is.
func (c *Consumer) waitActive(timeout time.Duration) bool {
	timer := time.AfterFunc(timeout, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.active > 0 {
		if !time.Now().Before(deadline) {
			return false
		}
		c.cond.Wait()
	}
	return true
}
