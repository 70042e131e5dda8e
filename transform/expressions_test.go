package transform_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/transform"
)

// cdcRoutes are the Debezium example of docs/mapping.md: creates and
// updates of a CDC topic become OrderCreated and OrderUpdated events of
// the row after the change, renamed; deletes are taken by no route.
func cdcRoutes() []transform.Route {
	base := transform.Route{
		Topic:           "cdc.orders",
		Attributes:      `{"orderId": value.after.order_id, "customer": {"id": value.after.customer_id}, "totalAmount": value.after.total, "source": "erp"}`,
		BusinessKeyExpr: `value.after.order_id`,
		TimestampExpr:   `timestamp(int(value.ts_ms / 1000.0))`,
	}
	created, updated := base, base
	created.Name, created.Filter, created.EventType = "routes[0]", `value.op == "c"`, "OrderCreated"
	updated.Name, updated.Filter, updated.EventType = "routes[1]", `value.op == "u"`, "OrderUpdated"
	return []transform.Route{created, updated}
}

func cdcRecord(op string) *transform.Record {
	v := `{"before":null,"after":{"order_id":"ORD-7","customer_id":"C-9","total":150.75},"op":"` + op + `","ts_ms":1795773600000,"source":{"table":"orders"}}`
	r := rec(v)
	r.Topic = "cdc.orders"
	return r
}

func attrsOf(t *testing.T, ev *transform.Event) map[string]any {
	t.Helper()
	var body struct {
		Attributes map[string]any `json:"attributes"`
	}
	if err := json.Unmarshal(ev.Body, &body); err != nil {
		t.Fatal(err)
	}
	delete(body.Attributes, "_correlationId")
	delete(body.Attributes, "_publishedAt")
	return body.Attributes
}

// TestFilterRouting: the first route whose topic matches and whose filter
// holds takes the record; a record no route takes is skipped (filtered).
func TestFilterRouting(t *testing.T) {
	tr := newTransformer(t, cdcRoutes()...)
	for op, want := range map[string]string{"c": "OrderCreated", "u": "OrderUpdated"} {
		ev, err := tr.Transform(cdcRecord(op))
		if err != nil {
			t.Fatalf("op %s: %v", op, err)
		}
		if ev.EventType != want || ev.BusinessKey != "ORD-7" || ev.Timestamp != "2026-11-27T10:00:00.000Z" {
			t.Errorf("op %s: event %+v", op, ev)
		}
		b, _ := json.Marshal(attrsOf(t, ev))
		if string(b) != `{"customer":{"id":"C-9"},"orderId":"ORD-7","source":"erp","totalAmount":150.75}` {
			t.Errorf("op %s: attributes %s", op, b)
		}
	}
	_, err := tr.Transform(cdcRecord("d"))
	var skip *transform.SkipError
	if !errors.As(err, &skip) || skip.Reason != transform.ReasonFiltered {
		t.Errorf("op d: %v, want a skip (filtered)", err)
	}
	// A catch-all route after the filtered ones takes the rest.
	all := append(cdcRoutes(), transform.Route{Name: "routes[2]", Topic: "cdc.orders", EventType: "OrderDeleted", BusinessKeyExpr: `value.before == null ? "none" : value.before.order_id`})
	tr = newTransformer(t, all...)
	if ev, err := tr.Transform(cdcRecord("d")); err != nil || ev.EventType != "OrderDeleted" || ev.Route != "routes[2]" {
		t.Errorf("catch-all: %+v, %v", ev, err)
	}
}

// TestExpressionErrors: an expression that fails on a record, or gives a
// result of the wrong kind, sends the record to the DLQ as mapping_error,
// naming the route and the key.
func TestExpressionErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		route  func(*transform.Route)
		detail string
	}{
		"missing field in attributes": {func(r *transform.Route) { r.Attributes = `{"c": value.customer.id}` }, "routes[0].attributes: "},
		"attributes not a map":        {func(r *transform.Route) { r.Attributes = `value.metadata.version` }, "routes[0].attributes: "},
		"filter on a missing field":   {func(r *transform.Route) { r.Filter = `value.op == "c"` }, "routes[0].filter: "},
		"division by zero":            {func(r *transform.Route) { r.Attributes = `{"x": 1 / (size(value.currency) - 3)}` }, "routes[0].attributes: "},
		"empty business key":          {func(r *transform.Route) { r.BusinessKey, r.BusinessKeyExpr = "", `""` }, "routes[0].business_key_expr: "},
		"business key not a string":   {func(r *transform.Route) { r.BusinessKey, r.BusinessKeyExpr = "", `value.totalAmount` }, "routes[0].business_key_expr: "},
		"bad event type":              {func(r *transform.Route) { r.EventType, r.EventTypeExpr = "", `"Order Created!"` }, "routes[0].event_type_expr: "},
		"timestamp not RFC 3339":      {func(r *transform.Route) { r.TimestampField, r.TimestampExpr = "", `value.currency` }, "routes[0].timestamp_expr: "},
		"cost limit": {func(r *transform.Route) {
			r.CostLimit = 100
			r.Attributes = `{"x": [1,2,3,4,5,6,7,8,9,10].map(a, [1,2,3,4,5,6,7,8,9,10].map(b, a * b))}`
		}, "routes[0].attributes: "},
	} {
		t.Run(name, func(t *testing.T) {
			r := orderRoute()
			tc.route(&r)
			tr := newTransformer(t, r)
			_, err := tr.Transform(rec(tutorialOrder))
			var ie *transform.InvalidError
			if !errors.As(err, &ie) || ie.Reason != transform.ReasonMapping || !strings.HasPrefix(ie.Detail, tc.detail) {
				t.Fatalf("err = %v, want mapping_error with detail %q…", err, tc.detail)
			}
		})
	}
}

// TestExpressionsCompileOnce: a mistake is an error of New naming the
// route, the key, and the line and column in the expression.
func TestExpressionsCompileOnce(t *testing.T) {
	r := orderRoute()
	r.Filter = "value.op == \"c\" &&\n  vaule.x"
	_, err := transform.New(transform.Config{Routes: []transform.Route{r}})
	var xe *transform.ExprError
	if !errors.As(err, &xe) || xe.Route != "routes[0]" || xe.Key != "filter" || !strings.Contains(err.Error(), "line 2, column 3") {
		t.Fatalf("err = %v", err)
	}
}

// TestValidateAttributes: with ValidateAttributes the schema judges the
// mapped attributes, not the value.
func TestValidateAttributes(t *testing.T) {
	r := orderRoute() // the tutorial's schema: orderId, customerId, totalAmount, currency, timestamp
	r.Attributes = `{"orderId": value.orderId}`
	tr := newTransformer(t, r)
	if _, err := tr.Transform(rec(tutorialOrder)); err != nil {
		t.Fatalf("validate value: %v", err)
	}
	r.ValidateAttributes = true
	tr = newTransformer(t, r)
	_, err := tr.Transform(rec(tutorialOrder))
	var ie *transform.InvalidError
	if !errors.As(err, &ie) || ie.Reason != transform.ReasonSchema {
		t.Fatalf("validate attributes: %v, want schema", err)
	}
}

// TestHeaderFilter: a filter on a header picks records of a mixed topic.
func TestHeaderFilter(t *testing.T) {
	r := orderRoute()
	r.Filter = `headers[?"event-kind"].orValue("") == "order"`
	tr := newTransformer(t, r)
	if _, err := tr.Transform(rec(tutorialOrder, "event-kind", "order")); err != nil {
		t.Errorf("order: %v", err)
	}
	_, err := tr.Transform(rec(tutorialOrder, "event-kind", "payment"))
	if !errors.Is(err, transform.ErrSkip) {
		t.Errorf("payment: %v, want skipped", err)
	}
	_, err = tr.Transform(rec(tutorialOrder))
	if !errors.Is(err, transform.ErrSkip) {
		t.Errorf("no header: %v, want skipped", err)
	}
}

// BenchmarkTransformMapping measures a route with a filter and a 6-field
// attributes map against today's whole-value path, in the same run: each
// iteration transforms the tutorial order through both, and the benchmark
// reports each time and the ratio (target: at most 1.5).
func BenchmarkTransformMapping(b *testing.B) {
	plain := newTransformer(b)
	r := orderRoute()
	r.Filter = `value.currency in ["USD", "EUR"] && value.totalAmount > 0.0`
	r.Attributes = `{"orderId": value.orderId, "customer": value.customerId, "amount": value.totalAmount,
		"currency": value.currency, "at": value.timestamp, "source": "checkout"}`
	mapped := newTransformer(b, r)
	in := rec(tutorialOrder, "x-correlation-id", "trace-abc-123-xyz")
	var spent [2]time.Duration
	b.ReportAllocs()
	for b.Loop() {
		for i, tr := range []*transform.Transformer{plain, mapped} {
			t0 := time.Now()
			if _, err := tr.Transform(in); err != nil {
				b.Fatal(err)
			}
			spent[i] += time.Since(t0)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(spent[0].Nanoseconds())/n, "whole-value-ns/rec")
	b.ReportMetric(float64(spent[1].Nanoseconds())/n, "mapped-ns/rec")
	b.ReportMetric(float64(spent[1])/float64(spent[0]), "mapped/whole")
}

// TestDuplicateMember: a value whose object repeats a member name, at any
// depth, is invalid (duplicate_member): the schema would judge one value
// and CXone's parser might read the other.
func TestDuplicateMember(t *testing.T) {
	tr := newTransformer(t)
	for _, v := range []string{
		`{"orderId":"ORD-1234567890","customerId":"CUST-998877","totalAmount":-5,"currency":"USD","timestamp":"2026-11-27T10:00:00.000Z","totalAmount":150.75}`,
		`{"orderId":"ORD-1234567890","customerId":"CUST-998877","totalAmount":1,"currency":"USD","timestamp":"2026-11-27T10:00:00.000Z","metadata":{"a":1,"a":2}}`,
	} {
		_, err := tr.Transform(rec(v))
		var ie *transform.InvalidError
		if !errors.As(err, &ie) || ie.Reason != transform.ReasonDuplicateMember {
			t.Errorf("%s: %v, want duplicate_member", v, err)
		}
	}
}
