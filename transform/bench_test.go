package transform_test

import (
	"encoding/json"
	"testing"
)

// BenchmarkTransform measures transform + validate of one tutorial-sized
// order: route, checks, decode, Draft 2020-12 validation, key, body.
func BenchmarkTransform(b *testing.B) {
	tr := newTransformer(b)
	r := rec(tutorialOrder, "x-correlation-id", "trace-abc-123-xyz")
	b.ReportAllocs()
	b.SetBytes(int64(len(tutorialOrder)))
	for b.Loop() {
		if _, err := tr.Transform(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNaiveBaseline is the naive approach, measured as a baseline:
// decode into a map, validate, set the tracing attributes, re-marshal.
func BenchmarkNaiveBaseline(b *testing.B) {
	sch := mustSchema(b)
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal([]byte(tutorialOrder), &m); err != nil {
			b.Fatal(err)
		}
		if err := sch.Validate(m); err != nil {
			b.Fatal(err)
		}
		m["_correlationId"] = "trace-abc-123-xyz"
		m["_publishedAt"] = "2026-11-27T16:00:00.123Z"
		if _, err := json.Marshal(map[string]any{"eventType": "OrderCreated", "attributes": m, "timestamp": m["timestamp"]}); err != nil {
			b.Fatal(err)
		}
	}
}
