package sink_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// TestErrorPrefixOnce: an error of Publish says "sink: " once, also when
// it wraps another of the package's errors (an invalid event, the last
// failure of an abandoned publish, StopWaiting).
func TestErrorPrefixOnce(t *testing.T) {
	srv := newServer(t, cxonetest.WithFaults(cxonetest.Faults{ForceStatus: 503, ForceCount: 1000}))
	cfg := testConfig(srv.URL)
	cfg.Retry.BaseDelay, cfg.Retry.MaxDelay = time.Hour, time.Hour
	cfg.Retry.MaxElapsed = -1
	w := newRetryWatch("http_503")
	cfg.Observer = w
	p := newPublisher(t, cfg)

	_, invalid := p.Publish(context.Background(), &sink.Event{IdempotencyKey: "k", CorrelationID: "c"})
	if !errors.Is(invalid, sink.ErrInvalidEvent) || !errors.Is(invalid, sink.ErrRejected) || invalid.Error() != "sink: rejected: invalid event: empty body" {
		t.Errorf("invalid event: %v", invalid)
	}

	// The first try fails (503), and the backoff of an hour is cut short.
	go func() {
		<-w.seen("http_503")
		p.StopWaiting()
	}()
	_, stopped := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
	want := "sink: publish abandoned after 1 attempt(s), last failure transient: HTTP 503 after 1 attempt(s): "
	if !errors.Is(stopped, sink.ErrStopped) || errors.Is(stopped, sink.ErrTransient) ||
		!strings.HasPrefix(stopped.Error(), want) || !strings.HasSuffix(stopped.Error(), ": stopped waiting: shutting down") {
		t.Errorf("stopped: %v", stopped)
	}
	for _, err := range []error{invalid, stopped} {
		if n := strings.Count(err.Error(), "sink: "); n != 1 {
			t.Errorf(`%q says "sink: " %d times`, err, n)
		}
	}
}
