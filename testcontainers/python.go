package testcontainers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvPythonCache overrides the folder that holds PythonVenv's virtual
// environments (default: the folder that holds the Kafka jar cache,
// ~/.cache/cxone-bridge).
const EnvPythonCache = "BRIDGE_PYTHON_CACHE"

// venvTimeout bounds creating one virtual environment: python3 -m venv and
// the pip install (a cold install of a few wheels takes seconds; the bound
// is for a registry that stops answering).
const venvTimeout = 10 * time.Minute

var (
	venvMu sync.Mutex
	venvs  = map[string]*venvResult{} // by requirements, once per test binary
)

type venvResult struct {
	once   sync.Once
	python string
	skip   string // why the test cannot have a venv here (no python3, no venv module)
	err    error
}

// PythonVenv returns the path of the python executable of a Python 3
// virtual environment in which `pip install` of requirements (pip
// requirement specifiers, or requirements-file lines such as
// "--only-binary=:all:") succeeded. Pin them (name==version): the
// environment is built once per machine and reused for as long as the same
// requirements are asked for.
//
// The environment lives in $BRIDGE_PYTHON_CACHE, else beside the Kafka jar
// cache (~/.cache/cxone-bridge), in a folder named by a hash of the
// requirements and of the interpreter (its version and base prefix), so a
// new pin or another python3 gets a new environment. It is built in place
// under an exclusive flock on "<folder>.lock" and marked complete last (the
// file .complete holds what was hashed), so concurrent test binaries build
// it once and none uses a half-built one; a build that died is thrown away
// and done again. (It is not built elsewhere and renamed into place: a
// virtual environment is not relocatable.)
//
// PythonVenv skips the test when python3 is not on PATH or cannot create
// virtual environments (no venv/ensurepip module: Debian's python3-venv),
// and fails it with pip's output when the install fails. It is quiet: one
// log line with the time taken when it builds, none when it reuses.
func PythonVenv(tb testing.TB, requirements ...string) string {
	tb.Helper()
	venvMu.Lock()
	key := strings.Join(requirements, "\n")
	r := venvs[key]
	if r == nil {
		r = &venvResult{}
		venvs[key] = r
	}
	venvMu.Unlock()
	r.once.Do(func() { r.python, r.skip, r.err = makeVenv(tb, requirements) })
	if r.skip != "" {
		tb.Skipf("testcontainers: %s: skipping a test that needs a Python 3 virtual environment", r.skip)
	}
	if r.err != nil {
		tb.Fatalf("testcontainers: Python virtual environment: %v", r.err)
	}
	return r.python
}

// pythonCacheDir is the folder that holds the virtual environments.
func pythonCacheDir() (string, error) {
	if d := os.Getenv(EnvPythonCache); d != "" {
		return d, nil
	}
	kafka, err := KafkaCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Dir(kafka), nil
}

// probeScript fails (ImportError) when the interpreter cannot create a
// virtual environment with pip in it, and prints what identifies the
// interpreter otherwise.
const probeScript = `import sys, venv, ensurepip
print(sys.version.replace("\n", " "))
print(sys.base_prefix)`

func makeVenv(tb testing.TB, requirements []string) (python, skip string, err error) {
	python3, err := exec.LookPath("python3")
	if err != nil {
		return "", "python3 is not on PATH", nil
	}
	out, err := exec.Command(python3, "-c", probeScript).CombinedOutput()
	if err != nil {
		return "", fmt.Sprintf("%s cannot create virtual environments (%v: %s; on Debian: apt-get install python3-venv)",
			python3, err, strings.TrimSpace(tail(string(out), 3))), nil
	}
	ident := "python " + strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "\npython base ")
	want := ident + "\n" + strings.Join(requirements, "\n") + "\n"
	sum := sha256.Sum256([]byte(want))
	root, err := pythonCacheDir()
	if err != nil {
		return "", "", err
	}
	dir := filepath.Join(root, "python-venv-"+hex.EncodeToString(sum[:8]))
	python = filepath.Join(dir, "bin", "python")
	if venvComplete(dir, want) {
		return python, "", nil
	}

	unlock, done, err := lockForBuild(tb, root, dir, func() bool { return venvComplete(dir, want) })
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if done { // another process built it while we waited
		return python, "", nil
	}
	if err := os.RemoveAll(dir); err != nil { // a build that died
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), venvTimeout)
	defer cancel()
	start := time.Now()
	if out, err := runQuiet(ctx, python3, "-m", "venv", dir); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("%s -m venv %s: %v\n%s", python3, dir, err, tail(out, 30))
	}
	venvTook := time.Since(start)
	reqFile := filepath.Join(dir, "requirements.txt")
	if err := os.WriteFile(reqFile, []byte(strings.Join(requirements, "\n")+"\n"), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", "", err
	}
	if out, err := runQuiet(ctx, python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", "-r", reqFile); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("pip install -r %s (%s): %v\n%s", reqFile, strings.Join(requirements, " "), err, tail(out, 80))
	}
	// The marker goes in last, atomically: a reader that sees it sees a
	// complete environment.
	tmp := filepath.Join(dir, ".complete.tmp")
	if err := os.WriteFile(tmp, []byte(want), 0o644); err != nil {
		return "", "", err
	}
	if err := os.Rename(tmp, filepath.Join(dir, ".complete")); err != nil {
		return "", "", err
	}
	took := time.Since(start)
	tb.Logf("testcontainers: Python virtual environment built in %s (venv %s, pip install of %d requirements %s) at %s",
		took.Round(100*time.Millisecond), venvTook.Round(100*time.Millisecond), len(requirements),
		(took - venvTook).Round(100*time.Millisecond), dir)
	return python, "", nil
}

// venvComplete reports whether dir is a finished environment for want: its
// marker holds want, and its interpreter is there (the base interpreter
// it links to may have been removed since).
func venvComplete(dir, want string) bool {
	marker, err := os.ReadFile(filepath.Join(dir, ".complete"))
	if err != nil || string(marker) != want {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, "bin", "python"))
	return err == nil
}

// lockForBuild takes the lock of the cache folder dir (under root, which
// it creates), for building it; done reports that another process
// completed it while this one waited (complete says so). The caller
// releases the lock with unlock.
func lockForBuild(tb testing.TB, root, dir string, complete func() bool) (unlock func(), done bool, err error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, false, err
	}
	if unlock, err = lockFile(tb, dir+".lock"); err != nil {
		return nil, false, err
	}
	return unlock, complete(), nil
}

// lockFile takes an exclusive flock on path (created if needed) and returns
// its release. It logs when it has to wait for another process.
func lockFile(tb testing.TB, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	err = syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		tb.Logf("testcontainers: waiting for another process that holds %s", path)
		err = syscall.Flock(fd, syscall.LOCK_EX)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("flock %s: %v", path, err)
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}

// runQuiet runs a command in its own process group, its stdin empty, and
// returns its stdout and stderr interleaved. When ctx ends, the whole group
// is killed (pip may have started builds of its own).
func runQuiet(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1")
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%v (%v)", err, ctx.Err())
	}
	return out.String(), err
}
