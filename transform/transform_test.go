package transform_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/cxone-bridge/bridge/transform"
)

const orderSchema = "../schemas/order.json"

// tutorialOrder is the domain object of the reference Node producer.
const tutorialOrder = `{"orderId":"ORD-1234567890","customerId":"CUST-998877","totalAmount":150.75,"currency":"USD","timestamp":"2026-11-27T10:00:00.000Z","metadata":{"source":"checkout-api","version":"2.1"}}`

var fixedNow = time.Date(2026, 11, 27, 16, 0, 0, 123e6, time.UTC)

func orderRoute() transform.Route {
	return transform.Route{
		Name:           "routes[0]",
		Topic:          "orders",
		EventType:      "OrderCreated",
		SchemaFile:     orderSchema,
		BusinessKey:    "/orderId",
		TimestampField: "/timestamp",
	}
}

func newTransformer(t testing.TB, routes ...transform.Route) *transform.Transformer {
	t.Helper()
	if len(routes) == 0 {
		routes = []transform.Route{orderRoute()}
	}
	tr, err := transform.New(transform.Config{
		Routes: routes,
		Correlation: transform.Correlation{
			Headers:   []string{"x-correlation-id", "correlation-id", "correlation_id", "traceparent"},
			MaxLength: 128,
		},
		Now: func() time.Time { return fixedNow },
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tr
}

func rec(value string, headers ...string) *transform.Record {
	r := &transform.Record{Topic: "orders", Partition: 3, Offset: 42, Value: []byte(value),
		Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Headers = append(r.Headers, transform.Header{Key: headers[i], Value: []byte(headers[i+1])})
	}
	return r
}

// TestTutorialVector checks the reference producer's example end to end:
// the order passes the tutorial's Draft 2020-12 schema, the idempotency key
// is the tutorial's test vector, and the body has the tutorial's shape.
func TestTutorialVector(t *testing.T) {
	tr := newTransformer(t)
	ev, err := tr.Transform(rec(tutorialOrder, "x-correlation-id", "trace-abc-123-xyz"))
	if err != nil {
		t.Fatalf("Transform: %v", err)
	}
	if want := "8bb2fd79-b926-5d35-b05d-6c664ce6f258"; ev.IdempotencyKey != want {
		t.Errorf("IdempotencyKey = %s, want %s", ev.IdempotencyKey, want)
	}
	if ev.CorrelationID != "trace-abc-123-xyz" || ev.CorrelationSource != "x-correlation-id" {
		t.Errorf("correlation = %q from %q", ev.CorrelationID, ev.CorrelationSource)
	}
	var body struct {
		EventType  string         `json:"eventType"`
		Attributes map[string]any `json:"attributes"`
		Timestamp  string         `json:"timestamp"`
	}
	dec := json.NewDecoder(bytes.NewReader(ev.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("body %s: %v", ev.Body, err)
	}
	if body.EventType != "OrderCreated" || body.Timestamp != "2026-11-27T10:00:00.000Z" {
		t.Errorf("body = %+v", body)
	}
	var order map[string]any
	_ = json.Unmarshal([]byte(tutorialOrder), &order)
	for k, v := range order {
		if got, _ := json.Marshal(body.Attributes[k]); string(got) != mustJSON(v) {
			t.Errorf("attributes.%s = %s, want %s", k, got, mustJSON(v))
		}
	}
	if body.Attributes["_correlationId"] != "trace-abc-123-xyz" {
		t.Errorf("_correlationId = %v", body.Attributes["_correlationId"])
	}
	if body.Attributes["_publishedAt"] != "2026-11-27T16:00:00.123Z" {
		t.Errorf("_publishedAt = %v, want the toISOString form", body.Attributes["_publishedAt"])
	}
	if len(body.Attributes) != len(order)+2 {
		t.Errorf("attributes has %d fields, want %d", len(body.Attributes), len(order)+2)
	}
	// Field order as JSON.stringify writes it in the Node producer.
	if !bytes.HasPrefix(ev.Body, []byte(`{"eventType":"OrderCreated","attributes":{"orderId":`)) ||
		!bytes.HasSuffix(ev.Body, []byte(`,"timestamp":"2026-11-27T10:00:00.000Z"}`)) {
		t.Errorf("body order: %s", ev.Body)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestIdempotencyKeyVectors(t *testing.T) {
	// Computed with the uuid npm package's v5 (DNS namespace), as the
	// reference producer does.
	tests := []struct{ eventType, key, want string }{
		{"OrderCreated", "ORD-1234567890", "8bb2fd79-b926-5d35-b05d-6c664ce6f258"},
	}
	for _, tc := range tests {
		r := orderRoute()
		r.EventType = tc.eventType
		tr := newTransformer(t, r)
		order := strings.Replace(tutorialOrder, "ORD-1234567890", tc.key, 1)
		ev, err := tr.Transform(rec(order))
		if err != nil {
			t.Fatal(err)
		}
		if ev.IdempotencyKey != tc.want {
			t.Errorf("%s:%s → %s, want %s", tc.eventType, tc.key, ev.IdempotencyKey, tc.want)
		}
	}
}

// TestInvalid covers every kind of bad input (docs/dlq.md, the invalid reasons): each gets
// class invalid with a reason that names what is wrong.
func TestInvalid(t *testing.T) {
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	big := `{"orderId":"` + strings.Repeat("x", 10<<20) + `"}`
	noSchema := orderRoute()
	noSchema.SchemaFile = ""
	tests := []struct {
		name     string
		route    *transform.Route
		topic    string
		value    []byte
		reason   string
		contains []string
	}{
		{name: "not JSON", value: []byte("hello, world"), reason: transform.ReasonNotJSON, contains: []string{"not JSON", "invalid character 'h'"}},
		{name: "empty value", value: []byte{}, reason: transform.ReasonNotJSON, contains: []string{"not JSON"}},
		{name: "JSON array", value: []byte(`[1,2,3]`), reason: transform.ReasonNotObject, contains: []string{"array", "want an object"}},
		{name: "JSON string", value: []byte(`"ORD-1"`), reason: transform.ReasonNotObject, contains: []string{"string"}},
		{name: "JSON number", value: []byte(`42`), reason: transform.ReasonNotObject, contains: []string{"number"}},
		{name: "JSON null text", value: []byte(`null`), reason: transform.ReasonNotObject, contains: []string{"null"}},
		{name: "invalid UTF-8", value: []byte("{\"orderId\":\"ORD-\xff\xfe\"}"), reason: transform.ReasonBadUTF8, contains: []string{"UTF-8", "offset 16"}},
		{name: "trailing garbage", value: []byte(tutorialOrder + ` {"x":1}`), reason: transform.ReasonNotJSON, contains: []string{"after top-level value"}},
		{name: "10 MB value", value: []byte(big), reason: transform.ReasonTooLarge, contains: []string{"10485774 bytes", "1048576"}},
		{name: "100000 levels", value: []byte(deep), reason: transform.ReasonTooDeep, contains: []string{"deeper than 64"}},
		{name: "deep object", value: []byte(strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)), reason: transform.ReasonTooDeep},
		{name: "missing required field", value: []byte(withOrder("customerId", "")), reason: transform.ReasonSchema, contains: []string{"/customerId: required property missing"}},
		{name: "wrong type", value: []byte(withOrder("totalAmount", `"150.75"`)), reason: transform.ReasonSchema, contains: []string{"/totalAmount:", "number"}},
		{name: "negative amount", value: []byte(withOrder("totalAmount", `-1`)), reason: transform.ReasonSchema, contains: []string{"/totalAmount:", "minimum"}},
		{name: "pattern", value: []byte(withOrder("currency", `"usd"`)), reason: transform.ReasonSchema, contains: []string{"/currency:", "pattern"}},
		{name: "extra property", value: []byte(withOrder("coupon", `"X"`)), reason: transform.ReasonSchema, contains: []string{"/coupon: property not allowed"}},
		{name: "impossible date", value: []byte(withOrder("timestamp", `"2024-02-30T00:00:00Z"`)), reason: transform.ReasonSchema, contains: []string{"/timestamp:", "date-time", "day out of range"}},
		{name: "impossible date without schema", route: &noSchema, value: []byte(withOrder("timestamp", `"2024-02-30T00:00:00Z"`)), reason: transform.ReasonTimestamp, contains: []string{"/timestamp: not an RFC 3339"}},
		{name: "timestamp not a string", route: &noSchema, value: []byte(withOrder("timestamp", `1700000000`)), reason: transform.ReasonTimestamp, contains: []string{"/timestamp", "number"}},
		{name: "business key absent", route: &noSchema, value: []byte(withOrder("orderId", "")), reason: transform.ReasonBusinessKey, contains: []string{"/orderId: business key missing"}},
		{name: "business key not a string", route: &noSchema, value: []byte(withOrder("orderId", `1234567890`)), reason: transform.ReasonBusinessKey, contains: []string{"/orderId", "must be a string, got number"}},
		{name: "business key empty", route: &noSchema, value: []byte(withOrder("orderId", `""`)), reason: transform.ReasonBusinessKey, contains: []string{"empty"}},
		{name: "unrouted topic", topic: "payments", value: []byte(tutorialOrder), reason: transform.ReasonNoRoute, contains: []string{`"payments"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := orderRoute()
			if tc.route != nil {
				r = *tc.route
			}
			tr := newTransformer(t, r)
			record := rec("", "x-correlation-id", "corr-1")
			record.Value = tc.value
			if tc.topic != "" {
				record.Topic = tc.topic
			}
			ev, err := tr.Transform(record)
			if ev != nil {
				t.Fatalf("got an event, want invalid: %s", ev.Body)
			}
			var ie *transform.InvalidError
			if !errors.As(err, &ie) || !errors.Is(err, transform.ErrInvalid) {
				t.Fatalf("err = %v, want *InvalidError", err)
			}
			if ie.Reason != tc.reason {
				t.Errorf("reason = %s, want %s (%s)", ie.Reason, tc.reason, ie.Detail)
			}
			for _, s := range tc.contains {
				if !strings.Contains(ie.Detail, s) {
					t.Errorf("detail %q lacks %q", ie.Detail, s)
				}
			}
			if len(ie.Detail) > 4096 {
				t.Errorf("detail is %d bytes: not bounded", len(ie.Detail))
			}
			if ie.CorrelationID != "corr-1" {
				t.Errorf("CorrelationID = %q, want corr-1 (DLQ entries must stay traceable)", ie.CorrelationID)
			}
		})
	}
}

func TestTombstones(t *testing.T) {
	tr := newTransformer(t)
	tomb := rec("")
	tomb.Value = nil
	_, err := tr.Transform(tomb)
	var skip *transform.SkipError
	if !errors.Is(err, transform.ErrSkip) || !errors.As(err, &skip) || skip.CorrelationID == "" {
		t.Errorf("skip policy: err = %v, want a *SkipError with a correlation id", err)
	}
	r := orderRoute()
	r.TombstonesToDLQ = true
	tr = newTransformer(t, r)
	_, err = tr.Transform(tomb)
	var ie *transform.InvalidError
	if !errors.As(err, &ie) || ie.Reason != transform.ReasonTombstone {
		t.Errorf("dlq policy: err = %v, want invalid tombstone", err)
	}
}

func TestCorrelation(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	derived := func() string {
		ev, err := newTransformer(t).Transform(rec(tutorialOrder))
		if err != nil {
			t.Fatal(err)
		}
		return ev.CorrelationID
	}()
	tests := []struct {
		name       string
		headers    []string
		wantID     string
		wantSource string
		wantTP     string
		wantNote   string
	}{
		{"x-correlation-id", []string{"x-correlation-id", "a-1"}, "a-1", "x-correlation-id", "", ""},
		{"header names are case-insensitive", []string{"X-Correlation-ID", "a-2"}, "a-2", "x-correlation-id", "", ""},
		{"correlation-id", []string{"correlation-id", "b-1"}, "b-1", "correlation-id", "", ""},
		{"correlation_id", []string{"correlation_id", "c-1"}, "c-1", "correlation_id", "", ""},
		{"traceparent", []string{"traceparent", tp}, "4bf92f3577b34da6a3ce929d0e0e4736", "traceparent", tp, ""},
		{"list order wins", []string{"correlation_id", "c-1", "x-correlation-id", "a-1"}, "a-1", "x-correlation-id", "", ""},
		{"traceparent passed on with a header id", []string{"traceparent", tp, "correlation-id", "b-2"}, "b-2", "correlation-id", tp, ""},
		{"CR/LF replaced by next header", []string{"x-correlation-id", "evil\r\nX-Admin: yes", "correlation-id", "ok-1"}, "ok-1", "correlation-id", "", "control"},
		{"CR/LF replaced by derived id", []string{"x-correlation-id", "evil\r\nX-Admin: yes"}, derived, "derived", "", "control"},
		{"10 KB replaced", []string{"x-correlation-id", strings.Repeat("a", 10<<10)}, derived, "derived", "", "longer than 128"},
		{"non-ASCII replaced", []string{"x-correlation-id", "café"}, derived, "derived", "", "non-ASCII"},
		{"empty replaced", []string{"x-correlation-id", "   "}, derived, "derived", "", "empty"},
		{"malformed traceparent ignored", []string{"traceparent", "00-xyz-00f067aa0ba902b7-01"}, derived, "derived", "", "malformed"},
		{"all-zero trace id ignored", []string{"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}, derived, "derived", "", "malformed"},
		{"traceparent with CRLF tail ignored", []string{"traceparent", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-\r\nx"}, derived, "derived", "", "malformed"},
		{"no header: derived", nil, derived, "derived", "", ""},
	}
	tr := newTransformer(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := tr.Transform(rec(tutorialOrder, tc.headers...))
			if err != nil {
				t.Fatal(err)
			}
			if ev.CorrelationID != tc.wantID || ev.CorrelationSource != tc.wantSource || ev.Traceparent != tc.wantTP {
				t.Errorf("got id %q source %q tp %q; want %q %q %q", ev.CorrelationID, ev.CorrelationSource, ev.Traceparent, tc.wantID, tc.wantSource, tc.wantTP)
			}
			if !strings.Contains(ev.CorrelationNote, tc.wantNote) || (tc.wantNote == "" && ev.CorrelationNote != "") {
				t.Errorf("note %q, want it to mention %q", ev.CorrelationNote, tc.wantNote)
			}
			if strings.ContainsAny(ev.CorrelationID, "\r\n") || len(ev.CorrelationID) > 128 {
				t.Errorf("unsafe correlation id %q", ev.CorrelationID)
			}
			if !bytes.Contains(ev.Body, []byte(`"_correlationId":"`+tc.wantID+`"`)) {
				t.Errorf("body lacks _correlationId %q: %s", tc.wantID, ev.Body)
			}
		})
	}
	// The derived id is deterministic: a redelivery keeps it; another
	// offset gets another.
	again := rec(tutorialOrder)
	ev, _ := tr.Transform(again)
	again.Offset++
	ev2, _ := tr.Transform(again)
	if ev.CorrelationID != derived || ev2.CorrelationID == derived {
		t.Errorf("derived ids: %s %s %s", derived, ev.CorrelationID, ev2.CorrelationID)
	}
}

func TestEventTypeSources(t *testing.T) {
	byHeader := orderRoute()
	byHeader.EventType, byHeader.EventTypeHeader = "", "x-event-type"
	byField := orderRoute()
	byField.EventType, byField.EventTypeField, byField.SchemaFile = "", "/metadata/source", ""
	tests := []struct {
		name    string
		route   transform.Route
		headers []string
		want    string
		reason  string
	}{
		{"header", byHeader, []string{"x-event-type", "OrderUpdated"}, "OrderUpdated", ""},
		{"header missing", byHeader, nil, "", transform.ReasonEventType},
		{"header with CRLF", byHeader, []string{"x-event-type", "Order\r\nX: y"}, "", transform.ReasonEventType},
		{"field", byField, nil, "checkout-api", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := newTransformer(t, tc.route).Transform(rec(tutorialOrder, tc.headers...))
			if tc.reason != "" {
				var ie *transform.InvalidError
				if !errors.As(err, &ie) || ie.Reason != tc.reason {
					t.Fatalf("err = %v, want reason %s", err, tc.reason)
				}
				return
			}
			if err != nil || ev.EventType != tc.want || !bytes.HasPrefix(ev.Body, []byte(`{"eventType":"`+tc.want+`"`)) {
				t.Fatalf("ev = %+v err = %v", ev, err)
			}
		})
	}
}

func TestKeyTemplates(t *testing.T) {
	tests := []struct {
		tmpl, wantName string
		reason         string
	}{
		{"{eventType}:{businessKey}", "OrderCreated:ORD-1234567890", ""},
		{"{topic}/{key}", "orders/k-1", ""},
		{"{eventType}:{/customerId}:{/totalAmount}", "OrderCreated:CUST-998877:150.75", ""},
		{"{eventType}:{/nope}", "", transform.ReasonKeyTemplate},
		{"{eventType}:{/metadata}", "", transform.ReasonKeyTemplate},
	}
	for _, tc := range tests {
		t.Run(tc.tmpl, func(t *testing.T) {
			r := orderRoute()
			r.IdempotencyKey = tc.tmpl
			record := rec(tutorialOrder)
			record.Key = []byte("k-1")
			ev, err := newTransformer(t, r).Transform(record)
			if tc.reason != "" {
				var ie *transform.InvalidError
				if !errors.As(err, &ie) || ie.Reason != tc.reason {
					t.Fatalf("err = %v, want %s", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := uuidV5DNS(tc.wantName); ev.IdempotencyKey != want {
				t.Errorf("key %s, want UUIDv5(%q) = %s", ev.IdempotencyKey, tc.wantName, want)
			}
		})
	}
	for _, bad := range []string{"constant", "{eventType}", "{eventType}:{bogus}", "{businessKey", "x}{businessKey}", "{/a~2}"} {
		if _, err := transform.ParseKeyTemplate(bad); err == nil {
			t.Errorf("ParseKeyTemplate(%q) accepted", bad)
		}
	}
}

func TestReservedAttributesOverwritten(t *testing.T) {
	r := orderRoute()
	r.SchemaFile = ""
	v := strings.Replace(tutorialOrder, `"orderId"`, `"_correlationId":"forged","_publishedAt":"1999-01-01T00:00:00Z","orderId"`, 1)
	ev, err := newTransformer(t, r).Transform(rec(v, "x-correlation-id", "real"))
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Attributes map[string]any }
	if err := json.Unmarshal(ev.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Attributes["_correlationId"] != "real" || body.Attributes["_publishedAt"] != "2026-11-27T16:00:00.123Z" {
		t.Errorf("attributes = %v", body.Attributes)
	}
	if bytes.Count(ev.Body, []byte("_correlationId")) != 1 {
		t.Errorf("duplicate keys in %s", ev.Body)
	}
}

func TestTimestampFallsBackToRecordTime(t *testing.T) {
	r := orderRoute()
	r.SchemaFile = ""
	v := strings.Replace(tutorialOrder, `"timestamp":"2026-11-27T10:00:00.000Z",`, "", 1)
	ev, err := newTransformer(t, r).Transform(rec(v))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Timestamp != "2026-01-02T03:04:05.000Z" {
		t.Errorf("Timestamp = %s", ev.Timestamp)
	}
}

func TestEmptyObjectBody(t *testing.T) {
	r := orderRoute()
	r.SchemaFile, r.BusinessKey, r.IdempotencyKey = "", "/k", "{key}"
	_, err := newTransformer(t, r).Transform(rec(`{}`))
	if !errors.Is(err, transform.ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	spaced := rec(" {\n \"k\" : \"v\" }\n")
	spaced.Key = []byte("k-1")
	ev, err := newTransformer(t, r).Transform(spaced)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(ev.Body) || !bytes.Contains(ev.Body, []byte(`"attributes":{"k":"v","_correlationId"`)) {
		t.Errorf("body %s", ev.Body)
	}
}

func TestNewReportsBadSchema(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.json"
	writeFile(t, bad, `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"objekt"}`)
	notJSON := dir + "/notjson.json"
	writeFile(t, notJSON, `{"type":`)
	for _, tc := range []struct{ file, want string }{
		{bad, "bad.json"},
		{notJSON, "notjson.json"},
		{dir + "/missing.json", "missing.json"},
	} {
		r := orderRoute()
		r.SchemaFile = tc.file
		_, err := transform.New(transform.Config{Routes: []transform.Route{r}})
		if err == nil || !strings.Contains(err.Error(), "routes[0].schema") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New with %s: err = %v", tc.file, err)
		}
	}
}

// TestSchemaFeatures checks schemas that broke the library rejected in
// README, "Dependencies, and why" ($anchor, $id + $ref).
func TestSchemaFeatures(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir+"/anchor.json", `{"$schema":"https://json-schema.org/draft/2020-12/schema",
	  "$defs":{"id":{"$anchor":"orderId","type":"string","pattern":"^ORD-"}},
	  "type":"object","properties":{"orderId":{"$ref":"#orderId"}}}`)
	writeFile(t, dir+"/ref.json", `{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"https://example.com/root.json",
	  "$defs":{"cur":{"$id":"currency.json","type":"string","enum":["USD","EUR"]}},
	  "type":"object","properties":{"currency":{"$ref":"currency.json"}}}`)
	for _, f := range []string{"anchor.json", "ref.json"} {
		r := orderRoute()
		r.SchemaFile = dir + "/" + f
		tr := newTransformer(t, r)
		if _, err := tr.Transform(rec(tutorialOrder)); err != nil {
			t.Errorf("%s: valid order rejected: %v", f, err)
		}
		bad := strings.Replace(strings.Replace(tutorialOrder, "ORD-", "XXX-", 1), "USD", "GBP", 1)
		if _, err := tr.Transform(rec(bad)); !errors.Is(err, transform.ErrInvalid) {
			t.Errorf("%s: invalid order accepted", f)
		}
	}
}

// TestInvalidKeepsIdempotencyKey: a record dead-lettered for its schema or
// its timestamp carries the idempotency key its event would have had (the
// tutorial's for the tutorial order), so that its dead letter, its replay
// and CXone name the same event; one without a business key has none.
func TestInvalidKeepsIdempotencyKey(t *testing.T) {
	tr := newTransformer(t)
	for _, tc := range []struct {
		name, value, reason, key string
	}{
		{"schema", withOrder("totalAmount", "-5"), transform.ReasonSchema, "8bb2fd79-b926-5d35-b05d-6c664ce6f258"},
		{"no business key", withOrder("orderId", ""), transform.ReasonSchema, ""},
		{"not JSON", "hello", transform.ReasonNotJSON, ""},
	} {
		_, err := tr.Transform(rec(tc.value))
		var ie *transform.InvalidError
		if !errors.As(err, &ie) || ie.Reason != tc.reason || ie.IdempotencyKey != tc.key {
			t.Errorf("%s: err %v, key %q; want reason %s, key %q", tc.name, err, func() string {
				if ie != nil {
					return ie.IdempotencyKey
				}
				return ""
			}(), tc.reason, tc.key)
		}
	}
}

// withOrder is the tutorial order with field set to the JSON value, or
// removed when value is "".
func withOrder(field, value string) string {
	var m map[string]json.RawMessage
	_ = json.Unmarshal([]byte(tutorialOrder), &m)
	if value == "" {
		delete(m, field)
	} else {
		m[field] = json.RawMessage(value)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// TestInvalidKeyFromExpressions: on a route whose event type or business
// key comes from a CEL expression, a record dead-lettered for its schema
// or its timestamp carries the key its event would have had, the
// expressions evaluated over the decoded record; when an expression
// cannot be evaluated (a missing field, an error, an empty or invalid
// result) or the template lacks a value, the key is empty, as when a
// pointer finds nothing.
func TestInvalidKeyFromExpressions(t *testing.T) {
	const tutorialKey = "8bb2fd79-b926-5d35-b05d-6c664ce6f258" // OrderCreated:ORD-1234567890
	route := func(edit func(r *transform.Route)) transform.Route {
		r := orderRoute()
		r.EventType, r.EventTypeExpr = "", `"Order" + "Created"`
		r.BusinessKey, r.BusinessKeyExpr = "", `value.orderId`
		if edit != nil {
			edit(&r)
		}
		return r
	}
	noSchema := func(r *transform.Route) { r.SchemaFile = "" }
	badAmount := withOrder("totalAmount", "-5")
	for _, tc := range []struct {
		name    string
		route   transform.Route
		value   string
		headers []string
		reason  string
		key     string
	}{
		{"schema; both by expression", route(nil), badAmount, nil, transform.ReasonSchema, tutorialKey},
		{"schema; business key by expression, event type constant", route(func(r *transform.Route) {
			r.EventType, r.EventTypeExpr = "OrderCreated", ""
			r.BusinessKeyExpr = `value.customerId + "/" + value.currency`
		}), badAmount, nil, transform.ReasonSchema, uuidV5DNS("OrderCreated:CUST-998877/USD")},
		{"schema; event type by expression over a header, business key by pointer", route(func(r *transform.Route) {
			r.EventTypeExpr = `headers["event-type"]`
			r.BusinessKey, r.BusinessKeyExpr = "/orderId", ""
		}), badAmount, []string{"event-type", "OrderShipped"}, transform.ReasonSchema, uuidV5DNS("OrderShipped:ORD-1234567890")},
		{"schema; template with a pointer and the record key", route(func(r *transform.Route) {
			r.IdempotencyKey = "{eventType}:{businessKey}:{/metadata/version}:{key}"
		}), badAmount, nil, transform.ReasonSchema, uuidV5DNS("OrderCreated:ORD-1234567890:2.1:CUST-998877")},
		{"schema of the attributes", route(func(r *transform.Route) {
			r.Attributes = `{"orderId": value.orderId}`
			r.ValidateAttributes = true
		}), tutorialOrder, nil, transform.ReasonSchema, tutorialKey},
		{"schema, after a filter", route(func(r *transform.Route) {
			r.Filter = `value.currency == "USD"`
		}), badAmount, nil, transform.ReasonSchema, tutorialKey},
		{"timestamp field", route(noSchema), withOrder("timestamp", `"yesterday"`), nil, transform.ReasonTimestamp, tutorialKey},
		{"timestamp expression", route(func(r *transform.Route) {
			noSchema(r)
			r.TimestampField, r.TimestampExpr = "", `timestamp(value.timestamp)`
		}), withOrder("timestamp", `"yesterday"`), nil, transform.ReasonMapping, tutorialKey},

		{"business key expression on a missing field", route(nil), withOrder("orderId", ""), nil, transform.ReasonSchema, ""},
		{"business key expression on a field of another type", route(func(r *transform.Route) {
			r.BusinessKeyExpr = `value.totalAmount`
		}), badAmount, nil, transform.ReasonSchema, ""},
		{"business key expression gives an empty string", route(func(r *transform.Route) {
			r.BusinessKeyExpr = `value.orderId.substring(0, 0)`
		}), badAmount, nil, transform.ReasonSchema, ""},
		{"event type expression fails at run time", route(func(r *transform.Route) {
			r.EventTypeExpr = `string(int(value.totalAmount) / 0)`
		}), badAmount, nil, transform.ReasonSchema, ""},
		{"event type expression gives an invalid name", route(func(r *transform.Route) {
			r.EventTypeExpr = `"Order Created!"`
		}), badAmount, nil, transform.ReasonSchema, ""},
		{"event type expression over a missing header", route(func(r *transform.Route) {
			r.EventTypeExpr = `headers["event-type"]`
		}), badAmount, nil, transform.ReasonSchema, ""},
		{"template pointer missing", route(func(r *transform.Route) {
			r.IdempotencyKey = "{businessKey}:{/nothing}"
		}), badAmount, nil, transform.ReasonSchema, ""},
		{"event type expression fails, timestamp field bad", route(func(r *transform.Route) {
			noSchema(r)
			r.EventTypeExpr = `value.kind`
		}), withOrder("timestamp", `"yesterday"`), nil, transform.ReasonMapping, ""},
		{"not an object", route(nil), `[1,2]`, nil, transform.ReasonNotObject, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTransformer(t, tc.route)
			r := rec(tc.value, tc.headers...)
			r.Key = []byte("CUST-998877")
			_, err := tr.Transform(r)
			var ie *transform.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an InvalidError", err)
			}
			if ie.Reason != tc.reason || ie.IdempotencyKey != tc.key {
				t.Errorf("reason %s, key %q (%v); want %s, key %q", ie.Reason, ie.IdempotencyKey, err, tc.reason, tc.key)
			}
			if tc.key == "" {
				return
			}
			// The key is the one the event gets once the fault is fixed.
			fixed := strings.NewReplacer(`"totalAmount":-5`, `"totalAmount":150.75`, `"yesterday"`, `"2026-11-27T10:00:00.000Z"`).Replace(tc.value)
			r.Value = []byte(fixed)
			fr := tc.route
			fr.ValidateAttributes = false
			ev, err := newTransformer(t, fr).Transform(r)
			if err != nil {
				t.Fatalf("fixed record: %v", err)
			}
			if ev.IdempotencyKey != tc.key {
				t.Errorf("fixed record's key %s, dead letter's %s", ev.IdempotencyKey, tc.key)
			}
		})
	}
}

// TestEventOwnsItsMemory: the Event, and the InvalidError and SkipError,
// keep nothing of the record's bytes (value, headers), which a Kafka
// client may reuse: the transform reads the value in place, so whatever
// it keeps it must copy.
func TestEventOwnsItsMemory(t *testing.T) {
	plain := orderRoute()
	plain.EventType, plain.EventTypeField = "", "/type"
	plain.SchemaFile = ""
	header := orderRoute()
	header.EventType, header.EventTypeHeader = "", "event-type"
	header.TimestampField = ""
	exprs := orderRoute()
	exprs.EventType, exprs.EventTypeExpr = "", `value.type`
	exprs.BusinessKey, exprs.BusinessKeyExpr = "", `value.orderId`
	exprs.TimestampField, exprs.TimestampExpr = "", `timestamp(value.timestamp)`
	exprs.SchemaFile = ""
	value := strings.Replace(tutorialOrder, `{"orderId"`, `{"type":"OrderCreated", "orderId"`, 1)
	for _, tc := range []struct {
		name  string
		route transform.Route
		value string
	}{
		{"pointers", plain, value},
		{"re-encoded", plain, strings.Replace(value, `"type"`, `"_publishedAt":"x","type"`, 1)},
		{"header", header, tutorialOrder},
		{"expressions", exprs, value},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTransformer(t, tc.route)
			in := rec(tc.value, "x-correlation-id", " trace-abc-123-xyz ", "event-type", "OrderCreated",
				"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
			ev, err := tr.Transform(in)
			if err != nil {
				t.Fatal(err)
			}
			want := *ev
			want.Body = bytes.Clone(ev.Body)
			for _, s := range []*string{&want.EventType, &want.BusinessKey, &want.IdempotencyKey, &want.CorrelationID, &want.Traceparent, &want.Timestamp} {
				*s = strings.Clone(*s)
			}
			scribble(in)
			if !reflect.DeepEqual(*ev, want) {
				t.Errorf("the event changed with the record's bytes:\n%+v\nwant\n%+v", *ev, want)
			}
			if want.CorrelationID != "trace-abc-123-xyz" || want.EventType != "OrderCreated" || want.BusinessKey != "ORD-1234567890" ||
				want.Traceparent == "" || want.Timestamp == "" {
				t.Errorf("event %+v", want)
			}
		})
	}
	t.Run("errors", func(t *testing.T) {
		filtered := orderRoute()
		filtered.Filter = "false"
		for _, tr := range []*transform.Transformer{newTransformer(t), newTransformer(t, filtered)} {
			in := rec(`{"orderId":"ORD-1"}`, "x-correlation-id", "trace-abc-123-xyz")
			_, err := tr.Transform(in)
			scribble(in)
			var ie *transform.InvalidError
			var se *transform.SkipError
			switch {
			case errors.As(err, &ie) && ie.CorrelationID == "trace-abc-123-xyz":
			case errors.As(err, &se) && se.CorrelationID == "trace-abc-123-xyz":
			default:
				t.Errorf("error %#v lost its correlation id with the record's bytes", err)
			}
		}
	})
}

// scribble overwrites the record's value and header bytes, as a client
// reusing its buffers would.
func scribble(r *transform.Record) {
	for i := range r.Value {
		r.Value[i] = '#'
	}
	for _, h := range r.Headers {
		for i := range h.Value {
			h.Value[i] = '#'
		}
	}
}

// TestHeaderStringsDoNotPinTheBody: the idempotency key, correlation id
// and traceparent, which outlive the event (the sink keys failure streaks
// on the key for up to 15 minutes), do not share the body's buffer, so
// keeping them does not keep the body in memory.
func TestHeaderStringsDoNotPinTheBody(t *testing.T) {
	tr := newTransformer(t)
	ev, err := tr.Transform(rec(tutorialOrder, "x-correlation-id", "trace-abc-123-xyz",
		"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	if err != nil {
		t.Fatal(err)
	}
	addr := func(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }
	// The three live in one small buffer of their own, one after another.
	if addr(ev.CorrelationID) != addr(ev.IdempotencyKey)+uintptr(len(ev.IdempotencyKey)) ||
		addr(ev.Traceparent) != addr(ev.CorrelationID)+uintptr(len(ev.CorrelationID)) {
		t.Fatalf("the idempotency key, correlation id and traceparent are not one buffer")
	}
	hdrLo, hdrHi := addr(ev.IdempotencyKey), addr(ev.Traceparent)+uintptr(len(ev.Traceparent))
	// The body's buffer: the strings found in the value, then the body.
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(ev.Body)))
	hi := lo + uintptr(cap(ev.Body))
	for _, s := range []string{ev.BusinessKey, ev.Timestamp} {
		lo = min(lo, addr(s))
	}
	if hdrLo < hi && hdrHi > lo || hdrHi == lo || hdrLo == hi {
		t.Errorf("the header strings [%#x,%#x) touch the body's buffer [%#x,%#x)", hdrLo, hdrHi, lo, hi)
	}
}
