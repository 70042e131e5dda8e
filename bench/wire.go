package bench

import (
	"bufio"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The wire ceiling is the bare client: a net/http loop posting the very
// requests the bridge would post (prebuild), with the same connection pool
// size and concurrency, and nothing else. The bridge runs as a process of
// its own, so the honest ceiling is that loop in a process of its own too
// (`bridge bench-wire`, started by wireProcess): a client in the server's
// process talks to it over loopback just the same, but shares its
// scheduler, heap and garbage collector, and the server costs less CPU per
// event to it than to a client in another process (about 25 against
// 30–34 µs on a 2-vCPU machine). The in-process loop is still measured,
// for continuity with earlier reports (Result.WireInProcessEPS).

// EnvWireToken carries the bearer token to `bridge bench-wire` (not a flag:
// the command lines of processes are readable by every user).
const EnvWireToken = "BRIDGE_BENCH_WIRE_TOKEN"

// WireOptions configure ServeWire.
type WireOptions struct {
	URL          string // the events endpoint
	RequestsFile string // the requests, as writeRequests wrote them
	Concurrency  int
	Token        string // default: $BRIDGE_BENCH_WIRE_TOKEN
}

// WireReport is what ServeWire prints when the loop is done: its wall time,
// its own CPU time (user + system) and the heap objects it allocated.
type WireReport struct {
	ElapsedSeconds float64 `json:"elapsed_s"`
	CPUSeconds     float64 `json:"cpu_s"`
	Allocs         uint64  `json:"allocs"`
	Requests       int     `json:"requests"`
}

// wireRequest is request, exported for gob.
type wireRequest struct {
	Key, Corr string
	Body      []byte
}

func writeRequests(path string, reqs []request) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	out := make([]wireRequest, len(reqs))
	for i, r := range reqs {
		out[i] = wireRequest{r.key, r.corr, r.body}
	}
	if err := gob.NewEncoder(w).Encode(out); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readRequests(path string) ([]request, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var in []wireRequest
	if err := gob.NewDecoder(bufio.NewReader(f)).Decode(&in); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	reqs := make([]request, len(in))
	for i, r := range in {
		reqs[i] = request{key: r.Key, corr: r.Corr, body: r.Body}
	}
	return reqs, nil
}

// ServeWire is `bridge bench-wire`: it loads the requests, posts the first
// 2,000 as a warm-up (connections, heap), writes "ready" to out, waits for
// a line "go" on in, posts them all with o.Concurrency at a time, and
// writes one line of JSON, a [WireReport].
func ServeWire(ctx context.Context, in io.Reader, out io.Writer, o WireOptions) error {
	if o.Token == "" {
		o.Token = os.Getenv(EnvWireToken)
	}
	if o.URL == "" || o.RequestsFile == "" || o.Concurrency < 1 || o.Token == "" {
		return errors.New("bench-wire: --url, --requests, --concurrency and the token are required")
	}
	reqs, err := readRequests(o.RequestsFile)
	if err != nil {
		return fmt.Errorf("bench-wire: %w", err)
	}
	if err := wireLoop(ctx, o.URL, o.Token, reqs[:min(len(reqs), 2000)], o.Concurrency); err != nil {
		return fmt.Errorf("bench-wire: warm-up: %w", err)
	}
	fmt.Fprintln(out, "ready")
	line, err := bufio.NewReader(in).ReadString('\n')
	if strings.TrimSpace(line) != "go" {
		return fmt.Errorf("bench-wire: want \"go\" on stdin, got %q (%v)", line, err)
	}
	cpu0, allocs0 := selfCPU(), heapAllocs()
	start := time.Now()
	if err := wireLoop(ctx, o.URL, o.Token, reqs, o.Concurrency); err != nil {
		return fmt.Errorf("bench-wire: %w", err)
	}
	rep := WireReport{ElapsedSeconds: time.Since(start).Seconds(), CPUSeconds: selfCPU() - cpu0, Allocs: heapAllocs() - allocs0, Requests: len(reqs)}
	return json.NewEncoder(out).Encode(rep)
}

// selfCPU is this process's user + system CPU seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// heapAllocs is the number of heap objects this process allocated so far.
func heapAllocs() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// wireProcess runs the bare client as a process of its own (binary
// bench-wire) over the requests in file, calling atGo just before it lets
// the client start, and returns the client's report.
func wireProcess(ctx context.Context, binary, url, token, file string, concurrency int, atGo func()) (WireReport, error) {
	cmd := exec.CommandContext(ctx, binary, "bench-wire", "--url", url, "--requests", file, "--concurrency", strconv.Itoa(concurrency))
	cmd.Env = append(os.Environ(), EnvWireToken+"="+token)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return WireReport{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return WireReport{}, err
	}
	if err := cmd.Start(); err != nil {
		return WireReport{}, fmt.Errorf("start %s bench-wire: %w", binary, err)
	}
	r := bufio.NewReader(stdout)
	fail := func(err error) (WireReport, error) {
		cmd.Process.Kill()
		cmd.Wait()
		return WireReport{}, fmt.Errorf("%w; stderr: %s", err, strings.TrimSpace(stderr.String()))
	}
	if line, err := r.ReadString('\n'); strings.TrimSpace(line) != "ready" {
		return fail(fmt.Errorf("bench-wire did not get ready (%q, %v)", line, err))
	}
	atGo()
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		return fail(err)
	}
	line, err := r.ReadString('\n')
	var rep WireReport
	if err != nil || json.Unmarshal([]byte(line), &rep) != nil {
		return fail(fmt.Errorf("bench-wire gave no report (%q, %v)", line, err))
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		return WireReport{}, fmt.Errorf("bench-wire: %w; stderr: %s", err, strings.TrimSpace(stderr.String()))
	}
	return rep, nil
}
