package bench

import (
	"context"
	"fmt"
	"math"
	"time"
)

// SweepOptions configure Sweep: the grid of concurrency × server latency,
// and Options for what every point shares (its Records is the most a point
// produces; Tutorial, CPUProfile and the latency phase do not apply).
type SweepOptions struct {
	Options
	Concurrency []int
	Latencies   []time.Duration
	// PointSeconds sizes each point: a point with a Little bound produces
	// about that many seconds' worth of it (at least 500 records, at most
	// Records), so slow points stay short. Default 3.
	PointSeconds float64
}

// DefaultSweep is the grid of `bridge bench --sweep`.
func DefaultSweep() SweepOptions {
	o := DefaultOptions()
	return SweepOptions{
		Options:      o,
		Concurrency:  []int{1, 4, 16, 64, 256, 1024},
		Latencies:    []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond},
		PointSeconds: 3,
	}
}

// SweepResult is every point of a sweep, latency-major.
type SweepResult struct {
	Machine Machine   `json:"machine"`
	Points  []*Result `json:"points"`
}

// Sweep measures the bridge and the wire ceiling at every point of the grid
// on one test server and one Kafka (each point its own topic and group).
func Sweep(ctx context.Context, so SweepOptions) (*SweepResult, error) {
	if len(so.Concurrency) == 0 || len(so.Latencies) == 0 {
		return nil, fmt.Errorf("%w: a sweep needs at least one concurrency and one latency", ErrBadOptions)
	}
	if so.PointSeconds <= 0 {
		so.PointSeconds = 3
	}
	o := so.Options
	o.Tutorial, o.CPUProfile, o.WireCPUProfile, o.LatencyDuration = false, "", "", -1
	if err := o.defaults(); err != nil {
		return nil, err
	}
	for _, c := range so.Concurrency {
		if c < 1 || c > 10000 {
			return nil, fmt.Errorf("%w: concurrency must be between 1 and 10000, got %d", ErrBadOptions, c)
		}
	}
	for _, l := range so.Latencies {
		if l < 0 || l > time.Minute {
			return nil, fmt.Errorf("%w: latency must be between 0 and 1m, got %s", ErrBadOptions, l)
		}
	}
	e, err := newEnv(ctx, &o)
	if err != nil {
		return nil, err
	}
	defer e.close()
	sr := &SweepResult{Machine: machine(e.kafka)}
	for _, l := range so.Latencies {
		for _, c := range so.Concurrency {
			p := o
			p.MaxInFlight, p.Latency = c, l
			if l > 0 {
				little := float64(c) / l.Seconds()
				p.Records = int(math.Max(500, math.Min(float64(o.Records), little*so.PointSeconds)))
			}
			fmt.Fprintf(o.Out, "point: max_in_flight %d, server latency %s, %d records\n", c, l, p.Records)
			r, err := e.point(ctx, p, false)
			if err != nil {
				return sr, fmt.Errorf("point max_in_flight %d latency %s: %w", c, l, err)
			}
			sr.Points = append(sr.Points, r)
			fmt.Fprintf(o.Out, "  bridge %.0f ev/s, wire %.0f ev/s (%.2f×)", r.ThroughputEPS, r.WireCeilingEPS, r.RatioWire)
			if r.LittleBoundEPS > 0 {
				fmt.Fprintf(o.Out, ", Little %.0f ev/s (%.2f×)", r.LittleBoundEPS, r.RatioLittle)
			}
			if r.WireSpread > UnsteadySpread {
				fmt.Fprintf(o.Out, "; unsteady machine: the ceiling's runs differ by %.0f%%", r.WireSpread*100)
			}
			fmt.Fprintln(o.Out)
		}
	}
	return sr, nil
}
