package pipeline_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/logbuf"
	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/secret"
	"github.com/cxone-bridge/bridge/transform"
)

// unreachable is a configuration whose Kafka and CXone refuse every
// connection: the bridge starts, fails to fetch a token (and logs it), and
// stops.
func unreachable(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.New(config.Config{
		Kafka: config.Kafka{Brokers: []string{"127.0.0.1:1"}},
		CXone: config.CXone{BaseURL: "http://127.0.0.1:1", AllowInsecureHTTP: true,
			Auth: config.Auth{ClientID: "a", ClientSecret: secret.Secret("b")}},
		Routes: []config.Route{{Topic: "orders", EventType: "OrderCreated", BusinessKey: "/orderId"}},
	}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestNilLoggerDiscards: a nil logger means discard, for the bridge and
// its components alike (not slog's default logger, and no panic on the
// first line logged: here the failed token request).
func TestNilLoggerDiscards(t *testing.T) {
	var def logbuf.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&def, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(old)

	br, err := pipeline.New(unreachable(t), nil, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := br.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if s := def.String(); s != "" {
		t.Errorf("a nil logger wrote to slog's default logger:\n%s", s)
	}

	// The handler's own nil Logger, on a line it writes (a skipped
	// tombstone, at debug level).
	tr, err := transform.New(unreachable(t).TransformConfig())
	if err != nil {
		t.Fatal(err)
	}
	h := &pipeline.Handler{Transformer: tr}
	if _, err := h.Handle(context.Background(), &kgo.Record{Topic: "orders"}); err != nil {
		t.Fatalf("tombstone: %v", err)
	}
}
