package sink_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/sink"
)

// StopWaiting ends every wait of a Publish: the breaker, the cooldown, a
// backoff, and also the wait for a token fetch. A publish waiting on a
// slow token endpoint (up to request_timeout) held the shutdown's drain
// that long; it now ends at once with ErrStopped (the fetch goes on for
// whoever asks next).
func TestStopWaitingEndsWaitForToken(t *testing.T) {
	fetching := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth/token" {
			select {
			case fetching <- struct{}{}:
			default:
			}
			select { // a token endpoint that does not answer
			case <-release:
			case <-r.Context().Done():
			}
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(202)
		w.Write([]byte(`{"id":"x"}`))
	}))
	defer srv.Close()
	defer close(release)
	cfg := testConfig(srv.URL)
	cfg.AllowInsecureHTTP = true
	cfg.RequestTimeout = 20 * time.Second
	p := newPublisher(t, cfg)

	done := make(chan error, 1)
	go func() {
		_, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
		done <- err
	}()
	select {
	case <-fetching:
	case <-time.After(10 * time.Second):
		t.Fatal("no token fetch")
	}
	stopped := time.Now()
	p.StopWaiting()
	select {
	case err := <-done:
		t.Logf("publish ended %v after StopWaiting: %v", time.Since(stopped).Round(time.Millisecond), err)
		if !errors.Is(err, sink.ErrStopped) {
			t.Fatalf("publish ended with %v, want ErrStopped", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publish still waiting for the token 5s after StopWaiting (request_timeout 20s)")
	}
}
