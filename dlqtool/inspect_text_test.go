package dlqtool

import (
	"strings"
	"testing"
)

// TestShownIdempotencyKey: a shown record prints its correlation id and
// idempotency key when the envelope has them; without a key it says why
// there is none (its event type or business key could not be read), and
// leaves out a correlation id it has not.
func TestShownIdempotencyKey(t *testing.T) {
	for _, tc := range []struct {
		corr, key, want string
	}{
		{"c-1", "", "correlation:  c-1  idempotency key: none (event type or business key not found in the record)\nkey:"},
		{"c-1", "k-1", "correlation:  c-1  idempotency key: k-1\nkey:"},
		{"", "k-1", "replay count 0\nidempotency key: k-1\nkey:"},
		{"", "", "replay count 0\nidempotency key: none (event type or business key not found in the record)\nkey:"},
	} {
		s := ShownRecord{Envelope: &EnvelopeJS{Class: "invalid", Reason: "schema", CorrelationID: tc.corr, IdempotencyKey: tc.key}, Headers: []Header{}}
		var b strings.Builder
		if err := s.writeText(&b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), tc.want) || tc.corr == "" && strings.Contains(b.String(), "correlation:") {
			t.Errorf("correlation %q, key %q shown as\n%s\nwant %q", tc.corr, tc.key, b.String(), tc.want)
		}
	}
}
