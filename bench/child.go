package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is the bridge under measurement: `bridge run` as a process.
type child struct {
	cmd     *exec.Cmd
	addr    string // its operations listener
	exited  chan struct{}
	waitErr error

	mu        sync.Mutex
	tail      []string // last lines of its log
	pprofAddr string   // its pprof listener, once it logged it
}

const tailLines = 40

// startChild starts the bridge with cfgFile and returns once it is ready
// (its /readyz answers 200: group joined, token obtained).
func startChild(ctx context.Context, binary, cfgFile, dir string, out io.Writer) (*child, error) {
	cmd := exec.Command(binary, "run", "--config", cfgFile)
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start the bridge (%s): %w", binary, err)
	}
	ch := &child{cmd: cmd, exited: make(chan struct{})}
	addrCh := make(chan string, 1)
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		ch.readLog(stderr, addrCh)
	}()
	go func() {
		<-logDone
		ch.waitErr = cmd.Wait()
		close(ch.exited)
	}()

	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	select {
	case ch.addr = <-addrCh:
	case <-ch.exited:
		return nil, fmt.Errorf("bench: the bridge exited at start (%v); log:\n%s", ch.waitErr, ch.logTail())
	case <-deadline.C:
		ch.kill()
		return nil, fmt.Errorf("bench: the bridge did not start its operations listener within 60s; log:\n%s", ch.logTail())
	case <-ctx.Done():
		ch.kill()
		return nil, ctx.Err()
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready(ctx, "http://"+ch.addr+"/readyz") {
			return ch, nil
		}
		select {
		case <-ch.exited:
			return nil, fmt.Errorf("bench: the bridge exited at start (%v); log:\n%s", ch.waitErr, ch.logTail())
		case <-deadline.C:
			ch.kill()
			return nil, fmt.Errorf("bench: the bridge was not ready within 60s; log:\n%s", ch.logTail())
		case <-ctx.Done():
			ch.kill()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

func ready(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// readLog keeps the last lines of the child's log and finds the address of
// its operations listener.
func (ch *child) readLog(r io.Reader, addrCh chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	for sc.Scan() {
		line := sc.Text()
		ch.mu.Lock()
		ch.tail = append(ch.tail, line)
		if len(ch.tail) > tailLines {
			ch.tail = ch.tail[len(ch.tail)-tailLines:]
		}
		ch.mu.Unlock()
		var l struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Addr == "" {
			continue
		}
		switch {
		case l.Msg == "operations listener started" && !found:
			found = true
			addrCh <- l.Addr
		case l.Msg == "pprof listener started":
			ch.mu.Lock()
			ch.pprofAddr = l.Addr
			ch.mu.Unlock()
		}
	}
	io.Copy(io.Discard, r)
}

func (ch *child) logTail() string {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return "  " + strings.Join(ch.tail, "\n  ")
}

// cpu returns the child's user+system CPU seconds so far, from
// /proc/<pid>/stat (USER_HZ is 100 on every Linux ABI); ok is false where
// there is no /proc, and then only the whole life's rusage is known.
func (ch *child) cpu() (secs float64, ok bool) { return procCPU(ch.cmd.Process.Pid) }

// procCPU reads the user+system CPU seconds of pid from /proc/<pid>/stat.
func procCPU(pid int) (secs float64, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (utime + stime) / 100, true
}

// lifeCPU is the child's CPU time over its whole life, once it exited.
func (ch *child) lifeCPU() float64 {
	if ch.cmd.ProcessState == nil {
		return 0
	}
	return (ch.cmd.ProcessState.UserTime() + ch.cmd.ProcessState.SystemTime()).Seconds()
}

// profile fetches a CPU profile of secs seconds from the child's pprof
// endpoint into file; the result arrives on the channel.
func (ch *child) profile(ctx context.Context, file string, secs int) <-chan error {
	return ch.fetchProfile(ctx, file, fmt.Sprintf("profile?seconds=%d", secs))
}

// fetchProfile fetches /debug/pprof/<what> into file.
func (ch *child) fetchProfile(ctx context.Context, file, what string) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			ch.mu.Lock()
			addr := ch.pprofAddr
			ch.mu.Unlock()
			if addr == "" {
				return errors.New("the bridge logged no pprof listener")
			}
			url := fmt.Sprintf("http://%s/debug/pprof/%s", addr, what)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := scrapeClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("pprof answered %d", resp.StatusCode)
			}
			f, err := os.Create(file)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, resp.Body); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}()
	}()
	return done
}

// stop sends SIGTERM, waits for a clean exit and returns the peak RSS in
// bytes: VmHWM of /proc/<pid>/status, read just before the signal (the
// drain that follows allocates next to nothing). A bridge that does not
// exit 0 within a minute is an error.
func (ch *child) stop() (int64, error) {
	hwm := procHWM(ch.cmd.Process.Pid)
	if err := ch.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return 0, fmt.Errorf("bench: stop the bridge: %w", err)
	}
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	select {
	case <-ch.exited:
	case <-t.C:
		ch.kill()
		return 0, fmt.Errorf("bench: the bridge did not stop within a minute of SIGTERM; log:\n%s", ch.logTail())
	}
	if ch.waitErr != nil {
		return 0, fmt.Errorf("bench: the bridge exited with %v; log:\n%s", ch.waitErr, ch.logTail())
	}
	if hwm > 0 {
		return hwm, nil
	}
	// No /proc: getrusage's maxrss. On Linux it would be wrong: exec
	// carries the forking process's peak over into the child's maxrss
	// (and Go forks with CLONE_VM, so that is this harness's peak).
	if ru, ok := ch.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxrss := int64(ru.Maxrss)
		if runtime.GOOS != "darwin" {
			maxrss *= 1024 // kilobytes on the BSDs
		}
		return maxrss, nil
	}
	return 0, nil
}

// procHWM reads VmHWM (peak resident set) of pid, in bytes; 0 if unknown.
func procHWM(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			return kb * 1024
		}
	}
	return 0
}

// kill ends the child at once (cleanup paths); it is safe to call again.
func (ch *child) kill() {
	select {
	case <-ch.exited:
	default:
		_ = ch.cmd.Process.Kill()
		<-ch.exited
	}
}

// gauges samples the child's in-flight and buffered record gauges every
// 50ms until stop, which returns their means: how full the bridge kept its
// publish pool and its buffer.
func (ch *child) gauges(ctx context.Context) (stop func() (inFlight, buffered float64, scrapes int)) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var sumF, sumB float64
	var n, scrapes int // scrapes: those that completed
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond) // a scrape costs the bridge CPU
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			f, b, ok := scrapeGauges(ctx, "http://"+ch.addr+"/metrics")
			if ok {
				scrapes++
				sumF, sumB, n = sumF+f, sumB+b, n+1
			}
		}
	}()
	return func() (float64, float64, int) {
		cancel()
		<-done
		if n == 0 {
			return 0, 0, scrapes
		}
		return sumF / float64(n), sumB / float64(n), scrapes
	}
}

func scrapeGauges(ctx context.Context, url string) (inFlight, buffered float64, ok bool) {
	v, ok := scrapeMetrics(ctx, url, "cxone_bridge_in_flight_records", "cxone_bridge_buffered_records")
	return v["cxone_bridge_in_flight_records"], v["cxone_bridge_buffered_records"], ok
}

// mallocs is the child's count of heap allocations so far
// (go_memstats_mallocs_total of its /metrics).
func (ch *child) mallocs(ctx context.Context) (heapAllocated, bool) {
	v, ok := scrapeMetrics(ctx, "http://"+ch.addr+"/metrics", "go_memstats_mallocs_total", "go_memstats_alloc_bytes_total")
	return heapAllocated{objects: v["go_memstats_mallocs_total"], bytes: v["go_memstats_alloc_bytes_total"]}, ok
}

// heapAllocated is what a process allocated on its heap so far.
type heapAllocated struct{ objects, bytes float64 }

func (a heapAllocated) minus(b heapAllocated) heapAllocated {
	return heapAllocated{a.objects - b.objects, a.bytes - b.bytes}
}

// scrapeCost is what one scrape of the child's /metrics allocates in it,
// measured while it idles: the mean of n scrapes back to back, read from
// its own counters (each reading a scrape too). The harness samples the
// child's gauges every 200ms, 5 scrapes a second where Prometheus would
// make one in 15 or 30 seconds: at a few events a second that is most of
// what the bridge allocates, so the harness takes its own share out.
func (ch *child) scrapeCost(ctx context.Context, n int) (heapAllocated, bool) {
	a0, ok0 := ch.mallocs(ctx)
	for range n {
		if _, ok := ch.mallocs(ctx); !ok {
			return heapAllocated{}, false
		}
	}
	a1, ok1 := ch.mallocs(ctx)
	if !ok0 || !ok1 {
		return heapAllocated{}, false
	}
	d := a1.minus(a0)
	return heapAllocated{d.objects / float64(n+1), d.bytes / float64(n+1)}, true
}

// scrapeClient does not ask for gzip: compressing the page would cost the
// scraped bridge more than the loopback bytes are worth.
var scrapeClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// scrapeMetrics reads the values of the named unlabelled metrics from a
// Prometheus text page; ok when it found them all.
func scrapeMetrics(ctx context.Context, url string, names ...string) (map[string]float64, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, false
	}
	resp, err := scrapeClient.Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	got := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, found := strings.Cut(sc.Text(), " ")
		if !found || !want[name] {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			got[name] = v
		}
	}
	return got, len(got) == len(names)
}
