package dlqtool

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/dlq"
)

func TestParseOffsetRange(t *testing.T) {
	tests := []struct {
		in   string
		want OffsetRange
		err  string
	}{
		{"100-200", OffsetRange{-1, 100, 200}, ""},
		{"100-", OffsetRange{-1, 100, -1}, ""},
		{"-200", OffsetRange{-1, 0, 200}, ""},
		{"150", OffsetRange{-1, 150, 150}, ""},
		{"3:100-200", OffsetRange{3, 100, 200}, ""},
		{" 0:7 ", OffsetRange{0, 7, 7}, ""},
		{"3:-5", OffsetRange{3, 0, 5}, ""},
		{"5-2", OffsetRange{}, "end before start"},
		{"-", OffsetRange{}, "no bound"},
		{"", OffsetRange{}, "offset is not"},
		{"x-2", OffsetRange{}, "start is not"},
		{"1-+2", OffsetRange{}, "end is not"},
		{"+1", OffsetRange{}, "offset is not"},
		{"-1:2", OffsetRange{}, "partition"},
		{"1:2:3", OffsetRange{}, "offset is not"},
		{"1-2-3", OffsetRange{}, "end is not"},
		{"99999999999999999999", OffsetRange{}, "offset is not"},
	}
	for _, tc := range tests {
		got, err := ParseOffsetRange(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseOffsetRange(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseOffsetRange(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if again, err := ParseOffsetRange(got.String()); err != nil || again != got {
			t.Errorf("round trip of %q via %q: %+v, %v", tc.in, got.String(), again, err)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"2026-11-27T10:00:00Z", time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC), false},
		{"2026-11-27T10:00:00.5+01:00", time.Date(2026, 11, 27, 9, 0, 0, 5e8, time.UTC), false},
		{"2026-11-26", time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"1h30m", now.Add(-90 * time.Minute), false},
		{"2d", now.Add(-48 * time.Hour), false},
		{"0s", now, false},
		{"", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"-5m", time.Time{}, true},
		{"+5m", time.Time{}, true},
		{"+2d", time.Time{}, true},
		{"2026-13-01", time.Time{}, true},
		{"d", time.Time{}, true},
	}
	for _, tc := range tests {
		got, err := ParseTime(tc.in, now)
		if tc.err {
			if err == nil {
				t.Errorf("ParseTime(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	env := &dlq.Envelope{Failure: dlq.Failure{Class: dlq.ClassRejected, Reason: "http_422", Message: "/currency: bad"}, Topic: "orders", FailedAt: at}
	rec := &kgo.Record{Partition: 2, Offset: 50}
	tests := []struct {
		name string
		f    Filter
		want bool
	}{
		{"empty", Filter{}, true},
		{"class", Filter{Classes: []string{"invalid", "rejected"}}, true},
		{"other class", Filter{Classes: []string{"invalid"}}, false},
		{"reason code", Filter{Reasons: []string{"422"}}, true},
		{"reason in message, any case", Filter{Reasons: []string{"CURRENCY"}}, true},
		{"reason no", Filter{Reasons: []string{"schema"}}, false},
		{"reasons, any of them", Filter{Reasons: []string{"schema", "http_4"}}, true},
		{"reasons, none of them", Filter{Reasons: []string{"schema", "timeout"}}, false},
		{"source", Filter{SourceTopics: []string{"a", "orders"}}, true},
		{"source no", Filter{SourceTopics: []string{"a"}}, false},
		{"message matches", Filter{Message: regexp.MustCompile(`^/currency: `)}, true},
		{"message is case-sensitive", Filter{Message: regexp.MustCompile(`CURRENCY`)}, false},
		{"message, (?i)", Filter{Message: regexp.MustCompile(`(?i)CURRENCY`)}, true},
		{"message and class", Filter{Message: regexp.MustCompile(`bad$`), Classes: []string{"invalid"}}, false},
		{"from inclusive", Filter{FailedFrom: at}, true},
		{"until exclusive", Filter{FailedUntil: at}, false},
		{"inside", Filter{FailedFrom: at.Add(-time.Minute), FailedUntil: at.Add(time.Minute)}, true},
		{"offsets", Filter{Offsets: []OffsetRange{{1, 0, -1}, {2, 40, 50}}}, true},
		{"offsets other partition", Filter{Offsets: []OffsetRange{{1, 0, -1}}}, false},
		{"offsets any partition", Filter{Offsets: []OffsetRange{{-1, 51, -1}}}, false},
		{"all", Filter{Classes: []string{"rejected"}, Reasons: []string{"http"}, SourceTopics: []string{"orders"}, Message: regexp.MustCompile("bad"), FailedFrom: at, Offsets: []OffsetRange{{-1, 50, 50}}}, true},
	}
	for _, tc := range tests {
		if got := tc.f.Match(rec, env); got != tc.want {
			t.Errorf("%s: Match = %v, want %v (%s)", tc.name, got, tc.want, tc.f.String())
		}
		if tc.f.Empty() != (tc.name == "empty") {
			t.Errorf("%s: Empty = %v", tc.name, tc.f.Empty())
		}
	}
	if got := (&Filter{Message: regexp.MustCompile(`a"b`)}).String(); got != `message matches "a\"b"` {
		t.Errorf("String = %s", got)
	}
	if err := (&Filter{Classes: []string{"transient"}}).Validate(); err == nil {
		t.Error("unknown class accepted")
	}
	if err := (&Filter{FailedFrom: at, FailedUntil: at}).Validate(); err == nil {
		t.Error("empty time range accepted")
	}
}

// TestDecideKeepsCorrelationID: a replayed record carries the correlation
// id its envelope names in the first configured header that is not
// traceparent, so that the bridge gives it the same id; one that carries
// it there already is left as it is, and a header the bridge did not take
// is replaced.
func TestDecideKeepsCorrelationID(t *testing.T) {
	routes := testRoutes(t, "{topic}.dlq", config.Route{Topic: "orders"})
	o := ReplayOptions{MaxReplays: 3, Topic: "orders.dlq", Routes: routes, CorrelationHeaders: []string{"traceparent", "X-Correlation-Id", "correlation-id"}}
	for _, tc := range []struct {
		name    string
		headers []kgo.RecordHeader
		want    []string // key=value of the replayed record's headers, the replay count left out
	}{
		{"no header", nil, []string{"X-Correlation-Id=c-1"}},
		{"already there, other case", []kgo.RecordHeader{{Key: "x-correlation-id", Value: []byte("c-1")}}, []string{"x-correlation-id=c-1"}},
		{"refused value replaced", []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "x-correlation-id", Value: []byte("bad\x01")}}, []string{"a=1", "X-Correlation-Id=c-1"}},
	} {
		src := &kgo.Record{Topic: "orders", Partition: 1, Offset: 9, Key: []byte("k"), Value: []byte("v"), Timestamp: time.Now(), Headers: tc.headers}
		d := dlq.NewRecord(src, "orders.dlq", &dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema", CorrelationID: "c-1"}, time.Now())
		got := o.decide(d)
		var kv []string
		for _, h := range got.out.Headers {
			if h.Key != dlq.HeaderReplayCount {
				kv = append(kv, h.Key+"="+string(h.Value))
			}
		}
		if strings.Join(kv, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: headers %v, want %v", tc.name, kv, tc.want)
		}
	}
	o.CorrelationHeaders = []string{"traceparent"}
	src := &kgo.Record{Topic: "orders", Key: []byte("k"), Value: []byte("v"), Timestamp: time.Now()}
	d := dlq.NewRecord(src, "orders.dlq", &dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema", CorrelationID: "c-1"}, time.Now())
	if got := o.decide(d); len(got.out.Headers) != 1 {
		t.Errorf("traceparent only: headers %v, want the replay count alone", got.out.Headers)
	}
}

// TestDecide: what a replayed record carries, and what is refused.
func TestDecide(t *testing.T) {
	src := &kgo.Record{Topic: "orders", Partition: 1, Offset: 9, Key: []byte("k"), Value: []byte("v"), Timestamp: time.Now(),
		Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: dlq.HeaderReplayCount, Value: []byte("2")}}}
	d := dlq.NewRecord(src, "orders.dlq", &dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema"}, time.Now())
	routes := testRoutes(t, "{topic}.dlq", config.Route{Topic: "orders"})
	o := ReplayOptions{MaxReplays: 3, Topic: "orders.dlq", Routes: routes}
	got := o.decide(d)
	if got.kind != outReplay || got.out.Topic != "orders" || string(got.out.Key) != "k" || string(got.out.Value) != "v" || got.out.Partition != 0 {
		t.Fatalf("decide = %+v", got)
	}
	if len(got.out.Headers) != 2 || got.out.Headers[0].Key != "a" || got.out.Headers[1].Key != dlq.HeaderReplayCount || string(got.out.Headers[1].Value) != "3" {
		t.Errorf("headers = %v", got.out.Headers)
	}
	o.To = "elsewhere"
	if got := o.decide(d); got.out.Topic != "elsewhere" {
		t.Errorf("--to ignored: %s", got.out.Topic)
	}
	o.MaxReplays = 2
	if got := o.decide(d); got.kind != outRefuse || !strings.Contains(got.why, "replayed 2 times") {
		t.Errorf("at the limit: %+v", got)
	}
	o.Filter.Classes = []string{dlq.ClassRejected}
	if got := o.decide(d); got.kind != outSkip {
		t.Errorf("filter: %+v", got)
	}
	if got := o.decide(&kgo.Record{Headers: []kgo.RecordHeader{{Key: dlq.HeaderVersion, Value: []byte("x")}}}); got.kind != outMalformed {
		t.Errorf("garbled: %+v", got)
	}
	omitted := dlq.NewRecord(src, "orders.dlq", &dlq.Failure{Class: dlq.ClassInvalid, Reason: "too_large"}, time.Now())
	dlq.OmitValue(omitted, 5<<20)
	o = ReplayOptions{MaxReplays: 5, Topic: "orders.dlq", Routes: routes}
	if got := o.decide(omitted); got.kind != outRefuse || !strings.Contains(got.why, "left out") {
		t.Errorf("value omitted: %+v", got)
	}
}

// FuzzParseOffsetRange: any input is a range or an error, never a panic;
// a range holds From <= To (or an open end) and round-trips.
func FuzzParseOffsetRange(f *testing.F) {
	for _, s := range []string{"100-200", "3:1-", "-5", "7", "1:2:3", "-", "x", "9999999999999999999-", "0:-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseOffsetRange(s)
		if err != nil {
			return
		}
		if r.From < 0 || (r.To >= 0 && r.To < r.From) || r.Partition < -1 {
			t.Fatalf("%q → %+v", s, r)
		}
		again, err := ParseOffsetRange(r.String())
		if err != nil || again != r {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, r, r.String(), again, err)
		}
	})
}

// FuzzParseTime: any input is a time or an error, never a panic; an age
// is never in the future.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-27T10:00:00Z", "2026-11-27", "90m", "3d", "-1h", "65535d", "1e9h", "", "d"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s, now)
		if err != nil {
			return
		}
		trimmed := strings.TrimSpace(s)
		if _, perr := time.Parse(time.RFC3339Nano, trimmed); perr != nil {
			if _, perr := time.Parse(time.DateOnly, trimmed); perr != nil && got.After(now) {
				t.Fatalf("age %q → %v, after now", s, got)
			}
		}
	})
}
