package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
	"github.com/cxone-bridge/bridge/transform"
)

// handlerFor builds a Handler whose Publisher is pub (nil: a real sink
// Publisher for srv).
func handlerFor(t *testing.T, srv *cxonetest.Server, pub pipeline.Publisher, include bool, log *slog.Logger) *pipeline.Handler {
	t.Helper()
	dir := t.TempDir()
	schema, err := os.ReadFile("../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "order.json"), schema, 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`kafka: {brokers: ["127.0.0.1:1"], group_id: g}
cxone: {base_url: %s, allow_insecure_http: true, auth: {client_id: %s, client_secret: %s}}
routes: [{topic: orders, event_type: OrderCreated, schema: order.json, business_key: /orderId}]
`, srv.URL, cxonetest.DefaultClientID, cxonetest.DefaultClientSecret)
	cfg, err := config.Parse([]byte(yaml), dir)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := transform.New(cfg.TransformConfig())
	if err != nil {
		t.Fatal(err)
	}
	if pub == nil {
		sc := cfg.SinkConfig()
		sc.Logger = log
		p, err := sink.New(sc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		pub = p
	}
	return &pipeline.Handler{Transformer: tr, Publisher: pub, Logger: log, IncludeResponse: include}
}

// TestRejectedEnvelope: CXone answers 400 with a 1 MiB body echoing the
// request, bearer token included. The rejected record's DLQ envelope has
// no response excerpt by default and, with IncludeResponse, the scrubbed
// and bounded one; no header of the DLQ record and no log line holds the
// token.
func TestRejectedEnvelope(t *testing.T) {
	srv := cxonetest.NewServer()
	t.Cleanup(srv.Close)
	for _, include := range []bool{false, true} {
		t.Run(fmt.Sprintf("include_response=%v", include), func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			h := handlerFor(t, srv, nil, include, log)
			if err := srv.SetFaults(cxonetest.Faults{ForceStatus: 400, ForceCount: 1, EchoRequests: true, ErrorBodyBytes: 1 << 20}); err != nil {
				t.Fatal(err)
			}
			rec := &kgo.Record{Topic: "orders", Partition: 0, Offset: 7, Value: []byte(valid(7)), Timestamp: time.Now()}
			out, err := h.Handle(context.Background(), rec)
			if err != nil || out.DLQ == nil {
				t.Fatalf("outcome %+v, %v", out, err)
			}
			f := out.DLQ
			if f.Class != dlq.ClassRejected || f.Reason != "http_400" || f.HTTPStatus != 400 || f.Message == "" {
				t.Errorf("failure %+v", f)
			}
			switch {
			case !include && f.Response != "":
				t.Errorf("response kept without include_response: %q", f.Response)
			case include && (!strings.Contains(f.Response, `"Authorization":["Bearer [redacted]"]`) || len(f.Response) > dlq.MaxResponseBytes):
				t.Errorf("response not the scrubbed, bounded excerpt (%d bytes): %.500s", len(f.Response), f.Response)
			}
			tokens := srv.IssuedTokens()
			if len(tokens) == 0 {
				t.Fatal("no token issued")
			}
			dr := dlq.NewRecord(rec, "orders.dlq", f, time.Now())
			var headers strings.Builder
			for _, hd := range dr.Headers {
				fmt.Fprintf(&headers, "%s: %s\n", hd.Key, hd.Value)
				if len(hd.Value) > dlq.MaxResponseBytes {
					t.Errorf("header %s is %d bytes", hd.Key, len(hd.Value))
				}
			}
			for what, text := range map[string]string{"DLQ headers": headers.String(), "logs": logs.String()} {
				for _, tok := range tokens {
					if strings.Contains(text, tok) {
						t.Errorf("%s contain the token:\n%.2000s", what, text)
					}
				}
			}
			if !strings.Contains(logs.String(), "event rejected by CXone") {
				t.Errorf("rejection not logged:\n%s", logs.String())
			}
		})
	}
}

// leakyPublisher stands for a Publisher that does not scrub: the handler
// still applies the rules of package redact to what it keeps.
type leakyPublisher struct{}

func (leakyPublisher) Publish(context.Context, *sink.Event) (sink.Result, error) {
	const echo = `{"headers":{"Authorization":["Bearer leaked-token-0123456789"]},"form":"password=leaked-pass&x=1"}`
	return sink.Result{}, &sink.Error{Class: sink.ClassRejected, Status: 400, Excerpt: echo, Attempts: 1}
}

func TestRejectedEnvelopeDefenceInDepth(t *testing.T) {
	srv := cxonetest.NewServer()
	t.Cleanup(srv.Close)
	var logs bytes.Buffer
	h := handlerFor(t, srv, leakyPublisher{}, true, slog.New(slog.NewJSONHandler(&logs, nil)))
	out, err := h.Handle(context.Background(), &kgo.Record{Topic: "orders", Value: []byte(valid(1))})
	if err != nil || out.DLQ == nil {
		t.Fatalf("outcome %+v, %v", out, err)
	}
	for what, text := range map[string]string{"message": out.DLQ.Message, "response": out.DLQ.Response, "logs": logs.String()} {
		if strings.Contains(text, "leaked-token-0123456789") || strings.Contains(text, "leaked-pass") {
			t.Errorf("%s: %s", what, text)
		}
	}
	if !strings.Contains(out.DLQ.Response, "Bearer [redacted]") {
		t.Errorf("response %q", out.DLQ.Response)
	}
}
