package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// Credentials of the hostile runs: every character that an encoding
// changes (form encoding, JSON, HTML), so that each encoding differs from
// the raw value.
const (
	hostileClientID  = "bridge client+1"
	hostileSecret    = `cs+/=&Sécret%41 "x"`
	hostileAppID     = "bridge app+2"
	hostileAppSecret = "app+/=&Sécret%42 <y>"
	hostileKeyID     = "AK-hostile-1"
	hostileKeySecret = "ak+/=&Sécret%43 'z'"

	hostileRecords = 5
	maxLogLine     = 8 << 10
	maxLogTotal    = 1 << 20
)

// TestHostileCXone runs `bridge run` against a CXone that echoes every
// request in its error answers, as a gateway, a WAF page or a
// TLS-inspecting proxy may: the events endpoint answers 400 with a 1 MiB
// body echoing the request (bearer token included), then the token
// endpoint fails with a 1 MiB HTML page echoing the token request (Basic
// header, form). In both auth modes (the access key secret in a file), no
// secret, no Basic encoding (raw and form-URL-encoded) and no issued token
// appears in the bridge's logs, in any header or value of the DLQ records
// (the response excerpt is included: dlq.include_response), or in the
// output of `bridge check`; no log line exceeds 8 KiB and the whole log
// stays under 1 MiB.
func TestHostileCXone(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs the bridge twice for about 10 s each")
	}
	for _, mode := range []string{"client_credentials", "access_key"} {
		t.Run(mode, func(t *testing.T) { hostileRun(t, mode) })
	}
}

func hostileRun(t *testing.T, mode string) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders", "orders.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	brokers := kc.ListenAddrs()
	srv := cxonetest.NewServer(cxonetest.WithClient(hostileClientID, hostileSecret),
		cxonetest.WithApp(hostileAppID, hostileAppSecret), cxonetest.WithAccessKey(hostileKeyID, hostileKeySecret))
	t.Cleanup(srv.Close)
	// Every events request is answered 400, echoing the request, 1 MiB.
	if err := srv.SetFaults(cxonetest.Faults{ForceStatus: 400, ForceCount: 1 << 20, EchoRequests: true, ErrorBodyBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	schema, err := os.ReadFile("../../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"order.json": string(schema), "app.secret": hostileAppSecret + "\n", "key.secret": hostileKeySecret + "\n"}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var cxone string
	var secrets []string // raw values; the encodings are derived below
	var basic [][2]string
	switch mode {
	case "client_credentials":
		cxone = fmt.Sprintf(`  base_url: %s
  auth:
    client_id: %q
    client_secret: ${CXONE_CLIENT_SECRET}`, srv.URL, hostileClientID)
		secrets = []string{hostileSecret}
		basic = [][2]string{{hostileClientID, hostileSecret}}
	case "access_key":
		cxone = fmt.Sprintf(`  base_url: discover
  tenant_id: %s
  allowed_hosts: [127.0.0.1]
  auth:
    mode: access_key
    issuer: %s
    client_id: %q
    client_secret_file: app.secret
    access_key_id: %s
    access_key_secret_file: key.secret`, cxonetest.DefaultTenantID, srv.URL, hostileAppID, hostileKeyID)
		secrets = []string{hostileAppSecret, hostileKeySecret}
		basic = [][2]string{{hostileAppID, hostileAppSecret}}
	}
	yaml := fmt.Sprintf(`kafka:
  brokers: [%s]
  group_id: bridge-hostile
  session_timeout: 6s
  rebalance_timeout: 10s
consumer:
  commit_interval: 200ms
  drain_timeout: 2s
  retry_backoff: 50ms
  retry_backoff_max: 300ms
cxone:
  allow_insecure_http: true
%s
  retry:
    base_delay: 20ms
    max_delay: 200ms
  breaker:
    open_timeout: 500ms
dlq:
  include_response: true
routes:
  - topic: orders
    event_type: OrderCreated
    schema: order.json
    business_key: /orderId
metrics:
  listen: 127.0.0.1:0
log:
  level: debug
`, strings.Join(brokers, ", "), cxone)
	cfg := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"CXONE_CLIENT_SECRET=" + hostileSecret}

	produce := func(from, to int) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("orders"))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for i := from; i < to; i++ {
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: order(i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	dlqCount := func() int64 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), "orders.dlq")
		if err != nil {
			return -1
		}
		var n int64
		ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		return n
	}

	// Phase 1: every record is rejected with an echo of its request.
	produce(0, hostileRecords)
	p := tc.StartProcess(t, bridgeBin, []string{"run", "--config", cfg}, env)
	poll.Until(t, 60*time.Second, "the rejected records in the DLQ", func() bool { return dlqCount() >= hostileRecords })

	// Phase 2: the token endpoint fails with a 1 MiB HTML page echoing the
	// token request; the tokens are revoked, so the next publish needs a
	// new one.
	if err := srv.SetFaults(cxonetest.Faults{TokenStatus: 502, TokenErrorHTML: true, EchoRequests: true, ErrorBodyBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	srv.RevokeTokens()
	failuresBefore := srv.Stats().TokenFailures
	produce(hostileRecords, hostileRecords+1)
	// Enough refusals for the breaker to open and half-open a few times.
	poll.Until(t, 60*time.Second, "token requests refused with the echoing page", func() bool {
		return srv.Stats().TokenFailures >= failuresBefore+12
	})
	checkOut, checkCode := bridgeOutput(t, env, "check", "--config", cfg, "--timeout", "5s")
	if checkCode == 0 || !strings.Contains(checkOut, "FAIL token") {
		t.Errorf("check: exit %d (want a token failure), output:\n%s", checkCode, checkOut)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := p.Wait(30 * time.Second)
	logs := p.Logs()
	if code != 0 {
		t.Errorf("bridge exit %d after SIGTERM", code)
	}

	// What must never appear: each secret raw, form-URL-encoded and as the
	// logs (JSON) and error messages (Go quoting) would escape it, the
	// Basic credentials in both forms, the issued tokens.
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	var never []string
	for _, s := range secrets {
		never = append(never, escapings(s)...)
		never = append(never, escapings(url.QueryEscape(s))...)
	}
	for _, b := range basic {
		for _, enc := range []string{b64(b[0] + ":" + b[1]), b64(url.QueryEscape(b[0]) + ":" + url.QueryEscape(b[1]))} {
			never = append(never, enc, url.QueryEscape(enc))
		}
	}
	tokens := srv.IssuedTokens()
	if len(tokens) == 0 {
		t.Fatal("the server issued no token")
	}
	never = append(never, tokens...)
	never = slices.Compact(slices.Sorted(slices.Values(never)))

	// The DLQ records, every header and value.
	records := readDLQ(t, brokers)
	if len(records) != hostileRecords {
		t.Errorf("%d DLQ records, want %d", len(records), hostileRecords)
	}
	var dlqText strings.Builder
	for _, r := range records {
		env, _, err := dlq.Parse(r.Headers)
		if err != nil {
			t.Errorf("DLQ record without envelope: %v", err)
			continue
		}
		if env.Class != dlq.ClassRejected || env.Reason != "http_400" || env.HTTPStatus != 400 {
			t.Errorf("envelope %+v", env)
		}
		if !strings.Contains(env.Response, "[redacted]") || !strings.Contains(env.Response, "Authorization") {
			t.Errorf("response excerpt not the scrubbed echo: %.300s", env.Response)
		}
		fmt.Fprintf(&dlqText, "key %s value %s\n", r.Key, r.Value)
		for _, h := range r.Headers {
			fmt.Fprintf(&dlqText, "%s: %s\n", h.Key, h.Value)
		}
	}

	for what, text := range map[string]string{"bridge logs": logs, "DLQ records": dlqText.String(), "bridge check output": checkOut} {
		for _, v := range never {
			if i := strings.Index(text, v); i >= 0 {
				t.Errorf("%s contain %q at byte %d: …%s…", what, v, i, text[max(0, i-200):min(len(text), i+len(v)+100)])
			}
		}
	}

	// Bounded logs: no line over 8 KiB, at most 1 MiB in all.
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 64<<20)
	lines, longest := 0, 0
	for sc.Scan() {
		lines++
		longest = max(longest, len(sc.Bytes()))
		if len(sc.Bytes()) > maxLogLine {
			t.Errorf("log line of %d bytes: %.300s…", len(sc.Bytes()), sc.Text())
		}
	}
	if len(logs) > maxLogTotal {
		t.Errorf("%d bytes of log, want at most %d", len(logs), maxLogTotal)
	}
	// The test saw what it meant to: the echoes were there, scrubbed.
	for _, want := range []string{"event rejected by CXone", "token endpoint answered HTTP 502", "[redacted]"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q; tail:\n%s", want, clipLines(tail(logs, 20), 300))
		}
	}
	st := srv.Stats()
	if os.Getenv("HOSTILE_DUMP") != "" {
		t.Logf("logs:\n%s\ncheck:\n%s\nDLQ:\n%s", clipLines(logs, 2000), checkOut, clipLines(dlqText.String(), 2000))
	}
	t.Logf("%s: %d DLQ records, %d token failures, %d log lines (%d bytes, longest %d), check exit %d",
		mode, len(records), st.TokenFailures, lines, len(logs), longest, checkCode)
}

// escapings returns s and s as it looks inside a JSON string (with and
// without HTML escaping, as slog's JSON handler writes it), inside a Go
// quoted string (error messages quote excerpts), and both.
func escapings(s string) []string {
	inner := func(q string) string { return q[1 : len(q)-1] }
	js, _ := json.Marshal(s)
	var plain strings.Builder
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	goq := inner(strconv.Quote(s))
	jgoq, _ := json.Marshal(goq)
	out := []string{s, inner(string(js)), inner(strings.TrimSpace(plain.String())), goq, inner(string(jgoq))}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}

// clipLines cuts every line of s to n bytes.
func clipLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if len(l) > n {
			lines[i] = l[:n] + "…"
		}
	}
	return strings.Join(lines, "\n")
}

// readDLQ reads every record of orders.dlq.
func readDLQ(t *testing.T, brokers []string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("orders.dlq"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < hostileRecords && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// bridgeOutput runs the bridge binary with env (besides PATH and HOME) to
// its end and returns its stdout and stderr, interleaved, and exit code.
func bridgeOutput(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	p := tc.StartProcess(t, bridgeBin, args, env)
	code := p.Wait(60 * time.Second)
	return p.Logs(), code
}
