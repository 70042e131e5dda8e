package sink_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/sink"
)

// A token endpoint that rate-limits (429) was taken for "rate limited by
// CXone": the breaker ignored it although no cooldown was set, so every
// record retry asked for a token again. Like its 503, it must open the
// breaker (one token request per open_timeout from then on).
func TestTokenEndpoint429OpensBreaker(t *testing.T) {
	for _, status := range []int{503, 429} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			var tokenReqs atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/oauth/token" {
					tokenReqs.Add(1)
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Retry-After", "30")
					w.WriteHeader(status)
					w.Write([]byte(`{"error":"slow_down"}`))
					return
				}
				w.WriteHeader(200)
				w.Write([]byte(`{"id":"x"}`))
			}))
			defer srv.Close()
			cfg := testConfig(srv.URL)
			cfg.AllowInsecureHTTP = true
			cfg.Breaker = sink.BreakerConfig{FailuresToOpen: 3, OpenTimeout: time.Hour}
			rec := &stateRecorder{}
			cfg.OnBreakerState = rec.record
			p := newPublisher(t, cfg)
			for i := 0; i < 50; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				_, err := p.Publish(ctx, orderEvent(uniqueKey(), "c"))
				cancel()
				if err == nil {
					t.Fatal("accepted without a token")
				}
			}
			if n := tokenReqs.Load(); n > 10 {
				t.Errorf("%d token requests for 50 events, want the breaker to stop asking (at most 10)", n)
			}
			if p.BreakerState() != sink.BreakerOpen {
				t.Errorf("token endpoint answering %d to every request: breaker %s after 50 distinct events (FailuresToOpen 3); %d token requests, Retry-After ignored",
					status, p.BreakerState(), tokenReqs.Load())
			}
		})
	}
}
