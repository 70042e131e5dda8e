package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// TestCheckSchemaRegistry: with routes in a registry format, check asks
// the registry once (reachable, credentials accepted) and reports each
// route's subject: registered, or not; wrong credentials fail with a
// message that says so and never shows them.
func TestCheckSchemaRegistry(t *testing.T) {
	reg := srfake.New(srfake.WithAuth("Basic " + "dXNlcjpzM2NyZXQ=")) // user:s3cret
	t.Cleanup(reg.Close)
	if _, _, err := reg.RegisterSchema("orders-value", sr.Schema{Schema: `{"type":"record","name":"O","fields":[{"name":"orderId","type":"string"}]}`}); err != nil {
		t.Fatal(err)
	}
	broker := cluster(t, "orders", "orders.dlq", "refunds", "refunds.dlq")
	srv := cxonetest.NewServer()
	t.Cleanup(srv.Close)
	write := func(password string) string {
		path := checkEnv(t, broker, srv.URL, cxonetest.DefaultClientSecret)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		yaml := strings.Replace(string(data),
			"routes: [{topic: orders, event_type: OrderCreated, schema: order.json, business_key: /orderId}]",
			`routes:
  - {topic: orders, format: avro, event_type: OrderCreated, business_key: /orderId}
  - {topic: refunds, format: protobuf, event_type: RefundIssued, business_key: /refundId}
schema_registry: {urls: [`+reg.URL()+`], username: user, password: `+password+`}`, 1)
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	lines, ok := doCheck(t, write("s3cret"), 5*time.Second)
	wantLines(t, lines, []string{
		"PASS config: *",
		"WARN schema_registry: credentials are sent over plain http to *",
		"PASS schemas: 2 route(s) compiled",
		"PASS schema registry: " + reg.URL() + " reachable, credentials accepted",
		"PASS subject orders-value: registered",
		"FAIL subject refunds-value: not registered*",
		"PASS brokers: *",
		"PASS topic orders: *",
		"PASS topic refunds: *",
		"PASS dlq topic orders.dlq: *",
		"PASS dlq topic refunds.dlq: *",
		"PASS dlq transactions: transactional ids cxone-bridge-dlq-* allowed (dlq.delivery: exactly_once)",
		"PASS token: *",
		"check: 11 passed, 1 failed, 0 skipped",
	})
	if ok {
		t.Error("check passed with a subject missing")
	}

	lines, ok = doCheck(t, write("wrong-pass-123"), 5*time.Second)
	out := strings.Join(lines, "\n")
	if ok || !strings.Contains(out, "FAIL schema registry: ") || !strings.Contains(strings.ToLower(out), "authentication") {
		t.Errorf("wrong credentials: ok %v\n%s", ok, out)
	}
	if strings.Contains(out, "wrong-pass-123") || strings.Contains(out, "s3cret") {
		t.Errorf("a credential is printed:\n%s", out)
	}
}
