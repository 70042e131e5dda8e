package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// confluentPython is what our users' Python producers install: Confluent's
// client with the extras its Avro, Protobuf and JSON Schema serializers
// need, and every package that pulls in, pinned (what pip resolved for
// confluent-kafka[avro,protobuf,json]==2.16.1 on CPython 3.11), so that the
// environment is the same on every machine and is built once
// (tc.PythonVenv). Note that on Python 3.10 and newer the registry client
// uses httpx2, not httpx. Wheels only: nothing is compiled.
var confluentPython = []string{
	"--only-binary=:all:",
	"confluent-kafka[avro,protobuf,json]==2.16.1",
	"fastavro==1.13.1",                 // AvroSerializer
	"avro==1.12.2",                     // [avro] extra (the legacy confluent_kafka.avro module)
	"protobuf==7.36.2",                 // ProtobufSerializer
	"googleapis-common-protos==1.76.0", // [protobuf] extra
	"jsonschema==4.26.0",               // JSONSerializer
	"jsonschema-specifications==2025.9.1",
	"referencing==0.37.0",
	"rpds-py==2026.9.1",
	"attrs==26.1.0", // the registry client's own requirements, from here on
	"cachetools==8.0.2",
	"certifi==2026.10.19.post1",
	"httpx2==2.16.2",
	"httpcore2==2.16.2",
	"anyio==4.16.0",
	"h11==0.16.0",
	"idna==3.20",
	"truststore==0.10.5",
	"Authlib==1.9.10",
	"joserfc==1.8.0",
	"cryptography==50.0.2",
	"cffi==2.1.1",
	"pycparser==3.12",
	"requests==2.34.2",
	"charset-normalizer==3.5.3",
	"urllib3==2.8.0",
	"typing_extensions==4.16.0",
}

// interopCount is how many orders the script writes to each topic (its
// first 5 are the edge cases of the mapping).
const interopCount = 8

// producedRecord is one line of the script's output: a record it produced
// and the attributes the bridge must make of its value.
type producedRecord struct {
	Topic    string          `json:"topic"`
	Key      string          `json:"key"`
	Expected json.RawMessage `json:"expected"`
}

// TestInteropConfluentPython: records that Confluent's official Python
// client (confluent-kafka, its Avro, Protobuf and JSON Schema serializers,
// default settings) wrote to real Kafka, with schemas it registered itself
// in a real Confluent-compatible registry (Apicurio Registry's ccompat API,
// tc.StartApicurio) or, where that cannot be had, in srfake, carry the
// Confluent wire format with the ids of the schemas registered under
// "<topic>-value", and the bridge turns them into the attributes the script
// says, also after an outage of the registry.
func TestInteropConfluentPython(t *testing.T) {
	start := time.Now()
	k := tc.StartKafka(t) // first: BRIDGE_TEST_KAFKA_SKIP skips before a venv is built
	venvStart := time.Now()
	python := tc.PythonVenv(t, confluentPython...)
	t.Logf("Python virtual environment ready in %s", time.Since(venvStart).Round(10*time.Millisecond))
	reg := startRegistry(t)

	formats := []string{"avro", "protobuf", "json"}
	var (
		prefix  string
		records []producedRecord
	)
	// The producer is the Python client against Apicurio, neither of them
	// the product: once in a CI run it hung for two minutes on a registry
	// request (the registry answered nothing). A second try, on fresh
	// topics, tells that apart from a real failure, which fails both.
	for attempt := 1; ; attempt++ {
		prefix = tc.UniqueName("interop-python")
		for _, f := range formats {
			k.CreateTopic(t, prefix+"."+f, 1, 1, nil) // one partition: records in the order produced
		}
		produceStart := time.Now()
		var err error
		records, err = runConfluentProducer(python, k.Bootstrap(), reg.url, prefix, interopCount)
		if err == nil {
			t.Logf("the Python producer wrote %d records in %s", len(records), time.Since(produceStart).Round(10*time.Millisecond))
			break
		}
		if attempt == 2 {
			t.Fatal(err)
		}
		t.Logf("first try of the Python producer failed after %s; trying again on fresh topics: %v", time.Since(produceStart).Round(time.Second), err)
	}
	byTopic := map[string][]producedRecord{}
	for _, r := range records {
		byTopic[r.Topic] = append(byTopic[r.Topic], r)
	}
	for _, f := range formats {
		if n := len(byTopic[prefix+"."+f]); n != interopCount {
			t.Fatalf("the script reported %d records for %s.%s, want %d", n, prefix, f, interopCount)
		}
	}

	checkWireFormat(t, k, reg, prefix, byTopic)
	checkBridgeDecodes(t, k, reg, prefix, records)
	reg.checkCalls(t)
	t.Logf("TestInteropConfluentPython total %s", time.Since(start).Round(100*time.Millisecond))
}

// runConfluentProducer runs testdata/confluent_producer.py and returns its
// output lines; it fails the test with the script's stderr when the script
// fails.
func runConfluentProducer(python, bootstrap, registryURL, prefix string, count int) ([]producedRecord, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "testdata/confluent_producer.py",
		"--bootstrap", bootstrap, "--registry", registryURL, "--prefix", prefix, "--count", fmt.Sprint(count))
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("confluent_producer.py: %v\nstderr:\n%s", err, tail(stderr.String(), 40))
	}
	var records []producedRecord
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var r producedRecord
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil || r.Topic == "" || r.Key == "" || len(r.Expected) == 0 {
			return nil, fmt.Errorf("confluent_producer.py printed %q: want {\"topic\",\"key\",\"expected\"} (%v)", sc.Text(), err)
		}
		records = append(records, r)
	}
	return records, sc.Err()
}

// checkWireFormat consumes the three topics and checks every record against
// what the script said it produced: same key, in the same order; value in
// the Confluent wire format (magic byte 0, then the big-endian id of the
// one schema registered under "<topic>-value", of the topic's type); for
// Protobuf, message indexes that name the Order message of the registered
// file descriptor; for JSON Schema, a payload equal to "expected". Ids are
// compared as registered: a real registry's need not be 1, 2, 3.
func checkWireFormat(t *testing.T, k *tc.Kafka, reg *testRegistry, prefix string, byTopic map[string][]producedRecord) {
	t.Helper()
	topics := []string{prefix + ".avro", prefix + ".protobuf", prefix + ".json"}
	got := consumeAll(t, k, topics, interopCount)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rcl, err := sr.NewClient(sr.URLs(reg.url))
	if err != nil {
		t.Fatal(err)
	}
	wantType := map[string]sr.SchemaType{topics[0]: sr.TypeAvro, topics[1]: sr.TypeProtobuf, topics[2]: sr.TypeJSON}
	for _, topic := range topics {
		subject := topic + "-value"
		versions, err := rcl.Schemas(ctx, subject)
		if err != nil {
			t.Fatalf("registry: subject %s: %v", subject, err)
		}
		if len(versions) != 1 {
			t.Fatalf("registry: subject %s has %d versions, want 1", subject, len(versions))
		}
		registered := versions[0]
		if registered.Type != wantType[topic] {
			t.Fatalf("registry: subject %s holds a %s schema, want %s", subject, registered.Type, wantType[topic])
		}
		byID, err := rcl.SchemaByID(ctx, registered.ID)
		if err != nil {
			t.Fatalf("registry: schema id %d (subject %s) by id: %v", registered.ID, subject, err)
		}
		if byID.Schema != registered.Schema.Schema {
			t.Fatalf("registry: schema id %d answers another schema by id than under %s version %d:\nby id:   %.300s\nversion: %.300s",
				registered.ID, subject, registered.Version, byID.Schema, registered.Schema.Schema)
		}
		var wantIndexes []int
		if registered.Type == sr.TypeProtobuf {
			wantIndexes = protobufOrderIndexes(t, registered)
		}
		for i, want := range byTopic[topic] {
			rec := got[topic][i]
			where := fmt.Sprintf("%s offset %d (key %q)", topic, rec.Offset, rec.Key)
			if string(rec.Key) != want.Key {
				t.Fatalf("%s: key %q, want %q (the script's record %d)", where, rec.Key, want.Key, i)
			}
			id, indexes, payload, err := parseWireHeader(rec.Value, registered.Type == sr.TypeProtobuf)
			if err != nil {
				t.Fatalf("%s: %v; value % x", where, err, rec.Value[:min(len(rec.Value), 16)])
			}
			if id != registered.ID {
				t.Fatalf("%s: schema id %d, want %d (registered under %s)", where, id, registered.ID, subject)
			}
			if fmt.Sprint(indexes) != fmt.Sprint(wantIndexes) {
				t.Fatalf("%s: message indexes %v, want %v", where, indexes, wantIndexes)
			}
			if len(payload) == 0 {
				t.Fatalf("%s: no payload after the header", where)
			}
			if registered.Type == sr.TypeJSON {
				if err := sameJSON(payload, want.Expected); err != nil {
					t.Fatalf("%s: the JSON payload is not the expected attributes: %v\npayload:  %s\nexpected: %s", where, err, payload, want.Expected)
				}
			}
		}
		t.Logf("%s: %d records, schema id %d (%s, %d references), header % x",
			topic, len(got[topic]), registered.ID, registered.Type, len(registered.References), headerOf(got[topic][0].Value, registered.Type))
	}
}

// consumeAll reads each topic from its start until it has n records of
// each, and returns them by topic in offset order.
func consumeAll(t *testing.T, k *tc.Kafka, topics []string, n int) map[string][]*kgo.Record {
	t.Helper()
	cl := k.Client(t, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[string][]*kgo.Record{}
	have := func() int {
		c := 0
		for _, topic := range topics {
			c += min(len(got[topic]), n)
		}
		return c
	}
	for have() < n*len(topics) {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v", have(), n*len(topics), ctx.Err())
		}
		fetches.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s[%d]: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) { got[r.Topic] = append(got[r.Topic], r) })
	}
	for _, topic := range topics {
		if len(got[topic]) != n {
			t.Fatalf("%s has %d records, want %d", topic, len(got[topic]), n)
		}
	}
	return got
}

// parseWireHeader splits a value in the Confluent wire format: magic byte
// 0, 4-byte big-endian schema id and, for Protobuf, the message indexes (a
// zig-zag varint count, then that many zig-zag varints; a count of 0 means
// [0]). It is the test's own reading, independent of package registry.
func parseWireHeader(v []byte, protobuf bool) (id int, indexes []int, payload []byte, err error) {
	if len(v) < 5 || v[0] != 0 {
		return 0, nil, nil, fmt.Errorf("no Confluent wire header (magic byte 0 and a 4-byte schema id)")
	}
	id, rest := int(binary.BigEndian.Uint32(v[1:5])), v[5:]
	if !protobuf {
		return id, nil, rest, nil
	}
	varint := func() (int, error) {
		u, n := binary.Uvarint(rest)
		if n <= 0 || u > 1<<32 {
			return 0, fmt.Errorf("bad message-index varint")
		}
		rest = rest[n:]
		return int(int64(u>>1) ^ -int64(u&1)), nil // zig-zag
	}
	count, err := varint()
	if err != nil {
		return 0, nil, nil, err
	}
	if count == 0 {
		return id, []int{0}, rest, nil
	}
	if count < 0 || count > 64 {
		return 0, nil, nil, fmt.Errorf("message-index count %d", count)
	}
	for range count {
		ix, err := varint()
		if err != nil {
			return 0, nil, nil, err
		}
		indexes = append(indexes, ix)
	}
	return id, indexes, rest, nil
}

// headerOf is the wire header of v (for the log).
func headerOf(v []byte, typ sr.SchemaType) []byte {
	_, _, payload, err := parseWireHeader(v, typ == sr.TypeProtobuf)
	if err != nil {
		return nil
	}
	return v[:len(v)-len(payload)]
}

// protobufOrderIndexes reads the registered Protobuf schema, which the
// Python client registers as a base64-encoded FileDescriptorProto (not
// .proto text) and srfake and Apicurio (3.3.3, 2.6.13.Final) hand back
// unchanged, and returns the message-index path of the Order message.
func protobufOrderIndexes(t *testing.T, s sr.SubjectSchema) []int {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s.Schema.Schema)
	if err != nil {
		t.Fatalf("the registered Protobuf schema is not base64 (did the client start registering .proto text?): %v\n%.200s", err, s.Schema.Schema)
	}
	var fd descriptorpb.FileDescriptorProto
	if err := proto.Unmarshal(raw, &fd); err != nil {
		t.Fatalf("the registered Protobuf schema is not a FileDescriptorProto: %v", err)
	}
	for i, m := range fd.GetMessageType() {
		if m.GetName() == "Order" {
			t.Logf("registered Protobuf schema: %s (package %s, imports %v, %d references)", fd.GetName(), fd.GetPackage(), fd.GetDependency(), len(s.References))
			return []int{i}
		}
	}
	t.Fatalf("the registered file descriptor %s has no top-level message Order", fd.GetName())
	return nil
}

// checkBridgeDecodes runs the bridge (the built binary, as a process)
// over the three topics, one route each (format avro, protobuf and
// jsonschema), against a CXone test server, and checks that the event of
// each record (matched by its key, the order id) has exactly the record's
// expected attributes, besides the _correlationId and _publishedAt the
// bridge adds. The three topics carry the same order ids, so the routes'
// idempotency keys include the topic. The registry is down when the bridge starts (it answers
// 503): the bridge must retry, dead-letter nothing and publish nothing it
// cannot decode, report not ready, and deliver everything once the
// registry is back.
func checkBridgeDecodes(t *testing.T, k *tc.Kafka, reg *testRegistry, prefix string, records []producedRecord) {
	t.Helper()
	for _, f := range []string{"avro", "protobuf", "json"} {
		k.CreateTopic(t, prefix+"."+f+".dlq", 1, 1, nil)
	}
	srv := tc.StartCXone(t)
	dir := t.TempDir()
	// The registry timeout is generous: a real registry's first answers
	// come from a cold JVM (srfake's and the outage's 503s are instant).
	yaml := fmt.Sprintf(`kafka: {brokers: [%s], group_id: %s-bridge, session_timeout: 6s}
consumer: {commit_interval: 200ms, retry_backoff: 100ms, retry_backoff_max: 500ms}
cxone:
  base_url: %s
  allow_insecure_http: true
  auth: {client_id: %s, client_secret: "${CXONE_CLIENT_SECRET}"}
schema_registry: {urls: [%s], timeout: 10s}
routes:
  - {topic: %s.avro, format: avro, event_type: OrderCreated, business_key: /orderId, idempotency_key: "{topic}:{businessKey}"}
  - {topic: %s.protobuf, format: protobuf, event_type: OrderCreated, business_key: /orderId, idempotency_key: "{topic}:{businessKey}"}
  - {topic: %s.json, format: jsonschema, event_type: OrderCreated, business_key: /orderId, idempotency_key: "{topic}:{businessKey}"}
metrics: {listen: "127.0.0.1:0"}
`, strings.Join(k.Brokers(), ", "), prefix, srv.URL, cxonetest.DefaultClientID, reg.url, prefix, prefix, prefix)
	cfg := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}

	reg.down.Store(true)
	p := tc.StartBridge(t, tc.BuildBridge(t), cfg, []string{"CXONE_CLIENT_SECRET=" + cxonetest.DefaultClientSecret})
	// The outage: the bridge keeps asking (each record's retries), and
	// neither publishes nor dead-letters anything.
	if !poll.Check(60*time.Second, func() bool { return reg.outageCalls.Load() >= 10 || p.Exited() }) || p.Exited() {
		t.Fatalf("the bridge did not retry against the registry that is down (%d requests); its log:\n%s", reg.outageCalls.Load(), tail(p.Logs(), 30))
	}
	if n := len(srv.Events()); n != 0 {
		t.Fatalf("%d events published while the registry was down", n)
	}
	p.WaitLog("registry_unavailable", 30*time.Second)
	reg.down.Store(false)

	if !poll.Check(90*time.Second, func() bool { return len(srv.Events()) >= len(records) }) {
		t.Fatalf("%d of %d events after the outage; the bridge's log:\n%s", len(srv.Events()), len(records), tail(p.Logs(), 20))
	}
	events := map[string]json.RawMessage{}
	for _, ev := range srv.Events() {
		var body struct {
			Attributes map[string]json.RawMessage `json:"attributes"`
		}
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			t.Fatal(err)
		}
		var id string
		_ = json.Unmarshal(body.Attributes["orderId"], &id)
		delete(body.Attributes, "_correlationId")
		delete(body.Attributes, "_publishedAt")
		a, _ := json.Marshal(body.Attributes)
		if _, dup := events[ev.Header.Get("X-Idempotency-Key")]; dup {
			t.Errorf("order %s published twice", id)
		}
		events[ev.Header.Get("X-Idempotency-Key")] = a
	}
	matched := 0
	for _, r := range records {
		found := false
		for _, a := range events {
			if sameJSON(a, r.Expected) == nil {
				found = true
				break
			}
		}
		if !found {
			var closest error
			for _, a := range events {
				var o struct {
					OrderID string `json:"orderId"`
				}
				_ = json.Unmarshal(a, &o)
				if o.OrderID == r.Key {
					closest = sameJSON(a, r.Expected)
				}
			}
			t.Errorf("%s key %s: no event with the expected attributes %s (closest: %v)", r.Topic, r.Key, r.Expected, closest)
			continue
		}
		matched++
	}
	if n := srv.Stats().Accepted; n != int64(len(records)) {
		t.Errorf("CXone accepted %d events, want %d", n, len(records))
	}
	ends, err := k.Admin().ListEndOffsets(context.Background(), prefix+".avro.dlq", prefix+".protobuf.dlq", prefix+".json.dlq")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset != 0 {
			t.Errorf("%s[%d]: %d records dead-lettered (%v)", o.Topic, o.Partition, o.Offset, o.Err)
		}
	})
	t.Logf("the bridge decoded %d of %d records into exactly the expected attributes, after a registry outage of %d requests", matched, len(records), reg.outageCalls.Load())

	outageInTheMiddle(t, k, reg, srv, p, prefix, len(records))
}

// outageInTheMiddle: with the bridge running and caught up, a producer
// registers a new schema, the registry goes down, and records of the new
// schema arrive. The bridge cannot decode them yet: it publishes none,
// dead-letters none, and keeps asking; when the registry is back, they are
// delivered, each once.
func outageInTheMiddle(t *testing.T, k *tc.Kafka, reg *testRegistry, srv *cxonetest.Server, p *tc.Process, prefix string, before int) {
	t.Helper()
	const late = `{"type":"record","name":"LateOrder","namespace":"cxone.bridge.interop","fields":[{"name":"orderId","type":"string"},{"name":"n","type":"int"}]}`
	cl, err := sr.NewClient(sr.URLs(reg.url))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ss, err := cl.CreateSchema(ctx, prefix+".late-value", sr.Schema{Schema: late, Type: sr.TypeAvro})
	if err != nil {
		t.Fatalf("register the late schema: %v", err)
	}
	reg.down.Store(true)
	calls := reg.outageCalls.Load()
	const n = 5
	prod := k.Client(t, kgo.DefaultProduceTopic(prefix+".avro"))
	for i := range n {
		payload, err := avro.Marshal(avro.MustParse(late), map[string]any{"orderId": fmt.Sprintf("LATE-%d", i), "n": i})
		if err != nil {
			t.Fatal(err)
		}
		v := append([]byte{0, 0, 0, 0, 0}, payload...)
		binary.BigEndian.PutUint32(v[1:5], uint32(ss.ID))
		if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprintf("LATE-%d", i)), Value: v}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if !poll.Check(60*time.Second, func() bool { return reg.outageCalls.Load() >= calls+3 }) {
		t.Fatalf("the bridge did not ask the registry during the outage; its log:\n%s", tail(p.Logs(), 20))
	}
	if got := len(srv.Events()); got != before {
		t.Fatalf("%d events published during the outage in the middle, want still %d", got, before)
	}
	reg.down.Store(false)
	if !poll.Check(60*time.Second, func() bool { return len(srv.Events()) >= before+n }) {
		t.Fatalf("%d of %d events after the outage in the middle; the bridge's log:\n%s", len(srv.Events()), before+n, tail(p.Logs(), 20))
	}
	seen := map[string]int{}
	for _, ev := range srv.Events() {
		var body struct {
			Attributes struct {
				OrderID string `json:"orderId"`
				N       *int   `json:"n"`
			} `json:"attributes"`
		}
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(body.Attributes.OrderID, "LATE-") && body.Attributes.N != nil {
			seen[body.Attributes.OrderID]++
		}
	}
	for i := range n {
		if id := fmt.Sprintf("LATE-%d", i); seen[id] != 1 {
			t.Errorf("%s published %d times, want once", id, seen[id])
		}
	}
	ends, err := k.Admin().ListEndOffsets(ctx, prefix+".avro.dlq")
	if err != nil {
		t.Fatal(err)
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset != 0 {
			t.Errorf("%d records dead-lettered across the outage in the middle", o.Offset)
		}
	})
	t.Logf("outage in the middle: %d records of a schema registered just before it waited through %d refused requests, then were delivered once each", n, reg.outageCalls.Load()-calls)
}

// sameJSON reports how JSON values a and b differ, or nil when they are the
// same value: objects with the same keys (in any order) and same values,
// arrays element by element, numbers by exact value (so 0 equals 0.0, and
// 9007199254740993 differs from 9007199254740992).
func sameJSON(a, b []byte) error {
	var va, vb any
	for _, p := range []struct {
		data []byte
		v    *any
	}{{a, &va}, {b, &vb}} {
		dec := json.NewDecoder(bytes.NewReader(p.data))
		dec.UseNumber()
		if err := dec.Decode(p.v); err != nil {
			return fmt.Errorf("not JSON: %v", err)
		}
	}
	return diffJSON("$", va, vb)
}

func diffJSON(path string, a, b any) error {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: object vs %T", path, b)
		}
		keys := map[string]bool{}
		for k := range a {
			keys[k] = true
		}
		for k := range b {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			va, ina := a[k]
			vb, inb := b[k]
			if ina != inb {
				return fmt.Errorf("%s.%s: present in only one (first: %v, second: %v)", path, k, ina, inb)
			}
			if err := diffJSON(path+"."+k, va, vb); err != nil {
				return err
			}
		}
		return nil
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return fmt.Errorf("%s: array of %d vs %v", path, len(a), b)
		}
		for i := range a {
			if err := diffJSON(fmt.Sprintf("%s[%d]", path, i), a[i], b[i]); err != nil {
				return err
			}
		}
		return nil
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return fmt.Errorf("%s: number %s vs %T %v", path, a, b, b)
		}
		ra, oka := new(big.Rat).SetString(a.String())
		rb, okb := new(big.Rat).SetString(b.String())
		if !oka || !okb || ra.Cmp(rb) != 0 {
			return fmt.Errorf("%s: %s vs %s", path, a, b)
		}
		return nil
	default: // string, bool, nil
		if a != b {
			return fmt.Errorf("%s: %#v vs %#v", path, a, b)
		}
		return nil
	}
}

// testRegistry is the schema registry of the test, behind a handler of
// the test that records every request and its status (to show which
// endpoints the Python client and the bridge use, and that the registry
// answered them) and can play an outage. The registry is Apicurio Registry
// (tc.StartApicurio) behind a reverse proxy when it can be had, else
// srfake served in process.
type testRegistry struct {
	// url is the base URL of the Confluent API, what the clients are given:
	// the recording handler's URL, plus Apicurio's path to its ccompat API.
	url string
	// kind names the registry for the log: "Apicurio Registry 3.3.3", "srfake".
	kind string
	// noSubjectsByID: the registry answers GET /schemas/ids/{id}/subjects
	// 404 (Apicurio 2.x); the bridge then logs without subject names.
	noSubjectsByID bool

	mu    sync.Mutex
	calls []registryCall

	// down makes the registry answer 503 to everything (an outage);
	// outageCalls counts those answers, which calls does not record.
	down        atomic.Bool
	outageCalls atomic.Int64
}

type registryCall struct {
	method, path, query, agent string
	status                     int
}

// startRegistry serves the test's registry on loopback until the test
// ends: Apicurio Registry when tc.StartApicurio gives one (it returns nil,
// saying why, when BRIDGE_TEST_REGISTRY_SKIP is set or there is no Java or
// mvn for it), else srfake. Apicurio sits behind a reverse proxy that
// forwards every request unchanged (path included) to Apicurio's port; the
// recorded paths are those of the Confluent API (Apicurio's prefix
// /apis/ccompat/v7 cut off), the same for either registry.
func startRegistry(t *testing.T) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	var inner http.Handler
	prefix := ""
	if a := tc.StartApicurio(t); a != nil {
		backend, err := url.Parse(a.BaseURL())
		if err != nil {
			t.Fatal(err)
		}
		inner = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(backend) }}
		prefix = strings.TrimPrefix(a.URL(), a.BaseURL())
		r.kind = "Apicurio Registry " + a.Version
		r.noSubjectsByID = !a.HasSubjectsByID()
	} else {
		inner = srfake.NewRegistry().Handler()
		r.kind = "srfake"
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			r.outageCalls.Add(1)
			http.Error(w, `{"error_code":50001,"message":"outage"}`, http.StatusServiceUnavailable)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		inner.ServeHTTP(sw, req)
		r.mu.Lock()
		r.calls = append(r.calls, registryCall{req.Method, strings.TrimPrefix(req.URL.Path, prefix), req.URL.RawQuery, req.UserAgent(), sw.status})
		r.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL + prefix
	t.Logf("schema registry: %s, behind the test's recording handler at %s", r.kind, r.url)
	return r
}

// checkCalls logs the requests the registry served and fails the test for
// any that the registry did not answer with success, but for two 404s a
// client is documented to expect: the association look-up of the Python
// client's default subject name strategy, to which a registry without
// associations (Confluent's before 8.x, srfake, Apicurio) answers 404 and
// the client then falls back to "<topic>-value" (confluent-kafka 2.16.1
// treats any 404 there as "no association"); and, from a registry that
// lacks it (Apicurio 2.x), GET /schemas/ids/{id}/subjects, which the bridge
// only uses to name the subject in its logs.
func (r *testRegistry) checkCalls(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	count := map[string]int{}
	var order []string
	for _, c := range r.calls {
		path := c.path
		for _, f := range []string{".avro", ".protobuf", ".json"} { // one line per endpoint, not per topic
			if i := strings.Index(path, f); i >= 0 {
				j := strings.LastIndex(path[:i], "/") + 1
				path = path[:j] + "<topic>" + path[i+len(f):]
			}
		}
		agent, _, _ := strings.Cut(c.agent, " ")
		if c.query != "" {
			path += "?" + c.query
		}
		line := fmt.Sprintf("%s %s -> %d (%s)", c.method, path, c.status, agent)
		if count[line] == 0 {
			order = append(order, line)
		}
		count[line]++
		association := c.method == http.MethodGet && strings.HasPrefix(c.path, "/associations/")
		subjectsByID := c.method == http.MethodGet && strings.HasPrefix(c.path, "/schemas/ids/") && strings.HasSuffix(c.path, "/subjects")
		expected404 := association || (subjectsByID && r.noSubjectsByID)
		if c.status >= 300 && !(expected404 && c.status == http.StatusNotFound) {
			t.Errorf("registry: %s %s?%s answered %d: an endpoint the clients need that %s lacks?", c.method, c.path, c.query, c.status, r.kind)
		}
	}
	var b strings.Builder
	for _, line := range order {
		fmt.Fprintf(&b, "\n  %dx %s", count[line], line)
	}
	t.Logf("%s requests:%s", r.kind, b.String())
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController (the reverse proxy's flushes) reach
// the server's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
