package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/dlqtool"
	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// TestDLQ: `bridge dlq inspect` and `bridge dlq replay` (docs/runbook.md), the real
// binary against one real Kafka node and the CXone test server.
func TestDLQ(t *testing.T) {
	start := time.Now()
	k := tc.StartKafka(t)
	bin := tc.BuildBridge(t)
	t.Run("SchemaFixReplay", func(t *testing.T) { dlqSchemaFixReplay(t, k.For(t), bin) })
	t.Run("FailsAgainThenRefused", func(t *testing.T) { dlqFailsAgain(t, k.For(t), bin) })
	t.Run("KillMidReplay", func(t *testing.T) { dlqKillMidReplay(t, k.For(t), bin) })
	t.Run("FiltersAndDryRun", func(t *testing.T) { dlqFilters(t, k.For(t), bin) })
	t.Run("Malformed", func(t *testing.T) { dlqMalformed(t, k.For(t), bin) })
	t.Logf("TestDLQ total %s", time.Since(start).Round(100*time.Millisecond))
}

// ---- fixture ----

type dlqEnv struct {
	t      *testing.T
	k      *tc.Kafka
	bin    string
	topic  string // source topic
	dlq    string
	group  string // the bridge's group
	dir    string
	srv    *cxonetest.Server
	bridge *tc.Process
}

const dlqPartitions = 3

// newDLQEnv creates the source and DLQ topics, a CXone test server and two
// configurations: strict.yaml (currency must be USD) and fixed.yaml (the
// project's order schema).
func newDLQEnv(t *testing.T, k *tc.Kafka, bin, name string) *dlqEnv {
	e := &dlqEnv{t: t, k: k, bin: bin, topic: "orders-" + name, group: "bridge-" + name, dir: t.TempDir()}
	e.dlq = e.topic + ".dlq"
	k.CreateTopic(t, e.topic, dlqPartitions, 1, nil)
	k.CreateTopic(t, e.dlq, dlqPartitions, 1, nil)
	e.srv = tc.StartCXone(t)
	schema, err := os.ReadFile("../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	strict := bytes.Replace(schema, []byte(`"pattern": "^[A-Z]{3}$"`), []byte(`"pattern": "^USD$"`), 1)
	if bytes.Equal(strict, schema) {
		t.Fatal("schemas/order.json changed: cannot make the strict schema")
	}
	for name, s := range map[string][]byte{"strict": strict, "fixed": schema} {
		if err := os.WriteFile(filepath.Join(e.dir, name+".json"), s, 0o644); err != nil {
			t.Fatal(err)
		}
		yaml := fmt.Sprintf(`kafka:
  brokers: [%s]
  group_id: %s
  session_timeout: 6s
consumer:
  commit_interval: 200ms
  drain_timeout: 10s
cxone:
  base_url: %s
  allow_insecure_http: true
  auth:
    client_id: %s
    client_secret: ${CXONE_CLIENT_SECRET}
routes:
  - topic: %s
    event_type: OrderCreated
    schema: %s.json
    business_key: /orderId
metrics:
  listen: 127.0.0.1:0 # several replicas share this host
log:
  level: warn
`, strings.Join(k.Brokers(), ", "), e.group, e.srv.URL, cxonetest.DefaultClientID, e.topic, name)
		if err := os.WriteFile(filepath.Join(e.dir, name+".yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *dlqEnv) cfg(name string) string { return filepath.Join(e.dir, name+".yaml") }

// produceOrders writes orders from..to-1 (key = customer); currency is
// USD for even i, EUR for odd i.
func (e *dlqEnv) produceOrders(from, to int) {
	e.t.Helper()
	cl := e.k.Client(e.t, kgo.DefaultProduceTopic(e.topic))
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		cur := "USD"
		if i%2 == 1 {
			cur = "EUR"
		}
		v := fmt.Sprintf(`{"orderId":"ORD-%010d","customerId":"CUST-%d","totalAmount":%d.5,"currency":%q,"timestamp":"2026-11-27T10:00:00Z"}`, i, i%17, i, cur)
		recs = append(recs, &kgo.Record{Key: []byte("CUST-" + strconv.Itoa(i%17)), Value: []byte(v),
			Headers: []kgo.RecordHeader{{Key: "x-correlation-id", Value: []byte("corr-" + strconv.Itoa(i))}}})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// runBridge starts `bridge run` with the named configuration.
func (e *dlqEnv) runBridge(cfg string) {
	e.bridge = tc.StartBridge(e.t, e.bin, e.cfg(cfg), []string{"CXONE_CLIENT_SECRET=" + cxonetest.DefaultClientSecret})
}

// stopBridge: SIGTERM, exit 0.
func (e *dlqEnv) stopBridge() {
	e.t.Helper()
	_ = e.bridge.Signal(os.Interrupt)
	if code := e.bridge.Wait(30 * time.Second); code != 0 {
		e.t.Fatalf("bridge exited %d:\n%s", code, e.bridge.Logs())
	}
}

// waitBridge waits until CXone accepted `accepted` events, the DLQ holds
// `dlqRecords` and the bridge's group lag is at most maxLag.
//
// maxLag is 0 before a replay. After one it is the number of partitions:
// a replay writes in transactions, and a partition whose last entry is a
// transaction marker keeps a lag of 1 in the bridge's group, because the
// bridge commits the offset after its last record and never sees the
// marker (docs/runbook.md, "Verify").
func (e *dlqEnv) waitBridge(accepted, dlqRecords, maxLag int64) {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		acc, dl, lag := e.srv.Stats().Accepted, deadLetters(e.t, e.k, e.dlq), groupLag(e.k, e.group)
		if acc == accepted && dl == dlqRecords && lag >= 0 && lag <= maxLag {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("after 60s: %d accepted (want %d), %d in the DLQ (want %d), bridge group lag %d (want <= %d); bridge log:\n%s",
				acc, accepted, dl, dlqRecords, lag, maxLag, e.bridge.Logs())
		}
		select {
		case <-e.bridge.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// dlqCmd runs the bridge binary with args to completion and returns
// stdout, stderr and the exit code.
func dlqCmd(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, e.String())
	}
	return o.String(), e.String(), code
}

// replayJSON runs `bridge dlq replay ... --output json` and decodes the
// summary.
func replayJSON(t *testing.T, bin string, wantCode int, args ...string) dlqtool.ReplaySummary {
	t.Helper()
	args = append([]string{"dlq", "replay", "--output", "json", "--session-timeout", "6s"}, args...)
	out, errOut, code := dlqCmd(t, bin, args...)
	if code != wantCode {
		t.Fatalf("bridge %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out, errOut)
	}
	var s dlqtool.ReplaySummary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("summary: %v\n%s", err, out)
	}
	return s
}

func inspectJSON(t *testing.T, bin string, wantCode int, args ...string) dlqtool.InspectReport {
	t.Helper()
	args = append([]string{"dlq", "inspect", "--output", "json"}, args...)
	out, errOut, code := dlqCmd(t, bin, args...)
	if code != wantCode {
		t.Fatalf("bridge %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out, errOut)
	}
	var r struct{ Topics []dlqtool.InspectReport }
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Topics) != 1 {
		t.Fatalf("inspect output: %v\n%s", err, out)
	}
	return r.Topics[0]
}

// endSum is the sum of the topic's high watermarks.
func endSum(t *testing.T, k *tc.Kafka, topic string) int64 {
	ends, err := k.Admin().ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// groupLag is the group's total lag per kadm, -1 if unknown.
func groupLag(k *tc.Kafka, group string) int64 {
	lags, err := k.Admin().Lag(context.Background(), group)
	if err != nil {
		return -1
	}
	gl, ok := lags[group]
	if !ok || gl.Error() != nil {
		return -1
	}
	return gl.Lag.Total()
}

// committedSum is the sum of the group's committed offsets.
func committedSum(k *tc.Kafka, group string) int64 {
	resp, err := k.Admin().FetchOffsets(context.Background(), group)
	if err != nil {
		return -1
	}
	var n int64
	resp.Each(func(o kadm.OffsetResponse) { n += o.At })
	return n
}

// committedBy returns the group's committed offset of each partition
// (none when the fetch fails).
func committedBy(k *tc.Kafka, group string) map[int32]int64 {
	out := map[int32]int64{}
	resp, err := k.Admin().FetchOffsets(context.Background(), group)
	if err != nil {
		return out
	}
	resp.Each(func(o kadm.OffsetResponse) { out[o.Partition] = o.At })
	return out
}

// deadLetters counts the dead letters of a DLQ topic: its committed data
// records (the bridge writes them in transactions, whose markers occupy
// offsets too, and a transaction that aborted leaves records no reader of
// committed records sees).
func deadLetters(t *testing.T, k *tc.Kafka, topic string) int64 {
	if endSum(t, k, topic) == 0 {
		return 0
	}
	return int64(len(readCommitted(t, k, topic)))
}

// readCommitted reads every committed data record of topic (isolation
// read_committed) up to its current last stable offset.
func readCommitted(t *testing.T, k *tc.Kafka, topic string) []*kgo.Record {
	t.Helper()
	// A replica killed inside a dead-letter transaction leaves it open
	// until the brokers abort it (its 10 s timeout, found by a check every
	// 10 s): readers of committed records stop at it, before the dead
	// letters written after it. Wait for every partition to be stable.
	var ends kadm.ListedOffsets
	poll.Until(t, time.Minute, topic+": no open transaction (last stable offset = end)", func() bool {
		var err error
		if ends, err = k.Admin().ListCommittedOffsets(context.Background(), topic); err != nil {
			t.Fatal(err)
		}
		hw, err := k.Admin().ListEndOffsets(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		stable := true
		hw.Each(func(o kadm.ListedOffset) {
			if lso, ok := ends.Lookup(o.Topic, o.Partition); !ok || lso.Offset != o.Offset {
				stable = false
			}
		})
		return stable
	})
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: %v (left %v)", topic, ctx.Err(), left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok {
				if !r.Attrs.IsControl() {
					out = append(out, r)
				}
				if r.Offset+1 >= end {
					delete(left, r.Partition)
				}
			}
		})
	}
	return out
}

func header(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

// ---- scenarios ----

// dlqSchemaFixReplay: a too strict schema sends the EUR orders to the DLQ;
// the schema is fixed, the bridge restarted, the DLQ replayed: CXone
// accepts every order once, the replay group has lag 0.
func dlqSchemaFixReplay(t *testing.T, k *tc.Kafka, bin string) {
	e := newDLQEnv(t, k, bin, "schemafix")
	const n = 400
	e.produceOrders(0, n)
	e.runBridge("strict")
	e.waitBridge(n/2, n/2, 0)
	e.stopBridge()

	rep := inspectJSON(t, bin, 0, "--config", e.cfg("strict"), "--show", "1")
	if rep.Records != n/2 || rep.ByClass[dlq.ClassInvalid] != n/2 || len(rep.ByReason) != 1 || rep.ByReason[0].Reason != "schema" ||
		rep.BySourceTopic[e.topic] != n/2 || rep.ByReplayCount[0] != n/2 || rep.FirstFailure == nil || len(rep.Shown) != 1 {
		t.Fatalf("inspect: %+v", rep)
	}
	if !strings.Contains(rep.ByReason[0].Example, "/currency") {
		t.Errorf("example message %q does not name /currency", rep.ByReason[0].Example)
	}
	text, _, code := dlqCmd(t, bin, "dlq", "inspect", "--config", e.cfg("strict"), "--show", "1")
	if code != 0 || !strings.Contains(text, "schema") {
		t.Fatalf("inspect text: exit %d\n%s", code, text)
	}
	t.Logf("inspect output:\n%s", text)
	if c := committedSum(k, dlqtool.DefaultGroup(e.dlq)); c > 0 {
		t.Errorf("inspect committed offsets (%d)", c)
	}

	e.runBridge("fixed")
	sum := replayJSON(t, bin, 0, "--config", e.cfg("fixed"))
	if sum.Replayed != n/2 || sum.Read != n/2 || sum.Refused != 0 || sum.Malformed != 0 || sum.ByClass[dlq.ClassInvalid].Replayed != n/2 || sum.ByDestination[e.topic] != n/2 {
		t.Fatalf("replay summary: %+v", sum)
	}
	t.Logf("replay: %d records in %.2fs (%.0f records/s, including joining the group)", sum.Replayed, sum.Seconds, sum.PerSecond)
	e.waitBridge(n, n/2, dlqPartitions)
	e.stopBridge()
	st := e.srv.Stats()
	if st.Accepted != n || len(e.srv.Events()) != n {
		t.Fatalf("CXone accepted %d (%d recorded), want %d", st.Accepted, len(e.srv.Events()), n)
	}
	if l := groupLag(k, dlqtool.DefaultGroup(e.dlq)); l != 0 {
		t.Errorf("replay group lag %d, want 0", l)
	}
	gl, err := k.ConsumerGroupLag(t, dlqtool.DefaultGroup(e.dlq))
	if err != nil {
		t.Fatal(err)
	}
	if gl.Total() != 0 {
		t.Errorf("Kafka's own tool: replay group lag %d:\n%s", gl.Total(), gl.Output)
	}
	// Replayed records: no envelope header but the replay count, original
	// headers kept, same partition per key as the originals.
	recs := readCommitted(t, k, e.topic)
	if len(recs) != n+n/2 {
		t.Fatalf("%d records on the source topic, want %d", len(recs), n+n/2)
	}
	partOf := map[string]int32{}
	replayed := 0
	for _, r := range recs {
		if p, ok := partOf[string(r.Key)]; ok && p != r.Partition {
			t.Fatalf("key %s on partitions %d and %d", r.Key, p, r.Partition)
		}
		partOf[string(r.Key)] = r.Partition
		rc, ok := header(r, dlq.HeaderReplayCount)
		if !ok {
			continue
		}
		replayed++
		if rc != "1" {
			t.Errorf("replay count %q", rc)
		}
		if c, ok := header(r, "x-correlation-id"); !ok || !strings.HasPrefix(c, "corr-") {
			t.Errorf("original header lost: %v", r.Headers)
		}
		for _, h := range r.Headers {
			if strings.HasPrefix(h.Key, dlq.Prefix) && h.Key != dlq.HeaderReplayCount {
				t.Errorf("envelope header %s kept", h.Key)
			}
		}
	}
	if replayed != n/2 {
		t.Errorf("%d replayed records on the source topic, want %d", replayed, n/2)
	}
	// A second run finds nothing to do.
	again := replayJSON(t, bin, 0, "--config", e.cfg("fixed"))
	if again.Read != 0 || again.Replayed != 0 {
		t.Errorf("second replay: %+v", again)
	}
}

// dlqFailsAgain: a record replayed while the cause is not fixed comes back
// with replay count 1; at --max-replays 1 it is refused (exit 1).
func dlqFailsAgain(t *testing.T, k *tc.Kafka, bin string) {
	e := newDLQEnv(t, k, bin, "failsagain")
	e.produceOrders(0, 10) // 5 EUR
	e.runBridge("strict")
	e.waitBridge(5, 5, 0)
	sum := replayJSON(t, bin, 0, "--config", e.cfg("strict"))
	if sum.Replayed != 5 {
		t.Fatalf("replay: %+v", sum)
	}
	e.waitBridge(5, 10, dlqPartitions)
	e.stopBridge()
	rep := inspectJSON(t, bin, 0, "--config", e.cfg("strict"))
	if rep.ByReplayCount[0] != 5 || rep.ByReplayCount[1] != 5 {
		t.Fatalf("by replay count: %v, want 5 with 0 and 5 with 1", rep.ByReplayCount)
	}
	before := endSum(t, k, e.topic)
	sum = replayJSON(t, bin, 1, "--config", e.cfg("strict"), "--max-replays", "1")
	if sum.Read != 5 || sum.Refused != 5 || sum.Replayed != 0 || sum.ByClass[dlq.ClassInvalid].Refused != 5 || len(sum.Problems) != 5 ||
		!strings.Contains(sum.Problems[0].Error, "replayed 1 times already") {
		t.Fatalf("replay at the limit: %+v", sum)
	}
	if after := endSum(t, k, e.topic); after != before {
		t.Errorf("refused records were produced: source end %d → %d", before, after)
	}
	if l := groupLag(k, dlqtool.DefaultGroup(e.dlq)); l != 0 {
		t.Errorf("replay group lag %d after refusing, want 0 (refused records are committed past)", l)
	}
}

// dlqRecord builds a DLQ record of source record i with the given
// envelope fields.
func dlqRecord(i int, src, class, reason string, failedAt time.Time) *kgo.Record {
	r := &kgo.Record{Topic: src, Partition: int32(i % 3), Offset: int64(i), Timestamp: failedAt.Add(-time.Second),
		Key: []byte("k-" + strconv.Itoa(i%7)), Value: []byte(fmt.Sprintf(`{"i":%d}`, i)),
		Headers: []kgo.RecordHeader{{Key: "x-correlation-id", Value: []byte("c-" + strconv.Itoa(i))}}}
	f := &dlq.Failure{Class: class, Reason: reason, Message: "record " + strconv.Itoa(i) + " failed: " + reason}
	if class == dlq.ClassRejected {
		f.HTTPStatus = 422
		f.Attempts = 1
	}
	return dlq.NewRecord(r, "", f, failedAt)
}

// dlqKillMidReplay: a slow replay (--rate) is SIGKILLed halfway; the rerun
// replays the rest: every DLQ record is on the destination exactly once
// (read_committed), none twice, none missing.
func dlqKillMidReplay(t *testing.T, k *tc.Kafka, bin string) {
	e := newDLQEnv(t, k, bin, "kill")
	const n = 400
	base := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour) // recent: the test broker keeps 7 days
	var recs []*kgo.Record
	for i := range n {
		r := dlqRecord(i, e.topic, dlq.ClassInvalid, "schema", base)
		r.Topic = e.dlq
		recs = append(recs, r)
	}
	cl := k.Client(t)
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	group := dlqtool.DefaultGroup(e.dlq)
	p := tc.StartProcess(t, bin, []string{"dlq", "replay", "--config", e.cfg("strict"), "--rate", "200", "--session-timeout", "6s", "--progress-interval", "500ms"}, nil)
	poll.Until(t, 60*time.Second, "half the DLQ replayed and committed", func() bool {
		return committedSum(k, group) >= n/2 || p.Exited()
	})
	p.Kill()
	atKill := committedSum(k, group)
	if atKill >= n {
		t.Fatalf("the replay finished (%d committed) before it could be killed:\n%s", atKill, p.Logs())
	}
	uncommitted := endSum(t, k, e.topic)
	t.Logf("SIGKILL with %d of %d DLQ offsets committed, %d records written to the source topic (committed or not)", atKill, n, uncommitted)
	rerun := time.Now()
	sum := replayJSON(t, bin, 0, "--config", e.cfg("strict"))
	t.Logf("rerun: %d replayed in %s (joining the group waits for the killed member's session to expire)", sum.Replayed, time.Since(rerun).Round(100*time.Millisecond))
	if sum.Replayed != n-atKill {
		t.Errorf("rerun replayed %d, want %d", sum.Replayed, n-atKill)
	}
	got := readCommitted(t, k, e.topic)
	seen := map[string]int{}
	for _, r := range got {
		seen[string(r.Value)]++
	}
	for i := range n {
		v := fmt.Sprintf(`{"i":%d}`, i)
		if seen[v] != 1 {
			t.Errorf("record %d on the source topic %d times, want once", i, seen[v])
		}
	}
	if len(got) != n {
		t.Errorf("%d records on the source topic (read_committed), want %d", len(got), n)
	}
	if l := groupLag(k, group); l != 0 {
		t.Errorf("replay group lag %d, want 0", l)
	}
}

// dlqFilters: each filter replays exactly the records it names (checked on
// a destination topic per filter); --dry-run counts the same and writes
// and commits nothing.
func dlqFilters(t *testing.T, k *tc.Kafka, bin string) {
	e := newDLQEnv(t, k, bin, "filters")
	const n = 60
	base := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour) // recent: the test broker keeps 7 days
	class := func(i int) string { return []string{dlq.ClassInvalid, dlq.ClassRejected}[i%2] }
	reason := func(i int) string {
		if class(i) == dlq.ClassRejected {
			return "http_422"
		}
		return []string{"schema", "not_json"}[(i/2)%2]
	}
	source := func(i int) string { return []string{"src-a", "src-b", "src-b"}[i%3] }
	failed := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	// Record i goes to DLQ partition i%2 at offset i/2.
	var recs []*kgo.Record
	for i := range n {
		r := dlqRecord(i, source(i), class(i), reason(i), failed(i))
		r.Topic, r.Partition = e.dlq, int32(i%2)
		recs = append(recs, r)
	}
	cl := k.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want func(i int) bool
	}{
		{"class", []string{"--class", "rejected"}, func(i int) bool { return class(i) == dlq.ClassRejected }},
		{"reason", []string{"--reason", "SCHEMA"}, func(i int) bool { return reason(i) == "schema" }},
		{"source", []string{"--source-topic", "src-a"}, func(i int) bool { return source(i) == "src-a" }},
		{"time", []string{"--since", failed(10).Format(time.RFC3339), "--until", failed(25).Format(time.RFC3339)}, func(i int) bool { return i >= 10 && i < 25 }},
		{"offsets", []string{"--offsets", "1:3-7", "--offsets", "0:28-"}, func(i int) bool { return (i%2 == 1 && i/2 >= 3 && i/2 <= 7) || (i%2 == 0 && i/2 >= 28) }},
		{"combined", []string{"--class", "invalid", "--source-topic", "src-b", "--since", failed(20).Format(time.RFC3339)}, func(i int) bool {
			return class(i) == dlq.ClassInvalid && source(i) == "src-b" && i >= 20
		}},
	}
	for ci, c := range cases {
		var want []int
		for i := range n {
			if c.want(i) {
				want = append(want, i)
			}
		}
		dest := fmt.Sprintf("dest-%d", ci)
		k.CreateTopic(t, dest, 3, 1, nil)
		group := "filters-" + c.name
		args := append([]string{"--config", e.cfg("strict"), "--to", dest, "--group", group}, c.args...)
		dry := replayJSON(t, bin, 0, append(args, "--dry-run")...)
		if dry.Replayed != int64(len(want)) || dry.SkippedByFilter != int64(n-len(want)) || !dry.DryRun {
			t.Errorf("%s: dry run would replay %d and skip %d, want %d and %d", c.name, dry.Replayed, dry.SkippedByFilter, len(want), n-len(want))
		}
		if endSum(t, k, dest) != 0 || committedSum(k, group) > 0 {
			t.Fatalf("%s: the dry run wrote or committed", c.name)
		}
		sum := replayJSON(t, bin, 0, args...)
		var got []int
		for _, r := range readCommitted(t, k, dest) {
			var v struct{ I int }
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Fatal(err)
			}
			got = append(got, v.I)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) || sum.Replayed != int64(len(want)) || sum.SkippedByFilter != int64(n-len(want)) {
			t.Errorf("%s (%s): replayed %v (summary %d), want %v", c.name, sum.Filter, got, sum.Replayed, want)
		}
		if l := groupLag(k, group); l != 0 {
			t.Errorf("%s: group lag %d", c.name, l)
		}
	}
	// Bad flags exit 2.
	for _, bad := range [][]string{{"--class", "transient"}, {"--since", "yesterday"}, {"--offsets", "5-2"}, {"--output", "xml"}} {
		if _, _, code := dlqCmd(t, bin, append([]string{"dlq", "replay", "--config", e.cfg("strict")}, bad...)...); code != 2 {
			t.Errorf("replay %v: exit %d, want 2", bad, code)
		}
	}
}

// dlqMalformed: DLQ records without an envelope or with a garbled one,
// produced with kcat when it is installed, are reported and skipped by
// inspect and replay; the good ones are replayed. A forged record naming
// a topic the configuration does not route is refused (nothing written
// there, committed past); one with a forged replay count is replayed as
// never replayed.
func dlqMalformed(t *testing.T, k *tc.Kafka, bin string) {
	e := newDLQEnv(t, k, bin, "malformed")
	good := dlqRecord(1, e.topic, dlq.ClassInvalid, "schema", time.Now())
	unrouted := "payments-" + e.topic
	k.CreateTopic(t, unrouted, 1, 1, nil)
	forgedTopic := dlqRecord(2, unrouted, dlq.ClassInvalid, "schema", time.Now())
	forgedCount := dlqRecord(3, e.topic, dlq.ClassInvalid, "schema", time.Now())
	for i, h := range forgedCount.Headers {
		if h.Key == dlq.HeaderReplayCount {
			forgedCount.Headers[i].Value = []byte("99999999999")
		}
	}
	type rec struct {
		key, value string
		headers    []kgo.RecordHeader
	}
	var bad []rec
	hs := func(kv ...string) []kgo.RecordHeader {
		var out []kgo.RecordHeader
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, kgo.RecordHeader{Key: kv[i], Value: []byte(kv[i+1])})
		}
		return out
	}
	garbled := func(name, value string) []kgo.RecordHeader {
		var out []kgo.RecordHeader
		for _, h := range good.Headers {
			if h.Key == name {
				h.Value = []byte(value)
			}
			out = append(out, h)
		}
		return out
	}
	bad = append(bad,
		rec{"k1", `{"no":"envelope"}`, hs("x-correlation-id", "c-9")},
		rec{"k2", `{"garbled":"offset"}`, garbled(dlq.HeaderOffset, "ten")},
		rec{"k3", `{"garbled":"time"}`, garbled(dlq.HeaderFailedAt, "yesterday")},
		rec{"k4", `{"future":"version"}`, garbled(dlq.HeaderVersion, "9")},
		rec{"k5", `{"only":"version"}`, hs(dlq.HeaderVersion, "1")},
	)
	var recs []*kgo.Record
	for _, g := range []*kgo.Record{good, good, good, forgedTopic, forgedCount} {
		r := *g
		r.Topic = e.dlq
		recs = append(recs, &r)
	}
	cl := k.Client(t)
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if kcat, err := exec.LookPath("kcat"); err == nil {
		for _, b := range bad {
			args := []string{"-P", "-b", strings.Join(k.Brokers(), ","), "-t", e.dlq, "-k", b.key}
			for _, h := range b.headers {
				args = append(args, "-H", h.Key+"="+string(h.Value))
			}
			cmd := exec.Command(kcat, args...)
			cmd.Stdin = strings.NewReader(b.value + "\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kcat %v: %v\n%s", args, err, out)
			}
		}
		t.Logf("malformed records produced with %s", kcat)
	} else {
		t.Logf("kcat is not on PATH: producing the same records with franz-go")
		recs = nil
		for _, b := range bad {
			recs = append(recs, &kgo.Record{Topic: e.dlq, Key: []byte(b.key), Value: []byte(b.value), Headers: b.headers})
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	rep := inspectJSON(t, bin, 1, "--config", e.cfg("strict"), "--show", "10")
	if rep.Records != 10 || rep.Malformed != 5 || len(rep.MalformedRecords) != 5 || rep.ByClass[dlq.ClassInvalid] != 5 || len(rep.Shown) != 10 ||
		rep.ByReplayCount[0] != 5 || rep.BySourceTopic[unrouted] != 1 {
		t.Fatalf("inspect: %+v", rep)
	}
	var errs []string
	for _, m := range rep.MalformedRecords {
		errs = append(errs, m.Error)
	}
	all := strings.Join(errs, "\n")
	for _, want := range []string{"no envelope", "source.offset: not a non-negative integer", "failed.at: not an RFC 3339 time", "newer", "error.class: missing"} {
		if !strings.Contains(all, want) {
			t.Errorf("malformed errors do not mention %q:\n%s", want, all)
		}
	}
	text, _, code := dlqCmd(t, bin, "dlq", "inspect", "--config", e.cfg("strict"), "--show", "10")
	if code != 1 || !strings.Contains(text, "MALFORMED") {
		t.Errorf("inspect text: exit %d\n%s", code, text)
	}
	sum := replayJSON(t, bin, 1, "--config", e.cfg("strict"))
	if sum.Read != 10 || sum.Replayed != 4 || sum.Malformed != 5 || sum.Refused != 1 || len(sum.Problems) != 6 || sum.ByDestination[unrouted] != 0 {
		t.Fatalf("replay: %+v", sum)
	}
	refused := 0
	for _, p := range sum.Problems {
		if strings.Contains(p.Error, "source topic "+unrouted+" is not routed") {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("problems do not name the unrouted source topic: %+v", sum.Problems)
	}
	replayed := readCommitted(t, k, e.topic)
	if len(replayed) != 4 {
		t.Errorf("%d records replayed to the source, want 4", len(replayed))
	}
	for _, r := range replayed {
		if c, _ := header(r, dlq.HeaderReplayCount); c != "1" {
			t.Errorf("replayed record with replay count %q, want 1", c)
		}
	}
	if n := endSum(t, k, unrouted); n != 0 {
		t.Errorf("%d records written to the unrouted topic %s", n, unrouted)
	}
	if l := groupLag(k, dlqtool.DefaultGroup(e.dlq)); l != 0 {
		t.Errorf("replay group lag %d, want 0 (malformed and refused records are committed past)", l)
	}
}
