package demo

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

type tpo struct {
	partition int32
	offset    int64
}

// report builds the report and its verdict. Every check is computed from
// what the demo itself produced and from what CXone (the test server)
// recorded, the DLQ topic holds and the group committed, not from the
// bridge's own counters.
func (r *runner) report(e ending, runErr error) *Report {
	rep := &Report{External: r.o.External != nil, DLQByClass: map[string]int{}, DLQByReason: map[string]int{}}
	rep.Produced = len(r.samples)
	at := make(map[tpo]*sample, len(r.samples))
	valid := map[string]*sample{} // orderId -> first (valid) occurrence
	var invalid []*sample
	for _, s := range r.samples {
		at[tpo{s.partition, s.offset}] = s
		switch s.kind {
		case kindValid:
			valid[s.orderID] = s
		case kindDuplicate:
			rep.DuplicatesProduced++
		case kindInvalid:
			invalid = append(invalid, s)
		case kindTombstone:
			rep.Tombstones++
		}
	}
	rep.ValidOrders, rep.InvalidProduced = len(valid), len(invalid)
	rep.Finished = r.obs.finished.Load()
	rep.SkippedTombstones = int(r.obs.skipped.Load())
	rep.Retries = r.bridge.Consumer().Stats().Retries
	if last := r.obs.lastFinish.Load(); last > 0 {
		rep.Elapsed = time.Duration(last - r.started.UnixNano())
		if rep.Elapsed > 0 {
			rep.Throughput = float64(rep.Finished) / rep.Elapsed.Seconds()
		}
	}

	r.checkFinished(rep, e, runErr)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if r.srv != nil {
		r.checkServer(rep, valid)
	} else {
		r.checkBridgeView(rep, valid)
	}
	r.checkDLQ(ctx, rep, at, invalid)
	r.checkOffsets(ctx, rep)
	rep.decide()
	return rep
}

func (r *runner) checkFinished(rep *Report, e ending, runErr error) {
	const name = "stream finished"
	total := len(r.samples)
	switch {
	case e.produceErr != nil:
		rep.add(name, Fail, "producing the sample stream failed: %v", e.produceErr)
	case e.runEnded:
		rep.add(name, Fail, "the bridge stopped by itself after %d of %s: %v", rep.Finished, count(total, "record"), e.runErr)
	case e.interrupted:
		rep.add(name, Fail, "interrupted after %d of %s", rep.Finished, count(total, "record"))
	case e.stalled:
		rep.add(name, Fail, "no record finished for %s; %d of %d finished", r.o.StallTimeout, rep.Finished, total)
	case runErr != nil:
		rep.add(name, Fail, "%s finished but the bridge did not shut down cleanly: %v", allOf(total, "record"), runErr)
	default:
		rep.add(name, Pass, "%s finished, group lag 0, bridge shut down cleanly", allOf(total, "record"))
	}
}

// checkServer checks exactly-once and key order on the test server's
// record of accepted events.
func (r *runner) checkServer(rep *Report, valid map[string]*sample) {
	stats := r.srv.Stats()
	events := r.srv.Events()
	rep.Delivered = int(stats.Accepted)
	rep.DuplicatesSuppressed = int(stats.Duplicates)
	slices.SortStableFunc(events, func(a, b cxonetest.Event) int { return a.ArrivedAt.Compare(b.ArrivedAt) })

	times := map[string]int{}
	var unknown []string
	var latencies []time.Duration
	actual := map[string][]*sample{} // key -> accepted orders in arrival order
	for _, ev := range events {
		id, ok := orderOf(ev.Body)
		if !ok {
			unknown = append(unknown, "event "+ev.ID+" without attributes.orderId")
			continue
		}
		times[id]++
		s := valid[id]
		if s == nil {
			unknown = append(unknown, id)
			continue
		}
		if times[id] == 1 {
			actual[s.key] = append(actual[s.key], s)
			latencies = append(latencies, ev.ArrivedAt.Sub(s.ts))
		}
	}
	slices.Sort(latencies)
	rep.LatencyP50, rep.LatencyP99 = percentile(latencies, 50), percentile(latencies, 99)

	var missing, twice []string
	for id := range valid {
		if times[id] == 0 {
			missing = append(missing, id)
		}
	}
	for id, n := range times {
		if n > 1 {
			twice = append(twice, fmt.Sprintf("%s ×%d", id, n))
		}
	}
	slices.Sort(missing)
	slices.Sort(twice)
	const name = "exactly once at CXone"
	if len(missing)+len(twice)+len(unknown) == 0 && int(stats.Accepted) == len(valid) && len(events) == len(valid) {
		each := " each"
		if len(valid) == 1 {
			each = ""
		}
		rep.add(name, Pass, "the %s %s%s accepted exactly once (%s recorded, none missing, none extra)",
			count(len(valid), "valid order"), wasWere(len(valid)), each, count(len(events), "event"))
	} else {
		rep.add(name, Fail, "%s, %s accepted; missing %d [%s]; accepted more than once %d [%s]; not a valid order %d [%s]",
			count(len(valid), "valid order"), count(stats.Accepted, "event"), len(missing), examples(missing, 5), len(twice), examples(twice, 5), len(unknown), examples(unknown, 5))
	}

	const dname = "duplicates deduplicated"
	if int(stats.Duplicates) >= rep.DuplicatesProduced {
		rep.add(dname, Pass, "%s produced; CXone answered %s with the first event's id and recorded no second event",
			count(rep.DuplicatesProduced, "duplicate record"), count(stats.Duplicates, "repeated idempotency key"))
	} else {
		rep.add(dname, Fail, "%s produced but CXone saw only %s", count(rep.DuplicatesProduced, "duplicate record"), count(stats.Duplicates, "repeated idempotency key"))
	}

	r.checkKeyOrder(rep, "key order at CXone", "arrived at CXone", valid, actual)
}

// checkBridgeView checks what the bridge saw of an external endpoint.
func (r *runner) checkBridgeView(rep *Report, valid map[string]*sample) {
	const skip = "not checked (external endpoint)"
	rep.add("exactly once at CXone", NotChecked, "%s", skip)
	rep.add("key order at CXone", NotChecked, "%s", skip)

	pubs := r.pub.snapshot()
	rep.Delivered = int(r.pub.delivered.Load())
	rep.DuplicatesSuppressed = int(r.pub.repeats.Load())
	first := map[string]publication{}
	var unknown, otherID []string
	var latencies []time.Duration
	actual := map[string][]*sample{}
	for _, p := range pubs {
		s := valid[p.orderID]
		if s == nil {
			unknown = append(unknown, p.orderID)
			continue
		}
		f, seen := first[p.orderID]
		if !seen {
			first[p.orderID] = p
			actual[s.key] = append(actual[s.key], s)
			latencies = append(latencies, p.at.Sub(s.ts))
			continue
		}
		if p.id != f.id && !p.duplicate {
			otherID = append(otherID, fmt.Sprintf("%s: ids %s and %s", p.orderID, f.id, p.id))
		}
	}
	slices.Sort(latencies)
	rep.LatencyP50, rep.LatencyP99 = percentile(latencies, 50), percentile(latencies, 99)
	var missing []string
	for id := range valid {
		if _, ok := first[id]; !ok {
			missing = append(missing, id)
		}
	}
	slices.Sort(missing)
	const name = "exactly once in effect (bridge's view)"
	if len(missing)+len(unknown)+len(otherID) == 0 {
		accepted := "each of the " + count(len(valid), "valid order") + " was accepted"
		if len(valid) == 1 {
			accepted = "the 1 valid order was accepted"
		}
		rep.add(name, Pass, "%s; the %s got the first event's id (or 409 already ingested)",
			accepted, count(len(pubs)-len(first), "repeated publish"))
	} else {
		rep.add(name, Fail, "missing %d [%s]; not a valid order %d [%s]; repeated order given a new event id (endpoint did not deduplicate) %d [%s]",
			len(missing), examples(missing, 5), len(unknown), examples(unknown, 5), len(otherID), examples(otherID, 3))
	}
	r.checkKeyOrder(rep, "key order (bridge's view)", "were accepted", valid, actual)
}

// checkKeyOrder compares, per Kafka key, the order in which orders were
// accepted with their offset order.
func (r *runner) checkKeyOrder(rep *Report, name, verb string, valid map[string]*sample, actual map[string][]*sample) {
	if r.o.Ordering == "none" {
		rep.add(name, NotChecked, "ordering none promises no order")
		return
	}
	accepted := map[*sample]bool{}
	for _, ss := range actual {
		for _, s := range ss {
			accepted[s] = true
		}
	}
	expected := map[string][]*sample{}
	for _, s := range valid {
		if accepted[s] {
			expected[s.key] = append(expected[s.key], s)
		}
	}
	var bad []string
	for key, want := range expected {
		slices.SortFunc(want, func(a, b *sample) int {
			return cmp.Or(cmp.Compare(a.partition, b.partition), cmp.Compare(a.offset, b.offset))
		})
		got := actual[key]
		for i := range want {
			if got[i] != want[i] {
				bad = append(bad, fmt.Sprintf("key %s: %s (offset %d) %s before %s (offset %d)",
					key, got[i].orderID, got[i].offset, verb, want[i].orderID, want[i].offset))
				break
			}
		}
	}
	slices.Sort(bad)
	if len(bad) == 0 {
		keys := "for each of " + count(len(expected), "key")
		if len(expected) == 1 {
			keys = "for the 1 key"
		}
		rep.add(name, Pass, "%s the orders %s in offset order", keys, verb)
	} else {
		rep.add(name, Fail, "%d of %s out of order: %s", len(bad), count(len(expected), "key"), examples(bad, 3))
	}
}

// checkDLQ reads the DLQ topic back and checks every invalid record is
// there, once, with a correct envelope, and nothing else is.
func (r *runner) checkDLQ(ctx context.Context, rep *Report, at map[tpo]*sample, invalid []*sample) {
	const name = "invalid records dead-lettered"
	recs, err := r.readDLQ(ctx)
	if err != nil {
		rep.add(name, Fail, "cannot read %s: %v", DLQTopic, err)
		return
	}
	rep.DLQ = len(recs)
	seen := map[*sample]int{}
	var problems []string
	for _, rec := range recs {
		env, orig, err := dlq.Parse(rec.Headers)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s[%d]@%d: envelope: %v", DLQTopic, rec.Partition, rec.Offset, err))
			continue
		}
		rep.DLQByClass[env.Class]++
		rep.DLQByReason[env.Class+"/"+env.Reason]++
		s := at[tpo{env.Partition, env.Offset}]
		if env.Topic != Topic || s == nil {
			problems = append(problems, fmt.Sprintf("envelope names unknown source %s[%d]@%d", env.Topic, env.Partition, env.Offset))
			continue
		}
		seen[s]++
		if s.kind != kindInvalid {
			what := map[kind]string{kindValid: "valid order", kindDuplicate: "duplicate of a valid order", kindTombstone: "tombstone"}[s.kind]
			problems = append(problems, fmt.Sprintf("%s %s (offset %d) dead-lettered: %s/%s: %s", what, s.orderID, s.offset, env.Class, env.Reason, env.Message))
			continue
		}
		var wrong []string
		if env.Class != dlq.ClassInvalid {
			wrong = append(wrong, "class "+env.Class)
		}
		if env.Reason != s.reason {
			wrong = append(wrong, fmt.Sprintf("reason %s, want %s", env.Reason, s.reason))
		}
		if !bytes.Equal(rec.Key, []byte(s.key)) || !bytes.Equal(rec.Value, s.value) {
			wrong = append(wrong, "key or value not the original")
		}
		if len(orig) != 1 || orig[0].Key != "x-correlation-id" || string(orig[0].Value) != s.corrID {
			wrong = append(wrong, "original headers not kept")
		}
		if env.CorrelationID != s.corrID {
			wrong = append(wrong, fmt.Sprintf("correlation id %q, want %q", env.CorrelationID, s.corrID))
		}
		if !env.Timestamp.Equal(s.ts.Truncate(time.Millisecond)) {
			wrong = append(wrong, fmt.Sprintf("source timestamp %s, want %s", env.Timestamp, s.ts.Truncate(time.Millisecond)))
		}
		if len(wrong) > 0 {
			problems = append(problems, fmt.Sprintf("%s (%s, offset %d): %v", s.what, s.orderID, s.offset, wrong))
		}
	}
	for _, s := range invalid {
		switch seen[s] {
		case 0:
			problems = append(problems, fmt.Sprintf("%s (%s, partition %d offset %d) not in the DLQ", s.what, s.orderID, s.partition, s.offset))
		case 1:
		default:
			problems = append(problems, fmt.Sprintf("%s (offset %d) dead-lettered %d times", s.what, s.offset, seen[s]))
		}
	}
	if len(problems) == 0 {
		switch len(invalid) {
		case 0:
			rep.add(name, Pass, "no invalid record was produced and %s is empty", DLQTopic)
		case 1:
			rep.add(name, Pass, "the 1 invalid record is in %s once, class invalid with the expected reason, source topic/partition/offset/timestamp, original key, value and headers; nothing else is",
				DLQTopic)
		default:
			rep.add(name, Pass, "all %d invalid records are in %s once, class invalid with the expected reason, source topic/partition/offset/timestamp, original key, value and headers; nothing else is",
				len(invalid), DLQTopic)
		}
	} else {
		rep.add(name, Fail, "%s: %s", count(len(problems), "problem"), examples(problems, 4))
	}
}

// checkOffsets checks the group committed every partition to its end.
func (r *runner) checkOffsets(ctx context.Context, rep *Report) {
	const name = "offsets committed"
	committed, end, err := r.offsets(ctx)
	if err != nil {
		rep.add(name, Fail, "cannot read offsets: %v", err)
		return
	}
	var bad []string
	var total int64
	for p := int32(0); p < int32(len(end)); p++ {
		total += end[p]
		if committed[p] != end[p] {
			bad = append(bad, fmt.Sprintf("partition %d: committed %d, end %d", p, committed[p], end[p]))
		}
	}
	if len(bad) == 0 && len(end) == r.o.Partitions {
		rep.add(name, Pass, "committed == end offsets on %s (%s)", allOf(len(end), "partition"), count(total, "record"))
	} else {
		rep.add(name, Fail, "%s", examples(bad, 6))
	}
}
