package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/sink/cxonetest"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

func TestContainerMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		files  []string
		want   int64
		wantOK bool
	}{
		{"v2 limit", []string{write("v2", "268435456\n")}, 256 << 20, true},
		{"v2 max", []string{write("v2max", "max\n")}, 0, false},
		{"v1 no limit", []string{filepath.Join(dir, "absent"), write("v1", "9223372036854771712\n")}, 0, false},
		{"v1 limit after absent v2", []string{filepath.Join(dir, "absent"), write("v1b", "536870912")}, 512 << 20, true},
		{"garbage", []string{write("bad", "lots")}, 0, false},
		{"none", []string{filepath.Join(dir, "absent")}, 0, false},
	} {
		got, ok := containerMemoryLimit(tc.files...)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: %d %v, want %d %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}

// TestTuneGC: under a container memory limit the soft limit is 80% of it
// and GOGC 200; without one Go's defaults stay; the environment wins.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	dir := t.TempDir()
	limited := filepath.Join(dir, "memory.max")
	if err := os.WriteFile(limited, []byte("268435456\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	s := tuneGCWith(env(nil), limited)
	if s.GOGC != "200 (default under a memory limit)" || s.MemoryLimit != "204MiB (80% of the container's 256MiB)" ||
		gcPercent() != 200 || debug.SetMemoryLimit(-1) != 214748364 {
		t.Errorf("limited: %+v", s)
	}
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	s = tuneGCWith(env(nil), filepath.Join(dir, "absent"))
	if s.GOGC != "100 (Go's default: no container memory limit)" || s.MemoryLimit != "none (no container memory limit found)" ||
		gcPercent() != 100 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("unlimited: %+v", s)
	}
	s = tuneGCWith(env(map[string]string{"GOGC": "150"}), limited)
	if s.GOGC != "150 (GOGC)" || gcPercent() != 100 {
		t.Errorf("GOGC set: %+v", s)
	}
}

// gcPercent reads GOGC (SetGCPercent with a negative value would turn the
// collector off).
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestRunSaysItsGCSettings: run says its GC settings at start; those of
// the environment win and are named.
func TestRunSaysItsGCSettings(t *testing.T) {
	e := newEnv(t, 1, "")
	p := tc.StartBridge(t, bridgeBin, e.cfg, []string{"CXONE_CLIENT_SECRET=" + cxonetest.DefaultClientSecret})
	p.WaitLog(`"bridge starting"`, 20*time.Second)
	if !strings.Contains(p.Logs(), `"gogc":"`) || !strings.Contains(p.Logs(), `"memory_limit":"`) {
		t.Errorf("no default GOGC in the start-up line:\n%s", tail(p.Logs(), 5))
	}
	q := tc.StartBridge(t, bridgeBin, e.cfg, []string{"CXONE_CLIENT_SECRET=" + cxonetest.DefaultClientSecret, "GOGC=150", "GOMEMLIMIT=200MiB"})
	q.WaitLog(`"bridge starting"`, 20*time.Second)
	if !strings.Contains(q.Logs(), `"gogc":"150 (GOGC)"`) || !strings.Contains(q.Logs(), `"memory_limit":"200MiB (GOMEMLIMIT)"`) {
		t.Errorf("the environment's GC settings not named:\n%s", tail(q.Logs(), 5))
	}
}
