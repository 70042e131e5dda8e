package pipeline_test

// The wired bridge (kfake, the CXone test server, the real consumer, sink
// and breaker) under the faults that used to stop it: an outage that spans
// the loss of every partition, a member joining and leaving while CXone is
// down, one poison record among healthy ones, an outage longer than the
// sink's retries.

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/logbuf"
	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// rig is a running bridge on kfake and the CXone test server.
type rig struct {
	t        *testing.T
	kc       *kfake.Cluster
	srv      *cxonetest.Server
	cfgYAML  string
	producer *kgo.Client
	adm      *kadm.Client
	logs     *logbuf.Buffer
	n        int

	mu          sync.Mutex
	transitions []string
}

const rigPartitions = 3

// newRig starts kfake and the test server; extra is appended to the
// configuration (YAML at the top level).
func newRig(t *testing.T, extra string, opts ...cxonetest.Option) *rig {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(rigPartitions, "orders", "orders.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	srv := cxonetest.NewServer(opts...)
	t.Cleanup(srv.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	r := &rig{t: t, kc: kc, srv: srv, producer: cl, adm: kadm.NewClient(cl), logs: &logbuf.Buffer{}}
	r.cfgYAML = fmt.Sprintf(`kafka: {brokers: [%s], group_id: g, session_timeout: 6s, rebalance_timeout: 10s}
cxone:
  base_url: %s
  allow_insecure_http: true
  auth: {client_id: %s, client_secret: %s}
  retry: {base_delay: 10ms, max_delay: 50ms, max_attempts: 2}
  breaker: {failures_to_open: 3, open_timeout: 1s}
routes: [{topic: orders, event_type: OrderCreated, business_key: /orderId}]
metrics: {listen: "off"}
%s`, kc.ListenAddrs()[0], srv.URL, cxonetest.DefaultClientID, cxonetest.DefaultClientSecret, extra)
	return r
}

// start runs one bridge until the test ends.
func (r *rig) start() *pipeline.Bridge {
	t := r.t
	t.Helper()
	cfg, err := config.Parse([]byte(r.cfgYAML), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(r.logs, nil))
	br, err := pipeline.New(cfg, log, pipeline.Options{OnBreakerState: func(from, to sink.BreakerState) {
		r.mu.Lock()
		r.transitions = append(r.transitions, from.String()+">"+to.String())
		r.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("bridge: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("bridge did not stop")
		}
	})
	return br
}

func (r *rig) breakerTransitions() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.transitions, " ")
}

// produce writes n valid orders, keys spread over the partitions.
func (r *rig) produce(n int) {
	r.t.Helper()
	var recs []*kgo.Record
	for i := r.n; i < r.n+n; i++ {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprintf("C%d", i%7)), Value: []byte(valid(i))})
	}
	if err := r.producer.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		r.t.Fatal(err)
	}
	r.n += n
}

// lag is the group's total lag, -1 while unknown.
func (r *rig) lag() int64 {
	lags, err := r.adm.Lag(context.Background(), "g")
	gl, ok := lags["g"]
	if err != nil || !ok || gl.Error() != nil || len(gl.Lag["orders"]) != rigPartitions {
		return -1
	}
	return gl.Lag.Total()
}

func (r *rig) dlqRecords() []*kgo.Record {
	r.t.Helper()
	ends, err := r.adm.ListEndOffsets(context.Background(), "orders.dlq")
	if err != nil {
		r.t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total == 0 {
		return nil
	}
	rd, err := kgo.NewClient(kgo.SeedBrokers(r.kc.ListenAddrs()...), kgo.ConsumeTopics("orders.dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		r.t.Fatal(err)
	}
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for int64(len(out)) < total && ctx.Err() == nil {
		out = append(out, rd.PollFetches(ctx).Records()...)
	}
	return out
}

func (r *rig) waitFor(d time.Duration, what string, cond func() bool) {
	r.t.Helper()
	if !poll.Check(d, cond) {
		r.t.Fatalf("timed out after %s waiting for %s; server %+v; breaker %s; log tail:\n%s",
			d, what, r.srv.Stats(), r.breakerTransitions(), tailLines(r.logs.String(), 15))
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// An outage opens the breaker and pauses fetching; then the member loses
// its partitions (a heartbeat answered UNKNOWN_MEMBER_ID), so nothing is
// left in flight to probe CXone. When CXone recovers, the bridge must leave
// the open state by itself, fetch again and deliver everything within the
// open timeout and a few seconds; readiness must say so.
func TestRecoveryAfterPartitionsLostDuringOutage(t *testing.T) {
	r := newRig(t, "consumer: {retry_backoff: 50ms, retry_backoff_max: 200ms, commit_interval: 100ms}\n")
	if err := r.srv.SetFaults(cxonetest.Faults{OutageFrom: time.Now(), OutageUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	br := r.start()
	r.produce(10)
	r.waitFor(20*time.Second, "breaker open and fetching paused", func() bool {
		return br.BreakerState() == sink.BreakerOpen && br.Consumer().Paused()
	})
	if ok, why := br.Ready(); ok || !strings.Contains(why, "circuit breaker open") {
		t.Errorf("ready during the outage: %v %q", ok, why)
	}
	// The member is fenced out of its group: every partition is lost, the
	// in-flight records are abandoned, and it rejoins.
	rebalances := br.Consumer().Stats().Rebalances
	var fenced atomic.Bool
	r.kc.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if fenced.Swap(true) {
			return nil, nil, false
		}
		resp := req.(*kmsg.HeartbeatRequest).ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil, true
	})
	r.waitFor(30*time.Second, "partitions lost and assigned again, nothing in flight", func() bool {
		st := br.Consumer().Stats()
		return fenced.Load() && st.Rebalances > rebalances && st.Partitions == rigPartitions && st.Buffered == 0
	})
	if live, why := br.Live(30 * time.Second); !live {
		t.Errorf("not live: %s", why)
	}
	// CXone recovers.
	if err := r.srv.SetFaults(cxonetest.Faults{}); err != nil {
		t.Fatal(err)
	}
	recovered := time.Now()
	r.waitFor(1*time.Second+10*time.Second, "every record accepted after recovery", func() bool { return r.srv.Stats().Accepted == 10 })
	t.Logf("all accepted %s after recovery; breaker %s", time.Since(recovered).Round(time.Millisecond), r.breakerTransitions())
	r.waitFor(10*time.Second, "lag 0", func() bool { return r.lag() == 0 })
	if ok, why := br.Ready(); !ok {
		t.Errorf("not ready after recovery: %s", why)
	}
	if br.Consumer().Paused() {
		t.Error("fetching still paused after recovery")
	}
	if recs := r.dlqRecords(); len(recs) != 0 {
		t.Errorf("%d records dead-lettered for an outage", len(recs))
	}
}

// The same with a rebalance instead of a loss: a second member joins while
// CXone is down (partitions revoked from the first, in-flight records
// abandoned) and leaves again (partitions assigned while the breaker is
// open). After recovery both the records and the breaker move on.
func TestRecoveryAfterRebalanceDuringOutage(t *testing.T) {
	r := newRig(t, "consumer: {retry_backoff: 50ms, retry_backoff_max: 200ms, commit_interval: 100ms, revoke_drain_timeout: 500ms}\n")
	if err := r.srv.SetFaults(cxonetest.Faults{OutageFrom: time.Now(), OutageUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	a := r.start()
	r.produce(30)
	r.waitFor(20*time.Second, "breaker open and fetching paused", func() bool {
		return a.BreakerState() == sink.BreakerOpen && a.Consumer().Paused()
	})
	// A plain group member joins and leaves: it takes partitions, commits
	// nothing and hands them back.
	b, err := kgo.NewClient(kgo.SeedBrokers(r.kc.ListenAddrs()...), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("orders"),
		kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.DisableAutoCommit(), kgo.SessionTimeout(6*time.Second),
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, _ map[string][]int32) {
			cl.PauseFetchTopics("orders") // never consume
		}))
	if err != nil {
		t.Fatal(err)
	}
	r.waitFor(30*time.Second, "partitions moved to the second member", func() bool { return a.Consumer().Stats().Partitions < rigPartitions })
	b.Close()
	r.waitFor(30*time.Second, "every partition back", func() bool { return a.Consumer().Stats().Partitions == rigPartitions })
	if err := r.srv.SetFaults(cxonetest.Faults{}); err != nil {
		t.Fatal(err)
	}
	r.waitFor(11*time.Second, "every record accepted after recovery", func() bool { return r.srv.Stats().Accepted == 30 })
	r.waitFor(10*time.Second, "lag 0", func() bool { return r.lag() == 0 })
	if ok, why := a.Ready(); !ok {
		t.Errorf("not ready after recovery: %s", why)
	}
}

// An outage longer than the sink's retries (max_attempts 2) is never the
// records' fault: none is dead-lettered, every one holds its partition's
// commit until CXone is back, then is delivered.
func TestOutageBeyondRetriesHoldsCommit(t *testing.T) {
	r := newRig(t, "consumer: {retry_backoff: 20ms, retry_backoff_max: 100ms, commit_interval: 100ms}\n")
	r.cfgYAML = strings.Replace(r.cfgYAML, "open_timeout: 1s", "open_timeout: 200ms", 1)
	if err := r.srv.SetFaults(cxonetest.Faults{OutageFrom: time.Now(), OutageUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r.start()
	r.produce(20)
	// Publish calls give up (2 tries each) while CXone is down, and the
	// records are retried later.
	r.waitFor(30*time.Second, "publishes exhausting their retries", func() bool {
		return strings.Count(r.logs.String(), "retries exhausted") >= 10
	})
	if l := r.lag(); l != -1 && l != 20 {
		t.Fatalf("lag %d during the outage, want 20: a record was committed without being delivered", l)
	}
	if err := r.srv.SetFaults(cxonetest.Faults{}); err != nil {
		t.Fatal(err)
	}
	r.waitFor(15*time.Second, "every record accepted after the outage", func() bool { return r.srv.Stats().Accepted == 20 })
	r.waitFor(10*time.Second, "lag 0", func() bool { return r.lag() == 0 })
	if recs := r.dlqRecords(); len(recs) != 0 {
		t.Errorf("%d records dead-lettered for an outage", len(recs))
	}
}

// One record that CXone fails (503) every time, among healthy ones that it
// accepts: the healthy ones all get through, the breaker never opens for
// it, and once the poison rule's bounds are reached it is dead-lettered
// once, as a persistent failure with its last status and attempt count.
func TestPoisonRecordDeadLetteredOthersFlow(t *testing.T) {
	r := newRig(t, "consumer: {retry_backoff: 20ms, retry_backoff_max: 100ms, commit_interval: 100ms}\n",
		cxonetest.WithFaults(cxonetest.Faults{Targets: []cxonetest.Target{{BodyContains: `"ORD-0000000007"`, Status: 503}}}))
	r.cfgYAML = strings.Replace(r.cfgYAML, "breaker: {failures_to_open: 3, open_timeout: 1s}",
		"breaker: {failures_to_open: 3, open_timeout: 1s}\n  poison: {min_attempts: 6, min_duration: 1s}", 1)
	r.start()
	r.produce(60)
	start := time.Now()
	r.waitFor(30*time.Second, "59 healthy records accepted", func() bool { return r.srv.Stats().Accepted == 59 })
	r.waitFor(30*time.Second, "lag 0 (the poison record dead-lettered)", func() bool { return r.lag() == 0 })
	took := time.Since(start)
	recs := r.dlqRecords()
	if len(recs) != 1 {
		t.Fatalf("%d DLQ records, want 1", len(recs))
	}
	env, _, err := dlq.Parse(recs[0].Headers)
	if err != nil {
		t.Fatal(err)
	}
	if env.Class != dlq.ClassRejected || env.Reason != "persistent_failure" || env.HTTPStatus != 503 || env.Attempts < 6 ||
		!strings.Contains(string(recs[0].Value), "ORD-0000000007") {
		t.Errorf("envelope %+v", env)
	}
	if tr := r.breakerTransitions(); strings.Contains(tr, ">open") {
		t.Errorf("the breaker opened for one record: %s", tr)
	}
	t.Logf("poison record dead-lettered after %d attempts, %s after start; message %q", env.Attempts, took.Round(time.Millisecond), env.Message)
}

// A shutdown (a scale-in) during a CXone outage does not wait out the
// drain: the publishes waiting for the open breaker give up at once, their
// records are left uncommitted for the next owner, and Run returns.
func TestShutdownDuringOutageIsQuick(t *testing.T) {
	r := newRig(t, "consumer: {drain_timeout: 20s, commit_interval: 100ms, retry_backoff: 50ms, retry_backoff_max: 200ms}\n")
	r.cfgYAML = strings.Replace(r.cfgYAML, "open_timeout: 1s", "open_timeout: 30s", 1)
	if err := r.srv.SetFaults(cxonetest.Faults{OutageFrom: time.Now(), OutageUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(r.cfgYAML), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	br, err := pipeline.New(cfg, slog.New(slog.NewJSONHandler(r.logs, nil)), pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	r.produce(10)
	r.waitFor(20*time.Second, "breaker open, records waiting for it", func() bool {
		return br.BreakerState() == sink.BreakerOpen && br.Consumer().Stats().InFlight > 0
	})
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15 s of the shutdown (drain_timeout 20s): it waited for the open breaker")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("shutdown during an outage took %s", took)
	}
	offs, err := r.adm.FetchOffsets(context.Background(), "g")
	if err != nil {
		t.Fatal(err)
	}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.At > 0 {
			t.Errorf("%s[%d] committed at %d: nothing was delivered, nothing may be committed", o.Topic, o.Partition, o.At)
		}
	})
	if recs := r.dlqRecords(); len(recs) != 0 {
		t.Errorf("%d records dead-lettered", len(recs))
	}
}
