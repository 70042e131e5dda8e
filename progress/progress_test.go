package progress_test

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/logbuf"
	"github.com/cxone-bridge/bridge/progress"
)

func TestPlainLines(t *testing.T) {
	var out logbuf.Buffer
	var mu sync.Mutex
	calls := 0
	frames := make(chan progress.Frame, 100)
	stop := progress.Start(&out, time.Millisecond, func(f progress.Frame) string {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		frames <- f
		return "line " + strings.Repeat("x", n%3)
	})
	for range 3 { // at least three periodic lines
		if f := <-frames; f.TTY || f.Last || f.Width != 0 {
			t.Fatalf("frame %+v: a buffer is not a terminal", f)
		}
	}
	stop()
	last := <-drain(frames)
	if !last.Last {
		t.Errorf("final frame not marked Last: %+v", last)
	}
	s := out.String()
	if strings.Contains(s, "\r") || strings.Contains(s, "\x1b") {
		t.Errorf("terminal control characters in plain output: %q", s)
	}
	if !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") < 4 {
		t.Errorf("output %q: want one line per frame", s)
	}
}

// drain returns a channel that yields the last frame sent before stop.
func drain(frames chan progress.Frame) <-chan progress.Frame {
	out := make(chan progress.Frame, 1)
	var last progress.Frame
	for {
		select {
		case f := <-frames:
			last = f
		default:
			out <- last
			return out
		}
	}
}

func TestMeter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	m := progress.NewMeter(time.Second, t0, 0)
	tests := []struct {
		after time.Duration
		n     int64
		want  float64
	}{
		{500 * time.Millisecond, 50, 100}, // since start
		{time.Second, 100, 100},
		{1500 * time.Millisecond, 400, 350}, // the last second: 50 at 0.5 s → 400 at 1.5 s
		{2500 * time.Millisecond, 400, 0},   // nothing in the last second
	}
	for _, tc := range tests {
		got := m.Rate(t0.Add(tc.after), tc.n)
		if math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("after %s at %d: rate %.1f, want %.1f", tc.after, tc.n, got, tc.want)
		}
	}
}
