package testcontainers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is a child process started by this package (a bridge, or any
// command given to StartProcess). It runs in its own process group with a
// parent-death signal, so it dies with the test binary, and t.Cleanup kills
// it (the whole group) if the test did not wait for it.
type Process struct {
	tb   testing.TB
	name string
	cmd  *exec.Cmd
	done chan struct{}
	code int // valid once done is closed

	mu   sync.Mutex
	logs bytes.Buffer // stdout and stderr, interleaved; nil-writer for file-logged processes
}

// lockedBuffer lets exec's copy goroutines write into Process.logs.
type lockedBuffer struct{ p *Process }

func (w lockedBuffer) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.logs.Write(b)
}

// sysProcAttr: own process group (so a kill reaches every process it
// spawned) and SIGKILL when the test binary's thread that started it dies
// (so nothing outlives a test binary killed by -timeout or a signal).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// startCmd starts cmd in its own process group and reaps it in the
// background. When out is nil, stdout and stderr go to the Process's log
// buffer. onExit, if not nil, runs with the exit code after the process was
// reaped and before Done is closed.
func startCmd(tb testing.TB, name string, cmd *exec.Cmd, out io.Writer, onExit func(code int)) (*Process, error) {
	p := &Process{tb: tb, name: name, cmd: cmd, done: make(chan struct{})}
	if out == nil {
		out = lockedBuffer{p}
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = 5 * time.Second // a grandchild holding the pipe must not block Wait
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		err := cmd.Wait()
		p.code = exitCode(cmd, err)
		if onExit != nil {
			onExit(p.code)
		}
		close(p.done)
	}()
	return p, nil
}

func exitCode(cmd *exec.Cmd, err error) int {
	st := cmd.ProcessState
	if st == nil {
		if err != nil {
			return -1
		}
		return 0
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return st.ExitCode()
}

// StartProcess starts a command as a test process: in its own process group,
// stdout and stderr kept for Logs, killed (with its group) and reaped in
// t.Cleanup. env is the complete environment besides PATH and HOME, which
// are passed through.
func StartProcess(tb testing.TB, name string, args []string, env []string) *Process {
	tb.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	p, err := startCmd(tb, filepath.Base(name), cmd, nil, nil)
	if err != nil {
		tb.Fatalf("testcontainers: start %s: %v", name, err)
	}
	tb.Cleanup(func() { p.stop(0) })
	return p
}

// StartBridge runs `bin run --config configPath` (bin from BuildBridge) with
// env added to PATH and HOME. See StartProcess.
func StartBridge(tb testing.TB, bin, configPath string, env []string) *Process {
	tb.Helper()
	return StartProcess(tb, bin, []string{"run", "--config", configPath}, env)
}

// Pid is the process id (and process group id).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit status once Exited: the code, or -N when killed by
// signal N. It is -1 while the process runs.
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.code
}

// Signal sends sig to the process (not its group). It is a no-op once the
// process has exited.
func (p *Process) Signal(sig os.Signal) error {
	if p.Exited() {
		return nil
	}
	err := p.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// signalGroup sends sig to the process's whole group while the leader has
// not been reaped (after that the group id could be reused).
func (p *Process) signalGroup(sig syscall.Signal) {
	if p.Exited() {
		return
	}
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// Kill sends SIGKILL to the process group and waits (up to 30 s) until the
// process is reaped.
func (p *Process) Kill() {
	p.signalGroup(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.tb.Errorf("testcontainers: %s (pid %d) not reaped 30 s after SIGKILL", p.name, p.Pid())
	}
}

// stop sends SIGTERM (when grace > 0) and waits up to grace for the exit,
// then SIGKILLs the group. It reports whether the process exited within the
// grace period.
func (p *Process) stop(grace time.Duration) bool {
	if p.Exited() {
		return true
	}
	if grace > 0 {
		p.signalGroup(syscall.SIGTERM)
		select {
		case <-p.done:
			return true
		case <-time.After(grace):
		}
	}
	p.Kill()
	return false
}

// Wait waits up to timeout for the process to exit and returns its exit code
// (-N when killed by signal N). On timeout it fails the test (FailNow: call
// it from the test's goroutine) with the tail of the logs.
func (p *Process) Wait(timeout time.Duration) (exitCode int) {
	p.tb.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		p.tb.Fatalf("testcontainers: %s (pid %d) did not exit within %s; log tail:\n%s", p.name, p.Pid(), timeout, tail(p.Logs(), 30))
		return 0
	}
}

// Logs returns everything the process wrote to stdout and stderr so far.
func (p *Process) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// WaitLog waits up to timeout until the logs contain substr; on timeout it
// fails the test (FailNow) with the tail of the logs.
func (p *Process) WaitLog(substr string, timeout time.Duration) {
	p.tb.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.Logs(), substr) {
		if time.Now().After(deadline) {
			p.tb.Fatalf("testcontainers: %s: no %q in the log within %s; tail:\n%s", p.name, substr, timeout, tail(p.Logs(), 30))
		}
		if p.Exited() && !strings.Contains(p.Logs(), substr) {
			p.tb.Fatalf("testcontainers: %s exited (code %d) without logging %q; tail:\n%s", p.name, p.code, substr, tail(p.Logs(), 30))
		}
		select {
		case <-p.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// RSSKiB is the process's resident set size in KiB from /proc, or 0 when it
// has exited.
func (p *Process) RSSKiB() int64 { return RSSKiB(p.Pid()) }

// PeakRSSKiB is the process's peak resident set size so far (its high water
// mark) in KiB from /proc, or 0 when it has exited.
func (p *Process) PeakRSSKiB() int64 { return PeakRSSKiB(p.Pid()) }

// RSSKiB reads VmRSS of a process from /proc/<pid>/status (0 if unknown).
func RSSKiB(pid int) int64 { return procStatusKiB(pid, "VmRSS:") }

// PeakRSSKiB reads VmHWM, the peak resident set size since the process
// started, from /proc/<pid>/status (0 if unknown).
func PeakRSSKiB(pid int) int64 { return procStatusKiB(pid, "VmHWM:") }

// procStatusKiB reads the field (with its colon) of /proc/<pid>/status, a
// number of kB; 0 if unknown.
func procStatusKiB(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n
			}
		}
	}
	return 0
}
