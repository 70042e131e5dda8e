package bench

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/cxone-bridge/bridge/registry"
)

// The formats of [Options.Format].
const (
	FormatJSON = "json"
	FormatAvro = "avro"
)

// orderAvro is the generator's order in Avro: its decoded JSON is the
// JSON generator's order, field for field.
const orderAvro = `{"type":"record","name":"Order","namespace":"bench","fields":[
 {"name":"orderId","type":"string"},
 {"name":"customerId","type":"string"},
 {"name":"totalAmount","type":"double"},
 {"name":"currency","type":"string"},
 {"name":"timestamp","type":"string"},
 {"name":"metadata","type":{"type":"record","name":"Metadata","fields":[
   {"name":"source","type":"string"},{"name":"channel","type":"string"},{"name":"items","type":"long"}]}}]}`

type avroOrder struct {
	OrderID     string       `avro:"orderId"`
	CustomerID  string       `avro:"customerId"`
	TotalAmount float64      `avro:"totalAmount"`
	Currency    string       `avro:"currency"`
	Timestamp   string       `avro:"timestamp"`
	Metadata    avroMetadata `avro:"metadata"`
}

type avroMetadata struct {
	Source  string `avro:"source"`
	Channel string `avro:"channel"`
	Items   int64  `avro:"items"`
}

// schemaRegistry is the bench's registry for Avro runs: srfake on
// loopback, with every request counted, so that the report can show how
// many the bridge made (none per record in steady state).
type schemaRegistry struct {
	reg      *srfake.Registry
	srv      *httptest.Server
	requests atomic.Int64
	id       int
	schema   avro.Schema
}

func startRegistry() (*schemaRegistry, error) {
	r := &schemaRegistry{reg: srfake.NewRegistry(), schema: avro.MustParse(orderAvro)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		r.reg.Handler().ServeHTTP(w, req)
	}))
	var err error
	if r.id, _, err = r.reg.RegisterSchema("bench-orders-value", sr.Schema{Schema: orderAvro, Type: sr.TypeAvro}); err != nil {
		r.close()
		return nil, fmt.Errorf("register the order schema: %w", err)
	}
	return r, nil
}

func (r *schemaRegistry) close() {
	r.srv.Close()
	r.reg.Close()
}

// encode returns o in the registry's wire format.
func (r *schemaRegistry) encode(o *avroOrder) []byte {
	b, err := avro.Marshal(r.schema, o)
	if err != nil {
		panic(err) // a struct of the schema's own shape: cannot fail
	}
	return append(registry.AppendHeader(nil, registry.Header{SchemaID: r.id}, false), b...)
}
