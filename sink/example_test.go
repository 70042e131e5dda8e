package sink_test

import (
	"context"
	"fmt"
	"time"

	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// A Publisher is built once and shared by every worker. Here it publishes
// one event to a test server (package cxonetest) standing in for CXone:
// the first Publish fetches the token, then posts the event.
func ExampleNew() {
	srv := cxonetest.NewServer()
	defer srv.Close()

	states := make(chan sink.BreakerState, 16)
	p, err := sink.New(sink.Config{
		BaseURL:      srv.URL,
		ClientID:     cxonetest.DefaultClientID,
		ClientSecret: cxonetest.DefaultClientSecret,
		OnBreakerState: func(from, to sink.BreakerState) {
			select { // called under the breaker's lock: never block
			case states <- to:
			default:
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()

	now := time.Now().UTC().Format(time.RFC3339)
	body := `{"eventType":"order.created",` +
		`"attributes":{"orderId":"o-1","_correlationId":"corr-1","_publishedAt":"` + now + `"},` +
		`"timestamp":"` + now + `"}`
	res, err := p.Publish(context.Background(), &sink.Event{
		IdempotencyKey: "order-o-1",
		CorrelationID:  "corr-1",
		Body:           []byte(body),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("status:", res.Status, "attempts:", res.Attempts, "duplicate:", res.Duplicate, "id:", res.ID != "")
	fmt.Println("breaker:", p.BreakerState())
	// Output:
	// status: 202 attempts: 1 duplicate: false id: true
	// breaker: closed
}
