package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// opsAddr reads the operations listener's address from the process log.
func opsAddr(t *testing.T, p *tc.Process) string {
	t.Helper()
	p.WaitLog(`"operations listener started"`, 10*time.Second)
	for _, line := range strings.Split(p.Logs(), "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "operations listener started" {
			return rec.Addr
		}
	}
	t.Fatal("no operations listener address in the log")
	return ""
}

func get(addr, path string) (int, string) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// noSecretInLogs fails if any log line carries secret or a bearer token.
func noSecretInLogs(t *testing.T, logs, secret string) {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, secret) || strings.Contains(strings.ToLower(line), "bearer ") {
			t.Errorf("log line leaks a secret: %s", line)
		}
	}
}

// TestProcessOutageReadinessAndNoSecret runs the binary: /readyz flips to
// 503 during a CXone outage and back to 200 after, /metrics is served, and
// no log line contains the client secret or a bearer token.
func TestProcessOutageReadinessAndNoSecret(t *testing.T) {
	e := newEnv(t, 2, "")
	e.produce(0, 100)
	p := e.start()
	addr := opsAddr(t, p)
	poll.Until(t, 15*time.Second, "delivered and ready", func() bool {
		code, _ := get(addr, "/readyz")
		return code == 200 && e.cxone.Stats().Accepted >= 100
	})
	if err := e.cxone.SetFaults(cxonetest.Faults{OutageFor: cxonetest.Duration(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	e.produce(100, 120)
	poll.Until(t, 15*time.Second, "not ready during the outage", func() bool {
		code, body := get(addr, "/readyz")
		return code == 503 && strings.Contains(body, "circuit breaker open")
	})
	if code, _ := get(addr, "/healthz"); code != 200 {
		t.Errorf("/healthz during the outage = %d, want 200", code)
	}
	if err := e.cxone.SetFaults(cxonetest.Faults{}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 15*time.Second, "ready again and all delivered", func() bool {
		code, _ := get(addr, "/readyz")
		return code == 200 && e.cxone.Stats().Accepted >= 120
	})
	if code, body := get(addr, "/metrics"); code != 200 || !strings.Contains(body, `cxone_bridge_events_total{outcome="accepted"}`) {
		t.Errorf("/metrics = %d, missing events_total", code)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(20 * time.Second); code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, tail(p.Logs(), 20))
	}
	noSecretInLogs(t, p.Logs(), cxonetest.DefaultClientSecret)
}

// TestProcess401NoSecret: with a wrong secret the token endpoint answers
// 401; the bridge logs the systemic failure, is not ready, and the wrong
// secret appears in no log line.
func TestProcess401NoSecret(t *testing.T) {
	const wrong = "wrong-secret-5d2e90aa"
	e := newEnv(t, 1, "")
	e.produce(0, 5)
	p := tc.StartBridge(t, bridgeBin, e.cfg, []string{"CXONE_CLIENT_SECRET=" + wrong})
	addr := opsAddr(t, p)
	p.WaitLog("cxone systemic failure", 15*time.Second)
	if code, body := get(addr, "/readyz"); code != 503 || !strings.Contains(body, "no CXone token") {
		t.Errorf("/readyz = %d %q, want 503 naming the token", code, body)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.Wait(20 * time.Second)
	noSecretInLogs(t, p.Logs(), wrong)
}
