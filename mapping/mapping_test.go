package mapping

import (
	"cel.dev/cel-go/cel"

	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"cel.dev/cel-go/common/types/ref"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		kind Kind
		line int
		col  int
		msg  string // the Message starts with it
	}{
		{"undeclared", `"a" + vaule`, KindString, 1, 7, "undeclared reference to 'vaule'"},
		{"undeclared at start", `vaule.x == 1`, KindBool, 1, 1, "undeclared reference to 'vaule'"},
		{"columns count characters", `"é" + vaule`, KindString, 1, 7, "undeclared reference to 'vaule'"},
		{"error on line 2 of 3", "{\n  \"orderId\": vaule.order_id,\n  \"source\": \"erp\"\n}", KindMap, 2, 14, "undeclared reference to 'vaule'"},
		{"error on line 3 of 3", "value.op in [\"c\", \"u\"]\n  &&\n  value.after.x ==", KindBool, 3, 19, "Syntax error"},
		{"syntax error", `value.x +`, KindBool, 1, 10, "Syntax error"},
		{"unknown function", `value.x.toUpper()`, KindString, 1, 16, "undeclared reference to 'toUpper'"},
		{"no such overload", `"a" + 1`, KindString, 1, 5, "found no matching overload for '_+_'"},

		// Result types the checker knows to be wrong.
		{"filter is a string", `"yes"`, KindBool, 1, 1, "result has type string, want bool"},
		{"filter is an int", `  size(value)`, KindBool, 1, 3, "result has type int, want bool"},
		{"filter is optional", `value.?x`, KindBool, 1, 1, "result has type optional_type(dyn), want bool"},
		{"event type is an int", `size(value.name)`, KindString, 1, 1, "result has type int, want string"},
		{"event type is a bool", "\n  value.a == 1", KindString, 2, 3, "result has type bool, want string"},
		{"after a comment", "// the event type\n  // of an order\n\t size(value)", KindString, 3, 3, "result has type int, want string"},
		{"several errors: the first", "vaule.a + 1 == valeu.b", KindBool, 1, 1, "undeclared reference to 'vaule'"},
		{"business key is null", `null`, KindString, 1, 1, "result has type null_type, want string"},
		{"attributes are a list", `[value.a, value.b]`, KindMap, 1, 1, "result has type list(dyn), want map with string keys"},
		{"attributes with int keys", `{1: value.a}`, KindMap, 1, 1, "result has type map(int, dyn), want map with string keys"},
		{"attributes are a string", `value.a + "x"`, KindMap, 1, 1, "result has type string, want map with string keys"},
		{"timestamp is an int", `offset`, KindTimestamp, 1, 1, "result has type int, want timestamp or RFC 3339 string"},
		{"timestamp is a duration", `duration("1s")`, KindTimestamp, 1, 1, "result has type google.protobuf.Duration, want timestamp or RFC 3339 string"},

		// Literal arguments checked at compile time.
		{"bad timestamp literal", `timestamp("yesterday")`, KindTimestamp, 1, 11, "invalid timestamp argument"},
		{"bad duration literal", `timestamp + duration("1 day")`, KindTimestamp, 1, 22, "invalid duration argument"},
		{"bad regex literal", `value.sku.matches("[")`, KindBool, 1, 19, "invalid matches argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := Compile(tt.src, tt.kind)
			if err == nil {
				t.Fatalf("Compile(%q) = %v, want an error", tt.src, x)
			}
			if !errors.Is(err, ErrCompile) {
				t.Errorf("errors.Is(%v, ErrCompile) = false", err)
			}
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not a *CompileError", err, err)
			}
			if ce.Line != tt.line || ce.Column != tt.col || !strings.HasPrefix(ce.Message, tt.msg) {
				t.Errorf("got line %d, column %d, %q; want line %d, column %d, %q…", ce.Line, ce.Column, ce.Message, tt.line, tt.col, tt.msg)
			}
			if want := fmt.Sprintf("line %d, column %d: %s", tt.line, tt.col, ce.Message); err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Error() spans several lines: %q", err.Error())
			}
			if ce.Detail == "" {
				t.Error("Detail is empty")
			}
		})
	}
}

func TestCompileErrorText(t *testing.T) {
	_, err := Compile(`"a" + vaule`, KindString)
	const want = "line 1, column 7: undeclared reference to 'vaule' (did you mean 'value'?)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	// Detail keeps CEL's report, with the line and a caret.
	if d := err.(*CompileError).Detail; !strings.Contains(d, "| \"a\" + vaule\n | ......^") {
		t.Errorf("Detail = %q, want the source line with a caret", d)
	}
}

func TestCompileInvalidKind(t *testing.T) {
	for _, k := range []Kind{0, KindTimestamp + 1} {
		if _, err := Compile(`true`, k); err == nil || errors.Is(err, ErrCompile) {
			t.Errorf("Compile with kind %d: got %v, want a plain error", k, err)
		}
	}
}

// TestCompileDyn: a result of type dyn compiles for every kind, and is
// checked at run time.
func TestCompileDyn(t *testing.T) {
	for _, kind := range []Kind{KindBool, KindMap, KindString, KindTimestamp} {
		for _, src := range []string{`value`, `value.x`, `value["a b"]`, `dyn(1)`, `value.?x.orValue(null)`} {
			if _, err := Compile(src, kind); err != nil {
				t.Errorf("Compile(%q, %s): %v", src, kind, err)
			}
		}
	}
}

func TestCostLimitOption(t *testing.T) {
	x := mustCompile(t, `true`, KindBool)
	if x.costLimit != DefaultCostLimit {
		t.Errorf("default cost limit %d, want %d", x.costLimit, DefaultCostLimit)
	}
	if x := mustCompile(t, `true`, KindBool, WithCostLimit(0)); x.costLimit != DefaultCostLimit {
		t.Errorf("WithCostLimit(0): %d, want the default", x.costLimit)
	}
	if x := mustCompile(t, `true`, KindBool, WithCostLimit(7)); x.costLimit != 7 {
		t.Errorf("WithCostLimit(7): %d", x.costLimit)
	}
}

func TestVars(t *testing.T) {
	tests := []struct {
		src  string
		want []string
	}{
		{`true`, nil},
		{`value.a == key`, []string{"key", "value"}},
		{`headers["a"] == "b" && "x" in header_values`, []string{"header_values", "headers"}},
		{`topic + string(partition) + string(offset) + string(timestamp)`, []string{"offset", "partition", "timestamp", "topic"}},
		{`[1, 2].exists(value, value == 1)`, []string{"value"}}, // a comprehension variable named value counts
		{`cel.bind(k, key, k + k)`, []string{"key"}},
	}
	for _, tt := range tests {
		x, err := Compile(tt.src, KindBool)
		if err != nil {
			x, err = Compile(tt.src, KindString)
		}
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.src, err)
		}
		if got := x.Vars(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Vars(%q) = %q, want %q", tt.src, got, tt.want)
		}
	}
}

// evalCase is one evaluation: an expression, the record and the result
// (or the start of the error message).
type evalCase struct {
	name    string
	src     string
	kind    Kind
	act     *Activation
	want    any    // for KindMap: the JSON text
	wantErr string // the error message contains it
}

func runEvalCases(t *testing.T, tests []evalCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := mustCompile(t, tt.src, tt.kind)
			got, err := x.Eval(tt.act)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Eval(%q) = %v, want an error containing %q", tt.src, show(got), tt.wantErr)
				}
				if !errors.Is(err, ErrEval) {
					t.Errorf("errors.Is(%v, ErrEval) = false", err)
				}
				var ee *EvalError
				if !errors.As(err, &ee) {
					t.Errorf("error %T is not an *EvalError", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Eval(%q): error %q, want it to contain %q", tt.src, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval(%q): %v", tt.src, err)
			}
			if tt.kind == KindMap {
				b, ok := got.([]byte)
				if !ok {
					t.Fatalf("Eval(%q) = %T, want []byte", tt.src, got)
				}
				if !json.Valid(b) {
					t.Errorf("Eval(%q) = %s: not valid JSON", tt.src, b)
				}
				got = string(b)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Eval(%q) = %#v, want %#v", tt.src, got, tt.want)
			}
		})
	}
}

func show(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}

// record returns an activation holding the JSON value s.
func record(t *testing.T, s string) *Activation {
	t.Helper()
	return &Activation{Value: decodeJSON(t, s)}
}

func TestEvalKinds(t *testing.T) {
	ts := time.Date(2026, 11, 27, 10, 0, 0, 123e6, time.UTC)
	order := record(t, tutorialOrder)
	runEvalCases(t, []evalCase{
		{name: "bool", src: `value.totalAmount > 100`, kind: KindBool, act: order, want: true},
		{name: "bool false", src: `value.currency != "USD"`, kind: KindBool, act: order, want: false},
		{name: "bool from dyn", src: `value.flag`, kind: KindBool, act: record(t, `{"flag":true}`), want: true},
		{name: "bool from dyn, not a bool", src: `value.orderId`, kind: KindBool, act: order, wantErr: "result has type string, want bool"},
		{name: "string", src: `"order." + value.currency.lowerAscii()`, kind: KindString, act: order, want: "order.usd"},
		{name: "string empty", src: `""`, kind: KindString, act: order, want: ""},
		{name: "string from dyn", src: `value.orderId`, kind: KindString, act: order, want: "ORD-1234567890"},
		{name: "string from dyn, not a string", src: `value.totalAmount`, kind: KindString, act: order, wantErr: "result has type double, want string"},
		{name: "string from dyn, null", src: `value.x`, kind: KindString, act: record(t, `{"x":null}`), wantErr: "result has type null_type, want string"},
		{name: "string format", src: `"%s-%d".format([value.customerId, int(value.totalAmount)])`, kind: KindString, act: order, want: "CUST-998877-150"},
		{name: "timestamp from RFC 3339 string", src: `value.timestamp`, kind: KindTimestamp, act: order, want: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)},
		{name: "timestamp with offset", src: `"2026-11-27T11:30:00.5+01:00"`, kind: KindTimestamp, act: order, want: time.Date(2026, 11, 27, 10, 30, 0, 5e8, time.UTC)},
		{name: "timestamp from CEL timestamp", src: `timestamp(value.timestamp) + duration("90s")`, kind: KindTimestamp, act: order, want: time.Date(2026, 11, 27, 10, 1, 30, 0, time.UTC)},
		{name: "timestamp of the record", src: `timestamp`, kind: KindTimestamp, act: &Activation{Timestamp: ts.In(time.FixedZone("X", 3600))}, want: ts},
		{name: "timestamp from epoch millis", src: `timestamp(int(value.ms / 1000.0))`, kind: KindTimestamp, act: record(t, `{"ms":1700000000000}`), want: time.Unix(1700000000, 0).UTC()},
		{name: "timestamp not RFC 3339", src: `value.orderId`, kind: KindTimestamp, act: order, wantErr: `result is not an RFC 3339 date-time: "ORD-1234567890"`},
		{name: "timestamp not a string", src: `value.totalAmount`, kind: KindTimestamp, act: order, wantErr: "result has type double, want timestamp or RFC 3339 string"},
		{name: "map", src: `{"id": value.orderId}`, kind: KindMap, act: order, want: `{"id":"ORD-1234567890"}`},
		{name: "map empty", src: `{}`, kind: KindMap, act: order, want: `{}`},
		{name: "map from dyn", src: `value.metadata`, kind: KindMap, act: order, want: `{"source":"checkout-api","version":"2.1"}`},
		{name: "map from dyn, a list", src: `value.items`, kind: KindMap, act: record(t, `{"items":[1,2]}`), wantErr: "result has type list, want map with string keys"},
		{name: "map from dyn, a string", src: `value.orderId`, kind: KindMap, act: order, wantErr: "result has type string, want map with string keys"},
		{name: "nil activation", src: `key == "" && topic == "" && partition == 0 && offset == 0 && value == null && size(headers) == 0`, kind: KindBool, act: nil, want: true},
	})
}

func TestVariables(t *testing.T) {
	ts := time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC)
	act := &Activation{
		Value: decodeJSON(t, `{"customer":{"name":"Ada","address":{"city":"Paris"}},"tags":["a","b"],"n":3}`),
		Key:   []byte("CUST-1"),
		Headers: []Header{
			{Key: "event-kind", Value: []byte("order")},
			{Key: "Event-Kind", Value: []byte("other")},
			{Key: "event-kind", Value: []byte("duplicate")},
			{Key: "empty", Value: nil},
			{Key: "bin", Value: []byte("a\xff\xfeb")},
			{Key: "n\xffme", Value: []byte("v")},
		},
		Topic:     "orders",
		Partition: 7,
		Offset:    1234567,
		Timestamp: ts,
	}
	runEvalCases(t, []evalCase{
		{name: "nested field", src: `value.customer.address.city`, kind: KindString, act: act, want: "Paris"},
		{name: "index syntax", src: `value["customer"]["name"]`, kind: KindString, act: act, want: "Ada"},
		{name: "list element", src: `value.tags[1]`, kind: KindString, act: act, want: "b"},
		{name: "number is a double", src: `type(value.n) == double && value.n == 3 && value.n > 2`, kind: KindBool, act: act, want: true},
		{name: "has present", src: `has(value.customer.name)`, kind: KindBool, act: act, want: true},
		{name: "has absent", src: `has(value.customer.email)`, kind: KindBool, act: act, want: false},
		{name: "in", src: `"tags" in value && !("x" in value)`, kind: KindBool, act: act, want: true},
		{name: "optional present", src: `value.?customer.?name.orValue("n/a")`, kind: KindString, act: act, want: "Ada"},
		{name: "optional absent", src: `value.?customer.?email.orValue("n/a")`, kind: KindString, act: act, want: "n/a"},
		{name: "optional entry left out", src: `{?"email": value.?customer.?email, ?"name": value.?customer.?name}`, kind: KindMap, act: act, want: `{"name":"Ada"}`},
		{name: "key", src: `key`, kind: KindString, act: act, want: "CUST-1"},
		{name: "key absent", src: `key`, kind: KindString, act: &Activation{}, want: ""},
		{name: "key not UTF-8", src: `key`, kind: KindString, act: &Activation{Key: []byte("a\xffb")}, want: "a\uFFFDb"},
		{name: "header: first value wins", src: `headers["event-kind"]`, kind: KindString, act: act, want: "order"},
		{name: "header names are case-sensitive", src: `headers["Event-Kind"]`, kind: KindString, act: act, want: "other"},
		{name: "header absent", src: `"EVENT-KIND" in headers`, kind: KindBool, act: act, want: false},
		{name: "header with null value", src: `headers.empty`, kind: KindString, act: act, want: ""},
		{name: "header not UTF-8", src: `headers.bin + "," + headers["n\uFFFDme"]`, kind: KindString, act: act, want: "a\uFFFDb,v"},
		{name: "header optional", src: `headers.?source.orValue("kafka")`, kind: KindString, act: act, want: "kafka"},
		{name: "header_values", src: `header_values`, kind: KindMap, act: act, want: `{"Event-Kind":["other"],"bin":["a` + "\uFFFD" + `b"],"empty":[""],"event-kind":["order","duplicate"],"n` + "\uFFFD" + `me":["v"]}`},
		{name: "header_values last", src: `header_values["event-kind"][size(header_values["event-kind"]) - 1]`, kind: KindString, act: act, want: "duplicate"},
		{name: "headers as attributes", src: `{"h": headers}`, kind: KindMap, act: act, want: `{"h":{"Event-Kind":"other","bin":"a` + "\uFFFD" + `b","empty":"","event-kind":"order","n` + "\uFFFD" + `me":"v"}}`},
		{name: "topic partition offset", src: `"%s/%d/%d".format([topic, partition, offset])`, kind: KindString, act: act, want: "orders/7/1234567"},
		{name: "partition is an int", src: `partition == 7 && type(partition) == int && offset > 1000000`, kind: KindBool, act: act, want: true},
		{name: "timestamp", src: `timestamp == timestamp("2024-01-02T03:04:05.006Z") && timestamp.getHours() == 3`, kind: KindBool, act: act, want: true},
		{name: "timestamp in attributes", src: `{"ts": timestamp}`, kind: KindMap, act: act, want: `{"ts":"2024-01-02T03:04:05.006Z"}`},
		{name: "null value", src: `value == null`, kind: KindBool, act: &Activation{}, want: true},
		{name: "extension: strings", src: `value.customer.name.upperAscii() + "," + "a,b".split(",")[1]`, kind: KindString, act: act, want: "ADA,b"},
		{name: "extension: encoders", src: `base64.encode(bytes(key))`, kind: KindString, act: act, want: "Q1VTVC0x"},
		{name: "extension: math", src: `math.greatest(1, 5, 3) == 5 && math.round(2.5) == 3.0`, kind: KindBool, act: act, want: true},
		{name: "extension: lists", src: `value.tags.reverse().slice(0, 1)[0]`, kind: KindString, act: act, want: "b"},
		{name: "extension: bindings", src: `cel.bind(c, value.customer, c.name + "@" + c.address.city)`, kind: KindString, act: act, want: "Ada@Paris"},
		{name: "extension: two-variable comprehension", src: `value.customer.transformMap(k, v, k != "address", v)`, kind: KindMap, act: act, want: `{"name":"Ada"}`},
	})
}

// TestWorkedExamples are the examples of the documentation.
func TestWorkedExamples(t *testing.T) {
	debezium := func(op string) *Activation {
		return &Activation{Value: decodeJSON(t, `{
			"before": null,
			"after": {"order_id": 1001, "customer_id": "CUST-7", "total": "150.75", "status": "NEW", "created_at": "2026-11-27T10:00:00Z"},
			"op": "`+op+`",
			"source": {"connector": "postgresql", "db": "shop", "table": "orders", "ts_ms": 1795773600000}
		}`)}
	}
	const cdcFilter = `value.op in ["c", "u"]`
	const cdcAttributes = `{
  "orderId": string(int(value.after.order_id)),
  "customerId": value.after.customer_id,
  "total": value.after.total,
  "status": value.after.status.lowerAscii(),
  "table": value.source.db + "." + value.source.table,
  "source": "erp"
}`
	order := &Activation{Value: decodeJSON(t, `{"order_id":"ORD-1","customer_id":"C-9","customer_name":"Ada","amount":150.75,"amount_text":"150.75","qty":2}`)}
	runEvalCases(t, []evalCase{
		{name: "CDC filter create", src: cdcFilter, kind: KindBool, act: debezium("c"), want: true},
		{name: "CDC filter update", src: cdcFilter, kind: KindBool, act: debezium("u"), want: true},
		{name: "CDC filter delete", src: cdcFilter, kind: KindBool, act: debezium("d"), want: false},
		{name: "CDC filter snapshot read", src: cdcFilter, kind: KindBool, act: debezium("r"), want: false},
		{name: "CDC attributes", src: cdcAttributes, kind: KindMap, act: debezium("c"),
			want: `{"customerId":"CUST-7","orderId":"1001","source":"erp","status":"new","table":"shop.orders","total":"150.75"}`},
		{name: "CDC event type", src: `"order." + {"c": "created", "u": "updated"}[value.op]`, kind: KindString, act: debezium("u"), want: "order.updated"},
		{name: "CDC business key", src: `string(int(value.after.order_id))`, kind: KindString, act: debezium("c"), want: "1001"},
		{name: "CDC timestamp", src: `value.after.created_at`, kind: KindTimestamp, act: debezium("c"), want: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)},
		{name: "CDC timestamp from ts_ms", src: `timestamp(int(value.source.ts_ms) / 1000)`, kind: KindTimestamp, act: debezium("c"), want: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)},
		{name: "CDC all columns but one", src: `value.after.transformMap(k, v, k != "customer_id", v)`, kind: KindMap, act: debezium("c"),
			want: `{"created_at":"2026-11-27T10:00:00Z","order_id":1001,"status":"NEW","total":"150.75"}`},
		{name: "snake_case to camelCase with nesting", src: `{"orderId": value.order_id, "customer": {"id": value.customer_id, "name": value.customer_name}}`, kind: KindMap, act: order,
			want: `{"customer":{"id":"C-9","name":"Ada"},"orderId":"ORD-1"}`},
		{name: "constant attribute", src: `{"source": "erp", "orderId": value.order_id}`, kind: KindMap, act: order, want: `{"orderId":"ORD-1","source":"erp"}`},
		{name: "money kept exact", src: `{"amount": value.amount, "amountText": value.amount_text, "qty": value.qty}`, kind: KindMap, act: order,
			want: `{"amount":150.75,"amountText":"150.75","qty":2}`},
		{name: "header filter", src: `headers["event-kind"] == "order"`, kind: KindBool,
			act: &Activation{Headers: []Header{{Key: "event-kind", Value: []byte("order")}}}, want: true},
		{name: "header filter, other kind", src: `headers["event-kind"] == "order"`, kind: KindBool,
			act: &Activation{Headers: []Header{{Key: "event-kind", Value: []byte("refund")}}}, want: false},
		{name: "header filter, header absent", src: `headers["event-kind"] == "order"`, kind: KindBool,
			act: &Activation{}, wantErr: "no such key: event-kind"},
		{name: "header filter, absent is false", src: `headers[?"event-kind"].orValue("") == "order"`, kind: KindBool,
			act: &Activation{}, want: false},
	})
}

// panicVal is a CEL value whose every method panics, standing for a bug
// of cel-go or of the caller's value.
type panicVal struct{}

func (panicVal) ConvertToNative(reflect.Type) (any, error) { panic("ConvertToNative") }
func (panicVal) ConvertToType(ref.Type) ref.Val            { panic("ConvertToType") }
func (panicVal) Equal(ref.Val) ref.Val                     { panic("Equal") }
func (panicVal) Type() ref.Type                            { panic("Type") }
func (panicVal) Value() any                                { panic("Value") }

func TestEvalErrors(t *testing.T) {
	order := record(t, tutorialOrder)
	nums := record(t, `{"zero":0,"n":7,"items":[1,2,3],"s":"x"}`)
	runEvalCases(t, []evalCase{
		{name: "missing key", src: `value.customer.id`, kind: KindString, act: order, wantErr: "no such key: customer"},
		{name: "missing index key", src: `value["customer"]`, kind: KindString, act: order, wantErr: "no such key: customer"},
		{name: "field of a string", src: `value.orderId.x`, kind: KindString, act: order, wantErr: "no such key"},
		{name: "field of null", src: `value.x.y`, kind: KindString, act: record(t, `{"x":null}`), wantErr: "no such key: y"},
		{name: "wrong type", src: `{"x": value.orderId + 1}`, kind: KindMap, act: order, wantErr: "no such overload"},
		{name: "double divided by int", src: `{"x": value.totalAmount / 100}`, kind: KindMap, act: order, wantErr: "no such overload"},
		{name: "int division by zero", src: `string(int(value.n) / int(value.zero))`, kind: KindString, act: nums, wantErr: "division by zero"},
		{name: "int modulus by zero", src: `string(int(value.n) % int(value.zero))`, kind: KindString, act: nums, wantErr: "modulus by zero"},
		{name: "index out of range", src: `value.items[3] == 1`, kind: KindBool, act: nums, wantErr: "index out of bounds: 3"},
		{name: "bad timestamp string", src: `timestamp(value.s)`, kind: KindTimestamp, act: nums, wantErr: "timestamp"},
		{name: "int overflow", src: `string(9223372036854775807 + int(value.n))`, kind: KindString, act: nums, wantErr: "overflow"},
		{name: "attributes returning a list", src: `value.items`, kind: KindMap, act: nums, wantErr: "result has type list, want map with string keys"},
		{name: "attributes with a non-string key", src: `{value.n: "x"}`, kind: KindMap, act: nums, wantErr: "map key 7 is a double, want a string"},
		{name: "attributes with a nested non-string key", src: `{"a": {"b": {value.n > 1: "x"}}}`, kind: KindMap, act: nums, wantErr: "at /a/b: map key true is a bool, want a string"},
		{name: "NaN", src: `{"x": double("NaN")}`, kind: KindMap, act: nums, wantErr: "at /x: the double NaN has no JSON form"},
		{name: "infinity", src: `{"x": [1.0, value.n / value.zero]}`, kind: KindMap, act: nums, wantErr: "at /x/1: the double +Inf has no JSON form"},
		{name: "optional value", src: `{"x": value.?n}`, kind: KindMap, act: nums, wantErr: "at /x: an optional value has no JSON form"},
		{name: "type value", src: `{"x": type(value)}`, kind: KindMap, act: nums, wantErr: "at /x: a value of type type has no JSON form"},
		{name: "timestamp beyond RFC 3339", src: `{"x": timestamp}`, kind: KindMap, act: &Activation{Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, wantErr: "at /x: timestamp year 10000 is outside 0001-9999"},
		{name: "NaN in the record", src: `value`, kind: KindMap, act: &Activation{Value: map[string]any{"a": map[string]any{"b/c": []any{1.0, posInf()}}}}, wantErr: "at /a/b~1c/1: the double +Inf has no JSON form"},
		{name: "invalid UTF-8 in the record", src: `value`, kind: KindMap, act: &Activation{Value: map[string]any{"a": "\xff"}}, wantErr: "at /a: string is not valid UTF-8"},
		{name: "unsupported Go value in the record", src: `value`, kind: KindMap, act: &Activation{Value: map[string]any{"a": struct{}{}}}, wantErr: "at /a:"},
		{name: "cost limit", src: `lists.range(100000).map(x, lists.range(100000).map(y, x * y)).size() > 0`, kind: KindBool, act: nums, wantErr: "cost limit 1000000 exceeded"},
		{name: "panic in evaluation", src: `value.p == 1`, kind: KindBool, act: &Activation{Value: map[string]any{"p": panicVal{}}}, wantErr: "internal error"},
		{name: "panic in JSON conversion", src: `{"p": value.p}`, kind: KindMap, act: &Activation{Value: map[string]any{"p": panicVal{}}}, wantErr: "internal error"},
	})
}

func posInf() float64 {
	var zero float64
	return 1 / zero
}

func TestCostLimit(t *testing.T) {
	tests := []struct {
		src   string
		kind  Kind
		limit uint64
	}{
		{`[1,2,3,4,5,6,7,8,9,10].map(x, [1,2,3,4,5,6,7,8,9,10].map(y, x * y)).size() > 0`, KindBool, 100},
		{`lists.range(1000).map(x, value.s).join("")`, KindString, 1000},
		{`{"x": lists.range(10000).map(x, lists.range(10000).map(y, x * y))}`, KindMap, 0},
		{`value.items.all(i, value.items.all(j, i <= j || i > j))`, KindBool, 0},
	}
	items := make([]any, 2000)
	for i := range items {
		items[i] = float64(i)
	}
	act := &Activation{Value: map[string]any{"s": strings.Repeat("x", 1000), "items": items}}
	for _, tt := range tests {
		x := mustCompile(t, tt.src, tt.kind, WithCostLimit(tt.limit))
		_, err := x.Eval(act)
		if !errors.Is(err, ErrCostLimit) || !errors.Is(err, ErrEval) {
			t.Errorf("Eval(%q) with cost limit %d: got %v, want a cost limit error", tt.src, tt.limit, err)
			continue
		}
		if !strings.Contains(err.Error(), "cost limit") {
			t.Errorf("Eval(%q): error %q does not mention the cost limit", tt.src, err)
		}
	}
	// An ordinary error is not a cost limit error.
	_, err := mustCompile(t, `value.nope`, KindString).Eval(act)
	if !errors.Is(err, ErrEval) || errors.Is(err, ErrCostLimit) {
		t.Errorf("got %v, want an EvalError that is not ErrCostLimit", err)
	}
}

// TestCostOfTutorial checks DefaultCostLimit's claim about the cost of the
// tutorial's expressions, so the comment stays true.
func TestCostOfTutorial(t *testing.T) {
	act := &Activation{Value: decodeJSON(t, tutorialOrder)}
	var total uint64
	e, err := env()
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{benchFilter, benchAttributes} {
		// Compile leaves these cheap expressions untracked; track them here.
		ast, iss := e.Compile(src)
		if iss.Err() != nil {
			t.Fatal(iss.Err())
		}
		prog, err := e.Program(ast, cel.CostLimit(DefaultCostLimit))
		if err != nil {
			t.Fatal(err)
		}
		_, det, err := prog.Eval(act)
		if err != nil {
			t.Fatal(err)
		}
		total += *det.ActualCost()
	}
	if total < 40 || total > 160 {
		t.Errorf("the tutorial's filter and attributes cost %d, DefaultCostLimit's comment says about 80", total)
	}
}

// TestCostTrackingOnlyWhereNeeded: an expression whose worst case is
// within the limit runs without the run-time tracker (no cost in the
// details); one that iterates over the record (a comprehension) is
// tracked.
func TestCostTrackingOnlyWhereNeeded(t *testing.T) {
	act := &Activation{Value: decodeJSON(t, tutorialOrder)}
	for src, tracked := range map[string]bool{
		benchFilter:                             false,
		benchAttributes:                         false,
		`value.metadata.all(k, k != "")`:        true,
		`value.orderId.contains("ORD")`:         true,  // linear in a string as large as a record
		`{"n": [1, 2, 3].map(x, x * 2).size()}`: false, // a comprehension over a literal: bounded
	} {
		kind := KindBool
		if strings.HasPrefix(src, "{") {
			kind = KindMap
		}
		_, det, err := mustCompile(t, src, kind).prog.Eval(act)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := det.ActualCost() != nil; got != tracked {
			t.Errorf("%s: tracked %v, want %v", src, got, tracked)
		}
	}
}

func TestEvalErrorMessageBounded(t *testing.T) {
	long := strings.Repeat("k", 10000)
	act := &Activation{Value: map[string]any{"k": long}}
	_, err := mustCompile(t, `value[value.k]`, KindString).Eval(act)
	if err == nil || len(err.Error()) > maxMessageBytes+len("…") {
		t.Fatalf("got %d bytes of error %.80q…, want at most %d", len(err.Error()), err, maxMessageBytes)
	}
}

// TestNoCompileInEval: evaluations compile nothing.
func TestNoCompileInEval(t *testing.T) {
	filter := mustCompile(t, benchFilter, KindBool)
	attrs := mustCompile(t, benchAttributes, KindMap)
	act := &Activation{Value: decodeJSON(t, tutorialOrder)}
	before := compilations.Load()
	for range 100 {
		if _, err := filter.Eval(act); err != nil {
			t.Fatal(err)
		}
		if _, err := attrs.Eval(act); err != nil {
			t.Fatal(err)
		}
	}
	if n := compilations.Load() - before; n != 0 {
		t.Errorf("200 evaluations compiled %d times", n)
	}
}

// TestActivationReuse evaluates several expressions over a sequence of
// records with one Activation: nothing of a record leaks into the next.
func TestActivationReuse(t *testing.T) {
	x := mustCompile(t, `{"k": key, "h": headers, "hv": header_values, "v": value.?id.orValue(null)}`, KindMap)
	k := mustCompile(t, `key + "/" + headers.?a.orValue("-")`, KindString)
	act := new(Activation)
	records := []struct {
		key     string
		headers []Header
		value   any
		wantX   string
		wantK   string
	}{
		{"k1", []Header{{"a", []byte("1")}, {"b", []byte("2")}}, map[string]any{"id": "x"}, `{"h":{"a":"1","b":"2"},"hv":{"a":["1"],"b":["2"]},"k":"k1","v":"x"}`, "k1/1"},
		{"k1", []Header{{"b", []byte("3")}}, map[string]any{}, `{"h":{"b":"3"},"hv":{"b":["3"]},"k":"k1","v":null}`, "k1/-"},
		{"", nil, nil, `{"h":{},"hv":{},"k":"","v":null}`, "/-"},
		{"k2", []Header{{"a", []byte("4")}, {"a", []byte("5")}}, map[string]any{"id": 1.5}, `{"h":{"a":"4"},"hv":{"a":["4","5"]},"k":"k2","v":1.5}`, "k2/4"},
	}
	for i, r := range records {
		act.Key, act.Headers, act.Value = []byte(r.key), r.headers, r.value
		for range 2 { // twice: the second evaluation reuses what the first built
			got, err := x.Eval(act)
			if err != nil || string(got.([]byte)) != r.wantX {
				t.Errorf("record %d: got %s, %v; want %s", i, show(got), err, r.wantX)
			}
			s, err := k.Eval(act)
			if err != nil || s != r.wantK {
				t.Errorf("record %d: got %v, %v; want %s", i, s, err, r.wantK)
			}
		}
	}
}

// TestConcurrentEval shares each *Expr between goroutines, each with its
// own Activation (go test -race checks it).
func TestConcurrentEval(t *testing.T) {
	filter := mustCompile(t, `headers["n"] == string(int(value.n))`, KindBool)
	attrs := mustCompile(t, `{"n": value.n, "key": key, "h": header_values}`, KindMap)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			act := new(Activation)
			for i := range 200 {
				n := g*1000 + i
				act.Value = map[string]any{"n": float64(n)}
				act.Key = fmt.Appendf(act.Key[:0], "k%d", n)
				act.Headers = append(act.Headers[:0], Header{Key: "n", Value: fmt.Appendf(nil, "%d", n)})
				ok, err := filter.Eval(act)
				if err != nil || ok != true {
					t.Errorf("filter: %v, %v", ok, err)
					return
				}
				got, err := attrs.Eval(act)
				want := fmt.Sprintf(`{"h":{"n":["%d"]},"key":"k%d","n":%d}`, n, n, n)
				if err != nil || string(got.([]byte)) != want {
					t.Errorf("attributes: %s, %v; want %s", show(got), err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestAppendJSON(t *testing.T) {
	x := mustCompile(t, `{"a": value.a}`, KindMap)
	act := &Activation{Value: map[string]any{"a": 1.0}}
	got, err := x.AppendJSON([]byte(`{"attributes":`), act)
	if err != nil || string(got) != `{"attributes":{"a":1}` {
		t.Fatalf("AppendJSON = %s, %v", got, err)
	}
	// On error, dst comes back unchanged.
	act.Value = map[string]any{"a": []any{1.0, posInf()}}
	got, err = x.AppendJSON([]byte("prefix"), act)
	if err == nil || string(got) != "prefix" {
		t.Fatalf("AppendJSON = %q, %v; want prefix and an error", got, err)
	}
	// Only for KindMap.
	if _, err := mustCompile(t, `true`, KindBool).AppendJSON(nil, act); !errors.Is(err, ErrEval) {
		t.Errorf("AppendJSON on a filter: %v", err)
	}
}
