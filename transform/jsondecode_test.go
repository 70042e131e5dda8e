package transform

import (
	"encoding/json"
	"errors"
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

func TestDecodeJSONErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":1}x`, "invalid character 'x' after top-level value (at byte offset 7)"},
		{`{"a" 1}`, "invalid character '1' after object key (at byte offset 5)"},
		{`hello`, "invalid character 'h' looking for beginning of value (at byte offset 0)"},
		{`{"a":`, "unexpected end of JSON input (at byte offset 5)"},
		{"\"a\nb\"", `invalid character '\n' in string literal (at byte offset 2)`},
		{`[1e400]`, "number 1e400 is out of range"},
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
