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
	corrID, source, traceparent, note := t.corr.correlate(rec)
	ev, ierr, err := t.transform(ctx, rec, corrID)
	if err != nil {
		return nil, err
	}
	if ierr != nil && ierr.Reason == ReasonFiltered {
		return nil, &SkipError{CorrelationID: corrID, Reason: ReasonFiltered}
	}
	if ierr != nil {
		ierr.CorrelationID = corrID
		return nil, ierr
	}
	if ev == nil {
		return nil, &SkipError{CorrelationID: corrID, Reason: ReasonTombstone}
	}
	ev.CorrelationSource, ev.CorrelationNote, ev.Traceparent = source, note, traceparent
	return ev, nil
}

func (t *Transformer) transform(ctx context.Context, rec *Record, corrID string) (*Event, *InvalidError, error) {
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
	var act *mapping.Activation // only for routes with expressions
	defer func() {
		if act != nil {
			activations.Put(act)
		}
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
		p, ierr := r.prepare(in)
		if ierr != nil {
			return nil, ierr, nil
		}
		if r.x.any() {
			if act == nil {
				act = activations.Get().(*mapping.Activation)
			}
			activation(act, in, p.doc, r.x.headers)
		}
		ok, ierr := r.filterHolds(act)
		if ierr != nil {
			return nil, ierr, nil
		}
		if !ok {
			continue
		}
		ev, ierr := t.finish(r, in, p, act, corrID)
		return ev, ierr, nil
	}
	return nil, &InvalidError{Reason: ReasonFiltered}, nil // turned into a SkipError by the caller
}

// prepared is a value checked and decoded for a route.
type prepared struct {
	v      []byte
	spaced bool
	doc    any
	obj    map[string]any
}

// prepare checks the value against the route's limits and decodes it.
func (r *route) prepare(rec *Record) (prepared, *InvalidError) {
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
	doc, err := decodeJSON(v)
	var se *syntaxError
	switch {
	case errors.As(err, &se) && se.Duplicate != "":
		return prepared{}, invalid(ReasonDuplicateMember, "value is ambiguous: %v; JSON readers differ on which value counts", err)
	case err != nil:
		return prepared{}, invalid(ReasonNotJSON, "value is not JSON: %v", err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return prepared{}, invalid(ReasonNotObject, "value is a JSON %s, want an object", jsonTypeName(doc))
	}
	return prepared{v: v, spaced: spaced, doc: doc, obj: obj}, nil
}

// finish makes the event of a record the route took.
func (t *Transformer) finish(r *route, rec *Record, p prepared, act *mapping.Activation, corrID string) (*Event, *InvalidError) {
	doc, obj, v, spaced := p.doc, p.obj, p.v, p.spaced
	if r.x.attributes != nil {
		b, err := r.x.attributes.AppendJSON(make([]byte, 0, len(v)), act)
		if err != nil {
			return nil, mappingError(r.name, "attributes", err)
		}
		v, spaced, obj = b, false, nil
		// The attributes are decoded only when something reads them: the
		// schema, or the overwriting of the bridge's own members.
		if r.ValidateAttributes || bytes.Contains(b, []byte(`"_correlationId"`)) || bytes.Contains(b, []byte(`"_publishedAt"`)) {
			a, err := decodeJSON(b)
			if err != nil { // cannot happen: mapping writes JSON
				return nil, mappingError(r.name, "attributes", err)
			}
			obj = a.(map[string]any)
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
			if err := r.schema.Validate(target); err != nil {
				ie := invalid(ReasonSchema, "%s", schemaErrorText(err))
				ie.IdempotencyKey = r.keyIfKnown(rec, doc)
				return nil, ie
			}
		}
	}

	// Strings in doc are views into the decoder's private copy of the value,
	// which nothing writes after decoding: the Event may keep them.
	ev := &Event{Route: r.Name, CorrelationID: corrID}
	var ierr *InvalidError
	if r.x.eventType != nil {
		if ev.EventType, ierr = evalString(r.x.eventType, act, r.name, "event_type_expr"); ierr != nil {
			return nil, ierr
		}
		if !validEventType(ev.EventType) {
			return nil, invalid(ReasonMapping, "%s.event_type_expr: %q is not 1 to 128 of A-Z a-z 0-9 _ . : -", r.name, excerpt(ev.EventType, 64))
		}
	} else if ev.EventType, ierr = r.eventType(rec, doc); ierr != nil {
		return nil, ierr
	}
	if r.x.businessKey != nil {
		if ev.BusinessKey, ierr = evalString(r.x.businessKey, act, r.name, "business_key_expr"); ierr != nil {
			return nil, ierr
		}
	} else {
		bk, ok := r.businessKey.Lookup(doc)
		switch s, isStr := bk.(string); {
		case !ok:
			return nil, invalid(ReasonBusinessKey, "%s: business key missing", r.businessKey)
		case !isStr:
			return nil, invalid(ReasonBusinessKey, "%s: business key must be a string, got %s", r.businessKey, jsonTypeName(bk))
		case s == "":
			return nil, invalid(ReasonBusinessKey, "%s: business key is empty", r.businessKey)
		default:
			ev.BusinessKey = s
		}
	}
	if r.x.timestamp != nil {
		if ev.Timestamp, ierr = evalTimestamp(r.x.timestamp, act, r.name); ierr != nil {
			return nil, ierr
		}
	} else if ev.Timestamp, ierr = r.timestamp(rec, doc); ierr != nil {
		ierr.IdempotencyKey = r.keyIfKnown(rec, doc)
		return nil, ierr
	}
	var name [256]byte
	keyText, ierr := r.keyTemplate.render(append(name[:0], uuid.NameSpaceDNS[:]...), ev.EventType, ev.BusinessKey, rec, doc)
	if ierr != nil {
		return nil, ierr
	}
	ev.IdempotencyKey = uuidV5(keyText)
	ev.PublishedAt = t.now().UTC()

	// The bridge sets _correlationId and _publishedAt; attributes that
	// carry them are overwritten, as the reference producer does. That
	// needs a re-encoding, the slow path; everything else keeps the bytes
	// as sent.
	_, hasCorr := obj["_correlationId"]
	_, hasPub := obj["_publishedAt"]
	if hasCorr || hasPub {
		delete(obj, "_correlationId")
		delete(obj, "_publishedAt")
		if b, err := json.Marshal(obj); err == nil {
			v, spaced = b, false
		}
	}
	ev.Body = buildBody(make([]byte, 0, len(v)+len(ev.EventType)+len(corrID)+len(ev.Timestamp)+128), r, ev, v, spaced)
	return ev, nil
}

// keyIfKnown is the idempotency key of rec's event when its event type
// and business key can be found in doc without expressions, "" otherwise:
// the key an invalid record would have had, for its dead letter.
func (r *route) keyIfKnown(rec *Record, doc any) string {
	if r.x.eventType != nil || r.x.businessKey != nil || doc == nil {
		return ""
	}
	et, ierr := r.eventType(rec, doc)
	if ierr != nil {
		return ""
	}
	bk, ok := r.businessKey.Lookup(doc)
	if s, isStr := bk.(string); !ok || !isStr || s == "" {
		return ""
	}
	var name [256]byte
	keyText, ierr := r.keyTemplate.render(append(name[:0], uuid.NameSpaceDNS[:]...), et, bk.(string), rec, doc)
	if ierr != nil {
		return ""
	}
	return uuidV5(keyText)
}

func (r *route) eventType(rec *Record, doc any) (string, *InvalidError) {
	switch {
	case r.EventType != "":
		return r.EventType, nil
	case r.EventTypeHeader != "":
		h, ok := rec.header(r.EventTypeHeader)
		if !ok {
			return "", invalid(ReasonEventType, "event type header %q missing", r.EventTypeHeader)
		}
		if !validEventType(string(h)) {
			return "", invalid(ReasonEventType, "event type header %q: want 1 to 128 of A-Z a-z 0-9 _ . : -", r.EventTypeHeader)
		}
		return string(h), nil
	default:
		v, ok := r.eventField.Lookup(doc)
		s, isStr := v.(string)
		if !ok || !isStr || !validEventType(s) {
			return "", invalid(ReasonEventType, "%s: event type missing or not a string of 1 to 128 of A-Z a-z 0-9 _ . : -", r.eventField)
		}
		return s, nil
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
// the value has it (it must then be RFC 3339), else the record's timestamp.
func (r *route) timestamp(rec *Record, doc any) (string, *InvalidError) {
	if !r.tsField.IsZero() {
		if v, ok := r.tsField.Lookup(doc); ok {
			s, isStr := v.(string)
			if !isStr {
				return "", invalid(ReasonTimestamp, "%s: want an RFC 3339 date-time string, got %s", r.tsField, jsonTypeName(v))
			}
			if !validDateTime(s) {
				return "", invalid(ReasonTimestamp, "%s: not an RFC 3339 date-time: %s", r.tsField, excerpt(s, 64))
			}
			return s, nil
		}
	}
	ts := rec.Timestamp
	if ts.IsZero() {
		ts = time.Unix(0, 0)
	}
	return formatISO(ts), nil
}

// uuidV5 returns the RFC 9562 version-5 UUID of nsAndName, which holds the
// 16 namespace bytes followed by the name, as github.com/google/uuid's
// NewSHA1 would, without its allocations.
func uuidV5(nsAndName []byte) string {
	sum := sha1.Sum(nsAndName)
	var u uuid.UUID
	copy(u[:], sum[:16])
	u[6] = (u[6] & 0x0f) | 0x50 // version 5
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	return u.String()
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
		_ = json.Compact(buf, value) // value was validated by decodeJSON above
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
