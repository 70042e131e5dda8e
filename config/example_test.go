package config_test

import (
	"fmt"
	"os"

	"github.com/cxone-bridge/bridge/config"
)

// A program that runs the bridge in process (the demo, the benchmark, a
// test) builds its configuration from values instead of writing
// bridge.yaml: New applies the defaults and the checks Load applies.
func ExampleNew() {
	cfg, err := config.New(config.Config{
		Kafka:    config.Kafka{Brokers: []string{"127.0.0.1:9092"}, GroupID: "demo"},
		Consumer: config.Consumer{MaxInFlight: 32},
		CXone: config.CXone{
			BaseURL:           "http://127.0.0.1:8089",
			AllowInsecureHTTP: true,
			Auth:              config.Auth{ClientID: "demo-client", ClientSecret: "demo-secret"},
		},
		Routes: []config.Route{{Topic: "orders", EventType: "OrderCreated", BusinessKey: "/orderId"}},
	}, os.TempDir())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Consumer.MaxBuffered, cfg.Consumer.RevokeDrainTimeout, cfg.CXone.Auth.TokenURL, cfg.DLQTopic("orders"))
	fmt.Println(cfg.CXone.Auth.ClientSecret)

	// Problems are reported as Load reports them, at bridge.yaml's paths.
	_, err = config.New(config.Config{Routes: []config.Route{{Topic: "orders", EventType: "OrderCreated"}}}, os.TempDir(), config.WithoutCredentials())
	fmt.Println(err)
	// Output:
	// 128 20s http://127.0.0.1:8089/oauth/token orders.dlq
	// [redacted]
	// config: 2 problems
	//   kafka.brokers: at least one broker (host:port) is required
	//   routes[0].business_key: is required: a JSON pointer such as /orderId (or business_key_expr)
}
