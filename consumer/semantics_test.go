package consumer_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/poll"
)

// TestDLQUnwritable: while the dead-letter topic cannot be written, the
// record stays unfinished and uncommitted and is retried; once the topic
// exists it is written and committed.
func TestDLQUnwritable(t *testing.T) {
	brokers := cluster(t, 1)
	produce(t, brokers, 20, 4, func(i int) []byte {
		if i == 3 {
			return []byte("bad")
		}
		return []byte(strconv.Itoa(i))
	})
	rec := newRecorder()
	// Point the DLQ at a topic that does not exist (kfake does not create
	// topics on produce).
	missing := "orders.dlq.missing"
	c2, err := consumer.New(consumer.Config{Topics: []string{topic}, DLQTopic: func(string) string { return missing },
		DLQWriteTimeout: 200 * time.Millisecond, CommitInterval: 50 * time.Millisecond,
		RetryBackoff: 10 * time.Millisecond, RetryBackoffMax: 50 * time.Millisecond}, rec,
		kgo.SeedBrokers(brokers...), kgo.ConsumerGroup("g-dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond), kgo.RecordRetries(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c2.Run(ctx) }()
	poll.Until(t, 20*time.Second, "failed DLQ writes", func() bool { return c2.Stats().DLQFailures >= 2 })
	poll.Until(t, 5*time.Second, "commit up to the bad record", func() bool { return lag(t, brokers, "g-dlq") == 17 })
	if l := lag(t, brokers, "g-dlq"); l != 17 {
		t.Fatalf("lag = %d, want 17: the record whose DLQ write fails must hold the commit", l)
	}
	// Fix the cause: create the topic.
	adm := kadm.NewClient(c2.Client())
	if _, err := adm.CreateTopic(context.Background(), 1, 1, nil, missing); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "lag 0 once the DLQ is writable", func() bool { return lag(t, brokers, "g-dlq") == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := c2.Stats(); st.DLQ != 1 {
		t.Errorf("stats %+v, want exactly one DLQ write", st)
	}
}

// TestMemberJoinsAndLeaves: a second member joins mid-stream and later
// leaves; nothing is lost, and duplicates stay within the in-flight bound.
func TestMemberJoinsAndLeaves(t *testing.T) {
	brokers := cluster(t, 6)
	const n, maxInFlight = 8000, 32
	produce(t, brokers, n, 100, func(i int) []byte { return []byte(strconv.Itoa(i)) })
	var mu sync.Mutex
	seen := map[string]int{} // partition/offset -> times handled
	var handled atomic.Int64
	h := consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (consumer.Outcome, error) {
		select {
		case <-time.After(20 * time.Millisecond): // a slow CXone keeps the stream going across the rebalances
		case <-ctx.Done():
			return consumer.Outcome{}, ctx.Err()
		}
		mu.Lock()
		seen[strconv.Itoa(int(r.Partition))+"/"+strconv.FormatInt(r.Offset, 10)]++
		mu.Unlock()
		handled.Add(1)
		return consumer.Outcome{}, nil
	})
	cfg := consumer.Config{MaxInFlight: maxInFlight, RevokeDrainTimeout: 5 * time.Second}
	a := newConsumer(t, brokers, "g-reb", cfg, h)
	ctxA, cancelA := context.WithCancel(context.Background())
	doneA := make(chan error, 1)
	go func() { doneA <- a.Run(ctxA) }()
	poll.Until(t, 20*time.Second, "first member busy", func() bool { return handled.Load() > 200 })

	b := newConsumer(t, brokers, "g-reb", cfg, h)
	ctxB, cancelB := context.WithCancel(context.Background())
	doneB := make(chan error, 1)
	go func() { doneB <- b.Run(ctxB) }()
	poll.Until(t, 20*time.Second, "second member owns partitions", func() bool { return b.Stats().Partitions > 0 && a.Stats().Partitions < 6 })
	atJoin := handled.Load()
	poll.Until(t, 20*time.Second, "both members make progress", func() bool {
		return handled.Load() > atJoin+500 && b.Stats().Finished > 100
	})
	cancelB() // B leaves
	if err := <-doneB; err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "A takes everything back and finishes", func() bool { return lag(t, brokers, "g-reb") == 0 })
	cancelA()
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for off, times := range seen {
		if times > 1 {
			dups += times - 1
		}
		_ = off
	}
	if len(seen) != n {
		t.Fatalf("%d distinct records handled, want %d: records were lost", len(seen), n)
	}
	// Each handover can redeliver at most the in-flight records of the
	// moved partitions: two handovers.
	if dups > 2*maxInFlight {
		t.Errorf("%d duplicates, want at most %d", dups, 2*maxInFlight)
	}
	t.Logf("rebalance: %d records, %d duplicates (bound %d)", n, dups, 2*maxInFlight)
}

// TestGracefulShutdownUnderLoad: cancelling Run under load returns within
// the drain timeout, starts no record after the cancel, and commits exactly
// the finished prefix of each partition.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	brokers := cluster(t, 3)
	const n = 3000
	produce(t, brokers, n, 30, func(i int) []byte { return []byte(strconv.Itoa(i)) })
	var mu sync.Mutex
	done := map[int32]map[int64]bool{} // partition -> offsets handled
	var handled, startedLate atomic.Int64
	var stopping atomic.Bool
	h := consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (consumer.Outcome, error) {
		if stopping.Load() {
			startedLate.Add(1)
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return consumer.Outcome{}, ctx.Err()
		}
		mu.Lock()
		if done[r.Partition] == nil {
			done[r.Partition] = map[int64]bool{}
		}
		done[r.Partition][r.Offset] = true
		mu.Unlock()
		handled.Add(1)
		return consumer.Outcome{}, nil
	})
	const drain = 2 * time.Second
	c := newConsumer(t, brokers, "g-stop", consumer.Config{MaxInFlight: 64, DrainTimeout: drain, CommitInterval: time.Hour}, h)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- c.Run(ctx) }()
	poll.Until(t, 20*time.Second, "under load", func() bool { return handled.Load() > 300 })
	start := time.Now()
	cancel()
	poll.Until(t, 5*time.Second, "poll loop stopped", func() bool { running, _ := c.Loop(); return !running })
	stopping.Store(true)
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if took > drain+3*time.Second {
		t.Errorf("shutdown took %s, drain timeout %s", took, drain)
	}
	if n := startedLate.Load(); n != 0 {
		t.Errorf("%d records started after the shutdown began", n)
	}
	// Commit interval is an hour: the only commit is the shutdown's, and it
	// covers exactly the finished prefix of each partition (records that
	// finished above an unfinished one are redelivered next time).
	cl, _ := kgo.NewClient(kgo.SeedBrokers(brokers...))
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), "g-stop")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var prefix int64
	for p := range int32(3) {
		want := int64(0)
		for done[p][want] {
			want++
		}
		prefix += want
		got := int64(0)
		if o, ok := offs.Lookup(topic, p); ok {
			got = o.At
		}
		if got != want {
			t.Errorf("partition %d: committed %d, want %d (its finished prefix)", p, got, want)
		}
	}
	t.Logf("shutdown under load: %s, %d of %d handled, %d committed (finished prefixes)", took, handled.Load(), n, prefix)
}

// TestDLQRecordShape: a dead-lettered record carries key, value and headers
// byte for byte plus the envelope.
func TestDLQRecordShape(t *testing.T) {
	brokers := cluster(t, 2)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	src := &kgo.Record{Key: []byte("k\x00"), Value: []byte("bad"), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{1, 2}}}}
	if err := cl.ProduceSync(context.Background(), src).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c := newConsumer(t, brokers, "g-shape", consumer.Config{}, newRecorder())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	poll.Until(t, 10*time.Second, "lag 0", func() bool { return lag(t, brokers, "g-shape") == 0 })
	cancel()
	<-done

	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic+".dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	pctx, pcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer pcancel()
	var recs []*kgo.Record
	for len(recs) == 0 && pctx.Err() == nil {
		recs = append(recs, rd.PollRecords(pctx, 1).Records()...)
	}
	if len(recs) != 1 {
		ends, _ := kadm.NewClient(rd).ListEndOffsets(context.Background(), topic+".dlq")
		t.Fatalf("DLQ records read: %d; DLQ end offsets: %v", len(recs), ends)
	}
	got := recs[0]
	if string(got.Key) != "k\x00" || string(got.Value) != "bad" || got.Headers[0].Key != "h" || string(got.Headers[0].Value) != "\x01\x02" {
		t.Errorf("DLQ record = %+v", got)
	}
	env, orig, err := dlq.Parse(got.Headers)
	if err != nil {
		t.Fatal(err)
	}
	if len(orig) != 1 || env.Class != dlq.ClassInvalid || env.Reason != "not_json" || env.Topic != topic || env.Offset != 0 || env.Partition != src.Partition {
		t.Errorf("envelope = %+v", env)
	}
}

// TestAbandonedRecordNotCommitted: a record abandoned at shutdown (its
// publish cancelled) holds its partition's commit even when a later record
// of the same partition, on another key, finishes after it. Regression test
// for a lost record found by the demo's author.
func TestAbandonedRecordNotCommitted(t *testing.T) {
	brokers := cluster(t, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(),
		&kgo.Record{Key: []byte("A"), Value: []byte("a")},
		&kgo.Record{Key: []byte("B"), Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var c *consumer.Consumer
	var started atomic.Int32
	aReturned := make(chan struct{})
	h := consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (consumer.Outcome, error) {
		started.Add(1)
		<-ctx.Done() // both still in flight when the drain timeout passes
		if string(r.Key) == "A" {
			close(aReturned)
			return consumer.Outcome{}, ctx.Err() // abandoned
		}
		<-aReturned // B's publish completes just as shutdown cancels it
		poll.Until(t, 5*time.Second, "A counted out", func() bool { return c.InFlight() == 1 })
		return consumer.Outcome{}, nil
	})
	c = newConsumer(t, brokers, "g-abandon", consumer.Config{MaxInFlight: 8, DrainTimeout: 200 * time.Millisecond}, h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	poll.Until(t, 10*time.Second, "both records in flight", func() bool { return started.Load() == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	offs, err := adm.FetchOffsets(context.Background(), "g-abandon")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 0); ok && o.At != 0 {
		t.Fatalf("committed offset %d past the abandoned record at offset 0", o.At)
	}
}

// TestPartitionsShareTheBudget: with ordering "partition", one partition's
// backlog must not fill the in-flight budget while the others wait; every
// partition gets to work at the same time.
func TestPartitionsShareTheBudget(t *testing.T) {
	brokers := cluster(t, 6)
	const n = 1200
	produce(t, brokers, n, 60, func(i int) []byte { return []byte("{}") })
	var mu sync.Mutex
	active := map[int32]int{}
	most := 0
	var handled atomic.Int64
	h := consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (consumer.Outcome, error) {
		mu.Lock()
		active[r.Partition]++
		busy := 0
		for _, v := range active {
			if v > 0 {
				busy++
			}
		}
		most = max(most, busy)
		mu.Unlock()
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
		}
		mu.Lock()
		active[r.Partition]--
		mu.Unlock()
		handled.Add(1)
		return consumer.Outcome{}, nil
	})
	c := newConsumer(t, brokers, "g-share", consumer.Config{Ordering: consumer.OrderingPartition, MaxInFlight: 64}, h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- c.Run(ctx) }()
	poll.Until(t, 60*time.Second, "all handled", func() bool { return handled.Load() >= n })
	took := time.Since(start)
	poll.Until(t, 10*time.Second, "lag 0", func() bool { return lag(t, brokers, "g-share") == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if most < 6 {
		t.Errorf("at most %d of 6 partitions were worked on at once", most)
	}
	t.Logf("ordering partition, 6 partitions, %d records of 10 ms: %s (serial: %s), up to %d partitions at once", n, took.Round(time.Millisecond), time.Duration(n)*10*time.Millisecond, most)
}

// TestTransactions: records of an aborted transaction are never handled,
// committed ones are, and the commit moves past the transaction markers so
// that the group's lag reaches 0.
func TestTransactions(t *testing.T) {
	brokers := cluster(t, 1)
	txn, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic), kgo.TransactionalID("test-txn"))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	ctx := context.Background()
	for _, commit := range []bool{false, true, false, true} {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		v := "aborted"
		if commit {
			v = "committed"
		}
		for range 5 {
			if err := txn.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	var handled, aborted atomic.Int64
	h := consumer.HandlerFunc(func(ctx context.Context, r *kgo.Record) (consumer.Outcome, error) {
		handled.Add(1)
		if string(r.Value) != "committed" {
			aborted.Add(1)
		}
		return consumer.Outcome{}, nil
	})
	c := newConsumer(t, brokers, "g-txn", consumer.Config{}, h)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(rctx) }()
	poll.Until(t, 20*time.Second, "lag 0 past the last marker", func() bool { return lag(t, brokers, "g-txn") == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if handled.Load() != 10 || aborted.Load() != 0 {
		t.Errorf("handled %d records (%d of aborted transactions), want the 10 committed ones only", handled.Load(), aborted.Load())
	}
}
