package dlqtool

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
)

// deadLetter is the DLQ record, in partition p of orders.dlq, of a record
// of source topic src that failed at at.
func deadLetter(p int32, src string, f dlq.Failure, at time.Time) *kgo.Record {
	r := dlq.NewRecord(&kgo.Record{Topic: src, Partition: 0, Offset: 3, Key: []byte("k"), Value: []byte(`{"orderId":"o"}`), Timestamp: at.Add(-time.Minute)},
		"orders.dlq", &f, at)
	r.Partition = p
	return r
}

// produceTo writes recs, partitions as set, and returns the options of
// the cluster.
func produceTo(t *testing.T, opts []kgo.Opt, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, r := range recs { // one at a time: each partition's offsets in the order given
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// places lists the partition@offset of shown records, sorted.
func places(shown []ShownRecord) []string {
	var out []string
	for _, s := range shown {
		out = append(out, fmt.Sprintf("%d@%d", s.Partition, s.Offset))
	}
	slices.Sort(out)
	return out
}

const (
	eur = "/currency: 'EUR' does not match pattern '^USD$'"
	gbp = "/currency: 'GBP' does not match pattern '^USD$'"
)

// TestInspectFilters: inspect counts and shows the records the filter
// selects (criteria of one kind ORed, kinds ANDed, the failure time from
// the envelope); malformed records are counted whatever the filter, and
// shown only without one.
func TestInspectFilters(t *testing.T) {
	_, opts := fakeCluster(t, "orders.dlq")
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	malformed := &kgo.Record{Topic: "orders.dlq", Partition: 2, Value: []byte("x"), Headers: []kgo.RecordHeader{{Key: dlq.HeaderVersion, Value: []byte("1")}}}
	produceTo(t, opts,
		deadLetter(0, "orders", dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema", Message: eur}, t0),                        // 0@0
		deadLetter(0, "orders", dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema", Message: gbp}, t0.Add(time.Hour)),         // 0@1
		deadLetter(1, "payments", dlq.Failure{Class: dlq.ClassRejected, Reason: "http_422", Message: "no"}, t0.Add(2*time.Hour)), // 1@0
		deadLetter(1, "orders", dlq.Failure{Class: dlq.ClassInvalid, Reason: "not_json", Message: "bad"}, t0.Add(3*time.Hour)),   // 1@1
		malformed, // 2@0
		deadLetter(2, "orders-eu", dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema", Message: eur}, t0.Add(4*time.Hour)), // 2@1
	)
	tests := []struct {
		name  string
		f     Filter
		shown []string // sorted
	}{
		{"none", Filter{}, []string{"0@0", "0@1", "1@0", "1@1", "2@0", "2@1"}},
		{"class", Filter{Classes: []string{dlq.ClassRejected}}, []string{"1@0"}},
		{"reasons ORed", Filter{Reasons: []string{"schema", "HTTP_422"}}, []string{"0@0", "0@1", "1@0", "2@1"}},
		{"kinds ANDed", Filter{Reasons: []string{"schema"}, SourceTopics: []string{"orders", "payments"}}, []string{"0@0", "0@1"}},
		{"message regexp", Filter{Message: regexp.MustCompile(`'EUR'`)}, []string{"0@0", "2@1"}},
		{"message regexp and source", Filter{Message: regexp.MustCompile(`'EUR'`), SourceTopics: []string{"orders-eu"}}, []string{"2@1"}},
		{"failure time", Filter{FailedFrom: t0.Add(time.Hour), FailedUntil: t0.Add(3 * time.Hour)}, []string{"0@1", "1@0"}},
		{"offsets", Filter{Offsets: []OffsetRange{{Partition: 1, From: 0, To: -1}}}, []string{"1@0", "1@1"}},
		{"nothing", Filter{Reasons: []string{"timeout"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Inspect(context.Background(), InspectOptions{KafkaOpts: opts, Topic: "orders.dlq", Filter: tc.f, Show: 10})
			if err != nil {
				t.Fatal(err)
			}
			if got := places(rep.Shown); !slices.Equal(got, tc.shown) {
				t.Errorf("shown %v, want %v", got, tc.shown)
			}
			wantSelected := int64(len(tc.shown))
			if slices.Contains(tc.shown, "2@0") {
				wantSelected-- // the malformed one
			}
			var byClass int64
			for _, n := range rep.ByClass {
				byClass += n
			}
			if rep.Records != 6 || rep.Malformed != 1 || len(rep.MalformedRecords) != 1 || rep.Selected != wantSelected || byClass != wantSelected {
				t.Errorf("records %d, malformed %d, selected %d, by class %d; want 6, 1, %d, %d", rep.Records, rep.Malformed, rep.Selected, byClass, wantSelected, wantSelected)
			}
			if rep.Filter != tc.f.String() {
				t.Errorf("filter %q", rep.Filter)
			}
		})
	}
	// The failure times of the report are the selected records'.
	rep, err := Inspect(context.Background(), InspectOptions{KafkaOpts: opts, Topic: "orders.dlq", Filter: Filter{Reasons: []string{"schema"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.FirstFailure.Equal(t0) || !rep.LastFailure.Equal(t0.Add(4*time.Hour)) || len(rep.ByReason) != 1 || rep.ByReason[0].Records != 3 {
		t.Errorf("schema: %v to %v, %+v", rep.FirstFailure, rep.LastFailure, rep.ByReason)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), `filter: reason/message contains "schema": 3 records selected; the counts below are theirs`) {
		t.Errorf("text:\n%s", text.String())
	}
}

// countAll counts envelopes as Inspect does, with o's Top, and returns the
// report's ByReason.
func countAll(o InspectOptions, envs ...*dlq.Envelope) *InspectReport {
	rep := &InspectReport{ByClass: map[string]int64{}, BySourceTopic: map[string]int64{}, ByReplayCount: map[int]int64{}}
	in := &inspection{o: &o, rep: rep, reasons: map[[2]string]*reasonTally{}}
	for _, e := range envs {
		in.count(e)
	}
	in.finish()
	return rep
}

func envs(class, reason, msg string, n int) []*dlq.Envelope {
	var out []*dlq.Envelope
	for range n {
		out = append(out, &dlq.Envelope{Failure: dlq.Failure{Class: class, Reason: reason, Message: msg}, Topic: "orders"})
	}
	return out
}

// TestInspectMessages: the distinct messages of each class and reason
// with their counts, most frequent first (ties in byte order), the first
// Top of them, and how many more there are.
func TestInspectMessages(t *testing.T) {
	var all []*dlq.Envelope
	all = append(all, envs("invalid", "schema", "c", 3)...)
	all = append(all, envs("invalid", "schema", "a", 5)...)
	all = append(all, envs("invalid", "schema", "d", 1)...)
	all = append(all, envs("invalid", "schema", "b", 3)...)
	all = append(all, envs("invalid", "not_json", "x", 2)...)
	all = append(all, envs("rejected", "schema", "a", 1)...) // another class: apart
	tests := []struct {
		name      string
		top       int
		want      string // class/reason: message=records ..., +more messages/records
		textLines []string
	}{
		{"top 2", 2, "invalid/schema 12: a=5 b=3 +2/4; invalid/not_json 2: x=2; rejected/schema 1: a=1",
			[]string{"invalid   schema    12       4 distinct messages, most frequent first:\n",
				"                    5        a\n", "                    3        b\n",
				"                    4        … and 2 more distinct messages (--top 0 lists every one)\n",
				"invalid   not_json  2        x\n"}},
		{"top 3", 3, "invalid/schema 12: a=5 b=3 c=3 +1/1; invalid/not_json 2: x=2; rejected/schema 1: a=1",
			[]string{"… and 1 more distinct message (--top 0 lists every one)\n"}},
		{"all", -1, "invalid/schema 12: a=5 b=3 c=3 d=1; invalid/not_json 2: x=2; rejected/schema 1: a=1", nil},
		{"top 1", 1, "invalid/schema 12: a=5 +3/7; invalid/not_json 2: x=2; rejected/schema 1: a=1", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := countAll(InspectOptions{Top: tc.top}, all...)
			var parts []string
			for _, rc := range rep.ByReason {
				s := fmt.Sprintf("%s/%s %d:", rc.Class, rc.Reason, rc.Records)
				for _, m := range rc.Messages {
					s += fmt.Sprintf(" %s=%d", m.Message, m.Records)
				}
				if rc.MoreMessages > 0 {
					s += fmt.Sprintf(" +%d/%d", rc.MoreMessages, rc.MoreRecords)
				}
				if rc.Example != rc.Messages[0].Message || rc.Distinct != len(rc.Messages)+rc.MoreMessages {
					t.Errorf("%s: example %q, distinct %d", s, rc.Example, rc.Distinct)
				}
				parts = append(parts, s)
			}
			if got := strings.Join(parts, "; "); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			var b bytes.Buffer
			if err := rep.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			for _, l := range tc.textLines {
				if !strings.Contains(b.String(), l) {
					t.Errorf("text lacks %q:\n%s", l, b.String())
				}
			}
		})
	}
}

// TestInspectMessagesBounded: past MaxDistinctMessages distinct messages
// in a topic, the records of new messages are counted, not told apart.
func TestInspectMessagesBounded(t *testing.T) {
	o := InspectOptions{Top: DefaultTop}
	rep := &InspectReport{ByClass: map[string]int64{}, BySourceTopic: map[string]int64{}, ByReplayCount: map[int]int64{}}
	in := &inspection{o: &o, rep: rep, reasons: map[[2]string]*reasonTally{}, distinct: MaxDistinctMessages - 1}
	for _, e := range slices.Concat(envs("invalid", "schema", "a", 2), envs("invalid", "schema", "b", 3), envs("invalid", "schema", "c", 1), envs("invalid", "schema", "a", 1)) {
		in.count(e)
	}
	in.finish()
	rc := rep.ByReason[0]
	if rc.Records != 7 || rc.Distinct != 1 || rc.Untracked != 4 || len(rc.Messages) != 1 || rc.Messages[0] != (MessageCount{"a", 3}) {
		t.Fatalf("%+v", rc)
	}
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "more than 1 distinct messages") || !strings.Contains(b.String(), "4        … with messages not told apart (past 10000 distinct messages in the topic)") {
		t.Errorf("text:\n%s", b.String())
	}
}

// noControlChars fails when s holds a control character other than a
// newline, or a character that is not graphic.
func noControlChars(t *testing.T, what, s string) {
	t.Helper()
	checkPrintable(t, what, s)
}

// TestInspectEscapesOnce: the report holds a message as the record has it;
// JSON carries its real characters (escaped only as JSON requires), and
// the text shows each control character escaped once: a quote as a quote,
// a newline as \n, ESC as \x1b, never \\n or \\x1b, and no raw control
// character.
func TestInspectEscapesOnce(t *testing.T) {
	const msg = "say \"hi\"\nthen \x1b[31mred\\"
	env := &dlq.Envelope{Version: 1, Failure: dlq.Failure{Class: "invalid", Reason: "schema", Message: msg, CorrelationID: "c\x1b[2J"}, Topic: "orders"}
	rec := dlq.NewRecord(&kgo.Record{Topic: "orders", Key: []byte("k\"1"), Value: []byte("v\n\x1b"), Timestamp: time.Now(),
		Headers: []kgo.RecordHeader{{Key: "h\x1b", Value: []byte("q\"\n")}}}, "orders.dlq", &env.Failure, time.Now())
	penv, orig, err := dlq.Parse(rec.Headers)
	if err != nil {
		t.Fatal(err)
	}
	rep := countAll(InspectOptions{Top: 10}, penv)
	rep.Topic, rep.Records, rep.Selected = "orders.dlq", 1, 1
	rep.Shown = []ShownRecord{showRecord(rec, penv, orig, nil, 256)}

	var js bytes.Buffer
	if err := WriteJSON(&js, map[string]any{"topics": []*InspectReport{rep}}); err != nil {
		t.Fatal(err)
	}
	noControlChars(t, "JSON", js.String())
	var back struct{ Topics []InspectReport }
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	got := back.Topics[0]
	s := got.Shown[0]
	for name, pair := range map[string][2]string{
		"message":        {got.ByReason[0].Messages[0].Message, msg},
		"example":        {got.ByReason[0].Example, msg},
		"shown message":  {s.Envelope.Message, msg},
		"correlation id": {s.Envelope.CorrelationID, "c\x1b[2J"},
		"key":            {*s.Key, "k\"1"},
		"value":          {*s.Value, "v\n\x1b"},
		"header":         {s.Headers[0].Key + "=" + s.Headers[0].Value, "h\x1b=q\"\n"},
	} {
		if pair[0] != pair[1] {
			t.Errorf("JSON %s %q, want %q", name, pair[0], pair[1])
		}
	}
	if !strings.Contains(js.String(), `"say \"hi\"\nthen \u001b[31mred\\"`) {
		t.Errorf("JSON does not carry the message escaped as JSON does:\n%s", js.String())
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	noControlChars(t, "text", out)
	for _, want := range []string{
		"invalid  schema  1        say \"hi\"\\nthen \\x1b[31mred\\\\\n", // the table
		"message:      say \"hi\"\\nthen \\x1b[31mred\\\\\n",             // --show
		"correlation:  c\\x1b[2J  idempotency key: none (event type or business key not found in the record)\n",
		"key:          k\"1\n",
		"value:        v\\n\\x1b (3 bytes)\n",
		"headers:      h\\x1b: q\"\\n\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	for _, twice := range []string{`\\n`, `\\x1b`, `\"`} {
		if strings.Contains(strings.ReplaceAll(out, `red\\`, ""), twice) {
			t.Errorf("text escapes twice (%s):\n%s", twice, out)
		}
	}

	// A line carries the same characters.
	l := NewLine(rec, penv, orig)
	var lb bytes.Buffer
	if err := writeLine(&lb, &l); err != nil {
		t.Fatal(err)
	}
	noControlChars(t, "line", lb.String())
	var line Line
	if err := json.Unmarshal(lb.Bytes(), &line); err != nil || line.DLQ.Message != msg || *line.Value != "v\n\x1b" || line.Headers["h\x1b"] != "q\"\n" {
		t.Errorf("line %s: %+v, %v", lb.String(), line, err)
	}
}

// TestShownValueCut: a value is shown up to the excerpt, cut on a
// character boundary, and the text says how to see it whole; with no
// excerpt (--full) it is whole. Bytes that are not UTF-8 are carried in
// base64 and shown escaped.
func TestShownValueCut(t *testing.T) {
	long := []byte(`{"orderId":"` + strings.Repeat("x", 242) + `é` + strings.Repeat("y", 300) + `"}`) // é is bytes 254 and 255
	tests := []struct {
		name     string
		value    []byte
		excerpt  int
		shown    int // bytes
		cut      bool
		b64      bool
		textPart string
	}{
		{"cut", long, 256, 256, true, false, " (558 bytes; the first 256 shown: --full shows the whole value)\n"},
		{"cut before a split character", long, 255, 254, true, false, "…" + " (558 bytes; the first 254 shown"},
		{"full", long, 0, len(long), false, false, `yy"} (558 bytes)` + "\n"},
		{"short", []byte("abc"), 256, 3, false, false, "value:        abc (3 bytes)\n"},
		{"not UTF-8", []byte("a\xffb"), 256, 3, false, true, `value:        a\xffb (3 bytes)` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &kgo.Record{Value: tc.value}
			s := showRecord(r, &dlq.Envelope{Failure: dlq.Failure{Class: "invalid", Reason: "schema"}}, nil, nil, tc.excerpt)
			got := raw(s.Value, s.ValueBase64)
			if len(got) != tc.shown || !bytes.HasPrefix(tc.value, got) || s.ValueTruncated != tc.cut || (s.ValueBase64 != nil) != tc.b64 || s.ValueBytes != len(tc.value) {
				t.Errorf("shown %d bytes (cut %v, base64 %v), want %d (%v, %v)", len(got), s.ValueTruncated, s.ValueBase64 != nil, tc.shown, tc.cut, tc.b64)
			}
			var b bytes.Buffer
			if err := s.writeText(&b); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), tc.textPart) {
				t.Errorf("text lacks %q:\n%s", tc.textPart, b.String())
			}
		})
	}
}

// TestInspectLines: with Lines, inspect writes one JSON line per selected
// record, the first Show of them (ShowAll: every one): the original record
// whole in dry-run's fields (base64 for bytes that are not UTF-8, null for
// a tombstone) and the dead letter under "dlq"; records stored without
// their value and malformed ones are left out, and counted.
func TestInspectLines(t *testing.T) {
	_, opts := fakeCluster(t, "orders.dlq")
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	f := dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema", Message: eur, CorrelationID: "corr-1"}
	big := `{"orderId":"ORD-1","pad":"` + strings.Repeat("p", 600) + `"}`
	src := func(off int64, key, value []byte) *kgo.Record {
		return &kgo.Record{Topic: "orders", Partition: 2, Offset: off, Key: key, Value: value, Timestamp: at,
			Headers: []kgo.RecordHeader{{Key: "x-correlation-id", Value: []byte("corr-1")}, {Key: "x-correlation-id", Value: []byte("second")}}}
	}
	withP := func(r *kgo.Record) *kgo.Record { r.Partition = 0; return r }
	omitted := withP(dlq.NewRecord(src(4, []byte("k4"), []byte("{}")), "orders.dlq", &f, at))
	dlq.OmitValue(omitted, 5<<20)
	produceTo(t, opts,
		withP(dlq.NewRecord(src(1, []byte("k1"), []byte(big)), "orders.dlq", &f, at)),
		withP(dlq.NewRecord(src(2, nil, []byte("\x00\xff")), "orders.dlq", &f, at)),
		withP(dlq.NewRecord(src(3, []byte("\xfe"), nil), "orders.dlq", &f, at)),
		omitted,
		&kgo.Record{Topic: "orders.dlq", Partition: 0, Value: []byte("x")}, // malformed
		withP(dlq.NewRecord(src(5, []byte("k5"), []byte("{}")), "orders.dlq", &dlq.Failure{Class: dlq.ClassInvalid, Reason: "not_json"}, at)),
	)
	for _, tc := range []struct {
		show    int
		lines   int
		leftOut int64
	}{{ShowAll, 3, 1}, {2, 2, 1}, {0, 0, 1}} {
		var out bytes.Buffer
		rep, err := Inspect(context.Background(), InspectOptions{KafkaOpts: opts, Topic: "orders.dlq", Lines: &out, Show: tc.show,
			Filter: Filter{Reasons: []string{"schema"}}})
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if out.Len() == 0 {
			lines = nil
		}
		if len(lines) != tc.lines || rep.Written != int64(tc.lines) || rep.LeftOut != tc.leftOut || rep.Selected != 4 || rep.Malformed != 1 || len(rep.Shown) != 0 {
			t.Fatalf("show %d: %d lines, written %d, left out %d, selected %d, malformed %d:\n%s", tc.show, len(lines), rep.Written, rep.LeftOut, rep.Selected, rep.Malformed, out.String())
		}
		if tc.show != ShowAll {
			continue
		}
		byOffset, rawLine := map[int64]Line{}, map[int64]string{}
		for _, s := range lines {
			var l Line
			if err := json.Unmarshal([]byte(s), &l); err != nil {
				t.Fatalf("%v: %s", err, s)
			}
			byOffset[l.Offset], rawLine[l.Offset] = l, s
		}
		l1, l2, l3 := byOffset[1], byOffset[2], byOffset[3]
		if l1.Topic != "orders" || l1.Partition != 2 || *l1.Key != "k1" || *l1.Value != big || l1.Headers["x-correlation-id"] != "corr-1" || len(l1.Headers) != 1 {
			t.Errorf("line 1: %+v", l1)
		}
		if l1.DLQ.Topic != "orders.dlq" || l1.DLQ.Partition != 0 || l1.DLQ.Offset != 0 || !l1.DLQ.Timestamp.Equal(at) || l1.DLQ.EnvelopeJS == nil ||
			l1.DLQ.Reason != "schema" || l1.DLQ.Message != eur || l1.DLQ.CorrelationID != "corr-1" || l1.DLQ.SourceOffset != 1 {
			t.Errorf("line 1 dlq: %+v", l1.DLQ)
		}
		if l2.Key != nil || l2.KeyBase64 != nil || l2.Value != nil || l2.ValueBase64 == nil || *l2.ValueBase64 != base64.StdEncoding.EncodeToString([]byte("\x00\xff")) {
			t.Errorf("line 2: %+v", l2)
		}
		if l3.Key != nil || l3.KeyBase64 == nil || *l3.KeyBase64 != "/g==" || l3.Value != nil || l3.ValueBase64 != nil || !strings.Contains(rawLine[3], `"value":null`) {
			t.Errorf("line 3 (a tombstone): %+v", l3)
		}
	}
	if _, err := Inspect(context.Background(), InspectOptions{KafkaOpts: opts, Topic: "orders.dlq", Show: ShowAll}); err == nil {
		t.Error("ShowAll without Lines accepted")
	}
}

// TestInspectReplayed: each consumer group with committed offsets on the
// DLQ topic is listed with its position, and the selected records behind
// and ahead of it; groups of other topics are not.
func TestInspectReplayed(t *testing.T) {
	_, opts := fakeCluster(t, "orders.dlq", "orders")
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for p := range int32(3) {
		recs = append(recs,
			deadLetter(p, "orders", dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema", Message: eur}, at),
			deadLetter(p, "orders", dlq.Failure{Class: dlq.ClassInvalid, Reason: "not_json", Message: "bad"}, at))
	}
	produceTo(t, opts, recs...)
	inspect := func(f Filter) *InspectReport {
		t.Helper()
		rep, err := Inspect(context.Background(), InspectOptions{KafkaOpts: opts, Topic: "orders.dlq", Filter: f, Replayed: true})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := inspect(Filter{}); rep.ReplayGroups == nil || len(rep.ReplayGroups) != 0 {
		t.Errorf("no group yet: %+v", rep.ReplayGroups)
	} else {
		var b bytes.Buffer
		if err := rep.WriteText(&b); err != nil || !strings.Contains(b.String(), "no consumer group has committed offsets on orders.dlq: no replay has read it") {
			t.Errorf("text:\n%s", b.String())
		}
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	commit := func(group, topic string, at map[int32]int64) {
		var os kadm.Offsets
		for p, o := range at {
			os.Add(kadm.Offset{Topic: topic, Partition: p, At: o, LeaderEpoch: -1})
		}
		resp, err := kadm.NewClient(cl).CommitOffsets(context.Background(), group, os)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	commit("orders.dlq.replay", "orders.dlq", map[int32]int64{0: 2, 1: 1})
	commit("orders.dlq.fix-1", "orders.dlq", map[int32]int64{2: 0})
	commit("bridge", "orders", map[int32]int64{0: 5})
	for _, tc := range []struct {
		name string
		f    Filter
		want string
	}{
		// orders.dlq.replay passed 0@0 0@1 1@0 of 0@0 0@1 1@0 1@1 2@0 2@1.
		{"all", Filter{}, "orders.dlq.fix-1 2:0 0/6; orders.dlq.replay 0:2 1:1 3/3"},
		// schema: 0@0 1@0 2@0.
		{"schema", Filter{Reasons: []string{"schema"}}, "orders.dlq.fix-1 2:0 0/3; orders.dlq.replay 0:2 1:1 2/1"},
	} {
		rep := inspect(tc.f)
		var parts []string
		for _, g := range rep.ReplayGroups {
			var pos []string
			for _, p := range slices.Sorted(maps.Keys(g.Committed)) {
				pos = append(pos, fmt.Sprintf("%d:%d", p, g.Committed[p]))
			}
			parts = append(parts, fmt.Sprintf("%s %s %d/%d", g.Group, strings.Join(pos, " "), g.Behind, g.Ahead))
		}
		if got := strings.Join(parts, "; "); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
		var b bytes.Buffer
		if err := rep.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`\norders\.dlq\.replay +0:2 1:1 +\d+ +\d+\n`).MatchString(b.String()) {
			t.Errorf("%s: text:\n%s", tc.name, b.String())
		}
	}
}
