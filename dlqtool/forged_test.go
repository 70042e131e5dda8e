package dlqtool

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/dlq"
)

// testRoutes compiles routes under the DLQ topic template tmpl.
func testRoutes(t *testing.T, tmpl string, routes ...config.Route) *Routes {
	t.Helper()
	cfg := &config.Config{Routes: routes}
	cfg.DLQ.Topic = tmpl
	r, err := NewRoutes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRoutes: without --to a replay writes only to a topic a route names
// or matches, never to a dead-letter topic; --to may name any valid topic
// but a dead-letter one.
func TestRoutes(t *testing.T) {
	exact := testRoutes(t, "{topic}.dlq", config.Route{Topic: "orders"}, config.Route{Topic: "legacy.dlq"})
	pattern := testRoutes(t, "dlq-{topic}-{topic}", config.Route{TopicPattern: `^shop\.`}, config.Route{Topic: "orders"})
	shared := testRoutes(t, "bridge.dlq", config.Route{TopicPattern: `.*`})
	tests := []struct {
		name   string
		r      *Routes
		topic  string
		want   string // "" when allowed
		wantTo string // "" when allowed as --to
	}{
		{"exact", exact, "orders", "", ""},
		{"unrouted", exact, "payments", "is not routed", ""},
		{"prefix of a route", exact, "order", "is not routed", ""},
		{"DLQ of a route", exact, "orders.dlq", "is a dead-letter topic", "is a dead-letter topic"},
		{"the replayed DLQ", exact, "replayed.dlq", "is a dead-letter topic", "is the DLQ topic being replayed"},
		// legacy.dlq is routed and is the DLQ of "legacy", which no route
		// names: a source, not a dead-letter topic.
		{"routed name that looks like a DLQ", exact, "legacy.dlq", "", ""},
		{"DLQ of a routed DLQ-looking topic", exact, "legacy.dlq.dlq", "is a dead-letter topic", "is a dead-letter topic"},
		{"pattern", pattern, "shop.eu", "", ""},
		{"pattern unanchored end", pattern, "shop.eu.x", "", ""},
		{"pattern no match", pattern, "xshop.eu", "is not routed", ""},
		{"pattern DLQ, two placeholders", pattern, "dlq-shop.eu-shop.eu", "is a dead-letter topic", "is a dead-letter topic"},
		{"pattern DLQ of an exact route", pattern, "dlq-orders-orders", "is a dead-letter topic", "is a dead-letter topic"},
		{"not quite a DLQ name", pattern, "dlq-shop.eu-shop.us", "is not routed", ""},
		{"shared DLQ matched by pattern", shared, "bridge.dlq", "is a dead-letter topic", "is a dead-letter topic"},
		{"everything else is routed by .*", shared, "payments", "", ""},
		{"invalid --to", exact, "bad\x1b[2Jtopic", "is not routed", "is not a valid Kafka topic name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Check(tc.topic, "replayed.dlq")
			if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check(%q) = %v, want %q", tc.topic, err, tc.want)
			}
			err = tc.r.CheckTo(tc.topic, "replayed.dlq")
			if (tc.wantTo == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.wantTo) {
				t.Errorf("CheckTo(%q) = %v, want %q", tc.topic, err, tc.wantTo)
			}
		})
	}
	var none *Routes
	if err := none.Check("orders", "orders.dlq"); err == nil {
		t.Error("no routes: every source topic must be refused")
	}
}

// forged is a DLQ record of source topic src whose envelope headers are
// then overridden.
func forged(src string, over map[string]string) *kgo.Record {
	r := dlq.NewRecord(&kgo.Record{Topic: src, Partition: 0, Offset: 7, Key: []byte("k"), Value: []byte(`{"i":1}`), Timestamp: time.Now()},
		"orders.dlq", &dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema", Message: "m"}, time.Now())
	for i, h := range r.Headers {
		if v, ok := over[h.Key]; ok {
			r.Headers[i].Value = []byte(v)
		}
	}
	return r
}

// TestDecideForged: a record naming an unrouted topic or a dead-letter
// topic is refused, not written; a forged replay count does not stop a
// record.
func TestDecideForged(t *testing.T) {
	routes := testRoutes(t, "{topic}.dlq", config.Route{Topic: "orders"})
	o := ReplayOptions{MaxReplays: 3, Topic: "orders.dlq", Routes: routes}
	for _, src := range []string{"payments", "orders.dlq", "other.dlq"} {
		if got := o.decide(forged(src, nil)); got.kind != outRefuse || got.out != nil || !strings.Contains(got.why, "source topic "+src+" is") {
			t.Errorf("source %s: %+v", src, got)
		}
	}
	// The filter comes first: a record it skips is skipped, not refused.
	o.Filter.SourceTopics = []string{"orders"}
	if got := o.decide(forged("payments", nil)); got.kind != outSkip {
		t.Errorf("filtered: %+v", got)
	}
	o.Filter = Filter{}
	// --to is the operator's choice: the envelope's topic does not matter.
	o.To = "staging"
	if got := o.decide(forged("payments", nil)); got.kind != outReplay || got.out.Topic != "staging" {
		t.Errorf("--to: %+v", got)
	}
	o.To = ""
	for _, v := range []string{"-1", "99999999999"} {
		got := o.decide(forged("orders", map[string]string{dlq.HeaderReplayCount: v}))
		if got.kind != outReplay || got.out.Topic != "orders" || string(got.out.Headers[len(got.out.Headers)-1].Value) != "1" {
			t.Errorf("replay count %s: %+v", v, got)
		}
	}
	if got := o.decide(forged("orders", map[string]string{dlq.HeaderTopic: "orders\x1b]0;pwned\a"})); got.kind != outMalformed || strings.ContainsRune(got.why, 0x1b) {
		t.Errorf("escape in the source topic: %+v", got)
	}
}

// checkPrintable fails when out holds a control character other than a
// newline, DEL, a C1 control or another character that is not graphic.
func checkPrintable(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: not UTF-8:\n%q", what, out)
	}
	for _, r := range out {
		if r != '\n' && (r < 0x20 || r == 0x7f || !unicode.IsGraphic(r)) {
			t.Errorf("%s holds %U:\n%q", what, r, out)
			return
		}
	}
}

// TestTextEscapes: whatever a record, a flag or an error carries, the text
// reports hold no control character, and the JSON reports stay the same
// documents, with ESC, DEL, C1 and bidi characters escaped.
func TestTextEscapes(t *testing.T) {
	const evil = "x\x1b]0;pwned\a\x1b[2J\x7f\u009b\u202e\xff"
	env := &dlq.Envelope{Version: 1, Failure: dlq.Failure{Class: evil, Reason: evil, Message: evil, Response: evil, CorrelationID: evil, IdempotencyKey: evil},
		Topic: evil, IgnoredReplayCount: evil}
	rec := &kgo.Record{Key: []byte(evil), Value: []byte(evil), Headers: []kgo.RecordHeader{{Key: evil, Value: []byte(evil)}}}
	shown := showRecord(rec, env, rec.Headers, nil, 256)
	malformed := showRecord(rec, nil, nil, errString(evil), 256)
	rep := &InspectReport{Topic: evil, Records: 2, Malformed: 1, ReplayCountIgnored: 1,
		ByClass: map[string]int64{evil: 1}, BySourceTopic: map[string]int64{evil: 1}, ByReplayCount: map[int]int64{0: 1},
		ByReason:         []ReasonCount{{Class: evil, Reason: evil, Records: 1, Example: evil, Messages: []MessageCount{{Message: evil, Records: 1}}, Distinct: 1}},
		MalformedRecords: []Problem{{Error: evil}}, Shown: []ShownRecord{shown, malformed}}
	sum := &ReplaySummary{Topic: evil, Group: evil, TransactionalID: evil, Filter: evil, Refused: 1, DryRun: true,
		ByClass: map[string]*ClassCounts{evil: {Refused: 1}}, ByDestination: map[string]int64{evil: 1},
		Problems: []Problem{{Error: evil}}, Samples: []ShownRecord{shown}}
	for name, w := range map[string]func(*bytes.Buffer) error{
		"inspect": func(b *bytes.Buffer) error { return rep.WriteText(b) },
		"replay":  func(b *bytes.Buffer) error { return sum.WriteText(b) },
		"report": func(b *bytes.Buffer) error {
			s := &ReplaySummary{Topic: evil, ByClass: map[string]*ClassCounts{}, ByDestination: map[string]int64{}}
			s.merge(&tally{problems: []Problem{{Error: evil}}}, b)
			return nil
		},
	} {
		var b bytes.Buffer
		if err := w(&b); err != nil {
			t.Fatal(err)
		}
		checkPrintable(t, name, b.String())
		if !strings.Contains(b.String(), `x\x1b]0;pwned\x07\x1b[2J\x7f\u009b\u202e\xff`) {
			t.Errorf("%s: the escaped text is not shown:\n%s", name, b.String())
		}
	}
	for name, v := range map[string]any{"inspect": map[string]any{"topics": []*InspectReport{rep}}, "replay": sum} {
		var b bytes.Buffer
		if err := WriteJSON(&b, v); err != nil {
			t.Fatal(err)
		}
		for _, r := range b.String() {
			if r != '\n' && (r < 0x20 || r == 0x7f || !unicode.IsGraphic(r)) {
				t.Errorf("%s JSON holds %U", name, r)
			}
		}
		if !json.Valid(b.Bytes()) || !strings.Contains(b.String(), `\u001b]0;pwned\u0007\u001b[2J\u007f\u009b\u202e\ufffd`) {
			t.Errorf("%s JSON:\n%s", name, b.String())
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestReplayRefusesUnroutedSource: against kfake, a replay writes the
// routed record, refuses the forged ones (nothing reaches "payments" or a
// DLQ topic), commits past all of them like the other refusals, and
// reports them.
func TestReplayRefusesUnroutedSource(t *testing.T) {
	_, opts := fakeCluster(t, "orders", "orders.dlq", "payments", "other.dlq")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recs := []*kgo.Record{forged("orders", nil), forged("payments", nil), forged("other.dlq", nil), forged("orders.dlq", nil),
		forged("orders", map[string]string{dlq.HeaderReplayCount: "99999999999"})}
	for _, r := range recs {
		r.Topic = "orders.dlq"
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	group := DefaultGroup("orders.dlq")
	createGroup(t, opts, group, "orders.dlq")
	var report bytes.Buffer
	sum, err := Replay(ctx, ReplayOptions{KafkaOpts: opts, Topic: "orders.dlq", Report: &report,
		Routes: testRoutes(t, "{topic}.dlq", config.Route{Topic: "orders"}, config.Route{TopicPattern: "^other"})})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Read != 5 || sum.Replayed != 2 || sum.Refused != 3 || sum.ByDestination["orders"] != 2 || len(sum.ByDestination) != 1 || !sum.Failed() {
		t.Errorf("summary: %+v", sum)
	}
	for _, want := range []string{"source topic payments is not routed", "source topic other.dlq is a dead-letter topic", "source topic orders.dlq is a dead-letter topic"} {
		if !strings.Contains(report.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, report.String())
		}
	}
	if got := readN(t, opts, "orders", 2); len(got) != 2 {
		t.Errorf("orders: %d records, want 2", len(got))
	}
	adm := kadm.NewClient(cl)
	for _, topic := range []string{"payments", "other.dlq"} {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset != 0 {
				t.Errorf("%s[%d] has %d records", topic, o.Partition, o.Offset)
			}
		})
	}
	// The refused records are committed past, as other refusals: a rerun
	// reads nothing.
	again, err := Replay(ctx, ReplayOptions{KafkaOpts: opts, Topic: "orders.dlq", Routes: testRoutes(t, "{topic}.dlq", config.Route{Topic: "orders"})})
	if err != nil || again.Read != 0 {
		t.Errorf("rerun: %+v, %v", again, err)
	}
	// --to a dead-letter topic is refused before anything is read.
	if _, err := Replay(ctx, ReplayOptions{KafkaOpts: opts, Topic: "orders.dlq", To: "other.dlq", Group: "g2",
		Routes: testRoutes(t, "{topic}.dlq", config.Route{TopicPattern: "^other"})}); err == nil || !strings.Contains(err.Error(), "dead-letter") {
		t.Errorf("--to other.dlq: %v", err)
	}
}
