package consumer

import "sync/atomic"

type counters struct {
	consumed, finished, dlq, dlqFailures, retries atomic.Int64
	commits, commitFailures, rebalances           atomic.Int64
	dataLoss, skipped                             atomic.Int64
}

// Stats is a snapshot of the consumer's counters since New.
type Stats struct {
	Consumed       int64 // records dispatched
	Finished       int64 // records finished (published, skipped or dead-lettered) under a current assignment
	DLQ            int64 // records dead-lettered
	DLQFailures    int64 // failed DLQ writes (each retried)
	Retries        int64 // waits before another attempt at a record
	Commits        int64 // successful commits
	CommitFailures int64
	Rebalances     int64 // assignments received
	// DataLoss counts the data losses the client reported (kgo.ErrDataLoss:
	// a partition's log lost records it had consumed, or records were
	// deleted before it could read them).
	DataLoss int64
	// Skipped counts records polled at an offset already handed out under
	// the same assignment, without a data loss reported (never expected;
	// each is logged as an error).
	Skipped       int64
	InFlight      int   // records being handled now (at most MaxInFlight)
	Buffered      int   // records handed out and unfinished now (at most MaxBuffered)
	InFlightBytes int64 // bytes held for those
	Partitions    int   // partitions owned now
	Paused        bool  // fetching paused (breaker open)
	Throttled     int   // partitions whose fetching a budget paused (fair share, blocked records, records ahead)
}

// Stats returns a snapshot of the counters.
func (c *Consumer) Stats() Stats {
	c.mu.Lock()
	s := Stats{InFlight: c.active, Buffered: c.inflight, InFlightBytes: c.bytes, Partitions: len(c.parts), Paused: c.paused}
	for _, p := range c.parts {
		if p.throttled() {
			s.Throttled++
		}
	}
	c.mu.Unlock()
	s.Consumed = c.stats.consumed.Load()
	s.Finished = c.stats.finished.Load()
	s.DLQ = c.stats.dlq.Load()
	s.DLQFailures = c.stats.dlqFailures.Load()
	s.Retries = c.stats.retries.Load()
	s.Commits = c.stats.commits.Load()
	s.CommitFailures = c.stats.commitFailures.Load()
	s.Rebalances = c.stats.rebalances.Load()
	s.DataLoss = c.stats.dataLoss.Load()
	s.Skipped = c.stats.skipped.Load()
	return s
}

// InFlight returns the number of records handed out and not finished
// (being handled, or waiting for their lane or a slot).
func (c *Consumer) InFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inflight
}
