package consumer_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/consumer"
)

// TestConfigDefaults: the zero Config takes the documented defaults,
// including those computed from other fields.
func TestConfigDefaults(t *testing.T) {
	d := consumer.Config{}.WithDefaults()
	checks := []struct {
		name      string
		got, want any
	}{
		{"GroupID", d.GroupID, "cxone-bridge"},
		{"SessionTimeout", d.SessionTimeout, 45 * time.Second},
		{"RebalanceTimeout", d.RebalanceTimeout, 60 * time.Second},
		{"StartOffset", d.StartOffset, consumer.StartEarliest},
		{"FetchMaxBytes", d.FetchMaxBytes, int32(1 << 20)},
		{"FetchMaxPartitionBytes", d.FetchMaxPartitionBytes, int32(256 << 10)},
		{"FetchMaxWait", d.FetchMaxWait, 100 * time.Millisecond},
		{"Ordering", d.Ordering, consumer.OrderingKey},
		{"MaxInFlight", d.MaxInFlight, 256},
		{"MaxBuffered", d.MaxBuffered, 1024},
		{"MaxInFlightBytes", d.MaxInFlightBytes, int64(64 << 20)},
		{"MaxRecordsAhead", d.MaxRecordsAhead, int64(10000)},
		{"CommitInterval", d.CommitInterval, 5 * time.Second},
		{"CommitTimeout", d.CommitTimeout, 10 * time.Second},
		{"RevokeDrainTimeout", d.RevokeDrainTimeout, 20 * time.Second},
		{"DrainTimeout", d.DrainTimeout, 20 * time.Second},
		{"RetryBackoff", d.RetryBackoff, 500 * time.Millisecond},
		{"RetryBackoffMax", d.RetryBackoffMax, 30 * time.Second},
		{"DLQWriteTimeout", d.DLQWriteTimeout, 30 * time.Second},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if d.Logger == nil || d.Logger.Handler() != slog.DiscardHandler {
		t.Error("the default logger does not discard")
	}
	// The defaults that depend on other fields.
	d = consumer.Config{MaxInFlight: 10, RebalanceTimeout: 30 * time.Second}.WithDefaults()
	if d.MaxBuffered != 40 || d.RevokeDrainTimeout != 15*time.Second {
		t.Errorf("MaxBuffered %d (want 40), RevokeDrainTimeout %v (want 15s)", d.MaxBuffered, d.RevokeDrainTimeout)
	}
	if got := consumer.DefaultRevokeDrainTimeout(10 * time.Minute); got != 20*time.Second {
		t.Errorf("DefaultRevokeDrainTimeout(10m) = %v, want the 20s cap", got)
	}
	// Set values are kept.
	set := consumer.Config{MaxInFlight: 3, MaxBuffered: 5, RevokeDrainTimeout: time.Second, StartOffset: consumer.StartLatest}
	if d := set.WithDefaults(); d.MaxInFlight != 3 || d.MaxBuffered != 5 || d.RevokeDrainTimeout != time.Second || d.StartOffset != consumer.StartLatest {
		t.Errorf("set values changed: %+v", d)
	}
}

// TestConfigClientOptions: New gives the client the Config's group and
// fetch settings; options passed to New override them.
func TestConfigClientOptions(t *testing.T) {
	h := consumer.HandlerFunc(func(context.Context, *kgo.Record) (consumer.Outcome, error) { return consumer.Outcome{}, nil })
	dlq := func(s string) string { return s + ".dlq" }
	c, err := consumer.New(consumer.Config{Topics: []string{"orders"}, DLQTopic: dlq, InstanceID: "replica-1", StartOffset: consumer.StartLatest},
		h, kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Client()
	for name, tc := range map[string]struct {
		opt  any
		want any
	}{
		"group":            {kgo.ConsumerGroup, "cxone-bridge"},
		"instance":         {kgo.InstanceID, "replica-1"},
		"session timeout":  {kgo.SessionTimeout, 45 * time.Second},
		"rebalance":        {kgo.RebalanceTimeout, 60 * time.Second},
		"fetch max bytes":  {kgo.FetchMaxBytes, int32(1 << 20)},
		"fetch partition":  {kgo.FetchMaxPartitionBytes, int32(256 << 10)},
		"fetch max wait":   {kgo.FetchMaxWait, 100 * time.Millisecond},
		"reset to the end": {kgo.ConsumeResetOffset, kgo.NewOffset().AtEnd()},
	} {
		if got := cl.OptValue(tc.opt); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	cl.Close()

	c, err = consumer.New(consumer.Config{Topics: []string{"orders"}, DLQTopic: dlq}, h,
		kgo.SeedBrokers("127.0.0.1:1"), kgo.ConsumerGroup("test-group"), kgo.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if g, w := c.Client().OptValue(kgo.ConsumerGroup), c.Client().OptValue(kgo.FetchMaxWait); g != "test-group" || w != time.Second {
		t.Errorf("options given to New do not override the Config's: group %v, fetch max wait %v", g, w)
	}
	c.Client().Close()

	if _, err := consumer.New(consumer.Config{Topics: []string{"orders"}, DLQTopic: dlq, StartOffset: "middle"}, h); err == nil {
		t.Error("an unknown start offset was accepted")
	}
}
