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
// (a collapse, such as one transaction per record), if a partition has
// its first commit only in the second half of the run (it waited for the
// others), or if the group's commits stand still for more than 3s (a
// stalled transaction), and checks each order is in the DLQ once under
// exactly-once.
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
		// How the lag fell, and how long the slowest read of it took: a
		// slow run tells a stalled bridge (the lag stood still) from a
		// slow reading of it (this test's admin requests).
		var trace []string
		var slowest time.Duration
		last := int64(-2)
		known := time.Duration(-1) // when every partition had a commit
		// The longest time the group's committed offsets stood still:
		// every exactly-once transaction commits, and at-least-once
		// commits every second (commit_interval).
		sum, moved, still := committedSum(s.k, s.group), time.Now(), time.Duration(0)
		firsts := map[int32]time.Duration{} // each partition's first commit
		poll.Until(t, 3*time.Minute, "lag 0", func() bool {
			t0 := time.Now()
			l := s.lag()
			by := committedBy(s.k, s.group)
			c := int64(0)
			for p, at := range by {
				c += at
				if _, ok := firsts[p]; !ok && at > 0 {
					firsts[p] = time.Since(start)
				}
			}
			if c != sum {
				still = max(still, time.Since(moved))
				sum, moved = c, time.Now()
			}
			slowest = max(slowest, time.Since(t0))
			if l != last {
				trace = append(trace, fmt.Sprintf("%s: %d", time.Since(start).Round(100*time.Millisecond), l))
				last = l
			}
			if l >= 0 && known < 0 {
				known = time.Since(start)
			}
			return l == 0
		})
		el := time.Since(start)
		// No partition waits for the others: each has dead letters
		// committed early in the run. (Before dead-pending records counted
		// toward a partition's share of the buffer, exactly once, the
		// partitions the client handed out first filled it, and the last
		// partition's first commit came after 90-95% of the run.)
		if known > el/2 {
			t.Errorf("%s: a partition had no commit until %s of a %s run: it waited for the others", delivery, known.Round(100*time.Millisecond), el.Round(100*time.Millisecond))
		}
		// Nothing stands still: a transaction is a few round trips. (A
		// produce that a partition answered with CONCURRENT_TRANSACTIONS
		// waited for the client's next metadata refresh, up to 5s, about
		// every 5s, before the dead-letter producer's MetadataMinAge was
		// lowered: commits stood still for 4.1-4.9s at a time, and a
		// partition's first commit came after 57-76% of a 23-42s run.)
		if still > 3*time.Second {
			t.Errorf("%s: the group's commits stood still for %s", delivery, still.Round(100*time.Millisecond))
		}
		if el > 30*time.Second || t.Failed() {
			t.Logf("%s: slow; the slowest lag read took %s; the lag (-1: a partition without a commit) at:\n%s",
				delivery, slowest.Round(time.Millisecond), strings.Join(trace, "\n"))
		}
		{
			var fs []string
			for p := range int32(partitions) {
				fs = append(fs, fmt.Sprintf("%d:%s", p, firsts[p].Round(100*time.Millisecond)))
			}
			t.Logf("%s: each partition's first commit after the group's first: %s", delivery, strings.Join(fs, " "))
		}
		rate[delivery] = float64(n) / el.Seconds()
		t.Logf("%s: %d dead letters in %s after the first commit: %.0f/s; commits stood still for %s at most", delivery, n, el.Round(time.Millisecond), rate[delivery], still.Round(10*time.Millisecond))
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
