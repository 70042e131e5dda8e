package mapping

import (
	"encoding/json"
	"testing"
	"time"
)

// tutorialOrder is the order value of the tutorial, decoded as transform
// decodes it.
const tutorialOrder = `{"orderId":"ORD-1234567890","customerId":"CUST-998877","totalAmount":150.75,"currency":"USD","timestamp":"2026-11-27T10:00:00.000Z","metadata":{"source":"checkout-api","version":"2.1"}}`

const (
	benchFilter     = `value.currency == "USD" && value.totalAmount > 0`
	benchAttributes = `{
  "orderId": value.orderId,
  "customer": {"id": value.customerId},
  "amount": value.totalAmount,
  "currency": value.currency,
  "source": value.metadata.source,
  "channel": "web"
}`
)

func decodeJSON(tb testing.TB, s string) any {
	tb.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// BenchmarkFilterAndAttributes evaluates a filter and a 6-field attributes
// map over the tutorial's order, as the transform does for each record.
func BenchmarkFilterAndAttributes(b *testing.B) {
	filter := mustCompile(b, benchFilter, KindBool)
	attrs := mustCompile(b, benchAttributes, KindMap)
	act := &Activation{
		Value:     decodeJSON(b, tutorialOrder),
		Key:       []byte("ORD-1234567890"),
		Headers:   []Header{{Key: "event-kind", Value: []byte("order")}},
		Topic:     "orders",
		Partition: 3,
		Offset:    42,
		Timestamp: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC),
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		ok, err := filter.Eval(act)
		if err != nil || ok != true {
			b.Fatal(ok, err)
		}
		buf, err = attrs.AppendJSON(buf[:0], act)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAttributesEval is the attributes alone, through Eval (a new
// []byte per call).
func BenchmarkAttributesEval(b *testing.B) {
	attrs := mustCompile(b, benchAttributes, KindMap)
	act := &Activation{Value: decodeJSON(b, tutorialOrder)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := attrs.Eval(act); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFilter is the filter alone.
func BenchmarkFilter(b *testing.B) {
	filter := mustCompile(b, benchFilter, KindBool)
	act := &Activation{Value: decodeJSON(b, tutorialOrder)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := filter.Eval(act); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHeaderFilter is a filter on a header.
func BenchmarkHeaderFilter(b *testing.B) {
	filter := mustCompile(b, `headers["event-kind"] == "order"`, KindBool)
	act := &Activation{Value: decodeJSON(b, tutorialOrder), Headers: []Header{
		{Key: "event-kind", Value: []byte("order")},
		{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")},
	}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := filter.Eval(act); err != nil {
			b.Fatal(err)
		}
	}
}

func mustCompile(tb testing.TB, src string, kind Kind, opts ...Option) *Expr {
	tb.Helper()
	x, err := Compile(src, kind, opts...)
	if err != nil {
		tb.Fatalf("Compile(%q): %v", src, err)
	}
	return x
}
