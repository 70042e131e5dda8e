package main

import (
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestVersion: `bridge version` and `bridge --version` print the same
// line: the module version, the revision when built from a checkout, and
// the Go version.
func TestVersion(t *testing.T) {
	a, _, code := runBridge(t, "", "version")
	b, _, code2 := runBridge(t, "", "--version")
	if code != 0 || code2 != 0 || a != b {
		t.Fatalf("version %q (exit %d), --version %q (exit %d)", a, code, b, code2)
	}
	if !strings.HasPrefix(a, "cxone-bridge ") || !strings.HasSuffix(strings.TrimSpace(a), runtime.Version()) {
		t.Errorf("version line %q", a)
	}
	if strings.Contains(a, "revision") && !regexp.MustCompile(`revision [0-9a-f]{12}(\+dirty)?, `).MatchString(a) {
		t.Errorf("revision in %q", a)
	}
}

// TestDemoRefusesZero: a zero count is refused, not read as the default.
func TestDemoRefusesZero(t *testing.T) {
	for _, flag := range []string{"--records", "--keys", "--partitions"} {
		_, errOut, code := runBridge(t, "", "demo", flag, "0")
		if code != 2 || !strings.Contains(errOut, flag+" must be at least 1") {
			t.Errorf("demo %s 0: exit %d, %q", flag, code, errOut)
		}
	}
}
