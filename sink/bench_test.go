package sink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// BenchmarkSinkVsBare publishes through the sink to the test server (0 ms
// latency) with 64 concurrent callers and, in the same run, posts the same
// bodies with a bare net/http loop at the same concurrency. The phases are
// interleaved (bare, sink, bare, sink, ...) to spread drift evenly. It reports
// sink-ns/op and bare-ns/op (wall time per event), and sink/bare, the sink's
// throughput relative to the bare loop (target ≥ 0.85).
func BenchmarkSinkVsBare(b *testing.B) {
	const concurrency = 64
	srv := newServer(b, cxonetest.WithRecordLimit(1000))
	cfg := testConfig(srv.URL)
	cfg.MaxInFlight = concurrency
	p := newPublisher(b, cfg)

	body := []byte(orderEvent("x", "bench-correlation").Body)
	var seq atomic.Int64
	nextKey := func(prefix string) string { return fmt.Sprintf("%s-%d", prefix, seq.Add(1)) }

	// The bare loop: same pool size, same headers, its own token.
	tr := &http.Transport{MaxIdleConns: concurrency + 8, MaxIdleConnsPerHost: concurrency, IdleConnTimeout: 90 * time.Second}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	b.Cleanup(tr.CloseIdleConnections)
	token := benchToken(b, hc, srv.URL)
	eventsURL := srv.URL + cxonetest.EventsPath
	bare := func() error {
		req, err := http.NewRequest(http.MethodPost, eventsURL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Idempotency-Key", nextKey("bare"))
		req.Header.Set("X-Correlation-Id", "bench-correlation")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	viaSink := func() error {
		_, err := p.Publish(context.Background(), &sink.Event{
			IdempotencyKey: nextKey("sink"), CorrelationID: "bench-correlation", Body: body})
		return err
	}

	// run sends n events with f from `concurrency` goroutines.
	run := func(n int, f func() error) time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		var firstErr atomic.Value
		start := time.Now()
		for range concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					if err := f(); err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err, _ := firstErr.Load().(error); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}

	// Warm both pools.
	run(concurrency, bare)
	run(concurrency, viaSink)
	b.ResetTimer()
	// Alternate in rounds so that a load spike elsewhere on the machine
	// hits both sides alike.
	var bareDur, sinkDur time.Duration
	rounds := max(1, min(10, b.N/(4*concurrency)))
	for r := range rounds {
		n := b.N/rounds + btoi(r < b.N%rounds)
		bareDur += run(n, bare)
		sinkDur += run(n, viaSink)
	}
	b.StopTimer()

	n := float64(b.N)
	b.ReportMetric(float64(sinkDur.Nanoseconds())/n, "sink-ns/op")
	b.ReportMetric(float64(bareDur.Nanoseconds())/n, "bare-ns/op")
	b.ReportMetric(bareDur.Seconds()/sinkDur.Seconds(), "sink/bare")
}

func benchToken(b *testing.B, hc *http.Client, base string) string {
	b.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {cxonetest.WriteScope}}
	req, _ := http.NewRequest(http.MethodPost, base+cxonetest.TokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(cxonetest.DefaultClientID, cxonetest.DefaultClientSecret)
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		b.Fatalf("token: %v", err)
	}
	return tok.AccessToken
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
