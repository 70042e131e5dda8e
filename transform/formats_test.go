package transform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/registry"
	"github.com/cxone-bridge/bridge/transform"
)

// The tutorial's order (tutorialOrder) as its producers would write it
// through a schema registry.
const (
	tutorialAvro = `{"type":"record","name":"Order","namespace":"shop","fields":[
 {"name":"orderId","type":"string"},
 {"name":"customerId","type":"string"},
 {"name":"totalAmount","type":"double"},
 {"name":"currency","type":"string"},
 {"name":"timestamp","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"metadata","type":{"type":"map","values":"string"}}]}`
	tutorialProto = `syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";
message Order {
  string orderId = 1;
  string customerId = 2;
  double totalAmount = 3;
  string currency = 4;
  google.protobuf.Timestamp timestamp = 5;
  map<string, string> metadata = 6;
}
`
)

// formatRig is a registry (srfake behind a request counter) holding the
// tutorial order's Avro and Protobuf schemas, a transformer with one route
// per format, and the order encoded in each.
type formatRig struct {
	requests     atomic.Int64
	down         atomic.Bool
	tr           *transform.Transformer
	json, avro   *transform.Record
	protobuf     *transform.Record
	avroID, pbID int
}

func newFormatRig(tb testing.TB) *formatRig {
	tb.Helper()
	f := &formatRig{}
	reg := srfake.NewRegistry()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if f.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		reg.Handler().ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	var err error
	if f.avroID, _, err = reg.RegisterSchema("orders.avro-value", sr.Schema{Schema: tutorialAvro, Type: sr.TypeAvro}); err != nil {
		tb.Fatal(err)
	}
	if f.pbID, _, err = reg.RegisterSchema("orders.protobuf-value", sr.Schema{Schema: tutorialProto, Type: sr.TypeProtobuf}); err != nil {
		tb.Fatal(err)
	}
	dec, err := registry.New(registry.Config{URLs: []string{srv.URL}})
	if err != nil {
		tb.Fatal(err)
	}
	avroRoute, pbRoute := orderRoute(), orderRoute()
	avroRoute.Name, avroRoute.Topic, avroRoute.Format = "routes[1]", "orders.avro", "avro"
	pbRoute.Name, pbRoute.Topic, pbRoute.Format = "routes[2]", "orders.protobuf", "protobuf"
	f.tr, err = transform.New(transform.Config{
		Routes:  []transform.Route{orderRoute(), avroRoute, pbRoute},
		Now:     func() time.Time { return fixedNow },
		Decoder: dec,
	})
	if err != nil {
		tb.Fatal(err)
	}

	ts := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	meta := map[string]any{"source": "checkout-api", "version": "2.1"}
	payload, err := avro.Marshal(avro.MustParse(tutorialAvro), map[string]any{
		"orderId": "ORD-1234567890", "customerId": "CUST-998877", "totalAmount": 150.75, "currency": "USD",
		"timestamp": ts, "metadata": meta,
	})
	if err != nil {
		tb.Fatal(err)
	}
	f.json = rec(tutorialOrder, "x-correlation-id", "trace-abc-123-xyz")
	f.avro = rec("", "x-correlation-id", "trace-abc-123-xyz")
	f.avro.Topic, f.avro.Value = "orders.avro", append(registry.AppendHeader(nil, registry.Header{SchemaID: f.avroID}, false), payload...)

	var pb []byte
	pb = appendString(pb, 1, "ORD-1234567890")
	pb = appendString(pb, 2, "CUST-998877")
	pb = protowire.AppendTag(pb, 3, protowire.Fixed64Type)
	pb = protowire.AppendFixed64(pb, 0x4062d80000000000) // 150.75
	pb = appendString(pb, 4, "USD")
	var tsMsg []byte
	tsMsg = protowire.AppendTag(tsMsg, 1, protowire.VarintType)
	tsMsg = protowire.AppendVarint(tsMsg, uint64(ts.Unix()))
	pb = protowire.AppendTag(pb, 5, protowire.BytesType)
	pb = protowire.AppendBytes(pb, tsMsg)
	for _, kv := range [][2]string{{"source", "checkout-api"}, {"version", "2.1"}} {
		var entry []byte
		entry = appendString(entry, 1, kv[0])
		entry = appendString(entry, 2, kv[1])
		pb = protowire.AppendTag(pb, 6, protowire.BytesType)
		pb = protowire.AppendBytes(pb, entry)
	}
	f.protobuf = rec("", "x-correlation-id", "trace-abc-123-xyz")
	f.protobuf.Topic, f.protobuf.Value = "orders.protobuf", append(registry.AppendHeader(nil, registry.Header{SchemaID: f.pbID, MessageIndexes: []int{0}}, true), pb...)
	return f
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// TestFormatsSameEvent: the tutorial order written as JSON, Avro and
// Protobuf becomes the same CXone event (the same attributes, idempotency
// key, correlation id and timestamp), and once each schema is known no
// record asks the registry again.
func TestFormatsSameEvent(t *testing.T) {
	f := newFormatRig(t)
	want, err := f.tr.Transform(f.json)
	if err != nil {
		t.Fatal(err)
	}
	attrs := func(ev *transform.Event) map[string]any {
		var body struct {
			Attributes map[string]any `json:"attributes"`
		}
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			t.Fatal(err)
		}
		return body.Attributes
	}
	wantJSON, _ := json.Marshal(attrs(want))
	for name, r := range map[string]*transform.Record{"avro": f.avro, "protobuf": f.protobuf} {
		ev, err := f.tr.Transform(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, _ := json.Marshal(attrs(ev))
		if !bytes.Equal(got, wantJSON) {
			t.Errorf("%s attributes\n %s\nwant\n %s", name, got, wantJSON)
		}
		if ev.IdempotencyKey != want.IdempotencyKey || ev.CorrelationID != want.CorrelationID || ev.Timestamp != want.Timestamp || ev.EventType != want.EventType {
			t.Errorf("%s event %+v, want %+v", name, ev, want)
		}
	}
	warm := f.requests.Load()
	for range 1000 {
		for _, r := range []*transform.Record{f.avro, f.protobuf} {
			if _, err := f.tr.Transform(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := f.requests.Load() - warm; n != 0 {
		t.Errorf("%d registry requests in steady state, want 0", n)
	}
}

// TestFormatsFaults: the record's own faults are InvalidErrors with the
// registry's reasons; a registry that cannot answer is not (it is
// retried), and nothing of the record leaks into the detail.
func TestFormatsFaults(t *testing.T) {
	f := newFormatRig(t)
	hdr := func(id int) []byte { return registry.AppendHeader(nil, registry.Header{SchemaID: id}, false) }
	for name, tc := range map[string]struct {
		value  []byte
		reason string
	}{
		"short header":     {[]byte{0, 0, 1}, transform.ReasonBadWireFormat},
		"json, not wire":   {[]byte(tutorialOrder), transform.ReasonBadWireFormat},
		"unknown id":       {append(hdr(4242), 2, 'x'), transform.ReasonUnknownSchema},
		"truncated datum":  {append(hdr(f.avroID), 0x1c, 'O', 'R', 'D'), transform.ReasonDecodeError},
		"protobuf schema":  {append(hdr(f.pbID), 0), transform.ReasonBadWireFormat},
		"trailing garbage": {append(append([]byte(nil), f.avro.Value...), 0xff), transform.ReasonDecodeError},
	} {
		t.Run(name, func(t *testing.T) {
			r := *f.avro
			r.Value = tc.value
			_, err := f.tr.Transform(&r)
			var ie *transform.InvalidError
			if !errors.As(err, &ie) || ie.Reason != tc.reason {
				t.Fatalf("err = %v, want reason %s", err, tc.reason)
			}
			if bytes.Contains([]byte(ie.Detail), []byte("ORD")) {
				t.Errorf("detail shows the record: %s", ie.Detail)
			}
		})
	}

}

// TestFormatsRegistryOutage: a registry that cannot answer for an id not
// yet known is not the record's fault (no InvalidError: it is retried);
// when it is back, the same record goes through.
func TestFormatsRegistryOutage(t *testing.T) {
	f := newFormatRig(t)
	f.down.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := f.tr.TransformContext(ctx, f.protobuf)
	var ie *transform.InvalidError
	if errors.As(err, &ie) || !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("outage: err = %v, want registry.ErrUnavailable and no InvalidError", err)
	}
	// The same record again at once: answered from the decoder's memory
	// of the outage (registry.DefaultOutageHold), without a request.
	before := f.requests.Load()
	if _, err := f.tr.TransformContext(ctx, f.protobuf); !errors.Is(err, registry.ErrUnavailable) || f.requests.Load() != before {
		t.Fatalf("within the outage hold: err = %v, %d requests", err, f.requests.Load()-before)
	}
	f.down.Store(false)
	var last error
	poll.Until(t, 5*time.Second, "the record to go through after the outage", func() bool {
		_, last = f.tr.TransformContext(ctx, f.protobuf)
		return last == nil
	})
}

// BenchmarkTransformFormats measures decode + transform of the tutorial
// order in Avro and in Protobuf against the JSON path, in the same run:
// each iteration transforms one record of each, and the benchmark reports
// the time of each and the ratios (target: at most 1.5), and the registry
// requests per record in steady state (target: 0).
func BenchmarkTransformFormats(b *testing.B) {
	f := newFormatRig(b)
	recs := []*transform.Record{f.json, f.avro, f.protobuf}
	for _, r := range recs { // warm: schemas fetched
		if _, err := f.tr.Transform(r); err != nil {
			b.Fatal(err)
		}
	}
	warm := f.requests.Load()
	var spent [3]time.Duration
	b.ReportAllocs()
	for b.Loop() {
		for i, r := range recs {
			t0 := time.Now()
			if _, err := f.tr.Transform(r); err != nil {
				b.Fatal(err)
			}
			spent[i] += time.Since(t0)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(spent[0].Nanoseconds())/n, "json-ns/rec")
	b.ReportMetric(float64(spent[1].Nanoseconds())/n, "avro-ns/rec")
	b.ReportMetric(float64(spent[2].Nanoseconds())/n, "protobuf-ns/rec")
	b.ReportMetric(float64(spent[1])/float64(spent[0]), "avro/json")
	b.ReportMetric(float64(spent[2])/float64(spent[0]), "protobuf/json")
	b.ReportMetric(float64(f.requests.Load()-warm)/(2*n), "registry-req/rec")
}

// TestKeyFormat: a key in a registry format is decoded for the {key}
// placeholder: a string key's content, another key's compact JSON; a bad
// key is the record's fault like a bad value.
func TestKeyFormat(t *testing.T) {
	f := newFormatRig(t)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	strID, _, err := reg.RegisterSchema("k-key", sr.Schema{Schema: `"string"`})
	if err != nil {
		t.Fatal(err)
	}
	recID, _, err := reg.RegisterSchema("r-key", sr.Schema{Schema: `{"type":"record","name":"K","fields":[{"name":"tenant","type":"string"},{"name":"n","type":"int"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := registry.New(registry.Config{URLs: []string{reg.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	rt := orderRoute()
	rt.KeyFormat, rt.IdempotencyKey = "avro", "{key}"
	tr, err := transform.New(transform.Config{Routes: []transform.Route{rt}, Decoder: dec, Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatal(err)
	}
	frame := func(id int, schema string, v any) []byte {
		b, err := avro.Marshal(avro.MustParse(schema), v)
		if err != nil {
			t.Fatal(err)
		}
		return append(registry.AppendHeader(nil, registry.Header{SchemaID: id}, false), b...)
	}
	keyOf := func(key []byte) (*transform.Event, error) {
		r := *f.json
		r.Key = key
		return tr.Transform(&r)
	}
	// The key's text is what the template renders: the same event id as a
	// JSON route whose key is that text.
	plain := orderRoute()
	plain.IdempotencyKey = "{key}"
	want := func(text string) string {
		t.Helper()
		tj, err := transform.New(transform.Config{Routes: []transform.Route{plain}, Now: func() time.Time { return fixedNow }})
		if err != nil {
			t.Fatal(err)
		}
		r := *f.json
		r.Key = []byte(text)
		ev, err := tj.Transform(&r)
		if err != nil {
			t.Fatal(err)
		}
		return ev.IdempotencyKey
	}
	ev, err := keyOf(frame(strID, `"string"`, "CUST-998877"))
	if err != nil || ev.IdempotencyKey != want("CUST-998877") {
		t.Errorf("string key: %v, %+v", err, ev)
	}
	ev, err = keyOf(frame(recID, `{"type":"record","name":"K","fields":[{"name":"tenant","type":"string"},{"name":"n","type":"int"}]}`, map[string]any{"tenant": "t1", "n": 7}))
	if err != nil || ev.IdempotencyKey != want(`{"tenant":"t1","n":7}`) {
		t.Errorf("record key: %v, %+v", err, ev)
	}
	_, err = keyOf([]byte("CUST-1")) // not the wire format
	var ie *transform.InvalidError
	if !errors.As(err, &ie) || ie.Reason != transform.ReasonBadWireFormat || !strings.HasPrefix(ie.Detail, "key: ") {
		t.Errorf("plain key under key_format avro: %v", err)
	}
}
