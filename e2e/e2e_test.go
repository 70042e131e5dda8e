package e2e_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// One three-node cluster serves every scenario; each gets its own topic,
// consumer group and CXone test server.
func TestE2E(t *testing.T) {
	k := tc.StartKafka(t, append([]tc.Option{tc.Nodes(3)}, nextGenSessionTimeout...)...)
	bin := tc.BuildBridge(t)
	scenarios := []struct {
		name string
		run  func(t *testing.T, s *scenario)
	}{
		{"ThreeReplicas", threeReplicas},
		{"KillReplica", killReplica},
		{"KillReplicaNextGen", nextGen(killReplica)},
		{"ScaleOneThreeOne", scaleOneThreeOne},
		{"ScaleOneThreeOneNextGen", nextGen(scaleOneThreeOne)},
		{"KillBroker", killBroker},
		{"OutageThen429Storm", outageThen429Storm},
		{"TokenLifetime5s", tokenLifetime},
		{"PoisonAmong50k", poisonAmong50k},
		{"OutageKillScaleIn", outageKillScaleIn},
		{"StuckRecord500k", stuckRecord500k},
		{"CDCMapping", cdcMapping},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			start := time.Now()
			s := newScenario(t, k.For(t), bin, strings.ToLower(sc.name))
			defer func() {
				if t.Failed() && !s.dumped {
					s.dump()
				}
				t.Logf("%s took %s", sc.name, time.Since(start).Round(100*time.Millisecond))
			}()
			sc.run(t, s)
		})
	}
}

const (
	partitions = 12
	keys       = 500
)

// nextGenSessionTimeout gives KIP-848 groups the scenarios' 6 s session
// timeout: under kafka.group_protocol: consumer the session timeout is the
// broker's (group.consumer.session.timeout.ms, 45 s by default), not the
// client's, and a killed replica's partitions wait for it.
var nextGenSessionTimeout = []tc.Option{
	tc.BrokerConfig("group.consumer.min.session.timeout.ms", "6000"),
	tc.BrokerConfig("group.consumer.session.timeout.ms", "6000"),
	tc.BrokerConfig("group.consumer.min.heartbeat.interval.ms", "1000"),
	tc.BrokerConfig("group.consumer.heartbeat.interval.ms", "1000"),
}

// nextGen runs a scenario with kafka.group_protocol: consumer (KIP-848).
func nextGen(run func(t *testing.T, s *scenario)) func(t *testing.T, s *scenario) {
	return func(t *testing.T, s *scenario) {
		s.kafkaYAML = "  group_protocol: consumer\n"
		run(t, s)
		for i, p := range s.procs {
			if !strings.Contains(p.Logs(), `"group_protocol":"consumer"`) {
				t.Errorf("replica %d did not start with group_protocol consumer", i)
			}
			if strings.Contains(p.Logs(), "do not serve kafka.group_protocol: consumer") {
				t.Errorf("replica %d fell back to the classic protocol", i)
			}
		}
	}
}

type scenario struct {
	t      *testing.T
	k      *tc.Kafka
	bin    string
	topic  string
	group  string
	cfg    string
	srv    *cxonetest.Server
	n      int
	procs  []*tc.Process
	secret string

	// Set before setup: lines added to the kafka, consumer and cxone
	// sections of the configuration (indented by two spaces, each ending
	// in a newline).
	kafkaYAML, consumerYAML, cxoneYAML string
	// dlqYAML, set before setup, is the dlq section's lines (indented
	// by two spaces, each ending in a newline); none by default.
	dlqYAML string
	// replicas is the topics' replication factor; 0 means 3 (with
	// min.insync.replicas 2).
	replicas int16
	// customer, when set before produce, is the customer (the Kafka key) of
	// order i; default CUST-<i mod keys>.
	customer func(i int) string
	// dead are the orders expected in the DLQ, never accepted (finish,
	// verify).
	dead []int
	// invalid, when set before produce, makes order i fail the schema (no
	// currency) when it returns true; produce adds it to dead.
	invalid func(i int) bool

	dumped bool
}

func newScenario(t *testing.T, k *tc.Kafka, bin, name string) *scenario {
	return &scenario{t: t, k: k, bin: bin, topic: "orders-" + name, group: "bridge-" + name, secret: cxonetest.DefaultClientSecret}
}

// setup creates the topics, the CXone server (opts configure it) and the
// bridge configuration.
func (s *scenario) setup(opts ...cxonetest.Option) {
	t := s.t
	two := "2"
	cfgs, rf := map[string]*string{"min.insync.replicas": &two}, int16(3)
	if s.replicas != 0 {
		cfgs, rf = nil, s.replicas
	}
	s.k.CreateTopic(t, s.topic, partitions, rf, cfgs)
	s.k.CreateTopic(t, s.topic+".dlq", partitions, rf, cfgs)
	s.srv = tc.StartCXone(t, append([]cxonetest.Option{cxonetest.WithRecordLimit(1 << 21)}, opts...)...)
	dir := t.TempDir()
	schema, err := os.ReadFile("../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "order.json"), schema, 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`kafka:
  brokers: [%s]
  group_id: %s
  session_timeout: 6s
  rebalance_timeout: 30s
%sconsumer:
  max_in_flight: 64
  commit_interval: 1s
  drain_timeout: 10s
  retry_backoff: 100ms
  retry_backoff_max: 2s
%scxone:
  base_url: %s
  allow_insecure_http: true
  auth:
    client_id: %s
    client_secret: ${CXONE_CLIENT_SECRET}
  retry:
    base_delay: 50ms
    max_delay: 2s
  breaker:
    open_timeout: 2s
%sdlq:
%sroutes:
  - topic: %s
    event_type: OrderCreated
    schema: order.json
    business_key: /orderId
metrics:
  listen: 127.0.0.1:0 # several replicas share this host
log:
  level: info
`, strings.Join(s.k.Brokers(), ", "), s.group, s.kafkaYAML, s.consumerYAML, s.srv.URL, cxonetest.DefaultClientID, s.cxoneYAML, cmp.Or(s.dlqYAML, "  topic: \"{topic}.dlq\"\n"), s.topic)
	s.cfg = filepath.Join(dir, "bridge.yaml")
	if err := os.WriteFile(s.cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
}

// orderID encodes the record's sequence number, so per-key order can be
// checked from what CXone saw.
func orderID(i int) string { return fmt.Sprintf("ORD-%010d", i) }

// order is the record of order i: key and customerId = its customer.
func (s *scenario) order(i int) *kgo.Record {
	cust := "CUST-" + strconv.Itoa(i%keys)
	if s.customer != nil {
		cust = s.customer(i)
	}
	currency := `,"currency":"EUR"`
	if s.invalid != nil && s.invalid(i) {
		currency = "" // required by the schema
	}
	v := fmt.Sprintf(`{"orderId":%q,"customerId":%q,"totalAmount":%d.25%s,"timestamp":"2026-11-27T10:00:00Z"}`, orderID(i), cust, i%997, currency)
	return &kgo.Record{Key: []byte(cust), Value: []byte(v)}
}

// produce writes n orders, key = customer, in order, acks=all.
func (s *scenario) produce(n int) {
	s.t.Helper()
	cl := s.k.Client(s.t, kgo.DefaultProduceTopic(s.topic), kgo.ProducerBatchMaxBytes(1<<20))
	var recs []*kgo.Record
	flush := func() {
		if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			s.t.Fatal(err)
		}
		recs = recs[:0]
	}
	for i := s.n; i < s.n+n; i++ {
		recs = append(recs, s.order(i))
		if s.invalid != nil && s.invalid(i) {
			s.dead = append(s.dead, i)
		}
		if len(recs) == 5000 {
			flush()
		}
	}
	if len(recs) > 0 {
		flush()
	}
	s.n += n
}

// startReplica starts one more bridge process, with env added to its
// environment.
func (s *scenario) startReplica(env ...string) *tc.Process {
	p := tc.StartBridge(s.t, s.bin, s.cfg, append([]string{"CXONE_CLIENT_SECRET=" + s.secret}, env...))
	s.procs = append(s.procs, p)
	return p
}

func (s *scenario) accepted() int64 { return s.srv.Stats().Accepted }

func (s *scenario) waitAccepted(atLeast int64, d time.Duration) {
	s.t.Helper()
	poll.Until(s.t, d, fmt.Sprintf("%d events accepted", atLeast), func() bool { return s.accepted() >= atLeast })
}

// lag is the group's total lag on the scenario's topic (end offsets minus
// committed offsets), -1 while not every partition has a commit. It reads
// the offsets themselves rather than kadm's Lag, which describes the group
// with the classic protocol's request and knows no KIP-848 group.
func (s *scenario) lag() int64 {
	ctx := context.Background()
	adm := s.k.Admin()
	offs, err := adm.FetchOffsets(ctx, s.group)
	if err != nil || offs.Error() != nil {
		return -1
	}
	ends, err := adm.ListEndOffsets(ctx, s.topic)
	if err != nil || ends.Error() != nil {
		return -1
	}
	var total int64
	n := 0
	for p, end := range ends[s.topic] {
		o, ok := offs.Lookup(s.topic, p)
		if !ok || o.At < 0 {
			return -1 // not every partition committed yet: unknown, not 0
		}
		total += end.Offset - o.At
		n++
	}
	if n != partitions {
		return -1
	}
	return total
}

// finish waits for every record to be delivered and committed, stops the
// live replicas with SIGTERM (each must exit 0), and checks the outcome.
func (s *scenario) finish(d time.Duration) (duplicates int64) {
	t := s.t
	t.Helper()
	deadline := time.Now().Add(d)
	for s.accepted() < int64(s.n-len(s.dead)) || s.lag() != 0 {
		if time.Now().After(deadline) {
			s.dump()
			t.Fatalf("timed out after %s waiting for every record delivered and committed", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range s.procs {
		if p.Exited() {
			continue
		}
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.Wait(40 * time.Second); code != 0 {
			t.Errorf("replica exited %d after SIGTERM; log tail:\n%s", code, tail(p.Logs(), 20))
		}
	}
	return s.verify()
}

// dump logs the state of the run, for a failure.
func (s *scenario) dump() {
	s.dumped = true
	if s.srv == nil {
		return // setup did not get that far
	}
	s.t.Logf("accepted %d of %d, lag %d, server %+v", s.accepted(), s.n, s.lag(), s.srv.Stats())
	for i, p := range s.procs {
		s.t.Logf("replica %d: exited %v (code %d); log tail:\n%s", i, p.Exited(), p.ExitCode(), tail(p.Logs(), 15))
	}
}

// verify: every order accepted exactly once in effect (but the dead ones,
// never), per-key order kept at CXone, lag 0 by kadm and by Kafka's own
// tool, nothing in the DLQ but the dead orders' records, no secret in any
// log.
func (s *scenario) verify() (duplicates int64) {
	t := s.t
	t.Helper()
	st := s.srv.Stats()
	events := s.srv.Events()
	want := s.n - len(s.dead)
	if st.Accepted != int64(want) || len(events) != want {
		t.Fatalf("CXone accepted %d events (%d recorded), want %d", st.Accepted, len(events), want)
	}
	dead := make([]bool, s.n)
	for _, i := range s.dead {
		dead[i] = true
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].ArrivedAt.Before(events[j].ArrivedAt) })
	last := map[string]int{}
	seen := make([]bool, s.n)
	for _, ev := range events {
		var body struct {
			Attributes struct {
				OrderID    string `json:"orderId"`
				CustomerID string `json:"customerId"`
			} `json:"attributes"`
		}
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			t.Fatalf("event body: %v", err)
		}
		i, err := strconv.Atoi(strings.TrimPrefix(body.Attributes.OrderID, "ORD-"))
		if err != nil || i < 0 || i >= s.n || seen[i] || dead[i] {
			t.Fatalf("unexpected or repeated order %q", body.Attributes.OrderID)
		}
		seen[i] = true
		if prev, ok := last[body.Attributes.CustomerID]; ok && prev > i {
			t.Fatalf("key %s: order %d accepted after order %d", body.Attributes.CustomerID, i, prev)
		}
		last[body.Attributes.CustomerID] = i
	}
	if l := s.lag(); l != 0 {
		t.Errorf("kadm lag %d, want 0", l)
	}
	gl, err := s.k.ConsumerGroupLag(t, s.group)
	if err != nil {
		t.Fatalf("kafka-consumer-groups --describe: %v", err)
	}
	if gl.Total() != 0 || len(gl.ByPartition()[s.topic]) != partitions {
		t.Errorf("Kafka's own tool: lag %d over %d partitions, want 0 over %d:\n%s", gl.Total(), len(gl.ByPartition()[s.topic]), partitions, gl.Output)
	}
	// Every dead order once in the DLQ (committed records: a dead letter
	// of an aborted transaction is not one), and nothing else.
	letters := map[string]int{}
	recs := readCommitted(t, s.k, s.topic+".dlq")
	for _, r := range recs {
		var v struct {
			OrderID string `json:"orderId"`
		}
		_ = json.Unmarshal(r.Value, &v)
		letters[v.OrderID]++
	}
	twice := 0
	for id, n := range letters {
		if n > 1 {
			twice++
			if twice <= 5 {
				t.Errorf("order %q dead-lettered %d times, want once", id, n)
			}
		}
	}
	for _, i := range s.dead {
		if letters[orderID(i)] == 0 {
			t.Errorf("dead order %d not in the DLQ", i)
		}
	}
	if len(recs) != len(s.dead) {
		t.Errorf("%d records in the DLQ (%d orders more than once), want %d", len(recs), twice, len(s.dead))
	}
	for i, p := range s.procs {
		if strings.Contains(p.Logs(), s.secret) {
			t.Errorf("replica %d logged the client secret", i)
		}
	}
	return st.Duplicates
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// threeReplicas: 3 replicas, 100,000 records, 12 partitions.
func threeReplicas(t *testing.T, s *scenario) {
	s.setup(cxonetest.WithFaults(cxonetest.Faults{Latency: cxonetest.Duration(time.Millisecond), LatencyMax: cxonetest.Duration(5 * time.Millisecond)}))
	s.produce(100000)
	start := time.Now()
	for range 3 {
		s.startReplica()
	}
	dups := s.finish(5 * time.Minute)
	t.Logf("3 replicas, %d records, 12 partitions: %s, %d duplicate requests", s.n, time.Since(start).Round(time.Second), dups)
}

// killReplica: SIGKILL one of three replicas mid-stream and start another;
// then freeze a second one (SIGSTOP) and, while it is frozen, SIGKILL a
// third and start another; let the frozen one go on (SIGCONT) once the
// group has moved its partitions on and its open dead-letter transaction,
// if any, has timed out: a zombie. One order in 50 fails the schema: each
// must be in the DLQ exactly once (its dead letter and the commit past it
// are one transaction, and a zombie's transaction is refused), every other
// order accepted.
func killReplica(t *testing.T, s *scenario) {
	s.invalid = func(i int) bool { return i%50 == 7 }
	s.setup()
	s.produce(60000)
	for range 3 {
		s.startReplica()
	}
	s.waitAccepted(int64(s.n)/5, 3*time.Minute)
	victim := s.procs[1]
	victim.Kill()
	if code := victim.ExitCode(); code != -int(syscall.SIGKILL) {
		t.Fatalf("exit %d, want killed by SIGKILL", code)
	}
	atKill := s.accepted()
	s.startReplica()

	s.waitAccepted(atKill+int64(s.n)/10, 3*time.Minute)
	zombie := s.procs[2]
	if err := zombie.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	atStop := s.accepted()
	s.waitAccepted(atStop+int64(s.n)/20, 3*time.Minute)
	second := s.procs[0]
	second.Kill() // while the zombie is frozen
	atKill2 := s.accepted()
	s.startReplica()
	// Past the 6 s session and the 10 s transaction timeout of the frozen
	// process (a frozen process has no condition to wait on).
	<-time.After(12*time.Second - time.Since(frozen))
	if err := zombie.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	atCont := s.accepted()
	dups := s.finish(5 * time.Minute)
	t.Logf("SIGKILL of 1 of 3 replicas after %d of %d accepted, a zombie frozen after %d, a second SIGKILL after %d, the zombie back after %d: "+
		"nothing lost, %d invalid orders dead-lettered, %d duplicate requests (same idempotency keys, deduplicated by CXone)",
		atKill, s.n, atStop, atKill2, atCont, len(s.dead), dups)
	if strings.Contains(zombie.Logs(), "dead-letter transaction failed") {
		t.Logf("the zombie's refused transactions:\n%s", grepLines(zombie.Logs(), "dead-letter transaction failed", 5))
	}
}

// grepLines returns at most n lines of logs that contain substr.
func grepLines(logs, substr string, n int) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, substr) && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// scaleOneThreeOne: 1 replica, then 3, then 1 again, under load.
func scaleOneThreeOne(t *testing.T, s *scenario) {
	s.setup(cxonetest.WithFaults(cxonetest.Faults{Latency: cxonetest.Duration(2 * time.Millisecond), LatencyMax: cxonetest.Duration(8 * time.Millisecond)}))
	s.produce(60000)
	s.startReplica()
	s.waitAccepted(int64(s.n)/5, 3*time.Minute)
	s.startReplica()
	s.startReplica()
	s.waitAccepted(int64(s.n)*3/5, 3*time.Minute)
	for _, p := range s.procs[1:] {
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.Wait(40 * time.Second); code != 0 {
			t.Errorf("scale-in: replica exited %d; log:\n%s", code, tail(p.Logs(), 20))
		}
	}
	dups := s.finish(5 * time.Minute)
	t.Logf("scale 1 → 3 → 1 during %d records: nothing lost, %d duplicate requests", s.n, dups)
}

// killBroker: SIGKILL one of three brokers mid-stream (RF 3,
// min.insync.replicas 2), restart it later: nothing lost, the bridge keeps
// going meanwhile.
func killBroker(t *testing.T, s *scenario) {
	s.setup(cxonetest.WithFaults(cxonetest.Faults{Latency: cxonetest.Duration(2 * time.Millisecond), LatencyMax: cxonetest.Duration(8 * time.Millisecond)}))
	s.produce(60000)
	for range 2 {
		s.startReplica()
	}
	s.waitAccepted(int64(s.n)*3/10, 3*time.Minute)
	s.k.KillNode(1)
	atKill := s.accepted()
	s.waitAccepted(atKill+int64(s.n)/10, 3*time.Minute) // keeps going on two brokers
	s.k.StartNode(1)
	s.k.WaitInSync(t, s.topic, 2*time.Minute)
	dups := s.finish(5 * time.Minute)
	t.Logf("broker SIGKILL after %d accepted, restarted later: nothing lost, %d duplicate requests", atKill, dups)
}

// outageThen429Storm: CXone down for 30 s, then answering 429 to half the
// requests: no DLQ writes, nothing lost, Retry-After honoured.
func outageThen429Storm(t *testing.T, s *scenario) {
	s.setup(cxonetest.WithEarlyGrace(100 * time.Millisecond))
	s.produce(40000)
	for range 2 {
		s.startReplica()
	}
	s.waitAccepted(int64(s.n)/5, 3*time.Minute)
	const outage = 30 * time.Second
	if err := s.srv.SetFaults(cxonetest.Faults{OutageFor: cxonetest.Duration(outage)}); err != nil {
		t.Fatal(err)
	}
	outageEnd := time.Now().Add(outage)
	atOutage := s.accepted()
	for _, p := range s.procs {
		p.WaitLog(`"fetching paused"`, 30*time.Second)
	}
	// The breakers probe every open_timeout (fetching resumes while
	// half-open, and pauses again when the probe fails); the outage ends
	// only at its instant, and publishing resumes after it.
	poll.Until(t, 90*time.Second, "the outage over and events accepted again", func() bool {
		return time.Now().After(outageEnd) && s.accepted() > atOutage
	})

	// The storm: half the requests answered 429 with Retry-After 1 s. The
	// server keeps a window per recipient (client id and token, so one per
	// replica): until the Retry-After instant every request of that replica
	// gets 429 again and counts as an early retry. A burst that follows one
	// 429 is refused whole, so progress is slow by design. The storm lasts
	// until 200 requests were refused.
	if err := s.srv.SetFaults(cxonetest.Faults{ErrorRates: map[int]float64{429: 0.5}, RetryAfter: cxonetest.Duration(time.Second)}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 3*time.Minute, "a 429 storm of 200 answers", func() bool { return s.srv.Stats().RateLimited >= 200 })
	if err := s.srv.SetFaults(cxonetest.Faults{}); err != nil {
		t.Fatal(err)
	}
	s.finish(5 * time.Minute)
	st := s.srv.Stats()
	if st.RateLimited == 0 {
		t.Error("no 429 was answered: the storm did not happen")
	}
	if st.EarlyRetries != 0 {
		t.Errorf("%d requests arrived before a 429's Retry-After instant", st.EarlyRetries)
	}
	t.Logf("30 s outage after %d accepted, then 429 storm (%d answered): no DLQ writes, nothing lost, 0 early retries", atOutage, st.RateLimited)
}

// tokenLifetime: tokens live 5 s for the whole run; no publish may fail
// because of it.
func tokenLifetime(t *testing.T, s *scenario) {
	// TokenTTL goes in the Faults: WithFaults sets all of them, and a zero
	// TokenTTL there would mean the default hour.
	s.setup(cxonetest.WithFaults(cxonetest.Faults{TokenTTL: cxonetest.Duration(5 * time.Second),
		Latency: cxonetest.Duration(5 * time.Millisecond), LatencyMax: cxonetest.Duration(15 * time.Millisecond)}))
	s.produce(40000)
	for range 2 {
		s.startReplica()
	}
	start := time.Now()
	s.finish(5 * time.Minute)
	st := s.srv.Stats()
	if st.Unauthorized != 0 {
		t.Errorf("%d requests answered 401: the token was not refreshed before expiry", st.Unauthorized)
	}
	for i, p := range s.procs {
		if strings.Contains(p.Logs(), "record not finished") {
			t.Errorf("replica %d had to retry a record:\n%s", i, tail(p.Logs(), 10))
		}
	}
	// A run of several token lifetimes must have refreshed tokens: proof
	// that the short lifetime was in force.
	took := time.Since(start)
	if min := int64(took/(5*time.Second)) * int64(len(s.procs)) / 2; st.TokenRequests < min {
		t.Errorf("%d token requests in %s with 5 s tokens: want at least %d", st.TokenRequests, took, min)
	}
	t.Logf("token TTL 5 s over %s: %d token requests, 0 answered 401, 0 failed publishes", took.Round(time.Second), st.TokenRequests)
}
