package consumer_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/poll"
)

// refuseCommits makes the cluster answer the next n OffsetCommit requests
// with code for every partition, and counts them in refused.
func refuseCommits(c *kfake.Cluster, n int32, code int16, refused *atomic.Int32) {
	c.ControlKey(int16(kmsg.OffsetCommit), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if refused.Load() >= n {
			c.DropControl()
			return nil, nil, false
		}
		refused.Add(1)
		req := kr.(*kmsg.OffsetCommitRequest)
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
}

// TestConsumerProtocolCommitErrors runs the consumer with the KIP-848
// group protocol (kfake's broker-side assignor) and refuses commits the
// ways KIP-848 brokers do. A commit refused as STALE_MEMBER_EPOCH is sent
// again at once and counts as no failure; one refused as
// FENCED_MEMBER_EPOCH (the member is out of the group) fails, the member
// rejoins, and every record is handled and committed: none lost, and the
// only redelivered ones are those whose commit was refused.
func TestConsumerProtocolCommitErrors(t *testing.T) {
	for _, tc := range []struct {
		name         string
		code         int16
		wantFailures bool
	}{
		{"stale member epoch", kerr.StaleMemberEpoch.Code, false},
		{"fenced member epoch", kerr.FencedMemberEpoch.Code, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, topic, topic+".dlq"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(kc.Close)
			brokers := kc.ListenAddrs()
			var heartbeats atomic.Int32
			kc.ControlKey(int16(kmsg.ConsumerGroupHeartbeat), func(kmsg.Request) (kmsg.Response, error, bool) {
				kc.KeepControl()
				heartbeats.Add(1)
				return nil, nil, false
			})
			const n = 2000
			produce(t, brokers, n, 100, func(i int) []byte { return []byte(`{"i":` + strconv.Itoa(i) + `}`) })
			var refused atomic.Int32
			refuseCommits(kc, 1, tc.code, &refused)
			rec := newRecorder()
			c := newConsumer(t, brokers, "g848", consumer.Config{MaxInFlight: 32, GroupProtocol: consumer.ProtocolConsumer}, rec)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			poll.Until(t, 30*time.Second, "all records handled", func() bool { return rec.total() >= n })
			poll.Until(t, 15*time.Second, "lag 0", func() bool { return lag(t, brokers, "g848") == 0 })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if heartbeats.Load() == 0 {
				t.Fatal("no ConsumerGroupHeartbeat: the group did not use the KIP-848 protocol")
			}
			if refused.Load() != 1 {
				t.Fatalf("%d commits refused, want 1", refused.Load())
			}
			st := c.Stats()
			if (st.CommitFailures > 0) != tc.wantFailures {
				t.Errorf("commit failures %d, want failures %v", st.CommitFailures, tc.wantFailures)
			}
			total := rec.total()
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.errs) > 0 {
				t.Fatalf("ordering violated: %v", rec.errs[:1])
			}
			seen := map[string]bool{}
			for k, offs := range rec.seen {
				for _, o := range offs {
					seen[k+"@"+strconv.FormatInt(o, 10)] = true
				}
			}
			if len(seen) != n {
				t.Errorf("%d distinct records handled, want %d", len(seen), n)
			}
			if !tc.wantFailures && total != n {
				t.Errorf("handled %d times, want %d: a stale epoch must not cause redelivery", total, n)
			}
			t.Logf("handled %d (distinct %d), commits %d, failures %d, heartbeats %d", total, len(seen), st.Commits, st.CommitFailures, heartbeats.Load())
		})
	}
}
