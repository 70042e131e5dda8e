//go:build !race

// (The race detector makes sync.Pool drop items at random, and so
// allocate.)

package transform_test

import "testing"

// TestTransformAllocs holds the transform of a tutorial order to its
// allocation budget (docs/performance.md, issue 20): the Event, the buffer
// of its header strings (key, correlation id, traceparent) and the buffer
// of its body (with the strings found in the value). The decoded value and
// the schema check allocate nothing.
func TestTransformAllocs(t *testing.T) {
	tr := newTransformer(t)
	r := rec(tutorialOrder, "x-correlation-id", "trace-abc-123-xyz")
	if _, err := tr.Transform(r); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(200, func() { _, _ = tr.Transform(r) }); n > 3 {
		t.Errorf("%v allocations per transform, want at most 3", n)
	}
}
