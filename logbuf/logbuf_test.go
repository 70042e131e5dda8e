package logbuf_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/cxone-bridge/bridge/logbuf"
)

// TestConcurrent: writes from many goroutines while String is read all
// arrive whole (run with -race).
func TestConcurrent(t *testing.T) {
	var b logbuf.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				b.Write([]byte("line\n"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := strings.Count(b.String(), "line\n"); n != 800 {
		t.Errorf("%d lines, want 800", n)
	}
}
