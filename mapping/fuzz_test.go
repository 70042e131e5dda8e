package mapping

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fuzzExprs are evaluated over every fuzzed record.
var fuzzExprs = []struct {
	src  string
	kind Kind
}{
	{`has(value.a) && value.a == 1`, KindBool},
	{`value.?op.orValue("") in ["c", "u"] || size(value) > 2`, KindBool},
	{`headers.?h.orValue("") == key`, KindBool},
	{`value.exists(k, k.startsWith("a"))`, KindBool},
	{`value`, KindMap},
	{`{"v": value, "k": key, "h": header_values, "t": timestamp, "p": partition}`, KindMap},
	{`value.transformMap(k, v, k.size() < 3, v)`, KindMap},
	{`{"items": value.?items.orValue([]).map(i, i), ?"a": value.?a}`, KindMap},
	{`{"n": value.?n.orValue(0) * 2.0, "s": string(value.?s.orValue(""))}`, KindMap},
	{`value.?a.orValue("x")`, KindString},
	{`key + "/" + headers.?h.orValue("") + "/" + string(value.?id.orValue(""))`, KindString},
	{`value.?ts.orValue("2024-01-01T00:00:00Z")`, KindTimestamp},
	{`timestamp(value.?ts.orValue("2024-01-01T00:00:00Z")) + duration(value.?d.orValue("1s"))`, KindTimestamp},
}

// FuzzEval evaluates fixed expressions over fuzzed JSON values, keys and
// header values: never a panic (a recovered one shows as an "internal
// error"), and a KindMap result is always valid JSON; `value` passed
// through reads back as the value itself.
func FuzzEval(f *testing.F) {
	exprs := make([]*Expr, len(fuzzExprs))
	for i, e := range fuzzExprs {
		exprs[i] = mustCompile(f, e.src, e.kind)
	}
	for _, seed := range []string{
		tutorialOrder,
		`{"before":null,"after":{"id":1},"op":"c","source":{"ts_ms":1}}`,
		`{"a":1,"n":2.5,"s":"x","ts":"2024-02-29T23:59:60Z","d":"-1.5s","items":[1,"a",null,{"b":[]}]}`,
		`{"a":"é\u0000\"","ab":1e308,"abc":-0,"id":"ORD-1"}`,
		`[1,2,3]`, `"str"`, `null`, `true`, `1e-7`, `{}`,
		`{"ts":"not a time","d":"forever","n":"2"}`,
	} {
		f.Add([]byte(seed), []byte("key"), []byte("key"))
	}
	f.Add([]byte(`{"a":1}`), []byte("\xff"), []byte("\xfe\x00"))
	f.Fuzz(func(t *testing.T, doc, key, hval []byte) {
		var v any
		if json.Unmarshal(doc, &v) != nil {
			return
		}
		act := &Activation{
			Value:     v,
			Key:       key,
			Headers:   []Header{{Key: "h", Value: hval}, {Key: "h", Value: key}},
			Topic:     "t",
			Offset:    1,
			Timestamp: time.Unix(1700000000, 1),
		}
		// The fuzzer does not notice an input that makes an evaluation
		// hang: crash the worker, which records the input.
		hang := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("evaluations over %q hang", doc)) })
		defer hang.Stop()
		for i, x := range exprs {
			got, err := x.Eval(act)
			if err != nil {
				if strings.Contains(err.Error(), "internal error") {
					t.Fatalf("%s over %s: %v", fuzzExprs[i].src, doc, err)
				}
				continue
			}
			if x.Kind() != KindMap {
				continue
			}
			b := got.([]byte)
			if !json.Valid(b) {
				t.Fatalf("%s over %s: invalid JSON %s", fuzzExprs[i].src, doc, b)
			}
			if fuzzExprs[i].src == `value` {
				var back any
				if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, v) {
					t.Fatalf("value %s written as %s", doc, b)
				}
			}
		}
	})
}
