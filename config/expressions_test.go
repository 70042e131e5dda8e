package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cxone-bridge/bridge/config"
)

// TestExpressionProblems: every route expression is compiled at load; a
// mistake is a problem at its key, with the key's line in the file and the
// line and column in the expression, reported with every other problem.
// Several routes may share a topic when the earlier have filters.
func TestExpressionProblems(t *testing.T) {
	yaml := `
kafka:
  brokers: [localhost:9092]
cxone:
  auth: {client_id: c, client_secret: s}
routes:
  - topic: cdc.orders
    filter: value.op == "c"
    event_type: OrderCreated
    business_key_expr: value.after.order_id
  - topic: cdc.orders
    filter: |
      value.op == "u" &&
        vaule.after != null
    event_type_expr: 42
    business_key: /after/order_id
    validate: everything
  - topic: cdc.orders
    event_type: Other
    business_key: /id
  - topic: cdc.orders
    event_type: Never
    business_key: /id
`
	_, err := config.Parse([]byte(yaml), t.TempDir())
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	text := err.Error()
	for _, want := range []string{
		"routes[1].filter: does not compile (bridge.yaml line 12): expression line 2, column 3: undeclared reference to 'vaule'",
		"routes[1].event_type_expr: does not compile (bridge.yaml line 15): expression ",
		"routes[1].validate: must be value or attributes",
		"routes[3].topic: topic \"cdc.orders\" is already routed by routes[2], which has no filter",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("problems lack %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "routes[1].topic") || strings.Contains(text, "routes[2].topic") {
		t.Errorf("a route after routes with filters is refused:\n%s", text)
	}
	if len(ce.Problems) != 4 {
		t.Errorf("%d problems, want 4:\n%s", len(ce.Problems), text)
	}
}

// TestTypeErrorHidesNothing: a key of the wrong type is reported together
// with every other problem of the file, without follow-on problems for
// the key itself.
func TestTypeErrorHidesNothing(t *testing.T) {
	_, err := config.Parse([]byte("kafka: {brokers: [localhost:9092]}\nconsumer: {ordering: keys, drain_timeout: 20}\ncxone: {auth: {client_id: c, client_secret: s}}\nroutes: [{topic: orders, event_type: E, business_key: /id}]\n"), t.TempDir())
	var ce *config.Error
	if !errors.As(err, &ce) || len(ce.Problems) != 2 {
		t.Fatalf("err = %v, want 2 problems", err)
	}
	if ce.Problems[0].Path != "consumer.drain_timeout" || ce.Problems[1].Path != "consumer.ordering" {
		t.Errorf("problems %v", ce.Problems)
	}
}
