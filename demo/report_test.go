package demo

import (
	"bytes"
	"strings"
	"testing"
)

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n          int
		noun, want string
	}{
		{0, "record", "0 records"},
		{1, "record", "1 record"},
		{2, "valid order", "2 valid orders"},
		{1, "repeated publish", "1 repeated publish"},
		{3, "repeated publish", "3 repeated publishes"},
		{2, "key", "2 keys"},
		{2, "entry", "2 entries"},
		{2, "box", "2 boxes"},
	} {
		if got := count(tc.n, tc.noun); got != tc.want {
			t.Errorf("count(%d, %q) = %q, want %q", tc.n, tc.noun, got, tc.want)
		}
	}
	if allOf(1, "partition") != "the 1 partition" || allOf(6, "partition") != "all 6 partitions" {
		t.Errorf("allOf: %q, %q", allOf(1, "partition"), allOf(6, "partition"))
	}
}

// TestReportPlurals: the report's counts of 1 take a singular noun, the
// others a plural one (as `bridge demo --records 4` shows them, with one
// record of each kind).
func TestReportPlurals(t *testing.T) {
	for _, tc := range []struct {
		name string
		rep  Report
		want []string
	}{
		{"ones", Report{Produced: 1, ValidOrders: 1, Tombstones: 1, Finished: 1, Delivered: 1, DuplicatesSuppressed: 1,
			SkippedTombstones: 1, DLQ: 1, DLQByClass: map[string]int{"invalid": 1}, Retries: 1, External: false}, []string{
			"produced 1 record: 1 valid order, 0 duplicates, 0 invalid, 1 tombstone\n",
			"finished 1 record finished by the bridge",
			"delivered 1 event accepted by CXone",
			"duplicates suppressed 1 repeated idempotency key deduplicated",
			"tombstones skipped 1 null value: committed",
			"dead-lettered 1 record in the DLQ topic: invalid 1",
			"retries 1 record tried again",
			"(1 record in ",
		}},
		{"others", Report{Produced: 5, ValidOrders: 2, DuplicatesProduced: 2, InvalidProduced: 1, Finished: 5, Delivered: 2,
			DuplicatesSuppressed: 2, SkippedTombstones: 0, DLQ: 0, Retries: 3, External: true}, []string{
			"produced 5 records: 2 valid orders, 2 duplicates, 1 invalid, 0 tombstones\n",
			"finished 5 records finished by the bridge",
			"delivered 2 events accepted by CXone (as the bridge saw it)",
			"duplicates suppressed 2 answered with an already-ingested event's id",
			"tombstones skipped 0 null values: committed",
			"dead-lettered 0 records in the DLQ topic\n",
			"retries 3 records tried again",
			"(5 records in ",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tc.rep.Print(&b)
			// One space between words, lines kept.
			var lines []string
			for _, l := range strings.Split(b.String(), "\n") {
				lines = append(lines, strings.Join(strings.Fields(l), " "))
			}
			text := strings.Join(lines, "\n")
			for _, want := range tc.want {
				if !strings.Contains(text, want) {
					t.Errorf("report lacks %q:\n%s", want, text)
				}
			}
			if strings.Contains(text, "(s)") {
				t.Errorf("report says (s):\n%s", text)
			}
		})
	}
}
