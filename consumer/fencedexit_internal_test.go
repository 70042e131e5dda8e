package consumer

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/logbuf"
	"github.com/cxone-bridge/bridge/poll"
)

// A member the group fenced before it learned so (frozen past the session
// timeout, then shut down right after it resumed: a zombie) has its final
// commit refused with UNKNOWN_MEMBER_ID. Its partitions are another
// member's, as after a loss: that is no failure of the shutdown, and Run
// must return nil (the process exits 0). It returned the commit's error,
// and TestE2E/KillReplicaNextGen failed in CI on the exit code.
func TestFencedMemberShutsDownCleanly(t *testing.T) {
	var logs logbuf.Buffer
	c, kc := newInternalConsumer(t, "g-fenced", nil, Config{CommitInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		HandlerFunc(func(context.Context, *kgo.Record) (Outcome, error) { return Outcome{}, nil }))
	pcl, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pcl.ProduceSync(context.Background(), &kgo.Record{Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pcl.Close()
	var refused atomic.Int64
	c.sendCommit = func(context.Context, map[string]map[int32]kgo.EpochOffset) error {
		refused.Add(1)
		return kerr.UnknownMemberID // the coordinator fenced it meanwhile
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	poll.Until(t, 10*time.Second, "the record finished", func() bool { return c.Stats().Finished == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after a final commit refused because the member was fenced, want nil", err)
	}
	if refused.Load() == 0 {
		t.Fatal("no commit was attempted")
	}
	if !strings.Contains(logs.String(), "the group had fenced this member") {
		t.Errorf("no warning that the member was fenced:\n%s", logs.String())
	}
}
