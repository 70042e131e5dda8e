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

// TestFlagErrorsInOurWords: a flag value its type cannot read is reported
// as what the flag wants, not in the words of strconv or time, exit 2.
func TestFlagErrorsInOurWords(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "--records", "abc"}, `--records: want a whole number, got "abc"`},
		{[]string{"demo", "--latency", "5"}, `--latency: want a duration with its unit, such as 500ms, 20s or 2m, got "5"`},
		{[]string{"demo", "--invalid", "x"}, `--invalid: want a number, got "x"`},
	} {
		_, errOut, code := runBridge(t, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "strconv") {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
}
