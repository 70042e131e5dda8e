package testcontainers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/poll"
)

// Environment variables read by StartApicurio.
const (
	// EnvRegistrySkip, when set to a non-empty value other than
	// 0/false/no, makes StartApicurio return nil (the caller falls back
	// to an in-process fake registry).
	EnvRegistrySkip = "BRIDGE_TEST_REGISTRY_SKIP"
	// EnvApicurioCache overrides the folder that holds the unpacked
	// Apicurio Registry releases (default: the folder that holds the Kafka
	// jar cache, ~/.cache/cxone-bridge).
	EnvApicurioCache = "BRIDGE_APICURIO_CACHE"
	// EnvApicurioJava names the java launcher to run Apicurio Registry
	// with, instead of the one StartApicurio looks for; a Java older than
	// 21 gets the 2.x release.
	EnvApicurioJava = "BRIDGE_APICURIO_JAVA"
)

// Bounds of Apicurio Registry's life cycle.
const (
	apicurioStartTimeout = 120 * time.Second // ready: 4–8 s alone, more beside Kafka on 2 cores
	apicurioHeap         = "256m"
	apicurioCCompat      = "/apis/ccompat/v7" // the Confluent-compatible API
)

// apicurioRelease is one Apicurio Registry release that StartApicurio can
// run: its version in Maven Central (io.apicurio:apicurio-registry-app,
// classifier "all", a tar.gz of the Quarkus application), the oldest Java
// it runs on, and its launcher jar inside the tarball.
type apicurioRelease struct {
	version string
	minJava int
	jar     string
}

// apicurioReleases, newest first: StartApicurio runs the first one that
// the Java it found can run. 2.6.13.Final (Java 17) lacks GET
// /schemas/ids/{id}/subjects.
var apicurioReleases = []apicurioRelease{
	{version: "3.3.3", minJava: 21, jar: "quarkus-run.jar"},
	{version: "2.6.13.Final", minJava: 17, jar: "apicurio-registry-app-2.6.13.Final-runner.jar"},
}

func (r apicurioRelease) artifact() string {
	return "io.apicurio:apicurio-registry-app:" + r.version + ":tar.gz:all"
}

func (r apicurioRelease) tarball() string {
	return "apicurio-registry-app-" + r.version + "-all.tar.gz"
}

// apicurioFetchPlugin is the Maven plugin that fetches the tarball, pinned
// so that a cold fetch does not depend on the newest plugin release.
const apicurioFetchPlugin = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy"

// Apicurio is an Apicurio Registry that StartApicurio started: a JVM
// process on 127.0.0.1 with in-memory storage, stopped at the test's
// cleanup.
type Apicurio struct {
	// Version is the Apicurio Registry release that runs.
	Version string
	// JavaVersion is the major version of the JVM it runs on.
	JavaVersion int

	base string // http://127.0.0.1:PORT
	proc *Process
}

// URL is the base URL of the registry's Confluent-compatible API,
// http://127.0.0.1:PORT/apis/ccompat/v7: what a Confluent Schema Registry
// client is given.
func (a *Apicurio) URL() string { return a.base + apicurioCCompat }

// BaseURL is the registry's root, http://127.0.0.1:PORT (its own REST API
// is under /apis/registry/).
func (a *Apicurio) BaseURL() string { return a.base }

// Process is the registry's JVM (logs, RSS).
func (a *Apicurio) Process() *Process { return a.proc }

// HasSubjectsByID reports whether the release answers GET
// /schemas/ids/{id}/subjects (3.x does; 2.6.13.Final answers 404).
func (a *Apicurio) HasSubjectsByID() bool { return !strings.HasPrefix(a.Version, "2.") }

var (
	apicurioJavaOnce sync.Once
	apicurioJavaPath string
	apicurioJavaMaj  int
	apicurioJavaSkip string // why there is no usable Java

	apicurioFetchMu sync.Mutex
	apicurioFetched = map[string]*apicurioFetch{} // by version, once per test binary
)

type apicurioFetch struct {
	once sync.Once
	dir  string
	skip string
	err  error
}

// StartApicurio starts Apicurio Registry (in-memory storage, loopback
// only, heap bounded to 256 MiB) for the test and returns it once its
// Confluent-compatible API answers GET /subjects with 200; t.Cleanup stops
// it. It runs release 3.3.3 on a Java 21 or newer ($BRIDGE_APICURIO_JAVA,
// else $JAVA_HOME, java on PATH, or the newest JDK under /usr/lib/jvm),
// else 2.6.13.Final on Java 17.
//
// The release is fetched from Maven Central with mvn, once per machine,
// into $BRIDGE_APICURIO_CACHE, else beside the Kafka jar cache
// (~/.cache/cxone-bridge/apicurio-registry-<version>): downloaded and
// unpacked in a scratch folder, marked complete and renamed into place
// under an exclusive flock, so concurrent test binaries fetch it once and
// none runs a half-unpacked one.
//
// It returns nil, after logging why, when the test should use another
// registry: $BRIDGE_TEST_REGISTRY_SKIP is set, no Java 17 or newer is
// found, or the release is not in the cache and mvn is not on PATH. Any
// other failure (the fetch, a JVM that exits or is not ready within two
// minutes) fails the test with the reason and the tail of the JVM's log.
func StartApicurio(tb testing.TB) *Apicurio {
	tb.Helper()
	if envTrue(EnvRegistrySkip) {
		tb.Logf("testcontainers: %s is set: no Apicurio Registry", EnvRegistrySkip)
		return nil
	}
	apicurioJavaOnce.Do(func() { apicurioJavaPath, apicurioJavaMaj, apicurioJavaSkip = findApicurioJava() })
	if apicurioJavaSkip != "" {
		tb.Logf("testcontainers: no Apicurio Registry: %s", apicurioJavaSkip)
		return nil
	}
	var rel apicurioRelease
	for _, r := range apicurioReleases {
		if apicurioJavaMaj >= r.minJava {
			rel = r
			break
		}
	}

	apicurioFetchMu.Lock()
	f := apicurioFetched[rel.version]
	if f == nil {
		f = &apicurioFetch{}
		apicurioFetched[rel.version] = f
	}
	apicurioFetchMu.Unlock()
	f.once.Do(func() { f.dir, f.skip, f.err = fetchApicurio(tb, rel) })
	if f.skip != "" {
		tb.Logf("testcontainers: no Apicurio Registry: %s", f.skip)
		return nil
	}
	if f.err != nil {
		tb.Fatalf("testcontainers: Apicurio Registry %s: %v", rel.version, f.err)
	}

	start := time.Now()
	var err error
	for attempt := 1; attempt <= maxStartAttempt; attempt++ {
		var a *Apicurio
		if a, err = launchApicurio(tb, rel, f.dir); err == nil {
			tb.Logf("testcontainers: Apicurio Registry %s (Java %d) ready in %s at %s (RSS %d MiB)",
				rel.version, apicurioJavaMaj, time.Since(start).Round(10*time.Millisecond), a.URL(), a.proc.RSSKiB()>>10)
			return a
		}
		if !errors.Is(err, errPortTaken) {
			break
		}
		tb.Logf("testcontainers: Apicurio Registry: %v; retrying with other ports", err)
	}
	tb.Fatalf("testcontainers: start Apicurio Registry %s (Java %d, %s): %v", rel.version, apicurioJavaMaj, apicurioJavaPath, err)
	return nil
}

// launchApicurio starts the JVM on two free loopback ports (the API and
// Quarkus' management interface, which would otherwise listen on
// 0.0.0.0:9000) and waits until it is ready. On failure the JVM is
// stopped; the error wraps errPortTaken when a port was taken before the
// JVM bound it.
func launchApicurio(tb testing.TB, rel apicurioRelease, dir string) (*Apicurio, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	work := tb.TempDir() // the JVM's working and temporary folder (Vert.x writes its cache there)
	cmd := exec.Command(apicurioJavaPath,
		"-Xmx"+apicurioHeap, "-XX:+ExitOnOutOfMemoryError",
		"-Djava.io.tmpdir="+work,
		"-jar", filepath.Join(dir, rel.jar))
	cmd.Dir = work
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"QUARKUS_HTTP_HOST=127.0.0.1", "QUARKUS_HTTP_PORT=" + strconv.Itoa(ports[0]),
		"QUARKUS_MANAGEMENT_HOST=127.0.0.1", "QUARKUS_MANAGEMENT_PORT=" + strconv.Itoa(ports[1]),
	}
	p, err := startCmd(tb, "apicurio-registry "+rel.version, cmd, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("start %s: %v", apicurioJavaPath, err)
	}
	// Registered after TempDir, so it runs before the folder is removed.
	tb.Cleanup(func() { p.stop(cleanupGrace) })
	a := &Apicurio{Version: rel.version, JavaVersion: apicurioJavaMaj, base: "http://127.0.0.1:" + strconv.Itoa(ports[0]), proc: p}

	client := &http.Client{Timeout: 2 * time.Second}
	last := "no answer yet"
	ready := func() bool {
		if p.Exited() {
			return true
		}
		resp, err := client.Get(a.URL() + "/subjects")
		if err != nil {
			last = err.Error()
			return false
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		last = fmt.Sprintf("GET %s/subjects: %s %s", a.URL(), resp.Status, strings.TrimSpace(string(body)))
		return resp.StatusCode == http.StatusOK
	}
	ok := poll.Check(apicurioStartTimeout, ready)
	switch {
	case p.Exited():
		logs := p.Logs()
		if strings.Contains(logs, "Address already in use") || strings.Contains(logs, "already bound") {
			return nil, fmt.Errorf("exited: %w", errPortTaken)
		}
		return nil, fmt.Errorf("the JVM exited with code %d before it was ready; log tail:\n%s", p.ExitCode(), tail(logs, 40))
	case !ok:
		p.stop(0)
		return nil, fmt.Errorf("not ready within %s (last: %s); log tail:\n%s", apicurioStartTimeout, last, tail(p.Logs(), 40))
	}
	return a, nil
}

// findApicurioJava returns the java launcher to run Apicurio Registry with
// and its major version: $BRIDGE_APICURIO_JAVA as it is; else the first of
// $JAVA_HOME/bin/java, java on PATH and the JDKs under /usr/lib/jvm (newest
// first) that is Java 21 or newer; else the first that is Java 17 or newer.
// skip says why there is none.
func findApicurioJava() (path string, major int, skip string) {
	if p := os.Getenv(EnvApicurioJava); p != "" {
		m, err := javaMajor(p)
		if err != nil {
			return "", 0, fmt.Sprintf("%s=%s: %v", EnvApicurioJava, p, err)
		}
		if m < apicurioReleases[len(apicurioReleases)-1].minJava {
			return "", 0, fmt.Sprintf("%s=%s is Java %d; Apicurio Registry needs 17 or newer", EnvApicurioJava, p, m)
		}
		return p, m, ""
	}
	type found struct {
		path  string
		major int
	}
	var all []found
	seen := map[string]bool{}
	add := func(paths ...string) []found {
		var fs []found
		for _, c := range paths {
			real, err := filepath.EvalSymlinks(c)
			if err != nil || seen[real] {
				continue
			}
			seen[real] = true
			if m, err := javaMajor(c); err == nil {
				fs = append(fs, found{c, m})
			}
		}
		return fs
	}
	if home := os.Getenv("JAVA_HOME"); home != "" {
		all = append(all, add(filepath.Join(home, "bin", "java"))...)
	}
	if p, err := exec.LookPath("java"); err == nil {
		all = append(all, add(p)...)
	}
	jvms, _ := filepath.Glob("/usr/lib/jvm/*/bin/java")
	installed := add(jvms...)
	sort.SliceStable(installed, func(i, j int) bool { return installed[i].major > installed[j].major })
	all = append(all, installed...)
	for _, least := range []int{apicurioReleases[0].minJava, apicurioReleases[len(apicurioReleases)-1].minJava} {
		for _, f := range all {
			if f.major >= least {
				return f.path, f.major, ""
			}
		}
	}
	return "", 0, "no Java 17 or newer (JAVA_HOME, PATH, /usr/lib/jvm) to run Apicurio Registry with"
}

// javaMajor runs java -version and returns the major version.
func javaMajor(java string) (int, error) {
	out, err := exec.Command(java, "-version").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s -version: %v: %s", java, err, strings.TrimSpace(tail(string(out), 3)))
	}
	m := javaVersionRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("%s -version: cannot read the version from %q", java, out)
	}
	major, _ := strconv.Atoi(string(m[1]))
	if major == 1 && len(m[2]) > 0 { // 1.8 style
		major, _ = strconv.Atoi(string(m[2]))
	}
	return major, nil
}

// apicurioCacheRoot is the folder that holds the unpacked releases.
func apicurioCacheRoot() (string, error) {
	if d := os.Getenv(EnvApicurioCache); d != "" {
		return d, nil
	}
	kafka, err := KafkaCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Dir(kafka), nil
}

// apicurioComplete reports whether dir is a finished unpack of rel: its
// marker names the artifact, and the launcher jar is there.
func apicurioComplete(dir string, rel apicurioRelease) bool {
	marker, err := os.ReadFile(filepath.Join(dir, ".complete"))
	if err != nil || strings.TrimSpace(string(marker)) != rel.artifact() {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, rel.jar))
	return err == nil
}

// fetchApicurio returns the folder with rel unpacked, fetching it first
// (mvn dependency:copy, then tar) when the cache does not hold it. skip
// is set, and nothing fetched, when mvn is not on PATH.
func fetchApicurio(tb testing.TB, rel apicurioRelease) (dir, skip string, err error) {
	root, err := apicurioCacheRoot()
	if err != nil {
		return "", "", err
	}
	dir = filepath.Join(root, "apicurio-registry-"+rel.version)
	if apicurioComplete(dir, rel) {
		return dir, "", nil
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		return "", fmt.Sprintf("Apicurio Registry %s is not in %s and mvn is not on PATH to fetch it", rel.version, dir), nil
	}
	unlock, done, err := lockForBuild(tb, root, dir, func() bool { return apicurioComplete(dir, rel) })
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if done { // another process fetched it while we waited
		return dir, "", nil
	}

	tb.Logf("testcontainers: Apicurio Registry %s not in %s; fetching %s from Maven Central (once; about 160 MB)", rel.version, dir, rel.artifact())
	start := time.Now()
	scratch, err := os.MkdirTemp(root, "apicurio-registry-"+rel.version+".partial.")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(scratch) // gone once renamed; a failed fetch leaves nothing
	// MkdirTemp makes it 0700; the cache is shared like the Kafka jars'.
	if err := os.Chmod(scratch, 0o755); err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	mvnCmd := exec.CommandContext(ctx, mvn, "-q", "-B", "-Dstyle.color=never", apicurioFetchPlugin,
		"-Dartifact="+rel.artifact(), "-DoutputDirectory="+scratch)
	mvnCmd.Dir = scratch // no pom.xml there: mvn runs without a project
	if out, err := runFetchStep(ctx, mvnCmd); err != nil {
		return "", "", fmt.Errorf("mvn %s -Dartifact=%s: %v\n%s", apicurioFetchPlugin, rel.artifact(), err, tail(out, 30))
	}
	downloaded := time.Since(start)
	tarball := filepath.Join(scratch, rel.tarball())
	if out, err := runFetchStep(ctx, exec.CommandContext(ctx, "tar", "-xzf", tarball, "-C", scratch)); err != nil {
		return "", "", fmt.Errorf("tar -xzf %s: %v\n%s", tarball, err, tail(out, 30))
	}
	if err := os.Remove(tarball); err != nil {
		return "", "", err
	}
	if _, err := os.Stat(filepath.Join(scratch, rel.jar)); err != nil {
		return "", "", fmt.Errorf("the tarball %s has no %s: %v", rel.tarball(), rel.jar, err)
	}
	// The marker goes in before the rename, which is atomic: a reader that
	// sees the folder sees a complete one.
	if err := os.WriteFile(filepath.Join(scratch, ".complete"), []byte(rel.artifact()+"\n"), 0o644); err != nil {
		return "", "", err
	}
	if err := os.RemoveAll(dir); err != nil { // a fetch that died after the rename, or another release's files
		return "", "", err
	}
	if err := os.Rename(scratch, dir); err != nil {
		return "", "", err
	}
	tb.Logf("testcontainers: fetched Apicurio Registry %s into %s in %s (mvn %s, unpack %s)", rel.version, dir,
		time.Since(start).Round(100*time.Millisecond), downloaded.Round(100*time.Millisecond), (time.Since(start) - downloaded).Round(100*time.Millisecond))
	return dir, "", nil
}

// runFetchStep runs cmd in its own process group (killed whole when ctx
// ends) and returns its stdout and stderr interleaved.
func runFetchStep(ctx context.Context, cmd *exec.Cmd) (string, error) {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%v (%v)", err, ctx.Err())
	}
	return out.String(), err
}
