package mapping

import (
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"

	"github.com/cxone-bridge/bridge/jsontext"
)

// This file writes a CEL result as JSON text (the rules are in doc.go).
// Values come in two forms: CEL values (ref.Val) built by the expression,
// and the plain Go values of Activation.Value that an expression passes
// through unchanged (value.after is a map[string]any behind a thin CEL
// wrapper); the second form is written without converting it to the first.

// jsonWriter holds the scratch space of the conversion, reused from one
// evaluation to the next: the keys of the maps being written, sorted in
// place (nested maps push their keys above those of their parents), and
// the output buffer of Eval.
type jsonWriter struct {
	buf    []byte // Eval's output, before its copy
	keys   []string
	refKVs []refKV
}

type refKV struct {
	k string
	v ref.Val
}

// jsonError is a value without a JSON form, with the JSON pointer of where
// it is in the result (segments innermost first, while unwinding).
type jsonError struct {
	path []string
	msg  string
}

func (e *jsonError) Error() string {
	if len(e.path) == 0 {
		return e.msg
	}
	// Deep paths keep their first and last segments: the message stays
	// short, and still says where.
	const head, tail = 4, 3
	esc := strings.NewReplacer("~", "~0", "/", "~1")
	var b strings.Builder
	b.WriteString("at ")
	for i := len(e.path) - 1; i >= 0; i-- {
		if n := len(e.path); n > head+tail && i == n-1-head {
			b.WriteString("/…")
			i = tail - 1
		}
		b.WriteByte('/')
		b.WriteString(esc.Replace(truncate(e.path[i], 64)))
	}
	b.WriteString(": ")
	b.WriteString(e.msg)
	return b.String()
}

func jsonErrorf(format string, args ...any) *jsonError {
	return &jsonError{msg: fmt.Sprintf(format, args...)}
}

// in adds the map key or list index seg to the path of err.
func in(err error, seg string) error {
	if je, ok := err.(*jsonError); ok {
		je.path = append(je.path, seg)
	}
	return err
}

// appendVal appends the CEL value v as JSON.
func (w *jsonWriter) appendVal(dst []byte, v ref.Val, depth int) ([]byte, error) {
	switch v := v.(type) {
	case types.Null:
		return append(dst, "null"...), nil
	case types.Bool:
		return strconv.AppendBool(dst, bool(v)), nil
	case types.String:
		return appendString(dst, string(v))
	case types.Double:
		return appendFloat(dst, float64(v))
	case types.Int:
		return jsontext.AppendInt64(dst, int64(v)), nil
	case types.Uint:
		return jsontext.AppendUint64(dst, uint64(v)), nil
	case types.Bytes:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v)
		return append(dst, '"'), nil
	case types.Timestamp:
		return appendTimestamp(dst, v.Time)
	case types.Duration:
		return appendDuration(dst, v.Duration), nil
	case traits.Mapper:
		return w.appendMap(dst, v, depth)
	case traits.Lister:
		return w.appendList(dst, v, depth)
	case *types.Optional:
		return dst, jsonErrorf("an optional value has no JSON form: use .orValue(x), or {?\"key\": ...} to leave the key out")
	case nil:
		return dst, jsonErrorf("no value")
	}
	return dst, jsonErrorf("a value of type %s has no JSON form", v.Type().TypeName())
}

// appendMap appends the CEL map m as a JSON object, keys sorted.
func (w *jsonWriter) appendMap(dst []byte, m traits.Mapper, depth int) ([]byte, error) {
	if depth >= maxResultDepth {
		return dst, jsonErrorf("nested deeper than %d levels", maxResultDepth)
	}
	switch mv := m.Value().(type) {
	case map[string]any:
		return w.appendNativeMap(dst, mv, depth)
	case map[string]string:
		return appendStringMap(w, dst, mv, depth)
	case map[string][]string:
		return appendStringMap(w, dst, mv, depth)
	case map[ref.Val]ref.Val:
		// A map literal of the expression.
		start := len(w.refKVs)
		for k, v := range mv {
			ks, ok := k.(types.String)
			if !ok {
				w.refKVs = w.refKVs[:start]
				return dst, jsonErrorf("map key %s is a %s, want a string", truncate(fmt.Sprint(k.Value()), 64), k.Type().TypeName())
			}
			w.refKVs = append(w.refKVs, refKV{string(ks), v})
		}
		defer func() { w.refKVs = w.refKVs[:start] }()
		slices.SortFunc(w.refKVs[start:], func(a, b refKV) int { return strings.Compare(a.k, b.k) })
		dst = append(dst, '{')
		for i := start; i < len(w.refKVs); i++ {
			kv := w.refKVs[i]
			if i > start {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendKey(dst, kv.k); err != nil {
				return dst, err
			}
			if dst, err = w.appendVal(dst, kv.v, depth+1); err != nil {
				return dst, in(err, kv.k)
			}
		}
		return append(dst, '}'), nil
	}
	// Any other map (a google.protobuf.Struct, a concatenation...): through
	// its iterator.
	start := len(w.keys)
	for it := m.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		ks, ok := k.(types.String)
		if !ok {
			w.keys = w.keys[:start]
			return dst, jsonErrorf("map key %s is a %s, want a string", truncate(fmt.Sprint(k.Value()), 64), typeName(k))
		}
		w.keys = append(w.keys, string(ks))
	}
	return w.appendKeyed(dst, start, func(dst []byte, k string) ([]byte, error) {
		return w.appendVal(dst, m.Get(types.String(k)), depth+1)
	})
}

// appendKeyed appends a JSON object of the keys w.keys[start:], sorted,
// each with the value that value appends, and drops them from w.keys. An
// error of a value names its key.
func (w *jsonWriter) appendKeyed(dst []byte, start int, value func(dst []byte, k string) ([]byte, error)) ([]byte, error) {
	defer func() { w.keys = w.keys[:start] }()
	slices.Sort(w.keys[start:])
	dst = append(dst, '{')
	for i := start; i < len(w.keys); i++ {
		k := w.keys[i]
		if i > start {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendKey(dst, k); err != nil {
			return dst, err
		}
		if dst, err = value(dst, k); err != nil {
			return dst, in(err, k)
		}
	}
	return append(dst, '}'), nil
}

// appendStringMap appends a Go map with string keys (the header maps) as
// a JSON object, keys sorted.
func appendStringMap[V string | []string](w *jsonWriter, dst []byte, m map[string]V, depth int) ([]byte, error) {
	start := len(w.keys)
	for k := range m {
		w.keys = append(w.keys, k)
	}
	return w.appendKeyed(dst, start, func(dst []byte, k string) ([]byte, error) {
		switch v := any(m[k]).(type) {
		case string:
			return appendString(dst, v)
		case []string:
			dst = append(dst, '[')
			for j, s := range v {
				if j > 0 {
					dst = append(dst, ',')
				}
				var err error
				if dst, err = appendString(dst, s); err != nil {
					return dst, err
				}
			}
			return append(dst, ']'), nil
		}
		return dst, nil
	})
}

// appendList appends the CEL list l as a JSON array.
func (w *jsonWriter) appendList(dst []byte, l traits.Lister, depth int) ([]byte, error) {
	if depth >= maxResultDepth {
		return dst, jsonErrorf("nested deeper than %d levels", maxResultDepth)
	}
	var err error
	switch lv := l.Value().(type) {
	case []any:
		return w.appendNativeList(dst, lv, depth)
	case []ref.Val:
		dst = append(dst, '[')
		for i, v := range lv {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = w.appendVal(dst, v, depth+1); err != nil {
				return dst, in(err, strconv.Itoa(i))
			}
		}
		return append(dst, ']'), nil
	case []string:
		dst = append(dst, '[')
		for i, v := range lv {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendString(dst, v); err != nil {
				return dst, in(err, strconv.Itoa(i))
			}
		}
		return append(dst, ']'), nil
	}
	n, ok := l.Size().(types.Int)
	if !ok {
		return dst, jsonErrorf("a list without a size")
	}
	dst = append(dst, '[')
	for i := range int64(n) {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = w.appendVal(dst, l.Get(types.Int(i)), depth+1); err != nil {
			return dst, in(err, strconv.FormatInt(i, 10))
		}
	}
	return append(dst, ']'), nil
}

// appendNative appends a plain Go value of the record as JSON.
func (w *jsonWriter) appendNative(dst []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return appendString(dst, v)
	case float64:
		return appendFloat(dst, v)
	case bool:
		return strconv.AppendBool(dst, v), nil
	case map[string]any:
		if depth >= maxResultDepth {
			return dst, jsonErrorf("nested deeper than %d levels", maxResultDepth)
		}
		return w.appendNativeMap(dst, v, depth)
	case []any:
		if depth >= maxResultDepth {
			return dst, jsonErrorf("nested deeper than %d levels", maxResultDepth)
		}
		return w.appendNativeList(dst, v, depth)
	case ref.Val:
		return w.appendVal(dst, v, depth)
	}
	// Anything else (json.Number, int64, time.Time...) as CEL sees it.
	return w.appendVal(dst, types.DefaultTypeAdapter.NativeToValue(v), depth)
}

// appendNativeMap appends m as a JSON object, keys sorted.
func (w *jsonWriter) appendNativeMap(dst []byte, m map[string]any, depth int) ([]byte, error) {
	start := len(w.keys)
	for k := range m {
		w.keys = append(w.keys, k)
	}
	return w.appendKeyed(dst, start, func(dst []byte, k string) ([]byte, error) {
		return w.appendNative(dst, m[k], depth+1)
	})
}

// appendNativeList appends l as a JSON array.
func (w *jsonWriter) appendNativeList(dst []byte, l []any, depth int) ([]byte, error) {
	dst = append(dst, '[')
	for i, v := range l {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = w.appendNative(dst, v, depth+1); err != nil {
			return dst, in(err, strconv.Itoa(i))
		}
	}
	return append(dst, ']'), nil
}

// appendKey appends the object key `"k":`.
func appendKey(dst []byte, k string) ([]byte, error) {
	dst, err := appendString(dst, k)
	if err != nil {
		return dst, jsonErrorf("map key %q is not valid UTF-8", truncate(k, 64))
	}
	return append(dst, ':'), nil
}

// appendString appends s as a JSON string; s must be valid UTF-8.
func appendString(dst []byte, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			if !utf8.ValidString(s[i:]) {
				return dst, jsonErrorf("string is not valid UTF-8")
			}
			break
		}
	}
	return jsontext.AppendString(dst, s), nil
}

// appendFloat appends f as encoding/json writes a float64. NaN and the
// infinities have no JSON form.
func appendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, jsonErrorf("the double %v has no JSON form", f)
	}
	return jsontext.AppendFloat(dst, f, 64), nil
}

// appendTimestamp appends t as package registry writes instants: RFC
// 3339 in UTC with 3, 6 or 9 fractional digits, the fewest that hold it
// exactly ("2024-01-02T03:04:05.000Z"). Years outside 0001–9999 have no
// RFC 3339 form.
func appendTimestamp(dst []byte, t time.Time) ([]byte, error) {
	out, ok := jsontext.AppendTimestamp(dst, t.Unix(), int64(t.Nanosecond()))
	if !ok {
		return dst, jsonErrorf("timestamp year %d is outside 0001-9999", t.UTC().Year())
	}
	return out, nil
}

// appendDuration appends d as protojson writes a google.protobuf.Duration:
// "1.500s", "-0.000000001s", "3s".
func appendDuration(dst []byte, d time.Duration) []byte {
	return jsontext.AppendDuration(dst, int64(d/time.Second), int64(d%time.Second))
}
