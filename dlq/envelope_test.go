package dlq_test

import (
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

// FuzzParse: garbled envelopes are errors, never panics.
func FuzzParse(f *testing.F) {
	f.Add("1", "invalid", "0", "12", "2026-01-01T00:00:00Z", "3")
	f.Add("x", "", "-1", "99999999999999999999", "", "")
	f.Fuzz(func(t *testing.T, version, class, partition, offset, ts, replays string) {
		hs := []kgo.RecordHeader{
			{Key: dlq.HeaderVersion, Value: []byte(version)}, {Key: dlq.HeaderClass, Value: []byte(class)},
			{Key: dlq.HeaderReason, Value: []byte("r")}, {Key: dlq.HeaderTopic, Value: []byte("t")},
			{Key: dlq.HeaderPartition, Value: []byte(partition)}, {Key: dlq.HeaderOffset, Value: []byte(offset)},
			{Key: dlq.HeaderTimestamp, Value: []byte(ts)}, {Key: dlq.HeaderFailedAt, Value: []byte(ts)},
			{Key: dlq.HeaderReplayCount, Value: []byte(replays)},
		}
		env, _, err := dlq.Parse(hs)
		if err == nil && (env.Offset < 0 || env.Partition < 0 || env.ReplayCount < 0) {
			t.Fatalf("accepted negative coordinates: %+v", env)
		}
	})
}
