package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var decodeSeeds = []string{
	`{"orderId":"ORD-1234567890","totalAmount":150.75,"metadata":{"a":[1,2,{"b":null}]}}`,
	`{}`, `[]`, `[1,-0,0.5,1e3,1E-2,-12.5e+7]`, `"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"`,
	`"\ud800"`, `"\ud800\u0041"`, `"\udc00\ud800"`, `"\ud83d\ude00x"`, `true`, `false`, `null`,
	` { "a" : 1 , "a" : 2 } `, `01`, `1.`, `.5`, `-`, `1e`, `1e+`, `+1`, `[1,]`, `{"a":1,}`, `{"a" 1}`,
	`{a:1}`, `"\x"`, `"\u12"`, `"abc`, "\"a\tb\"", `tru`, `nul`, `[1 2]`, `1e400`, `-1e400`, `1e-400`,
	`{"a":1}x`, `{"a":1} {"b":2}`, "\"\u2028\"", `"é"`, `[[[[]]]]`, `{"":""}`,
}

// FuzzDecodeJSON checks decodeJSON against encoding/json: the same inputs
// are accepted, and they decode to equal values.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if _, deep := checkShape(in, 200); !utf8.Valid(in) || deep != nil {
			return // decodeJSON's caller guarantees both
		}
		var want any
		wantErr := json.Unmarshal(in, &want)
		got, err := decodeJSON(in)
		var dup *syntaxError
		if errors.As(err, &dup) && dup.Duplicate != "" {
			// encoding/json takes a repeated member (the last value);
			// decodeJSON refuses it. The input must really repeat one.
			if wantErr == nil && !repeatsMember(in) {
				t.Fatalf("%q: decodeJSON reports a duplicate member %q that encoding/json does not see", in, dup.Duplicate)
			}
			return
		}
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%q: decodeJSON err = %v, encoding/json err = %v", in, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decodeJSON = %#v, encoding/json = %#v", in, got, want)
		}
		if err != nil {
			var se *syntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(in) {
				t.Fatalf("%q: error %v has no sane offset", in, err)
			}
		}
	})
}

// FuzzJSONDocMatchesReference checks the flat jsonDoc of the transform
// against the decoder it replaced (refDecodeJSON, into map[string]any):
// the same inputs accepted, the same errors (text, offset, repeated
// member), the same tree; each pointer finds what Lookup finds in that
// tree; and the fast schema check decides as it did on the tree. So every
// record is judged as before, with the same messages.
func FuzzJSONDocMatchesReference(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	many := func(dupAt int) string {
		var b strings.Builder
		b.WriteString(`{"a":[1,"x",{"b":true}],"o":{"x/y":"z","a~b":2}`)
		for i := range 40 {
			fmt.Fprintf(&b, `,"m%d":%d`, i, i)
		}
		if dupAt >= 0 {
			fmt.Fprintf(&b, `,"m%d":"again"`, dupAt)
		}
		return b.String() + "}"
	}
	for _, s := range []string{many(-1), many(3), many(20), many(39),
		`{"orderId":"ORD-1234567890","customerId":"CUST-998877","totalAmount":150.75,"currency":"USD","timestamp":"2026-11-27T10:00:00.000Z","metadata":{"source":"checkout-api","version":"2.1"}}`,
		`{"n":10.5,"s":"é","x":0.1,"b":true,"o":{},"a":[]}`, `{"t":"2016-12-31T23:59:60Z","p":"ab","m":0.1}`,
		`{"a":{"b":1},"a\u0000":2,"\u0061":3}`, `[{"a":1},{"a":1}]`, `{"":{"":[]}}`,
	} {
		f.Add([]byte(s))
	}
	var pointers []Pointer
	for _, s := range []string{"/orderId", "/a", "/a/0", "/a/1", "/a/2/b", "/a/+1", "/a/-0", "/a/01", "/a/3", "/o/x~1y", "/o/a~0b",
		"/", "//", "/metadata/source", "/m3", "/m39", "/0", "/n", "/s"} {
		p, err := ParsePointer(s)
		if err != nil {
			f.Fatal(err)
		}
		pointers = append(pointers, p)
	}
	fast := make([]*fastSchema, len(fastSchemas))
	for i := range fastSchemas {
		fast[i] = compileFastSchema(schemaDoc(f, i))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if _, deep := checkShape(in, 200); !utf8.Valid(in) || deep != nil {
			return // the transform refuses both before decoding
		}
		want, wantErr := refDecodeJSON(in)
		doc := getDoc()
		defer doc.release()
		err := doc.parse(in)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%q: jsonDoc err = %v, reference err = %v", in, err, wantErr)
		}
		if err != nil {
			got, ref := err.(*syntaxError), wantErr.(*syntaxError)
			if *got != *ref {
				t.Fatalf("%q: jsonDoc err = %+v, reference err = %+v", in, *got, *ref)
			}
			return
		}
		if got := doc.value(0); !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: jsonDoc = %#v, reference = %#v", in, got, want)
		}
		for _, p := range pointers {
			i := p.find(doc)
			v, ok := p.Lookup(want)
			if (i >= 0) != ok {
				t.Fatalf("%q: %s: find = %d, Lookup found %v", in, p, i, ok)
			}
			if ok && (!reflect.DeepEqual(doc.value(i), v) || doc.typeName(i) != refTypeName(v)) {
				t.Fatalf("%q: %s: find gives %#v (%s), Lookup %#v", in, p, doc.value(i), doc.typeName(i), v)
			}
		}
		for i, fs := range fast {
			if got, ref := fs.valid(doc), fs.refValid(want); got != ref {
				t.Fatalf("%q: fast schema %d: %v, was %v", in, i, got, ref)
			}
		}
	})
}

// repeatsMember reports whether some object of the valid JSON text in
// repeats a member name, read with encoding/json's tokenizer.
func repeatsMember(in []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(in))
	type frame struct {
		keys   map[string]bool
		object bool
		expect bool // the next string token of an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				if top != nil && top.object {
					top.expect = true
				}
				stack = append(stack, &frame{keys: map[string]bool{}, object: true, expect: true})
			case '[':
				if top != nil && top.object {
					top.expect = true
				}
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.object && top.expect {
				if top.keys[v] {
					return true
				}
				top.keys[v] = true
				top.expect = false
				continue
			}
		}
		if top != nil && top.object {
			top.expect = true
		}
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":1}x`, "invalid character 'x' after top-level value (at byte offset 7)"},
		{`{"a" 1}`, "invalid character '1' after object key (at byte offset 5)"},
		{`hello`, "invalid character 'h' looking for beginning of value (at byte offset 0)"},
		{`{"a":`, "unexpected end of JSON input (at byte offset 5)"},
		{"\"a\nb\"", `invalid character '\n' in string literal (at byte offset 2)`},
		{`[1e400]`, "number 1e400 is out of range"},
		{`{"a":1,"b":{"c":1,"c":2}}`, `member "c" appears twice in an object (at byte offset 18)`},
	} {
		_, err := decodeJSON([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("decodeJSON(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

// TestDecodeJSONOwnsMemory checks that decoded strings do not alias the
// caller's buffer, which Kafka clients may reuse.
func TestDecodeJSONOwnsMemory(t *testing.T) {
	in := []byte(`{"k":"value"}`)
	v, err := decodeJSON(in)
	if err != nil {
		t.Fatal(err)
	}
	copy(in, strings.Repeat("#", len(in)))
	if m := v.(map[string]any); m["k"] != "value" {
		t.Fatalf("decoded value changed with the input buffer: %v", m)
	}
}
