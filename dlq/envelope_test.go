package dlq_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
)

func TestRoundTrip(t *testing.T) {
	ts := time.Date(2026, 11, 27, 10, 0, 0, 5e6, time.UTC)
	src := &kgo.Record{Topic: "orders", Partition: 4, Offset: 1234, Key: []byte("k"), Value: []byte("\x00raw\xff"), Timestamp: ts,
		Headers: []kgo.RecordHeader{{Key: "x-correlation-id", Value: []byte("c-1")}, {Key: "bin", Value: []byte{0, 1, 2}}}}
	f := &dlq.Failure{Class: dlq.ClassRejected, Reason: "http_422", Message: strings.Repeat("m", 5000), HTTPStatus: 422,
		Response: `{"errors":[{"field":"attributes.currency"}]}`, Attempts: 2, CorrelationID: "c-1", IdempotencyKey: "8bb2fd79-b926-5d35-b05d-6c664ce6f258"}
	failed := ts.Add(time.Minute)
	out := dlq.NewRecord(src, "orders.dlq", f, failed)
	if out == src || out.Topic != "orders.dlq" || string(out.Key) != "k" || string(out.Value) != "\x00raw\xff" {
		t.Fatalf("record = %+v", out)
	}
	if out.Headers[0].Key != "x-correlation-id" || string(out.Headers[1].Value) != "\x00\x01\x02" {
		t.Errorf("original headers not kept first and byte for byte: %v", out.Headers[:2])
	}
	env, orig, err := dlq.Parse(out.Headers)
	if err != nil {
		t.Fatal(err)
	}
	if len(orig) != 2 {
		t.Errorf("orig headers = %v", orig)
	}
	if env.Version != 1 || env.Class != "rejected" || env.Reason != "http_422" || env.HTTPStatus != 422 || env.Topic != "orders" ||
		env.Partition != 4 || env.Offset != 1234 || !env.Timestamp.Equal(ts) || !env.FailedAt.Equal(failed) || env.Attempts != 2 ||
		env.CorrelationID != "c-1" || env.IdempotencyKey != f.IdempotencyKey || env.ReplayCount != 0 || env.Response != f.Response {
		t.Errorf("envelope = %+v", env)
	}
	if len(env.Message) > dlq.MaxMessageBytes || !strings.HasSuffix(env.Message, "…") {
		t.Errorf("message not bounded: %d bytes", len(env.Message))
	}
	// A record that comes back from a replay keeps its replay count, and
	// old envelope headers are not duplicated.
	replayed := &kgo.Record{Topic: "orders", Key: out.Key, Value: out.Value, Timestamp: ts,
		Headers: append(append([]kgo.RecordHeader(nil), orig...), kgo.RecordHeader{Key: dlq.HeaderReplayCount, Value: []byte("1")})}
	again := dlq.NewRecord(replayed, "orders.dlq", f, failed)
	env2, _, err := dlq.Parse(again.Headers)
	if err != nil || env2.ReplayCount != 1 {
		t.Fatalf("replay count: %+v %v", env2, err)
	}
	n := 0
	for _, h := range again.Headers {
		if h.Key == dlq.HeaderReplayCount {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d replay-count headers", n)
	}
}

// TestNewRecordTimestamp: a DLQ record's Kafka timestamp is the failure
// time (the failed.at header), not the source's, which stays in the
// source.timestamp header. Retention of the DLQ topic must count from the
// failure, and a topic with message.timestamp.before.max.ms must accept
// the record.
func TestNewRecordTimestamp(t *testing.T) {
	source := time.Date(2026, 11, 20, 8, 30, 0, 123e6, time.UTC)
	failed := time.Date(2026, 11, 27, 10, 0, 0, 456789012, time.FixedZone("CET", 3600)) // sub-millisecond on purpose
	src := &kgo.Record{Topic: "orders", Partition: 1, Offset: 7, Key: []byte("k"), Value: []byte("v"), Timestamp: source}
	out := dlq.NewRecord(src, "orders.dlq", &dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema"}, failed)
	wantTS := time.UnixMilli(failed.UnixMilli()) // what Kafka stores: milliseconds
	if !out.Timestamp.Equal(wantTS) {
		t.Errorf("DLQ record timestamp = %s, want the failure time %s", out.Timestamp.Format(time.RFC3339Nano), wantTS.Format(time.RFC3339Nano))
	}
	if out.Timestamp.Equal(source) {
		t.Errorf("DLQ record carries the source timestamp %s", source)
	}
	if !src.Timestamp.Equal(source) {
		t.Errorf("source record changed: timestamp %s", src.Timestamp)
	}
	env, _, err := dlq.Parse(out.Headers)
	if err != nil {
		t.Fatal(err)
	}
	if !env.Timestamp.Equal(source) {
		t.Errorf("%s = %s, want the source timestamp %s", dlq.HeaderTimestamp, env.Timestamp, source)
	}
	// The header and the Kafka timestamp are the same instant, also after
	// Kafka keeps only the milliseconds.
	if !env.FailedAt.Equal(out.Timestamp) || !env.FailedAt.Equal(time.UnixMilli(out.Timestamp.UnixMilli())) {
		t.Errorf("%s = %s, Kafka timestamp %s: not the same instant", dlq.HeaderFailedAt, env.FailedAt.Format(time.RFC3339Nano), out.Timestamp.Format(time.RFC3339Nano))
	}
	for _, h := range out.Headers {
		if h.Key == dlq.HeaderFailedAt && string(h.Value) != "2026-11-27T09:00:00.456Z" {
			t.Errorf("%s = %q, want UTC to the millisecond", h.Key, h.Value)
		}
	}
}

func TestParseMalformed(t *testing.T) {
	h := func(kv ...string) []kgo.RecordHeader {
		var out []kgo.RecordHeader
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return out
	}
	tests := []struct {
		name    string
		headers []kgo.RecordHeader
		want    string
	}{
		{"none", h("a", "b"), "no envelope"},
		{"only version", h(dlq.HeaderVersion, "1"), "error.class: missing"},
		{"garbled offset", h(dlq.HeaderVersion, "1", dlq.HeaderClass, "invalid", dlq.HeaderReason, "x", dlq.HeaderTopic, "t",
			dlq.HeaderPartition, "0", dlq.HeaderOffset, "ten", dlq.HeaderTimestamp, "2026-01-01T00:00:00Z", dlq.HeaderFailedAt, "2026-01-01T00:00:00Z"), "source.offset: not a non-negative integer"},
		{"bad time", h(dlq.HeaderVersion, "1", dlq.HeaderClass, "invalid", dlq.HeaderReason, "x", dlq.HeaderTopic, "t",
			dlq.HeaderPartition, "0", dlq.HeaderOffset, "1", dlq.HeaderTimestamp, "yesterday", dlq.HeaderFailedAt, "2026-01-01T00:00:00Z"), "source.timestamp: not an RFC 3339 time"},
		{"future version", h(dlq.HeaderVersion, "9"), "newer"},
		{"bad version", h(dlq.HeaderVersion, "v1"), "version: not a non-negative integer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := dlq.Parse(tc.headers)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// validHeaders is a well-formed envelope, as NewRecord writes it, with
// the given headers replaced (or appended when absent).
func validHeaders(over map[string]string) []kgo.RecordHeader {
	src := &kgo.Record{Topic: "orders", Partition: 2, Offset: 40, Timestamp: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
		Headers: []kgo.RecordHeader{{Key: "x-correlation-id", Value: []byte("c-1")}}}
	r := dlq.NewRecord(src, "orders.dlq", &dlq.Failure{Class: dlq.ClassRejected, Reason: "http_422", HTTPStatus: 422, Message: "m", Attempts: 1},
		time.Date(2026, 11, 27, 10, 1, 0, 0, time.UTC))
	done := map[string]bool{}
	for i, h := range r.Headers {
		if v, ok := over[h.Key]; ok {
			r.Headers[i].Value = []byte(v)
			done[h.Key] = true
		}
	}
	for k, v := range over {
		if !done[k] {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
	}
	return r.Headers
}

// TestParseValidation: the fields the tools act on or print are checked;
// a bad one makes the envelope malformed, with the header named and the
// value quoted (escaped).
func TestParseValidation(t *testing.T) {
	long := strings.Repeat("a", 250)
	tests := []struct {
		name, header, value string
		want                string // "" when valid
	}{
		{"topic ok", dlq.HeaderTopic, "Orders_v2.eu-west-1", ""},
		{"topic 249", dlq.HeaderTopic, long[:249], ""},
		{"topic 250", dlq.HeaderTopic, long, "source.topic: not a valid Kafka topic name"},
		{"topic empty", dlq.HeaderTopic, "", "source.topic: not a valid Kafka topic name"},
		{"topic dot", dlq.HeaderTopic, ".", "source.topic: not a valid Kafka topic name"},
		{"topic dotdot", dlq.HeaderTopic, "..", "source.topic: not a valid Kafka topic name"},
		{"topic slash", dlq.HeaderTopic, "a/b", "source.topic: not a valid Kafka topic name"},
		{"topic space", dlq.HeaderTopic, "a b", "source.topic: not a valid Kafka topic name"},
		{"topic escape", dlq.HeaderTopic, "orders\x1b]0;pwned\a", `source.topic: not a valid Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-'; not '.' or '..'): "orders\x1b]0;pwned\a"`},
		{"topic unicode", dlq.HeaderTopic, "ordérs", "source.topic: not a valid Kafka topic name"},
		{"class rejected", dlq.HeaderClass, "rejected", ""},
		{"class transient", dlq.HeaderClass, "transient", `error.class: not a known class (invalid or rejected): "transient"`},
		{"class escape", dlq.HeaderClass, "invalid\x1b[2J", `error.class: not a known class (invalid or rejected): "invalid\x1b[2J"`},
		{"class case", dlq.HeaderClass, "Invalid", "error.class: not a known class"},
		{"reason ok", dlq.HeaderReason, "persistent_failure", ""},
		{"reason 64", dlq.HeaderReason, strings.Repeat("r", 64), ""},
		{"reason 65", dlq.HeaderReason, strings.Repeat("r", 65), "error.reason: not a reason code"},
		{"reason upper", dlq.HeaderReason, "HTTP_422", "error.reason: not a reason code"},
		{"reason empty", dlq.HeaderReason, "", "error.reason: not a reason code"},
		{"reason escape", dlq.HeaderReason, "schema\x1b[2J", `error.reason: not a reason code (1 to 64 of a-z, 0-9, _): "schema\x1b[2J"`},
		{"reason bidi", dlq.HeaderReason, "schema\u202e", `"schema\u202e"`},
		{"status 0", dlq.HeaderHTTPStatus, "0", "http.status: not an HTTP status"},
		{"status big", dlq.HeaderHTTPStatus, "1000", "http.status: not an HTTP status"},
		{"status plus", dlq.HeaderHTTPStatus, "+422", "http.status: not an HTTP status"},
		{"partition negative", dlq.HeaderPartition, "-1", "source.partition: not a non-negative integer"},
		{"partition big", dlq.HeaderPartition, "2147483648", "source.partition: not a non-negative integer"},
		{"offset negative", dlq.HeaderOffset, "-5", "source.offset: not a non-negative integer"},
		{"attempts negative", dlq.HeaderAttempts, "-1", "attempts: not a non-negative integer"},
		{"omitted negative", dlq.HeaderValueOmitted, "-1", "value.omitted: not a non-negative integer"},
		{"message escape is free text", dlq.HeaderMessage, "\x1b]0;pwned\a", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _, err := dlq.Parse(validHeaders(map[string]string{tc.header: tc.value}))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("%s = %q: %v", tc.header, tc.value, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("%s = %q: err = %v, want %q", tc.header, tc.value, err, tc.want)
			case tc.want != "" && env != nil:
				t.Fatalf("malformed envelope returned: %+v", env)
			}
			if err != nil && strings.ContainsAny(err.Error(), "\x1b\a\u202e") {
				t.Errorf("error carries the raw value: %q", err)
			}
		})
	}
}

// TestForgedReplayCount: a replay count that is not from 0 to
// MaxReplayCount, as any producer can write on a source or a DLQ record,
// is ignored by Parse (the record stays readable, count 0) and not copied
// by NewRecord.
func TestForgedReplayCount(t *testing.T) {
	for _, v := range []string{"-1", "99999999999", "1001", "99999999999999999999", "x", "", "+1", " 1", "1e3", "0x10"} {
		env, _, err := dlq.Parse(validHeaders(map[string]string{dlq.HeaderReplayCount: v}))
		if err != nil {
			t.Errorf("replay count %q: %v", v, err)
			continue
		}
		if env.ReplayCount != 0 || env.IgnoredReplayCount != v {
			t.Errorf("replay count %q: count %d, ignored %q", v, env.ReplayCount, env.IgnoredReplayCount)
		}
		src := &kgo.Record{Topic: "orders", Headers: []kgo.RecordHeader{{Key: dlq.HeaderReplayCount, Value: []byte(v)}}}
		again, _, err := dlq.Parse(dlq.NewRecord(src, "orders.dlq", &dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema"}, time.Now()).Headers)
		if err != nil || again.ReplayCount != 0 || again.IgnoredReplayCount != "" {
			t.Errorf("source replay count %q copied: %+v, %v", v, again, err)
		}
	}
	for _, v := range []string{"0", "3", "1000"} {
		env, _, err := dlq.Parse(validHeaders(map[string]string{dlq.HeaderReplayCount: v}))
		if err != nil || strconv.Itoa(env.ReplayCount) != v || env.IgnoredReplayCount != "" {
			t.Errorf("replay count %q: %+v, %v", v, env, err)
		}
	}
	// The first of two replay-count headers counts, in both functions.
	src := &kgo.Record{Topic: "orders", Headers: []kgo.RecordHeader{
		{Key: dlq.HeaderReplayCount, Value: []byte("2")}, {Key: dlq.HeaderReplayCount, Value: []byte("-1")}}}
	env, _, err := dlq.Parse(dlq.NewRecord(src, "orders.dlq", &dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema"}, time.Now()).Headers)
	if err != nil || env.ReplayCount != 2 {
		t.Errorf("two replay counts: %+v, %v", env, err)
	}
}

// FuzzParse: garbled envelopes are errors, never panics; an envelope
// Parse accepts holds only what the validation rules allow; a forged
// replay count alone never makes an envelope malformed; NewRecord copies
// a sane replay count only, and its records parse back.
func FuzzParse(f *testing.F) {
	f.Add("1", "invalid", "schema", "orders", "0", "12", "2026-01-01T00:00:00Z", "3", "422")
	f.Add("x", "", "", "", "-1", "99999999999999999999", "", "", "")
	f.Add("1", "rejected\x1b[2J", "http_422", "orders\x1b]0;t\a", "0", "1", "2026-01-01T00:00:00Z", "-1", "0")
	f.Add("1", "invalid", "schema", "..", "0", "1", "2026-01-01T00:00:00Z", "99999999999", "200")
	f.Fuzz(func(t *testing.T, version, class, reason, topic, partition, offset, ts, replays, status string) {
		hs := []kgo.RecordHeader{
			{Key: dlq.HeaderVersion, Value: []byte(version)}, {Key: dlq.HeaderClass, Value: []byte(class)},
			{Key: dlq.HeaderReason, Value: []byte(reason)}, {Key: dlq.HeaderTopic, Value: []byte(topic)},
			{Key: dlq.HeaderPartition, Value: []byte(partition)}, {Key: dlq.HeaderOffset, Value: []byte(offset)},
			{Key: dlq.HeaderTimestamp, Value: []byte(ts)}, {Key: dlq.HeaderFailedAt, Value: []byte(ts)},
			{Key: dlq.HeaderReplayCount, Value: []byte(replays)}, {Key: dlq.HeaderHTTPStatus, Value: []byte(status)},
		}
		env, _, err := dlq.Parse(hs)
		if err != nil {
			if env != nil {
				t.Fatalf("error with an envelope: %v", err)
			}
			// The replay count is never the reason.
			if strings.Contains(err.Error(), dlq.HeaderReplayCount) {
				t.Fatalf("replay count %q made the envelope malformed: %v", replays, err)
			}
			return
		}
		if env.Offset < 0 || env.Partition < 0 || env.ReplayCount < 0 || env.ReplayCount > dlq.MaxReplayCount ||
			!dlq.ValidTopic(env.Topic) || !dlq.KnownClass(env.Class) || !dlq.ValidReason(env.Reason) ||
			env.HTTPStatus < 100 || env.HTTPStatus > 999 {
			t.Fatalf("accepted %+v", env)
		}
		if env.Topic != topic || env.Class != class || env.Reason != reason {
			t.Fatalf("fields changed: %+v", env)
		}
		if n, err := strconv.Atoi(replays); env.IgnoredReplayCount == "" && (err != nil || n != env.ReplayCount) {
			t.Fatalf("replay count %q read as %d", replays, env.ReplayCount)
		}
		if env.IgnoredReplayCount != "" && env.ReplayCount != 0 {
			t.Fatalf("ignored replay count %q but count %d", env.IgnoredReplayCount, env.ReplayCount)
		}
		// A record that comes back with this count (a replayed record
		// that fails again) gets a sane count in its new envelope.
		src := &kgo.Record{Topic: env.Topic, Partition: env.Partition, Offset: env.Offset,
			Headers: []kgo.RecordHeader{{Key: dlq.HeaderReplayCount, Value: []byte(replays)}}}
		again, _, err := dlq.Parse(dlq.NewRecord(src, "dlq", &env.Failure, env.FailedAt).Headers)
		if err != nil || again.ReplayCount != env.ReplayCount || again.IgnoredReplayCount != "" || again.Topic != env.Topic {
			t.Fatalf("round trip: %+v → %+v, %v", env, again, err)
		}
	})
}
