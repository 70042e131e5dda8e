package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/sink/cxonetest"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// accessKeyEnv writes a bridge.yaml in access-key mode against the TLS test
// server srv: issuer, tenant discovery, CA file, secrets in files.
func accessKeyEnv(t *testing.T, brokers string, srv *cxonetest.Server, tenant, keySecret string) string {
	t.Helper()
	dir := t.TempDir()
	schema, err := os.ReadFile("../../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"order.json": schema, "ca.pem": srv.CACert,
		"app.secret": []byte(cxonetest.DefaultAppSecret + "\n"), "key.secret": []byte(keySecret + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yaml := fmt.Sprintf(`kafka: {brokers: [%s]}
cxone:
  base_url: discover
  tenant_id: %s
  ca_file: ca.pem
  auth:
    mode: access_key
    issuer: %s
    client_id: %s
    client_secret_file: app.secret
    access_key_id: %s
    access_key_secret_file: key.secret
routes: [{topic: orders, event_type: OrderCreated, schema: order.json, business_key: /orderId}]
`, brokers, tenant, srv.URL, cxonetest.DefaultAppID, cxonetest.DefaultAccessKeyID)
	path := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckAccessKeyMode: check discovers both endpoints over HTTPS, shows
// them, and gets a password-grant token; an unknown tenant and a wrong
// access key secret each fail on their own line, without the secret.
func TestCheckAccessKeyMode(t *testing.T) {
	srv := cxonetest.NewTLSServer()
	t.Cleanup(srv.Close)
	broker := cluster(t, "orders", "orders.dlq")
	const wrong = "wrong-key-secret-5f1e"
	who := "client " + cxonetest.DefaultAppID + " with access key " + cxonetest.DefaultAccessKeyID

	path := accessKeyEnv(t, broker, srv, cxonetest.DefaultTenantID, cxonetest.DefaultAccessKeySecret)
	lines, ok := doCheck(t, path, 5*time.Second)
	wantLines(t, lines, []string{
		"PASS config: " + path,
		"PASS schemas: 1 route(s) compiled",
		"PASS brokers: 1 broker(s) reachable via " + broker,
		"PASS topic orders: exists, 3 partition(s)",
		"PASS dlq topic orders.dlq: exists, 3 partition(s)",
		"PASS dlq transactions: transactional ids cxone-bridge-dlq-* allowed (dlq.delivery: exactly_once)",
		"PASS discovery: token endpoint " + srv.URL + "/auth/token from " + srv.URL + "; events URL " + srv.URL +
			"/api/v2/eventbridge/events for tenant " + cxonetest.DefaultTenantID,
		"PASS token: obtained from " + srv.URL + "/auth/token for " + who,
		"check: 8 passed, 0 failed, 0 skipped",
	})
	if !ok {
		t.Error("check failed, want pass")
	}

	lines, ok = doCheck(t, accessKeyEnv(t, broker, srv, "no-such-tenant", cxonetest.DefaultAccessKeySecret), 5*time.Second)
	if ok || !strings.HasPrefix(lines[6], "FAIL discovery: discovery of cxone-configuration at "+srv.URL) ||
		!strings.HasSuffix(lines[6], "HTTP 404: the issuer does not know this tenant id") || lines[7] != "SKIP token: endpoints not discovered" {
		t.Errorf("unknown tenant: ok %v\n%s", ok, strings.Join(lines, "\n"))
	}

	lines, ok = doCheck(t, accessKeyEnv(t, broker, srv, cxonetest.DefaultTenantID, wrong), 5*time.Second)
	want := "FAIL token: " + srv.URL + "/auth/token refused " + who +
		" with HTTP 400: check cxone.auth client_id, client_secret, access_key_id and access_key_secret"
	if ok || lines[7] != want {
		t.Errorf("wrong secret: ok %v\n%s\nwant line 8: %s", ok, strings.Join(lines, "\n"), want)
	}
	if strings.Contains(strings.Join(lines, "\n"), wrong) {
		t.Error("output contains the access key secret")
	}
}

// TestCheckBinaryAccessKeyMode runs the real binary in access-key mode.
func TestCheckBinaryAccessKeyMode(t *testing.T) {
	srv := cxonetest.NewTLSServer()
	t.Cleanup(srv.Close)
	path := accessKeyEnv(t, cluster(t, "orders", "orders.dlq"), srv, cxonetest.DefaultTenantID, cxonetest.DefaultAccessKeySecret)
	out, errOut, code := runBridge(t, "", "check", "--config", path)
	if code != 0 || !strings.Contains(out, "\nPASS discovery: token endpoint "+srv.URL+"/auth/token") ||
		!strings.Contains(out, "check: 8 passed, 0 failed, 0 skipped\n") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, s := range []string{cxonetest.DefaultAppSecret, cxonetest.DefaultAccessKeySecret} {
		if strings.Contains(out+errOut, s) {
			t.Error("output contains a secret")
		}
	}
}

// TestSimTLSWithBridgeCheck runs both binaries: `bridge sim --tls` with its
// own tenant and access key, and `bridge check` in access-key mode against
// it (CA from --ca-out, both discoveries, password grant over HTTP/2-capable
// TLS).
func TestSimTLSWithBridgeCheck(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "sim-ca.pem")
	const keySecret = "sim-key-secret-7d2a"
	sim := tc.StartProcess(t, bridgeBin, []string{"sim", "--addr", "127.0.0.1:0", "--tls", "--ca-out", ca,
		"--tenant-id", "tenant-42", "--access-key-id", "AK-42", "--access-key-secret", keySecret}, nil)
	sim.WaitLog("cxone sim listening on https://", 10*time.Second)
	var simURL string
	for _, line := range strings.Split(sim.Logs(), "\n") {
		if u, ok := strings.CutPrefix(line, "cxone sim listening on "); ok {
			simURL = strings.TrimSpace(u)
		}
	}
	for name, data := range map[string]string{"key.secret": keySecret, "app.secret": cxonetest.DefaultAppSecret} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	schema, err := os.ReadFile("../../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "order.json"), schema, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bridge.yaml")
	yaml := fmt.Sprintf(`kafka: {brokers: [%s]}
cxone:
  base_url: discover
  tenant_id: tenant-42
  ca_file: sim-ca.pem
  auth: {mode: access_key, issuer: %s, client_id: %s, client_secret_file: app.secret, access_key_id: AK-42, access_key_secret_file: key.secret}
routes: [{topic: orders, event_type: OrderCreated, schema: order.json, business_key: /orderId}]
`, cluster(t, "orders", "orders.dlq"), simURL, cxonetest.DefaultAppID)
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runBridge(t, "", "check", "--config", path)
	if code != 0 || !strings.Contains(out, "PASS discovery: token endpoint "+simURL+"/auth/token from "+simURL+"; events URL "+simURL+
		"/api/v2/eventbridge/events for tenant tenant-42\n") || !strings.Contains(out, "PASS token: obtained from "+simURL+"/auth/token for client "+
		cxonetest.DefaultAppID+" with access key AK-42\n") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s\nsim:\n%s", code, out, errOut, sim.Logs())
	}
	if strings.Contains(out+errOut+sim.Logs(), keySecret) {
		t.Error("a secret was printed")
	}
	if err := sim.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := sim.Wait(10 * time.Second); code != 0 {
		t.Errorf("sim exit %d", code)
	}
}
