package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/cxone-bridge/bridge/metrics"
)

// TestReadmeEventsOutcomes: the README's metrics table lists, in the row
// of events_total{outcome}, every outcome the bridge exports (each is
// created at zero, so the registry holds them all).
func TestReadmeEventsOutcomes(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `events_total\\{outcome\\}` \\|.*$").FindString(string(b))
	if row == "" {
		t.Fatal("README.md has no metrics table row for events_total{outcome}")
	}
	families, err := metrics.New("test").Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, f := range families {
		if f.GetName() != "cxone_bridge_events_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					outcomes = append(outcomes, l.GetValue())
				}
			}
		}
	}
	if len(outcomes) < 5 {
		t.Fatalf("outcomes exported: %q", outcomes)
	}
	for _, o := range outcomes {
		if !strings.Contains(row, "`"+o+"`") {
			t.Errorf("README's events_total row lacks outcome %q:\n%s", o, row)
		}
	}
}
