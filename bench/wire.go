package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
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
	// CPUProfile, when set, is a file the CPU profile (pprof) of the
	// measured loop (not the warm-up) is written to.
	CPUProfile string
}

// WireReport is what ServeWire prints when the loop is done: its wall time,
// its own CPU time (user + system) and the heap objects it allocated.
type WireReport struct {
	ElapsedSeconds float64 `json:"elapsed_s"`
	CPUSeconds     float64 `json:"cpu_s"`
	Allocs         uint64  `json:"allocs"`
	AllocBytes     uint64  `json:"alloc_bytes"`
	Requests       int     `json:"requests"`
}

// The requests file is flat, so that bench-wire can map it into memory
// instead of reading it into its heap: for each request, three
// little-endian uint32 lengths (key, correlation id, body) and the three
// byte strings. Mapped, the requests are outside the Go heap, so the bare
// client's collector paces itself on the client's own garbage, as the
// bridge's does. Read into the heap, 40,000 requests were a 25 MB live
// heap that let it collect about a third as often as a client holding
// only its working set, which made the ceiling a property of --records
// rather than of HTTP.

func writeRequests(path string, reqs []request) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	var hdr [12]byte
	for _, r := range reqs {
		binary.LittleEndian.PutUint32(hdr[0:], uint32(len(r.key)))
		binary.LittleEndian.PutUint32(hdr[4:], uint32(len(r.corr)))
		binary.LittleEndian.PutUint32(hdr[8:], uint32(len(r.body)))
		w.Write(hdr[:])
		w.WriteString(r.key)
		w.WriteString(r.corr)
		w.Write(r.body)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// mappedRequests are the requests of a file mapped read-only into memory:
// At returns views of the mapping (valid until close), and the only heap
// they take is the offsets, which hold no pointers.
type mappedRequests struct {
	data []byte
	off  []uint32 // where each request starts in data
}

func mapRequests(path string) (*mappedRequests, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() == 0 || st.Size() > math.MaxUint32 {
		return nil, fmt.Errorf("%s: %d bytes: want 1 to 4 GiB", path, st.Size())
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", path, err)
	}
	m := &mappedRequests{data: data}
	for at := 0; at < len(data); {
		if len(data)-at < 12 {
			m.close()
			return nil, fmt.Errorf("%s: truncated at byte %d", path, at)
		}
		n := 12 + int(binary.LittleEndian.Uint32(data[at:])) + int(binary.LittleEndian.Uint32(data[at+4:])) + int(binary.LittleEndian.Uint32(data[at+8:]))
		if n > len(data)-at {
			m.close()
			return nil, fmt.Errorf("%s: truncated at byte %d", path, at)
		}
		m.off = append(m.off, uint32(at))
		at += n
	}
	return m, nil
}

func (m *mappedRequests) len() int { return len(m.off) }

func (m *mappedRequests) at(i int) request {
	b := m.data[m.off[i]:]
	kl, cl, bl := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
	b = b[12:]
	key, corr, body := b[:kl], b[kl:kl+cl], b[kl+cl:kl+cl+bl:kl+cl+bl]
	return request{key: unsafe.String(unsafe.SliceData(key), len(key)), corr: unsafe.String(unsafe.SliceData(corr), len(corr)), body: body}
}

func (m *mappedRequests) close() { syscall.Munmap(m.data) }

// ServeWire is `bridge bench-wire`: it maps the requests, posts the first
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
	reqs, err := mapRequests(o.RequestsFile)
	if err != nil {
		return fmt.Errorf("bench-wire: %w", err)
	}
	defer reqs.close()
	if err := wireLoop(ctx, o.URL, o.Token, min(reqs.len(), 2000), reqs.at, o.Concurrency); err != nil {
		return fmt.Errorf("bench-wire: warm-up: %w", err)
	}
	fmt.Fprintln(out, "ready")
	line, err := bufio.NewReader(in).ReadString('\n')
	if strings.TrimSpace(line) != "go" {
		return fmt.Errorf("bench-wire: want \"go\" on stdin, got %q (%v)", line, err)
	}
	var prof *os.File
	if o.CPUProfile != "" {
		if prof, err = os.Create(o.CPUProfile); err != nil {
			return fmt.Errorf("bench-wire: %w", err)
		}
		defer prof.Close()
		if err := pprof.StartCPUProfile(prof); err != nil {
			return fmt.Errorf("bench-wire: %w", err)
		}
	}
	cpu0, allocs0, bytes0 := selfCPU(), heapAllocs(), heapAllocBytes()
	start := time.Now()
	err = wireLoop(ctx, o.URL, o.Token, reqs.len(), reqs.at, o.Concurrency)
	rep := WireReport{ElapsedSeconds: time.Since(start).Seconds(), CPUSeconds: selfCPU() - cpu0, Allocs: heapAllocs() - allocs0, AllocBytes: heapAllocBytes() - bytes0, Requests: reqs.len()}
	if prof != nil {
		pprof.StopCPUProfile()
		if cerr := prof.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("bench-wire: %w", err)
	}
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
func heapAllocs() uint64 { return readUint64Metric("/gc/heap/allocs:objects") }

// heapAllocBytes is the bytes of those.
func heapAllocBytes() uint64 { return readUint64Metric("/gc/heap/allocs:bytes") }

func readUint64Metric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// wireProcess runs the bare client as a process of its own (binary
// bench-wire) over the requests in file, calling atGo just before it lets
// the client start, and returns the client's report.
func wireProcess(ctx context.Context, binary, url, token, file string, concurrency int, profile string, atGo func()) (WireReport, error) {
	args := []string{"bench-wire", "--url", url, "--requests", file, "--concurrency", strconv.Itoa(concurrency)}
	if profile != "" {
		args = append(args, "--cpuprofile", profile)
	}
	cmd := exec.CommandContext(ctx, binary, args...)
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
