package demo

import (
	"fmt"
	"time"

	"github.com/cxone-bridge/bridge/progress"
)

// startProgress prints the live progress line until the returned stop is
// called (see package progress for where and how often).
func startProgress(o *Options, r *runner) (stop func()) {
	if !o.Progress {
		return func() {}
	}
	meter := progress.NewMeter(time.Second, r.started, 0)
	return progress.Start(o.Out, o.ProgressInterval, func(f progress.Frame) string {
		n := r.obs.finished.Load()
		rate := meter.Rate(f.Now, n)
		if f.Last {
			// The whole run's rate, up to the last finished record.
			rate = 0
			if el := time.Duration(r.obs.lastFinish.Load() - r.started.UnixNano()); el > 0 && n > 0 {
				rate = float64(n) / el.Seconds()
			}
		}
		st := r.bridge.Consumer().Stats()
		// Unfinished: produced but not yet finished (fetched and waiting,
		// or being published: in flight).
		produced := r.obs.produced.Load()
		unfinished := max(produced-n, 0)
		var line string
		if f.TTY { // fits 80 columns
			line = fmt.Sprintf("%.1fs %d/%d %.0f rec/s delivered %d DLQ %d unfinished %d breaker %s", f.Now.Sub(r.started).Seconds(), n, len(r.samples),
				rate, r.pub.delivered.Load(), r.obs.dlq.Load(), unfinished, r.bridge.BreakerState())
		} else {
			line = fmt.Sprintf("%5.1fs  produced %d  finished %d/%d  %5.0f records/s  delivered %d  DLQ %d  unfinished %d (in flight %d)  breaker %s",
				f.Now.Sub(r.started).Seconds(), produced, n, len(r.samples), rate, r.pub.delivered.Load(), r.obs.dlq.Load(), unfinished, st.InFlight, r.bridge.BreakerState())
		}
		if st.Paused {
			line += " (paused)"
		}
		return line
	})
}
