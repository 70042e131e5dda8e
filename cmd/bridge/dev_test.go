package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/poll"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

// TestLocalSetup runs the README's "Try it on one machine" as written:
// `bridge dev`, then `bridge run --config bridge.local.yaml` (the shipped
// file, from the repository's root), then one order produced to
// 127.0.0.1:9092, which must reach the test server. It is skipped when
// the fixed ports are taken on this machine.
func TestLocalSetup(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:9092", "127.0.0.1:8089", "127.0.0.1:9090"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("%s is taken on this machine (%v): the local setup uses fixed ports", addr, err)
		}
		l.Close()
	}
	dev := tc.StartProcess(t, bridgeBin, []string{"dev"}, nil)
	dev.WaitLog("cxone sim listening on http://127.0.0.1:8089", 30*time.Second)
	run := tc.StartProcess(t, bridgeBin, []string{"run", "--config", "../../bridge.local.yaml"}, nil)
	run.WaitLog("partitions assigned", 60*time.Second)

	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:9092"), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte("ORD-1234567890"), Value: []byte(tutorialOrderValue)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	accepted := func() int64 {
		resp, err := http.Get("http://127.0.0.1:8089/_sim/stats")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		var st struct {
			Accepted int64 `json:"accepted"`
		}
		if json.NewDecoder(resp.Body).Decode(&st) != nil {
			return -1
		}
		return st.Accepted
	}
	if !poll.Check(30*time.Second, func() bool { return accepted() == 1 }) {
		t.Fatalf("the order did not reach the test server (accepted %d); bridge log:\n%s", accepted(), tail(run.Logs(), 15))
	}
}

const tutorialOrderValue = `{"orderId":"ORD-1234567890","customerId":"CUST-998877","totalAmount":150.75,"currency":"USD","timestamp":"2026-11-27T10:00:00.000Z"}`
