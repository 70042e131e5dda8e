package pipeline_test

// The wired bridge reading Avro records through a schema registry (srfake,
// served over loopback): records decode into the same CXone events as
// JSON, records at fault are dead-lettered with their own reasons and their
// bytes untouched, and a registry outage is nobody's fault: nothing is
// dead-lettered, readiness says so, records of schemas already known keep
// flowing, and the rest follow when the registry is back.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/registry"
)

const orderAvroV1 = `{"type":"record","name":"Order","namespace":"shop","fields":[
 {"name":"orderId","type":"string"},
 {"name":"customerId","type":"string"},
 {"name":"totalAmount","type":"double"},
 {"name":"currency","type":"string"},
 {"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}}]}`

// v2 adds a field with a default: a new schema id for the same subject.
const orderAvroV2 = `{"type":"record","name":"Order","namespace":"shop","fields":[
 {"name":"orderId","type":"string"},
 {"name":"customerId","type":"string"},
 {"name":"totalAmount","type":"double"},
 {"name":"currency","type":"string"},
 {"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"channel","type":["null","string"],"default":null}]}`

type avroOrder struct {
	OrderID     string    `avro:"orderId"`
	CustomerID  string    `avro:"customerId"`
	TotalAmount float64   `avro:"totalAmount"`
	Currency    string    `avro:"currency"`
	Timestamp   time.Time `avro:"timestamp"`
	Channel     *string   `avro:"channel"`
}

// avroValue is o in the registry's wire format under schema id.
func avroValue(t *testing.T, schema string, id int, o avroOrder) []byte {
	t.Helper()
	s := avro.MustParse(schema)
	var payload []byte
	var err error
	if len(s.(*avro.RecordSchema).Fields()) == 5 {
		payload, err = avro.Marshal(s, struct {
			OrderID     string    `avro:"orderId"`
			CustomerID  string    `avro:"customerId"`
			TotalAmount float64   `avro:"totalAmount"`
			Currency    string    `avro:"currency"`
			Timestamp   time.Time `avro:"timestamp"`
		}{o.OrderID, o.CustomerID, o.TotalAmount, o.Currency, o.Timestamp})
	} else {
		payload, err = avro.Marshal(s, o)
	}
	if err != nil {
		t.Fatal(err)
	}
	return append(registry.AppendHeader(nil, registry.Header{SchemaID: id}, false), payload...)
}

func TestAvroRouteThroughRegistry(t *testing.T) {
	reg := srfake.New()
	t.Cleanup(reg.Close)
	var down atomic.Bool
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if down.Load() {
			http.Error(w, `{"error_code":50001,"message":"store unavailable"}`, http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	id1, _, err := reg.RegisterSchema("orders-value", sr.Schema{Schema: orderAvroV1, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}

	r := newRig(t, fmt.Sprintf(`schema_registry: {urls: [%s], timeout: 2s}
consumer: {retry_backoff: 50ms, retry_backoff_max: 200ms, commit_interval: 100ms}
`, reg.URL()))
	r.cfgYAML = bytes.NewBufferString(r.cfgYAML).String()
	r.cfgYAML = replaceOnce(t, r.cfgYAML, "routes: [{topic: orders, event_type: OrderCreated, business_key: /orderId}]",
		"routes: [{topic: orders, format: avro, event_type: OrderCreated, business_key: /orderId}]")
	br := r.start()

	ts := time.Date(2024, 1, 2, 3, 4, 5, 123e6, time.UTC)
	order := func(i int) avroOrder {
		return avroOrder{OrderID: fmt.Sprintf("ORD-%04d", i), CustomerID: fmt.Sprintf("C%d", i%7), TotalAmount: 10.5 + float64(i), Currency: "EUR", Timestamp: ts}
	}
	produce := func(key string, value []byte) {
		t.Helper()
		if err := r.producer.ProduceSync(context.Background(), &kgo.Record{Key: []byte(key), Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// Phase 1: good records and one of each fault of the record's own.
	for i := range 5 {
		produce("k1", avroValue(t, orderAvroV1, id1, order(i)))
	}
	badHeader := []byte{0, 0, 0} // truncated header
	unknownID := avroValue(t, orderAvroV1, 999, order(90))
	badPayload := append(registry.AppendHeader(nil, registry.Header{SchemaID: id1}, false), 0x07) // a string length past the end
	jsonValue := []byte(valid(91))                                                                // format avro: plain JSON is not the wire format
	for _, v := range [][]byte{badHeader, unknownID, badPayload, jsonValue} {
		produce("bad", v)
	}
	r.waitFor(20*time.Second, "5 events and 4 dead letters", func() bool {
		return len(r.srv.Events()) == 5 && len(r.dlqRecords()) == 4
	})
	for _, ev := range r.srv.Events() {
		var body struct {
			Attributes map[string]any `json:"attributes"`
			Timestamp  string         `json:"timestamp"`
		}
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			t.Fatal(err)
		}
		a := body.Attributes
		if a["currency"] != "EUR" || a["customerId"] == "" || a["timestamp"] != "2024-01-02T03:04:05.123Z" || body.Timestamp != "2024-01-02T03:04:05.123Z" {
			t.Errorf("event body %s", ev.Body)
		}
	}
	wantReasons := map[string]string{string(badHeader): "bad_wire_format", string(unknownID): "unknown_schema", string(badPayload): "decode_error", string(jsonValue): "bad_wire_format"}
	for _, rec := range r.dlqRecords() {
		env, _, err := dlq.Parse(rec.Headers)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("DLQ %s/%s: %s", env.Class, env.Reason, env.Message)
		want, ok := wantReasons[string(rec.Value)]
		if !ok {
			t.Errorf("DLQ value %q is not one of the bad records' bytes (must be kept untouched)", rec.Value)
			continue
		}
		if env.Reason != want || env.Class != dlq.ClassInvalid {
			t.Errorf("DLQ %q: class %s reason %s, want invalid %s (%s)", rec.Value, env.Class, env.Reason, want, env.Message)
		}
	}

	// Phase 2: the registry goes down, and v2 (a new id) appears. Records
	// of v2 wait; records of v1, whose schema is known, keep flowing.
	id2, _, err := reg.RegisterSchema("orders-value", sr.Schema{Schema: orderAvroV2, Type: sr.TypeAvro})
	if err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	ch := "web"
	o := order(100)
	o.Channel = &ch
	produce("k2", avroValue(t, orderAvroV2, id2, o))
	r.waitFor(20*time.Second, "readiness to report the registry", func() bool {
		ok, why := br.Ready()
		return !ok && bytes.Contains([]byte(why), []byte("schema registry unavailable"))
	})
	produce("k3", avroValue(t, orderAvroV1, id1, order(101)))
	r.waitFor(20*time.Second, "the v1 record during the outage", func() bool { return len(r.srv.Events()) == 6 })
	if n := len(r.dlqRecords()); n != 4 {
		t.Fatalf("%d dead letters during the registry outage, want still 4", n)
	}

	// Phase 3: the registry is back; the v2 record follows, nothing lost.
	down.Store(false)
	r.waitFor(20*time.Second, "the v2 record after the outage", func() bool { return len(r.srv.Events()) == 7 })
	r.waitFor(10*time.Second, "readiness", func() bool { ok, _ := br.Ready(); return ok })
	last := r.srv.Events()[6]
	if !bytes.Contains(last.Body, []byte(`"channel":"web"`)) || !bytes.Contains(last.Body, []byte(`"orderId":"ORD-0100"`)) {
		t.Errorf("v2 event %s", last.Body)
	}
	if n := len(r.dlqRecords()); n != 4 {
		t.Errorf("%d dead letters, want 4", n)
	}
	r.waitFor(10*time.Second, "everything committed", func() bool { return r.lag() == 0 })
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	i := bytes.Index([]byte(s), []byte(old))
	if i < 0 {
		t.Fatalf("%q not in %q", old, s)
	}
	return s[:i] + new + s[i+len(old):]
}
