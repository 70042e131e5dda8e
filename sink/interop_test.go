package sink_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// TestInteropWithNodeTutorial runs the tutorial's complete Node.js example
// (testdata/tutorial-example.mjs, a verbatim copy of the reference) against
// the CXone test server, then publishes the same order through the sink and
// checks that the server sees it as a duplicate of the Node event: both
// producers derive the same idempotency key for the same business
// transaction, and send the same (raw) Basic credentials.
//
// The example is changed in exactly two ways: its Ajv import uses the Draft
// 2020-12 class (the tutorial's default Ajv cannot compile a 2020-12 schema),
// and its region points at the test server over plain http.
func TestInteropWithNodeTutorial(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test installs npm packages; skipped with -short")
	}
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		t.Skip("node and npm are not both on PATH; the Node interop test needs them (CI has them)")
	}

	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-package-lock",
		"--loglevel=error", "ajv", "ajv-formats", "uuid")
	install.Dir = dir
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"interop","private":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm install: %v\n%s", err, out)
	}

	// A secret whose raw and RFC 6749 Basic forms differ, on a server
	// that accepts the raw form only (the default): Node sends it raw, and
	// so does the sink by default.
	srv := newServer(t, cxonetest.WithClient(cxonetest.DefaultClientID, basicSecret))
	script := nodeExample(t, strings.TrimPrefix(srv.URL, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "producer.mjs"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	run := exec.CommandContext(ctx, node, "producer.mjs")
	run.Dir = dir
	run.Env = append(os.Environ(),
		"CXONE_CLIENT_ID="+cxonetest.DefaultClientID, "CXONE_CLIENT_SECRET="+basicSecret)
	out, err := run.CombinedOutput()
	t.Logf("node output:\n%s", out)
	if err != nil {
		t.Fatalf("the Node producer failed: %v", err)
	}
	if !strings.Contains(string(out), "Event published successfully") {
		t.Fatal("the Node producer did not report success")
	}

	// What Node sent.
	const wantKey = "8bb2fd79-b926-5d35-b05d-6c664ce6f258"
	events := srv.Events()
	if len(events) != 1 {
		t.Fatalf("server recorded %d events", len(events))
	}
	nodeEvent := events[0]
	if nodeEvent.IdempotencyKey != wantKey || nodeEvent.CorrelationID != "trace-abc-123-xyz" {
		t.Fatalf("Node event %+v", nodeEvent)
	}

	// The same order through the sink, with the key derived in Go.
	key := uuid.NewSHA1(uuid.NameSpaceDNS, []byte("OrderCreated:ORD-1234567890")).String()
	if key != wantKey {
		t.Fatalf("Go key %s, want %s", key, wantKey)
	}
	var nodeBody struct {
		Attributes map[string]any `json:"attributes"`
	}
	if err := json.Unmarshal(nodeEvent.Body, &nodeBody); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	attrs := map[string]any{
		"orderId": "ORD-1234567890", "customerId": "CUST-998877", "totalAmount": 150.75, "currency": "USD",
		"timestamp": now, "metadata": map[string]any{"source": "checkout-api", "version": "2.1"},
		"_correlationId": "trace-abc-123-xyz", "_publishedAt": now,
	}
	body, _ := json.Marshal(map[string]any{"eventType": "OrderCreated", "attributes": attrs, "timestamp": now})
	cfg := testConfig(srv.URL)
	cfg.ClientSecret = basicSecret
	p := newPublisher(t, cfg)
	res, err := p.Publish(context.Background(), &sink.Event{IdempotencyKey: key, CorrelationID: "trace-abc-123-xyz", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != nodeEvent.ID {
		t.Errorf("sink got id %s, Node's event has %s", res.ID, nodeEvent.ID)
	}
	st := srv.Stats()
	if st.Accepted != 1 || st.Duplicates != 1 {
		t.Fatalf("want the sink's event counted as a duplicate of Node's: %+v", st)
	}
	// Same attribute names as the Node producer.
	for k := range nodeBody.Attributes {
		if _, ok := attrs[k]; !ok {
			t.Errorf("Node sent attribute %q the Go body lacks", k)
		}
	}
}

// nodeExample returns the tutorial's example with the two documented edits,
// failing if the copy no longer has the lines they apply to.
func nodeExample(t *testing.T, hostPort string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "tutorial-example.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, r := range []struct{ old, new string }{
		{"import Ajv from 'ajv';", "import Ajv from 'ajv/dist/2020.js';"},
		{"const CXONE_REGION = 'api-us-1.cxone.com';", "const CXONE_REGION = '" + hostPort + "';"},
		{"https://${CXONE_REGION}/oauth/token", "http://${CXONE_REGION}/oauth/token"},
		{"https://${CXONE_REGION}/api/v2/eventbridge/events", "http://${CXONE_REGION}/api/v2/eventbridge/events"},
	} {
		if strings.Count(s, r.old) != 1 {
			t.Fatalf("tutorial example: %q not found exactly once", r.old)
		}
		s = strings.Replace(s, r.old, r.new, 1)
	}
	return s
}
