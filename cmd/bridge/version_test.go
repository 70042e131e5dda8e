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

// TestDemoFlagRanges: a value out of a flag's range is refused, exit 2,
// in one style that names the flag as typed, whether it is a zero (which
// must not be read as the default) or beyond the range on either side.
func TestDemoFlagRanges(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--records", "0"}, "bridge: --records must be between 1 and 5000000, got 0\n"},
		{[]string{"--records", "-5"}, "bridge: --records must be between 1 and 5000000, got -5\n"},
		{[]string{"--records", "5000001"}, "bridge: --records must be between 1 and 5000000, got 5000001\n"},
		{[]string{"--keys", "0"}, "bridge: --keys must be at least 1, got 0\n"},
		{[]string{"--keys", "-3"}, "bridge: --keys must be at least 1, got -3\n"},
		{[]string{"--partitions", "0"}, "bridge: --partitions must be between 1 and 1000, got 0\n"},
		{[]string{"--partitions", "1001"}, "bridge: --partitions must be between 1 and 1000, got 1001\n"},
		{[]string{"--max-in-flight", "0"}, "bridge: --max-in-flight must be between 1 and 100000, got 0\n"},
		{[]string{"--max-in-flight", "-1"}, "bridge: --max-in-flight must be between 1 and 100000, got -1\n"},
		{[]string{"--invalid", "-0.1"}, "bridge: --invalid must be between 0 and 0.9, got -0.1\n"},
		{[]string{"--invalid", "NaN"}, "bridge: --invalid must be between 0 and 0.9, got NaN\n"},
		{[]string{"--duplicates", "1"}, "bridge: --duplicates must be between 0 and 0.9, got 1\n"},
		{[]string{"--invalid", "0.5", "--duplicates", "0.5"}, "bridge: --invalid plus --duplicates must be at most 0.9, got 0.5 + 0.5\n"},
		{[]string{"--latency", "-1ms"}, "bridge: --latency must not be negative, got -1ms\n"},
		{[]string{"--latency-max", "-2s"}, "bridge: --latency-max must not be negative, got -2s\n"},
		{[]string{"--stall-timeout", "0s"}, "bridge: --stall-timeout must be more than 0, got 0s\n"},
		{[]string{"--ordering", "sideways"}, `bridge: --ordering must be key, partition or none, got "sideways"` + "\n"},
		{[]string{"--format", "xml"}, `bridge: --format must be json or avro, got "xml"` + "\n"},
		{[]string{"--records", "-5", "--keys", "0"}, "bridge: --records must be between 1 and 5000000, got -5; --keys must be at least 1, got 0\n"},
	} {
		out, errOut, code := runBridge(t, "", append([]string{"demo"}, tc.args...)...)
		if code != 2 || errOut != tc.want || out != "" {
			t.Errorf("demo %v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errOut, tc.want)
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
