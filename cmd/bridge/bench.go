package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cxone-bridge/bridge/bench"
)

// newBenchCmd returns `bridge bench`: throughput, latency and cost of the
// bridge against baselines measured in the same run (package bench).
func newBenchCmd() *cobra.Command {
	o := bench.DefaultOptions()
	sw := bench.DefaultSweep()
	var (
		jsonFile, chartFile string
		sweep               bool
		concurrency         string
		latencies           string
		noTutorial          bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput, latency, CPU and memory against same-run baselines",
		Long: `bench runs the real bridge (this binary's "run" command, as a child process)
on an in-process Kafka (or --brokers) against the CXone test server, whose
every events answer waits --latency, and reports:

  - throughput (events/s) over a backlog of --records orders;
  - the wire ceiling: a bare net/http loop posting the same pre-built requests
    with the same concurrency (--max-in-flight) to the same server;
  - the Little bound: max_in_flight ÷ latency;
  - end-to-end latency p50/p99/p999 (produce → accepted) at a fixed offered
    rate below saturation (--latency-rate, default half the throughput);
  - CPU seconds per 1,000 events and peak RSS of the bridge process;
  - the tutorial's approach for contrast: one request at a time.

--sweep measures a grid of --concurrency × --latencies instead and --chart
writes it as an SVG. --json FILE writes the numbers.

Exit status: 0 when the measurement completed, 1 when it failed (the bridge
stalled, crashed, or a baseline failed), 2 on bad flags.`,
		Example: `  bridge bench
  bridge bench --latency 0 --max-in-flight 64 --json bench.json
  bridge bench --sweep --chart docs/throughput.svg --json sweep.json
  bridge bench --cpuprofile cpu.pprof && go tool pprof -top cpu.pprof`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = cmd.ErrOrStderr()
			if self, err := os.Executable(); err == nil {
				o.KafkaBinary = self // --bridge-binary may be a build without bench-kafka
			}
			o.Tutorial = !noTutorial
			var result any
			if sweep {
				var err error
				if sw.Concurrency, err = parseInts(concurrency); err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--concurrency: %w", err)}
				}
				if sw.Latencies, err = parseDurations(latencies); err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--latencies: %w", err)}
				}
				sw.Options = o
				sr, err := bench.Sweep(cmd.Context(), sw)
				if err != nil {
					return benchErr(err)
				}
				result = sr
				printSweep(cmd, sr)
				if chartFile != "" {
					f, err := os.Create(chartFile)
					if err != nil {
						return &exitError{code: 1, err: err}
					}
					if err := bench.WriteChart(f, sr); err != nil {
						f.Close()
						return &exitError{code: 1, err: err}
					}
					if err := f.Close(); err != nil {
						return &exitError{code: 1, err: err}
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "chart written to %s\n", chartFile)
				}
			} else {
				if chartFile != "" {
					return &exitError{code: 2, err: errors.New("--chart goes with --sweep")}
				}
				r, err := bench.Run(cmd.Context(), o)
				if err != nil {
					return benchErr(err)
				}
				result = r
				fmt.Fprintln(cmd.OutOrStdout())
				r.Print(cmd.OutOrStdout())
			}
			if jsonFile != "" {
				b, err := json.MarshalIndent(result, "", "  ")
				if err != nil {
					return &exitError{code: 1, err: err}
				}
				if err := os.WriteFile(jsonFile, append(b, '\n'), 0o644); err != nil {
					return &exitError{code: 1, err: err}
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&o.Records, "records", o.Records, "events of the throughput phase (and of the wire-ceiling loop)")
	fl.IntVar(&o.Partitions, "partitions", o.Partitions, "partitions of the source topic")
	fl.IntVar(&o.Keys, "keys", o.Keys, "distinct Kafka keys the orders are spread over")
	fl.IntVar(&o.MaxInFlight, "max-in-flight", o.MaxInFlight, "consumer.max_in_flight, and the wire loop's concurrency")
	fl.StringVar(&o.Format, "format", "json", "how the orders are written: json, or avro (schema registry wire format, with a registry served by the harness; the report counts its requests)")
	fl.StringVar(&o.Ordering, "ordering", o.Ordering, "consumer.ordering: key, partition or none")
	fl.DurationVar(&o.Latency, "latency", o.Latency, "the test server's delay before every events answer")
	fl.Float64Var(&o.LatencyRate, "latency-rate", 0, "events/s offered in the latency phase (0: half the measured throughput)")
	fl.DurationVar(&o.LatencyDuration, "latency-duration", o.LatencyDuration, "how long the latency phase produces (negative: skip it)")
	fl.BoolVar(&noTutorial, "no-tutorial", false, "skip the tutorial's one-at-a-time contrast")
	fl.DurationVar(&o.TutorialDuration, "tutorial-duration", o.TutorialDuration, "how long the one-at-a-time contrast runs")
	fl.StringSliceVar(&o.Brokers, "brokers", nil, "a Kafka cluster (plaintext) to use instead of the embedded one")
	fl.StringVar(&o.Binary, "bridge-binary", "", "the bridge executable to measure (default: this one)")
	fl.StringVar(&o.CPUProfile, "cpuprofile", "", "write the bridge process's CPU profile of the throughput phase to this file")
	fl.StringVar(&o.WireCPUProfile, "wire-cpuprofile", "", "write the bare client's CPU profile (its run after the bridge) to this file, to compare with --cpuprofile")
	fl.StringVar(&o.HeapProfile, "memprofile", "", "write the bridge process's heap profile at the end of the throughput phase to this file")
	fl.StringVar(&jsonFile, "json", "", "write the results as JSON to this file")
	fl.BoolVar(&sweep, "sweep", false, "measure a grid of --concurrency × --latencies")
	fl.StringVar(&concurrency, "concurrency", joinInts(sw.Concurrency), "the sweep's max_in_flight values")
	fl.StringVar(&latencies, "latencies", "0,5ms,20ms", "the sweep's server latencies")
	fl.Float64Var(&sw.PointSeconds, "point-seconds", sw.PointSeconds, "the sweep's records per point: this many seconds of the Little bound (at most --records)")
	fl.StringVar(&chartFile, "chart", "", "with --sweep: write an SVG chart to this file")
	return cmd
}

func benchErr(err error) error {
	if errors.Is(err, bench.ErrBadOptions) {
		return &exitError{code: 2, err: err}
	}
	return &exitError{code: 1, err: err}
}

func printSweep(cmd *cobra.Command, sr *bench.SweepResult) {
	w := cmd.OutOrStdout()
	m := sr.Machine
	fmt.Fprintf(w, "\nmachine: %d CPUs (%s), %s; Kafka: %s\n\n", m.CPUs, m.CPUModel, m.Go, m.Kafka)
	fmt.Fprintf(w, "%10s %14s %12s %12s %12s %10s %12s\n", "latency", "max_in_flight", "bridge ev/s", "wire ev/s", "Little ev/s", "× wire", "× Little")
	for _, p := range sr.Points {
		little, rl := "n/a", "n/a"
		if p.LittleBoundEPS > 0 {
			little, rl = fmt.Sprintf("%.0f", p.LittleBoundEPS), fmt.Sprintf("%.2f", p.RatioLittle)
		}
		fmt.Fprintf(w, "%10s %14d %12.0f %12.0f %12s %10.2f %12s\n", fmt.Sprintf("%g ms", p.LatencyMs), p.MaxInFlight, p.ThroughputEPS, p.WireCeilingEPS, little, p.RatioWire, rl)
	}
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not a whole number", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseDurations(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "0" {
			out = append(out, 0)
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration (like 20ms)", f)
		}
		out = append(out, d)
	}
	return out, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// newBenchKafkaCmd is `bridge bench-kafka`, hidden: the embedded Kafka of
// `bridge bench`, run by it as a process of its own.
func newBenchKafkaCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "bench-kafka",
		Short:  "Serve an in-process Kafka for bench (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bench.ServeKafka(cmd.Context(), cmd.OutOrStdout()); err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
}

// newBenchWireCmd is `bridge bench-wire`, hidden: the bare client of
// `bridge bench`'s wire ceiling, run by it as a process of its own
// (bench/wire.go). The token comes in $BRIDGE_BENCH_WIRE_TOKEN.
func newBenchWireCmd() *cobra.Command {
	var o bench.WireOptions
	cmd := &cobra.Command{
		Use:    "bench-wire",
		Short:  "Post pre-built requests as the wire ceiling's bare client (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bench.ServeWire(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), o); err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.URL, "url", "", "the events endpoint")
	cmd.Flags().StringVar(&o.RequestsFile, "requests", "", "the requests file bench wrote")
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", 0, "requests at a time")
	cmd.Flags().StringVar(&o.CPUProfile, "cpuprofile", "", "write the measured loop's CPU profile to this file")
	return cmd
}
