package dryrun_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/dryrun"
	"github.com/cxone-bridge/bridge/transform"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestParseRecord(t *testing.T) {
	tests := []struct {
		name, line string
		value      []byte // nil: tombstone
		headers    int
		err        string
	}{
		{"object value", `{"topic":"orders","value":{"a":1}}`, []byte(`{"a":1}`), 0, ""},
		{"string value", `{"topic":"orders","value":"not json"}`, []byte("not json"), 0, ""},
		{"array value", `{"topic":"orders","value":[1, 2]}`, []byte(`[1, 2]`), 0, ""},
		{"null value", `{"topic":"orders","value":null}`, nil, 0, ""},
		{"absent value", `{"topic":"orders"}`, nil, 0, ""},
		{"base64 value", `{"topic":"orders","value_base64":"/w=="}`, []byte{0xff}, 0, ""},
		{"headers", `{"topic":"orders","value":"x","headers":{"a":"1","b":"2"}}`, []byte("x"), 2, ""},
		{"no topic", `{"value":"x"}`, nil, 0, `"topic" is required`},
		{"unknown field", `{"topic":"orders","hedaers":{}}`, nil, 0, `not a record object: unknown field "hedaers"; a record has the fields topic, key (or key_base64), value (or value_base64), headers, partition, offset and timestamp, such as {"topic":"orders","key":"…","value":{…},"headers":{…}}`},
		{"bare value", `{"orderId":"x"}`, nil, 0, `not a record object: unknown field "orderId"; each line is one record with the message under "value", such as {"topic":"orders","key":"…","value":{…},"headers":{…}}`},
		{"bare value, topic field too", `{"orderId":"x","topic":"orders"}`, nil, 0, `unknown field "orderId"; a record has the fields`},
		{"both values", `{"topic":"orders","value":"x","value_base64":"eA=="}`, nil, 0, "not both"},
		{"bad base64", `{"topic":"orders","value_base64":"!!"}`, nil, 0, "value_base64"},
		{"not JSON", `hello`, nil, 0, "not JSON: unexpected text at byte 1"},
		{"trailing", `{"topic":"orders"} {}`, nil, 0, "trailing data"},
		{"header not a string", `{"topic":"orders","headers":{"a":1}}`, nil, 0, `"headers" must map header names to strings`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := dryrun.ParseRecord([]byte(tc.line), now)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rec.Value, tc.value) || (rec.Value == nil) != (tc.value == nil) || len(rec.Headers) != tc.headers {
				t.Errorf("rec = %+v", rec)
			}
		})
	}
}

func TestRun(t *testing.T) {
	tr, err := transform.New(transform.Config{
		Routes: []transform.Route{{Name: "routes[0]", Topic: "orders", EventType: "OrderCreated",
			SchemaFile: "../schemas/order.json", BusinessKey: "/orderId", TimestampField: "/timestamp"}},
		Correlation: transform.Correlation{Headers: []string{"x-correlation-id"}, MaxLength: 128},
	})
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Join([]string{
		`{"topic":"orders","value":{"orderId":"ORD-1234567890","customerId":"C","totalAmount":1,"currency":"USD","timestamp":"2026-01-01T00:00:00Z"},"headers":{"x-correlation-id":"c-1"}}`,
		``,
		`{"topic":"orders","value":"nope","offset":7}`,
		`{"topic":"orders","value":null}`,
		`garbage`,
		strings.Repeat("x", 300),
	}, "\n")
	var out bytes.Buffer
	sum, err := dryrun.Run(strings.NewReader(in), &out, dryrun.Options{
		Transformer: tr, EventsURL: "https://cxone.example/api/v2/eventbridge/events",
		DLQTopic: func(s string) string { return s + ".dlq" },
		Headers:  func(ev *transform.Event) [][2]string { return [][2]string{{"X-Idempotency-Key", ev.IdempotencyKey}} },
		JSON:     true, MaxLine: 256,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum != (dryrun.Summary{Records: 5, Publish: 1, DLQ: 1, Skip: 1, BadInput: 2}) {
		t.Errorf("summary = %+v", sum)
	}
	var results []dryrun.Result
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r dryrun.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		results = append(results, r)
	}
	if len(results) != 5 {
		t.Fatalf("%d results", len(results))
	}
	if r := results[0]; r.Outcome != "publish" || r.Request.Headers[0][1] != "8bb2fd79-b926-5d35-b05d-6c664ce6f258" || !json.Valid(r.Request.Body) {
		t.Errorf("publish result = %+v", r)
	}
	if r := results[1]; r.Line != 3 || r.Outcome != "dlq" || r.Reason != "not_json" || r.DLQTopic != "orders.dlq" || r.Offset != 7 || r.CorrelationID == "" {
		t.Errorf("dlq result = %+v", r)
	}
	if r := results[2]; r.Outcome != "skip" {
		t.Errorf("skip result = %+v", r)
	}
	if r := results[3]; r.Outcome != "bad_input" || r.Line != 5 {
		t.Errorf("bad line result = %+v", r)
	}
	if r := results[4]; r.Outcome != "bad_input" || !strings.Contains(r.Detail, "longer than 256") {
		t.Errorf("long line result = %+v", r)
	}
}

// FuzzParseRecord: any input line is parsed or rejected with an error,
// never a panic.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{`{"topic":"orders","value":{"a":1},"headers":{"x":"y"}}`, `{"topic":"t","value_base64":"AA=="}`, `{"topic":"t","value":"\u0000"}`, `[]`, `{"topic":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := dryrun.ParseRecord(line, now)
		if err == nil && rec.Topic == "" {
			t.Fatal("record without topic accepted")
		}
	})
}

// TestRunEscapes: whatever the input record carries (escape sequences,
// C1 controls, bidi overrides in its topic, headers, value or a bad
// line), the text output holds no control character but the newlines it
// writes itself, and the JSON lines stay the same JSON with those
// characters escaped.
func TestRunEscapes(t *testing.T) {
	tr, err := transform.New(transform.Config{
		Routes: []transform.Route{{Name: "routes[0]", TopicPattern: ".", EventType: "OrderCreated",
			SchemaFile: "../schemas/order.json", BusinessKey: "/orderId", TimestampField: "/timestamp"}},
		Correlation: transform.Correlation{Headers: []string{"x-correlation-id"}, MaxLength: 128},
	})
	if err != nil {
		t.Fatal(err)
	}
	const evil = `\u001b]0;pwned\u0007\u001b[2J\u007f\u009b\u202e`
	in := strings.Join([]string{
		`{"topic":"orders` + evil + `","value":{"orderId":"ORD-1234567890","customerId":"C` + evil + `","totalAmount":1,"currency":"USD","timestamp":"2026-01-01T00:00:00Z"},"headers":{"x-correlation-id":"c` + evil + `"}}`,
		`{"topic":"orders` + evil + `","value":"nope` + evil + `","headers":{"x-correlation-id":"c` + evil + `"}}`,
		`{"topic":"orders` + evil + `","value":{"orderId":"ORD-1234567890","customerId":"C","totalAmount":1,"currency":"` + evil + `","timestamp":"2026-01-01T00:00:00Z"}}`,
		"garbage\x1b[2J\u202e",
	}, "\n")
	for _, asJSON := range []bool{false, true} {
		var out bytes.Buffer
		sum, err := dryrun.Run(strings.NewReader(in), &out, dryrun.Options{
			Transformer: tr, EventsURL: "https://cxone.example/api/v2/eventbridge/events",
			DLQTopic: func(s string) string { return s + ".dlq" },
			Headers: func(ev *transform.Event) [][2]string {
				return [][2]string{{"X-Correlation-Id", ev.CorrelationID}}
			},
			JSON: asJSON,
		})
		if err != nil {
			t.Fatal(err)
		}
		if sum != (dryrun.Summary{Records: 4, Publish: 1, DLQ: 2, BadInput: 1}) {
			t.Errorf("json %v: summary = %+v", asJSON, sum)
		}
		for _, r := range out.String() {
			if r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x202e) {
				t.Fatalf("json %v: output holds %U:\n%s", asJSON, r, out.String())
			}
		}
		if !asJSON {
			for _, want := range []string{`orders\x1b]0;pwned\x07\x1b[2J\x7f\u009b\u202e[0]@0 → publish`,
				`"customerId":"C\u001b]0;pwned\u0007\u001b[2J\u007f\u009b\u202e"`, "→ DLQ orders\\x1b]0;pwned", "detail: /currency: '"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("text output lacks %q:\n%s", want, out.String())
				}
			}
			continue
		}
		for i, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var r dryrun.Result
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("line %d: %v\n%s", i, err, line)
			}
			if i < 3 && r.Topic != "orders\x1b]0;pwned\a\x1b[2J\x7f\u009b\u202e" {
				t.Errorf("line %d: topic %q: the JSON does not say the same", i, r.Topic)
			}
		}
	}
}

// TestParseRecordErrorsInOurWords: a line that is not a record is
// explained in terms of the input format, not the JSON parser's.
func TestParseRecordErrorsInOurWords(t *testing.T) {
	for in, want := range map[string]string{
		`no`:                                 `not JSON: unexpected text at byte 2`,
		`{"topic":1}`:                        `"topic" must be a string, got a JSON number`,
		`[1]`:                                `a line must be a JSON object`,
		`{"topic":"orders","partition":"x"}`: `"partition" must be a whole number, got a JSON string`,
	} {
		_, err := dryrun.ParseRecord([]byte(in), time.Now())
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "literal") {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}
