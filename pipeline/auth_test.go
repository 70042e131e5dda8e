package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/logbuf"
	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// accessKeyRig is a running bridge in real CXone's setup: access keys in
// secret files, token endpoint and API base discovered over HTTPS from the
// TLS test server, trusted through a CA file; Kafka is kfake.
type accessKeyRig struct {
	srv              *cxonetest.Server
	producer         *kgo.Client
	adm              *kadm.Client
	appFile, keyFile string
	logs             *logbuf.Buffer
	stop             func()
}

func replaceSecretFile(t *testing.T, path, v string) {
	t.Helper()
	// As a Kubernetes Secret volume does: a new file renamed into place.
	if err := os.WriteFile(path+".tmp", []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func startAccessKeyRig(t *testing.T) *accessKeyRig {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders", "orders.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	srv := cxonetest.NewTLSServer()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	schema, err := os.ReadFile("../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"order.json": schema, "ca.pem": srv.CACert} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := &accessKeyRig{srv: srv, appFile: filepath.Join(dir, "app.secret"), keyFile: filepath.Join(dir, "key.secret"), logs: &logbuf.Buffer{}}
	replaceSecretFile(t, r.appFile, cxonetest.DefaultAppSecret)
	replaceSecretFile(t, r.keyFile, cxonetest.DefaultAccessKeySecret)
	yaml := fmt.Sprintf(`kafka: {brokers: [%s], group_id: g}
consumer: {commit_interval: 100ms}
cxone:
  base_url: discover
  tenant_id: %s
  ca_file: ca.pem
  discovery_cache: discovery.json
  auth:
    mode: access_key
    issuer: %s
    client_id: %s
    client_secret_file: app.secret
    access_key_id: %s
    access_key_secret_file: key.secret
routes: [{topic: orders, event_type: OrderCreated, schema: order.json, business_key: /orderId}]
`, c.ListenAddrs()[0], cxonetest.DefaultTenantID, srv.URL, cxonetest.DefaultAppID, cxonetest.DefaultAccessKeyID)
	cfg, err := config.Parse([]byte(yaml), dir)
	if err != nil {
		t.Fatal(err)
	}
	br, err := pipeline.New(cfg, slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	r.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(func() {
		if ctx.Err() == nil {
			r.stop()
		}
	})
	if r.producer, err = kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("orders")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.producer.Close)
	r.adm = kadm.NewClient(r.producer)
	return r
}

func (r *accessKeyRig) produce(t *testing.T, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		rec := &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(valid(i))}
		if err := r.producer.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// waitAccepted polls until CXone accepted want events and the group's lag
// is 0.
func (r *accessKeyRig) waitAccepted(t *testing.T, want int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		lags, err := r.adm.Lag(context.Background(), "g")
		gl, ok := lags["g"]
		if r.srv.Stats().Accepted == want && err == nil && ok && gl.Error() == nil && len(gl.Lag["orders"]) == 3 && gl.Lag.Total() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: stats %+v; logs:\n%s", r.srv.Stats(), r.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *accessKeyRig) checkNoSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	logs := r.logs.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a secret is in the logs")
		}
	}
}

// TestAccessKeyModeEndToEnd: the wired bridge, in access-key mode with both
// discoveries over HTTPS and a CA file, consumes 50 records from Kafka and
// CXone accepts all 50 as published by the access-key application; each
// discovery document is fetched once, one token is issued, the discovered
// endpoints are logged and cached on disk, and no secret is logged.
func TestAccessKeyModeEndToEnd(t *testing.T) {
	r := startAccessKeyRig(t)
	r.produce(t, 0, 50)
	r.waitAccepted(t, 50)
	r.stop()
	st := r.srv.Stats()
	if st.DiscoveryRequests != 2 || st.TokensIssued != 1 || st.TokenFailures != 0 || st.Rejected != 0 {
		t.Errorf("stats %+v, want 2 discovery requests, 1 token", st)
	}
	for _, ev := range r.srv.Events() {
		if ev.ClientID != cxonetest.DefaultAppID {
			t.Fatalf("event from client %q, want %q", ev.ClientID, cxonetest.DefaultAppID)
		}
	}
	logs := r.logs.String()
	if !strings.Contains(logs, `"events_url":"`+r.srv.URL+`/api/v2/eventbridge/events"`) || !strings.Contains(logs, `"api_discovered":true`) {
		t.Errorf("discovered endpoints not logged:\n%s", logs)
	}
	cache, err := os.ReadFile(filepath.Join(filepath.Dir(r.appFile), "discovery.json"))
	if err != nil || !strings.Contains(string(cache), `"api_endpoint": "`+r.srv.URL+`"`) {
		t.Errorf("discovery cache: %v\n%s", err, cache)
	}
	r.checkNoSecrets(t, cxonetest.DefaultAppSecret, cxonetest.DefaultAccessKeySecret)
}

// TestRotatedSecretFilesWhileRunning: while the bridge runs, CXone rotates
// both secrets (only the new ones are accepted from then on) and the secret
// files are replaced; the issued tokens are revoked so the bridge needs a
// new one. It keeps publishing: every record of both batches is accepted,
// with a new token obtained with the new secrets and not one refused token
// request, and without a restart.
func TestRotatedSecretFilesWhileRunning(t *testing.T) {
	r := startAccessKeyRig(t)
	r.produce(t, 0, 20)
	r.waitAccepted(t, 20)

	r.srv.SetClientSecret(cxonetest.DefaultAppID, "app-secret-rotated")
	r.srv.SetAccessKeySecret(cxonetest.DefaultAccessKeyID, "key-secret-rotated")
	replaceSecretFile(t, r.appFile, "app-secret-rotated")
	replaceSecretFile(t, r.keyFile, "key-secret-rotated")
	r.srv.RevokeTokens()

	r.produce(t, 20, 30)
	r.waitAccepted(t, 50)
	r.stop()
	st := r.srv.Stats()
	if st.TokensIssued != 2 || st.TokenFailures != 0 {
		t.Errorf("stats %+v, want 2 tokens (before and after the rotation), no refused token request", st)
	}
	if !strings.Contains(r.logs.String(), "secret file changed, using the new secret") {
		t.Error("the rotation was not logged")
	}
	r.checkNoSecrets(t, cxonetest.DefaultAppSecret, cxonetest.DefaultAccessKeySecret, "app-secret-rotated", "key-secret-rotated")
}
