package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// checkEnv writes a bridge.yaml for brokers and the CXone test server srv.
func checkEnv(t *testing.T, brokers, cxoneURL, secret string) string {
	t.Helper()
	dir := t.TempDir()
	schema, err := os.ReadFile("../../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "order.json"), schema, 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`kafka: {brokers: [%s]}
cxone:
  base_url: %s
  allow_insecure_http: true
  auth: {client_id: %s, client_secret: %s}
routes: [{topic: orders, event_type: OrderCreated, schema: order.json, business_key: /orderId}]
`, brokers, cxoneURL, cxonetest.DefaultClientID, secret)
	path := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func cluster(t *testing.T, topics ...string) string {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(3, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func doCheck(t *testing.T, path string, timeout time.Duration) (lines []string, ok bool) {
	t.Helper()
	var out strings.Builder
	ok = runCheck(context.Background(), &out, path, timeout)
	return strings.Split(strings.TrimRight(out.String(), "\n"), "\n"), ok
}

func wantLines(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		w, prefix := strings.CutSuffix(want[i], "*")
		if (prefix && !strings.HasPrefix(got[i], w)) || (!prefix && got[i] != w) {
			t.Errorf("line %d:\n got %q\nwant %q", i+1, got[i], want[i])
		}
	}
}

func TestCheckAllPass(t *testing.T) {
	broker := cluster(t, "orders", "orders.dlq")
	srv := cxonetest.NewServer()
	t.Cleanup(srv.Close)
	path := checkEnv(t, broker, srv.URL, cxonetest.DefaultClientSecret)
	lines, ok := doCheck(t, path, 5*time.Second)
	wantLines(t, lines, []string{
		"PASS config: " + path,
		"PASS schemas: 1 route(s) compiled",
		"PASS brokers: 1 broker(s) reachable via " + broker,
		"PASS topic orders: exists, 3 partition(s)",
		"PASS dlq topic orders.dlq: exists, 3 partition(s)",
		"PASS dlq transactions: transactional ids cxone-bridge-dlq-* allowed (dlq.delivery: exactly_once)",
		"PASS token: obtained from " + srv.URL + "/oauth/token for client " + cxonetest.DefaultClientID,
		"check: 7 passed, 0 failed, 0 skipped",
	})
	if !ok {
		t.Error("check failed, want pass")
	}
}

func TestCheckMissingDLQCanBeCreated(t *testing.T) {
	broker := cluster(t, "orders")
	srv := cxonetest.NewServer()
	t.Cleanup(srv.Close)
	lines, ok := doCheck(t, checkEnv(t, broker, srv.URL, cxonetest.DefaultClientSecret), 5*time.Second)
	if lines[4] != "PASS dlq topic orders.dlq: missing, can be created (validate-only request accepted)" || !ok {
		t.Errorf("ok %v, output:\n%s", ok, strings.Join(lines, "\n"))
	}
}

// TestCheckFailures: a missing topic, bad credentials, a wrong broker port
// and a broken config are each reported on their own FAIL line, the
// secret is never printed, and the check fails.
func TestCheckFailures(t *testing.T) {
	srv := cxonetest.NewServer()
	t.Cleanup(srv.Close)
	const wrong = "not-the-secret-77c1"

	t.Run("missing topic and bad credentials", func(t *testing.T) {
		broker := cluster(t, "payments")
		path := checkEnv(t, broker, srv.URL, wrong)
		lines, ok := doCheck(t, path, 5*time.Second)
		wantLines(t, lines, []string{
			"PASS config: " + path,
			"PASS schemas: 1 route(s) compiled",
			"PASS brokers: 1 broker(s) reachable via " + broker,
			"FAIL topic orders: missing",
			"PASS dlq transactions: transactional ids cxone-bridge-dlq-* allowed (dlq.delivery: exactly_once)",
			"FAIL token: " + srv.URL + "/oauth/token refused client " + cxonetest.DefaultClientID +
				" with HTTP 401: check cxone.auth client_id and client_secret",
			"check: 4 passed, 2 failed, 0 skipped",
		})
		if ok {
			t.Error("check passed, want fail")
		}
		if strings.Contains(strings.Join(lines, "\n"), wrong) {
			t.Error("output contains the client secret")
		}
	})

	t.Run("wrong broker port", func(t *testing.T) {
		path := checkEnv(t, "127.0.0.1:1", srv.URL, cxonetest.DefaultClientSecret)
		lines, ok := doCheck(t, path, time.Second)
		wantLines(t, lines, []string{
			"PASS config: " + path,
			"PASS schemas: 1 route(s) compiled",
			"FAIL brokers: 127.0.0.1:1 unreachable: *",
			"SKIP topics: brokers unreachable",
			"PASS token: obtained from " + srv.URL + "/oauth/token for client " + cxonetest.DefaultClientID,
			"check: 3 passed, 1 failed, 1 skipped",
		})
		if ok {
			t.Error("check passed, want fail")
		}
	})

	t.Run("bad config", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bridge.yaml")
		if err := os.WriteFile(path, []byte("kafka: {brokers: []}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		lines, ok := doCheck(t, path, time.Second)
		if ok || !strings.HasPrefix(lines[0], "FAIL config: ") || lines[len(lines)-1] != "check: 0 passed, 1 failed, 5 skipped" {
			t.Errorf("ok %v, output:\n%s", ok, strings.Join(lines, "\n"))
		}
	})
}

// TestCheckBinaryExitStatus runs the real binary: exit 1 and FAIL lines on
// stdout for a missing topic, exit 0 when all pass.
func TestCheckBinaryExitStatus(t *testing.T) {
	srv := cxonetest.NewServer()
	t.Cleanup(srv.Close)
	out, errOut, code := runBridge(t, "", "check", "--config", checkEnv(t, cluster(t, "payments"), srv.URL, cxonetest.DefaultClientSecret), "--timeout", "5s")
	if code != 1 || !strings.Contains(out, "\nFAIL topic orders: missing\n") || !strings.Contains(errOut, "check failed") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	out, errOut, code = runBridge(t, "", "check", "--config", checkEnv(t, cluster(t, "orders", "orders.dlq"), srv.URL, cxonetest.DefaultClientSecret))
	if code != 0 || !strings.Contains(out, "check: 7 passed, 0 failed, 0 skipped\n") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestCheckDLQTransactions: brokers that refuse the bridge its
// transactional ids (an ACL without the TransactionalId prefix) fail the
// "dlq transactions" line with the prefix to allow, and the check fails;
// with dlq.delivery: at_least_once the line is not there.
func TestCheckDLQTransactions(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders", "orders.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var asked atomic.Int32
	c.ControlKey(int16(kmsg.InitProducerID), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kr.(*kmsg.InitProducerIDRequest)
		if req.TransactionalID == nil || !strings.HasPrefix(*req.TransactionalID, "cxone-bridge-dlq-") {
			return nil, nil, false
		}
		asked.Add(1)
		resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil, true
	})
	srv := cxonetest.NewServer()
	t.Cleanup(srv.Close)
	path := checkEnv(t, c.ListenAddrs()[0], srv.URL, cxonetest.DefaultClientSecret)
	lines, ok := doCheck(t, path, 5*time.Second)
	want := "FAIL dlq transactions: not allowed to use transactional id cxone-bridge-dlq-check: allow WRITE and DESCRIBE on TransactionalId resources with the prefix cxone-bridge-dlq-, or set dlq.delivery: at_least_once"
	if ok || len(lines) < 6 || lines[5] != want || asked.Load() == 0 {
		t.Fatalf("ok %v, asked %d, output:\n%s\nwant line 6: %s", ok, asked.Load(), strings.Join(lines, "\n"), want)
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(raw, "dlq: {delivery: at_least_once}\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	lines, ok = doCheck(t, path, 5*time.Second)
	if !ok || strings.Contains(strings.Join(lines, "\n"), "dlq transactions") {
		t.Fatalf("at_least_once: ok %v, output:\n%s", ok, strings.Join(lines, "\n"))
	}
}
