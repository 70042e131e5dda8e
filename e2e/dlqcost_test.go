package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/poll"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// TestDeadLetterCost measures what exactly-once dead letters cost against
// at-least-once ones on real Kafka (3 brokers, RF 3, acks=all): one
// replica dead-letters a backlog of orders that all fail the schema (the
// worst case: a bad deploy upstream), and the rate is timed from its first
// commit to lag 0. Both runs share the cluster and the run; the result is a
// ratio. It fails if exactly-once falls below a quarter of at-least-once
// (a collapse, such as one transaction per record), and checks each order
// is in the DLQ once under exactly-once.
func TestDeadLetterCost(t *testing.T) {
	k := tc.StartKafka(t, tc.Nodes(3))
	bin := tc.BuildBridge(t)
	const n = 20000
	rate := map[string]float64{}
	for _, delivery := range []string{"exactly_once", "at_least_once"} {
		s := newScenario(t, k.For(t), bin, "cost-"+strings.ReplaceAll(delivery, "_", ""))
		s.dlqYAML = "  delivery: " + delivery + "\n"
		s.invalid = func(int) bool { return true }
		s.setup()
		s.produce(n)
		s.startReplica()
		var start time.Time
		poll.Until(t, 2*time.Minute, "the first commit", func() bool {
			if committedSum(s.k, s.group) > 0 {
				start = time.Now()
				return true
			}
			return false
		})
		poll.Until(t, 3*time.Minute, "lag 0", func() bool { return s.lag() == 0 })
		el := time.Since(start)
		rate[delivery] = float64(n) / el.Seconds()
		t.Logf("%s: %d dead letters in %s after the first commit: %.0f/s", delivery, n, el.Round(time.Millisecond), rate[delivery])
		// A slow run is explained by what the replica warned of (a
		// failed transaction, a fence, a rebalance), shown here.
		if warns := warnings(s.procs[0].Logs()); len(warns) > 0 {
			t.Logf("%s: the replica warned %d times; the first:\n%s", delivery, len(warns), strings.Join(warns[:min(len(warns), 8)], "\n"))
		}
		s.finish(time.Minute) // every order once in the DLQ, none accepted
	}
	ratio := rate["exactly_once"] / rate["at_least_once"]
	t.Logf("exactly-once ÷ at-least-once dead letters per second: %s", fmt.Sprintf("%.2f", ratio))
	if ratio < 0.25 {
		t.Errorf("exactly-once dead letters at %.2f× the at-least-once rate, want at least 0.25×", ratio)
	}
}

// warnings are the WARN and ERROR lines of a bridge's JSON log.
func warnings(logs string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			out = append(out, l)
		}
	}
	return out
}
