// Package pipeline joins the stages: [Handler] is the consumer's
// [consumer.Handler] that turns a Kafka record into a CXone event (package
// transform, with package registry for records in a schema registry's
// wire format) and publishes it (package sink), and maps every failure
// onto its class (docs/reliability.md):
// invalid and rejected records are dead-lettered, and so are persistent
// failures (an event CXone kept failing while it accepted others);
// transient and systemic failures (a schema registry that cannot answer
// is one) are returned so the consumer retries the record later. [Bridge] is the whole of it wired from a configuration
// ([New]): consumer → transform → sink, with the sink's circuit breaker
// pausing and resuming the consumer.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/redact"
	"github.com/cxone-bridge/bridge/registry"
	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/transform"
)

// Publisher is what the pipeline needs of the sink: [sink.Publisher]
// implements it.
type Publisher interface {
	Publish(ctx context.Context, ev *sink.Event) (sink.Result, error)
}

// Handler implements [consumer.Handler].
type Handler struct {
	Transformer *transform.Transformer
	Publisher   Publisher
	// Logger receives the lines about records; nil discards them.
	Logger *slog.Logger
	// OnPublished, when set, is called after CXone accepted an event.
	OnPublished func(rec *kgo.Record, ev *transform.Event, res sink.Result)
	// OnSkipped, when set, is called for a record deliberately skipped:
	// reason is [transform.ReasonTombstone] or [transform.ReasonFiltered].
	OnSkipped func(rec *kgo.Record, reason string)
	// IncludeResponse keeps the excerpt of CXone's answer (already scrubbed
	// and bounded by the sink) in a rejected record's DLQ envelope
	// (dlq.include_response); without it the envelope has the status only.
	// The envelope's message (the sink's error) is scrubbed either way.
	IncludeResponse bool

	// registryDown, when set, is true while the schema registry cannot
	// answer (the last record that needed it failed so); [Bridge.Ready]
	// reads it.
	registryDown *atomic.Bool
}

var _ consumer.Handler = (*Handler)(nil)

// Handle transforms and publishes one record; see the package
// documentation for the outcome of each failure.
func (h *Handler) Handle(ctx context.Context, rec *kgo.Record) (consumer.Outcome, error) {
	tr := Record(rec)
	ev, err := h.Transformer.TransformContext(ctx, &tr)
	if h.registryDown != nil {
		h.registryDown.Store(errors.Is(err, registry.ErrUnavailable))
	}
	if err != nil {
		// errors.As only on this path: its targets would cost two
		// allocations per record on the good path too.
		var ie *transform.InvalidError
		var skip *transform.SkipError
		switch {
		case errors.As(err, &skip):
			h.log().Debug("record skipped ("+skip.Reason+")", attrs(rec, skip.CorrelationID)...)
			if h.OnSkipped != nil {
				h.OnSkipped(rec, skip.Reason)
			}
			return consumer.Outcome{}, nil
		case errors.As(err, &ie):
			return consumer.Outcome{DLQ: &dlq.Failure{
				Class: dlq.ClassInvalid, Reason: ie.Reason, Message: ie.Detail, CorrelationID: ie.CorrelationID, IdempotencyKey: ie.IdempotencyKey,
			}}, nil
		default:
			return consumer.Outcome{}, fmt.Errorf("transform: %w", err)
		}
	}
	if ev.CorrelationNote != "" {
		h.log().Warn("correlation header not used: "+ev.CorrelationNote, attrs(rec, ev.CorrelationID)...)
	}
	res, err := h.Publisher.Publish(ctx, &sink.Event{
		IdempotencyKey: ev.IdempotencyKey, CorrelationID: ev.CorrelationID, Traceparent: ev.Traceparent, Body: ev.Body,
		Log: (*recordPosition)(rec),
	})
	if err == nil {
		if h.OnPublished != nil {
			h.OnPublished(rec, ev, res)
		}
		if l := h.log(); l.Enabled(ctx, slog.LevelDebug) { // the attributes cost allocations per event
			l.Debug("event published", append(attrs(rec, ev.CorrelationID), "event_id", res.ID, "status", res.Status, "duplicate", res.Duplicate)...)
		}
		return consumer.Outcome{}, nil
	}
	var se *sink.Error
	if errors.As(err, &se) && se.Class == sink.ClassPersistent {
		// CXone kept failing this event while it answered others: its
		// failures are its own (the persistent failure rule). Park it with
		// its last status and every attempt made since its first failure.
		msg := h.redact(err.Error(), dlq.MaxMessageBytes)
		h.log().Warn("event given up on: CXone keeps failing it while accepting others", append(attrs(rec, ev.CorrelationID),
			"status", se.Status, "attempts", se.Attempts, "err", msg)...)
		return consumer.Outcome{DLQ: &dlq.Failure{
			Class: dlq.ClassRejected, Reason: dlq.ReasonPersistentFailure, Message: msg, HTTPStatus: se.Status, Response: h.response(se),
			Attempts: se.Attempts, CorrelationID: ev.CorrelationID, IdempotencyKey: ev.IdempotencyKey,
		}}, nil
	}
	if errors.As(err, &se) && se.Class == sink.ClassRejected {
		reason := "invalid_event"
		if se.Status != 0 {
			reason = "http_" + strconv.Itoa(se.Status)
		}
		msg := h.redact(err.Error(), dlq.MaxMessageBytes)
		h.log().Warn("event rejected by CXone", append(attrs(rec, ev.CorrelationID), "status", se.Status, "err", msg)...)
		return consumer.Outcome{DLQ: &dlq.Failure{
			Class: dlq.ClassRejected, Reason: reason, Message: msg, HTTPStatus: se.Status, Response: h.response(se),
			Attempts: se.Attempts, CorrelationID: ev.CorrelationID, IdempotencyKey: ev.IdempotencyKey,
		}}, nil
	}
	return consumer.Outcome{}, &consumer.CorrelatedError{Err: err, ID: ev.CorrelationID}
}

// response is what the DLQ envelope keeps of CXone's answer: nothing
// unless [Handler.IncludeResponse], else the sink's excerpt (scrubbed and bounded by
// the sink, and once more here).
func (h *Handler) response(se *sink.Error) string {
	if !h.IncludeResponse {
		return ""
	}
	return h.redact(se.Excerpt, dlq.MaxResponseBytes)
}

// Redactor is implemented by [*sink.Publisher]: its Redact scrubs a text
// of the credentials it knows (package redact).
type Redactor interface {
	Redact(text string, limit int) string
}

// redact scrubs text that came from CXone's answers before the envelope
// or a log line keeps it: the sink's errors are already scrubbed, this is
// the second line of defence. A [Publisher] that is not a [Redactor] gets
// the rules of package redact (credential fields, Authorization values).
func (h *Handler) redact(text string, limit int) string {
	if r, ok := h.Publisher.(Redactor); ok {
		return r.Redact(text, limit)
	}
	return (*redact.Scrubber)(nil).ScrubString(text, limit)
}

// discard is the logger of a nil Logger ([Handler.Logger], [New]'s log).
var discard = slog.New(slog.DiscardHandler)

func (h *Handler) log() *slog.Logger {
	if h.Logger == nil {
		return discard
	}
	return h.Logger
}

// recordPosition logs as the record's topic, partition and offset, inlined
// (an attribute with an empty key and a group value). Being a LogValuer,
// it costs nothing until a line is actually written: the sink logs about
// an event only when something goes wrong.
type recordPosition kgo.Record

// LogValue implements [slog.LogValuer].
func (r *recordPosition) LogValue() slog.Value {
	return slog.GroupValue(slog.String("topic", r.Topic), slog.Int("partition", int(r.Partition)), slog.Int64("offset", r.Offset))
}

func attrs(rec *kgo.Record, correlationID string) []any {
	a := []any{"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset}
	if correlationID != "" {
		a = append(a, "correlation_id", correlationID)
	}
	return a
}

// Record converts a franz-go record ([kgo.Record]) to the transform's view
// of it ([transform.Record]).
func Record(rec *kgo.Record) transform.Record {
	r := transform.Record{
		Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset,
		Key: rec.Key, Value: rec.Value, Timestamp: rec.Timestamp,
	}
	if len(rec.Headers) > 0 {
		r.Headers = make([]transform.Header, len(rec.Headers))
		for i, h := range rec.Headers {
			r.Headers[i] = transform.Header{Key: h.Key, Value: h.Value}
		}
	}
	return r
}
