package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/cxone-bridge/bridge/registry"
)

// TestDryRunAvroWithRegistry: dry-run decodes a record's bytes given as
// value_b64 with the registry named by --registry, and prints the same
// request as for the tutorial's order in JSON (the same idempotency key);
// a record the registry does not know goes to the DLQ as unknown_schema.
func TestDryRunAvroWithRegistry(t *testing.T) {
	const schema = `{"type":"record","name":"Order","fields":[
 {"name":"orderId","type":"string"},{"name":"customerId","type":"string"},
 {"name":"totalAmount","type":"double"},{"name":"currency","type":"string"},
 {"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}}]}`
	reg := srfake.New()
	t.Cleanup(reg.Close)
	id, _, err := reg.RegisterSchema("orders.avro-value", sr.Schema{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := avro.Marshal(avro.MustParse(schema), map[string]any{
		"orderId": "ORD-1234567890", "customerId": "CUST-998877", "totalAmount": 150.75, "currency": "USD",
		"timestamp": int64(1795773600000), // 2026-11-27T10:00:00Z
	})
	if err != nil {
		t.Fatal(err)
	}
	good := base64.StdEncoding.EncodeToString(append(registry.AppendHeader(nil, registry.Header{SchemaID: id}, false), payload...))
	unknown := base64.StdEncoding.EncodeToString(append(registry.AppendHeader(nil, registry.Header{SchemaID: id + 7}, false), payload...))

	dir := t.TempDir()
	cfg := `kafka: {brokers: ["localhost:9092"]}
cxone: {auth: {client_id: x}}
schema_registry: {urls: ["http://registry.invalid:8081"]}
routes:
  - {topic: orders.avro, format: avro, event_type: OrderCreated, business_key: /orderId}
`
	path := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	in := `{"topic":"orders.avro","value_b64":"` + good + `","headers":{"x-correlation-id":"trace-abc-123-xyz"}}` + "\n" +
		`{"topic":"orders.avro","value_base64":"` + unknown + `"}` + "\n"
	out, errOut, code := runBridge(t, in, "dry-run", "-c", path, "--registry", reg.URL())
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one record to the DLQ)\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"X-Idempotency-Key: 8bb2fd79-b926-5d35-b05d-6c664ce6f258", // the tutorial's key for this order
		`"orderId":"ORD-1234567890"`, `"timestamp":"2026-11-27T10:00:00.000Z"`,
		"unknown_schema",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
