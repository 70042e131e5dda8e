package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/dlqtool"
)

// TestDLQInspectIdempotencyKey: `dlq inspect --show` prints the
// idempotency key a dead letter was sent with when its envelope has one
// (a rejected record), and no idempotency key line at all when it has
// none (an invalid record: the bridge never derived its key, so there is
// none to show), rather than an empty "idempotency key:".
func TestDLQInspectIdempotencyKey(t *testing.T) {
	e := newForgedEnv(t, "", nil)
	now := time.Now()
	src := func(i int) *kgo.Record {
		return &kgo.Record{Topic: "orders", Offset: int64(i), Key: []byte("k"), Value: []byte(`{"i":1}`), Timestamp: now}
	}
	const key = "8bb2fd79-b926-5d35-b05d-6c664ce6f258"
	recs := []*kgo.Record{
		// As the bridge writes them: an invalid record has a correlation
		// id and no key; a rejected one both.
		dlq.NewRecord(src(0), "orders.dlq", &dlq.Failure{Class: dlq.ClassInvalid, Reason: "schema", Message: "bad", CorrelationID: "corr-invalid"}, now),
		dlq.NewRecord(src(1), "orders.dlq", &dlq.Failure{Class: dlq.ClassRejected, Reason: "http_422", Message: "no", HTTPStatus: 422, Attempts: 1,
			CorrelationID: "corr-rejected", IdempotencyKey: key}, now),
		// Written by another tool: a key without a correlation id.
		dlq.NewRecord(src(2), "orders.dlq", &dlq.Failure{Class: dlq.ClassRejected, Reason: "http_400", Message: "no", IdempotencyKey: key}, now),
	}
	for _, r := range recs {
		r.Partition = 0
	}
	e.produce(recs...)

	out, errOut, code := runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--show", "10")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	blocks := strings.Split(out, "\n--- partition ")[1:]
	if len(blocks) != 3 {
		t.Fatalf("%d records shown, want 3:\n%s", len(blocks), out)
	}
	for i, want := range []struct{ line, not string }{
		{"\ncorrelation:  corr-invalid\n", "idempotency key"},
		{"\ncorrelation:  corr-rejected  idempotency key: " + key + "\n", ""},
		{"\nidempotency key: " + key + "\n", "correlation:"},
	} {
		if !strings.Contains(blocks[i], want.line) || want.not != "" && strings.Contains(blocks[i], want.not) {
			t.Errorf("record %d shown as\n%s\nwant the line %q and no %q", i, blocks[i], strings.TrimSpace(want.line), want.not)
		}
	}
	if strings.Contains(out, "idempotency key: \n") || strings.Contains(out, "idempotency key:  ") {
		t.Errorf("an empty idempotency key is shown:\n%s", out)
	}

	// The JSON leaves the key out when there is none.
	out, _, code = runBridge(t, "", "dlq", "inspect", "-c", e.cfg, "--show", "10", "--output", "json")
	var rep struct{ Topics []dlqtool.InspectReport }
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Topics) != 1 || len(rep.Topics[0].Shown) != 3 {
		t.Fatalf("inspect json: exit %d\n%s", code, out)
	}
	for i, want := range []string{"", key, key} {
		if got := rep.Topics[0].Shown[i].Envelope.IdempotencyKey; got != want {
			t.Errorf("record %d: idempotency key %q, want %q", i, got, want)
		}
	}
	if strings.Count(out, `"idempotency_key"`) != 2 {
		t.Errorf("want idempotency_key on the 2 records that have one:\n%s", out)
	}
}
