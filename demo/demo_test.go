package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/demo"
	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/schemas"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// TestIssueScenario is the demo's full scenario: 20,000 records over 6
// partitions and 200 keys, ordering key, max_in_flight 64, CXone latency
// uniform in 0–20ms. Besides the demo's verdict, the test checks the
// properties itself, from the source topic, the DLQ topic, the group's
// offsets and the test server's record, with its own oracle of what is
// valid (the order schema, compiled here).
func TestIssueScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 records; skipped with -short")
	}
	const records, partitions, keys = 20000, 6, 200
	brokers := cluster(t, partitions)
	srv := cxonetest.NewServer(
		cxonetest.WithFaults(cxonetest.Faults{Latency: 0, LatencyMax: cxonetest.Duration(20 * time.Millisecond)}),
		cxonetest.WithRecordLimit(2*records))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	rep, err := demo.Run(ctx, demo.Options{
		Records: records, Partitions: partitions, Keys: keys,
		InvalidShare: 0.02, DuplicateShare: 0.05,
		MaxInFlight: 64, Ordering: "key",
		Brokers: brokers, Server: srv,
		Out: &out, Progress: true, ProgressInterval: 2 * time.Second,
		Seed: 20000,
	})
	elapsed := time.Since(start)
	t.Logf("demo.Run: %s wall, bridge %s, %.0f records/s, latency p50 %s p99 %s\n%s",
		elapsed.Round(time.Millisecond), rep.Elapsed.Round(time.Millisecond), rep.Throughput, rep.LatencyP50, rep.LatencyP99, out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed {
		t.Fatalf("verdict FAIL: %+v", rep.Failed())
	}

	// The stream as Kafka holds it, classified by the test's own oracle.
	src := readTopic(t, brokers, demo.Topic)
	if len(src) != records {
		t.Fatalf("source topic holds %d records, want %d", len(src), records)
	}
	oracle := newOracle(t)
	type first struct {
		key       string
		partition int32
		offset    int64
	}
	validOrders := map[string]first{}     // orderId -> its first record
	invalid := map[[2]int64]*kgo.Record{} // partition, offset -> record
	reasons := map[[2]int64]string{}
	duplicates, tombstones := 0, 0
	for _, rec := range src {
		id, reason := oracle.classify(rec.Value)
		switch {
		case rec.Value == nil:
			tombstones++
		case reason != "":
			invalid[[2]int64{int64(rec.Partition), rec.Offset}] = rec
			reasons[[2]int64{int64(rec.Partition), rec.Offset}] = reason
		default:
			if f, ok := validOrders[id]; ok {
				duplicates++
				if f.key != string(rec.Key) {
					t.Fatalf("duplicate of %s under key %s, first under %s", id, rec.Key, f.key)
				}
				continue
			}
			validOrders[id] = first{string(rec.Key), rec.Partition, rec.Offset}
		}
	}
	t.Logf("stream: %d valid orders, %d duplicates, %d invalid, %d tombstone(s)", len(validOrders), duplicates, len(invalid), tombstones)
	if duplicates == 0 || len(invalid) == 0 || tombstones != 1 {
		t.Fatalf("the stream lacks duplicates, invalid records or its tombstone")
	}
	perPartition := map[int32]bool{}
	for _, f := range validOrders {
		perPartition[f.partition] = true
	}
	if len(perPartition) != partitions {
		t.Fatalf("valid orders on %d partitions, want all %d", len(perPartition), partitions)
	}

	// Exactly once in effect: the server accepted each valid order once,
	// and nothing else.
	stats := srv.Stats()
	events := srv.Events()
	if int(stats.Accepted) != len(validOrders) || len(events) != len(validOrders) {
		t.Fatalf("server accepted %d events (%d recorded), want %d valid orders", stats.Accepted, len(events), len(validOrders))
	}
	if int(stats.Duplicates) < duplicates {
		t.Errorf("server deduplicated %d keys, want at least the %d duplicates produced", stats.Duplicates, duplicates)
	}
	if stats.Rejected+stats.Unauthorized+stats.Forbidden+stats.Faults != 0 {
		t.Errorf("unexpected server answers: %+v", stats)
	}
	seen := map[string]bool{}
	slices.SortStableFunc(events, func(a, b cxonetest.Event) int { return a.ArrivedAt.Compare(b.ArrivedAt) })
	lastOffset := map[string]int64{} // Kafka key -> offset of the last accepted order
	for _, ev := range events {
		var body struct {
			EventType  string `json:"eventType"`
			Attributes struct {
				OrderID string `json:"orderId"`
			} `json:"attributes"`
		}
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			t.Fatal(err)
		}
		id := body.Attributes.OrderID
		f, ok := validOrders[id]
		if !ok || seen[id] || body.EventType != demo.EventType {
			t.Fatalf("event %s: order %q (%s) is not a valid order, or accepted twice", ev.ID, id, body.EventType)
		}
		seen[id] = true
		// Per key, in offset order (a key lives on one partition).
		if last, ok := lastOffset[f.key]; ok && f.offset <= last {
			t.Fatalf("key %s: order at offset %d arrived after the one at offset %d", f.key, f.offset, last)
		}
		lastOffset[f.key] = f.offset
	}

	// Invalid records: in the DLQ once each, with a correct envelope.
	dead := readTopic(t, brokers, demo.DLQTopic)
	if len(dead) != len(invalid) {
		t.Errorf("DLQ holds %d records, want the %d invalid ones", len(dead), len(invalid))
	}
	inDLQ := map[[2]int64]bool{}
	for _, rec := range dead {
		env, orig, err := dlq.Parse(rec.Headers)
		if err != nil {
			t.Fatal(err)
		}
		at := [2]int64{int64(env.Partition), env.Offset}
		src, ok := invalid[at]
		switch {
		case !ok || env.Topic != demo.Topic:
			t.Errorf("DLQ record for %s[%d]@%d, which is not an invalid record (%s/%s: %s)", env.Topic, env.Partition, env.Offset, env.Class, env.Reason, env.Message)
			continue
		case inDLQ[at]:
			t.Errorf("%s[%d]@%d dead-lettered twice", env.Topic, env.Partition, env.Offset)
		}
		inDLQ[at] = true
		if env.Version != dlq.Version || env.Class != dlq.ClassInvalid || env.Reason != reasons[at] {
			t.Errorf("offset %d: envelope v%d %s/%s, want v%d invalid/%s", env.Offset, env.Version, env.Class, env.Reason, dlq.Version, reasons[at])
		}
		if !env.Timestamp.Equal(src.Timestamp) || !bytes.Equal(rec.Key, src.Key) || !bytes.Equal(rec.Value, src.Value) {
			t.Errorf("offset %d: DLQ record does not keep the source's timestamp, key and value", env.Offset)
		}
		if len(orig) != len(src.Headers) || env.CorrelationID != string(src.Headers[0].Value) {
			t.Errorf("offset %d: original headers or correlation id not kept: %v, %q", env.Offset, orig, env.CorrelationID)
		}
	}
	for at := range invalid {
		if !inDLQ[at] {
			t.Errorf("invalid record %v not in the DLQ", at)
		}
	}

	// Committed offsets equal end offsets.
	committed, end := offsets(t, brokers, demo.GroupID, demo.Topic)
	if len(end) != partitions {
		t.Fatalf("%d partitions, want %d", len(end), partitions)
	}
	for p, e := range end {
		if committed[p] != e {
			t.Errorf("partition %d: committed %d, end %d", p, committed[p], e)
		}
	}

	// The report agrees.
	if rep.Delivered != len(validOrders) || rep.DLQ != len(invalid) || rep.DuplicatesProduced != duplicates || rep.SkippedTombstones != 1 {
		t.Errorf("report: delivered %d, DLQ %d, duplicates %d, tombstones %d", rep.Delivered, rep.DLQ, rep.DuplicatesProduced, rep.SkippedTombstones)
	}
}

// TestSmallRun runs the demo as `bridge demo` does, with its own Kafka and
// test server, and checks the report's lines.
func TestSmallRun(t *testing.T) {
	o := demo.DefaultOptions()
	o.Records = 500
	o.InvalidShare = 0.05
	o.ProgressInterval = 50 * time.Millisecond
	o.Seed = 500
	var out bytes.Buffer
	o.Out = &out
	rep, err := demo.Run(context.Background(), o)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed {
		t.Fatalf("verdict FAIL: %+v", rep.Failed())
	}
	text := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{
		"bridge demo: 500 records (",
		"produced 500 finished 500/500 ", // the progress line's last frame
		"unfinished 0 (in flight 0)",
		"records/s delivered ",
		"produced 500 records:",
		"delivered ", "duplicates suppressed", "tombstones skipped 1 ",
		"dead-lettered 25 records in the DLQ topic: invalid 25",
		"invalid/schema", "invalid/not_json",
		"latency p50 ", " p99 ",
		"throughput ",
		"verdict: PASS",
		"[PASS] stream finished",
		"[PASS] exactly once at CXone",
		"[PASS] duplicates deduplicated",
		"[PASS] key order at CXone",
		"[PASS] invalid records dead-lettered",
		"[PASS] offsets committed",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "\r") {
		t.Error("progress rewrote a line on a writer that is not a terminal")
	}
	if rep.Produced != 500 || rep.Finished != 500 || rep.InvalidProduced != 25 || rep.Delivered != rep.ValidOrders {
		t.Errorf("report: %+v", rep)
	}
}

// TestAvroRun runs the demo with Avro records through an in-process
// schema registry: the same checks pass, and the invalid records include
// the faults of the wire format and of the datum.
func TestAvroRun(t *testing.T) {
	o := demo.DefaultOptions()
	o.Records = 400
	o.InvalidShare = 0.1
	o.Seed = 400
	o.Format = demo.FormatAvro
	var out bytes.Buffer
	o.Out = &out
	rep, err := demo.Run(context.Background(), o)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed {
		t.Fatalf("verdict FAIL: %+v", rep.Failed())
	}
	text := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{
		"Avro, schemas in the registry at http://",
		"invalid/schema", "invalid/decode_error", "invalid/bad_wire_format", "invalid/unknown_schema",
		"[PASS] exactly once at CXone",
		"[PASS] invalid records dead-lettered",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if rep.Delivered != rep.ValidOrders || rep.InvalidProduced != 40 {
		t.Errorf("report: %+v", rep)
	}
}

// TestExternalEndpoint targets a CXone-compatible endpoint given by URL and
// credentials, as `--cxone-base-url` does: the server-side checks are
// reported as not checked, the verdict rests on what the bridge saw.
func TestExternalEndpoint(t *testing.T) {
	const id, secret = "demo-app", "s3cr${et}" // ${ must not be taken for an environment reference
	srv := cxonetest.NewServer(cxonetest.WithClient(id, secret), cxonetest.WithDuplicateStatus(409))
	t.Cleanup(srv.Close)
	var out bytes.Buffer
	rep, err := demo.Run(context.Background(), demo.Options{
		Records: 300, Partitions: 3, Keys: 20, DuplicateShare: 0.1, InvalidShare: 0.05, Seed: 300,
		External: &demo.ExternalCXone{BaseURL: srv.URL, TokenURL: srv.URL + "/oauth/token", ClientID: id, ClientSecret: secret},
		Out:      &out,
	})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed {
		t.Fatalf("verdict FAIL: %+v", rep.Failed())
	}
	for _, want := range []string{
		"[SKIP] exactly once at CXone: not checked (external endpoint)",
		"[SKIP] key order at CXone: not checked (external endpoint)",
		"[PASS] exactly once in effect (bridge's view)",
		"[PASS] key order (bridge's view)",
		"[PASS] invalid records dead-lettered",
		"[PASS] offsets committed",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	st := srv.Stats()
	if rep.Delivered != int(st.Accepted) || rep.Delivered != rep.ValidOrders || rep.DuplicatesSuppressed != int(st.Duplicates) {
		t.Errorf("report delivered %d, duplicates %d; server accepted %d, duplicates %d", rep.Delivered, rep.DuplicatesSuppressed, st.Accepted, st.Duplicates)
	}
}

// TestVerdictFails: when CXone refuses valid orders (forced 422), they end
// in the DLQ as rejected, and the verdict names the broken promises.
func TestVerdictFails(t *testing.T) {
	srv := cxonetest.NewServer(cxonetest.WithFaults(cxonetest.Faults{ForceStatus: 422, ForceCount: 3}))
	t.Cleanup(srv.Close)
	var out bytes.Buffer
	rep, err := demo.Run(context.Background(), demo.Options{Records: 200, Keys: 10, InvalidShare: 0.05, Server: srv, Out: &out, Seed: 200})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed {
		t.Fatal("verdict PASS although CXone rejected three valid orders")
	}
	var failed []string
	for _, c := range rep.Failed() {
		failed = append(failed, c.Name)
	}
	want := []string{"exactly once at CXone", "invalid records dead-lettered"}
	if !slices.Equal(failed, want) {
		t.Errorf("failed checks %q, want %q", failed, want)
	}
	if rep.DLQByClass["rejected"] != 3 || !strings.Contains(out.String(), "verdict: FAIL") || !strings.Contains(out.String(), "missing 3") {
		t.Errorf("report does not show the 3 rejected orders")
	}
}

// TestCommandExitStatus runs `bridge demo` as a process: exit 0 when the
// verdict passes, 1 when it does not, 2 on bad flags.
func TestCommandExitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "bridge")
	build := exec.Command("go", "build", "-o", bin, "github.com/cxone-bridge/bridge/cmd/bridge")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	run := func(args ...string) (int, string) {
		cmd := exec.Command(bin, append([]string{"demo"}, args...)...)
		cmd.Dir = t.TempDir() // works from any folder: the schema is embedded
		cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
		b, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(b)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(b)
	}
	if code, out := run("--records", "300", "--seed", "7"); code != 0 || !strings.Contains(out, "verdict: PASS") {
		t.Errorf("demo: exit %d, want 0\n%s", code, out)
	}
	srv := cxonetest.NewServer(cxonetest.WithFaults(cxonetest.Faults{ForceStatus: 422, ForceCount: 1}))
	t.Cleanup(srv.Close)
	code, out := run("--records", "100", "--cxone-base-url", srv.URL,
		"--client-id", cxonetest.DefaultClientID, "--client-secret", cxonetest.DefaultClientSecret)
	// The forced 422 hits whichever order arrives first: it is dead-lettered
	// as rejected, so "invalid records dead-lettered" fails; "exactly once
	// in effect" fails too unless that order had a duplicate later in the
	// stream, which then delivered it. Either way the verdict is FAIL.
	if code != 1 || !strings.Contains(out, "verdict: FAIL") || !strings.Contains(out, "[FAIL] invalid records dead-lettered") {
		t.Errorf("demo against a refusing endpoint: exit %d, want 1\n%s", code, out)
	}
	if code, out := run("--records", "100", "--ordering", "sideways"); code != 2 || !strings.Contains(out, "ordering must be key, partition or none") {
		t.Errorf("bad ordering: exit %d, want 2\n%s", code, out)
	}
	if code, out := run("--client-id", "x"); code != 2 {
		t.Errorf("--client-id without --cxone-base-url: exit %d, want 2\n%s", code, out)
	}
}

// ---- helpers ----

func cluster(t *testing.T, partitions int32) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, demo.Topic, demo.DLQTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// readTopic reads every record of topic, up to its end offsets.
func readTopic(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	_, end := offsets(t, brokers, "", topic)
	want := map[int32]int64{}
	for p, e := range end {
		if e > 0 {
			want[p] = e
		}
	}
	if len(want) == 0 {
		return nil
	}
	// Committed records only (dead letters are written in transactions),
	// with the markers, which occupy offsets up to the end.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v", topic, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("reading %s: %v", topic, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if e, ok := want[r.Partition]; ok && r.Offset >= e-1 {
				delete(want, r.Partition)
			}
		})
	}
	return out
}

// offsets returns group's committed offsets (when group is set) and the
// end offsets of topic.
func offsets(t *testing.T, brokers []string, group, topic string) (committed, end map[int32]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	end = map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
	committed = map[int32]int64{}
	if group != "" {
		offs, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			err = offs.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic {
				committed[o.Partition] = o.At
			}
		})
	}
	return committed, end
}

// oracle decides, independently of the bridge's transform, whether a value
// is a valid order and, if not, which DLQ reason it deserves.
type oracle struct{ schema *jsonschema.Schema }

func newOracle(t *testing.T) *oracle {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.Order))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("order.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("order.json")
	if err != nil {
		t.Fatal(err)
	}
	return &oracle{sch}
}

// classify returns the order id of a valid order, or the reason a value
// is invalid; a nil value is neither.
func (o *oracle) classify(v []byte) (orderID, reason string) {
	if v == nil {
		return "", ""
	}
	if !utf8.Valid(v) {
		return "", "bad_utf8"
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(v))
	if err != nil {
		return "", "not_json"
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return "", "not_object"
	}
	if err := o.schema.Validate(doc); err != nil {
		return "", "schema"
	}
	return obj["orderId"].(string), ""
}
