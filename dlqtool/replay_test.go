package dlqtool

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/kafkaconn"
)

// fakeCluster starts an in-process Kafka (kfake) with the given topics of
// three partitions each, and returns the options to reach it.
func fakeCluster(t *testing.T, topics ...string) (*kfake.Cluster, []kgo.Opt) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
}

// createGroup commits offset 0 of every partition of topic for group.
// kfake answers GROUP_ID_NOT_FOUND when asked for the offsets of a group
// it never saw, where Kafka answers with no offsets.
func createGroup(t *testing.T, opts []kgo.Opt, group, topic string) {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var os kadm.Offsets
	for p := range int32(3) {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: 0, LeaderEpoch: -1})
	}
	resp, err := kadm.NewClient(cl).CommitOffsets(context.Background(), group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit offsets of %s: %v", group, err)
	}
}

// readN reads topic from its start (read_committed) until it has n
// records or 10 s have passed.
func readN(t *testing.T, opts []kgo.Opt, topic string, n int) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// TestDeadLettersOutliveTheirSourceTime: a DLQ record carries the failure
// time as its Kafka timestamp, so the DLQ topic's retention counts from the
// failure (a record whose source is older than the retention survives it),
// and a replay writes each record with the time of the replay (neither
// time-based retention nor a message.timestamp.before.max.ms limit of the
// destination can then refuse or expire it at once).
func TestDeadLettersOutliveTheirSourceTime(t *testing.T) {
	c, opts := fakeCluster(t, "orders", "orders.dlq", "elsewhere")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Source records from ten days ago, dead-lettered an hour ago after a
	// long catch-up: older than the 7-day default retention.ms.
	const n = 9
	now := time.Now()
	sourceTS := func(i int) time.Time {
		return time.UnixMilli(now.Add(-10*24*time.Hour).UnixMilli() + int64(i)*1001)
	}
	failedTS := func(i int) time.Time { return time.UnixMilli(now.Add(-time.Hour).UnixMilli() + int64(i)) }
	var recs []*kgo.Record
	for i := range n {
		src := &kgo.Record{Topic: "orders", Partition: int32(i % 3), Offset: int64(100 + i), Timestamp: sourceTS(i),
			Key: []byte("k-" + strconv.Itoa(i%4)), Value: []byte(fmt.Sprintf(`{"i":%d}`, i)),
			Headers: []kgo.RecordHeader{{Key: "x-correlation-id", Value: []byte("c-" + strconv.Itoa(i))}}}
		recs = append(recs, dlq.NewRecord(src, "orders.dlq", &dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema", Message: "m"}, failedTS(i)))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	index := func(r *kgo.Record) int {
		t.Helper()
		var v struct{ I int }
		if _, err := fmt.Sscanf(string(r.Value), `{"i":%d}`, &v.I); err != nil {
			t.Fatalf("value %q: %v", r.Value, err)
		}
		return v.I
	}

	c.ApplyRetention() // the DLQ topic's 7-day retention, counted from the records' timestamps
	dlqRecs := readN(t, opts, "orders.dlq", n)
	if len(dlqRecs) != n {
		t.Fatalf("DLQ records after retention: %d, want %d (dead letters expired by their source time?)", len(dlqRecs), n)
	}
	for _, r := range dlqRecs {
		i := index(r)
		env, _, err := dlq.Parse(r.Headers)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Timestamp.Equal(failedTS(i)) || !env.FailedAt.Equal(r.Timestamp) || !env.Timestamp.Equal(sourceTS(i)) {
			t.Errorf("DLQ record %d: timestamp %s, failed.at %s, source.timestamp %s; want the failure time %s and the source time %s",
				i, r.Timestamp, env.FailedAt, env.Timestamp, failedTS(i), sourceTS(i))
		}
	}

	createGroup(t, opts, DefaultGroup("orders.dlq"), "orders.dlq")
	replayed := time.Now()
	sum, err := Replay(ctx, ReplayOptions{KafkaOpts: opts, Topic: "orders.dlq", Routes: testRoutes(t, "{topic}.dlq", config.Route{Topic: "orders"})})
	if err != nil || sum.Replayed != n || sum.ByDestination["orders"] != n {
		t.Fatalf("replay: %+v, %v", sum, err)
	}
	got := readN(t, opts, "orders", n)
	if len(got) != n {
		t.Fatalf("orders: %d records, want %d", len(got), n)
	}
	for _, r := range got {
		i := index(r)
		if r.Timestamp.Before(replayed.Add(-time.Second)) {
			t.Errorf("replayed record %d has timestamp %s, want the replay's (after %s)", i, r.Timestamp, replayed)
		}
		if len(r.Headers) != 2 || r.Headers[0].Key != "x-correlation-id" || r.Headers[1].Key != dlq.HeaderReplayCount || string(r.Headers[1].Value) != "1" {
			t.Errorf("replayed record %d headers %v", i, r.Headers)
		}
	}
}

// The replay's transactions run back to back: its session must not wait
// the client's default 5s for a metadata refresh after a partition answers
// CONCURRENT_TRANSACTIONS (kafkaconn.Transactional).
func TestReplaySessionRefreshesMetadataSoon(t *testing.T) {
	o := &ReplayOptions{Topic: "orders.dlq", Group: "g", TransactionalID: "g", SessionTimeout: 10 * time.Second,
		KafkaOpts: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1"), kgo.MetadataMinAge(5 * time.Second)}}
	cl, err := kgo.NewClient(o.sessionOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if got := cl.OptValue(kgo.MetadataMinAge); got != kafkaconn.TransactionalMetadataMinAge {
		t.Errorf("replay session's MetadataMinAge = %v, want %v", got, kafkaconn.TransactionalMetadataMinAge)
	}
	if got := cl.OptValue(kgo.TransactionalID); got != "g" {
		t.Errorf("transactional id %v, want g", got)
	}
}
