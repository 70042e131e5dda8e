package consumer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/poll"
)

// Shutdown keeps to its budget, DrainTimeout then CommitTimeout, when a
// dead-letter transaction is under way and its end goes unanswered: the
// end, the check of an unanswered end and the abort outlive the
// transaction's own deadline (so that a slow end is not taken as failed
// and its dead letters written twice), but not the final commit's time.
func TestShutdownKeepsBudgetWhileTransactionEndHangs(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders", "orders.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	var hung atomic.Bool
	kc.ControlKey(int16(kmsg.EndTxn), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		if kr.(*kmsg.EndTxnRequest).Commit && hung.CompareAndSwap(false, true) {
			kc.SleepControl(func() { time.Sleep(8 * time.Second) })
		}
		return nil, nil, false
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte("k"), Value: []byte("bad")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	const drain, commit = time.Second, 2 * time.Second
	c, err := New(Config{Topics: []string{"orders"}, DLQTopic: func(s string) string { return s + ".dlq" },
		DLQDelivery: DLQExactlyOnce, DrainTimeout: drain, CommitTimeout: commit},
		HandlerFunc(func(context.Context, *kgo.Record) (Outcome, error) {
			return Outcome{DLQ: &dlq.Failure{Class: dlq.ClassInvalid, Reason: "test"}}, nil
		}),
		kgo.SeedBrokers(kc.ListenAddrs()...), kgo.ConsumerGroup("g-budget"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	poll.Until(t, 10*time.Second, "the dead-letter transaction's end under way", hung.Load)
	began := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20s of the signal")
	}
	// The drain has nothing to wait for; the commit budget bounds the rest.
	if took, budget := time.Since(began), drain+commit+time.Second; took > budget {
		t.Errorf("shutdown took %s while a transaction's end hung, want within DrainTimeout + CommitTimeout (+1s): %s",
			took.Round(time.Millisecond), budget)
	}
}
