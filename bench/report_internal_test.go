package bench

import (
	"bytes"
	"strings"
	"testing"
)

// A run whose two ceiling measurements disagree says so next to the
// ceiling; one whose runs agree does not. (make perf of 2026-12-01 had
// 23,131 and 19,253 events/s at 0 ms: the bridge came out at 1.07 × the
// mean, 0.98 × the first.)
func TestPrintFlagsUnsteadyMachine(t *testing.T) {
	for _, tc := range []struct {
		before, after float64
		flagged       bool
	}{
		{23131, 19253, true},
		{11510, 11048, false},
		{0, 0, false},
	} {
		r := Result{WireBeforeEPS: tc.before, WireAfterEPS: tc.after, WireCeilingEPS: (tc.before + tc.after) / 2}
		r.WireSpread = spread(tc.before, tc.after)
		var out bytes.Buffer
		r.Print(&out)
		if got := strings.Contains(out.String(), "unsteady machine"); got != tc.flagged {
			t.Errorf("runs %.0f / %.0f (spread %.3f): flagged %v, want %v\n%s", tc.before, tc.after, r.WireSpread, got, tc.flagged, out.String())
		}
	}
	if s := spread(23131, 19253); s < 0.18 || s > 0.19 {
		t.Errorf("spread(23131, 19253) = %.4f, want |a-b| / mean = 0.183", s)
	}
}
