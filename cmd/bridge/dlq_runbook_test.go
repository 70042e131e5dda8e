package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/dlqtool"
	"github.com/cxone-bridge/bridge/poll"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// runbookLoop reads the commands of docs/runbook.md's loop: the shell
// block after the line "<!-- runbook-loop: … -->", without its comments.
// Each command is one or more `bridge …` invocations joined by "|", with
// plain words only (no quotes, variables or redirections), so that the
// test runs them as a shell would.
func runbookLoop(t *testing.T) [][][]string {
	t.Helper()
	data, err := os.ReadFile("../../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	marked, in := false, false
	var cmds [][][]string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "<!-- runbook-loop:"):
			marked = true
		case marked && !in && line == "```sh":
			in = true
		case in && line == "```":
			return cmds
		case in && (strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#")):
		case in:
			if strings.ContainsAny(line, `'"$;&<>`+"`\\") {
				t.Fatalf("docs/runbook.md loop: %q is not plain words and pipes", line)
			}
			var pipeline [][]string
			for _, stage := range strings.Split(line, "|") {
				args := strings.Fields(stage)
				if len(args) < 2 || args[0] != "bridge" {
					t.Fatalf("docs/runbook.md loop: %q: each stage must run bridge", line)
				}
				pipeline = append(pipeline, args[1:])
			}
			cmds = append(cmds, pipeline)
		}
	}
	t.Fatal(`docs/runbook.md has no "<!-- runbook-loop: … -->" followed by a complete sh block`)
	return nil
}

// runPipeline runs the stages in dir, each fed the previous one's standard
// output, as `a | b` does; every stage must exit 0 unless it is the last
// (whose status is returned), as with pipefail.
func runPipeline(t *testing.T, dir string, stages [][]string) (stdout, stderr string, code int) {
	t.Helper()
	var in []byte
	for i, args := range stages {
		cmd := exec.Command(bridgeBin, args...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		cmd.Stdin = bytes.NewReader(in)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			code = ee.ExitCode()
		case err != nil:
			t.Fatal(err)
		default:
			code = 0
		}
		stderr += errb.String()
		if i < len(stages)-1 && code != 0 {
			t.Fatalf("bridge %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out.String(), errb.String())
		}
		in = out.Bytes()
	}
	return string(in), stderr, code
}

// TestRunbookLoop runs the loop of docs/runbook.md as written, on the
// bridge binary, an in-process Kafka and the CXone test server: orders in
// EUR and GBP break a schema that wants USD and are dead-lettered (with two
// records that are not JSON); the loop's inspect, filtered by reason,
// shows them, each distinct message with its count; before the fix
// dry-run, fed inspect's lines, would dead-letter them again, after the
// fix (the schema widened: a configuration change) it would publish each
// one; the bridge is restarted
// with the fix, the replay sends them back, and CXone accepts each one
// exactly once, with the correlation id it had when it failed (one of
// them an order of 540 bytes, longer than the 256 bytes --show cuts a
// value at). The records that are not JSON stay in the DLQ.
func TestRunbookLoop(t *testing.T) {
	loop := runbookLoop(t)
	e := newEnv(t, 3, "")
	schemaPath := filepath.Join(e.dir, "order.json")
	wide, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	strict := bytes.Replace(wide, []byte(`"pattern": "^[A-Z]{3}$"`), []byte(`"pattern": "^USD$"`), 1)
	if bytes.Equal(strict, wide) {
		t.Fatal("schemas/order.json changed shape: no currency pattern")
	}
	if err := os.WriteFile(schemaPath, strict, 0o644); err != nil {
		t.Fatal(err)
	}

	// 20 good orders, 6 in EUR and 2 in GBP (half with a correlation
	// header, half with an id the bridge derives; one of 540 bytes), 2
	// records that are not JSON.
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprintf("ORD-%010d", i)), Value: order(i)})
	}
	const bad = 8 // orders the strict schema refuses
	eurOrder := func(i int) string {
		cur := `"EUR"`
		if i >= 106 {
			cur = `"GBP"`
		}
		return strings.Replace(string(order(i)), `"USD"`, cur, 1)
	}
	bigID := fmt.Sprintf("ORD-%010d", 105)
	big := strings.Replace(eurOrder(105), `}`, `,"metadata":{"note":"`+strings.Repeat("n", 393)+`"}}`, 1)
	if len(big) != 540 {
		t.Fatalf("the big order is %d bytes", len(big))
	}
	headerIDs := map[string]string{} // order id → its correlation header
	for i := 100; i < 100+bad; i++ {
		id := fmt.Sprintf("ORD-%010d", i)
		r := &kgo.Record{Key: []byte(id), Value: []byte(eurOrder(i))}
		if i == 105 {
			r.Value = []byte(big)
		}
		if i%2 == 0 {
			headerIDs[id] = fmt.Sprintf("trace-%d", i)
			r.Headers = []kgo.RecordHeader{{Key: "x-correlation-id", Value: []byte(headerIDs[id])}}
		}
		recs = append(recs, r)
	}
	recs = append(recs, &kgo.Record{Key: []byte("junk-1"), Value: []byte("not json")}, &kgo.Record{Key: []byte("junk-2"), Value: []byte("{oops")})
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// kfake answers GROUP_ID_NOT_FOUND for the offsets of a group it
	// never saw, where Kafka answers with none: commit the replay group's
	// offset 0.
	var zero kadm.Offsets
	for p := range int32(3) {
		zero.Add(kadm.Offset{Topic: "orders.dlq", Partition: p, At: 0, LeaderEpoch: -1})
	}
	if _, err := kadm.NewClient(cl).CommitOffsets(context.Background(), dlqtool.DefaultGroup("orders.dlq"), zero); err != nil {
		t.Fatal(err)
	}

	p := e.start()
	poll.Until(t, 60*time.Second, "20 orders accepted, 10 records dead-lettered, lag 0", func() bool {
		lag, dlqs := e.lag()
		return lag == 0 && dlqs == bad+2 && e.cxone.Stats().Accepted == 20
	})
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("bridge exit %d\n%s", code, tail(p.Logs(), 20))
	}

	// The correlation id of each dead letter, from its envelope.
	dlqRecs := (&forgedEnv{t: t, client: cl}).records("orders.dlq")
	wantIDs := map[string]string{} // order id → correlation id when it failed
	for _, r := range dlqRecs {
		env, _, err := dlq.Parse(r.Headers)
		if err != nil {
			t.Fatal(err)
		}
		if env.Reason == "schema" {
			wantIDs[string(r.Key)] = env.CorrelationID
		}
	}
	if len(wantIDs) != bad {
		t.Fatalf("%d schema dead letters, want %d", len(wantIDs), bad)
	}
	for id, corr := range wantIDs {
		if h, ok := headerIDs[id]; ok && corr != h || !ok && (corr == "" || strings.HasPrefix(corr, "trace-")) {
			t.Fatalf("%s dead-lettered with correlation id %q", id, corr)
		}
	}

	fixed, restarted := false, false
	var bridge *tc.Process
	for _, stages := range loop {
		line := "bridge " + strings.Join(stages[0], " ")
		for _, s := range stages[1:] {
			line += " | bridge " + strings.Join(s, " ")
		}
		last := stages[len(stages)-1]
		switch {
		case last[0] == "dry-run" && !fixed:
			// Before the fix, dry-run would send them to the DLQ again:
			// it judges the records by the configuration.
			out, errOut, code := runPipeline(t, e.dir, stages)
			if code != 1 || !strings.Contains(errOut, "8 records: 0 publish, 8 dlq") {
				t.Fatalf("%s, before the fix: exit %d\n%s\n%s", line, code, out, errOut)
			}
			if err := os.WriteFile(schemaPath, wide, 0o644); err != nil {
				t.Fatal(err)
			}
			fixed = true
		case last[0] == "dlq" && last[1] == "replay" && !strings.Contains(line, "--dry-run") && !restarted:
			if !fixed {
				t.Fatalf("%s: the loop replays before the dry-run that checks the fix", line)
			}
			bridge = e.start()
			restarted = true
		}
		out, errOut, code := runPipeline(t, e.dir, stages)
		t.Logf("$ %s\n%s%s", line, out, errOut)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", line, code, out, errOut)
		}
		noControl(t, line, out)
		var wants []string
		switch {
		case last[0] == "dry-run":
			wants = []string{"dry-run: 8 records: 8 publish, 0 dlq, 0 skip, 0 bad input lines", `"orderId":"` + bigID + `"`, strings.Repeat("n", 393)}
			for _, corr := range wantIDs {
				wants = append(wants, "X-Correlation-Id: "+corr+"\n")
			}
		case last[1] == "replay" && strings.Contains(line, "--dry-run"):
			wants = []string{"would replay 8, skipped by filter 2, refused 0, malformed 0"}
		case last[1] == "replay":
			wants = []string{"replayed 8 ", "skipped by filter 2, refused 0, malformed 0"}
		case last[1] == "inspect" && strings.Contains(line, "--replayed"):
			wants = []string{"filter: reason/message contains \"schema\": 8 records selected"}
			if !regexp.MustCompile(`\norders\.dlq\.replay +0:\d+ 1:\d+ 2:\d+ +8 +0\n`).MatchString(out) {
				t.Errorf("%s: the replay group is not past the 8 records:\n%s", line, out)
			}
		case last[1] == "inspect":
			wants = []string{"filter: reason/message contains \"schema\": 8 records selected",
				"invalid  schema  8        2 distinct messages, most frequent first:\n" +
					"                 6        /currency: 'EUR' does not match pattern '^USD$'\n" +
					"                 2        /currency: 'GBP' does not match pattern '^USD$'\n"}
			if strings.Contains(out, "not_json") {
				t.Errorf("%s: shows the records the filter leaves out:\n%s", line, out)
			}
		}
		for _, w := range wants {
			if !strings.Contains(out+errOut, w) {
				t.Errorf("%s: output lacks %q:\n%s\n%s", line, w, out, errOut)
			}
		}
	}
	if !fixed || !restarted {
		t.Fatalf("docs/runbook.md's loop has no dry-run (fixed %v) or no replay (restarted %v)", fixed, restarted)
	}

	poll.Until(t, 60*time.Second, "the replayed orders accepted", func() bool { return e.cxone.Stats().Accepted >= 20+bad })
	poll.Until(t, 30*time.Second, "the bridge's lag 0", func() bool { l, _ := e.lag(); return l == 0 })
	bridge.Signal(syscall.SIGTERM)
	if code := bridge.Wait(30 * time.Second); code != 0 {
		t.Errorf("bridge exit %d\n%s", code, tail(bridge.Logs(), 20))
	}
	if _, dlqs := e.lag(); dlqs != bad+2 {
		t.Errorf("%d DLQ records, want the %d of the first run: a replayed order failed again", dlqs, bad+2)
	}
	if st := e.cxone.Stats(); st.Accepted != 20+bad {
		t.Errorf("CXone accepted %d events, want %d", st.Accepted, 20+bad)
	}
	byCorr := map[string][]string{} // correlation id → order ids of its events
	for _, ev := range e.cxone.Events() {
		var body struct {
			Attributes struct {
				OrderID string `json:"orderId"`
			} `json:"attributes"`
		}
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			t.Fatalf("event body %s: %v", ev.Body, err)
		}
		byCorr[ev.CorrelationID] = append(byCorr[ev.CorrelationID], body.Attributes.OrderID)
	}
	for id, corr := range wantIDs {
		if got := byCorr[corr]; len(got) != 1 || got[0] != id {
			t.Errorf("%s: CXone has events %v with correlation id %q, want exactly one, of this order", id, got, corr)
		}
	}
}
