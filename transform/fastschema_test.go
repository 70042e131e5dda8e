package transform

import (
	"bytes"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// fastSchemas are the schemas the fast check is tried on: the shipped
// order schema and variants using every keyword of the subset.
var fastSchemas = []string{
	"", // ../schemas/order.json
	`{"type":"object","required":["n"],"properties":{
		"n":{"type":"integer","minimum":-5,"maximum":10.5},
		"s":{"type":["string","null"],"maxLength":3,"enum":["a","ab","abc","é"]},
		"x":{"exclusiveMinimum":0.1,"exclusiveMaximum":1e3},
		"b":{"type":"boolean","description":"a flag"},
		"o":{"type":"object","additionalProperties":true},
		"a":{"type":"array"}}}`,
	`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","additionalProperties":false,"properties":{
		"t":{"type":"string","format":"date-time"},
		"p":{"pattern":"^[a-z]+$","minLength":2},
		"m":{"minimum":0.1,"maximum":0.30000000000000004}}}`,
}

func schemaDoc(t testing.TB, i int) []byte {
	if fastSchemas[i] != "" {
		return []byte(fastSchemas[i])
	}
	b, err := os.ReadFile("../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// libSchema compiles doc as CompileSchema does.
func libSchema(t testing.TB, doc []byte) *jsonschema.Schema {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource("s.json", v); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("s.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzFastSchema: whatever the value, when the fast check says valid the
// library accepts it too, for every schema of fastSchemas. (When it says
// not sure, the library decides; nothing to check.)
func FuzzFastSchema(f *testing.F) {
	for _, v := range []string{
		`{"orderId":"ORD-1234567890","customerId":"CUST-998877","totalAmount":150.75,"currency":"USD","timestamp":"2026-11-27T10:00:00.000Z","metadata":{"source":"checkout-api"}}`,
		`{"orderId":"ORD-1234567890","customerId":"","totalAmount":0,"currency":"USD","timestamp":"2026-11-27T10:00:00Z"}`,
		`{"orderId":"ORD-1234567890","customerId":"é","totalAmount":-0,"currency":"usd","timestamp":"2026-02-30T10:00:00Z","x":1}`,
		`{"n":10.5,"s":"é","x":0.1,"b":true,"o":{},"a":[]}`, `{"n":1e-400,"s":null,"x":1000}`, `{"n":-5.0,"s":"abcd"}`,
		`{"t":"2016-12-31T23:59:60Z","p":"ab","m":0.1}`, `{"t":"2026-11-27t10:00:00.5+01:00","p":"a","m":0.30000000000000004}`,
		`{"m":0.30000000000000003}`, `[]`, `"s"`, `null`,
	} {
		for i := range fastSchemas {
			f.Add(uint8(i), v)
		}
	}
	fast := make([]*fastSchema, len(fastSchemas))
	lib := make([]*jsonschema.Schema, len(fastSchemas))
	for i := range fastSchemas {
		doc := schemaDoc(f, i)
		if fast[i] = compileFastSchema(doc); fast[i] == nil {
			f.Fatalf("schema %d: outside the fast subset", i)
		}
		lib[i] = libSchema(f, doc)
	}
	f.Fuzz(func(t *testing.T, which uint8, value string) {
		i := int(which) % len(fastSchemas)
		if _, deep := checkShape([]byte(value), 200); deep != nil {
			return // the transform refuses it before decoding
		}
		var doc jsonDoc
		if doc.parse([]byte(value)) != nil {
			return
		}
		if fast[i].valid(&doc) {
			if err := lib[i].Validate(doc.value(0)); err != nil {
				t.Fatalf("schema %d: %s: the fast check says valid, the library says %v", i, value, err)
			}
		}
	})
}

// TestFastSchema: the order schema and the subset compile to a fast check
// that takes a tutorial order; schemas with anything else do not compile
// to one (the library alone judges them); values the check is not sure of
// go to the library.
func TestFastSchema(t *testing.T) {
	order := compileFastSchema(schemaDoc(t, 0))
	if order == nil {
		t.Fatal("the order schema has no fast check")
	}
	var v jsonDoc
	if err := v.parse([]byte(`{"orderId":"ORD-1234567890","customerId":"CUST-998877","totalAmount":150.75,"currency":"USD","timestamp":"2026-11-27T10:00:00.000Z","metadata":{"source":"checkout-api","version":"2.1"}}`)); err != nil {
		t.Fatal(err)
	}
	if !order.valid(&v) {
		t.Error("the tutorial order does not take the fast path")
	}
	for _, doc := range []string{
		`{"type":"object","properties":{"a":{"$ref":"#/$defs/x"}},"$defs":{"x":{}}}`,
		`{"type":"object","allOf":[{}]}`,
		`{"type":"object","properties":{"e":{"type":"string","format":"email"}}}`,
		`{"type":"object","properties":{"o":{"type":"object","properties":{"a":{}}}}}`,
		`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object"}`,
		`{"properties":{"a":{"type":"string"}}}`,
		`{"type":"object","properties":{"a":{"type":"string","additionalProperties":true}}}`,
		`{"type":"object","properties":{"a":{"multipleOf":2}}}`,
		`{"type":"object","properties":{"a":{"const":1}}}`,
		`{"type":"object","properties":{"a":true}}`,
		`{"type":"object","additionalProperties":{"type":"string"}}`,
	} {
		if compileFastSchema([]byte(doc)) != nil {
			t.Errorf("%s: compiled to a fast check", doc)
		}
	}
	for _, value := range []string{
		`{"orderId":"ORD-1234567890","customerId":"CUST-1","totalAmount":0,"currency":"USD","timestamp":"2026-11-27T10:00:00Z"}`, // at the minimum
		`{"orderId":"ORD-1","customerId":"CUST-1","totalAmount":1,"currency":"USD","timestamp":"2026-11-27T10:00:00Z"}`,          // pattern
		`{"orderId":"ORD-1234567890","customerId":"CUST-1","totalAmount":1,"currency":"USD"}`,                                    // required
		`{"orderId":"ORD-1234567890","customerId":"CUST-1","totalAmount":1,"currency":"USD","timestamp":"x","extra":1}`,          // closed
	} {
		var v jsonDoc
		if err := v.parse([]byte(value)); err != nil {
			t.Fatal(err)
		}
		if order.valid(&v) {
			t.Errorf("%s: the fast check is sure of it", value)
		}
	}
}
