package dlqtool

import (
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cxone-bridge/bridge/progress"
)

// replayProgress shows how far a replay is: on a terminal a bar with rate
// and ETA rewritten in place, otherwise a plain line every interval
// (package progress decides which).
type replayProgress struct {
	out      io.Writer
	interval time.Duration
	total    int64
	dry      bool

	offsets  atomic.Int64 // DLQ offsets handled (committed batches)
	replayed atomic.Int64
	refused  atomic.Int64 // refused and malformed
}

func newProgress(out io.Writer, interval time.Duration, total int64, dry bool) *replayProgress {
	return &replayProgress{out: out, total: total, dry: dry, interval: interval}
}

func (p *replayProgress) add(t *tally) {
	p.offsets.Add(t.offsets)
	p.replayed.Add(t.replayed)
	p.refused.Add(t.refused + t.malformed)
}

// start prints until the returned stop is called, which prints the last
// state.
func (p *replayProgress) start() (stop func()) {
	if p.out == nil || p.total == 0 {
		return func() {}
	}
	read := progress.NewMeter(10*time.Second, time.Now(), 0)
	replayed := progress.NewMeter(10*time.Second, time.Now(), 0)
	return progress.Start(p.out, p.interval, func(f progress.Frame) string {
		return p.line(f, read.Rate(f.Now, p.offsets.Load()), replayed.Rate(f.Now, p.replayed.Load()))
	})
}

// line shows the offsets read of the total (the ETA follows them) and the
// records replayed with their own rate, the one the summary gives: with a
// filter or --rate the two differ.
func (p *replayProgress) line(f progress.Frame, perSec, replayedPerSec float64) string {
	n := p.offsets.Load()
	eta := "--"
	if perSec > 0 && n < p.total {
		eta = (time.Duration(float64(p.total-n)/perSec) * time.Second).Round(time.Second).String()
	}
	if n >= p.total {
		eta = "0s"
	}
	verb := "replayed"
	if p.dry {
		verb = "would replay"
	}
	pct := float64(n) * 100 / float64(p.total)
	refused := ""
	if r := p.refused.Load(); r > 0 {
		refused = fmt.Sprintf("  not replayed %d", r)
	}
	stats := fmt.Sprintf("%3.0f%% %d/%d read (%.1f/s)  %s %d (%.1f/s)%s  ETA %s", min(pct, 100), n, p.total, perSec, verb, p.replayed.Load(), replayedPerSec, refused, eta)
	if !f.TTY {
		return "progress: " + stats
	}
	barW := f.Width - len(stats) - 4
	if barW < 10 {
		return stats
	}
	fill := min(barW, int(float64(barW)*float64(n)/float64(p.total)))
	return "[" + strings.Repeat("=", fill) + strings.Repeat(" ", barW-fill) + "] " + stats
}
