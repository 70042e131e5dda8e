package dlqtool

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/registry"
)

// TestInspectShowsDecodedValues: inspect --show prints a dead letter
// written in a schema registry format decoded into JSON, beside its bytes
// (which stay untouched), and says why when it cannot be decoded.
func TestInspectShowsDecodedValues(t *testing.T) {
	const schema = `{"type":"record","name":"Order","fields":[{"name":"orderId","type":"string"},{"name":"totalAmount","type":"double"}]}`
	reg := srfake.New()
	t.Cleanup(reg.Close)
	id, _, err := reg.RegisterSchema("orders.avro-value", sr.Schema{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := registry.New(registry.Config{URLs: []string{reg.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := avro.Marshal(avro.MustParse(schema), map[string]any{"orderId": "ORD-1", "totalAmount": 12.5})
	if err != nil {
		t.Fatal(err)
	}
	good := append(registry.AppendHeader(nil, registry.Header{SchemaID: id}, false), payload...)
	unknown := append(registry.AppendHeader(nil, registry.Header{SchemaID: id + 100}, false), payload...)

	_, opts := fakeCluster(t, "orders.dlq")
	var recs []*kgo.Record
	for _, v := range [][]byte{good, unknown, []byte(`{"orderId":"ORD-2"}`)} {
		topic := "orders.avro"
		if v[0] == '{' {
			topic = "orders.json"
		}
		src := &kgo.Record{Topic: topic, Offset: 1, Value: v, Timestamp: time.Now()}
		recs = append(recs, dlq.NewRecord(src, "orders.dlq", &dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema", Message: "m"}, time.Now()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	rep, err := Inspect(ctx, InspectOptions{KafkaOpts: opts, Topic: "orders.dlq", Show: 3,
		DecodeValue: func(ctx context.Context, topic string, v []byte) ([]byte, error) {
			if topic != "orders.avro" {
				return nil, nil // a JSON route
			}
			j, _, err := dec.Decode(ctx, registry.FormatAvro, v)
			return j, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	byValue := map[string]ShownRecord{} // by the value's bytes
	for _, s := range rep.Shown {
		byValue[string(raw(s.Value, s.ValueBase64))] = s
	}
	shown := func(v []byte) ShownRecord { return byValue[string(v)] }
	g := shown(good)
	if g.ValueDecoded == nil || *g.ValueDecoded != `{"orderId":"ORD-1","totalAmount":12.5}` || string(raw(g.Value, g.ValueBase64)) != string(good) {
		t.Errorf("decodable record: %+v", g)
	}
	if u := shown(unknown); u.ValueDecoded != nil || !strings.Contains(u.DecodeError, "unknown_schema") {
		t.Errorf("unknown schema: decoded %v, error %q", u.ValueDecoded, u.DecodeError)
	}
	if j := shown([]byte(`{"orderId":"ORD-2"}`)); j.ValueDecoded != nil || j.DecodeError != "" {
		t.Errorf("JSON record: %+v", j)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), `value:        \x00\x00\x00\x00`) || !strings.Contains(text.String(), `decoded:      {"orderId":"ORD-1","totalAmount":12.5}`) || !strings.Contains(text.String(), "decoded:      (cannot decode: registry: unknown_schema") {
		t.Errorf("text output:\n%s", text.String())
	}
}
