package e2e_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// Credentials of the secured cluster's SCRAM user.
const (
	secUser     = "bridge"
	secPassword = "Scram-Pa55-e2e-7731"
	secWrong    = "Wrong-Pa55-e2e-0042"
)

// Sizes of the secured run: valid orders and invalid records.
const (
	secValid     = 300
	secInvalid   = 6
	secPartition = 3
	secReauth    = 3 * time.Second // connections.max.reauth.ms of the SASL_SSL listener
)

// TestKafkaSecurity: the real bridge binary against one real Kafka node
// reached only through its SASL_SSL listener (TLS verified against the
// test CA, SCRAM-SHA-512), and through its OAUTHBEARER listener.
func TestKafkaSecurity(t *testing.T) {
	start := time.Now()
	k := tc.StartKafka(t, tc.Security(tc.SCRAMUser{Name: secUser, Password: secPassword}),
		// Sessions on the SASL_SSL listener last 3 s, then the client must
		// re-authenticate (KIP-368): PasswordRotation relies on it.
		tc.BrokerConfig("listener.name.sasl_ssl.connections.max.reauth.ms", strconv.Itoa(int(secReauth/time.Millisecond))))
	bin := tc.BuildBridge(t)
	e := newSecEnv(t, k, bin)
	t.Run("CheckPasses", e.checkPasses)
	t.Run("WrongPasswordFailsFast", e.wrongPasswordFailsFast)
	t.Run("ConsumeAndDLQOverTLSSCRAM", e.consumeAndDLQ)
	t.Run("DLQInspectOverTLSSCRAM", e.dlqInspect)
	t.Run("PasswordRotationWithoutRestart", e.passwordRotation) // changes the password: last of the SCRAM tests
	t.Run("OAuthBearerTokenCommand", func(t *testing.T) { secOAuth(t, k.For(t), bin) })
	t.Logf("TestKafkaSecurity total %s", time.Since(start).Round(100*time.Millisecond))
}

type secEnv struct {
	k                     *tc.Kafka
	bin                   string
	topic, dlq            string
	group                 string
	dir                   string
	srv                   *cxonetest.Server
	good, wrong, checkEnv string // configurations
}

// newSecEnv creates the topics (through the PLAINTEXT admin), the CXone
// test server and three configurations on the SASL_SSL listener:
// good.yaml (password_file), wrong.yaml (a wrong password from the
// environment) and check-env.yaml (the right one from the environment).
func newSecEnv(t *testing.T, k *tc.Kafka, bin string) *secEnv {
	e := &secEnv{k: k, bin: bin, topic: "orders-secure", group: "bridge-secure", dir: t.TempDir()}
	e.dlq = e.topic + ".dlq"
	k.CreateTopic(t, e.topic, secPartition, 1, nil)
	k.CreateTopic(t, e.dlq, secPartition, 1, nil)
	e.srv = tc.StartCXone(t)
	schema, err := os.ReadFile("../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(e.dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("order.json", string(schema), 0o644)
	write("kafka-password", secPassword+"\n", 0o600)
	conf := func(name, password string) string {
		return write(name, fmt.Sprintf(`kafka:
  brokers: [%s]
  group_id: %s
  session_timeout: 6s
  tls:
    enabled: true
    ca_file: %s
  sasl:
    mechanism: scram-sha-512
    username: %s
    %s
consumer:
  commit_interval: 200ms
  drain_timeout: 10s
cxone:
  base_url: %s
  allow_insecure_http: true
  auth:
    client_id: %s
    client_secret: ${CXONE_CLIENT_SECRET}
routes:
  - topic: %s
    event_type: OrderCreated
    schema: order.json
    business_key: /orderId
metrics:
  listen: 127.0.0.1:0
log:
  level: info
`, strings.Join(k.SecureBrokers(), ", "), e.group, k.CAFile(), secUser, password, e.srv.URL, cxonetest.DefaultClientID, e.topic), 0o644)
	}
	e.good = conf("good.yaml", "password_file: kafka-password")
	e.wrong = conf("wrong.yaml", "password: ${KAFKA_PASSWORD}")
	e.checkEnv = conf("check-env.yaml", "password: ${KAFKA_PASSWORD}")
	return e
}

func (e *secEnv) env(kafkaPassword string) []string {
	return []string{"CXONE_CLIENT_SECRET=" + cxonetest.DefaultClientSecret, "KAFKA_PASSWORD=" + kafkaPassword}
}

// runCmd runs the bridge binary to completion with env added.
func (e *secEnv) runCmd(t *testing.T, env []string, args ...string) (out string, code int, took time.Duration) {
	t.Helper()
	return runBin(t, e.bin, env, args...)
}

// runBin runs bin to completion (at most 60 s) with env added, and returns
// its output (stdout and stderr), exit code and duration.
func runBin(t *testing.T, bin string, env []string, args ...string) (out string, code int, took time.Duration) {
	t.Helper()
	p := tc.StartProcess(t, bin, args, env)
	start := time.Now()
	code = p.Wait(60 * time.Second)
	return p.Logs(), code, time.Since(start)
}

func noSecret(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range []string{secPassword, secWrong, cxonetest.DefaultClientSecret} {
		if strings.Contains(out, s) {
			t.Errorf("%s shows a secret (%.4s…):\n%s", what, s, out)
		}
	}
}

// checkPasses: `bridge check` over TLS+SCRAM passes (password from the
// environment), and FAILs on the brokers item with the wrong password.
func (e *secEnv) checkPasses(t *testing.T) {
	out, code, took := e.runCmd(t, e.env(secPassword), "check", "--config", e.checkEnv)
	if code != 0 || !strings.Contains(out, "PASS brokers: 1 broker(s) reachable via "+e.k.SecureBrokers()[0]+" (TLS, SASL SCRAM-SHA-512 as bridge)") ||
		!strings.Contains(out, "PASS topic "+e.topic) || !strings.Contains(out, "PASS dlq topic "+e.dlq) {
		t.Fatalf("check with the right password: exit %d\n%s", code, out)
	}
	t.Logf("check over TLS+SCRAM passed in %s", took.Round(time.Millisecond))
	noSecret(t, "check output", out)

	out, code, took = e.runCmd(t, e.env(secWrong), "check", "--config", e.wrong)
	if code != 1 || !strings.Contains(out, "FAIL brokers: ") || !strings.Contains(out, "SASL authentication failed (mechanism SCRAM-SHA-512, user bridge)") {
		t.Fatalf("check with a wrong password: exit %d\n%s", code, out)
	}
	t.Logf("check with a wrong password FAILed in %s", took.Round(time.Millisecond))
	noSecret(t, "check output", out)
}

// wrongPasswordFailsFast: `bridge run` with a wrong password exits 1
// within 20 s, saying SASL authentication failed, without the password.
func (e *secEnv) wrongPasswordFailsFast(t *testing.T) {
	start := time.Now()
	p := tc.StartBridge(t, e.bin, e.wrong, e.env(secWrong))
	code := p.Wait(20 * time.Second)
	took := time.Since(start)
	out := p.Logs()
	if code != 1 || !strings.Contains(out, "SASL authentication failed (mechanism SCRAM-SHA-512, user bridge)") ||
		!strings.Contains(out, "SASL_AUTHENTICATION_FAILED") {
		t.Fatalf("exit %d after %s, want 1 within 20s naming SASL authentication:\n%s", code, took.Round(time.Millisecond), out)
	}
	noSecret(t, "bridge log", out)
	t.Logf("wrong password: exit %d after %s: %s", code, took.Round(time.Millisecond), lastLine(out))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// consumeAndDLQ: over TLS+SCRAM only, the bridge publishes 300 valid
// orders exactly once in effect, writes the 6 invalid records to the DLQ
// (envelope names their source offsets), and commits to lag 0.
func (e *secEnv) consumeAndDLQ(t *testing.T) {
	cl := e.k.Client(t, kgo.DefaultProduceTopic(e.topic))
	var recs []*kgo.Record
	invalid := map[string]bool{}
	for i := range secValid + secInvalid {
		v := fmt.Sprintf(`{"orderId":%q,"customerId":"CUST-%d","totalAmount":%d.5,"currency":"USD","timestamp":"2026-11-27T10:00:00Z"}`, orderID(i), i%23, i)
		if i%51 == 50 { // 6 of 306: alternately not JSON and a schema violation
			if len(invalid)%2 == 0 {
				v = `{"orderId": not json`
			} else {
				v = fmt.Sprintf(`{"orderId":%q,"customerId":"CUST-1","totalAmount":-1,"currency":"usd"}`, orderID(i))
			}
			invalid["corr-"+strconv.Itoa(i)] = true
		}
		recs = append(recs, &kgo.Record{Key: []byte("CUST-" + strconv.Itoa(i%23)), Value: []byte(v),
			Headers: []kgo.RecordHeader{{Key: "x-correlation-id", Value: []byte("corr-" + strconv.Itoa(i))}}})
	}
	if len(invalid) != secInvalid {
		t.Fatalf("made %d invalid records, want %d", len(invalid), secInvalid)
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	p := tc.StartBridge(t, e.bin, e.good, e.env("unused"))
	deadline := time.Now().Add(90 * time.Second)
	for {
		acc, dl, lag := e.srv.Stats().Accepted, deadLetters(t, e.k, e.dlq), groupLag(e.k, e.group)
		if acc == secValid && dl == secInvalid && lag == 0 {
			break
		}
		if time.Now().After(deadline) || p.Exited() {
			t.Fatalf("after %s: %d accepted (want %d), %d in the DLQ (want %d), lag %d (want 0), bridge exited %v; log:\n%s",
				time.Since(start).Round(time.Millisecond), acc, secValid, dl, secInvalid, lag, p.Exited(), p.Logs())
		}
		select {
		case <-p.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	took := time.Since(start)
	_ = p.Signal(os.Interrupt)
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("bridge exited %d after SIGINT:\n%s", code, p.Logs())
	}
	out := p.Logs()
	if !strings.Contains(out, "kafka connection verified") {
		t.Errorf("no startup probe line in the log:\n%s", tail(out, 10))
	}
	noSecret(t, "bridge log", out)

	// Exactly once in effect: each valid order accepted once, nothing else.
	st, events := e.srv.Stats(), e.srv.Events()
	seen := map[string]bool{}
	for _, ev := range events {
		var body struct {
			Attributes struct {
				OrderID string `json:"orderId"`
			} `json:"attributes"`
		}
		if err := json.Unmarshal(ev.Body, &body); err != nil || seen[body.Attributes.OrderID] {
			t.Fatalf("event %s: repeated or unreadable (%v)", body.Attributes.OrderID, err)
		}
		seen[body.Attributes.OrderID] = true
	}
	if st.Accepted != secValid || len(seen) != secValid || st.Duplicates != 0 {
		t.Fatalf("CXone: %d accepted, %d distinct orders, %d duplicates; want %d, %d, 0", st.Accepted, len(seen), st.Duplicates, secValid, secValid)
	}
	// The DLQ, read back: exactly the invalid records, class invalid,
	// envelope pointing at their source.
	dlqRecs := readCommitted(t, e.k, e.dlq)
	if len(dlqRecs) != secInvalid {
		t.Fatalf("%d DLQ records, want %d", len(dlqRecs), secInvalid)
	}
	for _, r := range dlqRecs {
		corr, _ := header(r, "x-correlation-id")
		class, _ := header(r, dlq.HeaderClass)
		src, _ := header(r, dlq.HeaderTopic)
		if !invalid[corr] || class != "invalid" || src != e.topic {
			t.Errorf("DLQ record %s: class %q, source %q; want one of the invalid records, class invalid, source %s", corr, class, src, e.topic)
		}
		delete(invalid, corr)
	}
	// Committed offsets: the whole topic.
	if c, end := committedSum(e.k, e.group), endSum(t, e.k, e.topic); c != end || c != secValid+secInvalid {
		t.Fatalf("committed %d, end %d, want %d", c, end, secValid+secInvalid)
	}
	t.Logf("over TLS+SCRAM-SHA-512: %d accepted once each, %d dead-lettered, committed %d (lag 0) in %s",
		st.Accepted, len(dlqRecs), secValid+secInvalid, took.Round(time.Millisecond))
}

// dlqInspect: `bridge dlq inspect` reads the DLQ over TLS+SCRAM.
func (e *secEnv) dlqInspect(t *testing.T) {
	out, code, took := e.runCmd(t, e.env("unused"), "dlq", "inspect", "--config", e.good, "--output", "json")
	if code != 0 {
		t.Fatalf("dlq inspect: exit %d\n%s", code, out)
	}
	start := strings.Index(out, "{")
	var r struct {
		Topics []struct {
			Records int64            `json:"records"`
			ByClass map[string]int64 `json:"by_class"`
		} `json:"topics"`
	}
	if start < 0 || json.Unmarshal([]byte(out[start:strings.LastIndex(out, "}")+1]), &r) != nil || len(r.Topics) != 1 {
		t.Fatalf("dlq inspect output:\n%s", out)
	}
	if r.Topics[0].Records != secInvalid || r.Topics[0].ByClass["invalid"] != secInvalid {
		t.Fatalf("dlq inspect: %+v, want %d invalid records", r.Topics[0], secInvalid)
	}
	t.Logf("dlq inspect over TLS+SCRAM: %d records in %s", r.Topics[0].Records, took.Round(time.Millisecond))
}

// secOAuth: OAUTHBEARER on the SASL_PLAINTEXT listener, the token (an
// unsecured JWT, which Kafka's default validator accepts) printed by
// token_command: the bridge publishes 40 orders and commits to lag 0.
func secOAuth(t *testing.T, k *tc.Kafka, bin string) {
	const n = 40
	topic, group := "orders-oauth", "bridge-oauth"
	k.CreateTopic(t, topic, 1, 1, nil)
	k.CreateTopic(t, topic+".dlq", 1, 1, nil)
	srv := tc.StartCXone(t)
	dir := t.TempDir()
	enc := base64.RawURLEncoding.EncodeToString
	jwt := enc([]byte(`{"alg":"none"}`)) + "." + enc(fmt.Appendf(nil, `{"sub":"bridge","iat":%d,"exp":%d}`, time.Now().Unix(), time.Now().Add(time.Hour).Unix())) + "."
	script := filepath.Join(dir, "get-token")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' '"+jwt+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `kafka:
  brokers: [%s]
  group_id: %s
  sasl:
    mechanism: oauthbearer
    token_command: [%s]
consumer:
  commit_interval: 200ms
cxone:
  base_url: %s
  allow_insecure_http: true
  auth:
    client_id: %s
    client_secret: ${CXONE_CLIENT_SECRET}
routes:
  - topic: %s
    event_type: OrderCreated
    business_key: /orderId
metrics:
  listen: 127.0.0.1:0
`, strings.Join(k.OAuthBrokers(), ", "), group, script, srv.URL, cxonetest.DefaultClientID, topic), 0o644); err != nil {
		t.Fatal(err)
	}
	cl := k.Client(t, kgo.DefaultProduceTopic(topic))
	for i := range n {
		v := fmt.Sprintf(`{"orderId":%q,"customerId":"C","totalAmount":1,"currency":"USD","timestamp":"2026-11-27T10:00:00Z"}`, orderID(i))
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	p := tc.StartBridge(t, bin, cfg, []string{"CXONE_CLIENT_SECRET=" + cxonetest.DefaultClientSecret})
	poll.Until(t, 60*time.Second, "40 orders accepted over OAUTHBEARER, lag 0", func() bool {
		return srv.Stats().Accepted == n && groupLag(k, group) == 0
	})
	took := time.Since(start)
	_ = p.Signal(os.Interrupt)
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("bridge exited %d:\n%s", code, p.Logs())
	}
	if strings.Contains(p.Logs(), jwt) {
		t.Error("the bridge logged the token")
	}
	if !strings.Contains(p.Logs(), "without kafka.tls") {
		t.Error("no warning about OAUTHBEARER without TLS")
	}
	out, code, _ := runBin(t, bin, []string{"CXONE_CLIENT_SECRET=" + cxonetest.DefaultClientSecret}, "check", "--config", cfg)
	if code != 0 || !strings.Contains(out, "WARN kafka: kafka.sasl.oauthbearer without kafka.tls") || !strings.Contains(out, "(SASL OAUTHBEARER)") {
		t.Errorf("check over OAUTHBEARER: exit %d, want 0 with a warning about clear text:\n%s", code, out)
	}
	t.Logf("OAUTHBEARER via token_command: %d accepted, lag 0, in %s", n, took.Round(time.Millisecond))
}

// passwordRotation: the SCRAM password is changed at the broker and in
// the bridge's password_file while the bridge runs. Batches of orders keep
// being published and committed through two re-authentication periods
// after the change (each batch waited for before the next is produced),
// so the bridge's connections re-authenticated with the password read anew
// from the file; the process is never restarted.
func (e *secEnv) passwordRotation(t *testing.T) {
	const batch = 20
	topic, group := "orders-rotate", "bridge-rotate"
	e.k.CreateTopic(t, topic, secPartition, 1, nil)
	e.k.CreateTopic(t, topic+".dlq", secPartition, 1, nil)
	pwFile := filepath.Join(e.dir, "rotating-password")
	if err := os.WriteFile(pwFile, []byte(secPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(e.good)
	if err != nil {
		t.Fatal(err)
	}
	cfgText := strings.NewReplacer("password_file: kafka-password", "password_file: rotating-password",
		"group_id: "+e.group, "group_id: "+group, "topic: "+e.topic, "topic: "+topic).Replace(string(good))
	cfg := filepath.Join(e.dir, "rotate.yaml")
	if err := os.WriteFile(cfg, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := tc.StartCXone(t)
	cfgText = strings.Replace(cfgText, e.srv.URL, srv.URL, 1)
	if err := os.WriteFile(cfg, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cl := e.k.Client(t, kgo.DefaultProduceTopic(topic))
	produced := 0
	produceBatch := func() {
		t.Helper()
		var recs []*kgo.Record
		for range batch {
			v := fmt.Sprintf(`{"orderId":%q,"customerId":"C%d","totalAmount":1,"currency":"USD","timestamp":"2026-11-27T10:00:00Z"}`, orderID(produced), produced%7)
			recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(produced % 7)), Value: []byte(v)})
			produced++
		}
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p := tc.StartBridge(t, e.bin, cfg, e.env("unused"))
	waitBatch := func(phase string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for srv.Stats().Accepted != int64(produced) || groupLag(e.k, group) != 0 {
			if time.Now().After(deadline) || p.Exited() {
				t.Fatalf("%s: %d of %d accepted, lag %d, bridge exited %v; log tail:\n%s", phase,
					srv.Stats().Accepted, produced, groupLag(e.k, group), p.Exited(), tail(p.Logs(), 20))
			}
			select {
			case <-p.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	produceBatch()
	waitBatch("before rotation")

	const newPassword = "Rotated-Pa55-e2e-5150"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := e.k.Admin().AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: secUser, Mechanism: kadm.ScramSha512, Iterations: 8192, Password: newPassword}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("change the SCRAM password: %v", err)
	}
	if err := os.WriteFile(pwFile, []byte(newPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rotated := time.Now()
	batches := 0
	for time.Since(rotated) < 2*secReauth+time.Second {
		produceBatch()
		waitBatch(fmt.Sprintf("batch %d after rotation (%s)", batches+1, time.Since(rotated).Round(time.Millisecond)))
		batches++
	}
	// The old password is refused now: what the bridge uses is the new one.
	out, code, _ := e.runCmd(t, e.env(secPassword), "check", "--config", e.checkEnv)
	if code != 1 || !strings.Contains(out, "SASL authentication failed") {
		t.Fatalf("check with the old password after rotation: exit %d\n%s", code, out)
	}
	_ = p.Signal(os.Interrupt)
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("bridge exited %d:\n%s", code, p.Logs())
	}
	noSecret(t, "bridge log", p.Logs())
	if strings.Contains(p.Logs(), newPassword) {
		t.Error("the bridge logged the new password")
	}
	t.Logf("password rotated under a running bridge: %d batches (%d orders) accepted and committed over %s after the change (re-auth every %s); old password now refused",
		batches, batches*batch, time.Since(rotated).Round(time.Millisecond), secReauth)
}
