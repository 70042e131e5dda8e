package testcontainers_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/poll"
	"github.com/cxone-bridge/bridge/testcontainers"
)

// TestSingleNode: one node; produce and consume with kgo; commit as a group
// and read the group's lag back with Kafka's own ConsumerGroupCommand.
func TestSingleNode(t *testing.T) {
	start := time.Now()
	k := testcontainers.StartKafka(t)
	t.Logf("1-node cluster ready in %s", time.Since(start).Round(10*time.Millisecond))

	topic := testcontainers.UniqueName("orders")
	group := testcontainers.UniqueName("group")
	k.CreateTopic(t, topic, 3, 1, nil)

	const n = 300
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod := k.Client(t, kgo.DefaultProduceTopic(topic))
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Key: []byte("k" + strconv.Itoa(i%10)), Value: []byte(strconv.Itoa(i))})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	// Consume everything, commit, and check with Kafka's tool that the
	// group's lag is 0.
	cons := k.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(seen), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	out, err := k.ConsumerGroupDescribe(t, group)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ConsumerGroupCommand --describe took %s:\n%s", time.Since(t0).Round(10*time.Millisecond), out)
	lag, err := testcontainers.ParseGroupDescribe(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(lag.Partitions) != 3 {
		t.Fatalf("%d partitions in the describe output, want 3", len(lag.Partitions))
	}
	var end int64
	for _, p := range lag.Partitions {
		if p.Topic != topic || p.Group != group || p.Lag != 0 || p.CurrentOffset != p.LogEndOffset {
			t.Errorf("row %+v: want topic %s, group %s, lag 0", p, topic, group)
		}
		end += p.LogEndOffset
	}
	if end != n || lag.Total() != 0 {
		t.Errorf("log end offsets sum to %d (want %d), total lag %d (want 0)", end, n, lag.Total())
	}

	// Produce more without consuming: the tool sees the lag.
	if err := prod.ProduceSync(ctx, &kgo.Record{Key: []byte("x"), Value: []byte("more")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cons.Close()
	lag, err = k.ConsumerGroupLag(t, group)
	if err != nil {
		t.Fatal(err)
	}
	if lag.Total() != 1 {
		t.Errorf("total lag %d after one more record, want 1:\n%s", lag.Total(), lag.Output)
	}

	if _, err := k.ConsumerGroupDescribe(t, "no-such-group"); err == nil {
		t.Error("describe of an unknown group: no error")
	}
}

// TestThreeNodesSurviveBrokerKill: three nodes, a topic with RF 3 and
// min.insync.replicas=2; acks=all writes keep succeeding while one node is
// SIGKILLed, and the node rejoins every ISR after StartNode.
func TestThreeNodesSurviveBrokerKill(t *testing.T) {
	start := time.Now()
	k := testcontainers.StartKafka(t, testcontainers.Nodes(3))
	t.Logf("3-node cluster ready in %s", time.Since(start).Round(10*time.Millisecond))
	k.RequireLocal(t)
	t.Run("handle for a subtest", func(t *testing.T) {
		if sub := k.For(t); sub.Bootstrap() != k.Bootstrap() || !sub.NodeRunning(2) {
			t.Fatal("k.For(t) is not a handle on the same cluster")
		}
	})

	topic := testcontainers.UniqueName("orders")
	k.CreateTopic(t, topic, 6, 3, map[string]*string{"min.insync.replicas": testcontainers.Ptr("2")})

	prod := k.Client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(60*time.Second))
	var produced, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	stopProducing := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopProducing()
	// About 5,000 records/s in batches of 100, so that three JVMs and the
	// producer share two cores without starving the brokers.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			var recs []*kgo.Record
			for j := range 100 {
				recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(j)), Value: []byte(fmt.Sprintf("%d-%d", i, j))})
			}
			res := prod.ProduceSync(ctx, recs...)
			cancel()
			for _, r := range res {
				if r.Err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, r.Err)
				} else {
					produced.Add(1)
				}
			}
		}
	})

	waitProduced := func(what string, more int64) {
		t.Helper()
		target := produced.Load() + more
		poll.Until(t, 60*time.Second, what, func() bool { return produced.Load() >= target || failed.Load() > 0 })
		if failed.Load() > 0 {
			t.Fatalf("%s: %d acks=all writes failed, first: %v", what, failed.Load(), firstErr.Load())
		}
	}

	waitProduced("writes before the kill", 2000)
	killedAt := time.Now()
	k.KillNode(1)
	if k.NodeRunning(1) {
		t.Fatal("node 1 still running after KillNode")
	}
	// The controller fences the dead node and shrinks the ISRs to 2 = min.insync.replicas.
	poll.Until(t, 30*time.Second, "ISR without node 1", func() bool {
		md, err := k.Admin().Metadata(context.Background(), topic)
		if err != nil {
			return false
		}
		for _, p := range md.Topics[topic].Partitions {
			if len(p.ISR) != 2 {
				return false
			}
		}
		return true
	})
	t.Logf("node 1 out of every ISR %s after the kill", time.Since(killedAt).Round(10*time.Millisecond))
	waitProduced("writes with 2 of 3 nodes", 3000)

	k.StartNode(1)
	t0 := time.Now()
	k.WaitInSync(t, topic, 60*time.Second)
	t.Logf("node 1 back in every ISR %s after it was ready", time.Since(t0).Round(10*time.Millisecond))
	waitProduced("writes after the restart", 1000)

	// StopNode: a controlled shutdown of another node, writes go on.
	k.StopNode(2)
	waitProduced("writes with node 2 stopped", 1000)
	k.StartNode(2)
	k.WaitInSync(t, topic, 60*time.Second)

	stopProducing()
	if failed.Load() > 0 {
		t.Fatalf("%d acks=all writes failed, first: %v", failed.Load(), firstErr.Load())
	}

	// Every acknowledged record is there.
	ends, err := k.Admin().ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, ps := range ends {
		for _, o := range ps {
			total += o.Offset
		}
	}
	if total != produced.Load() {
		t.Fatalf("log end offsets sum to %d, %d records were acknowledged", total, produced.Load())
	}
	t.Logf("%d records written with acks=all across a SIGKILL and a SIGTERM of a broker, none failed", total)
}

// TestBridgeProcess: the bridge binary builds and runs as a process whose
// exit code and logs the test sees.
func TestBridgeProcess(t *testing.T) {
	bin := testcontainers.BuildBridge(t)
	if bin2 := testcontainers.BuildBridge(t); bin2 != bin {
		t.Fatalf("second build %s, want the cached %s", bin2, bin)
	}
	p := testcontainers.StartProcess(t, bin, []string{"--help"}, nil)
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("bridge --help: exit %d\n%s", code, p.Logs())
	}
	if p.Logs() == "" {
		t.Fatal("bridge --help printed nothing")
	}
	p = testcontainers.StartBridge(t, bin, "/nonexistent/bridge.yaml", nil)
	if code := p.Wait(30 * time.Second); code == 0 {
		t.Fatalf("bridge run with a missing config: exit 0\n%s", p.Logs())
	}
}
