package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/sink/cxonetest"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// TestRunSaysWhenNoBrokerAnswers: `bridge run` against brokers that refuse
// connections names them and the error within seconds, and again while it
// lasts; against working brokers it says when the group is joined.
func TestRunSaysWhenNoBrokerAnswers(t *testing.T) {
	// A port with nothing listening: take one and close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	e := newEnv(t, 1, "")
	data, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(e.dir, "dead.yaml")
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(data), strings.Join(e.brokers, ", "), dead, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := tc.StartBridge(t, bridgeBin, cfg, []string{"CXONE_CLIENT_SECRET=" + cxonetest.DefaultClientSecret})
	start := time.Now()
	p.WaitLog("no Kafka broker answers", 15*time.Second)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the first warning came after %s", took)
	}
	if !strings.Contains(p.Logs(), dead) {
		t.Errorf("the warning does not name the broker %s:\n%s", dead, tail(p.Logs(), 5))
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}

	ok := e.start()
	ok.WaitLog("consumer group joined", 30*time.Second)
}

// TestRunSaysWhenNoToken: with a secret the token endpoint refuses, run
// warns that it has no token, naming the token URL, within seconds, and
// never shows the secret.
func TestRunSaysWhenNoToken(t *testing.T) {
	e := newEnv(t, 1, "")
	p := tc.StartBridge(t, bridgeBin, e.cfg, []string{"CXONE_CLIENT_SECRET=wrong-secret-4711"})
	p.WaitLog("no CXone token; events wait until one is obtained", 20*time.Second)
	logs := p.Logs()
	if !strings.Contains(logs, e.cxone.URL) || strings.Contains(logs, "wrong-secret-4711") {
		t.Errorf("the warning should name the token URL and never the secret:\n%s", tail(logs, 5))
	}
}
