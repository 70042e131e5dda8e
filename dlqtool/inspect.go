package dlqtool

import (
	"cmp"
	"context"
	"encoding/json"
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
	// Show is how many records to return in full (the first ones), 0 for
	// none.
	Show int
	// ValueExcerpt bounds the value shown per record (default 256 bytes).
	ValueExcerpt int
	// DecodeValue, when set, decodes a shown record's value written in a
	// schema registry's wire format into JSON, for the source topic's
	// route: nil JSON and a nil error when the route reads JSON. The
	// decoded value is shown beside the bytes (up to [MaxDecodedShown]);
	// an error is shown instead, and never stops the reading.
	DecodeValue func(ctx context.Context, sourceTopic string, value []byte) ([]byte, error)
}

// MaxDecodedShown bounds the decoded value shown per record.
const MaxDecodedShown = 4096

// MaxListed bounds the malformed records (inspect) and problems (replay)
// listed one by one in a report; counts are always complete.
const MaxListed = 100

// InspectReport summarises a DLQ topic from its start to its end as of
// the call.
type InspectReport struct {
	Topic      string `json:"topic"`
	Partitions int    `json:"partitions"`
	// Records counts the records read (control records of transactions
	// excluded); Malformed those whose envelope is missing or garbled.
	Records   int64 `json:"records"`
	Malformed int64 `json:"malformed"`
	// The counts below are over the records with a readable envelope.
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
	// Shown are the first InspectOptions.Show records in full.
	Shown []ShownRecord `json:"records_shown,omitempty"`
}

// ReasonCount is the number of records of one class and reason, with the
// message of the first one as an example.
type ReasonCount struct {
	Class   string `json:"class"`
	Reason  string `json:"reason"`
	Records int64  `json:"records"`
	Example string `json:"example_message"`
}

// Problem is a DLQ record that was not replayed, or not readable, and why.
type Problem struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Class     string `json:"class,omitempty"`
	Error     string `json:"error"`
}

// ShownRecord is one DLQ record as inspect --show prints it. Key, value,
// headers and the envelope's free-text fields are shown as text escaped
// by package termsafe (a control character or a byte that is not UTF-8 as
// \xNN, other characters that are not printable as \uNNNN, a backslash
// as \\), in JSON as in text.
//
// Timestamp is the DLQ record's Kafka timestamp: the failure time, as in
// the envelope's failed_at (older bridges wrote the source timestamp
// there; the envelope's source_timestamp is the source time in either
// case).
type ShownRecord struct {
	Partition    int32     `json:"partition"`
	Offset       int64     `json:"offset"`
	Timestamp    time.Time `json:"timestamp"`
	Key          *string   `json:"key"`
	ValueBytes   int       `json:"value_bytes"`
	ValueExcerpt *string   `json:"value_excerpt"`
	// ValueDecoded is the value decoded from its schema registry format
	// (Avro, Protobuf, JSON Schema) into JSON, when the source topic's
	// route has such a format; DecodeError says why it could not be.
	ValueDecoded *string     `json:"value_decoded,omitempty"`
	DecodeError  string      `json:"decode_error,omitempty"`
	Headers      []Header    `json:"headers"` // the original headers (all headers when malformed)
	Envelope     *EnvelopeJS `json:"envelope,omitempty"`
	Error        string      `json:"error,omitempty"` // why the envelope could not be read
}

// Header is a record header shown as text.
type Header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// EnvelopeJS is a decoded envelope with stable JSON names (those of the
// headers, without the prefix).
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
	// count and was ignored (ReplayCount is then 0), escaped.
	IgnoredReplayCount string `json:"replay_count_ignored,omitempty"`
	ValueOmitted       int    `json:"value_omitted,omitempty"`
}

func envelopeJS(e *dlq.Envelope) *EnvelopeJS {
	return &EnvelopeJS{
		Version: e.Version, Class: e.Class, Reason: e.Reason, Message: termsafe.Bytes([]byte(e.Message), dlq.MaxMessageBytes),
		HTTPStatus: e.HTTPStatus, Response: termsafe.Bytes([]byte(e.Response), dlq.MaxResponseBytes),
		SourceTopic: e.Topic, SourcePartition: e.Partition, SourceOffset: e.Offset, SourceTimestamp: e.Timestamp,
		Attempts: e.Attempts, FailedAt: e.FailedAt, CorrelationID: termsafe.Bytes([]byte(e.CorrelationID), 256),
		IdempotencyKey: termsafe.Bytes([]byte(e.IdempotencyKey), 256), ReplayCount: e.ReplayCount,
		IgnoredReplayCount: termsafe.Bytes([]byte(e.IgnoredReplayCount), 0), ValueOmitted: e.ValueOmitted,
	}
}

// Inspect reads the DLQ topic from its start to its end (as of the call)
// and summarises it. It joins no consumer group and commits nothing. A
// record with a missing or garbled envelope is counted and listed as
// malformed; it never stops the reading.
func Inspect(ctx context.Context, o InspectOptions) (*InspectReport, error) {
	if o.ValueExcerpt <= 0 {
		o.ValueExcerpt = 256
	}
	cl, err := kgo.NewClient(o.KafkaOpts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	b, err := topicBounds(ctx, kadm.NewClient(cl), o.Topic, "")
	if err != nil {
		return nil, err
	}
	rep := &InspectReport{
		Topic: o.Topic, Partitions: len(b.end),
		ByClass: map[string]int64{}, BySourceTopic: map[string]int64{}, ByReplayCount: map[int]int64{},
	}
	reasons := map[[2]string]*ReasonCount{}
	err = scan(ctx, o.KafkaOpts, o.Topic, b, func(r *kgo.Record) bool {
		if r.Attrs.IsControl() {
			return true
		}
		rep.Records++
		env, orig, perr := dlq.Parse(r.Headers)
		if len(rep.Shown) < o.Show {
			sr := showRecord(r, env, orig, perr, o.ValueExcerpt)
			if o.DecodeValue != nil && env != nil && r.Value != nil {
				decodeShown(ctx, &sr, o.DecodeValue, env.Topic, r.Value)
			}
			rep.Shown = append(rep.Shown, sr)
		}
		if perr != nil {
			rep.Malformed++
			if len(rep.MalformedRecords) < MaxListed {
				rep.MalformedRecords = append(rep.MalformedRecords, Problem{Partition: r.Partition, Offset: r.Offset, Error: perr.Error()})
			}
			return true
		}
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
		rc := reasons[k]
		if rc == nil {
			rc = &ReasonCount{Class: env.Class, Reason: env.Reason, Example: termsafe.Bytes([]byte(env.Message), 160)}
			reasons[k] = rc
		}
		rc.Records++
		if t := env.FailedAt; rep.FirstFailure == nil || t.Before(*rep.FirstFailure) {
			rep.FirstFailure = &t
		}
		if t := env.FailedAt; rep.LastFailure == nil || t.After(*rep.LastFailure) {
			rep.LastFailure = &t
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	for _, rc := range reasons {
		rep.ByReason = append(rep.ByReason, *rc)
	}
	slices.SortFunc(rep.ByReason, func(a, b ReasonCount) int {
		return cmp.Or(cmp.Compare(b.Records, a.Records), cmp.Compare(a.Class, b.Class), cmp.Compare(a.Reason, b.Reason))
	})
	return rep, nil
}

func showRecord(r *kgo.Record, env *dlq.Envelope, orig []kgo.RecordHeader, perr error, excerpt int) ShownRecord {
	s := ShownRecord{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, ValueBytes: len(r.Value)}
	if r.Key != nil {
		k := termsafe.Bytes(r.Key, 256)
		s.Key = &k
	}
	if r.Value != nil {
		v := termsafe.Bytes(r.Value, excerpt)
		s.ValueExcerpt = &v
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
		s.Headers = append(s.Headers, Header{Key: termsafe.Bytes([]byte(h.Key), 256), Value: termsafe.Bytes(h.Value, 256)})
	}
	return s
}

// decodeShown fills the decoded value of s, or why it could not be
// decoded, bounding the registry's time to 10 seconds.
func decodeShown(ctx context.Context, s *ShownRecord, decode func(context.Context, string, []byte) ([]byte, error), topic string, value []byte) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	j, err := decode(ctx, topic, value)
	switch {
	case err != nil:
		s.DecodeError = termsafe.String(err.Error())
	case j != nil:
		v := termsafe.Bytes(j, MaxDecodedShown)
		s.ValueDecoded = &v
	}
}

// safe is the filter of everything the text output prints that comes
// from a record, the configuration, a flag or an error.
func safe(s string) string { return termsafe.String(s) }

// cut bounds s, text already escaped by termsafe, to about n bytes on a
// character boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + termsafe.Ellipsis
}

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

// WriteText writes the report as tables for people.
func (rep *InspectReport) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "DLQ topic %s: %d records in %d partitions", safe(rep.Topic), rep.Records, rep.Partitions)
	if rep.Malformed > 0 {
		fmt.Fprintf(tw, ", %d malformed (envelope missing or garbled)", rep.Malformed)
	}
	fmt.Fprintln(tw)
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
		fmt.Fprintln(tw, "\nCLASS\tREASON\tRECORDS\tEXAMPLE MESSAGE")
		for _, rc := range rep.ByReason {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", safe(rc.Class), safe(rc.Reason), rc.Records, cut(rc.Example, 100))
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

func (s *ShownRecord) writeText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- partition %d offset %d (timestamp %s)\n", s.Partition, s.Offset, s.Timestamp.UTC().Format(time.RFC3339Nano))
	if e := s.Envelope; e != nil {
		fmt.Fprintf(&b, "error:        %s / %s", safe(e.Class), safe(e.Reason))
		if e.HTTPStatus != 0 {
			fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
		}
		fmt.Fprintf(&b, "\nmessage:      %s\n", e.Message)
		if e.Response != "" {
			fmt.Fprintf(&b, "response:     %s\n", e.Response)
		}
		fmt.Fprintf(&b, "source:       %s partition %d offset %d (%s)\n", safe(e.SourceTopic), e.SourcePartition, e.SourceOffset, e.SourceTimestamp.UTC().Format(time.RFC3339Nano))
		fmt.Fprintf(&b, "failed at:    %s after %d attempt(s); replay count %d", e.FailedAt.UTC().Format(time.RFC3339Nano), e.Attempts, e.ReplayCount)
		if e.IgnoredReplayCount != "" {
			fmt.Fprintf(&b, " (header \"%s\" ignored: not a count)", e.IgnoredReplayCount)
		}
		b.WriteString("\n")
		// The envelope has an idempotency key only when the record became
		// an event: a rejected record has the key it was sent with; an
		// invalid one failed before (or while) the key was derived, and a
		// key the bridge never used would be made up. Each part is printed
		// only when known.
		var ids []string
		if e.CorrelationID != "" {
			ids = append(ids, "correlation:  "+e.CorrelationID)
		}
		if e.IdempotencyKey != "" {
			ids = append(ids, "idempotency key: "+e.IdempotencyKey)
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
	if s.Key != nil {
		key = *s.Key
	}
	val := "(null)"
	if s.ValueExcerpt != nil {
		val = *s.ValueExcerpt
	}
	fmt.Fprintf(&b, "key:          %s\n", key)
	fmt.Fprintf(&b, "value:        %s (%d bytes)\n", val, s.ValueBytes)
	switch {
	case s.ValueDecoded != nil:
		fmt.Fprintf(&b, "decoded:      %s\n", *s.ValueDecoded)
	case s.DecodeError != "":
		fmt.Fprintf(&b, "decoded:      (cannot decode: %s)\n", s.DecodeError)
	}
	for i, h := range s.Headers {
		label := "headers:"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(&b, "%-13s %s: %s\n", label, h.Key, h.Value)
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
