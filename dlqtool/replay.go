package dlqtool

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/time/rate"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/kafkaconn"
	"github.com/cxone-bridge/bridge/termsafe"
)

// DefaultMaxReplays is the default ReplayOptions.MaxReplays.
const DefaultMaxReplays = 3

// DefaultGroup is the replay consumer group of a DLQ topic:
// "<dlq topic>.replay".
func DefaultGroup(dlqTopic string) string { return dlqTopic + ".replay" }

// ReplayOptions configure Replay.
type ReplayOptions struct {
	// KafkaOpts connect to the cluster (KafkaOpts(cfg), plus any extra).
	KafkaOpts []kgo.Opt
	// Topic is the DLQ topic to replay.
	Topic string
	// To, when set, is the topic every replayed record goes to (not a
	// dead-letter topic: Routes.CheckTo); otherwise each goes to the
	// source topic of its envelope, if Routes accepts it (Routes.Check).
	To string
	// CorrelationHeaders are the configuration's correlation.headers. A
	// record whose envelope names a correlation id is replayed with that id
	// in the first of them that is not traceparent (unless it already
	// carries it there), so that the bridge gives it the same id again: a
	// record without a correlation header was given one derived from its
	// topic, partition and offset, which its replay does not share. Nil:
	// no header added.
	CorrelationHeaders []string
	// Routes are the configuration's routes (NewRoutes). Without To, a
	// record whose source topic they do not route, or that is a
	// dead-letter topic, is refused; with Routes nil, every record is.
	Routes *Routes
	// Filter selects the records to replay; the others are skipped (and
	// committed past).
	Filter Filter
	// DryRun reads from the group's position without joining it and
	// reports what a replay would do; it writes and commits nothing.
	DryRun bool
	// Samples is how many records a dry run shows (default 5; NoSamples:
	// none).
	Samples int
	// Rate bounds the records produced per second (0: no bound).
	Rate float64
	// Max stops the replay after this many records were replayed (0: no
	// bound).
	Max int64
	// MaxReplays refuses records whose replay count is at or above it
	// (0: DefaultMaxReplays; at most dlq.MaxReplayCount).
	MaxReplays int
	// Group is the replay's consumer group (default DefaultGroup(Topic)).
	Group string
	// TransactionalID is the producer's transactional id (default: the
	// group). A replay that starts with the same id fences a previous one
	// that was killed and aborts its open transaction.
	TransactionalID string
	// SessionTimeout of the group member (default 10 s). After a replay
	// was killed, a new one waits up to this long for the dead member to
	// leave the group.
	SessionTimeout time.Duration
	// BatchSize bounds the records of one transaction (default 500; with
	// Rate, also about one second's worth).
	BatchSize int
	// Progress, if not nil, receives a progress bar (on a terminal) or a
	// plain line every ProgressInterval (default 2 s; 250 ms on a
	// terminal; see package progress).
	Progress         io.Writer
	ProgressInterval time.Duration
	// Report, if not nil, receives one line per refused or malformed
	// record once its batch is committed.
	Report io.Writer
}

// ReplaySummary is what a replay did (or, dry run, would do). Counts
// cover committed batches only: work of a batch that was aborted (signal,
// rebalance) is done again by the next batch or run.
type ReplaySummary struct {
	Topic           string `json:"topic"`
	Group           string `json:"group,omitempty"`
	TransactionalID string `json:"transactional_id,omitempty"`
	DryRun          bool   `json:"dry_run"`
	Filter          string `json:"filter"`
	MaxReplays      int    `json:"max_replays"`
	// Read counts the DLQ records handled (control records excluded).
	Read int64 `json:"read"`
	// Replayed were produced (dry run: would be).
	Replayed        int64 `json:"replayed"`
	SkippedByFilter int64 `json:"skipped_by_filter"`
	// Refused reached MaxReplays, lack their value, or name a source
	// topic the configuration does not route (without To).
	Refused int64 `json:"refused"`
	// Malformed have a missing or garbled envelope.
	Malformed     int64                   `json:"malformed"`
	ByClass       map[string]*ClassCounts `json:"by_class"`
	ByDestination map[string]int64        `json:"by_destination"`
	// Problems lists the first MaxListed refused and malformed records.
	Problems []Problem `json:"problems,omitempty"`
	// Samples are the first records a dry run would replay.
	Samples []ShownRecord `json:"samples,omitempty"`
	// PastByGroup is how many offsets of the DLQ the group's position was
	// already past when the run started (records an earlier replay, with
	// the same group, read): they are not read again.
	PastByGroup int64 `json:"past_by_group"`
	// Remaining is how many offsets of the DLQ (as of the start) are left
	// for a next run: after Max, or an interruption.
	Remaining    int64   `json:"remaining"`
	StoppedAtMax bool    `json:"stopped_at_max,omitempty"`
	Interrupted  bool    `json:"interrupted,omitempty"`
	Seconds      float64 `json:"seconds"`
	// PerSecond is Replayed over the run time.
	PerSecond float64 `json:"replayed_per_second"`
}

// ClassCounts are the outcomes of one error class.
type ClassCounts struct {
	Replayed        int64 `json:"replayed"`
	SkippedByFilter int64 `json:"skipped_by_filter"`
	Refused         int64 `json:"refused"`
}

// Failed reports whether records were refused or malformed: the exit
// status of `bridge dlq replay` is 1 then.
func (s *ReplaySummary) Failed() bool { return s.Refused > 0 || s.Malformed > 0 }

type outcome int

const (
	outReplay outcome = iota
	outSkip
	outRefuse
	outMalformed
	outControl
)

// NoSamples as [ReplayOptions.Samples] shows no record in a dry run.
const NoSamples = -1

// decision is what happens to one DLQ record.
type decision struct {
	kind  outcome
	class string
	out   *kgo.Record // outReplay
	why   string      // outRefuse, outMalformed
}

func (o *ReplayOptions) decide(r *kgo.Record) decision {
	if r.Attrs.IsControl() {
		return decision{kind: outControl}
	}
	env, orig, err := dlq.Parse(r.Headers)
	if err != nil {
		return decision{kind: outMalformed, why: err.Error()}
	}
	d := decision{class: env.Class}
	dest := cmp.Or(o.To, env.Topic)
	var unrouted error
	if o.To == "" {
		unrouted = o.Routes.Check(env.Topic, o.Topic)
	}
	switch {
	case !o.Filter.Match(r, env):
		d.kind = outSkip
	case unrouted != nil:
		d.kind, d.why = outRefuse, unrouted.Error()
	case env.ReplayCount >= o.MaxReplays:
		d.kind, d.why = outRefuse, fmt.Sprintf("replayed %d times already (limit %d)", env.ReplayCount, o.MaxReplays)
	case env.ValueOmitted > 0:
		d.kind, d.why = outRefuse, fmt.Sprintf("value of %d bytes was left out of the DLQ; read it at %s partition %d offset %d", env.ValueOmitted, env.Topic, env.Partition, env.Offset)
	default:
		d.kind = outReplay
		hs := make([]kgo.RecordHeader, 0, len(orig)+2)
		hs = append(hs, orig...)
		hs = o.keepCorrelation(hs, env.CorrelationID)
		hs = append(hs, kgo.RecordHeader{Key: dlq.HeaderReplayCount, Value: []byte(strconv.Itoa(env.ReplayCount + 1))})
		// No partition and no timestamp: the default partitioner places
		// the record by its key, as at the source, and the timestamp is
		// the replay's (an old one could be deleted at once by
		// time-based retention).
		d.out = &kgo.Record{Topic: dest, Key: r.Key, Value: r.Value, Headers: hs}
	}
	return d
}

// keepCorrelation puts id, the correlation id the record had when it
// failed, in the first of o.CorrelationHeaders that is not traceparent,
// replacing any value it had there (one the bridge did not take: too long,
// not printable), unless it holds id already.
func (o *ReplayOptions) keepCorrelation(hs []kgo.RecordHeader, id string) []kgo.RecordHeader {
	if id == "" {
		return hs
	}
	name := ""
	for _, h := range o.CorrelationHeaders {
		if !strings.EqualFold(h, "traceparent") {
			name = h
			break
		}
	}
	if name == "" {
		return hs
	}
	for _, h := range hs {
		if strings.EqualFold(h.Key, name) && string(h.Value) == id {
			return hs // already there, as the bridge read it
		}
	}
	out := make([]kgo.RecordHeader, 0, len(hs)+1)
	for _, h := range hs {
		if !strings.EqualFold(h.Key, name) {
			out = append(out, h)
		}
	}
	return append(out, kgo.RecordHeader{Key: name, Value: []byte(id)})
}

// tally is the outcome counts of a batch, merged into the summary when the
// batch is committed.
type tally struct {
	read, replayed, skipped, refused, malformed, offsets int64
	byClass                                              map[string]*ClassCounts
	byDest                                               map[string]int64
	problems                                             []Problem
	done                                                 []int32 // partitions that reached their end
}

func newTally() *tally {
	return &tally{byClass: map[string]*ClassCounts{}, byDest: map[string]int64{}}
}

func (t *tally) add(r *kgo.Record, d decision) {
	t.offsets++
	if d.kind == outControl {
		return
	}
	t.read++
	cc := t.byClass[d.class]
	if cc == nil && d.class != "" {
		cc = &ClassCounts{}
		t.byClass[d.class] = cc
	}
	switch d.kind {
	case outReplay:
		t.replayed++
		cc.Replayed++
		t.byDest[d.out.Topic]++
	case outSkip:
		t.skipped++
		cc.SkippedByFilter++
	case outRefuse:
		t.refused++
		cc.Refused++
		t.problems = append(t.problems, Problem{Partition: r.Partition, Offset: r.Offset, Class: d.class, Error: "refused: " + d.why})
	case outMalformed:
		t.malformed++
		t.problems = append(t.problems, Problem{Partition: r.Partition, Offset: r.Offset, Class: d.class, Error: "malformed: " + d.why})
	}
}

func (s *ReplaySummary) merge(t *tally, report io.Writer) {
	s.Read += t.read
	s.Replayed += t.replayed
	s.SkippedByFilter += t.skipped
	s.Refused += t.refused
	s.Malformed += t.malformed
	for k, v := range t.byClass {
		cc := s.ByClass[k]
		if cc == nil {
			cc = &ClassCounts{}
			s.ByClass[k] = cc
		}
		cc.Replayed += v.Replayed
		cc.SkippedByFilter += v.SkippedByFilter
		cc.Refused += v.Refused
	}
	for k, v := range t.byDest {
		s.ByDestination[k] += v
	}
	for _, p := range t.problems {
		if len(s.Problems) < MaxListed {
			s.Problems = append(s.Problems, p)
		}
		if report != nil {
			fmt.Fprintf(report, "%s partition %d offset %d: %s\n", termsafe.String(s.Topic), p.Partition, p.Offset, termsafe.String(p.Error))
		}
	}
}

// ErrInterrupted is returned with the summary when ctx ended the replay
// early: what was committed stays, a rerun resumes after it.
var ErrInterrupted = errors.New("replay interrupted; run the same command again to resume")

// Replay replays the DLQ topic as o says and returns the summary, also
// with an error (then the summary covers what was committed before it).
func Replay(ctx context.Context, o ReplayOptions) (*ReplaySummary, error) {
	if o.MaxReplays == 0 {
		o.MaxReplays = DefaultMaxReplays
	}
	o.Group = cmp.Or(o.Group, DefaultGroup(o.Topic))
	o.TransactionalID = cmp.Or(o.TransactionalID, o.Group)
	o.SessionTimeout = cmp.Or(o.SessionTimeout, 10*time.Second)
	o.BatchSize = cmp.Or(o.BatchSize, 500)
	o.Samples = cmp.Or(o.Samples, 5)
	if o.Samples < 0 {
		o.Samples = 0
	}
	if err := o.Filter.Validate(); err != nil {
		return nil, err
	}
	if o.MaxReplays < 0 || o.MaxReplays > dlq.MaxReplayCount {
		return nil, fmt.Errorf("max replays %d: want 1 to %d", o.MaxReplays, dlq.MaxReplayCount)
	}
	if o.To != "" {
		if err := o.Routes.CheckTo(o.To, o.Topic); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	sum := &ReplaySummary{
		Topic: o.Topic, Group: o.Group, DryRun: o.DryRun, Filter: o.Filter.String(), MaxReplays: o.MaxReplays,
		ByClass: map[string]*ClassCounts{}, ByDestination: map[string]int64{},
	}
	if !o.DryRun {
		sum.TransactionalID = o.TransactionalID
	}
	admCl, err := kgo.NewClient(o.KafkaOpts...)
	if err != nil {
		return nil, err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	b, err := topicBounds(ctx, adm, o.Topic, o.Group)
	if err != nil {
		return nil, err
	}
	if whole, err := topicBounds(ctx, adm, o.Topic, ""); err == nil {
		sum.PastByGroup = max(0, whole.pending()-b.pending())
	}
	dests := &destinations{adm: adm, known: map[string]error{}}
	if o.To != "" {
		if err := dests.check(ctx, o.To); err != nil {
			return nil, err
		}
	}
	total := b.pending()
	prog := newProgress(o.Progress, o.ProgressInterval, total, o.DryRun)
	stopProg := prog.start()
	if o.DryRun {
		err = o.dryRun(ctx, b, sum, prog)
	} else {
		err = o.replay(ctx, b, sum, prog, dests)
		if errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.ProducerFenced) {
			err = fmt.Errorf("another replay with transactional id %s took over (a second replay of %s with the same --group or --transactional-id?): this one stopped; its committed batches stand and the other goes on from them: %w",
				o.TransactionalID, o.Topic, err)
		}
	}
	stopProg()
	sum.Remaining = max(0, total-prog.offsets.Load())
	sum.Seconds = time.Since(start).Seconds()
	if sum.Seconds > 0 {
		sum.PerSecond = float64(sum.Replayed) / sum.Seconds
	}
	if errors.Is(err, ErrInterrupted) {
		sum.Interrupted = true
	}
	return sum, err
}

func (o *ReplayOptions) dryRun(ctx context.Context, b bounds, sum *ReplaySummary, prog *replayProgress) error {
	err := scan(ctx, o.KafkaOpts, o.Topic, b, func(r *kgo.Record) bool {
		d := o.decide(r)
		t := newTally()
		t.add(r, d)
		sum.merge(t, o.Report)
		prog.add(t)
		if d.kind == outReplay && len(sum.Samples) < o.Samples {
			env, orig, _ := dlq.Parse(r.Headers)
			s := showRecord(r, env, orig, nil, 256)
			s.Headers = append(s.Headers, Header{Key: dlq.HeaderReplayCount, Value: string(d.out.Headers[len(d.out.Headers)-1].Value)})
			sum.Samples = append(sum.Samples, s)
		}
		if o.Max > 0 && sum.Replayed >= o.Max {
			sum.StoppedAtMax = true
			return false
		}
		return true
	})
	if err != nil && ctx.Err() != nil {
		return ErrInterrupted
	}
	return err
}

// destinations checks, once per topic, that a destination exists:
// producing to a missing topic would only time out.
type destinations struct {
	adm   *kadm.Client
	known map[string]error
}

func (d *destinations) check(ctx context.Context, topic string) error {
	if err, ok := d.known[topic]; ok {
		return err
	}
	td, err := d.adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("look up destination topic %s: %w", topic, err)
	}
	if t, ok := td[topic]; !ok || t.Err != nil {
		err = fmt.Errorf("destination topic %s does not exist", topic)
	}
	d.known[topic] = err
	return err
}

// sessionOpts are the options of the replay's transactional session: o's
// connection, its group reading the DLQ topic's committed records, and
// its transactional id.
func (o *ReplayOptions) sessionOpts() []kgo.Opt {
	opts := append(append([]kgo.Opt(nil), o.KafkaOpts...),
		kgo.ConsumerGroup(o.Group),
		kgo.ConsumeTopics(o.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.SessionTimeout(o.SessionTimeout),
		kgo.TransactionalID(o.TransactionalID),
	)
	return append(opts, kafkaconn.Transactional()...) // no stalls between back-to-back transactions
}

func (o *ReplayOptions) replay(ctx context.Context, b bounds, sum *ReplaySummary, prog *replayProgress, dests *destinations) error {
	left := map[int32]bool{}
	for p, e := range b.end {
		if b.from[p] < e {
			left[p] = true
		}
	}
	if len(left) == 0 {
		return nil
	}
	sess, err := kgo.NewGroupTransactSession(o.sessionOpts()...)
	if err != nil {
		return err
	}
	defer sess.Close()
	var limiter *rate.Limiter
	if o.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(o.Rate), 1)
	}
	endCtx := func() (context.Context, context.CancelFunc) {
		// Ending a transaction must not be cut short by the signal that
		// stops the replay.
		return context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	}
	for len(left) > 0 {
		n := o.BatchSize
		if o.Rate > 0 {
			n = min(n, max(1, int(math.Ceil(o.Rate))))
		}
		if o.Max > 0 {
			if sum.Replayed >= o.Max {
				sum.StoppedAtMax = true
				return nil
			}
			// Every polled record is committed with the batch, so poll
			// no more than may still be replayed.
			n = min(n, int(o.Max-sum.Replayed))
		}
		fs := sess.PollRecords(ctx, n)
		if ctx.Err() != nil {
			return ErrInterrupted
		}
		if err := fetchErr(fs); err != nil {
			return err
		}
		if fs.Empty() {
			continue
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		t := newTally()
		var (
			mu         sync.Mutex
			produceErr error
		)
		var stop error
		fs.EachRecord(func(r *kgo.Record) {
			if stop != nil {
				return
			}
			d := o.decide(r)
			if d.kind == outReplay {
				if err := dests.check(ctx, d.out.Topic); err != nil {
					stop = err
					return
				}
				if limiter != nil {
					if err := limiter.Wait(ctx); err != nil {
						stop = ErrInterrupted
						return
					}
				}
				sess.Produce(context.WithoutCancel(ctx), d.out, func(_ *kgo.Record, err error) {
					if err != nil {
						mu.Lock()
						produceErr = cmp.Or(produceErr, err)
						mu.Unlock()
					}
				})
			}
			t.add(r, d)
			if e, ok := b.end[r.Partition]; ok && r.Offset+1 >= e {
				t.done = append(t.done, r.Partition)
			}
		})
		ectx, cancel := endCtx()
		if stop == nil {
			if err := sess.Client().Flush(ectx); err != nil {
				stop = fmt.Errorf("flush: %w", err)
			}
		}
		mu.Lock()
		if stop == nil && produceErr != nil {
			stop = fmt.Errorf("produce: %w", produceErr)
		}
		mu.Unlock()
		committed, err := sess.End(ectx, kgo.TransactionEndTry(stop == nil))
		cancel()
		if err != nil {
			return cmp.Or(stop, fmt.Errorf("end transaction: %w", err))
		}
		if stop != nil {
			return stop // aborted: nothing of this batch is visible or committed
		}
		if !committed {
			continue // a rebalance aborted the batch; its records come again
		}
		sum.merge(t, o.Report)
		prog.add(t)
		for _, p := range t.done {
			delete(left, p)
		}
	}
	return nil
}

// WriteText writes the summary for people.
func (s *ReplaySummary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	verb := "replayed"
	if s.DryRun {
		verb = "would replay"
		fmt.Fprintf(tw, "DRY RUN of %s from the position of group %s: nothing written, nothing committed\n", safe(s.Topic), safe(s.Group))
	} else {
		fmt.Fprintf(tw, "replay of %s (group %s, transactional id %s)\n", safe(s.Topic), safe(s.Group), safe(s.TransactionalID))
	}
	fmt.Fprintf(tw, "filter: %s; refusing records replayed %d times or more\n", safe(s.Filter), s.MaxReplays)
	rate := "" // a dry run writes nothing: its pace says nothing of a replay's
	if !s.DryRun {
		rate = fmt.Sprintf(" (%.1f/s)", s.PerSecond)
	}
	fmt.Fprintf(tw, "read %d records in %.1fs: %s %d%s, skipped by filter %d, refused %d, malformed %d\n",
		s.Read, s.Seconds, verb, s.Replayed, rate, s.SkippedByFilter, s.Refused, s.Malformed)
	switch {
	case s.Read == 0 && s.PastByGroup > 0:
		fmt.Fprintf(tw, "nothing to replay: group %s is already past all %s offsets of %s (an earlier replay with this group read them); to read them again, use another --group\n",
			safe(s.Group), itoa(s.PastByGroup), safe(s.Topic))
	case s.PastByGroup > 0:
		fmt.Fprintf(tw, "group %s was already past %s offsets of %s: not read again (another --group reads them)\n", safe(s.Group), itoa(s.PastByGroup), safe(s.Topic))
	}
	switch {
	case s.Interrupted:
		fmt.Fprintf(tw, "INTERRUPTED with %d offsets left: run the same command again to resume\n", s.Remaining)
	case s.StoppedAtMax:
		fmt.Fprintf(tw, "stopped at --max with %d offsets left: run again to go on\n", s.Remaining)
	}
	if len(s.ByClass) > 0 {
		fmt.Fprintf(tw, "\nCLASS\t%s\tSKIPPED BY FILTER\tREFUSED\n", upper(verb))
		for _, k := range slices.Sorted(maps.Keys(s.ByClass)) {
			c := s.ByClass[k]
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", safe(k), c.Replayed, c.SkippedByFilter, c.Refused)
		}
	}
	if len(s.ByDestination) > 0 {
		fmt.Fprintln(tw, "\nDESTINATION\tRECORDS")
		for _, k := range slices.Sorted(maps.Keys(s.ByDestination)) {
			fmt.Fprintf(tw, "%s\t%d\n", safe(k), s.ByDestination[k])
		}
	}
	if len(s.Problems) > 0 {
		fmt.Fprintln(tw, "\nNOT REPLAYED\tWHY")
		for _, p := range s.Problems {
			fmt.Fprintf(tw, "%d@%d\t%s\n", p.Partition, p.Offset, safe(p.Error))
		}
		if n := s.Refused + s.Malformed - int64(len(s.Problems)); n > 0 {
			fmt.Fprintf(tw, "… and %s more\n", itoa(n))
		}
	}
	if !s.DryRun && !s.Interrupted && s.SkippedByFilter > 0 {
		fmt.Fprintf(tw, "\nnote: group %s is now past the %d records the filter skipped; to replay them later, use another --group\n", safe(s.Group), s.SkippedByFilter)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range s.Samples {
		if err := r.writeText(w); err != nil {
			return err
		}
	}
	return nil
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
