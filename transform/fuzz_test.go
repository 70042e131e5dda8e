package transform_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cxone-bridge/bridge/transform"
)

// FuzzTransformValue feeds arbitrary values through the order route: the
// transform must never panic, and either build a body that is valid JSON
// whose attributes are the value's fields, or return a classified error.
func FuzzTransformValue(f *testing.F) {
	for _, s := range []string{tutorialOrder, `{}`, `[]`, `{"orderId":"ORD-1"}`, "\xff", `{"a":` + strings.Repeat("[", 80), `{"_correlationId":1,"orderId":"x"}`, ` {"orderId" : "ORD-1" } `} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Add([]byte(`{"orderId":"ORD-1234567890","totalAmount":-5,"totalAmount":150.75}`), false)
	withSchema := newTransformer(f)
	r := orderRoute()
	r.SchemaFile = ""
	noSchema := newTransformer(f, r)
	f.Fuzz(func(t *testing.T, value []byte, schema bool) {
		tr := noSchema
		if schema {
			tr = withSchema
		}
		ev, err := tr.Transform(rec(string(value)))
		if err != nil {
			if !errors.Is(err, transform.ErrInvalid) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		var body struct {
			EventType  string         `json:"eventType"`
			Attributes map[string]any `json:"attributes"`
			Timestamp  string         `json:"timestamp"`
		}
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			t.Fatalf("body is not JSON: %v\n%s", err, ev.Body)
		}
		var in map[string]any
		if err := json.Unmarshal(value, &in); err != nil {
			t.Fatalf("accepted a value that is not a JSON object: %q", value)
		}
		if body.Attributes["orderId"] != in["orderId"] || body.Attributes["_correlationId"] != ev.CorrelationID {
			t.Fatalf("attributes %v do not carry the value %v", body.Attributes, in)
		}
		// The body carries exactly the document that was validated: the
		// same members, each once (a repeated member is refused), so no
		// reader of the body can see another value than the validator.
		if transform.RepeatsMember(ev.Body) {
			t.Fatalf("the body repeats a member: %s", ev.Body)
		}
		delete(body.Attributes, "_correlationId")
		delete(body.Attributes, "_publishedAt")
		delete(in, "_correlationId")
		delete(in, "_publishedAt")
		if !reflect.DeepEqual(body.Attributes, in) {
			t.Fatalf("the body's attributes %v are not the value %v", body.Attributes, in)
		}
	})
}

// FuzzCorrelationHeaders feeds arbitrary header values: whatever comes in,
// the correlation id and traceparent that go out are header-safe.
func FuzzCorrelationHeaders(f *testing.F) {
	f.Add([]byte("trace-abc-123-xyz"), []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	f.Add([]byte("a\r\nb"), []byte("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"))
	f.Add([]byte(strings.Repeat("z", 200)), []byte("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	tr := newTransformer(f)
	f.Fuzz(func(t *testing.T, corr, traceparent []byte) {
		ev, err := tr.Transform(rec(tutorialOrder, "x-correlation-id", string(corr), "traceparent", string(traceparent)))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{ev.CorrelationID, ev.Traceparent} {
			if len(v) > 256 {
				t.Fatalf("unbounded value %q", v)
			}
			for i := 0; i < len(v); i++ {
				if v[i] < 0x20 || v[i] > 0x7e {
					t.Fatalf("unsafe byte %#x in %q", v[i], v)
				}
			}
		}
		if ev.CorrelationID == "" {
			t.Fatal("empty correlation id")
		}
	})
}
