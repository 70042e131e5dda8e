package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchFlags: bad flags exit 2 with a message naming the problem.
func TestBenchFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--records", "1"}, "records must be between"},
		{[]string{"bench", "--ordering", "random"}, "ordering must be key, partition or none"},
		{[]string{"bench", "--chart", "x.svg"}, "--chart goes with --sweep"},
		{[]string{"bench", "--sweep", "--concurrency", "8,a"}, `--concurrency: "a" is not a whole number`},
		{[]string{"bench", "--sweep", "--latencies", "0,fast"}, `--latencies: "fast" is not a duration`},
		{[]string{"bench", "--sweep", "--concurrency", "0"}, "concurrency must be between 1 and 10000"},
	} {
		_, stderr, code := runBridge(t, "", tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestBenchCommand runs a short bench through the command line and reads
// the --json file it writes.
func TestBenchCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a bench; skipped with -short")
	}
	dir := t.TempDir()
	file, cpu, heap := filepath.Join(dir, "bench.json"), filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "heap.pprof")
	stdout, stderr, code := runBridge(t, "", "bench", "--records", "500", "--keys", "500", "--max-in-flight", "16",
		"--latency", "2ms", "--latency-duration", "300ms", "--tutorial-duration", "200ms", "--json", file,
		"--cpuprofile", cpu, "--memprofile", heap)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"bridge throughput", "wire ceiling (bare HTTP)", "Little bound", "tutorial (one at a time)", "latency p50 / p99 / p999", "peak RSS"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table has no %q:\n%s", want, stdout)
		}
	}
	// The profiles come from the bridge's own pprof listener (loopback,
	// never the metrics port).
	for _, f := range []string{cpu, heap} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("profile %s: %v", filepath.Base(f), err)
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Throughput float64 `json:"throughput_eps"`
		Wire       float64 `json:"wire_ceiling_eps"`
		Little     float64 `json:"little_bound_eps"`
		P99        float64 `json:"p99_ms"`
		RSS        float64 `json:"rss_peak_mb"`
		Records    int     `json:"records"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if r.Throughput <= 0 || r.Wire <= 0 || r.Little != 8000 || r.P99 < 2 || r.RSS <= 0 || r.Records != 500 {
		t.Errorf("JSON %s", b)
	}
}
