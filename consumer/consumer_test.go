package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/poll"
)

const topic = "orders"

// cluster starts an in-process Kafka (kfake) with the source topic and its
// DLQ topic.
func cluster(t *testing.T, partitions int32) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic, topic+".dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func produce(t *testing.T, brokers []string, n, keys int, value func(i int) []byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, 0, n)
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Key: []byte("k" + strconv.Itoa(i%keys)), Value: value(i)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// lag returns the group's total lag on the source topic, or -1 while the
// group is not known yet.
func lag(t *testing.T, brokers []string, group string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	lags, err := adm.Lag(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, gl := range lags {
		if gl.Error() != nil || len(gl.Lag[topic]) == 0 {
			return -1 // a group without members or commits lists no partitions: unknown, not 0
		}
		for _, pl := range gl.Lag[topic] {
			if pl.Err != nil {
				t.Fatal(pl.Err)
			}
			total += pl.Lag
		}
	}
	return total
}

func newConsumer(t *testing.T, brokers []string, group string, cfg consumer.Config, h consumer.Handler) *consumer.Consumer {
	t.Helper()
	cfg.Topics = []string{topic}
	cfg.DLQTopic = func(s string) string { return s + ".dlq" }
	if cfg.CommitInterval == 0 {
		cfg.CommitInterval = 100 * time.Millisecond
	}
	if cfg.RetryBackoff == 0 {
		cfg.RetryBackoff, cfg.RetryBackoffMax = 10*time.Millisecond, 50*time.Millisecond
	}
	c, err := consumer.New(cfg, h, kgo.SeedBrokers(brokers...), kgo.ConsumerGroup(group),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// recorder is a Handler that remembers the order in which it saw records.
type recorder struct {
	mu     sync.Mutex
	seen   map[string][]int64 // key -> offsets, in handling order
	byPart map[int32]int
	active map[string]int // key -> handlers running now
	errs   []string
	delay  func(rec *kgo.Record) time.Duration
	fail   func(rec *kgo.Record) error
}

func newRecorder() *recorder {
	return &recorder{seen: map[string][]int64{}, byPart: map[int32]int{}, active: map[string]int{}}
}

func (r *recorder) Handle(ctx context.Context, rec *kgo.Record) (consumer.Outcome, error) {
	k := fmt.Sprintf("%d/%s", rec.Partition, rec.Key)
	r.mu.Lock()
	r.active[k]++
	if r.active[k] > 1 {
		r.errs = append(r.errs, "two records of key "+k+" handled at once")
	}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.active[k]--
		r.mu.Unlock()
	}()
	if r.delay != nil {
		select {
		case <-time.After(r.delay(rec)):
		case <-ctx.Done():
			return consumer.Outcome{}, ctx.Err()
		}
	}
	if r.fail != nil {
		if err := r.fail(rec); err != nil {
			return consumer.Outcome{}, err
		}
	}
	r.mu.Lock()
	r.seen[k] = append(r.seen[k], rec.Offset)
	r.byPart[rec.Partition]++
	r.mu.Unlock()
	if string(rec.Value) == "bad" {
		return consumer.Outcome{DLQ: &dlq.Failure{Class: dlq.ClassInvalid, Reason: "not_json", Message: "bad"}}, nil
	}
	return consumer.Outcome{}, nil
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, v := range r.seen {
		n += len(v)
	}
	return n
}

func TestKeyOrderingAndCommits(t *testing.T) {
	brokers := cluster(t, 6)
	const n, keys = 5000, 50
	produce(t, brokers, n, keys, func(i int) []byte {
		if i%500 == 7 {
			return []byte("bad")
		}
		return []byte(`{"i":` + strconv.Itoa(i) + `}`)
	})
	rec := newRecorder()
	rec.delay = func(r *kgo.Record) time.Duration { return time.Duration(r.Offset%3) * time.Millisecond }
	c := newConsumer(t, brokers, "g1", consumer.Config{MaxInFlight: 64}, rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	poll.Until(t, 60*time.Second, "all records handled", func() bool { return rec.total() >= n })
	poll.Until(t, 10*time.Second, "lag 0", func() bool { return lag(t, brokers, "g1") == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.errs) > 0 {
		t.Fatalf("ordering violated: %v", rec.errs[:1])
	}
	total := 0
	for k, offs := range rec.seen {
		total += len(offs)
		for i := 1; i < len(offs); i++ {
			if offs[i] <= offs[i-1] {
				t.Fatalf("key %s handled out of order: %v", k, offs)
			}
		}
	}
	if total != n {
		t.Errorf("handled %d records, want %d (each exactly once in one uninterrupted run)", total, n)
	}
	st := c.Stats()
	if st.DLQ != 10 || st.InFlight != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// TestStuckRecordHoldsCommitOnly: a record that keeps failing blocks its
// own key and its partition's commit, nothing else.
func TestStuckRecordHoldsCommitOnly(t *testing.T) {
	brokers := cluster(t, 1)
	const n = 200
	produce(t, brokers, n, 10, func(i int) []byte { return []byte(strconv.Itoa(i)) })
	var healed atomic.Bool
	var attempts atomic.Int64
	rec := newRecorder()
	rec.fail = func(r *kgo.Record) error {
		if r.Offset == 5 && !healed.Load() {
			attempts.Add(1)
			return errors.New("CXone says no, for now")
		}
		return nil
	}
	c := newConsumer(t, brokers, "g2", consumer.Config{MaxInFlight: 300}, rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	// Every other key gets through; key k5 stops at offset 5.
	poll.Until(t, 20*time.Second, "other records handled", func() bool { return rec.total() >= n-n/10 })
	poll.Until(t, 5*time.Second, "commit up to the stuck record", func() bool { return lag(t, brokers, "g2") == n-5 })
	// Several more failed attempts and commit intervals later, the commit
	// has still not passed it.
	seen := attempts.Load()
	poll.Until(t, 5*time.Second, "more retries", func() bool { return attempts.Load() >= seen+3 })
	if l := lag(t, brokers, "g2"); l != n-5 {
		t.Fatalf("lag %d while offset 5 is stuck, want %d: the commit must stop at the stuck record", l, n-5)
	}
	rec.mu.Lock()
	if got := len(rec.seen["0/k5"]); got != 0 {
		t.Errorf("key k5 progressed past its stuck record: %v", rec.seen["0/k5"])
	}
	rec.mu.Unlock()
	healed.Store(true)
	poll.Until(t, 10*time.Second, "lag 0 after healing", func() bool { return lag(t, brokers, "g2") == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rec.total() != n {
		t.Errorf("handled %d, want %d", rec.total(), n)
	}
}
