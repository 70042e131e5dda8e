package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// cdcMapping: a Debezium-shaped CDC topic (creates, updates, cancellations,
// deletes, and two malformed records) through three routes with CEL
// filters and attributes, on real Kafka with the bridge binary. Creates and
// updates become OrderCreated and OrderUpdated, cancellations
// OrderCancelled (the route before the catch-all update route); deletes
// are taken by no route and skipped, yet committed; the malformed records
// are dead-lettered (mapping_error, not_json); per order, the events arrive
// in change order.
func cdcMapping(t *testing.T, s *scenario) {
	const orders = 300
	topic := "cdc-" + s.group
	s.k.CreateTopic(t, topic, 3, 3, nil)
	s.k.CreateTopic(t, topic+".dlq", 3, 3, nil)
	srv := tc.StartCXone(t)
	dir := t.TempDir()
	yaml := fmt.Sprintf(`kafka: {brokers: [%s], group_id: %s, session_timeout: 6s}
consumer: {commit_interval: 200ms}
cxone:
  base_url: %s
  allow_insecure_http: true
  auth: {client_id: %s, client_secret: "${CXONE_CLIENT_SECRET}"}
routes:
  - topic: %[5]s
    filter: value.op == "c"
    event_type: OrderCreated
    business_key_expr: value.after.order_id
    timestamp_expr: timestamp(int(value.ts_ms / 1000.0))
    attributes: '{"orderId": value.after.order_id, "status": value.after.status, "totalAmount": value.after.total_amount, "source": "erp"}'
  - topic: %[5]s
    filter: value.op == "u" && value.after.status == "CANCELLED"
    event_type: OrderCancelled
    business_key_expr: value.after.order_id
    idempotency_key: "{eventType}:{businessKey}:{/ts_ms}"
    attributes: '{"orderId": value.after.order_id, "previousStatus": value.before.status}'
  - topic: %[5]s
    filter: value.op == "u"
    event_type: OrderUpdated
    business_key_expr: value.after.order_id
    idempotency_key: "{eventType}:{businessKey}:{/ts_ms}"
    attributes: '{"orderId": value.after.order_id, "status": value.after.status}'
metrics: {listen: "127.0.0.1:0"}
`, strings.Join(s.k.Brokers(), ", "), s.group, srv.URL, cxonetest.DefaultClientID, topic)
	cfg := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}

	// Per order: create, update to PAID; every third is then cancelled;
	// every fifth deleted. Keyed by order, so each order's changes keep
	// their order.
	change := func(id, op string, before, after map[string]any, ts int64) *kgo.Record {
		v, _ := json.Marshal(map[string]any{"before": before, "after": after, "op": op, "ts_ms": ts, "source": map[string]any{"table": "orders"}})
		return &kgo.Record{Topic: topic, Key: []byte(id), Value: v}
	}
	var recs []*kgo.Record
	want := map[string]int{}
	ts := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC).UnixMilli()
	for i := range orders {
		id := fmt.Sprintf("ORD-%05d", i)
		row := func(status string) map[string]any {
			return map[string]any{"order_id": id, "status": status, "total_amount": float64(i) + 0.25}
		}
		recs = append(recs, change(id, "c", nil, row("NEW"), ts+int64(i)*1000))
		recs = append(recs, change(id, "u", row("NEW"), row("PAID"), ts+int64(i)*1000+1))
		want["OrderCreated"]++
		want["OrderUpdated"]++
		if i%3 == 0 {
			recs = append(recs, change(id, "u", row("PAID"), row("CANCELLED"), ts+int64(i)*1000+2))
			want["OrderCancelled"]++
		}
		if i%5 == 0 {
			recs = append(recs, change(id, "d", row("PAID"), nil, ts+int64(i)*1000+3))
			want["skipped"]++
		}
	}
	recs = append(recs, change("ORD-BAD", "c", nil, nil, ts)) // a create without its row
	recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("ORD-BAD2"), Value: []byte(`{"op":"c","after":`)})
	cl := s.k.Client(t)
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	p := tc.StartBridge(t, s.bin, cfg, []string{"CXONE_CLIENT_SECRET=" + cxonetest.DefaultClientSecret})
	total := want["OrderCreated"] + want["OrderUpdated"] + want["OrderCancelled"]
	if !poll.Check(90*time.Second, func() bool { return int(srv.Stats().Accepted) >= total }) {
		t.Fatalf("%d of %d events; the bridge's log:\n%s", srv.Stats().Accepted, total, tail(p.Logs(), 20))
	}
	// Every record committed, the skipped deletes and the dead letters too.
	poll.Until(t, 60*time.Second, "the group's lag to reach 0", func() bool {
		lags, err := s.k.Admin().Lag(context.Background(), s.group)
		gl, ok := lags[s.group]
		return err == nil && ok && gl.Error() == nil && len(gl.Lag[topic]) == 3 && gl.Lag.Total() == 0
	})

	got := map[string]int{}
	lastStatus := map[string][]string{}
	for _, ev := range srv.Events() {
		var body struct {
			EventType  string `json:"eventType"`
			Timestamp  string `json:"timestamp"`
			Attributes struct {
				OrderID, Status, PreviousStatus, Source string
			} `json:"attributes"`
		}
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			t.Fatal(err)
		}
		got[body.EventType]++
		lastStatus[body.Attributes.OrderID] = append(lastStatus[body.Attributes.OrderID], body.EventType)
		if body.EventType == "OrderCreated" && (body.Attributes.Source != "erp" || body.Attributes.Status != "NEW" || !strings.HasPrefix(body.Timestamp, "2026-11-27T")) {
			t.Errorf("created event %s", ev.Body)
		}
		if body.EventType == "OrderCancelled" && body.Attributes.PreviousStatus != "PAID" {
			t.Errorf("cancelled event %s", ev.Body)
		}
	}
	for _, typ := range []string{"OrderCreated", "OrderUpdated", "OrderCancelled"} {
		if got[typ] != want[typ] {
			t.Errorf("%d %s events, want %d", got[typ], typ, want[typ])
		}
	}
	for id, seq := range lastStatus {
		if seq[0] != "OrderCreated" || (len(seq) > 1 && seq[1] != "OrderUpdated") {
			t.Errorf("%s: events in the order %v", id, seq)
		}
	}

	// The two malformed records, and nothing else, in the DLQ.
	dl := consumeAll(t, s.k, []string{topic + ".dlq"}, 2)
	reasons := map[string]string{}
	for _, r := range dl[topic+".dlq"] {
		env, _, err := dlq.Parse(r.Headers)
		if err != nil {
			t.Fatal(err)
		}
		reasons[string(r.Key)] = env.Reason
		if env.Reason == "mapping_error" && !strings.Contains(env.Message, "routes[0].business_key_expr") && !strings.Contains(env.Message, "routes[0].attributes") {
			t.Errorf("mapping error message does not name the route and key: %s", env.Message)
		}
	}
	if reasons["ORD-BAD"] != "mapping_error" || reasons["ORD-BAD2"] != "not_json" {
		t.Errorf("dead letters %v, want ORD-BAD mapping_error and ORD-BAD2 not_json", reasons)
	}
	t.Logf("CDC: %d changes → %d created, %d updated, %d cancelled, %d deletes skipped, 2 dead-lettered; lag 0",
		len(recs), got["OrderCreated"], got["OrderUpdated"], got["OrderCancelled"], want["skipped"])
}
