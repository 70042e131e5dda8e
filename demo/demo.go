// Package demo runs the bridge's main job end to end on a setup it builds
// itself: an in-process Kafka (kfake) with an "orders" topic and its DLQ,
// the CXone-compatible test server (sink/cxonetest) or an external
// CXone-compatible endpoint, a sample stream of tutorial-shaped orders with
// invalid records, duplicates and a tombstone, and the real pipeline
// ([pipeline.New] + [pipeline.Bridge.Run]) until every record is finished
// and the group's lag is zero. It then checks, independently of the bridge,
// that the bridge kept its promises (docs/design.md §3–§5) and returns a
// [Report] with a verdict.
//
// `bridge demo` is a thin command over [Run]; tests and benchmarks call Run
// directly.
package demo

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/schemas"
	"github.com/cxone-bridge/bridge/secret"
	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
	"github.com/cxone-bridge/bridge/transform"
)

// Names the demo uses.
const (
	Topic     = "orders"
	DLQTopic  = "orders.dlq"
	GroupID   = "cxone-bridge-demo"
	EventType = "OrderCreated"
)

// ExternalCXone is a CXone-compatible endpoint to publish to instead of the
// built-in test server.
type ExternalCXone struct {
	BaseURL      string // e.g. https://api-us-1.cxone.com
	TokenURL     string // default {BaseURL}/oauth/token
	ClientID     string
	ClientSecret string
}

// Options configure a demo run. Zero values of Records, Partitions, Keys,
// MaxInFlight, Ordering, Format and StallTimeout take the defaults of
// [DefaultOptions]; the shares and latencies are taken as given (zero:
// none). [Options.Check] says which values are out of range.
type Options struct {
	Records    int // records produced in all (valid, duplicate, invalid and one tombstone)
	Partitions int // partitions of the source topic
	Keys       int // distinct Kafka keys (customer ids)

	InvalidShare   float64 // share of records that must be dead-lettered
	DuplicateShare float64 // share of records that repeat an earlier order under the same key

	// LatencyMin and LatencyMax bound the test server's answer latency
	// (uniform in [LatencyMin, LatencyMax]). Unused with External.
	LatencyMin, LatencyMax time.Duration

	MaxInFlight int    // consumer.max_in_flight
	Ordering    string // consumer.ordering: key, partition or none

	// Format is how the orders are written: [FormatJSON] (the default) or
	// [FormatAvro], in the schema registry wire format, with an in-process
	// registry (srfake) holding their schemas.
	Format string

	// Out receives the setup line, live progress and the report; nil
	// prints nothing.
	Out io.Writer
	// Progress turns live progress on. On a terminal (Out is an *os.File
	// that is a terminal) one line is rewritten every ProgressInterval
	// (default 250ms); otherwise a plain line is printed every
	// ProgressInterval (default 2s).
	Progress         bool
	ProgressInterval time.Duration

	// Logger receives the bridge's logs; nil discards them.
	Logger *slog.Logger

	// External, when set, targets that endpoint instead of the built-in
	// test server; checks that need the server's records are then reported
	// as not checked.
	External *ExternalCXone

	// Brokers, when set, is a Kafka cluster to use instead of starting an
	// in-process one. Topic and DLQTopic are created if absent; they must
	// hold no records yet, and the group GroupID must be new, since the
	// checks count what the run produced.
	Brokers []string
	// Server, when set (and External is not), is the CXone test server to
	// publish to instead of starting one; the caller configures its faults
	// (LatencyMin and LatencyMax are ignored), keeps it open and can
	// inspect it after Run. Its record limit (cxonetest.WithRecordLimit)
	// must hold every event of the run, and it must have recorded none yet.
	Server *cxonetest.Server

	// StallTimeout ends the run when no record finished for that long
	// (default 60s); the report then says what was left.
	StallTimeout time.Duration
	// Seed makes the sample stream reproducible; 0 picks a random one.
	Seed uint64
}

// DefaultOptions are the options of `bridge demo` without flags.
func DefaultOptions() Options {
	return Options{
		Records:        5000,
		Partitions:     6,
		Keys:           200,
		InvalidShare:   0.02,
		DuplicateShare: 0.05,
		LatencyMin:     2 * time.Millisecond,
		LatencyMax:     10 * time.Millisecond,
		MaxInFlight:    64,
		Ordering:       "key",
		Progress:       true,
		StallTimeout:   60 * time.Second,
	}
}

func (o *Options) defaults() error {
	d := DefaultOptions()
	o.Records, o.Partitions, o.Keys = cmp.Or(o.Records, d.Records), cmp.Or(o.Partitions, d.Partitions), cmp.Or(o.Keys, d.Keys)
	o.MaxInFlight, o.Ordering = cmp.Or(o.MaxInFlight, d.MaxInFlight), cmp.Or(o.Ordering, d.Ordering)
	o.StallTimeout = cmp.Or(o.StallTimeout, d.StallTimeout)
	o.Format = cmp.Or(o.Format, FormatJSON)
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64() | 1
	}
	if err := o.Check(); err != nil {
		return err
	}
	if o.LatencyMax < o.LatencyMin {
		o.LatencyMax = o.LatencyMin
	}
	return nil
}

// Limits of the options (see [Options.Check]).
const (
	MaxRecords     = 5_000_000
	MaxPartitions  = 1000
	MaxMaxInFlight = 100_000
	// MaxBadShare bounds InvalidShare, DuplicateShare and their sum: at
	// least a tenth of the stream is new valid orders.
	MaxBadShare = 0.9
)

// OptionError is one unusable option, named as the flag of `bridge demo`
// that sets it: records (Options.Records), partitions, keys, invalid
// (InvalidShare), duplicates (DuplicateShare), latency (LatencyMin),
// latency-max, max-in-flight, ordering, format, stall-timeout.
type OptionError struct {
	// Options are the options at fault: one, or two whose sum is out of
	// range.
	Options []string
	// Problem says what is wrong, e.g. "must be between 1 and 5000000,
	// got -5".
	Problem string
}

func (e *OptionError) Error() string { return e.Message("") }

// Message is the error with each option's name after prefix: "--" names
// the flags, as in "--records must be between 1 and 5000000, got -5".
func (e *OptionError) Message(prefix string) string {
	names := make([]string, len(e.Options))
	for i, name := range e.Options {
		names[i] = prefix + name
	}
	return strings.Join(names, " plus ") + " " + e.Problem
}

// Check reports every unusable option, as [OptionError]s joined in an
// error that wraps [ErrBadOptions]. Unlike [Run], it takes o as it is: a
// zero count, stall timeout, ordering or format is not replaced with its
// default but refused, so that `bridge demo --records 0` is an error and
// not the default run.
func (o *Options) Check() error {
	var errs []error
	bad := func(problem string, options ...string) {
		errs = append(errs, &OptionError{Options: options, Problem: problem})
	}
	between := func(name string, v, lo, hi int) {
		if v < lo || v > hi {
			bad(fmt.Sprintf("must be between %d and %d, got %d", lo, hi, v), name)
		}
	}
	between("records", o.Records, 1, MaxRecords)
	between("partitions", o.Partitions, 1, MaxPartitions)
	if o.Keys < 1 {
		bad(fmt.Sprintf("must be at least 1, got %d", o.Keys), "keys")
	}
	// Written so that NaN is out of range too.
	shareOK := func(name string, v float64) bool {
		if v >= 0 && v <= MaxBadShare {
			return true
		}
		bad(fmt.Sprintf("must be between 0 and %v, got %v", MaxBadShare, v), name)
		return false
	}
	invalidOK, duplicatesOK := shareOK("invalid", o.InvalidShare), shareOK("duplicates", o.DuplicateShare)
	if invalidOK && duplicatesOK && o.InvalidShare+o.DuplicateShare > MaxBadShare {
		bad(fmt.Sprintf("must be at most %v, got %v + %v", MaxBadShare, o.InvalidShare, o.DuplicateShare), "invalid", "duplicates")
	}
	if o.LatencyMin < 0 {
		bad(fmt.Sprintf("must not be negative, got %s", o.LatencyMin), "latency")
	}
	if o.LatencyMax < 0 {
		bad(fmt.Sprintf("must not be negative, got %s", o.LatencyMax), "latency-max")
	}
	between("max-in-flight", o.MaxInFlight, 1, MaxMaxInFlight)
	switch o.Ordering {
	case "key", "partition", "none":
	default:
		bad(fmt.Sprintf("must be key, partition or none, got %q", o.Ordering), "ordering")
	}
	if o.Format != FormatJSON && o.Format != FormatAvro {
		bad(fmt.Sprintf("must be %s or %s, got %q", FormatJSON, FormatAvro, o.Format), "format")
	}
	if o.StallTimeout <= 0 {
		bad(fmt.Sprintf("must be more than 0, got %s", o.StallTimeout), "stall-timeout")
	}
	if o.External != nil {
		x := o.External
		if x.BaseURL == "" || x.ClientID == "" || x.ClientSecret == "" {
			errs = append(errs, errors.New("an external CXone endpoint needs a base URL, a client id and a client secret"))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrBadOptions, errors.Join(errs...))
	}
	return nil
}

// ErrBadOptions is wrapped by the error [Run] returns for unusable
// [Options].
var ErrBadOptions = errors.New("bad options")

// Run runs the demo and returns its report. It returns an error when the
// demo could not be set up or the pipeline failed to start; a run that did
// not keep the bridge's promises returns a report whose [Report.Passed]
// is false, and a nil error. If ctx ends before the stream is finished,
// Run stops the bridge cleanly and returns the report so far with ctx's
// error.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	r := &runner{o: &o, pub: newPublished()}
	defer r.close()
	return r.run(ctx)
}

// runner holds one run's moving parts.
type runner struct {
	o       *Options
	samples []*sample
	cluster *kfake.Cluster
	brokers []string
	srv     *cxonetest.Server
	ownSrv  bool
	admCl   *kgo.Client
	adm     *kadm.Client
	bridge  *pipeline.Bridge
	dir     string
	obs     observer
	pub     *published
	started time.Time
	avro    *avroStream // with Format avro
}

func (r *runner) close() {
	if r.admCl != nil {
		r.admCl.Close()
	}
	if r.srv != nil && r.ownSrv {
		r.srv.Close()
	}
	if r.avro != nil {
		r.avro.reg.Close()
	}
	if r.cluster != nil {
		r.cluster.Close()
	}
	if r.dir != "" {
		os.RemoveAll(r.dir)
	}
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	o := r.o
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed>>1^0x9e3779b97f4a7c15))
	r.samples = generate(o, rng, time.Now())
	registryURL := ""
	if o.Format == FormatAvro {
		var err error
		if r.avro, err = startAvroRegistry(); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		if err := r.avro.encode(r.samples); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		registryURL = r.avro.reg.URL()
	}

	var err error
	kafkaDesc := "in-process Kafka"
	if len(o.Brokers) > 0 {
		r.brokers = o.Brokers
		kafkaDesc = "Kafka at " + strings.Join(o.Brokers, ",")
	} else {
		r.cluster, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(o.Partitions), Topic, DLQTopic))
		if err != nil {
			return nil, fmt.Errorf("demo: start in-process Kafka: %w", err)
		}
		r.brokers = r.cluster.ListenAddrs()
	}
	if r.admCl, err = kgo.NewClient(kgo.SeedBrokers(r.brokers...)); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	r.adm = kadm.NewClient(r.admCl)
	if len(o.Brokers) > 0 {
		if err := r.createTopics(ctx); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
	}

	target := ""
	ep := o.External
	switch {
	case ep == nil && o.Server != nil:
		r.srv = o.Server
		ep = &ExternalCXone{BaseURL: r.srv.URL, ClientID: cxonetest.DefaultClientID, ClientSecret: cxonetest.DefaultClientSecret}
		target = "CXone test server at " + r.srv.URL
	case ep == nil:
		r.srv, r.ownSrv = cxonetest.NewServer(
			cxonetest.WithFaults(cxonetest.Faults{Latency: cxonetest.Duration(o.LatencyMin), LatencyMax: cxonetest.Duration(o.LatencyMax)}),
			cxonetest.WithRecordLimit(o.Records+1),
		), true
		ep = &ExternalCXone{BaseURL: r.srv.URL, ClientID: cxonetest.DefaultClientID, ClientSecret: cxonetest.DefaultClientSecret}
		target = fmt.Sprintf("CXone test server at %s (latency %s–%s)", r.srv.URL, o.LatencyMin, o.LatencyMax)
	default:
		target = "external CXone endpoint " + ep.BaseURL
	}

	if r.dir, err = os.MkdirTemp("", "bridge-demo-"); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "order.json"), schemas.Order, 0o600); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	cfg, err := config.New(bridgeConfig(o, r.brokers, ep, registryURL), r.dir)
	if err != nil {
		return nil, fmt.Errorf("demo: configuration: %w", err)
	}
	r.bridge, err = pipeline.New(cfg, o.Logger, pipeline.Options{
		KafkaOpts:   []kgo.Opt{kgo.FetchMaxWait(250 * time.Millisecond)},
		Observer:    &r.obs,
		OnPublished: r.pub.add,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}

	c := splitCounts(o.Records, o.InvalidShare, o.DuplicateShare)
	format := "JSON"
	if r.avro != nil {
		format = "Avro, schemas in the registry at " + r.avro.reg.URL()
	}
	setup := fmt.Sprintf("bridge demo: %s (%s, %s, %d invalid, %s) over %s → topic %q (%s, %s; %s)\n  → %s; ordering %s, max_in_flight %d",
		count(o.Records, "record"), count(c.valid, "valid order"), count(c.duplicates, "duplicate"), c.invalid, count(c.tombstones, "tombstone"),
		count(o.Keys, "key"), Topic, count(o.Partitions, "partition"), kafkaDesc, format, target, o.Ordering, o.MaxInFlight)
	fmt.Fprintln(o.Out, setup)

	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	runDone := make(chan error, 1)
	r.started = time.Now()
	go func() { runDone <- r.bridge.Run(runCtx) }()

	prodDone := make(chan error, 1)
	go func() { prodDone <- r.produce(runCtx) }()

	stopProgress := startProgress(o, r)

	end := r.wait(ctx, prodDone, runDone)

	cancelRun()
	runErr := end.runErr
	if !end.runEnded {
		runErr = <-runDone
	}
	if !end.produced {
		<-prodDone
	}
	stopProgress()

	rep := r.report(end, runErr)
	rep.Setup = setup
	rep.printBody(o.Out)
	if end.interrupted {
		return rep, fmt.Errorf("demo interrupted: %w", ctx.Err())
	}
	return rep, nil
}

// bridgeConfig is the demo's configuration, as a bridge.yaml would say it:
// the shipped route for orders (its schema is the file order.json of the
// configuration's folder), the given brokers as consumer group [GroupID],
// and the CXone endpoint ep; with [FormatAvro], the orders are Avro and
// their schemas at registryURL. [config.New] completes and checks it.
func bridgeConfig(o *Options, brokers []string, ep *ExternalCXone, registryURL string) config.Config {
	c := config.Config{
		Kafka: config.Kafka{
			Brokers:  brokers,
			GroupID:  GroupID,
			ClientID: GroupID,
		},
		Consumer: config.Consumer{
			Ordering:        o.Ordering,
			MaxInFlight:     o.MaxInFlight,
			CommitInterval:  200 * time.Millisecond, // the lag reaches zero soon after the last record
			RetryBackoff:    50 * time.Millisecond,
			RetryBackoffMax: 2 * time.Second,
			DrainTimeout:    10 * time.Second,
		},
		CXone: config.CXone{
			BaseURL:           ep.BaseURL,
			AllowInsecureHTTP: isHTTP(ep.BaseURL) || isHTTP(ep.TokenURL),
			Auth: config.Auth{
				TokenURL:     ep.TokenURL,
				ClientID:     ep.ClientID,
				ClientSecret: secret.Secret(ep.ClientSecret),
			},
		},
		DLQ: config.DLQ{Topic: "{topic}.dlq"}, // DLQTopic for Topic
		Routes: []config.Route{{
			Topic:          Topic,
			EventType:      EventType,
			Schema:         "order.json",
			BusinessKey:    "/orderId",
			TimestampField: "/timestamp",
			IdempotencyKey: "{eventType}:{businessKey}",
			Tombstones:     config.TombstonesSkip,
		}},
	}
	if o.Format == FormatAvro {
		c.Routes[0].Format = config.FormatAvro
		c.SchemaRegistry.URLs = []string{registryURL}
	}
	return c
}

func isHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "http"
}

// produce writes the sample stream in order and records where each record
// landed and its timestamp.
func (r *runner) produce(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.brokers...), kgo.DefaultProduceTopic(Topic),
		kgo.ProducerLinger(2*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, s := range r.samples {
		rec := &kgo.Record{
			Key:     []byte(s.key),
			Value:   s.value,
			Headers: []kgo.RecordHeader{{Key: "x-correlation-id", Value: []byte(s.corrID)}},
		}
		cl.Produce(ctx, rec, func(rec *kgo.Record, err error) {
			// Callbacks of one partition run in order; the caller reads
			// the fields only after Flush.
			s.partition, s.offset, s.ts, s.err = rec.Partition, rec.Offset, rec.Timestamp, err
			r.obs.produced.Add(1)
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	for _, s := range r.samples {
		if s.err != nil {
			return fmt.Errorf("produce: %w", s.err)
		}
	}
	return nil
}

// observer counts finished records (consumer.Observer). It is called with
// the consumer's lock held: atomics only.
type observer struct {
	produced, finished, dlq, skipped atomic.Int64
	lastFinish                       atomic.Int64 // unix nanoseconds
}

func (ob *observer) Finished(rec *kgo.Record, dead bool) {
	switch {
	case dead:
		ob.dlq.Add(1)
	case rec.Value == nil:
		ob.skipped.Add(1)
	}
	ob.lastFinish.Store(time.Now().UnixNano())
	ob.finished.Add(1)
}

// publication is one event the bridge saw CXone accept
// ([pipeline.Options.OnPublished]).
type publication struct {
	orderID, key string
	partition    int32
	offset       int64
	id           string
	duplicate    bool // Result.Duplicate (409)
	at           time.Time
}

// published collects what the bridge saw CXone accept.
type published struct {
	mu        sync.Mutex
	list      []publication
	firstID   map[string]string // orderId -> id of its first acceptance
	delivered atomic.Int64      // first acceptances
	repeats   atomic.Int64      // later acceptances of an order already accepted
}

func newPublished() *published { return &published{firstID: map[string]string{}} }

func (p *published) add(rec *kgo.Record, ev *transform.Event, res sink.Result) {
	pb := publication{orderID: ev.BusinessKey, key: string(rec.Key), partition: rec.Partition, offset: rec.Offset,
		id: res.ID, duplicate: res.Duplicate, at: time.Now()}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, pb)
	if _, seen := p.firstID[pb.orderID]; seen || pb.duplicate {
		p.repeats.Add(1)
	} else {
		p.delivered.Add(1)
	}
	if _, seen := p.firstID[pb.orderID]; !seen {
		p.firstID[pb.orderID] = pb.id
	}
}

func (p *published) snapshot() []publication {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]publication(nil), p.list...)
}

// ending says how the wait for the stream ended.
type ending struct {
	produced    bool // the producer finished
	produceErr  error
	runEnded    bool // the bridge stopped by itself
	runErr      error
	stalled     bool
	interrupted bool
	lagZero     bool
}

// wait waits until every produced record is finished and the group's lag
// is zero, or the run cannot get there.
func (r *runner) wait(ctx context.Context, prodDone <-chan error, runDone <-chan error) ending {
	var e ending
	total := int64(len(r.samples))
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	lastN, lastChange := int64(-1), time.Now()
	var lastLagCheck time.Time
	for {
		select {
		case <-ctx.Done():
			e.interrupted = true
			return e
		case err := <-prodDone:
			e.produced, e.produceErr = true, err
			prodDone = nil
			if err != nil {
				return e
			}
		case err := <-runDone:
			e.runEnded, e.runErr = true, err
			return e
		case <-tick.C:
		}
		n := r.obs.finished.Load()
		if n != lastN {
			lastN, lastChange = n, time.Now()
		}
		if e.produced && n >= total && time.Since(lastLagCheck) >= 100*time.Millisecond {
			lastLagCheck = time.Now()
			if committed, end, err := r.offsets(ctx); err == nil && equalOffsets(committed, end) {
				e.lagZero = true
				return e
			}
		}
		if time.Since(lastChange) > r.o.StallTimeout {
			e.stalled = true
			return e
		}
	}
}

// offsets returns the group's committed offsets and the end offsets of the
// source topic, by partition.
func (r *runner) offsets(ctx context.Context) (committed, end map[int32]int64, err error) {
	ends, err := r.adm.ListEndOffsets(ctx, Topic)
	if err != nil {
		return nil, nil, err
	}
	if err := ends.Error(); err != nil {
		return nil, nil, err
	}
	end = map[int32]int64{}
	ends.Each(func(lo kadm.ListedOffset) { end[lo.Partition] = lo.Offset })
	offs, err := r.adm.FetchOffsets(ctx, GroupID)
	if err != nil {
		return nil, nil, err
	}
	if err := offs.Error(); err != nil {
		return nil, nil, err
	}
	committed = map[int32]int64{}
	offs.Each(func(or kadm.OffsetResponse) {
		if or.Topic == Topic {
			committed[or.Partition] = or.At
		}
	})
	return committed, end, nil
}

// equalOffsets reports whether every partition's committed offset is its
// end offset (a partition that never had a record needs no commit).
func equalOffsets(committed, end map[int32]int64) bool {
	for p, e := range end {
		c, ok := committed[p]
		if !ok {
			c = 0
		}
		if c != e {
			return false
		}
	}
	return len(end) > 0
}

// createTopics creates [Topic] and [DLQTopic] on an external cluster unless
// they exist.
func (r *runner) createTopics(ctx context.Context) error {
	for _, t := range []string{Topic, DLQTopic} {
		resp, err := r.adm.CreateTopic(ctx, int32(r.o.Partitions), -1, nil, t)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	return nil
}

// readDLQ reads every committed record of the DLQ topic.
func (r *runner) readDLQ(ctx context.Context) ([]*kgo.Record, error) {
	ends, err := r.adm.ListEndOffsets(ctx, DLQTopic)
	if err != nil {
		return nil, err
	}
	if err := ends.Error(); err != nil {
		return nil, err
	}
	want := map[int32]int64{}
	ends.Each(func(lo kadm.ListedOffset) {
		if lo.Offset > 0 {
			want[lo.Partition] = lo.Offset
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	// Dead letters are written in transactions: read the committed ones,
	// and see the markers, which occupy offsets up to the end.
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.brokers...), kgo.ConsumeTopics(DLQTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("read %s: %w", DLQTopic, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return out, fmt.Errorf("read %s: %w", DLQTopic, ferr)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			if !rec.Attrs.IsControl() {
				out = append(out, rec)
			}
			if end, ok := want[rec.Partition]; ok && rec.Offset >= end-1 {
				delete(want, rec.Partition)
			}
		})
	}
	return out, nil
}

// orderOf reads attributes.orderId of an accepted event's body.
func orderOf(body []byte) (string, bool) {
	var ev struct {
		Attributes struct {
			OrderID string `json:"orderId"`
		} `json:"attributes"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.Attributes.OrderID == "" {
		return "", false
	}
	return ev.Attributes.OrderID, true
}
