package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// Liveness scenarios of TestE2E: one event CXone keeps failing among
// healthy ones (the persistent failure rule), an outage during which the
// group loses, sheds and gains replicas (the breaker's own way back), and
// one record stuck for a whole 500,000-record run (bounded memory while a
// partition runs far past its watermark).

// openTimeout is the suite's cxone.breaker.open_timeout (setup).
const openTimeout = 2 * time.Second

// waitFor is poll.Until that dumps the scenario's state before failing.
func (s *scenario) waitFor(d time.Duration, what string, cond func() bool) {
	s.t.Helper()
	if !poll.Check(d, cond) {
		s.dump()
		s.t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}

// logLine is one JSON log line of a bridge.
type logLine struct {
	Time time.Time `json:"time"`
	Msg  string    `json:"msg"`
	From string    `json:"from"`
	To   string    `json:"to"`
}

// logLines parses p's log (lines that are not JSON are skipped).
func logLines(p *tc.Process) []logLine {
	var out []logLine
	for _, l := range strings.Split(p.Logs(), "\n") {
		var ll logLine
		if json.Unmarshal([]byte(l), &ll) == nil && ll.Msg != "" {
			out = append(out, ll)
		}
	}
	return out
}

const (
	msgPaused  = "fetching paused"
	msgResumed = "fetching resumed"
	msgBreaker = "cxone circuit breaker state changed"
	// breakerOpened is how the JSON log says that a breaker opened.
	breakerOpened = `"to":"open"`
)

// waitLogFrom waits until p's log past its first mark bytes contains
// substr; on timeout it dumps and fails.
func (s *scenario) waitLogFrom(p *tc.Process, mark int, substr string, d time.Duration) {
	s.t.Helper()
	s.waitFor(d, fmt.Sprintf("%q in the log of pid %d", substr, p.Pid()), func() bool {
		return strings.Contains(p.Logs()[mark:], substr)
	})
}

// ---- PoisonAmong50k ----

// poisonAmong50k: CXone fails one order (503) of 50,000 and accepts the
// others. The persistent failure rule (6 tries, 5 s) dead-letters exactly
// that one, with its envelope; the other 49,999 are accepted once, the
// breaker never opens (one event's failures count once), lag 0.
func poisonAmong50k(t *testing.T, s *scenario) {
	const (
		poison      = 12345
		minAttempts = 6
		minDuration = 5 * time.Second
	)
	s.cxoneYAML = fmt.Sprintf("  poison:\n    min_attempts: %d\n    min_duration: %s\n", minAttempts, minDuration)
	s.dead = []int{poison}
	s.setup(cxonetest.WithFaults(cxonetest.Faults{Targets: []cxonetest.Target{
		{BodyContains: strconv.Quote(orderID(poison)), Status: 503},
	}}))
	s.produce(50000)
	start := time.Now()
	for range 3 {
		s.startReplica()
	}
	s.finish(5 * time.Minute)
	took := time.Since(start)

	recs := readCommitted(t, s.k, s.topic+".dlq")
	if len(recs) != 1 {
		t.Fatalf("%d records in the DLQ, want 1 (the poison order)", len(recs))
	}
	r := recs[0]
	env, _, err := dlq.Parse(r.Headers)
	if err != nil {
		t.Fatalf("DLQ envelope: %v", err)
	}
	if env.Class != dlq.ClassRejected || env.Reason != dlq.ReasonPersistentFailure || env.HTTPStatus != 503 || env.Attempts < minAttempts {
		t.Errorf("DLQ envelope: class %q reason %q status %d attempts %d, want %q %q 503 >= %d",
			env.Class, env.Reason, env.HTTPStatus, env.Attempts, dlq.ClassRejected, dlq.ReasonPersistentFailure, minAttempts)
	}
	if !bytes.Contains(r.Value, []byte(strconv.Quote(orderID(poison)))) || string(r.Key) != "CUST-"+strconv.Itoa(poison%keys) {
		t.Errorf("DLQ record key %q value %s: want the poison order %s", r.Key, r.Value, orderID(poison))
	}
	if env.Topic != s.topic || !r.Timestamp.Equal(env.FailedAt) {
		t.Errorf("DLQ record: source topic %q (want %q), timestamp %s, failed.at %s (want equal)", env.Topic, s.topic, r.Timestamp, env.FailedAt)
	}
	if env.IdempotencyKey == "" {
		t.Fatal("DLQ record without idempotency key")
	}
	arr := s.srv.Arrivals(env.IdempotencyKey)
	if len(arr) < env.Attempts {
		t.Errorf("CXone saw %d requests of the poison event, the envelope says %d attempts", len(arr), env.Attempts)
	}
	for _, a := range arr {
		// failed.at is cut to the millisecond.
		if a.Status != 503 || a.At.After(env.FailedAt.Add(time.Millisecond)) {
			t.Errorf("poison event request at %s answered %d (failed.at %s): want every one 503, before failed.at", a.At, a.Status, env.FailedAt)
		}
	}
	if len(arr) == 0 {
		t.Fatal("CXone never saw the poison event")
	}
	toDLQ := env.FailedAt.Sub(arr[0].At)
	if toDLQ < minDuration-time.Millisecond {
		t.Errorf("poison event dead-lettered %s after its first try: before cxone.poison.min_duration %s", toDLQ, minDuration)
	}
	if toDLQ > minDuration+30*time.Second {
		t.Errorf("poison event dead-lettered %s after its first try: want soon after cxone.poison.min_duration %s", toDLQ, minDuration)
	}
	for i, p := range s.procs {
		if strings.Contains(p.Logs(), breakerOpened) {
			t.Errorf("replica %d opened its circuit breaker for one poison event:\n%s", i, grep(p.Logs(), msgBreaker))
		}
	}
	t.Logf("1 poison order among %d, 3 replicas: dead-lettered %s after its first try (%d requests, %d attempts in the envelope), the others accepted once; %s in all",
		s.n, toDLQ.Round(time.Millisecond), len(arr), env.Attempts, took.Round(time.Second))
}

// grep returns the lines of s containing substr.
func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// ---- OutageKillScaleIn ----

// outageKillScaleIn: 3 replicas; CXone goes down; once every replica has
// paused fetching, one is SIGKILLed, one scaled in (SIGTERM, exit 0) and a
// new one started, all while CXone is down. When the group has settled
// (2 members owning the 12 partitions) the outage ends: every live replica
// resumes by itself within open_timeout and a few seconds, and everything
// is delivered, nothing dead-lettered.
func outageKillScaleIn(t *testing.T, s *scenario) {
	s.setup()
	s.produce(40000)
	for range 3 {
		s.startReplica()
	}
	s.waitAccepted(int64(s.n)/4, 3*time.Minute)
	marks := make([]int, len(s.procs))
	for i, p := range s.procs {
		marks[i] = len(p.Logs())
	}
	if err := s.srv.SetFaults(cxonetest.Faults{OutageFrom: time.Now(), OutageUntil: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for i, p := range s.procs {
		s.waitLogFrom(p, marks[i], `"`+msgPaused+`"`, 30*time.Second)
	}
	atPause := s.accepted()
	if atPause >= int64(s.n) {
		t.Fatalf("all %d orders accepted before the outage took hold", atPause)
	}

	victim, leaver, survivor := s.procs[0], s.procs[1], s.procs[2]
	victim.Kill()
	if code := victim.ExitCode(); code != -int(syscall.SIGKILL) {
		t.Fatalf("exit %d, want killed by SIGKILL", code)
	}
	if err := leaver.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	newcomer := s.startReplica()
	if code := leaver.Wait(40 * time.Second); code != 0 {
		t.Errorf("scale-in during the outage: replica exited %d; log tail:\n%s", code, tail(leaver.Logs(), 20))
	}
	// From here on (seconds into the outage, every request before it long
	// answered) nothing can be accepted until the outage ends.
	atScaleIn := s.accepted()
	// The newcomer got partitions and found CXone down: its own breaker
	// opened and it paused too.
	s.waitLogFrom(newcomer, 0, `"`+msgPaused+`"`, 90*time.Second)
	s.waitFor(90*time.Second, "the group settled: 2 members owning the 12 partitions", func() bool { return s.settled(2) })
	if acc := s.accepted(); acc != atScaleIn {
		t.Errorf("%d orders accepted during the outage", acc-atScaleIn)
	}

	outageEnd := time.Now()
	if err := s.srv.SetFaults(cxonetest.Faults{}); err != nil {
		t.Fatal(err)
	}
	s.waitFor(3*time.Minute, "every order accepted after the outage", func() bool { return s.accepted() >= int64(s.n) })
	allIn := time.Since(outageEnd)

	// Each live replica: the breaker closed after the outage, and fetching
	// is on for good (its last pause/resume line is a resume) since at most
	// open_timeout and a few seconds after the end. A replica half-open at
	// the end (fetching already, its probe about to succeed) counts as
	// resumed at once.
	var resumes []string
	for _, p := range []*tc.Process{survivor, newcomer} {
		var lastPause, lastResume, closed time.Time
		for _, l := range logLines(p) {
			switch {
			case l.Msg == msgPaused:
				lastPause = l.Time
			case l.Msg == msgResumed:
				lastResume = l.Time
			case l.Msg == msgBreaker && l.To == "closed" && closed.IsZero() && !l.Time.Before(outageEnd):
				closed = l.Time
			}
		}
		if lastResume.IsZero() || lastResume.Before(lastPause) {
			s.dump()
			t.Fatalf("replica pid %d did not resume fetching after the outage:\n%s", p.Pid(), grep(p.Logs(), "fetching"))
		}
		if closed.IsZero() {
			t.Errorf("replica pid %d: breaker not closed after the outage:\n%s", p.Pid(), grep(p.Logs(), msgBreaker))
		}
		resumed := max(lastResume.Sub(outageEnd), 0)
		if resumed > openTimeout+5*time.Second {
			t.Errorf("replica pid %d resumed fetching %s after the outage ended: want within open_timeout %s + 5s", p.Pid(), resumed, openTimeout)
		}
		resumes = append(resumes, fmt.Sprintf("pid %d resumed after %s (breaker closed after %s)", p.Pid(),
			resumed.Round(time.Millisecond), closed.Sub(outageEnd).Round(time.Millisecond)))
	}
	if !strings.Contains(survivor.Logs(), breakerOpened) {
		t.Errorf("the survivor never logged %s during the outage", breakerOpened)
	}
	dups := s.finish(5 * time.Minute)
	t.Logf("outage after %d of %d accepted; SIGKILL, scale-in and a new replica during it; after its end: %s; all accepted %s after the end; %d duplicate requests",
		atPause, s.n, strings.Join(resumes, ", "), allIn.Round(time.Millisecond), dups)
}

// settled reports whether the group is stable with `members` members, each
// owning some of the topic's partitions and all of them owned.
func (s *scenario) settled(members int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	gs, err := s.k.Admin().DescribeGroups(ctx, s.group)
	if err != nil {
		return false
	}
	g, ok := gs[s.group]
	if !ok || g.Err != nil || g.State != "Stable" || len(g.Members) != members {
		return false
	}
	owned := map[int32]bool{}
	for _, m := range g.Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok {
			return false
		}
		n := 0
		for _, tp := range ca.Topics {
			if tp.Topic == s.topic {
				for _, p := range tp.Partitions {
					owned[p] = true
					n++
				}
			}
		}
		if n == 0 {
			return false
		}
	}
	return len(owned) == partitions
}

// ---- StuckRecord500k ----

// stuckRecord500k: 500,000 orders, one replica; CXone holds one early order
// (no answer: the bridge's tries time out) for as long as the rest take,
// and the bridge never gives up on it (min_attempts -1). Every other order
// is accepted, the partition's commit stays at the stuck record, peak RSS
// stays under 150 MB; when CXone lets the order through, it is accepted at
// once and the lag goes to 0.
//
// The stuck order's key has no other order, so nothing waits behind it in
// its lane: its partition runs on to its end, tens of thousands of offsets
// past its watermark, with max_records_ahead out of the way: only the
// consumer's own bookkeeping bounds memory. With one of the suite's keys,
// the ~1,000 orders of that key behind it would be blocked, and once a
// partition's share of consumer.max_buffered (256/12 = 21) waits behind a
// failing record, the partition's fetching pauses by design: it would stop
// about a thousand offsets past the stuck record, and memory would never
// be in question. The stuck order is held from its first try, at the start
// of the run, so the peak RSS read at the end of it is the peak while
// stuck.
//
// Hang rather than a 503 with min_attempts -1: a held try occupies a
// worker and a connection until the bridge's own request timeout ends it,
// so it also proves that timeouts are retried (never dead-lettered) and
// that a held request lifted mid-try completes; min_attempts -1 is needed
// either way (the rule would give up on it after a minute otherwise), so
// it is proved under overwhelming evidence too.
func stuckRecord500k(t *testing.T, s *scenario) {
	const (
		stuck        = 1000 // early: its key hashes to partition 0, where it lands at offset 62
		stuckCust    = "CUST-STUCK"
		maxPeakKiB   = 150_000_000 / 1024 // 150 MB
		minHeldTries = 10                 // the rule's default min_attempts
		// cxone.request_timeout: how long each held try lasts
		requestTimeout = time.Second
		// consumer.max_records_ahead's default
		defaultMaxRecordsAhead = 10000
	)
	s.customer = func(i int) string {
		if i == stuck {
			return stuckCust
		}
		return "CUST-" + strconv.Itoa(i%keys)
	}
	s.consumerYAML = "  max_records_ahead: 1000000\n"
	s.cxoneYAML = fmt.Sprintf("  request_timeout: %s\n  poison:\n    min_attempts: -1\n", requestTimeout)
	s.setup(cxonetest.WithFaults(cxonetest.Faults{Targets: []cxonetest.Target{
		{BodyContains: strconv.Quote(orderID(stuck)), Hang: true},
	}}))
	t0 := time.Now()
	s.produce(stuck)
	rec := s.order(s.n)
	cl := s.k.Client(t, kgo.DefaultProduceTopic(s.topic))
	if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	s.n++
	s.produce(500000 - s.n)
	produced := time.Since(t0)
	stuckPart, stuckOff := rec.Partition, rec.Offset

	p := s.startReplica()
	start := time.Now()
	s.waitFor(5*time.Minute, fmt.Sprintf("every order but the stuck one accepted, and %d of its tries held", minHeldTries), func() bool {
		st := s.srv.Stats()
		return st.Accepted >= int64(s.n-1) && st.Targeted >= minHeldTries
	})
	stuckFor := time.Since(start)
	if st := s.srv.Stats(); st.Accepted != int64(s.n-1) {
		t.Errorf("CXone accepted %d orders while one was held, want exactly %d", st.Accepted, s.n-1)
	}
	// The commits: every partition done but the stuck one, whose commit
	// stays exactly at the stuck record, its end far ahead.
	var end int64
	s.waitFor(30*time.Second, fmt.Sprintf("partition %d committed at %d, every other one at its end", stuckPart, stuckOff), func() bool {
		lags, err := s.k.Admin().Lag(context.Background(), s.group)
		if err != nil {
			return false
		}
		gl := lags[s.group]
		ps := gl.Lag[s.topic]
		if gl.Error() != nil || len(ps) != partitions {
			return false
		}
		for _, l := range ps {
			if l.Partition == stuckPart {
				if l.Commit.At > stuckOff {
					s.dump()
					t.Fatalf("partition %d committed at %d, past the unfinished record at %d", stuckPart, l.Commit.At, stuckOff)
				}
				end = l.End.Offset
				if l.Commit.At != stuckOff {
					return false
				}
			} else if l.Lag != 0 {
				return false
			}
		}
		return true
	})
	// The default max_records_ahead would have paused the partition
	// here: past it, nothing but memory bounds the run.
	if ahead := end - stuckOff; ahead <= defaultMaxRecordsAhead {
		t.Errorf("partition %d ran %d offsets past its watermark, want the adversarial case (> %d, the default max_records_ahead)", stuckPart, ahead, defaultMaxRecordsAhead)
	}
	peak := p.PeakRSSKiB()
	if peak == 0 {
		t.Fatal("could not read the bridge's VmHWM")
	}
	// The race detector multiplies memory: the bound is for the binary as
	// shipped.
	race := slices.Contains(strings.Fields(os.Getenv(tc.EnvBuildFlags)), "-race")
	if peak > maxPeakKiB && !race {
		t.Errorf("bridge peak RSS %.1f MiB while stuck, want under 150 MB", float64(peak)/1024)
	}

	lifted := time.Now()
	if err := s.srv.SetFaults(cxonetest.Faults{}); err != nil {
		t.Fatal(err)
	}
	s.waitFor(time.Minute, "the stuck order accepted", func() bool { return s.accepted() >= int64(s.n) })
	released := time.Since(lifted)
	s.waitFor(time.Minute, "lag 0", func() bool { return s.lag() == 0 })
	drained := time.Since(lifted)
	peakAfter := p.PeakRSSKiB()
	s.finish(time.Minute)

	// The stuck order's history at CXone: held tries its client gave up,
	// then accepted once. One try at a time, each held until the bridge's
	// request timeout ended it: consecutive tries arrive about that far
	// apart, the median at least that far. A try's way to the server
	// varies (each dials a new connection, the one held having been
	// closed, on cores the other 499,999 orders keep busy): gaps of 0.99 to
	// 1.84 s were measured, and once 0.74 s after a late arrival, so a
	// single gap must only exceed half the timeout; two tries at once would
	// arrive together. The server's Hung gauge cannot tell this: it notices
	// a try given up a moment after the client, sometimes after the next
	// one arrived.
	var key string
	for _, ev := range s.srv.Events() {
		if bytes.Contains(ev.Body, []byte(strconv.Quote(orderID(stuck)))) {
			key = ev.IdempotencyKey
		}
	}
	arr := s.srv.Arrivals(key)
	if len(arr) < minHeldTries+1 {
		t.Fatalf("stuck order: %d requests, want %d held and one accepted", len(arr), minHeldTries)
	}
	minGap := time.Duration(-1)
	for i, a := range arr {
		last := i == len(arr)-1
		if (!last && (a.Status != 0 || !a.Hung)) || (last && a.Status != 202) {
			t.Errorf("stuck order request %d of %d: status %d hung %v; want held and given up (0), the last 202", i+1, len(arr), a.Status, a.Hung)
		}
		if i > 0 && (minGap < 0 || a.At.Sub(arr[i-1].At) < minGap) {
			minGap = a.At.Sub(arr[i-1].At)
		}
		if i > 0 && a.At.Sub(arr[i-1].At) < requestTimeout/2 {
			t.Errorf("stuck order request %d arrived %s after the one before: want one try at a time, each lasting request_timeout %s", i+1, a.At.Sub(arr[i-1].At), requestTimeout)
		}
	}
	var gaps []time.Duration
	for i := 1; i < len(arr); i++ {
		gaps = append(gaps, arr[i].At.Sub(arr[i-1].At))
	}
	slices.Sort(gaps)
	if median := gaps[len(gaps)/2]; median < requestTimeout-50*time.Millisecond {
		t.Errorf("stuck order: median gap between tries %s, want at least request_timeout %s: tries cut short", median, requestTimeout)
	}
	t.Logf("500,000 orders produced in %s; 1 replica: %d orders accepted in %s (%.0f/s) while order %d (partition %d offset %d) was held, the partition running %d offsets past it; "+
		"peak RSS %.1f MiB (%.1f MiB at the end); the stuck order tried %d times (at least %s apart), accepted %s after the fault was lifted, lag 0 after %s",
		produced.Round(100*time.Millisecond), s.n-1, stuckFor.Round(100*time.Millisecond), float64(s.n-1)/stuckFor.Seconds(), stuck, stuckPart, stuckOff,
		end-stuckOff, float64(peak)/1024, float64(peakAfter)/1024, len(arr), minGap.Round(time.Millisecond), released.Round(time.Millisecond), drained.Round(time.Millisecond))
}
