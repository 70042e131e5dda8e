package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// TestRunSaysWhenNoBrokerAnswers: `bridge run` against brokers that refuse
// connections names them and the error within seconds, and again while it
// lasts; against working brokers it says when the group is joined, and when
// the brokers go away after that it says so again and /readyz turns 503.
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
	ok.WaitLog("partitions assigned", 30*time.Second)
	addr := opsAddr(t, ok)
	poll.Until(t, 15*time.Second, "ready", func() bool { code, _ := get(addr, "/readyz"); return code == 200 })
	before := strings.Count(ok.Logs(), "no Kafka broker answers")
	e.kafka.Close()
	gone := time.Now()
	poll.Until(t, 30*time.Second, "the brokers' loss said", func() bool {
		return strings.Count(ok.Logs(), "no Kafka broker answers") > before
	})
	t.Logf("the loss of the brokers was said after %s", time.Since(gone).Round(100*time.Millisecond))
	poll.Until(t, 60*time.Second, "not ready without brokers", func() bool {
		code, body := get(addr, "/readyz")
		return code == 503 && strings.Contains(body, "consumer group not joined")
	})
}

// TestRunSaysWhenNoToken: with a secret the token endpoint refuses, run
// warns that it has no token, naming the token URL, within seconds, and
// never shows the secret.
func TestRunSaysWhenNoToken(t *testing.T) {
	e := newEnv(t, 1, "")
	p := tc.StartBridge(t, bridgeBin, e.cfg, []string{"CXONE_CLIENT_SECRET=wrong-secret-4711"})
	const refused = "no CXone token: the token endpoint refused the client; check cxone.auth client_id and client_secret"
	p.WaitLog(refused, 20*time.Second)
	logs := p.Logs()
	if !strings.Contains(logs, e.cxone.URL) || strings.Contains(logs, "wrong-secret-4711") {
		t.Errorf("the warning should name the token URL and never the secret:\n%s", tail(logs, 5))
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, refused) && (strings.Contains(line, `\\\"`) || !strings.Contains(line, `"status":401`) || strings.Contains(line, "basic_encoding")) {
			t.Errorf("the warning should give the status, its answer escaped once, and no basic_encoding hint for a secret whose forms are alike:\n%s", line)
		}
	}
}

// TestRunSaysWhereEachPartitionStarts: when the group is joined, run names
// the partitions it was given and where each starts: at the group's
// committed offset, or at start_offset for a partition never committed.
func TestRunSaysWhereEachPartitionStarts(t *testing.T) {
	e := newEnv(t, 2, "")
	e.produce(0, 20)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 3, LeaderEpoch: -1})
	if resp, err := kadm.NewClient(cl).CommitOffsets(context.Background(), "bridge-test", offs); err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	p := e.start()
	p.WaitLog("partitions assigned", 30*time.Second)
	var line string
	for _, l := range strings.Split(p.Logs(), "\n") {
		if strings.Contains(l, "partitions assigned") {
			line = l
		}
	}
	for _, want := range []string{"orders[0]@3", "orders[1]@earliest", "committed=1", "without_commit=1"} {
		if !strings.Contains(line, want) && !strings.Contains(line, jsonPair(want)) {
			t.Errorf("the line lacks %s:\n%s", want, line)
		}
	}
	if strings.Contains(p.Logs(), "default consumer group") {
		t.Errorf("warned of the default group for group bridge-test:\n%s", tail(p.Logs(), 5))
	}
}

// jsonPair turns k=v into the JSON log's "k":v.
func jsonPair(kv string) string {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return kv
	}
	return `"` + k + `":` + v
}

// TestRunWarnsOnSharedDefaultGroup: a run with the default group id that
// finds other members in the group says so; one alone in it does not.
// Under both group protocols (a KIP-848 group is described otherwise).
func TestRunWarnsOnSharedDefaultGroup(t *testing.T) {
	for _, protocol := range []string{"classic", "consumer"} {
		t.Run(protocol, func(t *testing.T) {
			e := newEnv(t, 2, "")
			data, err := os.ReadFile(e.cfg)
			if err != nil {
				t.Fatal(err)
			}
			yaml := strings.Replace(string(data), "  group_id: bridge-test\n", "  group_protocol: "+protocol+"\n", 1)
			if err := os.WriteFile(e.cfg, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			first := e.start()
			first.WaitLog("partitions assigned", 30*time.Second)
			second := e.start()
			second.WaitLog("joined the default consumer group, which is already in use", 30*time.Second)
			if strings.Contains(first.Logs(), "joined the default consumer group") {
				t.Errorf("the first member, alone in the group when it joined, warned:\n%s", tail(first.Logs(), 5))
			}
		})
	}
}

// TestRunTokenWarningHintsBasicEncoding: when the token endpoint refuses a
// secret whose two Basic forms differ, run's warning says which form it
// used and which to try, as check does; the secret is never printed.
func TestRunTokenWarningHintsBasicEncoding(t *testing.T) {
	srv := cxonetest.NewServer(cxonetest.WithClient(cxonetest.DefaultClientID, basicSecret), cxonetest.WithBasicEncoding(cxonetest.BasicRFC6749))
	t.Cleanup(srv.Close)
	p := tc.StartBridge(t, bridgeBin, basicCheckEnv(t, cluster(t, "orders", "orders.dlq"), srv.URL, basicSecret, ""), nil)
	p.WaitLog("no CXone token: the token endpoint refused the client", 20*time.Second)
	if want := "if client_id and client_secret are right: cxone.auth.basic_encoding: raw was used; if the tenant expects RFC 6749 encoding set rfc6749"; !strings.Contains(p.Logs(), want) {
		t.Errorf("the warning lacks %q:\n%s", want, tail(p.Logs(), 5))
	}
	assertNotPrinted(t, p.Logs(), secretForms(basicSecret))
}
