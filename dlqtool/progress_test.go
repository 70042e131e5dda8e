package dlqtool

import (
	"testing"

	"github.com/cxone-bridge/bridge/progress"
)

// TestProgressLine: the line gives the offsets read with their rate (the
// ETA's) and the records replayed with theirs, the summary's: with a
// filter or --rate the two differ, and neither passes for the other.
func TestProgressLine(t *testing.T) {
	p := newProgress(nil, 0, 100, false)
	p.offsets.Store(50)
	p.replayed.Store(10)
	got := p.line(progress.Frame{}, 25, 2.5)
	if want := "progress:  50% 50/100 read (25.0/s)  replayed 10 (2.5/s)  ETA 2s"; got != want {
		t.Errorf("line\n got %q\nwant %q", got, want)
	}
	p.refused.Store(3)
	if got := p.line(progress.Frame{}, 25, 2.5); got != "progress:  50% 50/100 read (25.0/s)  replayed 10 (2.5/s)  not replayed 3  ETA 2s" {
		t.Errorf("with refused records: %q", got)
	}
	p.refused.Store(0)
	p.dry = true
	if got := p.line(progress.Frame{}, 25, 2.5); got != "progress:  50% 50/100 read (25.0/s)  would replay 10 (2.5/s)  ETA 2s" {
		t.Errorf("dry run line %q", got)
	}
}
