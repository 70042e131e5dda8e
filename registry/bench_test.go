package registry

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// The tutorial's order, in both encodings.
const (
	orderAvro = `{"type":"record","name":"Order","namespace":"com.acme.shop","fields":[
 {"name":"orderId","type":"string"},
 {"name":"customerId","type":"string"},
 {"name":"totalAmount","type":"double"},
 {"name":"currency","type":"string"},
 {"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"items","type":{"type":"array","items":{"type":"record","name":"Item","fields":[
   {"name":"sku","type":"string"},{"name":"quantity","type":"int"},{"name":"price","type":"double"}]}}},
 {"name":"status","type":{"type":"enum","name":"Status","symbols":["NEW","PAID","SHIPPED"]}}]}`

	orderProto = `syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";
message Order {
  string orderId = 1;
  string customerId = 2;
  double totalAmount = 3;
  string currency = 4;
  google.protobuf.Timestamp timestamp = 5;
  repeated Item items = 6;
  Status status = 7;
}
message Item {
  string sku = 1;
  int32 quantity = 2;
  double price = 3;
}
enum Status {
  NEW = 0;
  PAID = 1;
  SHIPPED = 2;
}
`

	orderJSON = `{"orderId":"ORD-1234567890","customerId":"CUST-998877","totalAmount":150.75,"currency":"USD",` +
		`"timestamp":"2026-11-27T10:00:00.000Z","items":[{"sku":"SKU-RED-SHIRT-M","quantity":2,"price":25.5},` +
		`{"sku":"SKU-BLUE-JEANS-32","quantity":1,"price":79.99},{"sku":"SKU-SOCKS-3PACK","quantity":3,"price":6.59}],` +
		`"status":"PAID"}`
)

type orderFixture struct {
	reg         *fakeRegistry
	d           *Decoder
	avro, proto []byte
}

func newOrderFixture(tb testing.TB) *orderFixture {
	tb.Helper()
	reg := newFakeRegistry(tb)
	avroID := reg.register(tb, "orders-avro-value", sr.Schema{Schema: orderAvro})
	protoID := reg.register(tb, "orders-proto-value", sr.Schema{Schema: orderProto, Type: sr.TypeProtobuf})
	ts := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	avroValue := avroEncode(tb, avroID, orderAvro, map[string]any{
		"orderId": "ORD-1234567890", "customerId": "CUST-998877", "totalAmount": 150.75, "currency": "USD",
		"timestamp": ts,
		"items": []any{
			map[string]any{"sku": "SKU-RED-SHIRT-M", "quantity": 2, "price": 25.5},
			map[string]any{"sku": "SKU-BLUE-JEANS-32", "quantity": 1, "price": 79.99},
			map[string]any{"sku": "SKU-SOCKS-3PACK", "quantity": 3, "price": 6.59},
		},
		"status": "PAID",
	})
	files := protoFiles(tb, map[string]string{"order.proto": orderProto}, "order.proto")
	protoValue := frameProto(protoID, nil, protoEncode(tb, files, "shop.Order", orderJSON))
	return &orderFixture{reg: reg, d: newTestDecoder(tb, reg, Config{}), avro: avroValue, proto: protoValue}
}

// TestOrderSteadyState: once a schema is known, decoding asks the registry
// nothing, and both encodings of the order give the same JSON.
func TestOrderSteadyState(t *testing.T) {
	fx := newOrderFixture(t)
	for _, v := range [][]byte{fx.avro, fx.proto} {
		if _, _, err := fx.d.Decode(context.Background(), FormatAuto, v); err != nil {
			t.Fatal(err)
		}
	}
	warm := fx.reg.requests.Load()
	if warm != 2 {
		t.Errorf("%d requests to warm up, want 2", warm)
	}
	for range 10000 {
		for _, tc := range []struct {
			f Format
			v []byte
		}{{FormatAvro, fx.avro}, {FormatProtobuf, fx.proto}} {
			got, _, err := fx.d.Decode(context.Background(), tc.f, tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != orderJSON {
				t.Fatalf("%s: got %s\nwant %s", tc.f, got, orderJSON)
			}
		}
	}
	if n := fx.reg.requests.Load() - warm; n != 0 {
		t.Errorf("%d registry requests in steady state, want 0", n)
	}
}

func BenchmarkDecodeAvroOrder(b *testing.B) {
	benchmarkOrder(b, FormatAvro, func(fx *orderFixture) []byte { return fx.avro })
}

func BenchmarkDecodeProtobufOrder(b *testing.B) {
	benchmarkOrder(b, FormatProtobuf, func(fx *orderFixture) []byte { return fx.proto })
}

func benchmarkOrder(b *testing.B, format Format, value func(*orderFixture) []byte) {
	fx := newOrderFixture(b)
	v := value(fx)
	ctx := context.Background()
	if _, _, err := fx.d.Decode(ctx, format, v); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := fx.d.Decode(ctx, format, v); err != nil {
			b.Fatal(err)
		}
	}
}
