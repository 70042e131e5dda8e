package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/bench"
	"github.com/cxone-bridge/bridge/testcontainers"
)

// TestRunMeasuresWhatItClaims runs a small bench with the real binary and
// checks each number against what physics and the setup allow: nothing can
// beat the Little bound; end-to-end latency cannot be below the server's
// latency; one request at a time cannot beat 1 ÷ latency; the bridge
// delivered every event once and dead-lettered none.
func TestRunMeasuresWhatItClaims(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bridge binary; skipped with -short")
	}
	const latency = 4 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	r, err := bench.Run(ctx, bench.Options{
		Binary:           testcontainers.BuildBridge(t),
		Records:          3000,
		Keys:             3000,
		MaxInFlight:      32,
		Latency:          latency,
		LatencyDuration:  time.Second,
		Tutorial:         true,
		TutorialDuration: 300 * time.Millisecond,
		Out:              &out,
	})
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	var table bytes.Buffer
	r.Print(&table)
	t.Logf("\n%s", table.String())

	little := 32 / latency.Seconds()
	checks := []struct {
		what string
		ok   bool
	}{
		{"throughput measured", r.ThroughputEPS > 0},
		{"the bridge timed after a warm-up of 2 × max_in_flight to 2,000 records", r.BridgeWarmUp >= 2*32 && r.BridgeWarmUp <= 2000},
		{"wire ceiling measured", r.WireCeilingEPS > 0},
		{"wire ceiling is the mean of its two runs", near(r.WireCeilingEPS, (r.WireBeforeEPS+r.WireAfterEPS)/2)},
		{"its spread is theirs", near(r.WireSpread, math.Abs(r.WireBeforeEPS-r.WireAfterEPS)/r.WireCeilingEPS)},
		{"in-process loop measured too", r.WireInProcessEPS > 0 && near(r.RatioWireInProcess, r.ThroughputEPS/r.WireInProcessEPS)},
		{"the bare client's CPU and allocations measured", r.WireClientCPUPer1000 > 0 && r.WireClientAllocsPerEvent > 0},
		{"the test server's CPU measured in both runs", r.HarnessCPUPer1000 > 0 && r.WireServerCPUPer1000 > 0},
		// The bridge posts the same requests through the transport the
		// bare client's http.Client wraps, so it cannot allocate much less
		// per event (a measurement that lost most of its events, or
		// subtracted too much, would); nor twice as much (an allocation
		// that grows per event, say).
		{"the bridge's allocations measured, and within 0.5-2 × the bare client's", r.BridgeAllocsPerEvent > 0.5*r.WireClientAllocsPerEvent &&
			r.BridgeAllocsPerEvent < 2*r.WireClientAllocsPerEvent && near(r.RatioAllocs, r.BridgeAllocsPerEvent/r.WireClientAllocsPerEvent)},
		{"the harness's scrapes measured and taken out of the bridge's allocations", r.ScrapeAllocs > 0 && r.BridgeAllocsWithScrapes > r.BridgeAllocsPerEvent},
		{"Little bound is max_in_flight ÷ latency", r.LittleBoundEPS == little},
		{"bridge at most the Little bound (+5% clock slack)", r.ThroughputEPS <= little*1.05},
		{"wire loop at most the Little bound (+5%)", r.WireCeilingEPS <= little*1.05},
		{"ratios are throughput over their baselines", near(r.RatioWire, r.ThroughputEPS/r.WireCeilingEPS) && near(r.RatioLittle, r.ThroughputEPS/little)},
		{"latency percentiles ordered", r.P50Ms <= r.P99Ms && r.P99Ms <= r.P999Ms && r.P999Ms <= r.MaxMs},
		{"latency not below the server's", r.P50Ms >= float64(latency)/float64(time.Millisecond)},
		{"latency phase ran", r.LatencyEvents >= 100 && r.OfferedEPS > 0},
		{"tutorial measured", r.TutorialEPS > 0},
		{"tutorial at most one request per latency", r.TutorialEPS <= 1/latency.Seconds()*1.05},
		{"CPU per 1,000 events measured", r.CPUSecondsPer1000 > 0 && r.CPUScope != ""},
		{"peak RSS plausible: the bridge's own, under the 100 MB target", r.RSSPeakMB > 5 && r.RSSPeakMB < 100},
		{"mean in flight within max_in_flight", r.MeanInFlight >= 0 && r.MeanInFlight <= 32},
		{"no duplicates", r.Duplicates == 0},
		{"nothing dead-lettered", r.DLQ == 0},
		{"machine described", r.Machine.CPUs > 0 && r.Machine.Go != ""},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: does not hold in %+v", c.what, *r)
		}
	}

	// The JSON has the field names the issue and docs/performance.md name.
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"throughput_eps", "wire_ceiling_eps", "ratio_wire", "little_bound_eps", "ratio_little",
		"p50_ms", "p99_ms", "p999_ms", "cpu_s_per_1000", "rss_peak_mb", "tutorial_eps", "machine",
		"wire_in_process_eps", "wire_client_cpu_s_per_1000", "bridge_warm_up", "bridge_allocs_per_event", "wire_client_allocs_per_event"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON has no %q: %s", k, b)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestRunAvro: the bench with Avro orders through the harness's registry
// delivers every event once, dead-letters none, and the bridge asks the
// registry for the schema (and its subject) once, not per record.
func TestRunAvro(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bridge binary; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	r, err := bench.Run(ctx, bench.Options{
		Binary: testcontainers.BuildBridge(t), Format: bench.FormatAvro,
		Records: 3000, Keys: 3000, MaxInFlight: 32, LatencyDuration: -1, Out: &out,
	})
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	var table bytes.Buffer
	r.Print(&table)
	t.Logf("\n%s", table.String())
	if r.ThroughputEPS <= 0 || r.Duplicates != 0 || r.DLQ != 0 || r.Format != bench.FormatAvro {
		t.Errorf("result %+v", *r)
	}
	if r.RegistryRequests < 1 || r.RegistryRequests > 2 {
		t.Errorf("the bridge sent the registry %d requests for %d records, want 1 or 2 (the schema, its subject)", r.RegistryRequests, r.Records)
	}
	if !strings.Contains(table.String(), "schema registry requests") {
		t.Errorf("the table does not show the registry requests:\n%s", table.String())
	}
}

// TestSweepAndChart runs a 2 × 2 sweep and checks the chart is well-formed
// SVG with a panel per latency and the three series in each.
func TestSweepAndChart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bridge binary; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	so := bench.DefaultSweep()
	so.Binary = testcontainers.BuildBridge(t)
	so.Records, so.Keys = 600, 600
	so.Concurrency = []int{2, 16}
	so.Latencies = []time.Duration{0, 5 * time.Millisecond}
	so.PointSeconds = 0.2
	var out bytes.Buffer
	so.Out = &out
	sr, err := bench.Sweep(ctx, so)
	if err != nil {
		t.Fatalf("sweep: %v\n%s", err, out.String())
	}
	if len(sr.Points) != 4 {
		t.Fatalf("%d points, want 4", len(sr.Points))
	}
	for _, p := range sr.Points {
		if p.ThroughputEPS <= 0 || p.WireCeilingEPS <= 0 || p.Duplicates != 0 {
			t.Errorf("point %+v", *p)
		}
		if p.LatencyMs > 0 && p.ThroughputEPS > p.LittleBoundEPS*1.05 {
			t.Errorf("point beats the Little bound: %+v", *p)
		}
	}
	var svg bytes.Buffer
	if err := bench.WriteChart(&svg, sr); err != nil {
		t.Fatal(err)
	}
	polylines, texts := countSVG(t, svg.Bytes())
	// Per panel: bridge and wire always; Little only where latency > 0.
	if polylines != 2+3 {
		t.Errorf("%d polylines, want 5", polylines)
	}
	for _, want := range []string{"server latency 0 ms", "server latency 5 ms", "max_in_flight", "wire ceiling"} {
		if !strings.Contains(texts, want) {
			t.Errorf("chart has no text %q", want)
		}
	}
}

// countSVG parses b as XML and counts polylines and collects the text.
func countSVG(t *testing.T, b []byte) (polylines int, texts string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var sb strings.Builder
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v", err)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = v.Name.Local
			}
			if v.Name.Local == "polyline" {
				polylines++
			}
		case xml.CharData:
			sb.Write(v)
			sb.WriteByte('\n')
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return polylines, sb.String()
}

func TestBadOptions(t *testing.T) {
	for _, o := range []bench.Options{
		{Records: 1},
		{Ordering: "random"},
		{Latency: -time.Second},
		{MaxInFlight: -1},
		{LatencyRate: -5},
	} {
		_, err := bench.Run(context.Background(), o)
		if !errors.Is(err, bench.ErrBadOptions) {
			t.Errorf("%+v: err %v, want ErrBadOptions", o, err)
		}
	}
	if _, err := bench.Sweep(context.Background(), bench.SweepOptions{}); !errors.Is(err, bench.ErrBadOptions) {
		t.Errorf("empty sweep: err %v", err)
	}
	if err := bench.WriteChart(io.Discard, &bench.SweepResult{}); err == nil {
		t.Error("chart of nothing: no error")
	}
}
