package consumer_test

// Data losses at awkward moments, and the wait accounting under churn. Each
// one names the failure it shows.

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/poll"
)

// A data loss reported for a partition whose fetching a throttle paused
// must not leave it paused for good.
//
// The throttle (here max_records_ahead, behind a stuck record) pauses the
// partition in the client. The fetch that was in flight when it paused
// answers OFFSET_OUT_OF_RANGE, so the client reports a data loss (a fake
// fetch, delivered whether or not the partition is paused) and rewinds.
// The data loss replaces the partition's state by a fresh one, which is not
// throttled. A first version reconciled the client's pauses only when a
// throttle flag of a current state changed, and the fresh state's did not
// (false before, false after): the client kept the partition paused while
// the consumer wanted it fetched, and nothing reconciled later (the old
// state's completions no longer count, the fresh state had no record). The
// records at the reused offsets were never fetched. A reset now always
// reconciles.
//
// The ordering is forced, not raced: the dispatch of the last record waits (DispatchObserver) until the broker holds the next fetch of
// the partition, and the broker answers that fetch (OFFSET_OUT_OF_RANGE)
// only once the throttle's pause is in force in the client.
func TestDataLossWhileThrottledResumesFetching(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic, topic+".dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	brokers := kc.ListenAddrs()
	const n = 10
	recs := []*kgo.Record{rec(0, "stuck", "0")}
	for i := 1; i < n; i++ {
		recs = append(recs, rec(0, "k"+strconv.Itoa(i), strconv.Itoa(i)))
	}
	produceTo(t, brokers, recs...)

	var healed atomic.Bool
	var mu sync.Mutex
	handled := map[int64]int{}
	h := consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (consumer.Outcome, error) {
		if string(r.Key) == "stuck" && !healed.Load() {
			return consumer.Outcome{}, errors.New("failing until healed")
		}
		mu.Lock()
		handled[r.Offset]++
		mu.Unlock()
		return consumer.Outcome{}, nil
	})

	fetchHeld := make(chan struct{}) // the broker holds the fetch after the first records
	var c *consumer.Consumer
	var cReady = make(chan struct{})
	pausedInClient := func() bool {
		for _, p := range c.Client().PauseFetchPartitions(nil)[topic] {
			if p == 0 {
				return true
			}
		}
		return false
	}
	var held atomic.Bool
	kc.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if held.Load() || !fetchesPastStart(req) {
			return nil, nil, false
		}
		held.Store(true)
		close(fetchHeld)
		kc.SleepControl(func() {
			<-cReady
			deadline := time.Now().Add(10 * time.Second)
			for !pausedInClient() && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
		})
		kc.DropControl()
		return nil, nil, false // answered by the fault below
	})
	kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: topic, Partitions: []int32{0}, Err: kerr.OffsetOutOfRange,
		When: fetchesPastStart})

	// MaxRecordsAhead n: the partition is throttled ("ahead") once its n
	// records are dispatched (a first poll of one record, before the
	// assignment, then the rest), and stays so while the stuck record is
	// unfinished.
	c = newConsumer(t, brokers, "g-loss-throttled", consumer.Config{MaxRecordsAhead: n,
		Observer: holdDispatch{last: n - 1, until: fetchHeld}}, h)
	close(cReady)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	poll.Until(t, 15*time.Second, "the data loss reported", func() bool { return c.Stats().DataLoss == 1 })
	healed.Store(true)

	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		ok := handled[0] >= 2 // the old log's offset 0 once healed, the new log's once fetched again
		for off := int64(1); off < n; off++ {
			ok = ok && handled[off] >= 1
		}
		snapshot := map[int64]int{}
		for k, v := range handled {
			snapshot[k] = v
		}
		mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			throttled := 0
			for _, ps := range c.Partitions() {
				if ps.Throttled {
					throttled++
				}
			}
			t.Fatalf("the records at the reused offsets were never fetched again (handled %v): the client still pauses %v while the consumer has %d throttled partitions and Paused() = %v",
				snapshot, c.Client().PauseFetchPartitions(nil), throttled, c.Paused())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fetchesPastStart reports whether a fetch asks for partition 0 past offset
// 0 (the fetch that follows the first records handed out).
func fetchesPastStart(req kmsg.Request) bool {
	for _, rt := range req.(*kmsg.FetchRequest).Topics {
		for _, rp := range rt.Partitions {
			if rp.Partition == 0 && rp.FetchOffset >= 1 {
				return true
			}
		}
	}
	return false
}

// holdDispatch is an Observer whose Dispatched, for the record at offset
// last, waits for until (at most 10s): the consumer's dispatch, under its
// lock, waits with it.
type holdDispatch struct {
	last  int64
	until <-chan struct{}
}

func (holdDispatch) Finished(*kgo.Record, bool) {}
func (o holdDispatch) Dispatched(r *kgo.Record) {
	if r.Offset != o.last {
		return
	}
	select {
	case <-o.until:
	case <-time.After(10 * time.Second):
	}
}

// After a data loss the partition's commit must follow the offset the
// client reset to, even if no record of the new log was handed out yet when
// the partition is committed for the last time (shutdown, revoke).
//
// A first version started the fresh state with no position (next = -1), so
// commits skipped it until its first record was dispatched, while the old
// state no longer counted: a final commit (or a revoke's) in that window
// left the group's offset where the old log was consumed to, past the reset
// point, and the next owner skipped the records at the reused offsets. The
// fresh state now starts at the reset offset. Here the window is held open
// by Pause (the breaker open during the data loss); it also exists, shorter,
// between the data loss report and the next fetch.
func TestDataLossCommitFollowsReset(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic, topic+".dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	brokers := kc.ListenAddrs()
	const n = 10
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, rec(0, "k"+strconv.Itoa(i), strconv.Itoa(i)))
	}
	produceTo(t, brokers, recs...)
	h := consumer.HandlerFunc(func(context.Context, *kgo.Record) (consumer.Outcome, error) { return consumer.Outcome{}, nil })

	fetchHeld, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	releaseFetch := func() { releaseOnce.Do(func() { close(release) }) }
	var held atomic.Bool
	kc.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if held.Load() || !fetchesPastStart(req) {
			return nil, nil, false
		}
		held.Store(true)
		close(fetchHeld)
		kc.SleepControl(func() { <-release })
		kc.DropControl()
		return nil, nil, false // answered by the fault below
	})
	kc.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Topic: topic, Partitions: []int32{0}, Err: kerr.OffsetOutOfRange,
		When: fetchesPastStart})

	const group = "g-loss-commit"
	c := newConsumer(t, brokers, group, consumer.Config{}, h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	defer func() {
		if !stopped {
			releaseFetch()
			cancel()
			<-done
		}
	}()

	<-fetchHeld
	poll.Until(t, 15*time.Second, "the ten records committed", func() bool { return committed(t, brokers, group, 0) == n })
	c.Pause() // the breaker opens
	releaseFetch()
	poll.Until(t, 15*time.Second, "the data loss reported", func() bool { return c.Stats().DataLoss == 1 })
	cancel() // SIGTERM before the breaker closes
	stopped = true
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := committed(t, brokers, group, 0); got != 0 {
		t.Errorf("after a data loss that reset the partition to offset 0, the final commit left the group at offset %d: the next owner skips the records at the reused offsets 0..%d", got, got-1)
	}
}

// Stress (passes; kept as a guard): the per-record wait accounting
// (queued, blocked, the budgets) and the client's pauses balance under
// failing keys, throttles and rebalances. While records fail on their first
// tries, are blocked behind failing keys, throttle their partitions and
// are abandoned by revokes as a second member joins and leaves, no counter
// is ever negative and the budget is never exceeded; once everything is
// committed, every counter is back to zero, no partition is throttled and
// the client pauses nothing.
func TestWaitAccountingBalancesUnderChurn(t *testing.T) {
	brokers := cluster(t, 4)
	const n = 3000
	produce(t, brokers, n, 40, func(i int) []byte { return []byte(strconv.Itoa(i)) })
	var tries sync.Map // partition/offset -> *atomic.Int32
	var handled atomic.Int64
	h := consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (consumer.Outcome, error) {
		v, _ := tries.LoadOrStore(strconv.Itoa(int(r.Partition))+"/"+strconv.FormatInt(r.Offset, 10), new(atomic.Int32))
		try := v.(*atomic.Int32).Add(1)
		select {
		case <-time.After(time.Duration(r.Offset%3) * time.Millisecond):
		case <-ctx.Done():
			return consumer.Outcome{}, ctx.Err()
		}
		if r.Offset%7 == 0 && try < 3 { // a failing key for a while: its lane fails, the records behind it are blocked
			return consumer.Outcome{}, errors.New("not yet")
		}
		handled.Add(1)
		return consumer.Outcome{}, nil
	})
	cfg := consumer.Config{MaxInFlight: 4, MaxBuffered: 24, MaxRecordsAhead: 40, RevokeDrainTimeout: time.Second}
	const group = "g-stress"
	a := newConsumer(t, brokers, group, cfg, h)

	var bad atomic.Value
	sample := func(c *consumer.Consumer, who string) {
		st := c.Stats()
		if st.Buffered < 0 || st.InFlightBytes < 0 || st.InFlight < 0 || st.Buffered > cfg.MaxBuffered || st.InFlight > cfg.MaxInFlight {
			bad.CompareAndSwap(nil, who+": stats "+strconv.Itoa(st.Buffered)+" buffered, "+strconv.FormatInt(st.InFlightBytes, 10)+" bytes, "+strconv.Itoa(st.InFlight)+" in flight")
		}
		for _, p := range c.Partitions() {
			if p.Queued < 0 || p.Blocked < 0 || p.Unfinished < 0 || p.Queued+p.Blocked > p.Unfinished {
				bad.CompareAndSwap(nil, who+": partition "+strconv.Itoa(int(p.Partition))+" queued "+strconv.Itoa(p.Queued)+
					" blocked "+strconv.Itoa(p.Blocked)+" unfinished "+strconv.Itoa(p.Unfinished))
			}
		}
	}
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	var bMember atomic.Pointer[consumer.Consumer]
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(time.Millisecond):
			}
			sample(a, "A")
			if b := bMember.Load(); b != nil {
				sample(b, "B")
			}
		}
	}()

	ctxA, cancelA := context.WithCancel(context.Background())
	doneA := make(chan error, 1)
	go func() { doneA <- a.Run(ctxA) }()
	poll.Until(t, 30*time.Second, "A busy", func() bool { return handled.Load() > 300 })

	for round := range 2 {
		b := newConsumer(t, brokers, group, cfg, h)
		bMember.Store(b)
		ctxB, cancelB := context.WithCancel(context.Background())
		doneB := make(chan error, 1)
		go func() { doneB <- b.Run(ctxB) }()
		at := handled.Load()
		poll.Until(t, 30*time.Second, "B owns partitions and both progress", func() bool {
			return b.Stats().Partitions > 0 && handled.Load() > at+200
		})
		cancelB()
		if err := <-doneB; err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		bMember.Store(nil)
	}
	poll.Until(t, 60*time.Second, "everything committed", func() bool { return lag(t, brokers, group) == 0 })
	poll.Until(t, 10*time.Second, "A idle and unthrottled", func() bool {
		st := a.Stats()
		if st.Buffered != 0 || st.InFlightBytes != 0 || st.InFlight != 0 || st.Throttled != 0 || st.Partitions != 4 {
			return false
		}
		for _, p := range a.Partitions() {
			if p.Queued != 0 || p.Blocked != 0 || p.Unfinished != 0 || p.Throttled {
				return false
			}
		}
		return len(a.Client().PauseFetchPartitions(nil)) == 0 && len(a.Client().PauseFetchTopics()) == 0
	})
	close(stopSampling)
	sampling.Wait()
	cancelA()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	if v := bad.Load(); v != nil {
		t.Fatalf("accounting out of balance: %s", v)
	}
	distinct := 0
	tries.Range(func(any, any) bool { distinct++; return true })
	if distinct != n {
		t.Errorf("%d distinct records tried, want %d", distinct, n)
	}
}
