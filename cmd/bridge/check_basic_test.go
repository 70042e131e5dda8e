package main

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/sink/cxonetest"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// basicSecret's raw and RFC 6749 Basic forms differ.
const basicSecret = "a+b/c=d%e:f"

// basicCheckEnv writes a bridge.yaml for brokers and the test server at
// cxoneURL whose client secret is secret, sent in the Basic form form ("":
// the key is not set).
func basicCheckEnv(t *testing.T, brokers, cxoneURL, secret, form string) string {
	t.Helper()
	dir := t.TempDir()
	schema, err := os.ReadFile("../../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "order.json"), schema, 0o644); err != nil {
		t.Fatal(err)
	}
	encoding := ""
	if form != "" {
		encoding = ", basic_encoding: " + form
	}
	yaml := fmt.Sprintf(`kafka: {brokers: [%s]}
cxone:
  base_url: %s
  allow_insecure_http: true
  auth: {client_id: %s, client_secret: %s%s}
routes: [{topic: orders, event_type: OrderCreated, schema: order.json, business_key: /orderId}]
`, brokers, cxoneURL, cxonetest.DefaultClientID, strconv.Quote(secret), encoding)
	path := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// secretForms are the forms of secret (and of the Basic credentials of the
// default client with it) that must never be printed.
func secretForms(secret string) []string {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	id := cxonetest.DefaultClientID
	return []string{secret, url.QueryEscape(secret), b64(id + ":" + secret), b64(url.QueryEscape(id) + ":" + url.QueryEscape(secret))}
}

// TestCheckBasicEncoding: with a secret whose raw and RFC 6749 Basic forms
// differ, check gets a token when bridge.yaml's cxone.auth.basic_encoding
// (raw by default) is the form the token endpoint expects; otherwise its
// FAIL line names the form used and the other one. A refused secret whose
// forms are alike gets no such hint. The secret is never printed.
func TestCheckBasicEncoding(t *testing.T) {
	broker := cluster(t, "orders", "orders.dlq")
	servers := map[string]*cxonetest.Server{}
	for _, form := range []string{cxonetest.BasicRaw, cxonetest.BasicRFC6749} {
		s := cxonetest.NewServer(cxonetest.WithClient(cxonetest.DefaultClientID, basicSecret), cxonetest.WithBasicEncoding(form))
		t.Cleanup(s.Close)
		servers[form] = s
	}
	refused := func(form string) string {
		return "FAIL token: " + servers[form].URL + "/oauth/token refused client " + cxonetest.DefaultClientID +
			" with HTTP 401: check cxone.auth client_id and client_secret"
	}
	for _, tt := range []struct {
		name, config, server, secret string
		want                         string
	}{
		{"default against raw", "", cxonetest.BasicRaw, basicSecret, "PASS token: *"},
		{"raw against raw", "raw", cxonetest.BasicRaw, basicSecret, "PASS token: *"},
		{"rfc6749 against rfc6749", "rfc6749", cxonetest.BasicRFC6749, basicSecret, "PASS token: *"},
		{"raw against rfc6749", "raw", cxonetest.BasicRFC6749, basicSecret, refused(cxonetest.BasicRFC6749) +
			"; cxone.auth.basic_encoding: raw was used; if the tenant expects RFC 6749 encoding set rfc6749"},
		{"default against rfc6749", "", cxonetest.BasicRFC6749, basicSecret, refused(cxonetest.BasicRFC6749) +
			"; cxone.auth.basic_encoding: raw was used; if the tenant expects RFC 6749 encoding set rfc6749"},
		{"rfc6749 against raw", "rfc6749", cxonetest.BasicRaw, basicSecret, refused(cxonetest.BasicRaw) +
			"; cxone.auth.basic_encoding: rfc6749 was used; if the tenant expects the raw form (as the reference producer sends it) set raw"},
		{"wrong secret, forms alike", "raw", cxonetest.BasicRFC6749, "not-the-secret-77c1", refused(cxonetest.BasicRFC6749)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lines, ok := doCheck(t, basicCheckEnv(t, broker, servers[tt.server].URL, tt.secret, tt.config), 5*time.Second)
			if len(lines) != 8 {
				t.Fatalf("got %d lines:\n%s", len(lines), strings.Join(lines, "\n"))
			}
			wantLines(t, lines[6:7], []string{tt.want})
			if pass := strings.HasPrefix(tt.want, "PASS"); ok != pass {
				t.Errorf("check ok %v, want %v", ok, pass)
			}
			assertNotPrinted(t, strings.Join(lines, "\n"), secretForms(tt.secret))
		})
	}
}

func assertNotPrinted(t *testing.T, out string, values []string) {
	t.Helper()
	for _, v := range values {
		if strings.Contains(out, v) {
			t.Errorf("output contains %q:\n%s", v, out)
		}
	}
}

// TestSimBasicEncodingWithBridgeCheck runs both binaries: `bridge sim
// --basic-encoding rfc6749` with a secret whose forms differ, and `bridge
// check` against it, which fails in the default raw form (naming it) and
// passes with basic_encoding: rfc6749.
func TestSimBasicEncodingWithBridgeCheck(t *testing.T) {
	sim := tc.StartProcess(t, bridgeBin, []string{"sim", "--addr", "127.0.0.1:0", "--basic-encoding", "rfc6749",
		"--client-secret", basicSecret}, nil)
	sim.WaitLog("cxone sim listening on http://", 10*time.Second)
	var simURL string
	for _, line := range strings.Split(sim.Logs(), "\n") {
		if u, ok := strings.CutPrefix(line, "cxone sim listening on "); ok {
			simURL = strings.TrimSpace(u)
		}
	}
	broker := cluster(t, "orders", "orders.dlq")
	for _, tt := range []struct {
		form, want string
		code       int
	}{
		{"", "FAIL token: " + simURL + "/oauth/token refused client " + cxonetest.DefaultClientID +
			" with HTTP 401: check cxone.auth client_id and client_secret; cxone.auth.basic_encoding: raw was used; if the tenant expects RFC 6749 encoding set rfc6749\n", 1},
		{"rfc6749", "PASS token: obtained from " + simURL + "/oauth/token for client " + cxonetest.DefaultClientID + "\n", 0},
	} {
		out, errOut, code := runBridge(t, "", "check", "--config", basicCheckEnv(t, broker, simURL, basicSecret, tt.form))
		if code != tt.code || !strings.Contains(out, tt.want) {
			t.Errorf("basic_encoding %q: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d and %q", tt.form, code, out, errOut, tt.code, tt.want)
		}
		assertNotPrinted(t, out+errOut, secretForms(basicSecret))
	}
	if err := sim.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := sim.Wait(10 * time.Second); code != 0 {
		t.Errorf("sim exit %d", code)
	}
	assertNotPrinted(t, sim.Logs(), secretForms(basicSecret))

	// An unknown form is refused before the server starts.
	if _, errOut, code := runBridge(t, "", "sim", "--addr", "127.0.0.1:0", "--basic-encoding", "base64"); code == 0 ||
		!strings.Contains(errOut, `--basic-encoding must be raw or rfc6749, got "base64"`) {
		t.Errorf("--basic-encoding base64: exit %d, stderr:\n%s", code, errOut)
	}
}
