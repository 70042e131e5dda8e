package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// guideExample is one worked example of docs/mapping.md: routes, input
// lines, and one expected line per input.
type guideExample struct {
	name, routes string
	input        string
	expected     []string
}

// guideExamples reads the examples of docs/mapping.md: after a line
// "<!-- example: NAME -->", a yaml block (routes), a jsonl block (input)
// and a "jsonl expected" block.
func guideExamples(t *testing.T) []guideExample {
	t.Helper()
	data, err := os.ReadFile("../../docs/mapping.md")
	if err != nil {
		t.Fatal(err)
	}
	marker := regexp.MustCompile(`^<!-- example: ([a-z0-9-]+) -->$`)
	var out []guideExample
	var cur *guideExample
	var block, lang string
	in := false
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := sc.Text()
		if m := marker.FindStringSubmatch(line); m != nil {
			out = append(out, guideExample{name: m[1]})
			cur = &out[len(out)-1]
			continue
		}
		switch {
		case cur == nil:
		case !in && strings.HasPrefix(line, "```"):
			in, lang, block = true, strings.TrimPrefix(line, "```"), ""
		case in && line == "```":
			in = false
			switch lang {
			case "yaml":
				cur.routes = block
			case "jsonl":
				cur.input = block
			case "jsonl expected":
				cur.expected = strings.Split(strings.TrimSpace(block), "\n")
				cur = nil
			}
		case in:
			block += line + "\n"
		}
	}
	if len(out) < 4 {
		t.Fatalf("docs/mapping.md has %d examples, want at least 4", len(out))
	}
	return out
}

// TestMappingGuideExamples runs every worked example of docs/mapping.md
// through the real `bridge dry-run --json` and compares each record's
// outcome, event type, business key, timestamp and attributes with the
// example's expected line.
func TestMappingGuideExamples(t *testing.T) {
	for _, ex := range guideExamples(t) {
		t.Run(ex.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := "kafka: {brokers: [\"localhost:9092\"]}\ncxone: {auth: {client_id: x}}\n" + ex.routes
			path := filepath.Join(dir, "bridge.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			out, errOut, code := runBridge(t, ex.input, "dry-run", "-c", path, "--json", "--allow-dlq")
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			got := strings.Split(strings.TrimSpace(out), "\n")
			if len(got) != len(ex.expected) {
				t.Fatalf("%d results for %d expected lines:\n%s", len(got), len(ex.expected), out)
			}
			for i := range got {
				var res struct {
					Outcome, Reason, Detail string
					Request                 *struct {
						Headers [][2]string     `json:"headers"`
						Body    json.RawMessage `json:"body"`
					} `json:"request"`
				}
				if err := json.Unmarshal([]byte(got[i]), &res); err != nil {
					t.Fatal(err)
				}
				var want struct {
					Outcome, Reason, EventType, BusinessKey, Timestamp string
					Attributes                                         map[string]any
				}
				if err := json.Unmarshal([]byte(ex.expected[i]), &want); err != nil {
					t.Fatalf("expected line %d: %v", i+1, err)
				}
				if res.Outcome != want.Outcome || (want.Reason != "" && res.Reason != want.Reason) {
					t.Errorf("record %d: %s %s (%s), want %s %s", i+1, res.Outcome, res.Reason, res.Detail, want.Outcome, want.Reason)
					continue
				}
				if want.Outcome != "publish" {
					continue
				}
				var body struct {
					EventType  string         `json:"eventType"`
					Timestamp  string         `json:"timestamp"`
					Attributes map[string]any `json:"attributes"`
				}
				if err := json.Unmarshal(res.Request.Body, &body); err != nil {
					t.Fatal(err)
				}
				delete(body.Attributes, "_correlationId")
				delete(body.Attributes, "_publishedAt")
				key := ""
				for _, h := range res.Request.Headers {
					if h[0] == "X-Idempotency-Key" {
						key = h[1]
					}
				}
				wantKey := uuid.NewSHA1(uuid.NameSpaceDNS, []byte(want.EventType+":"+want.BusinessKey)).String()
				switch {
				case body.EventType != want.EventType:
					t.Errorf("record %d: event type %s, want %s", i+1, body.EventType, want.EventType)
				case key != wantKey:
					t.Errorf("record %d: idempotency key %s, want the key of business key %q (%s)", i+1, key, want.BusinessKey, wantKey)
				case want.Timestamp != "" && body.Timestamp != want.Timestamp:
					t.Errorf("record %d: timestamp %s, want %s", i+1, body.Timestamp, want.Timestamp)
				case !reflect.DeepEqual(body.Attributes, want.Attributes):
					t.Errorf("record %d: attributes %v, want %v", i+1, body.Attributes, want.Attributes)
				}
			}
		})
	}
}

// TestDryRunExplain: --explain shows, per record, the filters tried in
// order and the taking route's other expressions with their results, and
// an expression that failed with CEL's message.
func TestDryRunExplain(t *testing.T) {
	var ex guideExample
	for _, e := range guideExamples(t) {
		if e.name == "debezium" {
			ex = e
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(path, []byte("kafka: {brokers: [\"localhost:9092\"]}\ncxone: {auth: {client_id: x}}\n"+ex.routes), 0o600); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(ex.input), "\n")
	in := lines[2] + "\n" + lines[4] + "\n" // a cancellation; a create without its row
	out, errOut, code := runBridge(t, in, "dry-run", "-c", path, "--explain", "--allow-dlq")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"# routes[0].filter = false\n# routes[1].filter = true\n# routes[1].attributes = {\"orderId\":\"ORD-1\",\"previousStatus\":\"PAID\"}\n# routes[1].business_key_expr = \"ORD-1\"\n → publish (routes[1])",
		"# routes[0].filter = true\n# routes[0].attributes failed: no such key: order_id",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks\n%s\n--- output:\n%s", want, out)
		}
	}
}
