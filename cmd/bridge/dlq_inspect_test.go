package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/dlqtool"
)

// TestDLQInspectIdempotencyKey: `dlq inspect --show` prints the
// idempotency key a dead letter was sent with when its envelope has one
// (a rejected record), and says why there is none when it has none (an
// invalid record whose key could not be derived), rather than an empty
// "idempotency key:".
func TestDLQInspectIdempotencyKey(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	now := time.Now()
	src := func(i int) *kgo.Record {
		return &kgo.Record{Topic: "orders", Offset: int64(i), Key: []byte("k"), Value: []byte(`{"i":1}`), Timestamp: now}
	}
	const key = "8bb2fd79-b926-5d35-b05d-6c664ce6f258"
	recs := []*kgo.Record{
		// As the bridge writes them: an invalid record has a correlation
		// id and no key; a rejected one both.
		dlq.NewRecord(src(0), "orders.dlq", &dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema", Message: "bad", CorrelationID: "corr-invalid"}, now),
		dlq.NewRecord(src(1), "orders.dlq", &dlq.Failure{Class: dlq.ClassRejected, Reason: "http_422", Message: "no", HTTPStatus: 422, Attempts: 1,
			CorrelationID: "corr-rejected", IdempotencyKey: key}, now),
		// Written by another tool: a key without a correlation id.
		dlq.NewRecord(src(2), "orders.dlq", &dlq.Failure{Class: dlq.ClassRejected, Reason: "http_400", Message: "no", IdempotencyKey: key}, now),
	}
	for _, r := range recs {
		r.Partition = 0
	}
	e.produce(recs...)

	out, errOut, code := runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--show", "10")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	blocks := strings.Split(out, "\n--- partition ")[1:]
	if len(blocks) != 3 {
		t.Fatalf("%d records shown, want 3:\n%s", len(blocks), out)
	}
	for i, want := range []struct{ line, not string }{
		{"\ncorrelation:  corr-invalid  idempotency key: none (event type or business key not found in the record)\n", ""},
		{"\ncorrelation:  corr-rejected  idempotency key: " + key + "\n", ""},
		{"\nidempotency key: " + key + "\n", "correlation:"},
	} {
		if !strings.Contains(blocks[i], want.line) || want.not != "" && strings.Contains(blocks[i], want.not) {
			t.Errorf("record %d shown as\n%s\nwant the line %q and no %q", i, blocks[i], strings.TrimSpace(want.line), want.not)
		}
	}
	if strings.Contains(out, "idempotency key: \n") || strings.Contains(out, "idempotency key:  ") {
		t.Errorf("an empty idempotency key is shown:\n%s", out)
	}

	// The JSON leaves the key out when there is none.
	out, _, code = runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--show", "10", "--output", "json")
	var rep struct{ Topics []dlqtool.InspectReport }
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Topics) != 1 || len(rep.Topics[0].Shown) != 3 {
		t.Fatalf("inspect json: exit %d\n%s", code, out)
	}
	for i, want := range []string{"", key, key} {
		if got := rep.Topics[0].Shown[i].Envelope.IdempotencyKey; got != want {
			t.Errorf("record %d: idempotency key %q, want %q", i, got, want)
		}
	}
	if strings.Count(out, `"idempotency_key"`) != 2 {
		t.Errorf("want idempotency_key on the 2 records that have one:\n%s", out)
	}
}

// TestDLQInspectBadFlags: a bad value of an inspect (or replay) flag is a
// usage error, exit status 2, with a message naming the flag, before
// anything is read (the configuration named does not even exist).
func TestDLQInspectBadFlags(t *testing.T) {
	tests := []struct {
		cmd  string
		args []string
		want string
	}{
		{"inspect", []string{"--class", "transient"}, `bridge: --class "transient": want invalid or rejected`},
		{"inspect", []string{"--class", "invalid,bogus"}, `bridge: --class "bogus": want invalid or rejected`},
		{"inspect", []string{"--reason", " "}, "bridge: --reason: empty; want a reason code"},
		{"inspect", []string{"--source-topic", "bad topic"}, `bridge: --source-topic "bad topic": not a valid Kafka topic name`},
		{"inspect", []string{"--match", "(unclosed"}, `bridge: --match "(unclosed": not a regular expression: error parsing regexp: missing closing )`},
		{"inspect", []string{"--since", "yesterday"}, `bridge: --since: invalid time "yesterday": want RFC 3339`},
		{"inspect", []string{"--until", "-5m"}, `bridge: --until: invalid time "-5m"`},
		{"inspect", []string{"--since", "1h", "--until", "2h"}, "bridge: --since 20"},
		{"inspect", []string{"--offsets", "5-2"}, `bridge: --offsets: invalid offset range "5-2": end before start`},
		{"inspect", []string{"--top", "-1"}, "bridge: --top: want 0 (every message) or more, got -1"},
		{"inspect", []string{"--top", "ten"}, `bridge: --top: want a whole number, got "ten"`},
		{"inspect", []string{"--show", "-2"}, "bridge: --show: want 0 or more, got -2"},
		{"inspect", []string{"--full=maybe"}, `bridge: --full: want true or false, got "maybe"`},
		{"inspect", []string{"--output", "xml"}, `bridge: --output "xml": want text, json or jsonl`},
		{"replay", []string{"--match", "a[", "--no-progress"}, `bridge: --match "a[": not a regular expression`},
		{"replay", []string{"--class", "transient", "--no-progress"}, `bridge: --class "transient": want invalid or rejected`},
		{"replay", []string{"--output", "jsonl", "--no-progress"}, `bridge: --output "jsonl": want text or json`},
	}
	for _, tc := range tests {
		t.Run(tc.cmd+strings.Join(tc.args, " "), func(t *testing.T) {
			args := append([]string{"dlq", tc.cmd, "-c", "/nonexistent/bridge.yaml"}, tc.args...)
			out, errOut, code := runBridge(t, "", args...)
			if code != 2 || !strings.Contains(errOut, tc.want) || out != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want 2 and %q", code, errOut, out, tc.want)
			}
		})
	}
	_, errOut, _ := runBridge(t, "", "dlq", "inspect", "-c", "/nonexistent/bridge.yaml", "--since", "1h", "--until", "2h")
	if !strings.Contains(errOut, "is not before --until") {
		t.Errorf("empty range: %s", errOut)
	}
}

// inspectJSON runs `bridge dlq inspect --output json` with args and
// returns the one topic's report.
func inspectJSON(t *testing.T, cfg string, args ...string) dlqtool.InspectReport {
	t.Helper()
	out, errOut, code := runBridge(t, "", append([]string{"dlq", "inspect", "-c", cfg, "--output", "json"}, args...)...)
	var rep struct{ Topics []dlqtool.InspectReport }
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Topics) != 1 {
		t.Fatalf("inspect %v: exit %d\n%s\n%s", args, code, out, errOut)
	}
	return rep.Topics[0]
}

// TestDLQInspectFilters: the filter flags of inspect select what it
// counts and shows, like replay's: repeated flags ORed, kinds ANDed.
func TestDLQInspectFilters(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	old := time.Now().Add(-3 * time.Hour).UTC()
	rec := func(i int, over map[string]string) *kgo.Record { return forgedDLQRecord(i, "orders", over) }
	e.produce(
		rec(0, map[string]string{dlq.HeaderMessage: "/currency: 'EUR' does not match pattern '^USD$'"}),
		rec(1, map[string]string{dlq.HeaderMessage: "/currency: 'GBP' does not match pattern '^USD$'", dlq.HeaderFailedAt: old.Format(time.RFC3339Nano)}),
		rec(2, map[string]string{dlq.HeaderClass: dlq.ClassRejected, dlq.HeaderReason: "http_422", dlq.HeaderMessage: "refused"}),
		rec(3, map[string]string{dlq.HeaderReason: "not_json", dlq.HeaderMessage: "invalid character"}),
		forgedDLQRecord(4, "payments", map[string]string{dlq.HeaderMessage: "/currency: 'EUR' does not match pattern '^USD$'"}),
	)
	tests := []struct {
		args []string
		keys []string // of the records shown, sorted
	}{
		{nil, []string{"k-0", "k-1", "k-2", "k-3", "k-4"}},
		{[]string{"--class", "rejected"}, []string{"k-2"}},
		{[]string{"--reason", "schema", "--reason", "HTTP_422"}, []string{"k-0", "k-1", "k-2", "k-4"}},
		{[]string{"--reason", "schema", "--source-topic", "payments"}, []string{"k-4"}},
		{[]string{"--match", `^/currency: 'EUR'`}, []string{"k-0", "k-4"}},
		{[]string{"--match", `(?i)^/CURRENCY: 'eur'`, "--source-topic", "orders"}, []string{"k-0"}},
		{[]string{"--since", "2h"}, []string{"k-0", "k-2", "k-3", "k-4"}},
		{[]string{"--until", "2h"}, []string{"k-1"}},
		{[]string{"--until", time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339), "--reason", "schema"}, []string{"k-1"}},
		{[]string{"--offsets", "1:0-"}, []string{"k-1", "k-4"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			rep := inspectJSON(t, e.cfg, append([]string{"--show", "10"}, tc.args...)...)
			var keys []string
			for _, s := range rep.Shown {
				keys = append(keys, *s.Key)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, tc.keys) || rep.Selected != int64(len(tc.keys)) || rep.Records != 5 {
				t.Errorf("shown %v (selected %d of %d), want %v", keys, rep.Selected, rep.Records, tc.keys)
			}
		})
	}
	// The text says which filter holds, and how many records it selects.
	out, errOut, code := runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--reason", "schema", "--match", "EUR")
	if code != 0 || !strings.Contains(out, `filter: reason/message contains "schema" and message matches "EUR": 2 records selected; the counts below are theirs`) ||
		!strings.Contains(out, "invalid  schema  2        /currency: 'EUR' does not match pattern '^USD$'\n") {
		t.Errorf("exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestDLQInspectDistinctMessages: inspect lists each distinct message of
// a reason with its count, most frequent first, the first --top of them,
// and how many more there are.
func TestDLQInspectDistinctMessages(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	var recs []*kgo.Record
	for i, cur := range []string{"EUR", "EUR", "EUR", "GBP", "GBP", "CHF", "JPY"} {
		recs = append(recs, forgedDLQRecord(i, "orders", map[string]string{dlq.HeaderMessage: "/currency: '" + cur + "' does not match pattern '^USD$'"}))
	}
	e.produce(recs...)
	msg := func(cur string) string { return "/currency: '" + cur + "' does not match pattern '^USD$'" }
	out, errOut, code := runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--top", "2")
	want := "CLASS    REASON  RECORDS  MESSAGE\n" +
		"invalid  schema  7        4 distinct messages, most frequent first:\n" +
		"                 3        " + msg("EUR") + "\n" +
		"                 2        " + msg("GBP") + "\n" +
		"                 2        … and 2 more distinct messages (--top 0 lists every one)\n"
	if code != 0 || !strings.Contains(out, want) {
		t.Errorf("--top 2: exit %d, want\n%s\nin\n%s\n%s", code, want, out, errOut)
	}
	rep := inspectJSON(t, e.cfg, "--top", "0")
	rc := rep.ByReason[0]
	if len(rep.ByReason) != 1 || rc.Distinct != 4 || rc.MoreMessages != 0 || len(rc.Messages) != 4 || rc.Example != msg("EUR") ||
		rc.Messages[0] != (dlqtool.MessageCount{Message: msg("EUR"), Records: 3}) || rc.Messages[3] != (dlqtool.MessageCount{Message: msg("JPY"), Records: 1}) {
		t.Errorf("--top 0: %+v", rep.ByReason)
	}
	if rep := inspectJSON(t, e.cfg); len(rep.ByReason[0].Messages) != 4 {
		t.Errorf("default --top: %+v", rep.ByReason)
	}
}

// TestDLQInspectEscapesOnce: a message holding a quote, a newline and an
// ANSI escape: JSON output carries the real characters; the text shows
// each escaped once (a quote as it is, \n, \x1b), in the table and under
// --show, and no raw control character.
func TestDLQInspectEscapesOnce(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	const msg = "/note: \"bad\"\nnext \x1b[31mred"
	e.produce(forgedDLQRecord(0, "orders", map[string]string{dlq.HeaderMessage: msg}))
	rep := inspectJSON(t, e.cfg, "--show", "1")
	if rep.ByReason[0].Messages[0].Message != msg || rep.ByReason[0].Example != msg || rep.Shown[0].Envelope.Message != msg {
		t.Errorf("JSON: %+v %+v", rep.ByReason, rep.Shown[0].Envelope)
	}
	out, errOut, code := runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--show", "1", "--output", "json")
	noControl(t, "inspect json", out)
	if code != 0 || !strings.Contains(out, `"/note: \"bad\"\nnext \u001b[31mred"`) {
		t.Errorf("JSON text: exit %d\n%s\n%s", code, out, errOut)
	}
	out, errOut, code = runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--show", "1")
	noControl(t, "inspect text", out)
	const shown = `/note: "bad"\nnext \x1b[31mred`
	if code != 0 || strings.Count(out, shown) != 2 || !strings.Contains(out, "invalid  schema  1        "+shown+"\n") || !strings.Contains(out, "message:      "+shown+"\n") {
		t.Errorf("text: exit %d, want %q in the table and under --show\n%s\n%s", code, shown, out, errOut)
	}
	for _, twice := range []string{`\\n`, `\\x1b`, `\"`, `\\"`} {
		if strings.Contains(out, twice) {
			t.Errorf("text escapes twice (%s):\n%s", twice, out)
		}
	}
}

// TestDLQInspectFull: --show cuts a value at 256 bytes and says how to see
// it whole; --full shows it whole.
func TestDLQInspectFull(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	value := `{"orderId":"ORD-1","pad":"` + strings.Repeat("x", 500) + `"}`
	r := forgedDLQRecord(0, "orders", nil)
	r.Value = []byte(value)
	e.produce(r)
	out, _, code := runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--show", "1")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("value:        %s… (%d bytes; the first 256 shown: --full shows the whole value)\n", value[:256], len(value))) {
		t.Errorf("--show: exit %d\n%s", code, out)
	}
	out, _, code = runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--show", "1", "--full")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("value:        %s (%d bytes)\n", value, len(value))) {
		t.Errorf("--full: exit %d\n%s", code, out)
	}
	rep := inspectJSON(t, e.cfg, "--show", "1")
	if s := rep.Shown[0]; *s.Value != value[:256] || !s.ValueTruncated || s.ValueBytes != len(value) {
		t.Errorf("JSON: %+v", s)
	}
	if s := inspectJSON(t, e.cfg, "--show", "1", "--full").Shown[0]; *s.Value != value || s.ValueTruncated {
		t.Errorf("JSON --full: %+v", s)
	}
}

// TestDLQInspectIntoDryRun: the lines of inspect --output jsonl are dry-run
// input as they are: piped into bridge dry-run, each dead letter is judged
// as its original record, whole (an order of 540 bytes, longer than the
// 256 bytes --show cuts a value at, is judged as the order, not as
// not_json), with its key, headers and correlation id.
func TestDLQInspectIntoDryRun(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	big := `{"orderId":"ORD-0000000540","customerId":"CUST-1","totalAmount":10.5,"currency":"EUR","note":"` + strings.Repeat("n", 444) + `"}`
	if len(big) != 540 {
		t.Fatalf("the big order is %d bytes", len(big))
	}
	mk := func(i int, value, corr string) *kgo.Record {
		r := forgedDLQRecord(i, "orders", map[string]string{dlq.HeaderCorrelationID: corr})
		r.Value = []byte(value)
		r.Headers = append([]kgo.RecordHeader{{Key: "x-correlation-id", Value: []byte(corr)}}, r.Headers...)
		return r
	}
	e.produce(
		mk(0, big, "corr-big"),
		mk(1, `{"orderId":"ORD-0000000001","currency":"EUR"}`, "corr-small"),
		forgedDLQRecord(2, "orders", map[string]string{dlq.HeaderReason: "not_json"}), // filtered out
	)
	jsonl, errOut, code := runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--reason", "schema", "--output", "jsonl")
	if code != 0 || strings.Count(jsonl, "\n") != 2 || !strings.Contains(errOut, "inspect: orders.dlq: 2 lines written (2 selected of 3 records read)") {
		t.Fatalf("inspect: exit %d\n%s\n%s", code, jsonl, errOut)
	}
	noControl(t, "jsonl", jsonl)
	out, errOut, code := runBridge(t, jsonl, "dry-run", "-c", e.cfg, "--json")
	if code != 0 || !strings.Contains(errOut, "dry-run: 2 records: 2 publish, 0 dlq, 0 skip, 0 bad input lines") {
		t.Fatalf("dry-run: exit %d\n%s\n%s", code, out, errOut)
	}
	bodies := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var res struct {
			Outcome       string
			CorrelationID string `json:"correlation_id"`
			Request       struct{ Body json.RawMessage }
		}
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if res.Outcome != "publish" {
			t.Errorf("outcome %s: %s", res.Outcome, line)
		}
		bodies[res.CorrelationID] = string(res.Request.Body)
	}
	if b := bodies["corr-big"]; !strings.Contains(b, `"orderId":"ORD-0000000540"`) || !strings.Contains(b, strings.Repeat("n", 444)) {
		t.Errorf("the 540-byte order was not judged whole: %s", out)
	}
	if b := bodies["corr-small"]; !strings.Contains(b, `"orderId":"ORD-0000000001"`) {
		t.Errorf("small order: %s", out)
	}
	// A --show N limits the lines, and a malformed record is left out
	// and counted.
	e.produce(&kgo.Record{Topic: "orders.dlq", Partition: 0, Value: []byte("{}")})
	jsonl, errOut, code = runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--output", "jsonl", "--show", "1")
	if code != 1 || strings.Count(jsonl, "\n") != 1 || !strings.Contains(errOut, "1 line written (3 selected of 4 records read); left out: 1 malformed") {
		t.Errorf("--show 1 with a malformed record: exit %d\n%s\n%s", code, jsonl, errOut)
	}
}

// TestDLQInspectReplayed: --replayed shows how far the replay group has
// read the DLQ topic, and how many of the selected records it has passed
// (replayed, or skipped by its filter) and not yet.
func TestDLQInspectReplayed(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	e.produce(forgedDLQRecord(0, "orders", nil), forgedDLQRecord(1, "orders", nil), forgedDLQRecord(2, "orders", map[string]string{dlq.HeaderReason: "not_json"}))
	row := regexp.MustCompile(`\norders\.dlq\.replay +0:(\d+) 1:(\d+) 2:(\d+) +(\d+) +(\d+)\n`)
	check := func(args []string, want []string) {
		t.Helper()
		out, errOut, code := runBridge(t, "", append([]string{"dlq", "inspect", "-c", e.cfg, "--replayed"}, args...)...)
		m := row.FindStringSubmatch(out)
		if code != 0 || m == nil || !slices.Equal(m[1:], want) {
			t.Errorf("%v: exit %d, row %q, want positions and behind/ahead %v\n%s\n%s", args, code, m, want, out, errOut)
		}
	}
	// newForgedEnv committed offset 0 of every partition for the group.
	check(nil, []string{"0", "0", "0", "0", "3"})
	if out, errOut, code := runBridge(t, "", "dlq", "replay", "-c", e.cfg, "--reason", "schema", "--no-progress"); code != 0 {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errOut)
	}
	check(nil, []string{"1", "1", "1", "3", "0"})
	check([]string{"--reason", "schema"}, []string{"1", "1", "1", "2", "0"})
	e.produce(forgedDLQRecord(3, "orders", nil))
	check(nil, []string{"1", "1", "1", "3", "1"})
	rep := inspectJSON(t, e.cfg, "--replayed")
	if len(rep.ReplayGroups) != 1 || rep.ReplayGroups[0].Group != "orders.dlq.replay" || rep.ReplayGroups[0].Behind != 3 || rep.ReplayGroups[0].Ahead != 1 {
		t.Errorf("JSON: %+v", rep.ReplayGroups)
	}
}
