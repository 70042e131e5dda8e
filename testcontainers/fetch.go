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
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables read by this package.
const (
	// EnvKafka names an existing cluster (bootstrap servers, comma-separated)
	// to use instead of starting one.
	EnvKafka = "BRIDGE_TEST_KAFKA"
	// EnvKafkaSkip, when set to a non-empty value other than 0/false, skips
	// every test that asks for a real Kafka.
	EnvKafkaSkip = "BRIDGE_TEST_KAFKA_SKIP"
	// EnvKafkaCache overrides the folder that holds the Kafka jars.
	EnvKafkaCache = "BRIDGE_KAFKA_CACHE"
)

// fetchTimeout bounds a cold fetch (Maven downloads about 55 MB).
const fetchTimeout = 10 * time.Minute

var (
	jarsOnce sync.Once
	jarsDir  string
	jarsErr  error

	javaOnce sync.Once
	javaPath string
	javaErr  error
	// javaVersionText is the output of java -version (keys the CDS archive).
	javaVersionText string
)

// sourceDir is the folder of this package's sources (for kafka/pom.xml and
// the module root).
func sourceDir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		if _, err := os.Stat(file); err == nil {
			return filepath.Dir(file), nil
		}
	}
	// Built with -trimpath or moved: find the module from the working
	// directory (go test runs in the package's folder, inside the module).
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("cannot locate the module: go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("cannot locate the module: not inside it")
	}
	return filepath.Join(filepath.Dir(gomod), "testcontainers"), nil
}

// ModuleRoot is the bridge module's root folder (where go.mod is).
func ModuleRoot() (string, error) {
	dir, err := sourceDir()
	if err != nil {
		return "", err
	}
	return filepath.Dir(dir), nil
}

var versionRE = regexp.MustCompile(`<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>`)

// KafkaVersion is the Apache Kafka version that kafka/pom.xml fetches.
func KafkaVersion() (string, error) {
	dir, err := sourceDir()
	if err != nil {
		return "", err
	}
	pom, err := os.ReadFile(filepath.Join(dir, "kafka", "pom.xml"))
	if err != nil {
		return "", err
	}
	m := versionRE.FindSubmatch(pom)
	if m == nil {
		return "", errors.New("kafka/pom.xml has no <kafka.version>")
	}
	return string(m[1]), nil
}

// KafkaCacheDir is the folder that holds (or will hold) the Kafka jars:
// $BRIDGE_KAFKA_CACHE, else ~/.cache/cxone-bridge/kafka-<version>. It is the
// same rule as kafka/fetch.sh.
func KafkaCacheDir() (string, error) {
	if d := os.Getenv(EnvKafkaCache); d != "" {
		return d, nil
	}
	v, err := KafkaVersion()
	if err != nil {
		return "", err
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".cache", "cxone-bridge", "kafka-"+v), nil
}

// cacheComplete reports whether dir holds the marker that fetch.sh writes
// after a successful fetch of this pom.
func cacheComplete(dir, pomPath string) bool {
	pom, err := os.ReadFile(pomPath)
	if err != nil {
		return false
	}
	marker, err := os.ReadFile(filepath.Join(dir, ".complete"))
	if err != nil {
		return false
	}
	sum := sha256.Sum256(pom)
	return strings.TrimSpace(string(marker)) == hex.EncodeToString(sum[:])
}

// KafkaJars returns the folder with the Kafka jars, running kafka/fetch.sh
// first (once per test binary) when the cache is not complete. The folder is
// used as a class path: java -cp 'DIR/*'.
func KafkaJars(tb testing.TB) string {
	tb.Helper()
	jarsOnce.Do(func() { jarsDir, jarsErr = fetchJars(tb) })
	if jarsErr != nil {
		tb.Fatalf("testcontainers: Kafka jars: %v", jarsErr)
	}
	return jarsDir
}

func fetchJars(tb testing.TB) (string, error) {
	src, err := sourceDir()
	if err != nil {
		return "", err
	}
	pom := filepath.Join(src, "kafka", "pom.xml")
	dir, err := KafkaCacheDir()
	if err != nil {
		return "", err
	}
	if cacheComplete(dir, pom) {
		return dir, nil
	}
	script := filepath.Join(src, "kafka", "fetch.sh")
	tb.Logf("testcontainers: Kafka jars not in %s; running %s (once; a cold fetch takes about a minute)", dir, script)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v\n%s", script, err, tail(stderr.String(), 30))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	got := strings.TrimSpace(lines[len(lines)-1])
	if !cacheComplete(got, pom) {
		return "", fmt.Errorf("%s succeeded but %s is not complete\n%s", script, got, tail(stderr.String(), 30))
	}
	tb.Logf("testcontainers: fetched Kafka jars into %s in %s", got, time.Since(start).Round(100*time.Millisecond))
	return got, nil
}

// Java returns the java launcher: $JAVA_HOME/bin/java, else java on PATH. It
// fails the test when there is none or it is older than 17 (Kafka 4 needs 17).
func Java(tb testing.TB) string {
	tb.Helper()
	javaOnce.Do(func() { javaPath, javaErr = findJava() })
	if javaErr != nil {
		tb.Fatalf("testcontainers: %v", javaErr)
	}
	return javaPath
}

var javaVersionRE = regexp.MustCompile(`version "(\d+)(?:\.(\d+))?`)

func findJava() (string, error) {
	path := ""
	if home := os.Getenv("JAVA_HOME"); home != "" {
		p := filepath.Join(home, "bin", "java")
		if _, err := os.Stat(p); err == nil {
			path = p
		}
	}
	if path == "" {
		p, err := exec.LookPath("java")
		if err != nil {
			return "", errors.New("no java: set JAVA_HOME or put java (17 or newer) on PATH; Kafka 4 needs it")
		}
		path = p
	}
	out, err := exec.Command(path, "-version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s -version: %v: %s", path, err, out)
	}
	javaVersionText = string(out)
	m := javaVersionRE.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%s -version: cannot read the version from %q", path, out)
	}
	major, _ := strconv.Atoi(string(m[1]))
	if major == 1 && len(m[2]) > 0 { // 1.8 style
		major, _ = strconv.Atoi(string(m[2]))
	}
	if major < 17 {
		return "", fmt.Errorf("%s is Java %d; Kafka 4 needs Java 17 or newer (set JAVA_HOME)", path, major)
	}
	return path, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tailFile returns the last n lines of a file (reading at most its last
// 256 KiB), or a note why it cannot.
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	defer f.Close()
	const max = 256 << 10
	st, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	off := st.Size() - max
	if off < 0 {
		off = 0
	}
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && len(buf) > 0 {
		return fmt.Sprintf("(%v)", err)
	}
	if len(buf) == 0 {
		return "(empty)"
	}
	return tail(string(buf), n)
}
