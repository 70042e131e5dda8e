package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDemoHelp: the long description of `bridge demo --help` opens with a
// sentence that says what the demo does.
func TestDemoHelp(t *testing.T) {
	out, errOut, code := runBridge(t, "", "demo", "--help")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	const opening = "demo runs the bridge's real pipeline (consumer → transform → sink) end to end\n" +
		"on a setup it builds itself, with nothing to install but Go:\n"
	if !strings.HasPrefix(out, opening) {
		t.Errorf("help opens with\n%s\nwant\n%s", firstLines(out, 2), opening)
	}
	if strings.Contains(out, "embedded default") {
		t.Errorf("help still says %q:\n%s", "embedded default", out)
	}
}

// TestDemoReportPlurals runs a demo of 4 records, one of each kind (a
// valid order, its duplicate, an invalid record, the tombstone) on 1 key
// and 1 partition, so that every count of the report that can be 1 is:
// each is followed by a singular noun, each other count by a plural one.
func TestDemoReportPlurals(t *testing.T) {
	out, errOut, code := runBridge(t, "", "demo", "--records", "4", "--keys", "1", "--partitions", "1",
		"--invalid", "0.25", "--duplicates", "0.25", "--no-progress", "--seed", "3")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	text := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		"bridge demo: 4 records (1 valid order, 1 duplicate, 1 invalid, 1 tombstone) over 1 key → topic \"orders\" (1 partition,",
		"produced 4 records: 1 valid order, 1 duplicate, 1 invalid, 1 tombstone ",
		"finished 4 records finished by the bridge",
		"delivered 1 event accepted by CXone",
		"duplicates suppressed 1 repeated idempotency key deduplicated by CXone",
		"tombstones skipped 1 null value: committed",
		"dead-lettered 1 record in the DLQ topic: invalid 1",
		"(4 records in ",
		"[PASS] stream finished: all 4 records finished,",
		"[PASS] exactly once at CXone: the 1 valid order was accepted exactly once (1 event recorded,",
		"[PASS] duplicates deduplicated: 1 duplicate record produced; CXone answered 1 repeated idempotency key with",
		"[PASS] key order at CXone: for the 1 key the orders",
		"[PASS] invalid records dead-lettered: the 1 invalid record is in orders.dlq once,",
		"[PASS] offsets committed: committed == end offsets on the 1 partition (4 records)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if slips := pluralSlips(text); len(slips) > 0 || strings.Contains(text, "(s)") {
		t.Errorf("plural slips %q in\n%s", slips, out)
	}

	// One record: no tombstone, no duplicate, no invalid record.
	out, errOut, code = runBridge(t, "", "demo", "--records", "1", "--keys", "1", "--partitions", "1", "--no-progress", "--seed", "1")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	text = strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		"bridge demo: 1 record (1 valid order, 0 duplicates, 0 invalid, 0 tombstones) over 1 key",
		"produced 1 record: 1 valid order, 0 duplicates, 0 invalid, 0 tombstones ",
		"finished 1 record finished by the bridge",
		"duplicates suppressed 0 repeated idempotency keys",
		"tombstones skipped 0 null values",
		"dead-lettered 0 records in the DLQ topic",
		"(1 record in ",
		"[PASS] stream finished: the 1 record finished,",
		"[PASS] invalid records dead-lettered: no invalid record was produced and orders.dlq is empty",
		"on the 1 partition (1 record)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if slips := pluralSlips(text); len(slips) > 0 || strings.Contains(text, "(s)") {
		t.Errorf("plural slips %q in\n%s", slips, out)
	}
}

// pluralSlips returns each count in text followed by a noun of the demo's
// report in the wrong number: "1 records", "1 valid orders", "0 tombstone".
// Nouns of several words are looked at first, and blanked out, so that
// "0 duplicate records" is not read as "0 duplicate".
func pluralSlips(text string) []string {
	var slips []string
	for _, noun := range []string{
		"duplicate record", "invalid record", "repeated idempotency key", "valid order", "null value",
		"record", "duplicate", "tombstone", "key", "partition", "event", "check", "problem",
	} {
		re := regexp.MustCompile(`(^|[^0-9.\w])([0-9]+) (` + regexp.QuoteMeta(noun) + `s?)\b`)
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			if (m[2] == "1") != (m[3] == noun) {
				slips = append(slips, m[2]+" "+m[3])
			}
		}
		text = re.ReplaceAllString(text, "$1#")
	}
	return slips
}

// TestPluralSlips: the checker of TestDemoReportPlurals finds what it must.
func TestPluralSlips(t *testing.T) {
	got := pluralSlips("bridge demo: 1 records (1 valid orders, 0 duplicate records, 2 duplicate, 0 tombstone) over 1 key, 3 records/s, 0 invalid")
	if want := []string{"1 valid orders", "1 records", "2 duplicate", "0 tombstone"}; !slices.Equal(got, want) {
		t.Errorf("slips %q, want %q", got, want)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}
