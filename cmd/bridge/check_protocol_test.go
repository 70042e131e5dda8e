package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// TestCheckGroupProtocol: with kafka.group_protocol: consumer, check says
// whether the brokers serve KIP-848: PASS on brokers that do, FAIL naming
// the fallback on brokers of Kafka 3.9, which do not. With classic there
// is no such line.
func TestCheckGroupProtocol(t *testing.T) {
	srv := cxonetest.NewServer()
	t.Cleanup(srv.Close)
	old, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "orders", "orders.dlq"), kfake.MaxVersions(kversion.V3_9_0()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(old.Close)
	for _, tc := range []struct {
		name, broker, protocol, want string
	}{
		{"consumer on Kafka 4", cluster(t, "orders", "orders.dlq"), "consumer", "PASS group protocol: the brokers serve kafka.group_protocol: consumer (KIP-848)"},
		{"consumer on Kafka 3.9", old.ListenAddrs()[0], "consumer", "FAIL group protocol: the brokers do not serve kafka.group_protocol: consumer (KIP-848 needs Kafka 4.0+ with the consumer protocol enabled); the bridge would fall back to the classic protocol with the eager sticky balancer: set classic"},
		{"classic", cluster(t, "orders", "orders.dlq"), "classic", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := checkEnv(t, tc.broker, srv.URL, cxonetest.DefaultClientSecret)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			yaml := strings.Replace(string(data), "kafka: {", "kafka: {group_protocol: "+tc.protocol+", ", 1)
			if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			lines, _ := doCheck(t, path, 5*time.Second)
			var got string
			for _, l := range lines {
				if strings.Contains(l, "group protocol") {
					got = l
				}
			}
			if got != tc.want {
				t.Errorf("group protocol line %q, want %q\n%s", got, tc.want, strings.Join(lines, "\n"))
			}
		})
	}
}
