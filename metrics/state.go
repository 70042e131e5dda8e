package metrics

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/sink"
)

// Source is what the state collector reads at scrape time; *pipeline.Bridge
// implements it.
type Source interface {
	Consumer() *consumer.Consumer
	BreakerState() sink.BreakerState
	Ready() (bool, string)
}

// Attach registers a collector that reads the bridge's current state
// (consumer stats, lag, breaker, readiness) at every scrape. Call it once,
// after pipeline.New.
func (m *Metrics) Attach(src Source) {
	c := &stateCollector{}
	c.src.Store(&src)
	m.Registry.MustRegister(c)
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, nil)
}

var (
	descCommits        = desc("commits_total", "Successful offset commits.")
	descCommitFailures = desc("commit_failures_total", "Failed offset commits (each retried).")
	descRebalances     = desc("rebalances_total", "Partition assignments received.")
	descDLQFailures    = desc("dlq_write_failures_total", "Failed writes to a dead-letter topic (each retried).")
	descPartitions     = desc("partitions_owned", "Partitions this member owns now.")
	descInFlight       = desc("in_flight_records", "Records being published now.")
	descBuffered       = desc("buffered_records", "Records handed out and not finished (publishing, or waiting for their lane or a slot).")
	descBufferedBytes  = desc("buffered_bytes", "Bytes (key, value, headers) of the buffered records.")
	descFetchPaused    = desc("fetch_paused", "1 while fetching is paused by the circuit breaker.")
	descBreaker        = desc("breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open.")
	descReady          = desc("ready", "1 when the bridge is ready (group joined, breaker not open, token obtainable).")
	descLag            = desc("consumer_lag_records", "Client-side lag: last seen high watermark minus committed offset.", "topic", "partition")
	descOldest         = desc("oldest_unfinished_seconds", "How long the lowest unfinished record of a partition has held its commit (since it was handed out); 0 when none is unfinished.", "topic", "partition")
	descThrottled      = desc("throttled_partitions", "Partitions whose fetching a budget paused (fair share, records blocked behind a failing key, max_records_ahead).")
	descDataLoss       = desc("data_loss_total", "Data losses reported by the Kafka client (a partition's log lost records it had consumed); each partition is handled again from where the client reset.")
	descSkipped        = desc("records_skipped_total", "Records polled at an offset already handed out, with no data loss reported (never expected; each is logged as an error).")
)

type stateCollector struct {
	src atomic.Pointer[Source]
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCommits, descCommitFailures, descRebalances, descDLQFailures,
		descPartitions, descInFlight, descBuffered, descBufferedBytes, descFetchPaused, descBreaker, descReady, descLag,
		descOldest, descThrottled, descDataLoss, descSkipped} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	src := *c.src.Load()
	cons := src.Consumer()
	st := cons.Stats()
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(descCommits, st.Commits)
	counter(descCommitFailures, st.CommitFailures)
	counter(descRebalances, st.Rebalances)
	counter(descDLQFailures, st.DLQFailures)
	counter(descDataLoss, st.DataLoss)
	counter(descSkipped, st.Skipped)
	gauge(descThrottled, float64(st.Throttled))
	gauge(descPartitions, float64(st.Partitions))
	gauge(descInFlight, float64(st.InFlight))
	gauge(descBuffered, float64(st.Buffered))
	gauge(descBufferedBytes, float64(st.InFlightBytes))
	gauge(descFetchPaused, b2f(st.Paused))
	gauge(descBreaker, breakerValue(src.BreakerState()))
	ready, _ := src.Ready()
	gauge(descReady, b2f(ready))
	for _, l := range cons.Lag() {
		gauge(descLag, float64(l.Lag), l.Topic, strconv.Itoa(int(l.Partition)))
	}
	for _, p := range cons.Partitions() {
		gauge(descOldest, p.OldestUnfinished.Seconds(), p.Topic, strconv.Itoa(int(p.Partition)))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func breakerValue(s sink.BreakerState) float64 {
	switch s {
	case sink.BreakerHalfOpen:
		return 1
	case sink.BreakerOpen:
		return 2
	}
	return 0
}
