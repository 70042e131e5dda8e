// Package bench measures the bridge end to end, against baselines taken in
// the same run on the same CXone test server (sink/cxonetest):
//
//   - the bridge: the real binary (`bridge run`) as a child process,
//     consuming a backlog of tutorial-shaped orders from Kafka (in-process
//     kfake by default, or a given cluster) and publishing them to the test
//     server, whose every events answer is delayed by a fixed latency;
//   - the wire ceiling: a bare net/http loop in a process of its own, as the
//     bridge is, posting the same, pre-built requests (same bodies, headers
//     and idempotency keys) with the same concurrency: what HTTP alone
//     reaches on this machine (also measured inside this process, for
//     continuity with earlier reports);
//   - the Little bound: concurrency ÷ server latency, what any client with
//     that many requests in flight can reach at best (Little's law);
//   - optionally the tutorial's approach: validate, build and POST one event
//     at a time, awaiting each answer, as the Node producer does.
//
// Throughput is counted by the server, the same way for the bridge and the
// wire loop: accepted events per second, from the end of a warm-up to the
// last accepted answer. The bare client posts 2,000 requests before it is
// timed; the bridge's backlog has a few hundred to 2,000 more records than
// it is measured on, and its window opens once that many were accepted, so
// neither is timed while it starts (dialing its connections, growing its
// heap; the bridge also joining its group). End-to-end latency (produce → answer written by the server) is
// measured in a second phase at a fixed offered rate below saturation (half
// the measured throughput by default) with an open-loop producer, so that
// the percentiles are not the time records waited in a backlog. CPU seconds
// per 1,000 events and peak RSS are the child process's own (/proc on
// Linux; getrusage after exit elsewhere), so the embedded Kafka, the test
// server and the load generator are not counted against the bridge.
package bench

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"time"
)

// Options configure one measurement (Run) or the defaults of each point of a
// sweep (Sweep). Zero values take the defaults of DefaultOptions.
type Options struct {
	// Records is the number of events of the throughput phase (and of the
	// wire-ceiling loop).
	Records int
	// Partitions of the source topic and Keys, the distinct Kafka keys the
	// orders are spread over (with key ordering, records of one key are
	// published one after another, so few keys cap the concurrency).
	Partitions int
	Keys       int
	// MaxInFlight is consumer.max_in_flight, and the concurrency of the wire
	// loop.
	MaxInFlight int
	// Ordering is consumer.ordering: key, partition or none.
	Ordering string
	// Format is how the orders are written: [FormatJSON] (the default) or
	// [FormatAvro], in the schema registry wire format, with a registry
	// served by the harness, whose requests the report counts.
	Format string
	// Latency is the test server's fixed delay before every events answer.
	Latency time.Duration

	// LatencyRate is the rate (events/s) the producer offers during the
	// latency phase; 0 means half the throughput just measured.
	LatencyRate float64
	// LatencyDuration is how long the latency phase produces; a negative
	// value skips the phase. Default 5s.
	LatencyDuration time.Duration

	// Tutorial also measures the tutorial's one-request-at-a-time approach
	// for TutorialDuration (default 3s).
	Tutorial         bool
	TutorialDuration time.Duration

	// Brokers is a Kafka cluster to use instead of an in-process one; the
	// run creates its own topics (bench-orders-<random>) and group.
	Brokers []string
	// Binary is the bridge executable to measure; default this executable.
	// An older build can be measured by a newer harness this way (its `run`
	// command is all the bench uses of it).
	Binary string
	// KafkaBinary is the executable whose hidden `bench-kafka` command
	// serves the embedded Kafka; default Binary.
	KafkaBinary string
	// CPUProfile, when set, is a file the bridge process's CPU profile
	// (pprof) of the throughput phase is written to.
	CPUProfile string
	// WireCPUProfile, when set, is a file the bare client's CPU profile
	// (pprof) of its run after the bridge is written to.
	WireCPUProfile string
	// HeapProfile, when set, is a file the bridge process's heap profile
	// (pprof, in use at the end of the throughput phase) is written to.
	HeapProfile string
	// StallTimeout ends a phase with an error when no event was accepted
	// for that long. Default 30s.
	StallTimeout time.Duration
	// Out receives progress lines; nil prints nothing.
	Out io.Writer
}

// DefaultOptions are the options of `bridge bench` without flags: the
// second performance target of docs/performance.md (20 ms, 256 in flight).
func DefaultOptions() Options {
	return Options{
		Records:          20000,
		Partitions:       12,
		Keys:             10000,
		MaxInFlight:      256,
		Ordering:         "key",
		Latency:          20 * time.Millisecond,
		LatencyDuration:  5 * time.Second,
		TutorialDuration: 3 * time.Second,
		StallTimeout:     30 * time.Second,
	}
}

// ErrBadOptions is wrapped by the error of Run and Sweep for invalid options.
var ErrBadOptions = errors.New("bench: bad options")

func (o *Options) defaults() error {
	d := DefaultOptions()
	o.Records, o.Partitions, o.Keys = cmp.Or(o.Records, d.Records), cmp.Or(o.Partitions, d.Partitions), cmp.Or(o.Keys, d.Keys)
	o.MaxInFlight, o.Ordering = cmp.Or(o.MaxInFlight, d.MaxInFlight), cmp.Or(o.Ordering, d.Ordering)
	o.Format = cmp.Or(o.Format, FormatJSON)
	o.LatencyDuration = cmp.Or(o.LatencyDuration, d.LatencyDuration)
	if o.TutorialDuration <= 0 {
		o.TutorialDuration = d.TutorialDuration
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = d.StallTimeout
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	var errs []error
	if o.Format != FormatJSON && o.Format != FormatAvro {
		errs = append(errs, fmt.Errorf("format must be %s or %s, got %q", FormatJSON, FormatAvro, o.Format))
	}
	if o.Records < 2 || o.Records > maxIndex {
		errs = append(errs, fmt.Errorf("records must be between 2 and %d, got %d", maxIndex, o.Records))
	}
	if o.Partitions < 1 || o.Partitions > 1000 {
		errs = append(errs, fmt.Errorf("partitions must be between 1 and 1000, got %d", o.Partitions))
	}
	if o.Keys < 1 {
		errs = append(errs, fmt.Errorf("keys must be at least 1, got %d", o.Keys))
	}
	if o.MaxInFlight < 1 || o.MaxInFlight > 10000 {
		errs = append(errs, fmt.Errorf("max in flight must be between 1 and 10000, got %d", o.MaxInFlight))
	}
	switch o.Ordering {
	case "key", "partition", "none":
	default:
		errs = append(errs, fmt.Errorf("ordering must be key, partition or none, got %q", o.Ordering))
	}
	if o.Latency < 0 || o.Latency > time.Minute {
		errs = append(errs, fmt.Errorf("latency must be between 0 and 1m, got %s", o.Latency))
	}
	if o.LatencyRate < 0 {
		errs = append(errs, fmt.Errorf("latency rate must not be negative, got %v", o.LatencyRate))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrBadOptions, errors.Join(errs...))
	}
	return nil
}

// Machine describes where the numbers were taken.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	MemoryGiB int    `json:"memory_gib,omitempty"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	Go        string `json:"go"`
	Kafka     string `json:"kafka"`
}

// Result is one measurement. Rates are events per second; a ratio or bound
// that does not apply (the Little bound at 0 ms) is 0 and omitted from JSON.
type Result struct {
	Machine     Machine `json:"machine"`
	Records     int     `json:"records"`
	Partitions  int     `json:"partitions"`
	Keys        int     `json:"keys"`
	MaxInFlight int     `json:"max_in_flight"`
	Ordering    string  `json:"ordering"`
	LatencyMs   float64 `json:"server_latency_ms"`
	Format      string  `json:"format"`
	// RegistryRequests is how many requests the bridge sent the schema
	// registry during the throughput phase (Format avro): the schema and
	// its subject once, none per record.
	RegistryRequests int64 `json:"registry_requests,omitempty"`

	// ThroughputEPS is the bridge's throughput: accepted events per second
	// over Records events, from the end of its warm-up (BridgeWarmUp
	// accepted answers) to the last accepted answer of the throughput phase.
	ThroughputEPS float64 `json:"throughput_eps"`
	// BridgeWarmUp is how many records the backlog has beyond Records: the
	// bridge's window (throughput, CPU, allocations, gauges) opens when that
	// many were accepted. A quarter of a second at the ceiling's pace, at
	// least twice max_in_flight, at most the bare client's 2,000.
	BridgeWarmUp int `json:"bridge_warm_up"`
	// WireCeilingEPS is the bare net/http client's throughput on the same
	// requests, server and concurrency, run as a process of its own as the
	// bridge is (wire.go): the mean of a run before the bridge
	// (WireBeforeEPS) and one after (WireAfterEPS), so that drift in the
	// machine's load weighs on both sides alike. RatioWire = ThroughputEPS
	// / WireCeilingEPS.
	WireCeilingEPS float64 `json:"wire_ceiling_eps"`
	WireBeforeEPS  float64 `json:"wire_before_eps"`
	WireAfterEPS   float64 `json:"wire_after_eps"`
	RatioWire      float64 `json:"ratio_wire"`
	// WireSpread is how far apart the ceiling's two runs are, |before −
	// after| ÷ their mean: how much the machine's speed moved during the
	// run, and so about how uncertain RatioWire is. Print flags it above
	// [UnsteadySpread].
	WireSpread float64 `json:"wire_spread"`
	// WireInProcessEPS is the same loop run inside this process (the test
	// server's), as reports before 2026-11-30 measured the ceiling: it
	// shares the server's scheduler and heap, and costs the server less
	// per request than a client in another process.
	WireInProcessEPS       float64 `json:"wire_in_process_eps"`
	WireInProcessBeforeEPS float64 `json:"wire_in_process_before_eps"`
	WireInProcessAfterEPS  float64 `json:"wire_in_process_after_eps"`
	RatioWireInProcess     float64 `json:"ratio_wire_in_process"`
	// WireClientCPUPer1000 is the bare client process's CPU seconds per
	// 1,000 events, and WireClientAllocsPerEvent its heap allocations per
	// event (runtime/metrics), means of its two runs; BridgeAllocsPerEvent
	// is the bridge process's (go_memstats_mallocs_total of its /metrics
	// over the throughput phase) without what the harness's own scrapes of
	// /metrics allocated in it, RatioAllocs the bridge's ÷ the client's.
	WireClientCPUPer1000     float64 `json:"wire_client_cpu_s_per_1000,omitempty"`
	WireClientAllocsPerEvent float64 `json:"wire_client_allocs_per_event,omitempty"`
	BridgeAllocsPerEvent     float64 `json:"bridge_allocs_per_event,omitempty"`
	RatioAllocs              float64 `json:"ratio_allocs,omitempty"`
	// BridgeAllocsWithScrapes is the bridge's allocations per event with
	// the harness's scrapes left in; ScrapeAllocs and ScrapeAllocBytes are
	// what one scrape allocates in the bridge (the mean of 20, measured
	// while it idles after the phase). The harness samples the bridge's
	// gauges every 200ms: at 20 ms and one record in flight (46 events/s)
	// the scrapes were two thirds of what the bridge allocated.
	BridgeAllocsWithScrapes float64 `json:"bridge_allocs_per_event_with_scrapes,omitempty"`
	ScrapeAllocs            float64 `json:"scrape_allocs,omitempty"`
	ScrapeAllocBytes        float64 `json:"scrape_alloc_bytes,omitempty"`
	// WireClientAllocBytesPerEvent and BridgeAllocBytesPerEvent are the
	// bytes those allocations took: what paces the garbage collector.
	WireClientAllocBytesPerEvent float64 `json:"wire_client_alloc_bytes_per_event,omitempty"`
	BridgeAllocBytesPerEvent     float64 `json:"bridge_alloc_bytes_per_event,omitempty"`
	// LittleBoundEPS = MaxInFlight / Latency; RatioLittle = ThroughputEPS / it.
	LittleBoundEPS float64 `json:"little_bound_eps,omitempty"`
	RatioLittle    float64 `json:"ratio_little,omitempty"`

	// MeanInFlight and MeanBuffered are the bridge's in-flight and
	// buffered record gauges, sampled every 200ms over the throughput phase:
	// how full it kept its publish pool (at most MaxInFlight) and its buffer.
	MeanInFlight float64 `json:"mean_in_flight"`
	MeanBuffered float64 `json:"mean_buffered"`

	// End-to-end latency, produce → answer written by the server, at
	// OfferedEPS (an open-loop producer) over LatencyEvents events.
	OfferedEPS    float64 `json:"latency_offered_eps,omitempty"`
	LatencyEvents int     `json:"latency_events,omitempty"`
	P50Ms         float64 `json:"p50_ms,omitempty"`
	P99Ms         float64 `json:"p99_ms,omitempty"`
	P999Ms        float64 `json:"p999_ms,omitempty"`
	MaxMs         float64 `json:"max_ms,omitempty"`

	// CPUSecondsPer1000 is the bridge process's user+system CPU time per
	// 1,000 events of the throughput phase (CPUScope says how it was taken).
	CPUSecondsPer1000 float64 `json:"cpu_s_per_1000"`
	CPUScope          string  `json:"cpu_scope"`
	// Where the rest of the machine's CPU went, per 1,000 events, so that a
	// ratio below 1 can be read on a machine whose cores all parts share:
	// HarnessCPUPer1000 is this process (the test server) during the
	// bridge's throughput phase, KafkaCPUPer1000 the embedded Kafka process
	// then, WireServerCPUPer1000 this process (the test server alone)
	// during the runs of the bare client in its own process, and
	// WireHarnessCPUPer1000 this process (the test server and the bare
	// loop) during the in-process runs. Linux only; 0 elsewhere.
	HarnessCPUPer1000     float64 `json:"harness_cpu_s_per_1000,omitempty"`
	KafkaCPUPer1000       float64 `json:"kafka_cpu_s_per_1000,omitempty"`
	WireServerCPUPer1000  float64 `json:"wire_server_cpu_s_per_1000,omitempty"`
	WireHarnessCPUPer1000 float64 `json:"wire_harness_cpu_s_per_1000,omitempty"`
	// RSSPeakMB is the bridge process's peak resident set (VmHWM), in MB
	// (10⁶ bytes).
	RSSPeakMB float64 `json:"rss_peak_mb"`

	// TutorialEPS is the tutorial's one-at-a-time approach on the same
	// server; RatioTutorial = ThroughputEPS / it.
	TutorialEPS   float64 `json:"tutorial_eps,omitempty"`
	RatioTutorial float64 `json:"ratio_tutorial,omitempty"`

	// Duplicates the server counted (requests with a known idempotency key)
	// while the bridge ran; DLQ is the records the bridge dead-lettered.
	// Both are 0 in a healthy run.
	Duplicates int `json:"duplicates"`
	DLQ        int `json:"dlq_records"`

	// Profile is the file the CPU profile was written to, if asked for.
	Profile string `json:"cpu_profile,omitempty"`
	// Elapsed is the wall time of the whole measurement.
	ElapsedSeconds float64 `json:"elapsed_s"`
}

// machine describes this machine.
func machine(kafka string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version(), Kafka: kafka}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		for _, line := range strings.Split(string(b), "\n") {
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
				m.MemoryGiB = int((kb + 1<<19) >> 20)
				break
			}
		}
	}
	return m
}

// UnsteadySpread is the spread of the ceiling's two runs (WireSpread) above
// which Print warns that the machine's speed moved during the run. On a
// quiet machine they agree within a few percent.
const UnsteadySpread = 0.10

// spread is |a − b| ÷ their mean; 0 when both are 0.
func spread(a, b float64) float64 {
	if a+b == 0 {
		return 0
	}
	return math.Abs(a-b) / ((a + b) / 2)
}

// Print writes r as the human-readable table of `bridge bench`.
func (r *Result) Print(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPUs (%s), %d GiB, %s/%s, %s; Kafka: %s\n", m.CPUs, orDash(m.CPUModel), m.MemoryGiB, m.OS, m.Arch, m.Go, m.Kafka)
	fmt.Fprintf(w, "setup:   %d records (%s), %d partitions, %d keys, ordering %s, max_in_flight %d, server latency %s\n\n",
		r.Records, orDash(r.Format), r.Partitions, r.Keys, r.Ordering, r.MaxInFlight, fmtMs(r.LatencyMs))
	row := func(name, value, note string) { fmt.Fprintf(w, "  %-26s %14s  %s\n", name, value, note) }
	row("bridge throughput", eps(r.ThroughputEPS), fmt.Sprintf("after a warm-up of %d records, as the bare client has one", r.BridgeWarmUp))
	row("mean in flight / buffered", fmt.Sprintf("%.0f / %.0f", r.MeanInFlight, r.MeanBuffered), fmt.Sprintf("of max_in_flight %d (sampled every 200 ms)", r.MaxInFlight))
	row("wire ceiling (bare HTTP)", eps(r.WireCeilingEPS), fmt.Sprintf("bridge = %.2f × wire; bare client in its own process (runs before / after: %.0f / %.0f)", r.RatioWire, r.WireBeforeEPS, r.WireAfterEPS))
	if r.WireSpread > UnsteadySpread {
		row("  ! unsteady machine", fmt.Sprintf("%.0f%%", r.WireSpread*100), "the ceiling's two runs differ by this much: the machine's speed moved during the run, and the ratios are uncertain by about as much; run it again")
	}
	row("  in the server's process", eps(r.WireInProcessEPS), fmt.Sprintf("bridge = %.2f × it (the earlier reports' ceiling; before / after: %.0f / %.0f)", r.RatioWireInProcess, r.WireInProcessBeforeEPS, r.WireInProcessAfterEPS))
	if r.LittleBoundEPS > 0 {
		row("Little bound", eps(r.LittleBoundEPS), fmt.Sprintf("bridge = %.2f × Little (%d in flight ÷ %s)", r.RatioLittle, r.MaxInFlight, fmtMs(r.LatencyMs)))
	} else {
		row("Little bound", "n/a", "server latency 0: no bound from Little's law")
	}
	if r.TutorialEPS > 0 {
		row("tutorial (one at a time)", eps(r.TutorialEPS), fmt.Sprintf("bridge = %.0f × tutorial", r.RatioTutorial))
	}
	if r.LatencyEvents > 0 {
		row("latency p50 / p99 / p999", fmt.Sprintf("%.1f / %.1f / %.1f ms", r.P50Ms, r.P99Ms, r.P999Ms),
			fmt.Sprintf("produce → accepted, %d events offered at %s (max %.1f ms)", r.LatencyEvents, eps(r.OfferedEPS), r.MaxMs))
	}
	row("CPU per 1,000 events", fmt.Sprintf("%.3f s", r.CPUSecondsPer1000), r.CPUScope)
	if r.HarnessCPUPer1000 > 0 {
		row("  the rest, per 1,000", fmt.Sprintf("%.3f s", r.HarnessCPUPer1000+r.KafkaCPUPer1000),
			fmt.Sprintf("test server %.3f s + embedded Kafka %.3f s; the wire loop's run: server + loop %.3f s", r.HarnessCPUPer1000, r.KafkaCPUPer1000, r.WireHarnessCPUPer1000))
	}
	if r.WireClientCPUPer1000 > 0 {
		row("  bare client, per 1,000", fmt.Sprintf("%.3f s", r.WireClientCPUPer1000), fmt.Sprintf("the wire ceiling's client process; the test server then: %.3f s", r.WireServerCPUPer1000))
	}
	if r.BridgeAllocsPerEvent > 0 {
		row("allocations per event", fmt.Sprintf("%.0f", r.BridgeAllocsPerEvent), fmt.Sprintf("bridge process; the bare client %.0f: %.2f ×", r.WireClientAllocsPerEvent, r.RatioAllocs))
		if r.BridgeAllocBytesPerEvent > 0 {
			row("  bytes allocated per event", fmt.Sprintf("%.0f B", r.BridgeAllocBytesPerEvent), fmt.Sprintf("the bare client %.0f B", r.WireClientAllocBytesPerEvent))
		}
		if r.ScrapeAllocs > 0 {
			row("  with the harness's scrapes", fmt.Sprintf("%.0f", r.BridgeAllocsWithScrapes), fmt.Sprintf("its /metrics read every 200ms, %.0f allocations (%.0f KB) each, taken out above", r.ScrapeAllocs, r.ScrapeAllocBytes/1024))
		}
	}
	row("peak RSS", fmt.Sprintf("%.1f MB", r.RSSPeakMB), "bridge process (VmHWM)")
	if r.Format == FormatAvro {
		row("schema registry requests", fmt.Sprint(r.RegistryRequests), fmt.Sprintf("by the bridge over %d records: %.5f per record (schemas are fetched once)", r.Records, float64(r.RegistryRequests)/float64(max(r.Records, 1))))
	}
	row("duplicates / DLQ", fmt.Sprintf("%d / %d", r.Duplicates, r.DLQ), "both 0 in a healthy run")
}

func eps(v float64) string { return fmt.Sprintf("%.0f ev/s", v) }

func fmtMs(ms float64) string {
	if ms == float64(int64(ms)) {
		return fmt.Sprintf("%d ms", int64(ms))
	}
	return fmt.Sprintf("%.1f ms", ms)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
