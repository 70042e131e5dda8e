package main

import (
	"strings"
	"testing"
)

// TestCheckLinesEscaped: a PASS/FAIL/SKIP line can carry outside text (a
// broker's or CXone's error): control characters are escaped, the line
// stays one line, bounded, and valid UTF-8.
func TestCheckLinesEscaped(t *testing.T) {
	var out strings.Builder
	c := &checker{w: &out}
	c.report(false, "token", "%s: %v", "https://cxone.example/oauth/token", "HTTP 400: \x1b]0;pwned\a\x1b[2J\u009b2J\u202eevil\r\nnext line")
	c.report(true, "topic \x1b[2Jorders", "exists")
	c.skipped("topics", "brokers \x1b[H unreachable")
	c.report(false, "long", "%s", strings.Repeat("é", 200)+"\x1b")
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{
		`FAIL token: https://cxone.example/oauth/token: HTTP 400: \x1b]0;pwned\x07\x1b[2J\u009b2J\u202eevil next line`,
		`PASS topic \x1b[2Jorders: exists`,
		`SKIP topics: brokers \x1b[H unreachable`,
	}
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("line %d:\n got %q\nwant %q", i+1, lines[i], w)
		}
	}
	if l := lines[3]; !strings.HasPrefix(l, "FAIL long: éé") || !strings.HasSuffix(l, "é…") || len(l) > len("FAIL long: ")+303 {
		t.Errorf("long line: %q", l)
	}
	noControl(t, "check output", out.String())
}

// TestErrorLineEscaped: the error the binary prints on stderr passes the
// same filter; a message of several lines (configuration errors) keeps
// its lines.
func TestErrorLineEscaped(t *testing.T) {
	_, errOut, code := runBridge(t, "", "dry-run", "-c", "../../bridge.yaml", "/nonexistent/\x1b]0;pwned\a\x1b[2J\u202e.jsonl")
	if code != 2 || !strings.Contains(errOut, `bridge: open /nonexistent/\x1b]0;pwned\x07\x1b[2J\u202e.jsonl: no such file or directory`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	noControl(t, "stderr", errOut)
}
