package consumer_test

// Stress tests of the worker pool (consumer.worker): one worker, a pool
// stuck in retries at shutdown and at a revoke, a huge max_in_flight.

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/poll"
)

// One worker, many keys, every ordering: everything handled in order, lag 0.
func TestWorkerPoolSingleWorker(t *testing.T) {
	for _, ord := range []consumer.Ordering{consumer.OrderingKey, consumer.OrderingPartition, consumer.OrderingNone} {
		t.Run(string(ord), func(t *testing.T) {
			brokers := cluster(t, 4)
			const n = 3000
			produce(t, brokers, n, 97, func(i int) []byte { return []byte(strconv.Itoa(i)) })
			rec := newRecorder()
			var running, most atomic.Int64
			inner := rec
			h := consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (consumer.Outcome, error) {
				v := running.Add(1)
				for {
					m := most.Load()
					if v <= m || most.CompareAndSwap(m, v) {
						break
					}
				}
				defer running.Add(-1)
				return inner.Handle(ctx, r)
			})
			g := "g-one-" + string(ord)
			c := newConsumer(t, brokers, g, consumer.Config{Ordering: ord, MaxInFlight: 1, MaxBuffered: 5}, h)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			poll.Until(t, 60*time.Second, "all handled", func() bool { return rec.total() >= n })
			poll.Until(t, 10*time.Second, "lag 0", func() bool { return lag(t, brokers, g) == 0 })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if most.Load() != 1 {
				t.Errorf("%d handled at once, want 1", most.Load())
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for k, offs := range rec.seen {
				for i := 1; i < len(offs); i++ {
					if offs[i] <= offs[i-1] {
						t.Fatalf("key %s out of order: %v", k, offs)
					}
				}
			}
			if st := c.Stats(); st.InFlight != 0 || st.Buffered != 0 {
				t.Errorf("stats after run %+v", st)
			}
		})
	}
}

// Shutdown while every worker is stuck in a retry loop and many lanes wait
// in ready: Run returns within the drain timeout, nothing is left counted,
// and the commit stops at the first unfinished record.
func TestWorkerPoolShutdownStuckPool(t *testing.T) {
	brokers := cluster(t, 1)
	const n = 500
	produce(t, brokers, n, 200, func(i int) []byte { return []byte(strconv.Itoa(i)) })
	var handled atomic.Int64
	h := consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (consumer.Outcome, error) {
		if r.Offset >= 100 && r.Offset < 104 {
			return consumer.Outcome{}, context.DeadlineExceeded // keeps failing: retried forever
		}
		handled.Add(1)
		return consumer.Outcome{}, nil
	})
	const drain = 500 * time.Millisecond
	c := newConsumer(t, brokers, "g-stuck", consumer.Config{MaxInFlight: 4, MaxBuffered: 400, DrainTimeout: drain, CommitInterval: time.Hour}, h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	poll.Until(t, 10*time.Second, "pool stuck", func() bool { return handled.Load() >= 100 && c.Stats().InFlight == 4 })
	t.Logf("before cancel: %+v", c.Stats())
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(drain + 5*time.Second):
		buf := make([]byte, 1<<20)
		t.Fatalf("Run hung:\n%s", buf[:runtime.Stack(buf, true)])
	}
	t.Logf("shutdown took %s", time.Since(start))
	if st := c.Stats(); st.InFlight != 0 || st.Buffered != 0 || st.InFlightBytes != 0 {
		t.Errorf("stats after run %+v", st)
	}
	cl, _ := kgo.NewClient(kgo.SeedBrokers(brokers...))
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), "g-stuck")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 0); !ok || o.At != 100 {
		t.Errorf("committed %+v, want 100", o)
	}
}

// Revoke while this member's pool is full of another partition's endless
// retries: revoke gives up after RevokeDrainTimeout, the partitions move,
// the new owner handles them; then the second member leaves and the first
// gets them back (lanes of the old assignment may still exist).
func TestWorkerPoolRevokeBehindStuckPool(t *testing.T) {
	brokers := cluster(t, 4)
	const n = 2000
	produce(t, brokers, n, 100, func(i int) []byte { return []byte(strconv.Itoa(i)) })
	var heal atomic.Bool
	var mu sync.Mutex
	seen := map[string]int{}
	rec := newRecorder()
	h := consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (consumer.Outcome, error) {
		if !heal.Load() && r.Offset < 3 {
			// first records of every partition: fail until healed
			return consumer.Outcome{}, context.DeadlineExceeded
		}
		mu.Lock()
		seen[strconv.Itoa(int(r.Partition))+"/"+strconv.FormatInt(r.Offset, 10)]++
		mu.Unlock()
		return rec.Handle(ctx, r)
	})
	cfg := consumer.Config{MaxInFlight: 3, MaxBuffered: 60, RevokeDrainTimeout: 500 * time.Millisecond}
	a := newConsumer(t, brokers, "g-rv", cfg, h)
	ctxA, cancelA := context.WithCancel(context.Background())
	doneA := make(chan error, 1)
	go func() { doneA <- a.Run(ctxA) }()
	poll.Until(t, 10*time.Second, "A stuck", func() bool { return a.Stats().InFlight == 3 })
	t.Logf("A: %+v", a.Stats())
	b := newConsumer(t, brokers, "g-rv", cfg, h)
	ctxB, cancelB := context.WithCancel(context.Background())
	doneB := make(chan error, 1)
	go func() { doneB <- b.Run(ctxB) }()
	poll.Until(t, 20*time.Second, "B owns partitions", func() bool { return b.Stats().Partitions > 0 && a.Stats().Partitions < 4 })
	t.Logf("after rebalance A: %+v B: %+v", a.Stats(), b.Stats())
	heal.Store(true)
	total := rec.total()
	poll.Until(t, 20*time.Second, "progress after healing", func() bool { return rec.total() > total })
	cancelB()
	if err := <-doneB; err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "lag 0", func() bool { return lag(t, brokers, "g-rv") == 0 })
	cancelA()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Fatalf("%d distinct handled, want %d", len(seen), n)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.errs) > 0 {
		t.Fatal(rec.errs[0])
	}
	t.Logf("A final %+v", a.Stats())
}

// A huge max_in_flight costs nothing while the load is small.
func TestWorkerPoolManyWorkers(t *testing.T) {
	brokers := cluster(t, 2)
	produce(t, brokers, 1000, 1000, func(i int) []byte { return []byte("x") })
	var handled atomic.Int64
	h := consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (consumer.Outcome, error) {
		handled.Add(1)
		return consumer.Outcome{}, nil
	})
	var ms0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	g0 := runtime.NumGoroutine()
	c := newConsumer(t, brokers, "g-many", consumer.Config{MaxInFlight: 100000}, h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	poll.Until(t, 30*time.Second, "handled", func() bool { return handled.Load() >= 1000 })
	var ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	t.Logf("goroutines %d -> %d, stack in use %d MB -> %d MB, sys %d MB", g0, runtime.NumGoroutine(), ms0.StackInuse>>20, ms1.StackInuse>>20, ms1.Sys>>20)
	// Workers start on demand: 1,000 one-record lanes need far fewer than
	// MaxInFlight (100,000) goroutines.
	if n := runtime.NumGoroutine() - g0; n > 2000 {
		t.Errorf("%d goroutines for 1,000 records with max_in_flight 100000: workers are not started on demand", n)
	}
	start := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("stop took %s", time.Since(start))
}
