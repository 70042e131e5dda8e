package testcontainers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// EnvBuildFlags adds flags to the `go build` of BuildBridge, e.g. "-race".
const EnvBuildFlags = "BRIDGE_TEST_BUILD_FLAGS"

var (
	bridgeOnce sync.Once
	bridgeBin  string
	bridgeErr  error
)

// BuildBridge builds ./cmd/bridge once per test binary and returns the
// binary's path. The binary lives in $TMPDIR/cxone-bridge-test-<hash of the
// module folder>/bridge, replaced atomically by each build, so concurrent
// test binaries of one checkout share it and nothing piles up.
func BuildBridge(tb testing.TB) string {
	tb.Helper()
	bridgeOnce.Do(func() { bridgeBin, bridgeErr = buildBridge() })
	if bridgeErr != nil {
		tb.Fatalf("testcontainers: build bridge: %v", bridgeErr)
	}
	return bridgeBin
}

func buildBridge() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "cxone-bridge-test-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "bridge.*.tmp")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	args := []string{"build", "-o", tmp.Name()}
	args = append(args, strings.Fields(os.Getenv(EnvBuildFlags))...)
	args = append(args, "./cmd/bridge")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	bin := filepath.Join(dir, "bridge")
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// StartCXone starts the CXone-compatible test server on loopback and closes
// it in t.Cleanup. Its URL is srv.URL; clients authenticate with
// cxonetest.DefaultClientID and cxonetest.DefaultClientSecret.
func StartCXone(tb testing.TB, opts ...cxonetest.Option) *cxonetest.Server {
	tb.Helper()
	srv := cxonetest.NewServer(opts...)
	tb.Cleanup(srv.Close)
	return srv
}
