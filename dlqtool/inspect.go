package dlqtool

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/termsafe"
)

// InspectOptions configure Inspect.
type InspectOptions struct {
	// KafkaOpts connect to the cluster (KafkaOpts(cfg), plus any extra).
	KafkaOpts []kgo.Opt
	// Topic is the DLQ topic.
	Topic string
	// Filter selects the records counted and shown (the zero Filter: every
	// record). Malformed records are counted and listed whatever the
	// filter; they are shown only when it is empty, as no criterion can
	// hold for a record without an envelope.
	Filter Filter
	// Show is how many of the selected records to show in full (the first
	// ones), 0 for none; ShowAll, every one (with Lines only: Shown is
	// held in memory).
	Show int
	// Full shows values, decoded values, keys and header values whole;
	// otherwise a value is cut at ValueExcerpt bytes, a decoded one at
	// MaxDecodedShown, and the text output cuts keys and header values at
	// 256 bytes.
	Full bool
	// ValueExcerpt bounds the value shown per record (default 256 bytes).
	ValueExcerpt int
	// Top is how many distinct messages each class and reason lists, most
	// frequent first: 0 for DefaultTop, negative for all of them.
	Top int
	// DecodeValue, when set, decodes a shown record's value written in a
	// schema registry's wire format into JSON, for the source topic's
	// route: nil JSON and a nil error when the route reads JSON. The
	// decoded value is shown beside the bytes (up to [MaxDecodedShown]
	// without Full); an error is shown instead, and never stops the
	// reading. Lines are not decoded: bridge dry-run decodes them.
	DecodeValue func(ctx context.Context, sourceTopic string, value []byte) ([]byte, error)
	// Lines, when set, receives the shown records as JSON lines (see
	// [Line]), the form `bridge dry-run` reads, instead of keeping them in
	// the report's Shown; values are always whole there. Malformed records
	// and records stored without their value are left out of them.
	Lines io.Writer
	// Replayed reports, for each consumer group with committed offsets on
	// the topic (the replay groups), its position and how many of the
	// selected records lie behind and ahead of it.
	Replayed bool
}

// ShowAll as [InspectOptions.Show] shows every selected record.
const ShowAll = -1

// DefaultTop is the default [InspectOptions.Top].
const DefaultTop = 10

// DefaultValueExcerpt is the default [InspectOptions.ValueExcerpt].
const DefaultValueExcerpt = 256

// MaxDistinctMessages bounds the distinct messages an inspection tells
// apart in a topic, so that its memory does not grow with a DLQ whose
// every message differs (each one is at most dlq.MaxMessageBytes). The
// records of messages first seen past it are counted apart
// ([ReasonCount.Untracked]).
const MaxDistinctMessages = 10000

// MaxDecodedShown bounds the decoded value shown per record (without
// [InspectOptions.Full]).
const MaxDecodedShown = 4096

// MaxListed bounds the malformed records (inspect) and problems (replay)
// listed one by one in a report; counts are always complete.
const MaxListed = 100

// textCut bounds keys and header values in the text output (without
// Full).
const textCut = 256

// InspectReport summarises a DLQ topic from its start to its end as of
// the call.
//
// Everything in it that comes from a record (keys, values, headers, the
// envelope's fields) is held as it is: the JSON output carries it escaped
// only as JSON requires, and the text output escapes it once, when it
// writes it (package termsafe).
type InspectReport struct {
	Topic      string `json:"topic"`
	Partitions int    `json:"partitions"`
	// Records counts the records read (control records of transactions
	// excluded); Malformed those whose envelope is missing or garbled.
	Records   int64 `json:"records"`
	Malformed int64 `json:"malformed"`
	// Filter describes InspectOptions.Filter ("all records" when empty);
	// Selected counts the records with a readable envelope it selects.
	Filter   string `json:"filter"`
	Selected int64  `json:"selected"`
	// The counts below are over the selected records.
	ByClass       map[string]int64 `json:"by_class"`
	ByReason      []ReasonCount    `json:"by_reason"`
	BySourceTopic map[string]int64 `json:"by_source_topic"`
	ByReplayCount map[int]int64    `json:"by_replay_count"`
	// ReplayCountIgnored counts the records whose replay count header
	// was not a count (forged or garbled): they are counted under 0.
	ReplayCountIgnored int64      `json:"replay_count_ignored,omitempty"`
	ValueOmitted       int64      `json:"value_omitted"`
	FirstFailure       *time.Time `json:"first_failure,omitempty"`
	LastFailure        *time.Time `json:"last_failure,omitempty"`
	// MalformedRecords lists the first MaxListed malformed records.
	MalformedRecords []Problem `json:"malformed_records,omitempty"`
	// Shown are the first InspectOptions.Show selected records in full
	// (none with InspectOptions.Lines).
	Shown []ShownRecord `json:"records_shown,omitempty"`
	// Written counts the lines written to InspectOptions.Lines; LeftOut
	// the selected records left out of them because the DLQ does not hold
	// their value (too large: read it at the source offset).
	Written int64 `json:"lines_written,omitempty"`
	LeftOut int64 `json:"lines_left_out,omitempty"`
	// ReplayGroups are the consumer groups with committed offsets on the
	// topic, by name (InspectOptions.Replayed: empty when there is none;
	// nil, JSON null, without it).
	ReplayGroups []GroupPosition `json:"replay_groups"`
}

// ReasonCount is the number of records of one class and reason, and their
// distinct messages with their counts.
type ReasonCount struct {
	Class   string `json:"class"`
	Reason  string `json:"reason"`
	Records int64  `json:"records"`
	// Example is the most frequent message (that of Messages[0]).
	Example string `json:"example_message"`
	// Messages are the distinct messages, most frequent first (then in
	// byte order), the first InspectOptions.Top of them. Messages that
	// differ only by a value they quote are distinct.
	Messages []MessageCount `json:"messages"`
	// Distinct is how many distinct messages there are; MoreMessages how
	// many of them are left out of Messages, and MoreRecords their
	// records.
	Distinct     int   `json:"distinct_messages"`
	MoreMessages int   `json:"more_messages,omitempty"`
	MoreRecords  int64 `json:"more_messages_records,omitempty"`
	// Untracked counts the records whose message was first seen after
	// MaxDistinctMessages distinct messages of the topic: they are not
	// told apart, nor counted in Distinct.
	Untracked int64 `json:"untracked_records,omitempty"`
}

// MessageCount is one distinct message and its number of records.
type MessageCount struct {
	Message string `json:"message"`
	Records int64  `json:"records"`
}

// GroupPosition is how far a consumer group (a replay's) has read a DLQ
// topic.
type GroupPosition struct {
	Group string `json:"group"`
	// Committed is, per partition of the DLQ topic, the group's committed
	// offset: the next one it reads; it has passed every offset below.
	// Partitions without a committed offset are left out.
	Committed map[int32]int64 `json:"committed,omitempty"`
	// Behind counts the selected records below the group's position:
	// replayed, or passed over (skipped by the replay's filter, refused).
	// Ahead counts those it has not read yet.
	Behind int64 `json:"behind"`
	Ahead  int64 `json:"ahead"`
	// Error is why the group's offsets could not be read.
	Error string `json:"error,omitempty"`
}

// Problem is a DLQ record that was not replayed, or not readable, and why.
type Problem struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Class     string `json:"class,omitempty"`
	Error     string `json:"error"`
}

// ShownRecord is one DLQ record as inspect --show (and a replay's dry run)
// shows it. Every field holds the record's data as it is; bytes that are
// not UTF-8 (which JSON cannot carry) are in the _base64 field instead of
// the text one. The text output escapes it (package termsafe: a control
// character or a byte that is not UTF-8 as \xNN, other characters that
// are not printable as \uNNNN, a backslash as \\).
//
// Timestamp is the DLQ record's Kafka timestamp: the failure time, as in
// the envelope's failed_at (older bridges wrote the source timestamp
// there; the envelope's source_timestamp is the source time in either
// case).
type ShownRecord struct {
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp"`
	// Key is nil for a null key, and when the key is not UTF-8 (then
	// KeyBase64 holds it).
	Key        *string `json:"key"`
	KeyBase64  *string `json:"key_base64,omitempty"`
	ValueBytes int     `json:"value_bytes"`
	// Value is the value, or its first InspectOptions.ValueExcerpt bytes
	// (cut on a character boundary) when ValueTruncated; nil for a null
	// value, and when the value is not UTF-8 (then ValueBase64 holds it).
	Value          *string `json:"value"`
	ValueBase64    *string `json:"value_base64,omitempty"`
	ValueTruncated bool    `json:"value_truncated,omitempty"`
	// ValueDecoded is the value decoded from its schema registry format
	// (Avro, Protobuf, JSON Schema) into JSON, when the source topic's
	// route has such a format; DecodeError says why it could not be.
	ValueDecoded     *string  `json:"value_decoded,omitempty"`
	DecodedTruncated bool     `json:"value_decoded_truncated,omitempty"`
	DecodeError      string   `json:"decode_error,omitempty"`
	Headers          []Header `json:"headers"` // the original headers (all headers when malformed)
	// Envelope is the decoded envelope; Error says why it could not be
	// read.
	Envelope *EnvelopeJS `json:"envelope,omitempty"`
	Error    string      `json:"error,omitempty"`
	// full prints keys and header values whole (InspectOptions.Full).
	full bool
}

// Header is a record header. Value is nil when the value is not UTF-8
// (then ValueBase64 holds it).
type Header struct {
	Key         string  `json:"key"`
	Value       string  `json:"value"`
	ValueBase64 *string `json:"value_base64,omitempty"`
}

// EnvelopeJS is a decoded envelope with stable JSON names (those of the
// headers, without the prefix). Its free-text fields (message, response,
// correlation id, idempotency key) are as the headers hold them.
type EnvelopeJS struct {
	Version         int       `json:"version"`
	Class           string    `json:"error_class"`
	Reason          string    `json:"error_reason"`
	Message         string    `json:"error_message"`
	HTTPStatus      int       `json:"http_status,omitempty"`
	Response        string    `json:"http_response,omitempty"`
	SourceTopic     string    `json:"source_topic"`
	SourcePartition int32     `json:"source_partition"`
	SourceOffset    int64     `json:"source_offset"`
	SourceTimestamp time.Time `json:"source_timestamp"`
	Attempts        int       `json:"attempts"`
	FailedAt        time.Time `json:"failed_at"`
	CorrelationID   string    `json:"correlation_id,omitempty"`
	IdempotencyKey  string    `json:"idempotency_key,omitempty"`
	ReplayCount     int       `json:"replay_count"`
	// IgnoredReplayCount is the replay count header when it was not a
	// count and was ignored (ReplayCount is then 0).
	IgnoredReplayCount string `json:"replay_count_ignored,omitempty"`
	ValueOmitted       int    `json:"value_omitted,omitempty"`
}

func envelopeJS(e *dlq.Envelope) *EnvelopeJS {
	return &EnvelopeJS{
		Version: e.Version, Class: e.Class, Reason: e.Reason, Message: e.Message,
		HTTPStatus: e.HTTPStatus, Response: e.Response,
		SourceTopic: e.Topic, SourcePartition: e.Partition, SourceOffset: e.Offset, SourceTimestamp: e.Timestamp,
		Attempts: e.Attempts, FailedAt: e.FailedAt, CorrelationID: e.CorrelationID,
		IdempotencyKey: e.IdempotencyKey, ReplayCount: e.ReplayCount,
		IgnoredReplayCount: e.IgnoredReplayCount, ValueOmitted: e.ValueOmitted,
	}
}

// Line is one line of `bridge dlq inspect --output jsonl`: a dead letter's
// original record in the fields `bridge dry-run` reads (the source topic,
// partition and offset, the key, the whole value, the original headers),
// and the dead letter itself under "dlq", which dry-run ignores. It has no
// timestamp: dry-run then uses the time it runs, as a replayed record
// carries the time of its replay. Bytes that are not UTF-8 are in
// key_base64 and value_base64. Headers are by name (the first of a name
// counts) and must be UTF-8, as dry-run reads them.
type Line struct {
	Topic       string            `json:"topic"`
	Partition   int32             `json:"partition"`
	Offset      int64             `json:"offset"`
	Key         *string           `json:"key,omitempty"`
	KeyBase64   *string           `json:"key_base64,omitempty"`
	Value       *string           `json:"value"`
	ValueBase64 *string           `json:"value_base64,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
	DLQ         LineDLQ           `json:"dlq"`
}

// LineDLQ is where a dead letter is in the DLQ topic, its Kafka timestamp
// (the failure time) and its envelope.
type LineDLQ struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp"`
	*EnvelopeJS
}

// NewLine is the Line of DLQ record r, whose envelope is env and original
// headers orig.
func NewLine(r *kgo.Record, env *dlq.Envelope, orig []kgo.RecordHeader) Line {
	l := Line{Topic: env.Topic, Partition: env.Partition, Offset: env.Offset,
		DLQ: LineDLQ{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, EnvelopeJS: envelopeJS(env)}}
	if r.Key != nil {
		l.Key, l.KeyBase64 = text(r.Key)
	}
	if r.Value != nil {
		l.Value, l.ValueBase64 = text(r.Value)
	}
	for _, h := range orig {
		if l.Headers == nil {
			l.Headers = map[string]string{}
		}
		if _, dup := l.Headers[h.Key]; !dup {
			l.Headers[h.Key] = string(h.Value)
		}
	}
	return l
}

// writeLine writes l as one line of JSON, passed through termsafe.JSON
// like every JSON output of the tools.
func writeLine(w io.Writer, l *Line) error {
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode line: %w", err)
	}
	_, err = w.Write(append(termsafe.JSON(b), '\n'))
	return err
}

// text returns p as JSON carries it: as a string when it is UTF-8, else
// in base64.
func text(p []byte) (s, b64 *string) {
	if utf8.Valid(p) {
		v := string(p)
		return &v, nil
	}
	v := base64.StdEncoding.EncodeToString(p)
	return nil, &v
}

// raw is the bytes text returned.
func raw(s, b64 *string) []byte {
	switch {
	case s != nil:
		return []byte(*s)
	case b64 != nil:
		p, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			return []byte(*b64)
		}
		return p
	}
	return nil
}

// prefix is the first n bytes of p (all of p when n <= 0), cut on a
// character boundary.
func prefix(p []byte, n int) []byte {
	if n <= 0 || len(p) <= n {
		return p
	}
	p = p[:n]
	j := len(p) - 1
	for j > 0 && len(p)-j < utf8.UTFMax && !utf8.RuneStart(p[j]) {
		j--
	}
	if !utf8.FullRune(p[j:]) {
		p = p[:j]
	}
	return p
}

// reasonTally counts the records and messages of one class and reason.
type reasonTally struct {
	class, reason string
	records       int64
	messages      map[string]int64
	untracked     int64
}

// inspection is the state of one Inspect.
type inspection struct {
	o        *InspectOptions
	rep      *InspectReport
	reasons  map[[2]string]*reasonTally
	distinct int
}

// Inspect reads the DLQ topic from its start to its end (as of the call)
// and summarises the records o.Filter selects. It joins no consumer group
// and commits nothing. A record with a missing or garbled envelope is
// counted and listed as malformed; it never stops the reading.
func Inspect(ctx context.Context, o InspectOptions) (*InspectReport, error) {
	if o.ValueExcerpt <= 0 {
		o.ValueExcerpt = DefaultValueExcerpt
	}
	if o.Top == 0 {
		o.Top = DefaultTop
	}
	if err := o.Filter.Validate(); err != nil {
		return nil, err
	}
	if o.Show == ShowAll && o.Lines == nil {
		return nil, errors.New("inspect: every record is shown only as lines")
	}
	cl, err := kgo.NewClient(o.KafkaOpts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	b, err := topicBounds(ctx, adm, o.Topic, "")
	if err != nil {
		return nil, err
	}
	rep := &InspectReport{
		Topic: o.Topic, Partitions: len(b.end), Filter: o.Filter.String(),
		ByClass: map[string]int64{}, BySourceTopic: map[string]int64{}, ByReplayCount: map[int]int64{},
	}
	if o.Replayed {
		// Before the reading: a record below a group's position then
		// was read by the group.
		if rep.ReplayGroups, err = groupPositions(ctx, adm, o.Topic); err != nil {
			return nil, err
		}
	}
	in := &inspection{o: &o, rep: rep, reasons: map[[2]string]*reasonTally{}}
	var werr error
	err = scan(ctx, o.KafkaOpts, o.Topic, b, func(r *kgo.Record) bool {
		if r.Attrs.IsControl() {
			return true
		}
		werr = in.add(ctx, r)
		return werr == nil
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return nil, err
	}
	in.finish()
	return rep, nil
}

// wants reports whether one more record is shown after n.
func (o *InspectOptions) wants(n int64) bool { return o.Show == ShowAll || n < int64(o.Show) }

func (in *inspection) add(ctx context.Context, r *kgo.Record) error {
	o, rep := in.o, in.rep
	rep.Records++
	env, orig, perr := dlq.Parse(r.Headers)
	if perr != nil {
		rep.Malformed++
		if len(rep.MalformedRecords) < MaxListed {
			rep.MalformedRecords = append(rep.MalformedRecords, Problem{Partition: r.Partition, Offset: r.Offset, Error: perr.Error()})
		}
		if o.Lines == nil && o.Filter.Empty() && o.wants(int64(len(rep.Shown))) {
			rep.Shown = append(rep.Shown, in.show(ctx, r, nil, nil, perr))
		}
		return nil
	}
	if !o.Filter.Match(r, env) {
		return nil
	}
	rep.Selected++
	in.count(env)
	for i := range rep.ReplayGroups {
		g := &rep.ReplayGroups[i]
		if g.Error != "" {
			continue
		}
		if at, ok := g.Committed[r.Partition]; ok && r.Offset < at {
			g.Behind++
		} else {
			g.Ahead++
		}
	}
	switch {
	case o.Lines != nil && env.ValueOmitted > 0:
		rep.LeftOut++
	case o.Lines != nil && o.wants(rep.Written):
		l := NewLine(r, env, orig)
		if err := writeLine(o.Lines, &l); err != nil {
			return fmt.Errorf("write line: %w", err)
		}
		rep.Written++
	case o.Lines == nil && o.wants(int64(len(rep.Shown))):
		rep.Shown = append(rep.Shown, in.show(ctx, r, env, orig, nil))
	}
	return nil
}

// count adds a selected record to the counts.
func (in *inspection) count(env *dlq.Envelope) {
	rep := in.rep
	rep.ByClass[env.Class]++
	rep.BySourceTopic[env.Topic]++
	rep.ByReplayCount[env.ReplayCount]++
	if env.IgnoredReplayCount != "" {
		rep.ReplayCountIgnored++
	}
	if env.ValueOmitted > 0 {
		rep.ValueOmitted++
	}
	k := [2]string{env.Class, env.Reason}
	rt := in.reasons[k]
	if rt == nil {
		rt = &reasonTally{class: env.Class, reason: env.Reason, messages: map[string]int64{}}
		in.reasons[k] = rt
	}
	rt.records++
	switch n, ok := rt.messages[env.Message]; {
	case ok:
		rt.messages[env.Message] = n + 1
	case in.distinct < MaxDistinctMessages:
		rt.messages[env.Message] = 1
		in.distinct++
	default:
		rt.untracked++
	}
	if t := env.FailedAt; rep.FirstFailure == nil || t.Before(*rep.FirstFailure) {
		rep.FirstFailure = &t
	}
	if t := env.FailedAt; rep.LastFailure == nil || t.After(*rep.LastFailure) {
		rep.LastFailure = &t
	}
}

// finish turns the tallies into the report's ByReason, most records
// first.
func (in *inspection) finish() {
	for _, rt := range in.reasons {
		rc := ReasonCount{Class: rt.class, Reason: rt.reason, Records: rt.records, Untracked: rt.untracked, Distinct: len(rt.messages)}
		all := make([]MessageCount, 0, len(rt.messages))
		for m, n := range rt.messages {
			all = append(all, MessageCount{Message: m, Records: n})
		}
		slices.SortFunc(all, func(a, b MessageCount) int {
			return cmp.Or(cmp.Compare(b.Records, a.Records), cmp.Compare(a.Message, b.Message))
		})
		if len(all) > 0 {
			rc.Example = all[0].Message
		}
		if top := in.o.Top; top > 0 && len(all) > top {
			for _, m := range all[top:] {
				rc.MoreRecords += m.Records
			}
			rc.MoreMessages = len(all) - top
			all = all[:top]
		}
		rc.Messages = all
		in.rep.ByReason = append(in.rep.ByReason, rc)
	}
	slices.SortFunc(in.rep.ByReason, func(a, b ReasonCount) int {
		return cmp.Or(cmp.Compare(b.Records, a.Records), cmp.Compare(a.Class, b.Class), cmp.Compare(a.Reason, b.Reason))
	})
}

// show is record r as --show shows it.
func (in *inspection) show(ctx context.Context, r *kgo.Record, env *dlq.Envelope, orig []kgo.RecordHeader, perr error) ShownRecord {
	o := in.o
	excerpt, decoded := o.ValueExcerpt, MaxDecodedShown
	if o.Full {
		excerpt, decoded = 0, 0
	}
	sr := showRecord(r, env, orig, perr, excerpt)
	if o.DecodeValue != nil && env != nil && r.Value != nil {
		decodeShown(ctx, &sr, o.DecodeValue, env.Topic, r.Value, decoded)
	}
	return sr
}

// groupPositions lists the consumer groups with committed offsets on
// topic, by name, with those offsets. A group whose offsets cannot be read
// is listed with the error.
func groupPositions(ctx context.Context, adm *kadm.Client, topic string) ([]GroupPosition, error) {
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("list consumer groups (for the replay groups of %s): %w", topic, err)
	}
	out := []GroupPosition{}
	names := listed.Groups()
	if len(names) == 0 {
		return out, nil
	}
	fetched := adm.FetchManyOffsets(ctx, names...)
	for _, name := range names {
		f, ok := fetched[name]
		switch {
		case !ok:
			continue
		case errors.Is(f.Err, kerr.GroupIDNotFound):
			continue // deleted since it was listed
		case f.Err != nil:
			out = append(out, GroupPosition{Group: name, Error: f.Err.Error()})
			continue
		}
		committed := map[int32]int64{}
		for p, o := range f.Fetched[topic] {
			if o.Err == nil && o.At >= 0 {
				committed[p] = o.At
			}
		}
		if len(committed) > 0 {
			out = append(out, GroupPosition{Group: name, Committed: committed})
		}
	}
	return out, nil
}

// showRecord is r as shown, its value cut at excerpt bytes (whole when
// excerpt <= 0).
func showRecord(r *kgo.Record, env *dlq.Envelope, orig []kgo.RecordHeader, perr error, excerpt int) ShownRecord {
	s := ShownRecord{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, ValueBytes: len(r.Value), full: excerpt <= 0}
	if r.Key != nil {
		s.Key, s.KeyBase64 = text(r.Key)
	}
	if r.Value != nil {
		v := prefix(r.Value, excerpt)
		s.Value, s.ValueBase64 = text(v)
		s.ValueTruncated = len(v) < len(r.Value)
	}
	hs := orig
	if perr != nil {
		hs = r.Headers
		s.Error = perr.Error()
	} else {
		s.Envelope = envelopeJS(env)
	}
	s.Headers = []Header{}
	for _, h := range hs {
		hd := Header{Key: h.Key}
		if v, b64 := text(h.Value); v != nil {
			hd.Value = *v
		} else {
			hd.ValueBase64 = b64
		}
		s.Headers = append(s.Headers, hd)
	}
	return s
}

// decodeShown fills the decoded value of s (cut at limit bytes, whole when
// limit <= 0), or why it could not be decoded, bounding the registry's
// time to 10 seconds.
func decodeShown(ctx context.Context, s *ShownRecord, decode func(context.Context, string, []byte) ([]byte, error), topic string, value []byte, limit int) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	j, err := decode(ctx, topic, value)
	switch {
	case err != nil:
		s.DecodeError = err.Error()
	case j != nil:
		p := prefix(j, limit)
		v := string(p)
		s.ValueDecoded, s.DecodedTruncated = &v, len(p) < len(j)
	}
}

// safe is the filter of the messages the text output prints: names,
// codes and errors (from a record, the configuration, a flag or Kafka).
// Backslashes are kept, as messages quote with them.
func safe(s string) string { return termsafe.String(s) }

// data is the filter of record data the text output prints (key, value,
// headers, the envelope's free text): also a backslash is escaped, as \\,
// so that the escapes read back to the exact bytes. It cuts s at n bytes
// (n <= 0: whole), marking the cut.
func data(s string, n int) string { return termsafe.Bytes([]byte(s), n) }

// WriteJSON writes v as indented JSON (inspect: {"topics": [report,
// ...]}), passed through termsafe.JSON: the same document, with DEL, C1
// controls and bidi characters escaped too (encoding/json escapes C0
// controls such as ESC as \u001b already).
func WriteJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(termsafe.JSON(b), '\n'))
	return err
}

// WriteText writes the report as tables for people. Everything taken
// from a record is escaped here, once (package termsafe).
func (rep *InspectReport) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "DLQ topic %s: %d records in %d partitions", safe(rep.Topic), rep.Records, rep.Partitions)
	if rep.Malformed > 0 {
		fmt.Fprintf(tw, ", %d malformed (envelope missing or garbled)", rep.Malformed)
	}
	fmt.Fprintln(tw)
	if rep.Filter != "" && rep.Filter != (&Filter{}).String() {
		fmt.Fprintf(tw, "filter: %s: %d records selected; the counts below are theirs\n", safe(rep.Filter), rep.Selected)
	}
	if rep.FirstFailure != nil {
		fmt.Fprintf(tw, "failures from %s to %s\n", rep.FirstFailure.UTC().Format(time.RFC3339), rep.LastFailure.UTC().Format(time.RFC3339))
	}
	if rep.ValueOmitted > 0 {
		fmt.Fprintf(tw, "%d records without their value (too large for the DLQ; read them at the source offset)\n", rep.ValueOmitted)
	}
	if rep.ReplayCountIgnored > 0 {
		fmt.Fprintf(tw, "%d records with a replay count that is not a count (forged or garbled): counted as 0\n", rep.ReplayCountIgnored)
	}
	if len(rep.ByClass) > 0 {
		fmt.Fprintln(tw, "\nCLASS\tRECORDS")
		for _, k := range sortedByCount(rep.ByClass) {
			fmt.Fprintf(tw, "%s\t%d\n", safe(k), rep.ByClass[k])
		}
		fmt.Fprintln(tw, "\nCLASS\tREASON\tRECORDS\tMESSAGE")
		for _, rc := range rep.ByReason {
			rc.writeText(tw)
		}
		fmt.Fprintln(tw, "\nSOURCE TOPIC\tRECORDS")
		for _, k := range sortedByCount(rep.BySourceTopic) {
			fmt.Fprintf(tw, "%s\t%d\n", safe(k), rep.BySourceTopic[k])
		}
		fmt.Fprintln(tw, "\nREPLAY COUNT\tRECORDS")
		for _, k := range slices.Sorted(maps.Keys(rep.ByReplayCount)) {
			fmt.Fprintf(tw, "%d\t%d\n", k, rep.ByReplayCount[k])
		}
	}
	if rep.ReplayGroups != nil {
		rep.writeGroups(tw)
	}
	if len(rep.MalformedRecords) > 0 {
		fmt.Fprintln(tw, "\nMALFORMED\tERROR")
		for _, p := range rep.MalformedRecords {
			fmt.Fprintf(tw, "%d@%d\t%s\n", p.Partition, p.Offset, safe(p.Error))
		}
		if n := rep.Malformed - int64(len(rep.MalformedRecords)); n > 0 {
			fmt.Fprintf(tw, "… and %d more\n", n)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range rep.Shown {
		if err := s.writeText(w); err != nil {
			return err
		}
	}
	return nil
}

// writeText writes the rows of one class and reason: one row when it has
// one message, else a row with the count of distinct messages and one row
// per message listed.
func (rc *ReasonCount) writeText(tw io.Writer) {
	msg := func(m string) string {
		if m == "" {
			return "(no message)"
		}
		return data(m, 0)
	}
	class, reason := safe(rc.Class), safe(rc.Reason)
	if len(rc.Messages) == 1 && rc.MoreMessages == 0 && rc.Untracked == 0 {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", class, reason, rc.Records, msg(rc.Messages[0].Message))
		return
	}
	distinct := plural(int64(rc.Distinct), "distinct message")
	if rc.Untracked > 0 {
		distinct = fmt.Sprintf("more than %d distinct messages", rc.Distinct)
	}
	fmt.Fprintf(tw, "%s\t%s\t%d\t%s, most frequent first:\n", class, reason, rc.Records, distinct)
	for _, m := range rc.Messages {
		fmt.Fprintf(tw, "\t\t%d\t%s\n", m.Records, msg(m.Message))
	}
	if rc.MoreMessages > 0 {
		fmt.Fprintf(tw, "\t\t%d\t… and %s (--top 0 lists every one)\n", rc.MoreRecords, plural(int64(rc.MoreMessages), "more distinct message"))
	}
	if rc.Untracked > 0 {
		fmt.Fprintf(tw, "\t\t%d\t… with messages not told apart (past %d distinct messages in the topic)\n", rc.Untracked, MaxDistinctMessages)
	}
}

// writeGroups writes the replay groups' positions.
func (rep *InspectReport) writeGroups(tw io.Writer) {
	if len(rep.ReplayGroups) == 0 {
		fmt.Fprintf(tw, "\nno consumer group has committed offsets on %s: no replay has read it\n", safe(rep.Topic))
		return
	}
	fmt.Fprintln(tw, "\nREPLAY GROUP\tPOSITION (PARTITION:OFFSET)\tBEHIND\tAHEAD")
	for _, g := range rep.ReplayGroups {
		if g.Error != "" {
			fmt.Fprintf(tw, "%s\t(offsets not readable: %s)\t-\t-\n", safe(g.Group), safe(g.Error))
			continue
		}
		var pos []string
		for _, p := range slices.Sorted(maps.Keys(g.Committed)) {
			pos = append(pos, fmt.Sprintf("%d:%d", p, g.Committed[p]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", safe(g.Group), strings.Join(pos, " "), g.Behind, g.Ahead)
	}
	fmt.Fprintln(tw, "behind: selected records below the group's position, which it replayed or passed over (skipped by its filter, refused);")
	fmt.Fprintln(tw, "ahead: not read by it yet. A partition without a position is read from its start.")
}

// plural is n and noun, with an s unless n is 1.
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func (s *ShownRecord) writeText(w io.Writer) error {
	cutAt := textCut
	if s.full {
		cutAt = 0
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- partition %d offset %d (timestamp %s)\n", s.Partition, s.Offset, s.Timestamp.UTC().Format(time.RFC3339Nano))
	if e := s.Envelope; e != nil {
		fmt.Fprintf(&b, "error:        %s / %s", safe(e.Class), safe(e.Reason))
		if e.HTTPStatus != 0 {
			fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
		}
		fmt.Fprintf(&b, "\nmessage:      %s\n", data(e.Message, 0))
		if e.Response != "" {
			fmt.Fprintf(&b, "response:     %s\n", data(e.Response, 0))
		}
		fmt.Fprintf(&b, "source:       %s partition %d offset %d (%s)\n", safe(e.SourceTopic), e.SourcePartition, e.SourceOffset, e.SourceTimestamp.UTC().Format(time.RFC3339Nano))
		fmt.Fprintf(&b, "failed at:    %s after %d attempt(s); replay count %d", e.FailedAt.UTC().Format(time.RFC3339Nano), e.Attempts, e.ReplayCount)
		if e.IgnoredReplayCount != "" {
			fmt.Fprintf(&b, " (header \"%s\" ignored: not a count)", data(e.IgnoredReplayCount, 0))
		}
		b.WriteString("\n")
		// The envelope has an idempotency key when the record's event type
		// and business key were known: a rejected record has the key it
		// was sent with, an invalid one the key it would have had (a
		// schema violation, a bad timestamp). Without them (not JSON, no
		// business key, …) a key would be made up: the line says why there
		// is none.
		var ids []string
		if e.CorrelationID != "" {
			ids = append(ids, "correlation:  "+data(e.CorrelationID, 0))
		}
		if e.IdempotencyKey != "" {
			ids = append(ids, "idempotency key: "+data(e.IdempotencyKey, 0))
		} else {
			ids = append(ids, "idempotency key: none (event type or business key not found in the record)")
		}
		if len(ids) > 0 {
			fmt.Fprintf(&b, "%s\n", strings.Join(ids, "  "))
		}
		if e.ValueOmitted > 0 {
			fmt.Fprintf(&b, "value omitted: %d bytes (read it at the source offset)\n", e.ValueOmitted)
		}
	} else {
		fmt.Fprintf(&b, "MALFORMED:    %s\n", safe(s.Error))
	}
	key := "(null)"
	if s.Key != nil || s.KeyBase64 != nil {
		key = termsafe.Bytes(raw(s.Key, s.KeyBase64), cutAt)
	}
	fmt.Fprintf(&b, "key:          %s\n", key)
	value := raw(s.Value, s.ValueBase64)
	switch {
	case value == nil:
		b.WriteString("value:        (null)\n")
	case s.ValueTruncated:
		fmt.Fprintf(&b, "value:        %s%s (%d bytes; the first %d shown: --full shows the whole value)\n",
			termsafe.Bytes(value, 0), termsafe.Ellipsis, s.ValueBytes, len(value))
	default:
		fmt.Fprintf(&b, "value:        %s (%d bytes)\n", termsafe.Bytes(value, 0), s.ValueBytes)
	}
	switch {
	case s.ValueDecoded != nil && s.DecodedTruncated:
		fmt.Fprintf(&b, "decoded:      %s%s (cut: --full shows it whole)\n", data(*s.ValueDecoded, 0), termsafe.Ellipsis)
	case s.ValueDecoded != nil:
		fmt.Fprintf(&b, "decoded:      %s\n", data(*s.ValueDecoded, 0))
	case s.DecodeError != "":
		fmt.Fprintf(&b, "decoded:      (cannot decode: %s)\n", safe(s.DecodeError))
	}
	for i, h := range s.Headers {
		label := "headers:"
		if i > 0 {
			label = ""
		}
		v := h.Value
		if h.ValueBase64 != nil {
			v = string(raw(nil, h.ValueBase64))
		}
		fmt.Fprintf(&b, "%-13s %s: %s\n", label, data(h.Key, cutAt), data(v, cutAt))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sortedByCount(m map[string]int64) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	return keys
}

// itoa is strconv.Itoa for int64s in messages.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
