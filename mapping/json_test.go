package mapping

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestJSONRules(t *testing.T) {
	runEvalCases(t, []evalCase{
		{name: "int at 2^53", src: `{"a": 9007199254740992, "b": -9007199254740992}`, kind: KindMap, want: `{"a":9007199254740992,"b":-9007199254740992}`},
		{name: "int beyond 2^53", src: `{"a": 9007199254740993, "b": -9007199254740993, "c": -9223372036854775808}`, kind: KindMap,
			want: `{"a":"9007199254740993","b":"-9007199254740993","c":"-9223372036854775808"}`},
		{name: "uint", src: `{"a": 9007199254740992u, "b": 9007199254740993u, "c": 18446744073709551615u, "d": 0u}`, kind: KindMap,
			want: `{"a":9007199254740992,"b":"9007199254740993","c":"18446744073709551615","d":0}`},
		{name: "doubles", src: `{"a": 150.75, "b": 0.1, "c": 1e21, "d": 1e20, "e": 0.000001, "f": 1e-7, "g": -0.0, "h": 2.5e-9, "i": 3.0}`, kind: KindMap,
			want: `{"a":150.75,"b":0.1,"c":1e+21,"d":100000000000000000000,"e":0.000001,"f":1e-7,"g":-0,"h":2.5e-9,"i":3}`},
		{name: "strings", src: `{"q": "a\"b\\c", "ctl": "\n\t\r\x01\x1f", "u": "é😀\u2028", "html": "<&>"}`, kind: KindMap,
			want: `{"ctl":"\n\t\r\u0001\u001f","html":"<&>","q":"a\"b\\c","u":"é😀` + "\u2028" + `"}`},
		{name: "bool and null", src: `{"t": true, "f": false, "n": null}`, kind: KindMap, want: `{"f":false,"n":null,"t":true}`},
		{name: "bytes", src: `{"b": b"\x00\xff", "e": b""}`, kind: KindMap, want: `{"b":"AP8=","e":""}`},
		{name: "timestamps", src: `{
			"ms": timestamp("2024-01-02T03:04:05Z"),
			"ms2": timestamp("2024-01-02T03:04:05.12Z"),
			"us": timestamp("2024-01-02T03:04:05.123456Z"),
			"ns": timestamp("2024-01-02T03:04:05.000000001Z"),
			"zone": timestamp("2024-01-02T03:04:05+02:00"),
			"min": timestamp("0001-01-01T00:00:00Z"),
			"max": timestamp("9999-12-31T23:59:59.999999999Z")}`, kind: KindMap,
			want: `{"max":"9999-12-31T23:59:59.999999999Z","min":"0001-01-01T00:00:00.000Z","ms":"2024-01-02T03:04:05.000Z","ms2":"2024-01-02T03:04:05.120Z","ns":"2024-01-02T03:04:05.000000001Z","us":"2024-01-02T03:04:05.123456Z","zone":"2024-01-02T01:04:05.000Z"}`},
		{name: "durations", src: `{"a": duration("1.5s"), "b": duration("3s"), "c": duration("-1ns"), "d": duration("0s"), "e": duration("1h2m3.000004s")}`, kind: KindMap,
			want: `{"a":"1.500s","b":"3s","c":"-0.000000001s","d":"0s","e":"3723.000004s"}`},
		{name: "lists", src: `{"l": [1, "a", [true, null], {"z": 1, "a": 2}], "e": []}`, kind: KindMap, want: `{"e":[],"l":[1,"a",[true,null],{"a":2,"z":1}]}`},
		{name: "keys sorted by bytes", src: `{"b": 1, "a": 2, "B": 3, "é": 4, "aa": 5, "": 6}`, kind: KindMap, want: `{"":6,"B":3,"a":2,"aa":5,"b":1,"é":4}`},
		{name: "list concatenation", src: `{"l": [1] + [2.5, "x"]}`, kind: KindMap, want: `{"l":[1,2.5,"x"]}`},
		{name: "mapped list", src: `{"l": [1, 2].map(x, {"n": x})}`, kind: KindMap, want: `{"l":[{"n":1},{"n":2}]}`},
		{name: "transformed map", src: `{"a": 1, "b": 2}.transformMap(k, v, v * 10)`, kind: KindMap, want: `{"a":10,"b":20}`},
		{name: "string list", src: `{"l": "a,b".split(",")}`, kind: KindMap, want: `{"l":["a","b"]}`},
		{name: "struct", src: `{"s": google.protobuf.Struct{fields: {"b": 1.0, "a": [true]}}}`, kind: KindMap, want: `{"s":{"a":[true],"b":1}}`},
		{name: "native Go values of the record", src: `value`, kind: KindMap,
			act:  &Activation{Value: map[string]any{"i": int64(1 << 60), "n": json.Number("12.50"), "t": time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), "f": float32(0.5), "s": []string{"x"}}},
			want: `{"f":0.5,"i":"1152921504606846976","n":12.5,"s":["x"],"t":"2024-01-02T03:04:05.000Z"}`},
	})
}

// TestJSONLikeEncodingJSON: a record value passed through is written as
// encoding/json writes it (keys sorted, shortest floats), but for HTML
// characters, which encoding/json escapes and jsontext does not.
func TestJSONLikeEncodingJSON(t *testing.T) {
	docs := []string{
		tutorialOrder,
		`{"a":[1,2.5,-0.001,1e300,-1e-300,123456789012345678],"b":{"c":{"d":[{},[],null,true,false,""]}},"s":"tab\there \"q\" \\ é 😀 \u0001"}`,
		`{"z":1,"y":2,"x":3,"w":4,"v":5,"u":6,"t":7,"s":8,"r":9,"q":10,"p":11,"o":12,"n":13,"m":14,"l":15}`,
	}
	x := mustCompile(t, `value`, KindMap)
	for _, doc := range docs {
		v := decodeJSON(t, doc)
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		act := &Activation{Value: v}
		for range 20 { // map iteration order varies: the output does not
			got, err := x.Eval(act)
			if err != nil {
				t.Fatal(err)
			}
			if string(got.([]byte)) != string(want) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		}
	}
}

// TestJSONDeterministic: a map literal (a Go map inside cel-go) is
// written with the same bytes every time.
func TestJSONDeterministic(t *testing.T) {
	var src strings.Builder
	src.WriteString("{")
	for i := range 40 {
		if i > 0 {
			src.WriteString(", ")
		}
		src.WriteString(`"k` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `": value.n + ` + string(rune('0'+i%10)) + `.0`)
	}
	src.WriteString("}")
	x := mustCompile(t, src.String(), KindMap)
	act := &Activation{Value: map[string]any{"n": 1.5}}
	first, err := x.Eval(act)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(first.([]byte)) {
		t.Fatalf("not valid JSON: %s", first)
	}
	for range 50 {
		got, err := x.Eval(act)
		if err != nil || string(got.([]byte)) != string(first.([]byte)) {
			t.Fatalf("got %s, %v; want %s", got, err, first)
		}
	}
}

func TestJSONFloatsLikeEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 150.75, 0.1, 0.2 + 0.1, 1e20, 1e21, 1e-6, 1e-7, 123e-9, 5e-324, math.MaxFloat64, -math.SmallestNonzeroFloat64, 1 << 53, 1<<53 + 2, 33.333333333333336} {
		got, err := appendFloat(nil, f)
		want, _ := json.Marshal(f)
		if err != nil || string(got) != string(want) {
			t.Errorf("appendFloat(%v) = %s, %v; want %s", f, got, err, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := appendFloat(nil, f); err == nil {
			t.Errorf("appendFloat(%v): no error", f)
		}
	}
}

func TestJSONDurationsLikeProtojson(t *testing.T) {
	for _, d := range []time.Duration{0, 1, -1, 1500 * time.Millisecond, -1500 * time.Millisecond, 3 * time.Second, time.Microsecond, 1234567 * time.Nanosecond, -time.Hour, math.MaxInt64, math.MinInt64 + 1} {
		want, err := protojson.Marshal(durationpb.New(d))
		if err != nil {
			t.Fatal(err)
		}
		if got := appendDuration(nil, d); string(got) != string(want) {
			t.Errorf("appendDuration(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestJSONDepthLimit(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	deep := any("leaf")
	for range maxResultDepth + 5 {
		deep = []any{deep}
	}
	x := mustCompile(t, `value`, KindMap)
	for _, v := range []any{cyclic, map[string]any{"d": deep}} {
		_, err := x.Eval(&Activation{Value: v})
		if err == nil || !strings.Contains(err.Error(), "nested deeper than") {
			t.Errorf("got %v, want a depth error", err)
		}
	}
}

func TestJSONErrorPath(t *testing.T) {
	tests := []struct {
		path []string // innermost first, as collected
		want string
	}{
		{nil, "bad"},
		{[]string{"b", "a"}, "at /a/b: bad"},
		{[]string{"c/d", "~"}, "at /~0/c~1d: bad"},
		{[]string{"7", "6", "5", "4", "3", "2", "1"}, "at /1/2/3/4/5/6/7: bad"},
		{[]string{"8", "7", "6", "5", "4", "3", "2", "1"}, "at /1/2/3/4/…/6/7/8: bad"},
		{[]string{"10", "9", "8", "7", "6", "5", "4", "3", "2", "1"}, "at /1/2/3/4/…/8/9/10: bad"},
	}
	for _, tt := range tests {
		e := &jsonError{path: tt.path, msg: "bad"}
		if got := e.Error(); got != tt.want {
			t.Errorf("path %q: got %q, want %q", tt.path, got, tt.want)
		}
	}
}
