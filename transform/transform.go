// Package transform turns a Kafka record into a CXone event request, or says
// why it cannot (docs/design.md §1, §4, §6).
//
// For each record the Transformer routes by topic, checks size, UTF-8 and
// nesting, decodes the value, validates it against the route's JSON Schema
// (Draft 2020-12 by default, formats asserted), extracts the event type,
// business key and timestamp, picks the correlation id, derives the
// idempotency key and builds the request body. It knows nothing of Kafka
// clients or HTTP: the consumer hands it a Record, the sink sends the Event.
//
// A Transformer is safe for concurrent use; schemas are compiled once, in New.
package transform

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cxone-bridge/bridge/jsontext"
	"github.com/cxone-bridge/bridge/mapping"
	"github.com/cxone-bridge/bridge/registry"
)

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is the part of a Kafka record the transform needs. Value nil is a
// tombstone; an empty non-nil Value is an (invalid) empty message.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp time.Time
}

// header returns the first header named name (case-insensitive).
func (r *Record) header(name string) ([]byte, bool) {
	for i := range r.Headers {
		if strings.EqualFold(r.Headers[i].Key, name) {
			return r.Headers[i].Value, true
		}
	}
	return nil, false
}

// Route is the mapping of one topic, or of every topic matching a pattern.
type Route struct {
	// Name identifies the route in errors, for example "routes[0]".
	Name string

	// Exactly one of Topic and TopicPattern.
	Topic        string
	TopicPattern string

	// Exactly one of EventType (constant), EventTypeHeader and EventTypeField
	// (a JSON pointer into the value).
	EventType       string
	EventTypeHeader string
	EventTypeField  string

	// SchemaFile is a JSON Schema file; empty means any JSON object passes.
	SchemaFile string

	BusinessKey    string // JSON pointer to a string field; required
	TimestampField string // JSON pointer to an RFC 3339 string; empty: record timestamp
	IdempotencyKey string // template; default [DefaultIdempotencyKey]
	// Format and KeyFormat say how values and keys are written: a
	// [registry.Format] name, default [DefaultFormat] (JSON). Any other
	// needs [Config.Decoder].
	Format        string
	KeyFormat     string
	MaxValueBytes int // default [DefaultMaxValueBytes]
	MaxDepth      int // default [DefaultMaxDepth]
	// TombstonesToDLQ sends null values to the DLQ; by default they are
	// skipped (ErrSkip).
	TombstonesToDLQ bool

	// Expressions in CEL (package mapping), each compiled once by New:
	// Filter (a bool; false skips the record, or lets a later route of
	// the topic take it), Attributes (a map: the event's attributes;
	// empty: the whole value), and EventTypeExpr, BusinessKeyExpr and
	// TimestampExpr as alternatives to the constant, header and pointer
	// forms. CostLimit bounds one evaluation (0: mapping's default).
	Filter          string
	Attributes      string
	EventTypeExpr   string
	BusinessKeyExpr string
	TimestampExpr   string
	CostLimit       uint64
	// ValidateAttributes applies SchemaFile to the attributes (after the
	// Attributes expression) instead of the value.
	ValidateAttributes bool
}

// Defaults of [Route] and [Correlation], which [New] applies to zero (or
// negative) fields; package config applies the same ones to bridge.yaml.
const (
	DefaultIdempotencyKey       = "{eventType}:{businessKey}"
	DefaultMaxValueBytes        = 1 << 20
	DefaultMaxDepth             = 64
	DefaultCorrelationMaxLength = 128
)

// WithDefaults returns r with its zero fields set to their defaults.
func (r Route) WithDefaults() Route {
	r.IdempotencyKey = cmp.Or(r.IdempotencyKey, DefaultIdempotencyKey)
	r.Format = cmp.Or(r.Format, DefaultFormat)
	r.KeyFormat = cmp.Or(r.KeyFormat, DefaultFormat)
	if r.MaxValueBytes <= 0 {
		r.MaxValueBytes = DefaultMaxValueBytes
	}
	if r.MaxDepth <= 0 {
		r.MaxDepth = DefaultMaxDepth
	}
	if r.CostLimit == 0 {
		r.CostLimit = mapping.DefaultCostLimit
	}
	return r
}

// Config is everything New needs.
type Config struct {
	Routes      []Route
	Correlation Correlation
	// Now gives the _publishedAt time; nil means time.Now.
	Now func() time.Time
	// Decoder decodes the routes with a schema registry format; nil when
	// every route reads JSON.
	Decoder Decoder
}

// Event is a record turned into a CXone request: Body is the complete JSON
// body, and the other fields are the values behind its headers.
type Event struct {
	Route          string // Route.Name
	EventType      string
	BusinessKey    string
	IdempotencyKey string
	CorrelationID  string
	// CorrelationSource is the header the id came from, "traceparent", or
	// "derived" when it was derived from topic, partition and offset.
	CorrelationSource string
	// CorrelationNote, when set, says why a correlation header present on
	// the record was not used (it held CR/LF, was too long, ...). Log it.
	CorrelationNote string
	Traceparent     string // valid W3C traceparent to pass on, or ""
	Timestamp       string
	PublishedAt     time.Time
	Body            []byte
}

// Transformer applies routes to records. Build it with New.
type Transformer struct {
	routes []*route
	corr   Correlation
	now    func() time.Time
	dec    Decoder

	byTopic sync.Map // topic -> *route, or noRoute
}

var noRoute = &route{}

type route struct {
	Route
	pattern      *regexp.Regexp
	schema       *jsonschema.Schema
	fast         *fastSchema // nil: the schema is outside the fast subset
	eventField   Pointer
	businessKey  Pointer
	tsField      Pointer
	keyTemplate  KeyTemplate
	maxValue     int
	maxDepth     int
	format       registry.Format
	keyFormat    registry.Format
	name         string // Name, or a description of the route
	x            exprs
	eventTypeStr []byte // constant event type, JSON-encoded
}

// New compiles the routes. A route that cannot work (bad pattern, schema
// file unreadable or not a valid schema, bad pointer or template) is an
// error naming the route and, for schemas, the file and the problem.
func New(cfg Config) (*Transformer, error) {
	t := &Transformer{corr: cfg.Correlation.WithDefaults(), now: cfg.Now, dec: cfg.Decoder}
	if t.now == nil {
		t.now = time.Now
	}
	var problems []error
	for i := range cfg.Routes {
		r, err := compileRoute(cfg.Routes[i], cfg.Decoder)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		t.routes = append(t.routes, r)
	}
	if len(problems) > 0 {
		return nil, &NewError{Problems: problems}
	}
	return t, nil
}

// NewError lists the routes [New] could not compile; errors.As reaches
// each problem (an *ExprError for an expression).
type NewError struct {
	Problems []error
}

func (e *NewError) Error() string {
	var b strings.Builder
	b.WriteString("transform: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems.
func (e *NewError) Unwrap() []error { return e.Problems }

func compileRoute(rt Route, dec Decoder) (*route, error) {
	rt = rt.WithDefaults()
	r := &route{Route: rt, maxValue: rt.MaxValueBytes, maxDepth: rt.MaxDepth}
	name := rt.Name
	if name == "" {
		name = "route " + rt.Topic + rt.TopicPattern
	}
	r.name = name
	if err := r.parseFormats(name, dec); err != nil {
		return nil, err
	}
	if err := r.compileExprs(name); err != nil {
		return nil, err
	}
	var err error
	if rt.TopicPattern != "" {
		if r.pattern, err = regexp.Compile(rt.TopicPattern); err != nil {
			return nil, fmt.Errorf("%s.topic_pattern: %w", name, err)
		}
	}
	if rt.EventType != "" {
		r.eventTypeStr = jsontext.AppendString(nil, rt.EventType)
	}
	if rt.EventTypeField != "" {
		if r.eventField, err = ParsePointer(rt.EventTypeField); err != nil {
			return nil, fmt.Errorf("%s.event_type_field: %w", name, err)
		}
	}
	if rt.BusinessKeyExpr == "" {
		if r.businessKey, err = ParsePointer(rt.BusinessKey); err != nil {
			return nil, fmt.Errorf("%s.business_key: %w", name, err)
		}
	}
	if rt.TimestampField != "" {
		if r.tsField, err = ParsePointer(rt.TimestampField); err != nil {
			return nil, fmt.Errorf("%s.timestamp_field: %w", name, err)
		}
	}
	if r.keyTemplate, err = ParseKeyTemplate(rt.IdempotencyKey); err != nil {
		return nil, fmt.Errorf("%s.idempotency_key: %w", name, err)
	}
	if rt.SchemaFile != "" {
		if r.schema, err = CompileSchema(rt.SchemaFile); err != nil {
			return nil, fmt.Errorf("%s.schema: %w", name, err)
		}
		r.fast = compileFastSchemaFile(rt.SchemaFile)
	}
	return r, nil
}

// CompileSchema compiles a JSON Schema file. Draft 2020-12 applies unless
// the file's $schema names another draft; "format" is asserted (a
// "date-time" of 2024-02-30 fails), as ajv-formats does for the reference
// producer. References are resolved from local files only.
func CompileSchema(file string) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	s, err := c.Compile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, schemaFileError(err))
	}
	return s, nil
}

// schemaFileError says what is wrong with a schema file in terms of the
// file, not of the library's loader: not JSON (where), not a valid JSON
// Schema (the first problems, one line), or the library's own message.
func schemaFileError(err error) error {
	var le *jsonschema.LoadURLError
	var se *json.SyntaxError
	var sve *jsonschema.SchemaValidationError
	switch {
	case errors.As(err, &le) && errors.As(le.Err, &se): // LoadURLError has no Unwrap
		return fmt.Errorf("not JSON: unexpected text at byte %d", se.Offset)
	case errors.As(err, &le) && (errors.Is(le.Err, io.ErrUnexpectedEOF) || errors.Is(le.Err, io.EOF)):
		return errors.New("not JSON: the file ends before its JSON does")
	case errors.As(err, &sve):
		return fmt.Errorf("not a valid JSON Schema: %s", schemaErrorText(sve.Err))
	}
	return err
}

// routesFor finds the routes of a topic, in order, caching the answer per
// topic: the first route without a filter ends the list, since no later
// route can take a record of the topic.
func (t *Transformer) routesFor(topic string) []*route {
	if v, ok := t.byTopic.Load(topic); ok {
		return v.([]*route)
	}
	var found []*route
	for _, r := range t.routes {
		if r.Topic == topic || (r.pattern != nil && r.pattern.MatchString(topic)) {
			found = append(found, r)
			if r.x.filter == nil {
				break
			}
		}
	}
	t.byTopic.Store(topic, found)
	return found
}

// route is the first route of a topic, noRoute when there is none.
func (t *Transformer) route(topic string) *route {
	if rs := t.routesFor(topic); len(rs) > 0 {
		return rs[0]
	}
	return noRoute
}

// Routes reports whether some route matches topic.
func (t *Transformer) Routes(topic string) bool { return t.route(topic) != noRoute }

// Transform is [Transformer.TransformContext] without a deadline for the
// schema registry.
func (t *Transformer) Transform(rec *Record) (*Event, error) {
	return t.TransformContext(context.Background(), rec)
}

// TransformContext turns rec into an Event. It returns ErrSkip for a
// tombstone under the skip policy, and an *InvalidError (errors.Is(err,
// ErrInvalid)) for a record that belongs in the DLQ. A route with a schema
// registry format decodes the value (and key) first, with ctx bounding the
// registry's answers; a registry that cannot answer is the one other
// error, matching [registry.ErrUnavailable]: not the record's fault, retry
// it. It never panics on any input and reads no more of the value than
// the route's size limit allows.
func (t *Transformer) TransformContext(ctx context.Context, rec *Record) (*Event, error) {
	corr := t.corr.correlate(rec)
	ev, ierr, err := t.transform(ctx, rec, &corr)
	if err != nil {
		return nil, err
	}
	if ierr != nil && ierr.Reason == ReasonFiltered {
		return nil, &SkipError{CorrelationID: corr.ownedID(), Reason: ReasonFiltered}
	}
	if ierr != nil {
		ierr.CorrelationID = corr.ownedID()
		return nil, ierr
	}
	if ev == nil {
		return nil, &SkipError{CorrelationID: corr.ownedID(), Reason: ReasonTombstone}
	}
	ev.CorrelationSource, ev.CorrelationNote = corr.source, corr.note
	return ev, nil
}

func (t *Transformer) transform(ctx context.Context, rec *Record, corr *correlation) (*Event, *InvalidError, error) {
	rs := t.routesFor(rec.Topic)
	if len(rs) == 0 {
		return nil, invalid(ReasonNoRoute, "no route matches topic %q", rec.Topic), nil
	}
	if rec.Value == nil {
		// A tombstone has no value to filter on: the first route's policy.
		if rs[0].TombstonesToDLQ {
			return nil, invalid(ReasonTombstone, "null value (tombstone) and the route's tombstones policy is dlq"), nil
		}
		return nil, nil, nil
	}
	// The decoded value's strings are views of the record's value (or of
	// its decoded form): what the Event keeps, finish copies.
	doc := getDoc()
	var act *mapping.Activation // only for routes with expressions
	defer func() {
		if act != nil {
			// The activation's own references to the record go; its JSON
			// writer's scratch may keep stale views until reused, which only
			// keeps one record's buffer alive a little longer (never read).
			clear(act.Headers)
			act.Value, act.Key, act.Headers = nil, nil, act.Headers[:0]
			activations.Put(act)
		}
		doc.release()
	}()
	for _, r := range rs {
		in := rec
		if r.format != registry.FormatJSON || r.keyFormat != registry.FormatJSON {
			decoded, ierr, err := t.decode(ctx, r, rec)
			if ierr != nil || err != nil {
				return nil, ierr, err
			}
			in = decoded
		}
		p, ierr := r.prepare(in, doc)
		if ierr != nil {
			return nil, ierr, nil
		}
		if r.x.any() {
			if act == nil {
				act = activations.Get().(*mapping.Activation)
			}
			activation(act, in, p.doc.value(0), r.x.headers)
		}
		ok, ierr := r.filterHolds(act)
		if ierr != nil {
			return nil, ierr, nil
		}
		if !ok {
			continue
		}
		ev, ierr := t.finish(r, in, p, act, corr)
		return ev, ierr, nil
	}
	return nil, &InvalidError{Reason: ReasonFiltered}, nil // turned into a SkipError by the caller
}

// prepared is a value checked and decoded for a route.
type prepared struct {
	v      []byte
	spaced bool
	doc    *jsonDoc // v decoded, an object; its strings are views of v
}

// prepare checks the value against the route's limits and decodes it
// into doc.
func (r *route) prepare(rec *Record, doc *jsonDoc) (prepared, *InvalidError) {
	v := rec.Value
	if len(v) > r.maxValue {
		return prepared{}, invalid(ReasonTooLarge, "value is %d bytes, over the limit of %d", len(v), r.maxValue)
	}
	if !utf8.Valid(v) {
		return prepared{}, invalid(ReasonBadUTF8, "value is not valid UTF-8 (first bad byte at offset %d)", firstBadUTF8(v))
	}
	spaced, ierr := checkShape(v, r.maxDepth)
	if ierr != nil {
		return prepared{}, ierr
	}
	if err := doc.parse(v); err != nil {
		if se, ok := err.(*syntaxError); ok && se.Duplicate != "" {
			return prepared{}, invalid(ReasonDuplicateMember, "value is ambiguous: %v; JSON readers differ on which value counts", err)
		}
		return prepared{}, invalid(ReasonNotJSON, "value is not JSON: %v", err)
	}
	if !doc.isObject() {
		return prepared{}, invalid(ReasonNotObject, "value is a JSON %s, want an object", doc.typeName(0))
	}
	return prepared{v: v, spaced: spaced, doc: doc}, nil
}

// finish makes the event of a record the route took.
func (t *Transformer) finish(r *route, rec *Record, p prepared, act *mapping.Activation, corr *correlation) (*Event, *InvalidError) {
	doc, v, spaced := p.doc, p.v, p.spaced
	obj := doc // the attributes decoded, nil when they are not
	if r.x.attributes != nil {
		b, err := r.x.attributes.AppendJSON(make([]byte, 0, len(v)), act)
		if err != nil {
			return nil, mappingError(r.name, "attributes", err)
		}
		v, spaced, obj = b, false, nil
		// The attributes are decoded only when something reads them: the
		// schema, or the overwriting of the bridge's own members.
		if r.ValidateAttributes || bytes.Contains(b, []byte(`"_correlationId"`)) || bytes.Contains(b, []byte(`"_publishedAt"`)) {
			a := getDoc()
			defer a.release()
			if err := a.parse(b); err != nil { // cannot happen: mapping writes JSON
				return nil, mappingError(r.name, "attributes", err)
			}
			if !a.isObject() { // cannot happen either: a map expression
				return nil, mappingError(r.name, "attributes", fmt.Errorf("a JSON %s, not an object", a.typeName(0)))
			}
			obj = a
		}
	}
	if r.schema != nil {
		target := doc
		if r.ValidateAttributes {
			target = obj
		}
		// The fast check first (fastschema.go): when it is sure, the
		// library would say the same; otherwise the library decides.
		if r.fast == nil || !r.fast.valid(target) {
			if err := r.schema.Validate(target.value(0)); err != nil {
				ie := invalid(ReasonSchema, "%s", schemaErrorText(err))
				ie.IdempotencyKey = r.keyIfKnown(rec, doc, act)
				return nil, ie
			}
		}
	}

	// Strings found in doc (or by expressions over its tree) may be views
	// of the value: the Event gets copies, in its one buffer (below).
	var eventType, businessKey string
	var ierr *InvalidError
	if r.x.eventType != nil {
		if eventType, ierr = evalString(r.x.eventType, act, r.name, "event_type_expr"); ierr != nil {
			return nil, ierr
		}
		if !validEventType(eventType) {
			return nil, invalid(ReasonMapping, "%s.event_type_expr: %q is not 1 to 128 of A-Z a-z 0-9 _ . : -", r.name, excerpt(eventType, 64))
		}
	} else if eventType, ierr = r.eventType(rec, doc); ierr != nil {
		return nil, ierr
	}
	if r.x.businessKey != nil {
		if businessKey, ierr = evalString(r.x.businessKey, act, r.name, "business_key_expr"); ierr != nil {
			return nil, ierr
		}
	} else {
		i := r.businessKey.find(doc)
		switch {
		case i < 0:
			return nil, invalid(ReasonBusinessKey, "%s: business key missing", r.businessKey)
		case doc.nodes[i].kind != kindString:
			return nil, invalid(ReasonBusinessKey, "%s: business key must be a string, got %s", r.businessKey, doc.typeName(i))
		case doc.nodes[i].str == "":
			return nil, invalid(ReasonBusinessKey, "%s: business key is empty", r.businessKey)
		default:
			businessKey = doc.nodes[i].str
		}
	}
	var timestamp string // the timestamp's text, or "": the instant at
	var at time.Time
	if r.x.timestamp != nil {
		if at, ierr = evalTimestamp(r.x.timestamp, act, r.name); ierr != nil {
			ierr.IdempotencyKey = r.key(eventType, businessKey, rec, doc)
			return nil, ierr
		}
	} else if timestamp, at, ierr = r.timestamp(rec, doc); ierr != nil {
		ierr.IdempotencyKey = r.key(eventType, businessKey, rec, doc)
		return nil, ierr
	}
	var name [256]byte
	keyText, ierr := r.keyTemplate.render(append(name[:0], uuid.NameSpaceDNS[:]...), eventType, businessKey, rec, doc)
	if ierr != nil {
		return nil, ierr
	}

	// The bridge sets _correlationId and _publishedAt; attributes that
	// carry them are overwritten, as the reference producer does. That
	// needs a re-encoding, the slow path; everything else keeps the bytes
	// as sent.
	if obj != nil && (obj.member(0, "_correlationId") >= 0 || obj.member(0, "_publishedAt") >= 0) {
		m := obj.value(0).(map[string]any)
		delete(m, "_correlationId")
		delete(m, "_publishedAt")
		if b, err := json.Marshal(m); err == nil {
			v, spaced = b, false
		}
	}

	// The Event's strings are copied into two buffers. The strings of its
	// headers (key, correlation id, traceparent: at most 36 + max_length
	// + 256 bytes) get their own, small one, because they outlive the
	// event (the sink keys a failing event's streak on its idempotency
	// key, errors carry the correlation id): they must not keep the body
	// alive. The strings found in the value go before the body, in its
	// buffer, as they kept the value's copy alive before.
	ev := &Event{Route: r.Name, PublishedAt: t.now().UTC()}
	hdr := make([]byte, 0, 36+len(corr.id)+len(corr.traceparent))
	n := len(hdr)
	hdr = appendUUIDv5(hdr, keyText)
	ev.IdempotencyKey = view(hdr[n:])
	hdr, ev.CorrelationID = keep(hdr, corr.id)
	_, ev.Traceparent = keep(hdr, corr.traceparent)

	tsLen := len(timestamp)
	if timestamp == "" {
		tsLen = len("2006-01-02T15:04:05.000Z")
	}
	buf := make([]byte, 0, len(eventType)+len(businessKey)+tsLen+
		len(v)+quotedLen(eventType)+quotedLen(corr.id)+tsLen+2+128)
	if r.x.eventType == nil && r.EventType != "" {
		ev.EventType = r.EventType // the route's own string
	} else {
		buf, ev.EventType = keep(buf, eventType)
	}
	buf, ev.BusinessKey = keep(buf, businessKey)
	if timestamp == "" {
		n := len(buf)
		buf = appendISOMillis(buf, at)
		ev.Timestamp = view(buf[n:])
	} else {
		buf, ev.Timestamp = keep(buf, timestamp)
	}
	n = len(buf)
	buf = buildBody(buf, r, ev, v, spaced)
	ev.Body = buf[n:len(buf):len(buf)]
	return ev, nil
}

// keep appends s to buf and returns it as a view of buf's new bytes,
// which nothing writes again: buf only grows (when append moves it, the
// view keeps the old array).
func keep(buf []byte, s string) ([]byte, string) {
	n := len(buf)
	buf = append(buf, s...)
	return buf, view(buf[n:])
}

// quotedLen is the length of s written by jsontext.AppendString.
func quotedLen(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n++
		case c < 0x20:
			n += 5
		}
	}
	return n
}

// keyIfKnown is the idempotency key of rec's event when its event type
// and business key can still be found in doc, by the route's pointers,
// header or expressions (evaluated over act), "" otherwise: the key an
// invalid record would have had, for its dead letter.
func (r *route) keyIfKnown(rec *Record, doc *jsonDoc, act *mapping.Activation) string {
	if doc == nil {
		return ""
	}
	var et, bk string
	var ierr *InvalidError
	if r.x.eventType != nil {
		if act == nil {
			return ""
		}
		if et, ierr = evalString(r.x.eventType, act, r.name, "event_type_expr"); ierr != nil || !validEventType(et) {
			return ""
		}
	} else if et, ierr = r.eventType(rec, doc); ierr != nil {
		return ""
	}
	if r.x.businessKey != nil {
		if act == nil {
			return ""
		}
		if bk, ierr = evalString(r.x.businessKey, act, r.name, "business_key_expr"); ierr != nil {
			return ""
		}
	} else {
		i := r.businessKey.find(doc)
		if i < 0 || doc.nodes[i].kind != kindString || doc.nodes[i].str == "" {
			return ""
		}
		bk = doc.nodes[i].str
	}
	return r.key(et, bk, rec, doc)
}

// key is the idempotency key of an event of type et and business key bk,
// "" when the template needs what rec or doc does not have.
func (r *route) key(et, bk string, rec *Record, doc *jsonDoc) string {
	var name [256]byte
	keyText, ierr := r.keyTemplate.render(append(name[:0], uuid.NameSpaceDNS[:]...), et, bk, rec, doc)
	if ierr != nil {
		return ""
	}
	return uuidV5(keyText)
}

// eventType finds the event type of a route without an expression for
// it. The string may be a view of rec's header or of doc.
func (r *route) eventType(rec *Record, doc *jsonDoc) (string, *InvalidError) {
	switch {
	case r.EventType != "":
		return r.EventType, nil
	case r.EventTypeHeader != "":
		h, ok := rec.header(r.EventTypeHeader)
		if !ok {
			return "", invalid(ReasonEventType, "event type header %q missing", r.EventTypeHeader)
		}
		if !validEventType(view(h)) {
			return "", invalid(ReasonEventType, "event type header %q: want 1 to 128 of A-Z a-z 0-9 _ . : -", r.EventTypeHeader)
		}
		return view(h), nil
	default:
		i := r.eventField.find(doc)
		if i < 0 || doc.nodes[i].kind != kindString || !validEventType(doc.nodes[i].str) {
			return "", invalid(ReasonEventType, "%s: event type missing or not a string of 1 to 128 of A-Z a-z 0-9 _ . : -", r.eventField)
		}
		return doc.nodes[i].str, nil
	}
}

func validEventType(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// timestamp returns the event's timestamp: the route's timestamp field when
// the value has it (it must then be RFC 3339; the string is a view of
// doc), else "" and the record's timestamp, at.
func (r *route) timestamp(rec *Record, doc *jsonDoc) (s string, at time.Time, _ *InvalidError) {
	if !r.tsField.IsZero() {
		if i := r.tsField.find(doc); i >= 0 {
			if doc.nodes[i].kind != kindString {
				return "", time.Time{}, invalid(ReasonTimestamp, "%s: want an RFC 3339 date-time string, got %s", r.tsField, doc.typeName(i))
			}
			s := doc.nodes[i].str
			if !validDateTime(s) {
				return "", time.Time{}, invalid(ReasonTimestamp, "%s: not an RFC 3339 date-time: %s", r.tsField, excerpt(s, 64))
			}
			return s, time.Time{}, nil
		}
	}
	ts := rec.Timestamp
	if ts.IsZero() {
		ts = time.Unix(0, 0)
	}
	return "", ts, nil
}

// uuidV5 returns the RFC 9562 version-5 UUID of nsAndName, which holds the
// 16 namespace bytes followed by the name, as github.com/google/uuid's
// NewSHA1 would, without its allocations.
func uuidV5(nsAndName []byte) string {
	var b [36]byte
	return string(appendUUIDv5(b[:0], nsAndName))
}

// appendUUIDv5 appends uuidV5(nsAndName) to dst, in uuid.UUID.String's
// form.
func appendUUIDv5(dst, nsAndName []byte) []byte {
	const hex = "0123456789abcdef"
	sum := sha1.Sum(nsAndName)
	sum[6] = (sum[6] & 0x0f) | 0x50 // version 5
	sum[8] = (sum[8] & 0x3f) | 0x80 // RFC 4122 variant
	for i, c := range sum[:16] {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hex[c>>4], hex[c&0xf])
	}
	return dst
}

// formatISO formats t as JavaScript's Date.prototype.toISOString does:
// UTC, milliseconds, "Z".
func formatISO(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// appendISOMillis appends t in UTC as formatISO does, without the layout
// interpretation of time.Time.AppendFormat (a tenth of the transform's
// allocation-free time went there).
func appendISOMillis(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	}
	hour, minute, sec := t.Clock()
	dst = appendDigits(dst, year, 1000)
	dst = append(dst, '-')
	dst = appendDigits(dst, int(month), 10)
	dst = append(dst, '-')
	dst = appendDigits(dst, day, 10)
	dst = append(dst, 'T')
	dst = appendDigits(dst, hour, 10)
	dst = append(dst, ':')
	dst = appendDigits(dst, minute, 10)
	dst = append(dst, ':')
	dst = appendDigits(dst, sec, 10)
	dst = append(dst, '.')
	dst = appendDigits(dst, t.Nanosecond()/int(time.Millisecond), 100)
	return append(dst, 'Z')
}

// appendDigits appends v zero-padded, from the digit of weight div down.
func appendDigits(dst []byte, v, div int) []byte {
	for ; div > 0; div /= 10 {
		dst = append(dst, byte('0'+v/div%10))
	}
	return dst
}

// buildBody appends the request body around the validated value bytes
// instead of re-encoding the decoded value: the attributes are the value
// exactly as produced (compacted when it has white space outside strings),
// followed by _correlationId and _publishedAt, in the field order of the
// reference producer.
func buildBody(dst []byte, r *route, ev *Event, value []byte, spaced bool) []byte {
	dst = append(dst, `{"eventType":`...)
	if r.eventTypeStr != nil {
		dst = append(dst, r.eventTypeStr...)
	} else {
		dst = jsontext.AppendString(dst, ev.EventType)
	}
	dst = append(dst, `,"attributes":`...)
	if spaced {
		buf := bytes.NewBuffer(dst)
		_ = json.Compact(buf, value) // value was decoded (validated as JSON) by prepare
		dst = buf.Bytes()
	} else {
		dst = append(dst, value...)
	}
	// dst ends with the object's closing brace; reopen it.
	dst = dst[:len(dst)-1]
	if dst[len(dst)-1] != '{' {
		dst = append(dst, ',')
	}
	dst = append(dst, `"_correlationId":`...)
	dst = jsontext.AppendString(dst, ev.CorrelationID)
	dst = append(dst, `,"_publishedAt":"`...)
	dst = appendISOMillis(dst, ev.PublishedAt)
	dst = append(dst, `"},"timestamp":`...)
	dst = jsontext.AppendString(dst, ev.Timestamp)
	return append(dst, '}')
}
