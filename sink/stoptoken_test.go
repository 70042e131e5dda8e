package sink_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/poll"
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

// The wait that StopWaiting ends is a caller's, not a background call's: a
// token fetch waiting for the token URL's discovery (a slow issuer) must
// go on. It was ended too, and its ErrStopped came back scrubbed into a
// token endpoint failure: the Observer was told the endpoint failed, and a
// publish that picked up the fetch's result got a systemic error, counted
// by the breaker and the persistent-failure rule, during a shutdown. (From
// a review.)
func TestStopWaitingDuringDiscoveryIsNotATokenFailure(t *testing.T) {
	discovering := make(chan struct{}, 1)
	release := make(chan struct{})
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case sink.OpenIDConfigPath:
			select {
			case discovering <- struct{}{}:
			default:
			}
			select { // a slow issuer
			case <-release:
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, `{"issuer":"`+srvURL+`","token_endpoint":"`+srvURL+`/oauth/token"}`)
		case "/oauth/token":
			answerToken(w, r)
		default:
			w.WriteHeader(202)
			io.WriteString(w, `{"id":"x"}`)
		}
	}))
	defer srv.Close()
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce()
	srvURL = srv.URL
	obs := &tokenErrors{}
	cfg := testConfig(srv.URL)
	cfg.Issuer = srv.URL
	cfg.AllowInsecureHTTP = true
	cfg.RequestTimeout = 20 * time.Second
	cfg.Observer = obs
	p := newPublisher(t, cfg)

	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
		}()
	}
	select {
	case <-discovering:
	case <-time.After(10 * time.Second):
		t.Fatal("no discovery")
	}
	p.StopWaiting()
	ended := make(chan struct{})
	go func() { wg.Wait(); close(ended) }()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("publishes still waiting 5s after StopWaiting")
	}
	for _, err := range errs {
		if !errors.Is(err, sink.ErrStopped) {
			t.Errorf("publish ended with %v (systemic: %v), want ErrStopped", err, errors.Is(err, sink.ErrSystemic))
		}
	}
	// The issuer answers: the background fetch, which went on, gets a
	// token; nothing told the Observer of a failure meanwhile.
	releaseOnce()
	poll.Until(t, 10*time.Second, "the background token fetch done", func() bool {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		return len(obs.errs) > 0
	})
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, err := range obs.errs {
		if err != nil {
			t.Errorf("the Observer was told of a token fetch failure: %v", err)
		}
	}
	if st := p.BreakerState(); st != sink.BreakerClosed {
		t.Errorf("breaker %v after a shutdown during discovery", st)
	}
}
