package consumer_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/logbuf"
	"github.com/cxone-bridge/bridge/poll"
)

// TestTopicRecreatedLogsBounded: a topic deleted and created again while the
// consumer runs fails every fetch of its old partitions at once
// (UNKNOWN_TOPIC_ID). The poll loop backs off and each error is logged at
// most once every ten seconds, not once a poll.
func TestTopicRecreatedLogsBounded(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topic, topic+".dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	brokers := kc.ListenAddrs()
	produce(t, brokers, 10, 5, func(i int) []byte { return []byte(`{}`) })
	var logs logbuf.Buffer
	rec := newRecorder()
	c := newConsumer(t, brokers, "grec", consumer.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	poll.Until(t, 20*time.Second, "first records", func() bool { return rec.total() >= 10 })
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.DeleteTopics(context.Background(), topic); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(context.Background(), 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	// The errors begin once the client sees the topic's new id; over six
	// seconds a poll loop without backoff logs thousands of lines.
	poll.Until(t, 15*time.Second, "the first fetch error", func() bool { return strings.Contains(logs.String(), "fetch error") })
	if poll.Check(6*time.Second, func() bool { return strings.Count(logs.String(), "fetch error") > 4 }) {
		t.Errorf("fetch errors logged %d times in six seconds:\n%s", strings.Count(logs.String(), "fetch error"), logs.String()[:min(2000, len(logs.String()))])
	}
}
