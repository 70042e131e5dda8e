package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bridgeBin is the bridge binary built once for the tests that run it as a
// real process.
var bridgeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bridge-test")
	if err != nil {
		panic(err)
	}
	bridgeBin = filepath.Join(dir, "bridge")
	build := exec.Command("go", "build", "-o", bridgeBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		panic("build bridge: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runBridge runs the binary with no environment but PATH, so that no
// CXONE_* variable of the developer's shell leaks in.
func runBridge(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bridgeBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

const tutorialLine = `{"topic":"orders","key":"ORD-1234567890","value":{"orderId":"ORD-1234567890","customerId":"CUST-998877","totalAmount":150.75,"currency":"USD","timestamp":"2026-11-27T10:00:00.000Z","metadata":{"source":"checkout-api","version":"2.1"}},"headers":{"x-correlation-id":"trace-abc-123-xyz"}}`

// TestDryRunTutorialOrder is the README's dry-run example (the tutorial's order), on
// the shipped bridge.yaml and the real binary.
func TestDryRunTutorialOrder(t *testing.T) {
	out, errOut, code := runBridge(t, tutorialLine+"\n", "dry-run", "--config", "../../bridge.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"POST https://api-us-1.cxone.com/api/v2/eventbridge/events\n",
		"Content-Type: application/json\n",
		"X-Idempotency-Key: 8bb2fd79-b926-5d35-b05d-6c664ce6f258\n",
		"X-Correlation-Id: trace-abc-123-xyz\n",
		`{"eventType":"OrderCreated","attributes":{"orderId":"ORD-1234567890",`,
		`"_correlationId":"trace-abc-123-xyz","_publishedAt":"`,
		`"timestamp":"2026-11-27T10:00:00.000Z"}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "1 record: 1 publish, 0 dlq") {
		t.Errorf("summary: %s", errOut)
	}
}

func TestDryRunExitStatus(t *testing.T) {
	bad := `{"topic":"orders","value":"not json"}`
	tomb := `{"topic":"orders","value":null}`
	tests := []struct {
		name, in string
		args     []string
		code     int
		stderr   string
	}{
		{"all good", tutorialLine, nil, 0, "1 publish"},
		{"tombstone skipped", tomb, nil, 0, "1 skip"},
		{"dlq fails", tutorialLine + "\n" + bad, nil, 1, "bridge: 1 record would go to the DLQ\n"},
		{"dlq fails twice", bad + "\n" + bad, nil, 1, "dry-run: 2 records: 0 publish, 2 dlq, 0 skip, 0 bad input lines\nbridge: 2 records would go to the DLQ\n"},
		{"dlq allowed", bad, []string{"--allow-dlq"}, 0, "1 dlq"},
		{"bad input line", "nonsense", nil, 2, "dry-run: 1 record: 0 publish, 0 dlq, 0 skip, 1 bad input line\nbridge: 1 bad input line\n"},
		{"bad input lines", "nonsense\n" + `{"orderId":"x"}`, nil, 2, "bridge: 2 bad input lines\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"dry-run", "-c", "../../bridge.yaml", "-"}, tc.args...)
			_, errOut, code := runBridge(t, tc.in, args...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tc.code, errOut, tc.stderr)
			}
		})
	}
}

// TestDryRunBareValue: a line that is a message value on its own, not a
// record object, is told the shape of a line, as a line that is not JSON
// is.
func TestDryRunBareValue(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{`{"orderId":"x"}`, `not a record object: unknown field "orderId"; each line is one record with the message under "value", such as {"topic":"orders","key":"…","value":{…},"headers":{…}}`},
		{`{"orderId":"ORD-1234567890","customerId":"CUST-998877","totalAmount":150.75}`, `not a record object: unknown field "orderId"; each line is one record with the message under "value", such as {"topic":"orders","key":"…","value":{…},"headers":{…}}`},
		{`{"topic":"orders","hedaers":{}}`, `not a record object: unknown field "hedaers"; a record has the fields topic, key (or key_base64), value (or value_base64), headers, partition, offset and timestamp, such as {"topic":"orders","key":"…","value":{…},"headers":{…}}`},
	} {
		out, errOut, code := runBridge(t, tc.line+"\n", "dry-run", "-c", "../../bridge.yaml")
		if code != 2 || !strings.Contains(out, " → bad input line\n"+tc.want+"\n") || !strings.Contains(errOut, "1 bad input line") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.line, code, out, errOut, tc.want)
		}
	}
}

func TestDryRunJSONFromFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(f, []byte(tutorialLine+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := runBridge(t, "", "dry-run", "-c", "../../bridge.yaml", "--json", f)
	var res struct {
		Outcome string
		Request struct {
			URL     string
			Headers [][2]string
			Body    json.RawMessage
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Outcome != "publish" || len(res.Request.Headers) < 4 {
		t.Fatalf("exit %d, output %s", code, out)
	}
	for _, h := range res.Request.Headers {
		if h[0] == "Authorization" && h[1] != "Bearer <token omitted>" {
			t.Errorf("token printed: %v", h)
		}
	}
}

func TestBadConfigExit2(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bridge.yaml")
	if err := os.WriteFile(p, []byte("kafka:\n  brokers: [localhost]\nroutes: []\ncxone:\n  base_url: http://x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runBridge(t, "", "dry-run", "-c", p)
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	for _, want := range []string{"kafka.brokers[0]: want host:port", "routes: at least one route is required", "cxone.base_url: must be https"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}
