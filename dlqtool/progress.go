package dlqtool

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// progress shows how far a replay is: on a terminal a bar rewritten in
// place with rate and ETA, otherwise a plain line every interval. It is
// ours rather than a library's: thirty lines on golang.org/x/term, which
// the module already uses, against a new dependency.
type progress struct {
	out      io.Writer
	tty      bool
	width    int
	interval time.Duration
	total    int64
	dry      bool

	offsets  atomic.Int64 // DLQ offsets handled (committed batches)
	replayed atomic.Int64

	began time.Time
	hist  []point // for the rate: offsets handled over the last seconds
}

type point struct {
	at time.Time
	n  int64
}

func newProgress(out io.Writer, interval time.Duration, total int64, dry bool) *progress {
	p := &progress{out: out, total: total, dry: dry, interval: interval, width: 80}
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 20 {
			p.width = w
		}
	}
	if p.interval <= 0 {
		p.interval = 5 * time.Second
		if p.tty {
			p.interval = 200 * time.Millisecond
		}
	}
	return p
}

func (p *progress) add(t *tally) {
	p.offsets.Add(t.offsets)
	p.replayed.Add(t.replayed)
}

// start prints until the returned stop is called, which prints the last
// state.
func (p *progress) start() (stop func()) {
	if p.out == nil || p.total == 0 {
		return func() {}
	}
	p.began = time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
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
	})
	return func() {
		close(done)
		wg.Wait()
		p.print(true)
	}
}

func (p *progress) print(last bool) {
	now := time.Now()
	n := p.offsets.Load()
	p.hist = append(p.hist, point{now, n})
	// Rate over the last ten seconds or so.
	for len(p.hist) > 2 && now.Sub(p.hist[1].at) > 10*time.Second {
		p.hist = p.hist[1:]
	}
	first := point{p.began, 0}
	if len(p.hist) > 1 && now.Sub(p.hist[0].at) > 0 && p.hist[0].n < n {
		first = p.hist[0]
	}
	var perSec float64
	if d := now.Sub(first.at).Seconds(); d > 0 {
		perSec = float64(n-first.n) / d
	}
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
	stats := fmt.Sprintf("%3.0f%% %d/%d  %s %d  %.1f/s  ETA %s", min(pct, 100), n, p.total, verb, p.replayed.Load(), perSec, eta)
	if !p.tty {
		fmt.Fprintf(p.out, "progress: %s\n", stats)
		return
	}
	barW := p.width - len(stats) - 4
	line := stats
	if barW >= 10 {
		fill := min(barW, int(float64(barW)*float64(n)/float64(p.total)))
		line = "[" + strings.Repeat("=", fill) + strings.Repeat(" ", barW-fill) + "] " + stats
	}
	end := ""
	if last {
		end = "\n"
	}
	fmt.Fprintf(p.out, "\r%s\x1b[K%s", line, end)
}
