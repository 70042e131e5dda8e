package consumer_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/dlq"
)

type countObserver struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (o *countObserver) Finished(*kgo.Record, bool) {
	if o.n.Add(1) == o.want {
		close(o.done)
	}
}

// BenchmarkConsumer measures the consumer's own path: fetch, dispatch to key
// lanes, the worker pool, watermark tracking and commits, over an
// in-process broker, with a Handler that does nothing (0) or waits like a
// remote call (1ms). Each op is one record; records/s is the throughput. At
// 1ms the bound is max_in_flight ÷ 1ms (256,000/s). The client fetches with
// the bridge's default kafka.fetch_max_wait (100ms). With every record its
// own key the number is the bookkeeping's cost; with 500 keys, records
// queue behind their key's earlier records and the buffered window (4 ×
// max_in_flight records) limits how many keys are runnable at once.
func BenchmarkConsumer(b *testing.B) {
	for _, bc := range []struct {
		lat  time.Duration
		keys int // 0: every record its own key
	}{{0, 0}, {time.Millisecond, 0}, {time.Millisecond, 500}} {
		lat, keys := bc.lat, bc.keys
		name := fmt.Sprintf("handler=%s/keys=%d", lat, keys)
		if keys == 0 {
			name = fmt.Sprintf("handler=%s/keys=unique", lat)
		}
		b.Run(name, func(b *testing.B) {
			value := []byte(`{"orderId":"ORD-0000000001","customerId":"CUST-1","totalAmount":10.5,"currency":"USD","timestamp":"2026-11-27T16:00:00.000Z"}`)
			h := consumer.HandlerFunc(func(ctx context.Context, _ *kgo.Record) (consumer.Outcome, error) {
				if lat > 0 {
					t := time.NewTimer(lat) // stands for a remote call
					defer t.Stop()
					select {
					case <-t.C:
					case <-ctx.Done():
						return consumer.Outcome{}, ctx.Err()
					}
				}
				return consumer.Outcome{}, nil
			})
			runBench(b, func(i int) (key, val []byte) {
				k := i
				if keys > 0 {
					k = i % keys
				}
				return []byte("k" + strconv.Itoa(k)), value
			}, consumer.Config{}, h)
		})
	}
}

// BenchmarkConsumerManyPartitions is BenchmarkConsumer's no-op handler over
// 2,048 partitions, more than the buffer holds (1,024 at 256 in flight):
// what a poll costs the consumer when its share of the buffer is one
// record per partition. (A throttle pass over every partition after each
// poll made it 19,000 records/s against 520,000; docs/performance.md.)
func BenchmarkConsumerManyPartitions(b *testing.B) {
	h := consumer.HandlerFunc(func(context.Context, *kgo.Record) (consumer.Outcome, error) { return consumer.Outcome{}, nil })
	runBenchOn(b, 2048, func(i int) (key, val []byte) { return []byte("k" + strconv.Itoa(i)), []byte("v") }, consumer.Config{}, h)
}

// runBench produces max(b.N, 2000) records (record i's key and value
// from rec) to an in-process broker with 12 partitions, runs a consumer
// with cfg (topics, DLQ topic, 256 in flight, 100 ms commits added) and h
// until every record finished, and reports records/s.
func runBench(b *testing.B, rec func(i int) (key, value []byte), cfg consumer.Config, h consumer.Handler) *consumer.Consumer {
	b.Helper()
	return runBenchOn(b, 12, rec, cfg, h)
}

// runBenchOn is runBench over a topic of partitions partitions.
func runBenchOn(b *testing.B, partitions int32, rec func(i int) (key, value []byte), cfg consumer.Config, h consumer.Handler) *consumer.Consumer {
	b.Helper()
	n := max(b.N, 2000)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic, topic+".dlq"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	pcl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic), kgo.MaxBufferedRecords(n+1))
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		k, v := rec(i)
		pcl.Produce(context.Background(), &kgo.Record{Key: k, Value: v}, nil)
	}
	if err := pcl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	pcl.Close()

	obs := &countObserver{want: int64(n), done: make(chan struct{})}
	cfg.Topics, cfg.DLQTopic = []string{topic}, func(s string) string { return s + ".dlq" }
	cfg.MaxInFlight, cfg.CommitInterval, cfg.Observer = 256, 100*time.Millisecond, obs
	cons, err := consumer.New(cfg, h, kgo.SeedBrokers(brokers...), kgo.ConsumerGroup("bench"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	b.ResetTimer()
	start := time.Now()
	go func() { runDone <- cons.Run(ctx) }()
	select {
	case <-obs.done:
	case err := <-runDone:
		b.Fatalf("consumer stopped early: %v", err)
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d records finished", obs.n.Load(), n)
	}
	el := time.Since(start)
	b.StopTimer()
	cancel()
	if err := <-runDone; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/el.Seconds(), "records/s")
	return cons
}

// BenchmarkConsumerDeadLetters measures dead-lettering at full speed:
// every record (one in 50 with mix) goes to the DLQ, over an in-process
// broker, with exactly-once dead letters (transactions, written at the
// partitions' heads) and at-least-once ones (written as judged), in the
// same run. The in-process broker's transactions cost no disk and no
// replication; the cost on real Kafka is measured by the e2e suite
// (docs/performance.md#exactly-once-dead-letters).
func BenchmarkConsumerDeadLetters(b *testing.B) {
	for _, every := range []int{1, 50} {
		for _, delivery := range []consumer.DLQDelivery{consumer.DLQExactlyOnce, consumer.DLQAtLeastOnce} {
			b.Run(fmt.Sprintf("dead=1of%d/%s", every, delivery), func(b *testing.B) {
				h := consumer.HandlerFunc(func(_ context.Context, r *kgo.Record) (consumer.Outcome, error) {
					if i, _ := strconv.Atoi(string(r.Value)); i%every == 0 {
						return consumer.Outcome{DLQ: &dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema", Message: "bad"}}, nil
					}
					return consumer.Outcome{}, nil
				})
				cons := runBench(b, func(i int) (key, val []byte) {
					return []byte("k" + strconv.Itoa(i%500)), []byte(strconv.Itoa(i))
				}, consumer.Config{DLQDelivery: delivery}, h)
				b.ReportMetric(float64(cons.Stats().Commits), "commits")
			})
		}
	}
}
