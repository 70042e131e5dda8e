package mapping_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cxone-bridge/bridge/mapping"
)

// A route's filter and attributes over a Debezium change event.
func Example() {
	filter, err := mapping.Compile(`value.op in ["c", "u"]`, mapping.KindBool)
	if err != nil {
		panic(err)
	}
	attributes, err := mapping.Compile(`{
  "orderId": value.after.order_id,
  "customer": {"id": value.after.customer_id},
  "total": value.after.total,
  "source": "erp"
}`, mapping.KindMap)
	if err != nil {
		panic(err)
	}

	var value any
	_ = json.Unmarshal([]byte(`{"before":null,"after":{"order_id":"ORD-1","customer_id":"C-9","total":150.75},"op":"c","source":{"table":"orders"}}`), &value)
	act := &mapping.Activation{Value: value, Topic: "erp.public.orders"}

	keep, err := filter.Eval(act)
	fmt.Println(keep, err)
	body, err := attributes.Eval(act)
	fmt.Println(string(body.([]byte)), err)
	// Output:
	// true <nil>
	// {"customer":{"id":"C-9"},"orderId":"ORD-1","source":"erp","total":150.75} <nil>
}

// A compile error names the line and column within the expression.
func ExampleCompileError() {
	_, err := mapping.Compile("{\n  \"orderId\": vaule.order_id\n}", mapping.KindMap)
	var ce *mapping.CompileError
	if errors.As(err, &ce) {
		fmt.Println(ce.Line, ce.Column)
	}
	fmt.Println(err)
	// Output:
	// 2 14
	// line 2, column 14: undeclared reference to 'vaule' (did you mean 'value'?)
}

// A run-time error is the record's: the caller dead-letters it.
func ExampleEvalError() {
	x, _ := mapping.Compile(`value.customer.id`, mapping.KindString)
	_, err := x.Eval(&mapping.Activation{Value: map[string]any{"order": "ORD-1"}})
	fmt.Println(errors.Is(err, mapping.ErrEval), err)
	// Output:
	// true no such key: customer
}
