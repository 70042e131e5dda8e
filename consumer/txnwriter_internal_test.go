package consumer

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDeadLetterProducerRefreshesMetadataSoon guards the dead-letter
// producer's MetadataMinAge: a produce answered with CONCURRENT_TRANSACTIONS
// (the previous transaction's markers not yet written on that partition)
// is sent again only after a metadata refresh, and with the client's
// default of one refresh per 5s, exactly-once dead letters stood still for
// up to 5s every 5s on real Kafka (TestDeadLetterCost in e2e shows the
// effect: commits standing still for more than 3s).
func TestDeadLetterProducerRefreshesMetadataSoon(t *testing.T) {
	w, err := newTxnWriter("group", []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")})
	if err != nil {
		t.Fatal(err)
	}
	defer w.cl.Close()
	got, ok := w.cl.OptValue(kgo.MetadataMinAge).(time.Duration)
	if !ok || got > 250*time.Millisecond {
		t.Errorf("dead-letter producer's MetadataMinAge = %v, want at most 250ms", w.cl.OptValue(kgo.MetadataMinAge))
	}
	if id := w.cl.OptValue(kgo.TransactionalID); id != w.id {
		t.Errorf("transactional id %v, want %s", id, w.id)
	}
}
