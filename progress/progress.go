// Package progress prints a live status line for long-running commands
// (bridge demo, bridge dlq replay): on a terminal one line rewritten in
// place, kept within the terminal's width; otherwise a plain line now and
// then, fit for logs. It is a few dozen lines on golang.org/x/term rather
// than a progress-bar library: the commands render their own line (counts,
// rate, ETA, a bar), and this only decides where and how often it goes.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// Frame is what a render function is told about the line it draws.
type Frame struct {
	Now   time.Time
	TTY   bool // the line is rewritten in place on a terminal
	Width int  // the terminal's width; 0 when not a terminal
	Last  bool // the final line, printed by stop
}

// Default intervals between lines.
const (
	TTYInterval   = 250 * time.Millisecond
	PlainInterval = 2 * time.Second
)

// Start prints render's line every interval (0: TTYInterval on a terminal,
// PlainInterval otherwise) until stop is called; stop prints the line a
// last time (Frame.Last) and returns once nothing more will be written.
// render is never called concurrently with itself.
func Start(out io.Writer, interval time.Duration, render func(Frame) string) (stop func()) {
	fd, tty := -1, false
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd, tty = int(f.Fd()), true
	}
	if interval <= 0 {
		interval = PlainInterval
		if tty {
			interval = TTYInterval
		}
	}
	print := func(last bool) {
		fr := Frame{Now: time.Now(), TTY: tty, Last: last}
		if tty {
			if w, _, err := term.GetSize(fd); err == nil {
				fr.Width = w
			}
		}
		line := render(fr)
		if !tty {
			fmt.Fprintln(out, line)
			return
		}
		// A line longer than the terminal wraps, and \r then rewrites only
		// its last part: keep it within the width.
		if fr.Width > 1 && len(line) >= fr.Width {
			line = line[:fr.Width-1]
		}
		end := ""
		if last {
			end = "\n"
		}
		fmt.Fprintf(out, "\r%s\x1b[K%s", line, end)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				print(false)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		print(true)
	}
}

// Meter measures the rate of a growing count over a sliding window.
type Meter struct {
	window time.Duration
	start  point
	hist   []point
}

type point struct {
	at time.Time
	n  int64
}

// NewMeter returns a Meter whose rate covers about the last window,
// counting from n at start.
func NewMeter(window time.Duration, start time.Time, n int64) *Meter {
	return &Meter{window: window, start: point{start, n}}
}

// Rate records the count n at now and returns the count's growth per
// second over the window (since start while the window is not full yet).
func (m *Meter) Rate(now time.Time, n int64) float64 {
	m.hist = append(m.hist, point{now, n})
	for len(m.hist) > 2 && now.Sub(m.hist[1].at) >= m.window {
		m.hist = m.hist[1:]
	}
	from := m.start
	if len(m.hist) > 1 && now.Sub(m.hist[0].at) >= m.window {
		from = m.hist[0]
	}
	d := now.Sub(from.at).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(n-from.n) / d
}
