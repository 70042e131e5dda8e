package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

func valid(i int) string {
	return fmt.Sprintf(`{"orderId":"ORD-%010d","customerId":"C","totalAmount":1,"currency":"USD","timestamp":"2026-01-01T00:00:00Z"}`, i)
}

// TestBadRecordsFromKafka produces every kind of bad input (transform's TestInvalid) to one
// partition between valid orders: each bad one lands in the DLQ with class
// invalid and its reason, the valid ones reach CXone, and the partition
// keeps flowing to lag 0.
func TestBadRecordsFromKafka(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders", "orders.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := cxonetest.NewServer()
	defer srv.Close()

	dir := t.TempDir()
	schema, err := os.ReadFile("../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "order.json"), schema, 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`kafka: {brokers: [%s], group_id: g}
consumer: {commit_interval: 100ms}
cxone: {base_url: %s, allow_insecure_http: true, auth: {client_id: %s, client_secret: %s}}
routes: [{topic: orders, event_type: OrderCreated, schema: order.json, business_key: /orderId, tombstones: dlq}]
`, c.ListenAddrs()[0], srv.URL, cxonetest.DefaultClientID, cxonetest.DefaultClientSecret)
	cfg, err := config.Parse([]byte(yaml), dir)
	if err != nil {
		t.Fatal(err)
	}

	bad := []struct {
		value   []byte
		headers []kgo.RecordHeader
		reason  string
	}{
		{value: []byte("not json"), reason: "not_json"},
		{value: []byte(`[1,2]`), reason: "not_object"},
		{value: []byte("{\"orderId\":\"\xff\"}"), reason: "bad_utf8"},
		{value: []byte(valid(900) + "garbage"), reason: "not_json"},
		{value: []byte(`{"a":"` + strings.Repeat("x", 10<<20) + `"}`), reason: "too_large"},
		{value: []byte(strings.Repeat("[", 100000) + strings.Repeat("]", 100000)), reason: "too_deep"},
		{value: []byte(strings.Replace(valid(901), `"customerId":"C",`, "", 1)), reason: "schema"},
		{value: []byte(strings.Replace(valid(902), `"totalAmount":1`, `"totalAmount":"1"`, 1)), reason: "schema"},
		{value: []byte(strings.Replace(valid(903), `{`, `{"extra":1,`, 1)), reason: "schema"},
		{value: []byte(strings.Replace(valid(904), "2026-01-01", "2024-02-30", 1)), reason: "schema"},
		{value: nil, reason: "tombstone"},
		{value: []byte(valid(905)), headers: []kgo.RecordHeader{{Key: "x-correlation-id", Value: []byte("a\r\nX-Evil: 1")}}, reason: ""},
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("orders"), kgo.ProducerBatchMaxBytes(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	wantDLQ := map[int64]string{}
	var offset int64
	for i, b := range bad {
		for _, r := range []*kgo.Record{{Value: []byte(valid(i))}, {Value: b.value, Headers: b.headers}} {
			res, err := cl.ProduceSync(context.Background(), r).First()
			if err != nil {
				t.Fatal(err)
			}
			offset = res.Offset
		}
		if b.reason != "" {
			wantDLQ[offset] = b.reason
		}
	}

	var logs strings.Builder
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	br, err := pipeline.New(cfg, log, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(30 * time.Second)
	for {
		lags, err := adm.Lag(context.Background(), "g")
		if gl, ok := lags["g"]; err == nil && ok && gl.Error() == nil && len(gl.Lag["orders"]) == 1 && gl.Lag.Total() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag not 0 after 30s; logs:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.Accepted != int64(len(bad)+1) || st.Rejected != 0 {
		t.Errorf("server stats %+v, want %d accepted", st, len(bad)+1)
	}

	rd, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("orders.dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got := map[int64]string{}
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	for len(got) < len(wantDLQ) && pctx.Err() == nil {
		rd.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			env, _, err := dlq.Parse(r.Headers)
			if err != nil {
				t.Errorf("DLQ record without envelope: %v", err)
				return
			}
			if env.Class != dlq.ClassInvalid || env.Topic != "orders" || env.Message == "" || env.CorrelationID == "" {
				t.Errorf("envelope %+v", env)
			}
			got[env.Offset] = env.Reason
			if env.Reason == "too_large" && (env.ValueOmitted != 10<<20+8 || len(r.Value) != 0) {
				t.Errorf("oversized record: value omitted %d, DLQ value %d bytes", env.ValueOmitted, len(r.Value))
			}
		})
	}
	for off, reason := range wantDLQ {
		if got[off] != reason {
			t.Errorf("offset %d: DLQ reason %q, want %q", off, got[off], reason)
		}
	}
	if len(got) != len(wantDLQ) {
		t.Errorf("%d DLQ records, want %d", len(got), len(wantDLQ))
	}
	// The CR/LF correlation header was replaced, never sent.
	for _, ev := range srv.Events() {
		if strings.ContainsAny(ev.CorrelationID, "\r\n") {
			t.Errorf("unsafe correlation id reached CXone: %q", ev.CorrelationID)
		}
	}
	if !strings.Contains(logs.String(), "correlation header not used") {
		t.Error("replaced correlation header not logged")
	}
}

// TestKafkaClientOptions checks that bridge.yaml's fetch settings reach the
// franz-go client, the short fetch_max_wait default above all: at
// franz-go's 5s, a partition resumed after its fair-share pause waited
// behind a long-polling fetch, and hot keys ran 8× slower
// (BenchmarkConsumer, docs/performance.md).
func TestKafkaClientOptions(t *testing.T) {
	for _, tc := range []struct {
		kafka string
		wait  time.Duration
		bytes int32
	}{
		{"", 100 * time.Millisecond, 1 << 20},
		{", fetch_max_wait: 2s, fetch_max_bytes: 4MiB", 2 * time.Second, 4 << 20},
	} {
		yaml := fmt.Sprintf(`kafka: {brokers: ["127.0.0.1:1"]%s}
cxone: {base_url: "http://127.0.0.1:1", allow_insecure_http: true, auth: {client_id: a, client_secret: b}}
routes: [{topic: orders, event_type: OrderCreated, business_key: /orderId}]
`, tc.kafka)
		cfg, err := config.Parse([]byte(yaml), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		br, err := pipeline.New(cfg, slog.New(slog.DiscardHandler), pipeline.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cl := br.Consumer().Client()
		if got := cl.OptValue(kgo.FetchMaxWait); got != tc.wait {
			t.Errorf("%q: FetchMaxWait %v, want %v", tc.kafka, got, tc.wait)
		}
		if got := cl.OptValue(kgo.FetchMaxBytes); got != tc.bytes {
			t.Errorf("%q: FetchMaxBytes %v, want %v", tc.kafka, got, tc.bytes)
		}
		cl.Close()
	}
}
