package demo

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// progress prints the live progress line: on a terminal one line rewritten
// in place, otherwise a plain line now and then.
type progress struct {
	out      io.Writer
	r        *runner
	tty      bool
	fd       int // of the terminal
	interval time.Duration
	enabled  bool

	// rate window: finished counts of the last second or so
	hist []point
}

type point struct {
	at time.Time
	n  int64
}

func newProgress(o *Options, r *runner) *progress {
	p := &progress{out: o.Out, r: r, enabled: o.Progress, interval: o.ProgressInterval}
	if f, ok := o.Out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty, p.fd = true, int(f.Fd())
	}
	if p.interval <= 0 {
		p.interval = 2 * time.Second
		if p.tty {
			p.interval = 250 * time.Millisecond
		}
	}
	return p
}

// start prints progress until stop is called; stop prints the last line.
func (p *progress) start() (stop func()) {
	if !p.enabled {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.print(false)
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		p.print(true)
	}
}

func (p *progress) print(last bool) {
	now := time.Now()
	r := p.r
	n := r.obs.finished.Load()
	p.hist = append(p.hist, point{now, n})
	// Rate over the last second (or the last two points, if they are
	// further apart).
	i := 0
	for i < len(p.hist)-2 && now.Sub(p.hist[i+1].at) >= time.Second {
		i++
	}
	p.hist = p.hist[i:]
	var rate float64
	if last {
		if el := time.Duration(r.obs.lastFinish.Load() - r.started.UnixNano()); el > 0 && n > 0 {
			rate = float64(n) / el.Seconds()
		}
	} else if first := p.hist[0]; now.Sub(first.at) > 0 && len(p.hist) > 1 {
		rate = float64(n-first.n) / now.Sub(first.at).Seconds()
	} else if el := now.Sub(r.started); el > 0 {
		rate = float64(n) / el.Seconds()
	}
	st := r.bridge.Consumer().Stats()
	format := "%5.1fs  finished %d/%d  %5.0f records/s  delivered %d  DLQ %d  in flight %d  breaker %s"
	if p.tty {
		format = "%.1fs %d/%d %.0f rec/s delivered %d DLQ %d in-flight %d breaker %s" // fits 80 columns
	}
	line := fmt.Sprintf(format, now.Sub(r.started).Seconds(), n, len(r.samples), rate, r.pub.delivered.Load(),
		r.obs.dlq.Load(), st.InFlight, r.bridge.BreakerState())
	if st.Paused {
		line += " (paused)"
	}
	if p.tty {
		// A line longer than the terminal wraps, and \r then rewrites
		// only its last part: keep it within the width.
		if w, _, err := term.GetSize(p.fd); err == nil && w > 1 && len(line) >= w {
			line = line[:w-1]
		}
	}
	switch {
	case p.tty && last:
		fmt.Fprintf(p.out, "\r%s\x1b[K\n", line)
	case p.tty:
		fmt.Fprintf(p.out, "\r%s\x1b[K", line)
	default:
		fmt.Fprintln(p.out, line)
	}
}
