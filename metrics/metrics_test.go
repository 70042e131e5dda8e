package metrics_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/logbuf"
	"github.com/cxone-bridge/bridge/metrics"
	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

type harness struct {
	t       *testing.T
	cluster *kfake.Cluster
	cxone   *cxonetest.Server
	http    *httptest.Server
	logs    *logbuf.Buffer
	prod    *kgo.Client
	done    chan error
	cancel  context.CancelFunc
}

func valid(i int) string {
	return fmt.Sprintf(`{"orderId":"ORD-%010d","customerId":"C","totalAmount":1,"currency":"USD","timestamp":"2026-01-01T00:00:00Z"}`, i)
}

// start runs the real pipeline on kfake and the CXone test server, with the
// operations handler on a real HTTP server.
func start(t *testing.T, secret string, opts ...cxonetest.Option) *harness {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "orders", "orders.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	srv := cxonetest.NewServer(opts...)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	schema, err := os.ReadFile("../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "order.json"), schema, 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`kafka: {brokers: [%s], group_id: g}
consumer: {commit_interval: 50ms, retry_backoff: 20ms, retry_backoff_max: 200ms, drain_timeout: 1s}
cxone:
  base_url: %s
  allow_insecure_http: true
  auth: {client_id: %s, client_secret: %s}
  retry: {base_delay: 10ms, max_delay: 50ms}
  breaker: {failures_to_open: 3, open_timeout: 300ms}
routes: [{topic: orders, event_type: OrderCreated, schema: order.json, business_key: /orderId}]
`, c.ListenAddrs()[0], srv.URL, cxonetest.DefaultClientID, secret)
	cfg, err := config.Parse([]byte(yaml), dir)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, cluster: c, cxone: srv, logs: &logbuf.Buffer{}, done: make(chan error, 1)}
	log := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := metrics.New("test")
	b, err := pipeline.New(cfg, log, m.Options())
	if err != nil {
		t.Fatal(err)
	}
	m.Attach(b)
	h.http = httptest.NewServer(metrics.Handler(m, b, metrics.ServerConfig{StallTimeout: 5 * time.Second}))
	t.Cleanup(h.http.Close)
	h.prod, err = kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.prod.Close)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- b.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		h.t.Error("Run did not return 15s after cancel")
	}
}

func (h *harness) produce(recs ...*kgo.Record) {
	h.t.Helper()
	if err := h.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		h.t.Fatal(err)
	}
}

// scrape fetches /metrics and parses the text format into
// `name{labels}` → value (labels as exposed, in order).
func (h *harness) scrape() map[string]float64 {
	h.t.Helper()
	resp, err := http.Get(h.http.URL + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			h.t.Fatalf("bad metrics line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func (h *harness) probe(path string) (int, string) {
	h.t.Helper()
	resp, err := http.Get(h.http.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// waitProbe polls path until ok holds on its answer or timeout passes, and
// returns the last answer and whether ok held.
func (h *harness) waitProbe(path string, timeout time.Duration, ok func(code int, body string) bool) (int, string, bool) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		code, body := h.probe(path)
		if ok(code, body) {
			return code, body, true
		}
		if time.Now().After(deadline) {
			return code, body, false
		}
		<-tick.C
	}
}

// waitMetrics polls the endpoint until cond holds on a scrape.
func (h *harness) waitMetrics(what string, timeout time.Duration, cond func(m map[string]float64) bool) map[string]float64 {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		m := h.scrape()
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: not reached after %s; metrics:\n%s\nlogs:\n%s", what, timeout, dump(m), tailLines(h.logs.String(), 30))
		}
		<-tick.C
	}
}

// waitCommitted polls the broker until group g has committed, for every
// partition of orders, the partition's end offset, and the end offsets add
// up to records (what was produced).
func (h *harness) waitCommitted(timeout time.Duration, records int64) {
	h.t.Helper()
	adm := kadm.NewClient(h.prod)
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		state, ok := h.committedState(adm, records)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("group offsets not committed to the end after %s: %s\nlogs:\n%s", timeout, state, tailLines(h.logs.String(), 30))
		}
		<-tick.C
	}
}

// committedState reports the group's committed offsets against the end
// offsets of orders, and whether every partition is committed to its end
// with the end offsets adding up to records.
func (h *harness) committedState(adm *kadm.Client, records int64) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, "orders")
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Sprintf("listing end offsets: %v", err), false
	}
	offs, err := adm.FetchOffsets(ctx, "g")
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return fmt.Sprintf("fetching group offsets: %v", err), false
	}
	var b strings.Builder
	var total int64
	ok := len(ends["orders"]) == 2
	for p := range int32(2) {
		end, _ := ends.Lookup("orders", p)
		at := int64(-1)
		if o, found := offs.Lookup("orders", p); found {
			at = o.At
		}
		fmt.Fprintf(&b, "orders[%d] committed %d, end %d; ", p, at, end.Offset)
		total += end.Offset
		ok = ok && at == end.Offset
	}
	fmt.Fprintf(&b, "end offsets add up to %d, want %d", total, records)
	return b.String(), ok && total == records
}

func dump(m map[string]float64) string {
	var b strings.Builder
	for k, v := range m {
		if strings.HasPrefix(k, "cxone_bridge_") {
			fmt.Fprintf(&b, "%s %g\n", k, v)
		}
	}
	return b.String()
}

func tailLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func sumPrefix(m map[string]float64, prefix string) float64 {
	var s float64
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			s += v
		}
	}
	return s
}

// TestMetricsProbesAndOutage runs a small load with good, invalid and
// tombstone records, waits until the group's offsets are committed to the
// end at the broker, checks every counter against what was produced by
// scraping the real endpoint, then takes CXone down: the breaker gauge goes
// to 2, fetching pauses and /readyz answers 503; after the outage all goes
// back to closed, ready, and the records sent meanwhile are accepted. No
// log line carries the client secret or a bearer token.
func TestMetricsProbesAndOutage(t *testing.T) {
	h := start(t, cxonetest.DefaultClientSecret)
	const good, bad, tombs = 40, 4, 3
	var recs []*kgo.Record
	for i := range good {
		recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(i % 7)), Value: []byte(valid(i))})
	}
	for i := range bad {
		recs = append(recs, &kgo.Record{Key: []byte("bad"), Value: []byte(fmt.Sprintf("not json %d", i))})
	}
	for range tombs {
		recs = append(recs, &kgo.Record{Key: []byte("t")})
	}
	h.produce(recs...)

	h.waitMetrics("all records final", 15*time.Second, func(m map[string]float64) bool {
		return m[`cxone_bridge_events_total{outcome="accepted"}`] == good &&
			m[`cxone_bridge_events_total{outcome="dead_lettered"}`] == bad &&
			m[`cxone_bridge_events_total{outcome="skipped"}`] == tombs &&
			m[`cxone_bridge_buffered_records`] == 0 && m[`cxone_bridge_ready`] == 1
	})
	// Final is not committed: the commit loop commits every commit_interval,
	// and until the first commit of an assignment the lag gauge counts from
	// the next offset to finish (consumer.Lag), so lag 0 does not show a
	// commit either. Wait for the commits themselves at the broker, then
	// for the bridge to have counted them: it does once the commit
	// response is in, just after the broker stored the offsets.
	h.waitCommitted(15*time.Second, good+bad+tombs)
	lag0 := `cxone_bridge_consumer_lag_records{partition="0",topic="orders"}`
	lag1 := `cxone_bridge_consumer_lag_records{partition="1",topic="orders"}`
	m := h.waitMetrics("commits counted, lag 0", 5*time.Second, func(m map[string]float64) bool {
		_, has0 := m[lag0]
		_, has1 := m[lag1]
		return m[`cxone_bridge_commits_total`] >= 1 && has0 && has1 && m[lag0]+m[lag1] == 0
	})
	for name, want := range map[string]float64{
		`cxone_bridge_records_consumed_total{topic="orders"}`:                     good + bad + tombs,
		`cxone_bridge_events_total{outcome="duplicate"}`:                          0,
		`cxone_bridge_dlq_writes_total{class="invalid"}`:                          bad,
		`cxone_bridge_dlq_writes_total{class="rejected"}`:                         0,
		`cxone_bridge_dlq_write_failures_total`:                                   0,
		`cxone_bridge_publish_duration_seconds_count`:                             good,
		`cxone_bridge_publish_failures_total{class="systemic"}`:                   0,
		`cxone_bridge_breaker_state`:                                              0,
		`cxone_bridge_fetch_paused`:                                               0,
		`cxone_bridge_in_flight_records`:                                          0,
		`cxone_bridge_buffered_bytes`:                                             0,
		`cxone_bridge_partitions_owned`:                                           2,
		`cxone_bridge_token_refreshes_total`:                                      1,
		`cxone_bridge_commit_failures_total`:                                      0,
		`cxone_bridge_build_info{goversion="` + goVersion() + `",version="test"}`: 1,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	// cxone_bridge_commits_total ≥ 1 is checked by the wait above.
	if m[`cxone_bridge_rebalances_total`] < 1 {
		t.Errorf("cxone_bridge_rebalances_total = %v, want ≥ 1", m[`cxone_bridge_rebalances_total`])
	}
	// The first join counts as one rebalance that stopped the member.
	if n := m[`cxone_bridge_rebalance_duration_seconds_count`]; n < 1 || m[`cxone_bridge_rebalance_duration_seconds_sum`] <= 0 {
		t.Errorf("cxone_bridge_rebalance_duration_seconds count %v sum %v, want the first join observed", n, m[`cxone_bridge_rebalance_duration_seconds_sum`])
	}
	if st := h.cxone.Stats(); st.Accepted != good {
		t.Errorf("CXone accepted %d, want %d", st.Accepted, good)
	}
	if code, body := h.probe("/readyz"); code != 200 || body != "ok" {
		t.Errorf("/readyz = %d %q, want 200 ok", code, body)
	}
	if code, body := h.probe("/healthz"); code != 200 || body != "ok" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}

	// Outage: every events request answers 503 until the faults are cleared.
	if err := h.cxone.SetFaults(cxonetest.Faults{OutageFor: cxonetest.Duration(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var more []*kgo.Record
	for i := good; i < good+10; i++ {
		more = append(more, &kgo.Record{Key: []byte(strconv.Itoa(i % 7)), Value: []byte(valid(i))})
	}
	h.produce(more...)
	// The 503 retries are part of the condition, not read off the scrape that
	// first shows the breaker open: the breaker counts a failed try (and may
	// open, pausing fetching) before Publish reports the retry to the
	// observer, and a scrape gathers the collectors concurrently.
	m = h.waitMetrics("breaker open, not ready, 503s retried", 10*time.Second, func(m map[string]float64) bool {
		return m[`cxone_bridge_breaker_state`] == 2 && m[`cxone_bridge_ready`] == 0 && m[`cxone_bridge_fetch_paused`] == 1 &&
			m[`cxone_bridge_retries_total{reason="http_503"}`] >= 1
	})
	// Every open_timeout the breaker lets one probe through and is half-open
	// (ready) until that probe's 503 opens it again: poll, as for the metrics.
	if code, body, ok := h.waitProbe("/readyz", 5*time.Second, func(code int, body string) bool {
		return code == 503 && strings.Contains(body, "circuit breaker open")
	}); !ok {
		t.Errorf("/readyz during the outage = %d %q, want 503 naming the breaker", code, body)
	}
	if code, _ := h.probe("/healthz"); code != 200 {
		t.Errorf("/healthz during the outage = %d, want 200 (alive, just not ready)", code)
	}
	if m[`cxone_bridge_events_total{outcome="dead_lettered"}`] != bad {
		t.Errorf("outage dead-lettered records: %v, want %d", m[`cxone_bridge_events_total{outcome="dead_lettered"}`], bad)
	}

	if err := h.cxone.SetFaults(cxonetest.Faults{}); err != nil {
		t.Fatal(err)
	}
	h.waitMetrics("recovered", 15*time.Second, func(m map[string]float64) bool {
		return m[`cxone_bridge_breaker_state`] == 0 && m[`cxone_bridge_ready`] == 1 && m[`cxone_bridge_fetch_paused`] == 0 &&
			m[`cxone_bridge_events_total{outcome="accepted"}`]+m[`cxone_bridge_events_total{outcome="duplicate"}`] >= good+10
	})
	if code, body := h.probe("/readyz"); code != 200 || body != "ok" {
		t.Errorf("/readyz after the outage = %d %q, want 200 ok", code, body)
	}
	h.stop()
	if code, body := h.probe("/healthz"); code != 503 || body != "poll loop not running" {
		t.Errorf("/healthz after Run returned = %d %q, want 503", code, body)
	}
	checkNoSecrets(t, h.logs.String(), cxonetest.DefaultClientSecret)
	checkRecordLines(t, h.logs.String(), "record dead-lettered", "cxone transient failure, retrying")
}

// checkRecordLines: every log line about a record (one with an offset or a
// correlation id) carries topic, partition, offset and correlation_id, and
// each message of must appeared at least once.
func checkRecordLines(t *testing.T, logs string, must ...string) {
	t.Helper()
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		_, hasOffset := rec["offset"]
		_, hasCorr := rec["correlation_id"]
		msg, _ := rec["msg"].(string)
		if !hasOffset && !hasCorr {
			continue
		}
		seen[msg]++
		for _, k := range []string{"topic", "partition", "offset", "correlation_id"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("record-level log line without %s: %s", k, line)
			}
		}
	}
	for _, m := range must {
		if seen[m] == 0 {
			t.Errorf("no %q line in the log", m)
		}
	}
}

// TestUnauthorizedNotReadyNoSecret: a wrong client secret makes the token
// endpoint answer 401: the bridge is not ready, token failures and
// systemic publish failures are counted, and the wrong secret never
// reaches a log line.
func TestUnauthorizedNotReadyNoSecret(t *testing.T) {
	const wrong = "wrong-secret-3f9a1c77"
	h := start(t, wrong)
	h.produce(&kgo.Record{Key: []byte("k"), Value: []byte(valid(1))})
	m := h.waitMetrics("token refused, breaker open", 10*time.Second, func(m map[string]float64) bool {
		return m[`cxone_bridge_token_refresh_failures_total`] >= 1 &&
			m[`cxone_bridge_publish_failures_total{class="systemic"}`] >= 1 && m[`cxone_bridge_ready`] == 0
	})
	if m[`cxone_bridge_token_refreshes_total`] != 0 {
		t.Errorf("token_refreshes_total = %v, want 0", m[`cxone_bridge_token_refreshes_total`])
	}
	code, body := h.probe("/readyz")
	if code != 503 || !strings.Contains(body, "no CXone token") {
		t.Errorf("/readyz = %d %q, want 503 naming the token", code, body)
	}
	if sumPrefix(m, `cxone_bridge_events_total`) != 0 {
		t.Errorf("events counted with a refused token: %v", sumPrefix(m, `cxone_bridge_events_total`))
	}
	h.stop()
	logs := h.logs.String()
	if !strings.Contains(logs, "cxone systemic failure") {
		t.Errorf("no systemic failure logged; logs:\n%s", tailLines(logs, 20))
	}
	checkNoSecrets(t, logs, wrong)
	checkRecordLines(t, logs, "cxone systemic failure")
}

func checkNoSecrets(t *testing.T, logs, secret string) {
	t.Helper()
	for i, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, secret) || strings.Contains(strings.ToLower(line), "bearer ") {
			t.Errorf("log line %d leaks a secret or token: %s", i+1, line)
		}
	}
	if strings.Count(logs, "\n") < 3 {
		t.Errorf("too few log lines (%d) for the check to mean anything", strings.Count(logs, "\n"))
	}
}

func goVersion() string { return runtimeVersion }
