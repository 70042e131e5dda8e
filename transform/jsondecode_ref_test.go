package transform

// The decoder and fast schema check of the transform before the flat
// jsonDoc (issue 20), kept verbatim but renamed as the reference the new
// ones must agree with exactly: FuzzJSONDocMatchesReference.

import (
	"fmt"
	"math"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// refDecodeJSON is the former decodeJSON: a map[string]any tree, strings
// views of a copy of v.
func refDecodeJSON(v []byte) (any, error) {
	d := refDecoder{buf: append([]byte(nil), v...)}
	d.skipSpace()
	val, err := d.value()
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.pos < len(d.buf) {
		return nil, d.errorf("invalid character %s after top-level value", quoteChar(d.buf[d.pos]))
	}
	return val, nil
}

type refDecoder struct {
	buf []byte
	pos int
}

func (d *refDecoder) errorf(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...), Offset: d.pos}
}

func (d *refDecoder) eof() error {
	return &syntaxError{msg: "unexpected end of JSON input", Offset: len(d.buf)}
}

func (d *refDecoder) skipSpace() {
	for d.pos < len(d.buf) {
		switch d.buf[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *refDecoder) value() (any, error) {
	if d.pos >= len(d.buf) {
		return nil, d.eof()
	}
	switch c := d.buf[d.pos]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	default:
		return nil, d.errorf("invalid character %s looking for beginning of value", quoteChar(c))
	}
}

func (d *refDecoder) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if d.pos >= len(d.buf) {
			return d.eof()
		}
		if d.buf[d.pos] != lit[i] {
			return d.errorf("invalid character %s in literal %s", quoteChar(d.buf[d.pos]), lit)
		}
		d.pos++
	}
	return nil
}

func (d *refDecoder) object() (any, error) {
	d.pos++ // {
	m := make(map[string]any)
	d.skipSpace()
	if d.pos < len(d.buf) && d.buf[d.pos] == '}' {
		d.pos++
		return m, nil
	}
	for n := 1; ; n++ {
		if d.pos >= len(d.buf) {
			return nil, d.eof()
		}
		if d.buf[d.pos] != '"' {
			return nil, d.errorf("invalid character %s looking for beginning of object key string", quoteChar(d.buf[d.pos]))
		}
		keyAt := d.pos
		key, err := d.str()
		if err != nil {
			return nil, err
		}
		d.skipSpace()
		if d.pos >= len(d.buf) {
			return nil, d.eof()
		}
		if d.buf[d.pos] != ':' {
			return nil, d.errorf("invalid character %s after object key", quoteChar(d.buf[d.pos]))
		}
		d.pos++
		d.skipSpace()
		val, err := d.value()
		if err != nil {
			return nil, err
		}
		m[key] = val
		if len(m) != n { // the key was there already
			return nil, &syntaxError{msg: fmt.Sprintf("member %s appears twice in an object", excerpt(key, 64)), Offset: keyAt, Duplicate: key}
		}
		if done, err := d.delimiter('}', "object key:value pair"); err != nil {
			return nil, err
		} else if done {
			return m, nil
		}
	}
}

func (d *refDecoder) array() (any, error) {
	d.pos++ // [
	a := []any{}
	d.skipSpace()
	if d.pos < len(d.buf) && d.buf[d.pos] == ']' {
		d.pos++
		return a, nil
	}
	for {
		val, err := d.value()
		if err != nil {
			return nil, err
		}
		a = append(a, val)
		if done, err := d.delimiter(']', "array element"); err != nil {
			return nil, err
		} else if done {
			return a, nil
		}
	}
}

// someDigits reads the digits the grammar requires after a decimal point
// or an exponent's sign: at least one ("invalid character … <where>
// numeric literal" otherwise, as encoding/json says).
func (d *refDecoder) someDigits(where string) error {
	if d.pos >= len(d.buf) {
		return d.eof()
	}
	if c := d.buf[d.pos]; c < '0' || c > '9' {
		return d.errorf("invalid character %s %s numeric literal", quoteChar(c), where)
	}
	d.digits()
	return nil
}

// delimiter reads what follows an element of an object or an array: a
// comma (more elements follow; the white space after it is skipped) or the
// closing byte (done).
func (d *refDecoder) delimiter(closing byte, element string) (done bool, err error) {
	d.skipSpace()
	if d.pos >= len(d.buf) {
		return false, d.eof()
	}
	switch d.buf[d.pos] {
	case ',':
		d.pos++
		d.skipSpace()
		return false, nil
	case closing:
		d.pos++
		return true, nil
	}
	return false, d.errorf("invalid character %s after %s", quoteChar(d.buf[d.pos]), element)
}

// str decodes a string starting at the opening quote.
func (d *refDecoder) str() (string, error) {
	d.pos++ // "
	start := d.pos
	for d.pos < len(d.buf) {
		c := d.buf[d.pos]
		switch {
		case c == '"':
			s := d.buf[start:d.pos]
			d.pos++
			if len(s) == 0 {
				return "", nil
			}
			return unsafe.String(&s[0], len(s)), nil
		case c == '\\':
			return d.escapedStr(start)
		case c < 0x20:
			return "", d.errorf("invalid character %s in string literal", quoteChar(c))
		}
		d.pos++
	}
	return "", d.eof()
}

// escapedStr finishes a string that has escapes, into new bytes.
func (d *refDecoder) escapedStr(start int) (string, error) {
	out := append(make([]byte, 0, d.pos-start+16), d.buf[start:d.pos]...)
	for d.pos < len(d.buf) {
		c := d.buf[d.pos]
		switch {
		case c == '"':
			d.pos++
			return string(out), nil
		case c < 0x20:
			return "", d.errorf("invalid character %s in string literal", quoteChar(c))
		case c != '\\':
			out = append(out, c)
			d.pos++
			continue
		}
		d.pos++ // backslash
		if d.pos >= len(d.buf) {
			return "", d.eof()
		}
		e := d.buf[d.pos]
		d.pos++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", d.errorf("invalid character in \\u hexadecimal character escape")
			}
			if utf16.IsSurrogate(r) {
				// A valid pair is consumed whole; anything else becomes
				// U+FFFD, as encoding/json does.
				save := d.pos
				if d.pos+1 < len(d.buf) && d.buf[d.pos] == '\\' && d.buf[d.pos+1] == 'u' {
					d.pos += 2
					if r2, ok := d.hex4(); ok {
						if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
							out = utf8.AppendRune(out, dec)
							continue
						}
					}
				}
				d.pos = save
				r = unicode.ReplacementChar
			}
			out = utf8.AppendRune(out, r)
		default:
			d.pos--
			return "", d.errorf("invalid character %s in string escape code", quoteChar(e))
		}
	}
	return "", d.eof()
}

func (d *refDecoder) hex4() (rune, bool) {
	if d.pos+4 > len(d.buf) {
		return 0, false
	}
	var r rune
	for _, c := range d.buf[d.pos : d.pos+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	d.pos += 4
	return r, true
}

// number decodes -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? as float64.
func (d *refDecoder) number() (any, error) {
	start := d.pos
	if d.buf[d.pos] == '-' {
		d.pos++
	}
	if d.pos >= len(d.buf) {
		return nil, d.eof()
	}
	switch c := d.buf[d.pos]; {
	case c == '0':
		d.pos++
	case c >= '1' && c <= '9':
		d.digits()
	default:
		return nil, d.errorf("invalid character %s in numeric literal", quoteChar(c))
	}
	if d.pos < len(d.buf) && d.buf[d.pos] == '.' {
		d.pos++
		if err := d.someDigits("after decimal point in"); err != nil {
			return nil, err
		}
	}
	if d.pos < len(d.buf) && (d.buf[d.pos] == 'e' || d.buf[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.buf) && (d.buf[d.pos] == '+' || d.buf[d.pos] == '-') {
			d.pos++
		}
		if err := d.someDigits("in exponent of"); err != nil {
			return nil, err
		}
	}
	lit := d.buf[start:d.pos]
	f, err := strconv.ParseFloat(unsafe.String(&lit[0], len(lit)), 64)
	if err != nil {
		return nil, &syntaxError{msg: "number " + string(lit) + " is out of range for a 64-bit float", Offset: start}
	}
	return f, nil
}

func (d *refDecoder) digits() {
	for d.pos < len(d.buf) && d.buf[d.pos] >= '0' && d.buf[d.pos] <= '9' {
		d.pos++
	}
}

// refValid is the former fastSchema.valid, on a refDecodeJSON tree.
func (f *fastSchema) refValid(v any) bool {
	obj, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for _, name := range f.required {
		if _, ok := obj[name]; !ok {
			return false
		}
	}
	for name, val := range obj {
		p, ok := f.props[name]
		if !ok {
			if f.closed {
				return false
			}
			continue
		}
		if !p.refValid(val) {
			return false
		}
	}
	return true
}

func (p *fastProp) refValid(v any) bool {
	switch x := v.(type) {
	case string:
		if p.types != 0 && p.types&fastString == 0 {
			return false
		}
		if p.minLen >= 0 || p.maxLen >= 0 {
			n := utf8.RuneCountInString(x) // as the library counts
			if (p.minLen >= 0 && n < p.minLen) || (p.maxLen >= 0 && n > p.maxLen) {
				return false
			}
		}
		if p.pattern != nil && !p.pattern.MatchString(x) {
			return false
		}
		if p.dateTime && !validDateTime(x) {
			return false
		}
		if p.enum != nil {
			for _, e := range p.enum {
				if e == x {
					return true
				}
			}
			return false
		}
		return true
	case float64:
		integer := x == math.Trunc(x) && math.Abs(x) < 1<<53
		if p.types != 0 && p.types&fastNumber == 0 && !(p.types&fastInteger != 0 && integer) {
			return false
		}
		// Strictly inside the bounds only: at a bound, whether the value
		// equals it is the library's call, made on exact decimals.
		if (p.min != nil && !(x > p.min.v)) || (p.max != nil && !(x < p.max.v)) ||
			(p.exclMin != nil && !(x > p.exclMin.v)) || (p.exclMax != nil && !(x < p.exclMax.v)) {
			return false
		}
		return p.enum == nil
	case bool:
		return (p.types == 0 || p.types&fastBoolean != 0) && p.enum == nil
	case nil:
		return (p.types == 0 || p.types&fastNull != 0) && p.enum == nil
	case map[string]any:
		return (p.types == 0 || p.types&fastObject != 0) && p.enum == nil
	case []any:
		return (p.types == 0 || p.types&fastArray != 0) && p.enum == nil
	}
	return false
}

// refTypeName is the former jsonTypeName, on a refDecodeJSON tree.
func refTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
