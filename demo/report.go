package demo

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// CheckStatus is the result of one verdict check.
type CheckStatus string

// Check statuses. A verdict passes when no check failed; NotChecked ones
// (which need the test server's records, when the demo targets an external
// endpoint) do not count either way.
const (
	Pass       CheckStatus = "PASS"
	Fail       CheckStatus = "FAIL"
	NotChecked CheckStatus = "SKIP"
)

// Check is one property of the run the verdict rests on.
type Check struct {
	Name   string
	Status CheckStatus
	// Detail says what was seen; for a failed check, what went wrong
	// (with a few examples).
	Detail string
}

// Report is what a demo run did and whether it kept the bridge's promises.
type Report struct {
	// The stream.
	Produced           int // records produced to the source topic
	ValidOrders        int // distinct valid orders among them
	DuplicatesProduced int // valid orders produced again later under the same key
	InvalidProduced    int // records that must be dead-lettered
	Tombstones         int // null values produced

	// What happened to it.
	Finished             int64 // records the bridge finished (published, skipped or dead-lettered)
	Delivered            int   // events accepted by CXone (new idempotency keys)
	DuplicatesSuppressed int   // repeated idempotency keys CXone answered with the first event's id
	SkippedTombstones    int
	DLQ                  int            // records read back from the DLQ topic
	DLQByClass           map[string]int // error class -> records
	DLQByReason          map[string]int // "class/reason" -> records
	Retries              int64          // consumer-level retries of a record

	// LatencyP50 and LatencyP99 are end to end, from the record's produce
	// timestamp to the arrival of its accepted event at CXone (with an
	// external endpoint: to the bridge seeing CXone's acceptance). They
	// include the time a record waited in Kafka behind the backlog.
	LatencyP50, LatencyP99 time.Duration
	// Elapsed runs from the bridge's start to the last record finished;
	// Throughput is Finished per second of it.
	Elapsed    time.Duration
	Throughput float64

	// External is set when the run targeted an external endpoint.
	External bool
	// Checks are the verdict's checks, in order; Passed reports that none
	// failed.
	Checks []Check
	Passed bool

	// Setup describes the run, for the report's first line.
	Setup string
}

// Failed returns the checks that failed.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Status == Fail {
			out = append(out, c)
		}
	}
	return out
}

func (r *Report) add(name string, status CheckStatus, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Status: status, Detail: fmt.Sprintf(format, args...)})
}

func (r *Report) decide() {
	r.Passed = len(r.Checks) > 0 && len(r.Failed()) == 0
}

// Print writes the report for people, starting with the Setup line.
func (r *Report) Print(w io.Writer) {
	if r.Setup != "" {
		fmt.Fprintf(w, "%s\n", r.Setup)
	}
	r.printBody(w)
}

// printBody writes the report without the Setup line (Run prints that
// before the progress lines).
func (r *Report) printBody(w io.Writer) {
	var b strings.Builder
	// row prints a count under its label, then the counted noun (in the
	// plural unless the count is 1) and the rest of the line.
	row := func(label string, n int64, noun, rest string) {
		if noun != "" {
			rest = nounFor(n, noun) + rest
		}
		fmt.Fprintf(&b, "  %-22s %8d  %s\n", label, n, rest)
	}
	row("produced", int64(r.Produced), "record", fmt.Sprintf(": %s, %s, %d invalid, %s",
		count(r.ValidOrders, "valid order"), count(r.DuplicatesProduced, "duplicate"), r.InvalidProduced, count(r.Tombstones, "tombstone")))
	row("finished", r.Finished, "record", " finished by the bridge (offsets committable)")
	if r.External {
		row("delivered", int64(r.Delivered), "event", " accepted by CXone (as the bridge saw it)")
		row("duplicates suppressed", int64(r.DuplicatesSuppressed), "", "answered with an already-ingested event's id (as the bridge saw it)")
	} else {
		row("delivered", int64(r.Delivered), "event", " accepted by CXone (the test server's record)")
		row("duplicates suppressed", int64(r.DuplicatesSuppressed), "repeated idempotency key", " deduplicated by CXone")
	}
	row("tombstones skipped", int64(r.SkippedTombstones), "null value", ": committed, nothing published")
	row("dead-lettered", int64(r.DLQ), "record", " in the DLQ topic"+byClass(r.DLQByClass))
	for _, k := range slices.Sorted(maps.Keys(r.DLQByReason)) {
		fmt.Fprintf(&b, "  %-22s %8d  %s\n", "", r.DLQByReason[k], k)
	}
	if r.Retries > 0 {
		row("retries", r.Retries, "record", " tried again after a transient failure")
	}
	to := "arrival at CXone"
	if r.External {
		to = "CXone's acceptance, seen by the bridge"
	}
	fmt.Fprintf(&b, "  %-22s p50 %s  p99 %s  (Kafka produce timestamp → %s; includes the wait behind the backlog)\n",
		"latency", roundDur(r.LatencyP50), roundDur(r.LatencyP99), to)
	fmt.Fprintf(&b, "  %-22s %.0f records/s  (%s in %s)\n", "throughput", r.Throughput, count(r.Finished, "record"), roundDur(r.Elapsed))
	verdict := "PASS"
	if !r.Passed {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "verdict: %s\n", verdict)
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "  [%s] %s: %s\n", c.Status, c.Name, c.Detail)
	}
	if f := r.Failed(); len(f) > 0 {
		fmt.Fprintf(&b, "failed checks: %d\n", len(f))
		for _, c := range f {
			fmt.Fprintf(&b, "  - %s\n", c.Name)
		}
	}
	io.WriteString(w, b.String())
}

func byClass(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return ": " + strings.Join(parts, ", ")
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d.Round(10 * time.Microsecond)
	}
}

// percentile returns the nearest-rank p-th percentile of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(float64(len(ds))*p/100+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// examples formats at most n items and says how many more there were.
func examples(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(", … (%d more)", len(items)-n)
}
