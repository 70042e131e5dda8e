// Package metrics exports the bridge's Prometheus metrics and serves them,
// with the /healthz and /readyz probes, on the operations listener.
//
// The sink and consumer packages import no metrics library: they report
// through small hooks (sink.Observer, consumer.Observer and its optional
// extensions, pipeline.Options callbacks), which Metrics implements. State
// that the consumer already keeps (commits, rebalances, in-flight records,
// partitions, lag ...) is read at scrape time from consumer.Stats and
// consumer.Lag by a collector, so the hot path pays nothing for it.
package metrics

import (
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/transform"
)

const ns = "cxone_bridge"

// Outcomes of cxone_bridge_events_total.
const (
	OutcomeAccepted     = "accepted"
	OutcomeDuplicate    = "duplicate"
	OutcomeSkipped      = "skipped"
	OutcomeFiltered     = "filtered"
	OutcomeDeadLettered = "dead_lettered"
)

// Metrics holds the bridge's collectors in its own registry.
type Metrics struct {
	Registry *prometheus.Registry

	consumed          *prometheus.CounterVec
	events            *prometheus.CounterVec
	publishFailures   *prometheus.CounterVec
	publishDuration   prometheus.Histogram
	retries           *prometheus.CounterVec
	dlqWrites         *prometheus.CounterVec
	tokenRefreshes    prometheus.Counter
	tokenFailures     prometheus.Counter
	breakerChanges    *prometheus.CounterVec
	rebalanceDuration prometheus.Histogram
	outcome           map[string]prometheus.Counter // events' children, read-only after New
	consumedBy        sync.Map                      // topic → consumed's child
}

// New creates the collectors and registers them, the build info and the Go
// and process collectors in a new registry.
func New(version string) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r}
	m.consumed = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "records_consumed_total",
		Help: "Records fetched from Kafka and handed to the pipeline."}, []string{"topic"})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "events_total",
		Help: "Records that reached a final outcome: accepted, duplicate (409, already ingested), skipped (tombstone), filtered (no route's filter took it), dead_lettered."}, []string{"outcome"})
	m.publishFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "publish_failures_total",
		Help: "Publish calls that ended in a failure, by class (rejected, transient after retries, systemic)."}, []string{"class"})
	m.publishDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "publish_duration_seconds",
		Help:    "Duration of one successful or final Publish call to CXone, retries included.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "retries_total",
		Help: "Retries: sink-level HTTP retries (http_<status>, timeout, connection) and consumer-level record retries (transient, systemic, dlq_write, other)."}, []string{"reason"})
	m.dlqWrites = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "dlq_writes_total",
		Help: "Acknowledged writes to a dead-letter topic, by failure class (invalid, rejected)."}, []string{"class"})
	m.tokenRefreshes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "token_refreshes_total",
		Help: "Tokens obtained from the CXone token endpoint."})
	m.tokenFailures = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "token_refresh_failures_total",
		Help: "Failed requests to the CXone token endpoint."})
	m.rebalanceDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "rebalance_duration_seconds",
		Help:    "How long each rebalance that took partitions from this member (or its first join, or a lost membership) lasted for it, until the assignment that ended it.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}})
	m.breakerChanges = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "breaker_transitions_total",
		Help: "Circuit-breaker state changes, by the state entered."}, []string{"to"})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "build_info",
		Help: "Always 1; labels carry the build."}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)

	// The children of the per-event counters, resolved once: WithLabelValues
	// hashes its labels and looks the child up at every call.
	m.outcome = map[string]prometheus.Counter{}
	for _, o := range []string{OutcomeAccepted, OutcomeDuplicate, OutcomeSkipped, OutcomeFiltered, OutcomeDeadLettered} {
		m.outcome[o] = m.events.WithLabelValues(o)
	}
	for _, c := range []string{"rejected", "transient", "systemic"} {
		m.publishFailures.WithLabelValues(c)
	}
	for _, c := range []string{string(dlq.ClassInvalid), string(dlq.ClassRejected)} {
		m.dlqWrites.WithLabelValues(c)
	}
	r.MustRegister(m.consumed, m.events, m.publishFailures, m.publishDuration, m.retries, m.dlqWrites,
		m.tokenRefreshes, m.tokenFailures, m.breakerChanges, m.rebalanceDuration, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Options returns pipeline options whose hooks feed m; set the other
// fields of the result as needed.
func (m *Metrics) Options() pipeline.Options {
	return pipeline.Options{
		Observer:     m,
		SinkObserver: m.Sink(),
		OnPublished:  m.published,
		OnSkipped: func(_ *kgo.Record, reason string) {
			if reason == transform.ReasonFiltered {
				m.outcome[OutcomeFiltered].Inc()
				return
			}
			m.outcome[OutcomeSkipped].Inc()
		},
		OnBreakerState: func(_, to sink.BreakerState) { m.breakerChanges.WithLabelValues(to.String()).Inc() },
	}
}

func (m *Metrics) published(_ *kgo.Record, _ *transform.Event, res sink.Result) {
	if res.Duplicate {
		m.outcome[OutcomeDuplicate].Inc()
	} else {
		m.outcome[OutcomeAccepted].Inc()
	}
}

// Finished implements consumer.Observer (counted elsewhere).
func (m *Metrics) Finished(*kgo.Record, bool) {}

// Rebalanced implements consumer.RebalanceObserver.
func (m *Metrics) Rebalanced(d time.Duration) { m.rebalanceDuration.Observe(d.Seconds()) }

// Dispatched implements consumer.DispatchObserver.
func (m *Metrics) Dispatched(rec *kgo.Record) {
	if c, ok := m.consumedBy.Load(rec.Topic); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c := m.consumed.WithLabelValues(rec.Topic)
	m.consumedBy.Store(rec.Topic, c)
	c.Inc()
}

// DeadLettered implements consumer.DLQObserver.
func (m *Metrics) DeadLettered(_ *kgo.Record, f *dlq.Failure) {
	m.dlqWrites.WithLabelValues(string(f.Class)).Inc()
	m.outcome[OutcomeDeadLettered].Inc()
}

// Retrying implements consumer.RetryObserver: a record-level retry.
func (m *Metrics) Retrying(_ *kgo.Record, err error, dlqWrite bool) {
	m.retries.WithLabelValues(recordRetryReason(err, dlqWrite)).Inc()
}

func recordRetryReason(err error, dlqWrite bool) string {
	var se *sink.Error
	switch {
	case dlqWrite:
		return "dlq_write"
	case errors.As(err, &se):
		return se.Class.String()
	}
	return "other"
}

// sinkObserver adapts Metrics to sink.Observer (whose Retrying has another
// signature than consumer.RetryObserver's).
type sinkObserver struct{ m *Metrics }

// Published implements sink.Observer.
func (s sinkObserver) Published(d time.Duration, _ sink.Result, err *sink.Error) {
	s.m.publishDuration.Observe(d.Seconds())
	if err != nil {
		s.m.publishFailures.WithLabelValues(err.Class.String()).Inc()
	}
}

// Retrying implements sink.Observer.
func (s sinkObserver) Retrying(reason string) { s.m.retries.WithLabelValues(reason).Inc() }

// TokenFetched implements sink.Observer.
func (s sinkObserver) TokenFetched(err error) {
	if err == nil {
		s.m.tokenRefreshes.Inc()
	} else {
		s.m.tokenFailures.Inc()
	}
}

// Sink returns m's sink.Observer.
func (m *Metrics) Sink() sink.Observer { return sinkObserver{m} }

var (
	_ consumer.Observer         = (*Metrics)(nil)
	_ consumer.DispatchObserver = (*Metrics)(nil)
	_ consumer.RetryObserver    = (*Metrics)(nil)
	_ consumer.DLQObserver      = (*Metrics)(nil)
)
