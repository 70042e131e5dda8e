package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// The garbage collector's settings for `bridge run` when the environment
// sets none (GOGC, GOMEMLIMIT win when set).
//
// The bridge's live heap is small (a few MB plus what is buffered) and it
// allocates per event, so at Go's default GOGC=100 it collects dozens of
// times a second under load. Where the container has a memory limit, 80%
// of it becomes the runtime's soft limit and GOGC is raised to 200: half
// the collections, for a larger heap that the soft limit bounds (near it
// the collector runs as often as it must, whatever GOGC says), so the pod
// is never killed for it. Without a limit Go's defaults stay: GOGC=200
// alone took the peak RSS at 20 ms and 256 in flight from about 95 to 125
// MB, past the bridge's 100 MB target (docs/performance.md).
const (
	limitedGOGC       = 200
	memoryLimitShare  = 0.8
	cgroupV2MemoryMax = "/sys/fs/cgroup/memory.max"
	cgroupV1MemoryMax = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
)

// gcSettings are what tuneGC applied, for the start-up log line.
type gcSettings struct {
	GOGC        string // "200 (default)" or the environment's value
	MemoryLimit string // "off", "1.5GiB of a 1.9GiB container limit", or the environment's
}

// tuneGC applies the defaults above and says what is in force.
func tuneGC() gcSettings {
	return tuneGCWith(os.LookupEnv, cgroupV2MemoryMax, cgroupV1MemoryMax)
}

func tuneGCWith(lookupEnv func(string) (string, bool), limitFiles ...string) gcSettings {
	var s gcSettings
	gogc, gogcSet := lookupEnv("GOGC")
	if gogcSet {
		s.GOGC = gogc + " (GOGC)"
	} else {
		s.GOGC = "100 (Go's default: no container memory limit)"
	}
	if v, ok := lookupEnv("GOMEMLIMIT"); ok {
		s.MemoryLimit = v + " (GOMEMLIMIT)"
		return s
	}
	limit, ok := containerMemoryLimit(limitFiles...)
	if !ok {
		s.MemoryLimit = "none (no container memory limit found)"
		return s
	}
	soft := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(soft)
	s.MemoryLimit = mib(soft) + " (80% of the container's " + mib(limit) + ")"
	if !gogcSet {
		debug.SetGCPercent(limitedGOGC)
		s.GOGC = strconv.Itoa(limitedGOGC) + " (default under a memory limit)"
	}
	return s
}

// containerMemoryLimit reads the first of files (cgroup v2 memory.max, v1
// memory.limit_in_bytes) that holds a limit; "max", or v1's huge "no
// limit" value, is none.
func containerMemoryLimit(files ...string) (int64, bool) {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

func mib(n int64) string { return strconv.FormatInt(n>>20, 10) + "MiB" }
