package consumer

import "slices"

// Throttles: which partitions to stop fetching, and the client's pauses.
//
// kgo's PollRecords hands out a buffered fetch partition by partition, so
// without limits the buffer (MaxBuffered) could fill with one partition's
// records while the others wait. A partition's fetching is paused (kgo
// drops what it buffered for it and fetches it again later, from the same
// offset) while any of these holds:
//
//   - fair: its records queued behind busy lanes reached its share of the
//     buffer (MaxBuffered ÷ partitions owned); released when they fell to
//     half of it. Only records with two or more of their key ahead count:
//     records that start at once (a free lane), or wait for a worker, or
//     are right behind their key's running record (they start when it
//     finishes, a publish later) never do. So key ordering over many keys
//     keeps its full parallelism, and keys that merely repeat within the
//     buffer do not pause their partition; a hot key, whose records wait
//     for one another in a long line, does. (Counting the second of each
//     key too paused partitions of a backlog over 10,000 keys dozens of
//     times a run: each pause makes the client drop what it buffered for
//     the partition and fetch and decompress those batches again, three
//     times over in `bridge bench` at 256 in flight, and about a tenth of
//     the bridge's CPU.) Dead-pending records (exactly-once dead letters
//     waiting for their transaction) count too: they hold the buffer
//     until a transaction takes them, a few at each partition's head, so
//     without it a flood of bad records in the partition the client
//     handed out first filled the buffer, and the other partitions waited
//     for it to drain (one had its first commit after 90% of a 20,000
//     record run in TestDeadLetterCost).
//   - stuck: its records blocked behind failing lanes (a first record being
//     retried) reached that share; released when they fell below it. They
//     start only once the failing record finishes (delivered, or
//     dead-lettered by the persistent failure rule), so they must not hold
//     the fair throttle: a stuck key costs its own records and, up to the
//     share, nothing else.
//   - ahead: it ran MaxRecordsAhead offsets past its watermark; released
//     when it is back below.
//
// Pause (the breaker) stops every consumed topic on top of that.

// throttled reports whether p's fetching should be paused for itself.
func (p *partition) throttled() bool { return p.fair || p.stuck || p.ahead }

// share is the number of waiting records a partition may hold. c.mu is
// held.
func (c *Consumer) share() int {
	return max(1, c.cfg.MaxBuffered/max(1, len(c.parts)))
}

// throttleLocked updates p's reasons to pause for the given share and
// reports whether throttled() changed. c.mu is held.
func (c *Consumer) throttleLocked(p *partition, share int) bool {
	was := p.throttled()
	switch {
	case !p.fair && p.queued+p.dead >= share:
		p.fair = true
	case p.fair && p.queued+p.dead <= share/2:
		p.fair = false
	}
	p.stuck = p.blocked >= share
	p.ahead = p.head != nil && p.next-p.head.rec.Offset >= c.cfg.MaxRecordsAhead
	return p.throttled() != was
}

// rethrottleLocked re-evaluates every owned partition (after a poll, or a
// change of assignment, which changes the share) and reports whether any
// changed. c.mu is held.
func (c *Consumer) rethrottleLocked() bool {
	share := c.share()
	changed := false
	for _, p := range c.parts {
		if c.throttleLocked(p, share) {
			changed = true
		}
	}
	return changed
}

// throttleTouchedLocked re-evaluates the partitions whose counters changed
// and reports whether a throttle changed; the caller then reconciles the
// client's pauses (reconcilePauses) once it released c.mu. c.mu is held.
func (c *Consumer) throttleTouchedLocked(touched []*partition) bool {
	if len(touched) == 0 {
		return false
	}
	share := c.share()
	changed := false
	for _, p := range touched {
		if p.current && c.throttleLocked(p, share) {
			changed = true
		}
	}
	return changed
}

// appliedPauses is what the consumer last asked of the client.
type appliedPauses struct {
	topics     map[string]bool
	partitions map[tp]bool
}

// reconcilePauses makes the client's pauses match what the consumer wants
// now: every consumed topic while paused, and the throttled partitions.
// Calls are serialised by pauseMu and each one reads the wanted state after
// taking it, so whatever the order of concurrent changes (a Resume racing
// an assignment, a throttle racing a revoke), the last call applies the
// latest state: a pause can never be left behind in the client.
func (c *Consumer) reconcilePauses() {
	c.pauseMu.Lock()
	defer c.pauseMu.Unlock()
	wantTopics := map[string]bool{}
	wantParts := map[tp]bool{}
	c.mu.Lock()
	if c.paused {
		for key := range c.parts {
			wantTopics[key.topic] = true
		}
		if !c.cfg.Regex {
			for _, t := range c.cfg.Topics {
				wantTopics[t] = true
			}
		}
	}
	for key, p := range c.parts {
		if p.throttled() {
			wantParts[key] = true
		}
	}
	c.mu.Unlock()

	a := &c.applied
	var pauseTopics, resumeTopics []string
	for t := range wantTopics {
		if !a.topics[t] {
			pauseTopics = append(pauseTopics, t)
		}
	}
	for t := range a.topics {
		if !wantTopics[t] {
			resumeTopics = append(resumeTopics, t)
		}
	}
	var pauseParts, resumeParts map[string][]int32
	add := func(m *map[string][]int32, key tp) {
		if *m == nil {
			*m = map[string][]int32{}
		}
		(*m)[key.topic] = append((*m)[key.topic], key.partition)
	}
	for key := range wantParts {
		if !a.partitions[key] {
			add(&pauseParts, key)
		}
	}
	for key := range a.partitions {
		if !wantParts[key] {
			add(&resumeParts, key) // also a dropped partition: kgo keeps partition pauses across assignments
		}
	}
	if len(pauseTopics) > 0 {
		slices.Sort(pauseTopics)
		c.cl.PauseFetchTopics(pauseTopics...)
	}
	if pauseParts != nil {
		c.cl.PauseFetchPartitions(pauseParts)
	}
	if len(resumeTopics) > 0 {
		c.cl.ResumeFetchTopics(resumeTopics...)
	}
	if resumeParts != nil {
		c.cl.ResumeFetchPartitions(resumeParts)
	}
	a.topics, a.partitions = wantTopics, wantParts
}

// Pause stops fetching every consumed topic until Resume, across
// rebalances. Records already dispatched keep being worked on. When Pause
// returns, no record fetched afterwards is dispatched.
func (c *Consumer) Pause() { c.setPaused(true) }

// Resume undoes Pause.
func (c *Consumer) Resume() { c.setPaused(false) }

func (c *Consumer) setPaused(paused bool) {
	c.mu.Lock()
	was := c.paused
	c.paused = paused
	c.mu.Unlock()
	c.reconcilePauses()
	switch {
	case paused && !was:
		c.log.Warn("fetching paused")
	case !paused && was:
		c.log.Info("fetching resumed")
	}
}

// Paused reports whether Pause is in force.
func (c *Consumer) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}
