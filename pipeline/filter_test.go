package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/transform"
)

// TestFilteredRecordsCommittedAndCounted: records no route's filter takes
// are skipped, committed (the group's lag reaches 0) and reported to the
// OnSkipped hook as filtered (the metrics' outcome label), apart from
// tombstones; the others are published.
func TestFilteredRecordsCommittedAndCounted(t *testing.T) {
	r := newRig(t, "consumer: {commit_interval: 100ms}\n")
	r.cfgYAML = replaceOnce(t, r.cfgYAML, "routes: [{topic: orders, event_type: OrderCreated, business_key: /orderId}]",
		`routes: [{topic: orders, filter: 'value.currency == "EUR"', event_type: OrderCreated, business_key: /orderId}]`)
	cfg, err := config.Parse([]byte(r.cfgYAML), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	skipped := map[string]int{}
	br, err := pipeline.New(cfg, slog.New(slog.DiscardHandler), pipeline.Options{OnSkipped: func(_ *kgo.Record, reason string) {
		mu.Lock()
		skipped[reason]++
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bridge: %v", err)
		}
	})
	var recs []*kgo.Record
	for i := range 20 {
		cur := "USD"
		if i%2 == 0 {
			cur = "EUR"
		}
		v := fmt.Sprintf(`{"orderId":"ORD-%010d","customerId":"C","totalAmount":1.5,"currency":%q,"timestamp":"2026-11-27T10:00:00Z"}`, i, cur)
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i % 5)), Value: []byte(v)})
	}
	recs = append(recs, &kgo.Record{Key: []byte("t")}) // a tombstone
	if err := r.producer.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	r.waitFor(20*time.Second, "10 events and lag 0", func() bool { return len(r.srv.Events()) == 10 && r.lag() == 0 })
	mu.Lock()
	defer mu.Unlock()
	if skipped[transform.ReasonFiltered] != 10 || skipped[transform.ReasonTombstone] != 1 {
		t.Errorf("skipped %v, want 10 filtered and 1 tombstone", skipped)
	}
	if n := len(r.dlqRecords()); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}
