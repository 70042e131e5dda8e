package demo

import (
	"encoding/json"
	"fmt"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/cxone-bridge/bridge/registry"
)

// The demo's formats ([Options.Format]).
const (
	FormatJSON = "json"
	FormatAvro = "avro"
)

// orderAvro is the order as an Avro producer writes it. Its decoded JSON
// is the JSON stream's order, so that the same JSON Schema (order.json)
// judges both. orderAvroV2 adds the field discountCode, which order.json
// does not allow: records written with it are dead-lettered (schema).
const (
	orderAvro = `{"type":"record","name":"Order","namespace":"demo.shop","fields":[
 {"name":"orderId","type":"string"},
 {"name":"customerId","type":"string"},
 {"name":"totalAmount","type":"double"},
 {"name":"currency","type":"string"},
 {"name":"timestamp","type":"string"},
 {"name":"metadata","type":{"type":"record","name":"Metadata","fields":[
   {"name":"items","type":"long"},{"name":"source","type":"string"},{"name":"version","type":"string"}]}}]}`
	orderAvroV2 = `{"type":"record","name":"Order","namespace":"demo.shop","fields":[
 {"name":"orderId","type":"string"},
 {"name":"customerId","type":"string"},
 {"name":"totalAmount","type":"double"},
 {"name":"currency","type":"string"},
 {"name":"timestamp","type":"string"},
 {"name":"metadata","type":{"type":"record","name":"Metadata","fields":[
   {"name":"items","type":"long"},{"name":"source","type":"string"},{"name":"version","type":"string"}]}},
 {"name":"discountCode","type":["null","string"],"default":null}]}`
)

// avroStream is the in-process schema registry of an Avro demo and the ids
// of the two order schemas registered under "<Topic>-value".
type avroStream struct {
	reg    *srfake.Registry
	v1, v2 int
}

func startAvroRegistry() (*avroStream, error) {
	a := &avroStream{reg: srfake.New()}
	var err error
	if a.v1, _, err = a.reg.RegisterSchema(Topic+"-value", sr.Schema{Schema: orderAvro, Type: sr.TypeAvro}); err != nil {
		a.reg.Close()
		return nil, fmt.Errorf("register the order schema: %w", err)
	}
	if a.v2, _, err = a.reg.RegisterSchema(Topic+"-value", sr.Schema{Schema: orderAvroV2, Type: sr.TypeAvro}); err != nil {
		a.reg.Close()
		return nil, fmt.Errorf("register the order schema, version 2: %w", err)
	}
	return a, nil
}

// encode turns the JSON stream into the Avro stream, record by record:
// valid orders and duplicates are the same orders in Avro; each kind of
// invalid record becomes its Avro counterpart, with the reason the bridge
// must give it (a schema violation stays one; what Avro cannot express
// becomes a fault of the wire format or the datum).
func (a *avroStream) encode(samples []*sample) error {
	v1, v2 := avro.MustParse(orderAvro), avro.MustParse(orderAvroV2)
	frame := func(id int, payload []byte) []byte {
		return append(registry.AppendHeader(nil, registry.Header{SchemaID: id}, false), payload...)
	}
	encode := func(s avro.Schema, id int, m map[string]any) ([]byte, error) {
		meta, _ := m["metadata"].(map[string]any)
		if items, ok := meta["items"].(float64); ok {
			meta["items"] = int64(items)
		}
		if _, ok := m["discountCode"]; !ok && s == v2 {
			m["discountCode"] = nil
		}
		b, err := avro.Marshal(s, m)
		if err != nil {
			return nil, err
		}
		return frame(id, b), nil
	}
	for _, s := range samples {
		if s.value == nil {
			continue // the tombstone
		}
		var m map[string]any
		_ = json.Unmarshal(s.value, &m) // the invalid JSON kinds are handled below
		var err error
		switch s.what {
		case "": // valid, duplicate
			s.value, err = encode(v1, a.v1, m)
		case "not JSON (truncated)":
			var full []byte
			if full, err = encode(v1, a.v1, sampleOrder(s)); err == nil {
				s.value, s.what, s.reason = full[:len(full)-6], "Avro datum truncated", registry.ReasonDecode
			}
		case "required field customerId missing":
			// Avro writes every field: the counterpart is a record
			// without the registry's header, plain JSON.
			s.what, s.reason = "plain JSON, no schema registry header", registry.ReasonBadWireFormat
		case "JSON array, not an object":
			var b []byte
			b, err = encode(v1, a.v1, sampleOrder(s))
			if err == nil {
				s.value, s.what, s.reason = frame(9999, b[5:]), "schema id 9999, which the registry does not know", registry.ReasonUnknownSchema
			}
		case "bad UTF-8 in customerId":
			o := sampleOrder(s)
			o["customerId"] = "CUST-@@"
			var b []byte
			if b, err = encode(v1, a.v1, o); err == nil {
				for i := 5; i+1 < len(b); i++ {
					if b[i] == '@' && b[i+1] == '@' {
						b[i], b[i+1] = 0xff, 0xfe
						break
					}
				}
				s.value, s.what, s.reason = b, "bad UTF-8 in an Avro string", registry.ReasonDecode
			}
		case "unknown field (additionalProperties: false)":
			s.value, err = encode(v2, a.v2, m)
			s.what = "written with schema version 2, whose discountCode the route's JSON Schema does not allow"
		default: // schema violations Avro carries as they are
			s.value, err = encode(v1, a.v1, m)
		}
		if err != nil {
			return fmt.Errorf("encode %s in Avro: %w", s.orderID, err)
		}
	}
	return nil
}

// sampleOrder is a valid order with the sample's ids, for the invalid
// kinds whose JSON cannot be read back.
func sampleOrder(s *sample) map[string]any {
	return map[string]any{
		"orderId": s.orderID, "customerId": s.key, "totalAmount": 12.5, "currency": "EUR",
		"timestamp": "2026-11-27T10:00:00.000Z",
		"metadata":  map[string]any{"items": int64(1), "source": "pos", "version": "2.1"},
	}
}
