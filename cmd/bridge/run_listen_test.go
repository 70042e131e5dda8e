package main

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/logbuf"
	"github.com/cxone-bridge/bridge/metrics"
)

type okProbes struct{}

func (okProbes) Live(time.Duration) (bool, string) { return true, "ok" }
func (okProbes) Ready() (bool, string)             { return true, "ok" }

// logLines is a JSON log sink whose records tests can look up by message.
type logLines struct{ logbuf.Buffer }

// find returns the first record with message msg.
func (l *logLines) find(msg string) (map[string]any, bool) {
	for _, line := range strings.Split(l.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			return rec, true
		}
	}
	return nil, false
}

func startListenersForTest(t *testing.T, c config.Metrics) *logLines {
	t.Helper()
	logs := &logLines{}
	stop := startListeners(c, metrics.New("test"), okProbes{}, slog.New(slog.NewJSONHandler(logs, nil)))
	t.Cleanup(stop)
	return logs
}

func statusOf(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRunListenersPprofOnItsOwnPort: with metrics.pprof, run serves pprof
// on metrics.pprof_listen, logged with its address, and never on the
// metrics port.
func TestRunListenersPprofOnItsOwnPort(t *testing.T) {
	logs := startListenersForTest(t, config.Metrics{Listen: "127.0.0.1:0", Pprof: true, PprofListen: "127.0.0.1:0", StallTimeout: time.Second})
	ops, ok := logs.find("operations listener started")
	if !ok {
		t.Fatal("no \"operations listener started\" line")
	}
	pp, ok := logs.find("pprof listener started")
	if !ok {
		t.Fatal("no \"pprof listener started\" line")
	}
	opsAddr, _ := ops["addr"].(string)
	ppAddr, _ := pp["addr"].(string)
	if opsAddr == "" || ppAddr == "" || opsAddr == ppAddr {
		t.Fatalf("addresses: operations %q, pprof %q", opsAddr, ppAddr)
	}
	if pp["level"] != "INFO" {
		t.Errorf("pprof on loopback logged at %v", pp["level"])
	}
	if code := statusOf(t, "http://"+opsAddr+"/metrics"); code != 200 {
		t.Errorf("/metrics = %d", code)
	}
	if code := statusOf(t, "http://"+opsAddr+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ on the metrics port = %d, want 404", code)
	}
	if code := statusOf(t, "http://"+ppAddr+"/debug/pprof/"); code != 200 {
		t.Errorf("/debug/pprof/ on the pprof port = %d", code)
	}
	if code := statusOf(t, "http://"+ppAddr+"/debug/pprof/profile?seconds=600"); code != http.StatusBadRequest {
		t.Errorf("a 600s profile = %d, want 400", code)
	}
}

// TestRunListenersWithoutPprof: no pprof listener unless asked for.
func TestRunListenersWithoutPprof(t *testing.T) {
	logs := startListenersForTest(t, config.Metrics{Listen: "127.0.0.1:0", StallTimeout: time.Second})
	if _, ok := logs.find("pprof listener started"); ok {
		t.Error("a pprof listener was started with metrics.pprof false")
	}
	ops, _ := logs.find("operations listener started")
	if addr, _ := ops["addr"].(string); addr == "" || statusOf(t, "http://"+addr+"/debug/pprof/") != http.StatusNotFound {
		t.Errorf("operations listener %v: pprof must not be on it", ops)
	}
}

// TestRunListenersBindFailureLogged: an address that cannot be bound is
// logged with the address and the cause, and the other listener still
// starts.
func TestRunListenersBindFailureLogged(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy := taken.Addr().String()

	logs := startListenersForTest(t, config.Metrics{Listen: "127.0.0.1:0", Pprof: true, PprofListen: busy, StallTimeout: time.Second})
	rec, ok := logs.find("pprof listener not started")
	if !ok || rec["addr"] != busy || rec["level"] != "ERROR" || !strings.Contains(rec["err"].(string), "address already in use") {
		t.Errorf("pprof bind failure logged as %v", rec)
	}
	if _, ok := logs.find("operations listener started"); !ok {
		t.Error("the operations listener did not start beside a failed pprof listener")
	}

	logs = startListenersForTest(t, config.Metrics{Listen: busy, Pprof: true, PprofListen: "127.0.0.1:0", StallTimeout: time.Second})
	rec, ok = logs.find("operations listener not started: no metrics or probes")
	if !ok || rec["addr"] != busy || rec["level"] != "ERROR" {
		t.Errorf("operations bind failure logged as %v", rec)
	}
	if _, ok := logs.find("pprof listener started"); !ok {
		t.Error("the pprof listener did not start beside a failed operations listener")
	}
}

// TestRunListenersPprofNotLoopbackWarns: pprof reachable from other hosts
// is logged as a warning.
func TestRunListenersPprofNotLoopbackWarns(t *testing.T) {
	logs := startListenersForTest(t, config.Metrics{Listen: "off", Pprof: true, PprofListen: ":0", StallTimeout: time.Second})
	rec, ok := logs.find("pprof listener started")
	if !ok || rec["level"] != "WARN" {
		t.Errorf("pprof on every interface logged as %v", rec)
	}
	if _, ok := logs.find("operations listener started"); ok {
		t.Error("operations listener started with metrics.listen: off")
	}
}
