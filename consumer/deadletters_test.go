package consumer_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/poll"
)

// dlqRecords reads every record of the DLQ topic: committed ones only, or
// all (aborted ones too) with readUncommitted.
func dlqRecords(t *testing.T, brokers []string, readUncommitted bool) []*kgo.Record {
	t.Helper()
	iso := kgo.ReadCommitted()
	if readUncommitted {
		iso = kgo.ReadUncommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic+".dlq"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso), kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Read up to the end offsets, transaction markers included (every
	// transaction has ended by now, so the last stable offset is the end).
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic+".dlq")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	var recs []*kgo.Record
	for len(want) > 0 {
		if ctx.Err() != nil {
			t.Fatalf("reading the DLQ: %v; still to read: %v", ctx.Err(), want)
		}
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				recs = append(recs, r)
			}
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
		})
	}
	return recs
}

// committedOffset is the group's committed offset of partition 0, -1 if
// none.
func committedOffset(t *testing.T, brokers []string, group string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	if err != nil {
		return -1
	}
	if o, ok := resp.Lookup(topic, 0); ok {
		return o.At
	}
	return -1
}

// TestDeadLetterWaitsForWatermark: with exactly-once dead letters (the
// default), a record bound for the DLQ behind a record still being handled
// is not written: no dead letter, no commit past either. Once the record
// before it finishes, the dead letter and the commit past it appear
// together. With at-least-once dead letters the same record is written at
// once, while the commit is still held.
func TestDeadLetterWaitsForWatermark(t *testing.T) {
	for _, delivery := range []consumer.DLQDelivery{consumer.DLQExactlyOnce, consumer.DLQAtLeastOnce} {
		t.Run(string(delivery), func(t *testing.T) {
			brokers := cluster(t, 1)
			// 0: key k0, held until released; 1: key k1, bad (DLQ); 2: fine.
			produce(t, brokers, 3, 3, func(i int) []byte {
				if i == 1 {
					return []byte("bad")
				}
				return []byte(strconv.Itoa(i))
			})
			release := make(chan struct{})
			rec := newRecorder()
			rec.delay = func(r *kgo.Record) time.Duration {
				if r.Offset == 0 {
					<-release
				}
				return 0
			}
			c := newConsumer(t, brokers, "g-wait", consumer.Config{DLQDelivery: delivery}, rec)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			poll.Until(t, 10*time.Second, "records 1 and 2 handled", func() bool { return rec.total() == 2 })
			if delivery == consumer.DLQExactlyOnce {
				// Handled, not written: it waits, unfinished, for offset 0.
				poll.Until(t, 10*time.Second, "records 0 and 1 unfinished", func() bool { return c.Stats().Buffered == 2 })
				// Nothing to wait for but time: a window of several commit
				// intervals, in which at-least-once writes it (see below).
				<-time.After(500 * time.Millisecond)
				if st := c.Stats(); st.Buffered != 2 || st.DLQ != 0 {
					t.Fatalf("stats %+v: want records 0 and 1 unfinished (1 dead pending), no DLQ write", st)
				}
				if n := len(dlqRecords(t, brokers, true)); n != 0 {
					t.Fatalf("%d dead letters written before the records before them finished, want 0", n)
				}
			} else {
				poll.Until(t, 10*time.Second, "the dead letter written at once", func() bool { return len(dlqRecords(t, brokers, false)) == 1 })
			}
			if o := committedOffset(t, brokers, "g-wait"); o > 0 {
				t.Fatalf("committed offset %d while offset 0 is being handled", o)
			}
			close(release)
			poll.Until(t, 10*time.Second, "every offset committed", func() bool { return committedOffset(t, brokers, "g-wait") == 3 })
			recs := dlqRecords(t, brokers, false)
			if len(recs) != 1 || string(recs[0].Value) != "bad" {
				t.Fatalf("dead letters %v, want the one bad record", recs)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if st := c.Stats(); st.DLQ != 1 || st.Finished != 3 {
				t.Errorf("stats %+v: want 3 finished, 1 dead-lettered", st)
			}
		})
	}
}

// TestDeadLetterTransactionRefused: the brokers refuse the commit of the
// offsets in a dead-letter transaction the way they refuse a member fenced
// out of its group (ILLEGAL_GENERATION, then UNKNOWN_MEMBER_ID). The
// transactions abort: their dead letters are in the log but never visible
// to readers of committed records, and nothing is committed; the next
// transaction writes each dead letter once, with its commit.
func TestDeadLetterTransactionRefused(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic, topic+".dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	brokers := kc.ListenAddrs()
	const n, bad = 40, 10 // every 4th record is bad
	produce(t, brokers, n, 5, func(i int) []byte {
		if i%4 == 1 {
			return []byte("bad")
		}
		return []byte(strconv.Itoa(i))
	})
	var refused atomic.Int32
	codes := []int16{kerr.IllegalGeneration.Code, kerr.UnknownMemberID.Code}
	kc.ControlKey(int16(kmsg.TxnOffsetCommit), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		i := refused.Load()
		if int(i) >= len(codes) {
			kc.DropControl()
			return nil, nil, false
		}
		refused.Add(1)
		req := kr.(*kmsg.TxnOffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewTxnOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = codes[i]
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	c := newConsumer(t, brokers, "g-refused", consumer.Config{}, newRecorder())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	poll.Until(t, 20*time.Second, "every offset committed", func() bool { return committedOffset(t, brokers, "g-refused") == n })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if refused.Load() != int32(len(codes)) {
		t.Fatalf("%d transactional commits refused, want %d", refused.Load(), len(codes))
	}
	committed := dlqRecords(t, brokers, false)
	seen := map[int64]int{}
	for _, r := range committed {
		env, _, err := dlq.Parse(r.Headers)
		if err != nil {
			t.Fatal(err)
		}
		seen[env.Offset]++
	}
	for i := 1; i < n; i += 4 {
		if seen[int64(i)] != 1 {
			t.Errorf("source offset %d: %d committed dead letters, want 1", i, seen[int64(i)])
		}
	}
	if len(committed) != bad {
		t.Errorf("%d committed dead letters, want %d", len(committed), bad)
	}
	all := dlqRecords(t, brokers, true)
	if len(all) <= bad {
		t.Errorf("%d dead letters in the log counting aborted ones, want more than %d: the refused transactions wrote and aborted", len(all), bad)
	}
	if st := c.Stats(); st.DLQ != bad || st.DLQFailures < int64(len(codes)) {
		t.Errorf("stats %+v: want %d dead-lettered, at least %d failed transactions", st, bad, len(codes))
	}
}

// TestShutdownAfterLastRecordDeadPending: shutdown waits (up to
// DrainTimeout) for the records being handled. When the last of them is
// judged for the DLQ (exactly once) behind a record left for the next run,
// it becomes dead pending, neither finished nor written, and that must end
// the wait at once: Run returns long before DrainTimeout, with the commit
// before the record left over, and no dead letter (the next run judges
// both again).
func TestShutdownAfterLastRecordDeadPending(t *testing.T) {
	brokers := cluster(t, 1)
	// 0: key A, held; 1: key A, waits behind 0 and is left over at
	// shutdown; 2: key B, bad, held.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	err = cl.ProduceSync(context.Background(),
		&kgo.Record{Key: []byte("A"), Value: []byte("0")},
		&kgo.Record{Key: []byte("A"), Value: []byte("1")},
		&kgo.Record{Key: []byte("B"), Value: []byte("bad")}).FirstErr()
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	release := map[int64]chan struct{}{0: make(chan struct{}), 2: make(chan struct{})}
	var started atomic.Int32
	rec := newRecorder()
	rec.delay = func(r *kgo.Record) time.Duration {
		if ch := release[r.Offset]; ch != nil {
			started.Add(1)
			<-ch
		}
		return 0
	}
	const drain = 15 * time.Second
	c := newConsumer(t, brokers, "g-shutdown-dead", consumer.Config{DrainTimeout: drain}, rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	poll.Until(t, 10*time.Second, "records 0 and 2 being handled", func() bool { return started.Load() == 2 })
	cancel() // shutdown starts
	poll.Until(t, 10*time.Second, "the poll loop stopped", func() bool { running, _ := c.Loop(); return !running })
	close(release[0]) // 0 finishes; 1 is left over, unfinished
	poll.Until(t, 10*time.Second, "record 1 left over", func() bool { return c.Stats().Buffered == 1 })
	began := time.Now()
	close(release[2]) // judged for the DLQ behind record 1: dead pending
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(drain):
		t.Fatalf("Run still waiting %s after the last record being handled became dead pending", drain)
	}
	if took := time.Since(began); took > drain/3 {
		t.Errorf("Run returned %s after the last record being handled became dead pending, want well under DrainTimeout (%s)", took.Round(time.Millisecond), drain)
	}
	if o := committedOffset(t, brokers, "g-shutdown-dead"); o != 1 {
		t.Errorf("committed offset %d, want 1 (record 0 finished, 1 left over)", o)
	}
	if recs := dlqRecords(t, brokers, false); len(recs) != 0 {
		t.Errorf("%d dead letters, want none (record 2 waits behind record 1, judged again next run)", len(recs))
	}
}
