package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// These tests run the real bridge binary as a process against an
// in-process Kafka (kfake) and the CXone test server, and kill it with real
// signals. The same scenarios against real Apache Kafka come with the
// testcontainers harness.

type env struct {
	t       *testing.T
	kafka   *kfake.Cluster
	brokers []string
	cxone   *cxonetest.Server
	dir     string
	cfg     string
}

func newEnv(t *testing.T, partitions int32, extraYAML string) *env {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, "orders", "orders.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	srv := cxonetest.NewServer(cxonetest.WithRecordLimit(1 << 20))
	t.Cleanup(srv.Close)
	e := &env{t: t, kafka: c, brokers: c.ListenAddrs(), cxone: srv, dir: t.TempDir()}
	schema, err := os.ReadFile("../../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "order.json"), schema, 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`kafka:
  brokers: [%s]
  group_id: bridge-test
  session_timeout: 6s
  rebalance_timeout: 10s
consumer:
  commit_interval: 200ms
  drain_timeout: 5s
  retry_backoff: 50ms
  retry_backoff_max: 500ms
cxone:
  base_url: %s
  allow_insecure_http: true
  auth:
    client_id: %s
    client_secret: ${CXONE_CLIENT_SECRET}
  retry:
    base_delay: 20ms
    max_delay: 200ms
  breaker:
    open_timeout: 1s
routes:
  - topic: orders
    event_type: OrderCreated
    schema: order.json
    business_key: /orderId
metrics:
  listen: 127.0.0.1:0
log:
  level: info
%s`, strings.Join(e.brokers, ", "), srv.URL, cxonetest.DefaultClientID, extraYAML)
	e.cfg = filepath.Join(e.dir, "bridge.yaml")
	if err := os.WriteFile(e.cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func order(i int) []byte {
	return []byte(fmt.Sprintf(`{"orderId":"ORD-%010d","customerId":"CUST-%d","totalAmount":%d.5,"currency":"USD","timestamp":"2026-11-27T10:00:00Z"}`, i, i%200, i%1000))
}

func (e *env) produce(from, to int) {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.DefaultProduceTopic("orders"), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Key: []byte("CUST-" + strconv.Itoa(i%200)), Value: order(i)})
		if len(recs) == 5000 || i == to-1 {
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				e.t.Fatal(err)
			}
			recs = recs[:0]
		}
	}
}

// lag returns the group's lag on orders and the DLQ's end offset sum.
func (e *env) lag() (lag int64, dlqRecords int64) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	lags, err := adm.Lag(context.Background(), "bridge-test")
	if err != nil {
		return -1, -1
	}
	lag = -1
	for _, gl := range lags {
		if gl.Error() == nil && len(gl.Lag["orders"]) > 0 {
			lag = gl.Lag.Total()
		}
	}
	return lag, countCommitted(e.t, cl, "orders.dlq")
}

// countCommitted counts the committed data records of topic: dead letters
// are written in transactions, whose markers occupy offsets too, and an
// aborted transaction's records are not dead letters.
func countCommitted(t *testing.T, cl *kgo.Client, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	if len(left) == 0 {
		return 0
	}
	rd, err := kgo.NewClient(append(cl.Opts(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var n int64
	for len(left) > 0 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: %v", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok {
				if !r.Attrs.IsControl() {
					n++
				}
				if r.Offset+1 >= end {
					delete(left, r.Partition)
				}
			}
		})
	}
	return n
}

// start runs the bridge binary as a process (testcontainers.StartBridge:
// own process group, logs kept, killed in cleanup).
func (e *env) start() *tc.Process {
	e.t.Helper()
	return tc.StartBridge(e.t, bridgeBin, e.cfg, []string{"CXONE_CLIENT_SECRET=" + cxonetest.DefaultClientSecret})
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// checkDelivered asserts that CXone accepted each of the n orders exactly
// once in effect: n distinct events, one per order id, and that every
// duplicate request carried the key of an accepted event.
func checkDelivered(t *testing.T, srv *cxonetest.Server, n int) (duplicates int64) {
	t.Helper()
	events := srv.Events()
	keys := map[string]bool{}
	for _, ev := range events {
		keys[ev.IdempotencyKey] = true
	}
	st := srv.Stats()
	if int(st.Accepted) != n || len(keys) != n {
		t.Fatalf("CXone accepted %d events (%d distinct keys), want %d", st.Accepted, len(keys), n)
	}
	return st.Duplicates
}

// TestKillAndRestart: SIGKILL the bridge mid-stream and start it again:
// nothing is lost, and the redelivered records carry their original
// idempotency keys, so CXone counts them as duplicates instead of new
// events.
func TestKillAndRestart(t *testing.T) {
	e := newEnv(t, 6, "")
	e.cxone.SetFaults(cxonetest.Faults{Latency: cxonetest.Duration(time.Millisecond), LatencyMax: cxonetest.Duration(5 * time.Millisecond)})
	const n = 20000
	e.produce(0, n)
	p := e.start()
	poll.Until(t, 60*time.Second, "a quarter delivered", func() bool { return e.cxone.Stats().Accepted >= n/4 })
	p.Kill()
	if code := p.ExitCode(); code != -int(syscall.SIGKILL) {
		t.Fatalf("exit %d, want killed", code)
	}
	atKill := e.cxone.Stats().Accepted
	p2 := e.start()
	poll.Until(t, 120*time.Second, "everything delivered and committed", func() bool {
		l, _ := e.lag()
		return l == 0 && e.cxone.Stats().Accepted >= n
	})
	if err := p2.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p2.Wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0; log:\n%s", code, tail(p2.Logs(), 20))
	}
	dups := checkDelivered(t, e.cxone, n)
	if _, dlqs := e.lag(); dlqs != 0 {
		t.Errorf("%d DLQ records, want 0", dlqs)
	}
	t.Logf("kill -9 after %d accepted: %d records delivered exactly once in effect, %d duplicate requests deduplicated by idempotency key", atKill, n, dups)
}

// TestOutagePausesAndResumes: a 10 s CXone outage with 200,000 records
// waiting: the breaker opens, fetching pauses, nothing goes to the DLQ,
// memory stays bounded, the bridge resumes by itself, nothing is lost.
func TestOutagePausesAndResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 200,000 records and a 10 s outage take about a minute")
	}
	e := newEnv(t, 6, "")
	const n = 200000
	e.produce(0, n)
	p := e.start()
	poll.Until(t, 60*time.Second, "some deliveries", func() bool { return e.cxone.Stats().Accepted >= 2000 })
	if err := e.cxone.SetFaults(cxonetest.Faults{OutageFor: cxonetest.Duration(10 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	outageStart := time.Now()
	var peak int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if r := p.RSSKiB(); r > peak {
				peak = r
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	p.WaitLog(`"fetching paused"`, 20*time.Second)
	p.WaitLog(`"fetching resumed"`, 30*time.Second)
	resumedAfter := time.Since(outageStart)
	poll.Until(t, 180*time.Second, "everything delivered and committed", func() bool {
		l, _ := e.lag()
		return l == 0 && e.cxone.Stats().Accepted >= n
	})
	close(stop)
	<-sampled
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, tail(p.Logs(), 20))
	}
	checkDelivered(t, e.cxone, n)
	if _, dlqs := e.lag(); dlqs != 0 {
		t.Errorf("%d DLQ records during an outage, want 0", dlqs)
	}
	if peak > 100*1024 {
		t.Errorf("peak RSS %d KiB, want under 100 MiB", peak)
	}
	t.Logf("outage: %d records, resumed %s after the outage began, peak RSS %.1f MiB", n, resumedAfter.Round(100*time.Millisecond), float64(peak)/1024)
}
