package testcontainers_test

import (
	"testing"

	"github.com/cxone-bridge/bridge/testcontainers"
)

// TestParseGroupDescribe reads ConsumerGroupCommand --describe output as
// Kafka 4.1 prints it (no Kafka needed).
func TestParseGroupDescribe(t *testing.T) {
	out := `
Consumer group 'bridge' has no active members.

GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID
bridge          orders          1          120             125             5               -               -               -
bridge          orders          0          60              60              0               -               -               -
bridge          orders.dlq      0          -               7               -               -               -               -
`
	g, err := testcontainers.ParseGroupDescribe(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Partitions) != 3 {
		t.Fatalf("%d rows, want 3: %+v", len(g.Partitions), g.Partitions)
	}
	if p := g.Partitions[0]; p.Topic != "orders" || p.Partition != 0 || p.CurrentOffset != 60 || p.LogEndOffset != 60 || p.Lag != 0 || p.ConsumerID != "-" || p.Group != "bridge" {
		t.Errorf("first row (sorted) %+v", p)
	}
	if p := g.Partitions[2]; p.Topic != "orders.dlq" || p.CurrentOffset != -1 || p.Lag != -1 || p.LogEndOffset != 7 {
		t.Errorf("row without a committed offset %+v", p)
	}
	if got := g.Total(); got != 5+7 {
		t.Errorf("Total %d, want 12 (lag 5, plus 7 never committed)", got)
	}
	if got := g.ByPartition()["orders"][1]; got != 5 {
		t.Errorf("ByPartition orders/1 = %d, want 5", got)
	}

	active := `
GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID                              HOST            CLIENT-ID
g1              t               0          60              60              0               kgo-524da305-6b04-4040-a2d1-9bdcf970a1f8 /127.0.0.1      kgo
`
	g, err = testcontainers.ParseGroupDescribe(active)
	if err != nil {
		t.Fatal(err)
	}
	if p := g.Partitions[0]; p.Host != "/127.0.0.1" || p.ClientID != "kgo" || p.ConsumerID == "-" || g.Total() != 0 {
		t.Errorf("row with a member %+v", p)
	}

	for _, bad := range []string{"", "Error: Consumer group 'x' does not exist.\n", "GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG\ng t x 1 1 0\n"} {
		if _, err := testcontainers.ParseGroupDescribe(bad); err == nil {
			t.Errorf("ParseGroupDescribe(%q): no error", bad)
		}
	}
}
