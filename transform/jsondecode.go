package transform

import (
	"fmt"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// decodeJSON decodes one JSON value (RFC 8259) into the types
// encoding/json.Unmarshal produces for an any: map[string]any, []any,
// string, float64, bool and nil. The input is copied once, and every
// string without escapes (object keys included) is a view into that copy,
// which is never written after decoding. The caller must have checked
// that v is valid UTF-8 and not nested deeper than its limit (checkShape),
// which keeps the recursion bounded.
//
// The transform's hot path does not build this tree: it decodes into a
// jsonDoc (below), which the fast schema check and the pointers read
// directly, and builds the tree only for the JSON Schema library and CEL.
//
// Differences from encoding/json are bugs: FuzzDecodeJSON checks that both
// accept the same inputs and produce equal values.
func decodeJSON(v []byte) (any, error) {
	var doc jsonDoc
	if err := doc.parse(append([]byte(nil), v...)); err != nil {
		return nil, err
	}
	return doc.value(0), nil
}

// jsonKind is the JSON type of a jsonNode.
type jsonKind uint8

const (
	kindNull jsonKind = iota
	kindFalse
	kindTrue
	kindNumber
	kindString
	kindArray
	kindObject
)

// jsonNode is one JSON value of a jsonDoc.
type jsonNode struct {
	kind jsonKind
	end  int     // index of the first node after this value and its members or elements
	key  string  // the member name, when this value is a member of an object
	str  string  // a string's value
	num  float64 // a number's value
}

// jsonDoc is one JSON value decoded flat, for the allocation budget of the
// hot path (docs/performance.md, issue 20): its values in document order,
// each array or object followed by its elements or members (node 0 is the
// whole value). Decoding an order into map[string]any and []any cost
// about a dozen allocations (maps, and every string and number boxed in
// an interface); a pooled jsonDoc costs none, and the fast schema check,
// the JSON pointers and the idempotency key read it directly. The tree is
// built on demand (value), for the JSON Schema library and CEL only.
//
// Strings without escapes, member names included, are views into the
// decoded bytes: they are valid as long as those bytes are unchanged. The
// transform decodes the record's value in place and copies what the Event
// keeps.
//
// It accepts exactly what decodeJSON did, with the same errors
// (FuzzJSONDocMatchesReference checks it against that decoder), and
// refuses an object that repeats a member name.
type jsonDoc struct {
	nodes []jsonNode
	tree  any  // value(0), once built
	built bool // tree is set
}

// docs are reused across records: a jsonDoc keeps its node slice.
var docs = sync.Pool{New: func() any { return new(jsonDoc) }}

// maxPooledNodes bounds the node slice a pooled jsonDoc keeps, so that one
// huge value does not stay in memory for the life of the pool.
const maxPooledNodes = 1024

func getDoc() *jsonDoc { return docs.Get().(*jsonDoc) }

// release returns d to the pool, dropping its views of the decoded bytes.
func (d *jsonDoc) release() {
	d.reset()
	if cap(d.nodes) > maxPooledNodes {
		d.nodes = nil
	}
	docs.Put(d)
}

func (d *jsonDoc) reset() {
	clear(d.nodes)
	d.nodes = d.nodes[:0]
	d.tree, d.built = nil, false
}

// parse decodes the one JSON value v, its strings views into v. The
// caller must have checked v as for decodeJSON.
func (d *jsonDoc) parse(v []byte) error {
	d.reset()
	p := jsonDecoder{buf: v, doc: d}
	p.skipSpace()
	if err := p.value(); err != nil {
		return err
	}
	p.skipSpace()
	if p.pos < len(p.buf) {
		return p.errorf("invalid character %s after top-level value", quoteChar(p.buf[p.pos]))
	}
	return nil
}

// value builds node i as encoding/json would decode it into an any; the
// whole value (i = 0) is built once and kept.
func (d *jsonDoc) value(i int) any {
	if i == 0 && d.built {
		return d.tree
	}
	var v any
	switch n := &d.nodes[i]; n.kind {
	case kindFalse:
		v = false
	case kindTrue:
		v = true
	case kindNumber:
		v = n.num
	case kindString:
		v = n.str
	case kindArray:
		a := make([]any, 0, d.count(i))
		for j := i + 1; j < n.end; j = d.nodes[j].end {
			a = append(a, d.value(j))
		}
		v = a
	case kindObject:
		m := make(map[string]any, d.count(i))
		for j := i + 1; j < n.end; j = d.nodes[j].end {
			m[d.nodes[j].key] = d.value(j)
		}
		v = m
	}
	if i == 0 {
		d.tree, d.built = v, true
	}
	return v
}

// count is the number of elements or members of node i.
func (d *jsonDoc) count(i int) int {
	c := 0
	for j := i + 1; j < d.nodes[i].end; j = d.nodes[j].end {
		c++
	}
	return c
}

// member is the node of the member name of object node i, -1 if none.
func (d *jsonDoc) member(i int, name string) int {
	for j := i + 1; j < d.nodes[i].end; j = d.nodes[j].end {
		if d.nodes[j].key == name {
			return j
		}
	}
	return -1
}

// element is the node of element k of array node i, -1 if none.
func (d *jsonDoc) element(i, k int) int {
	if k < 0 {
		return -1
	}
	for j := i + 1; j < d.nodes[i].end; j = d.nodes[j].end {
		if k == 0 {
			return j
		}
		k--
	}
	return -1
}

// isObject reports whether d holds a JSON object.
func (d *jsonDoc) isObject() bool { return len(d.nodes) > 0 && d.nodes[0].kind == kindObject }

// typeName names the JSON type of node i for messages: "null",
// "boolean", "number", "string", "array" or "object".
func (d *jsonDoc) typeName(i int) string {
	return [...]string{kindNull: "null", kindFalse: "boolean", kindTrue: "boolean", kindNumber: "number",
		kindString: "string", kindArray: "array", kindObject: "object"}[d.nodes[i].kind]
}

// syntaxError is a decoding error at a byte offset. Duplicate, when set,
// is the name of a member an object has twice: valid JSON to most
// parsers, but ambiguous (which value counts is the parser's choice), so
// the bridge refuses it.
type syntaxError struct {
	msg       string
	Offset    int
	Duplicate string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s (at byte offset %d)", e.msg, e.Offset) }

type jsonDecoder struct {
	buf []byte
	pos int
	doc *jsonDoc
}

func (d *jsonDecoder) errorf(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...), Offset: d.pos}
}

func (d *jsonDecoder) eof() error {
	return &syntaxError{msg: "unexpected end of JSON input", Offset: len(d.buf)}
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	if c >= utf8.RuneSelf {
		s = fmt.Sprintf("%q", c)
	}
	return "'" + s[1:len(s)-1] + "'"
}

func (d *jsonDecoder) skipSpace() {
	for d.pos < len(d.buf) {
		switch d.buf[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// value decodes one value into the next node(s).
func (d *jsonDecoder) value() error {
	if d.pos >= len(d.buf) {
		return d.eof()
	}
	switch c := d.buf[d.pos]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		s, err := d.str()
		d.leaf(jsonNode{kind: kindString, str: s})
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		f, err := d.number()
		d.leaf(jsonNode{kind: kindNumber, num: f})
		return err
	case c == 't':
		d.leaf(jsonNode{kind: kindTrue})
		return d.literal("true")
	case c == 'f':
		d.leaf(jsonNode{kind: kindFalse})
		return d.literal("false")
	case c == 'n':
		d.leaf(jsonNode{kind: kindNull})
		return d.literal("null")
	default:
		return d.errorf("invalid character %s looking for beginning of value", quoteChar(c))
	}
}

// leaf appends a scalar node.
func (d *jsonDecoder) leaf(n jsonNode) {
	n.end = len(d.doc.nodes) + 1
	d.doc.nodes = append(d.doc.nodes, n)
}

// open appends the node of an array or object and returns its index;
// closeAt ends it after its last element or member.
func (d *jsonDecoder) open(k jsonKind) int {
	d.doc.nodes = append(d.doc.nodes, jsonNode{kind: k})
	return len(d.doc.nodes) - 1
}

func (d *jsonDecoder) closeAt(i int) { d.doc.nodes[i].end = len(d.doc.nodes) }

func (d *jsonDecoder) literal(lit string) error {
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

func (d *jsonDecoder) object() error {
	d.pos++ // {
	obj := d.open(kindObject)
	d.skipSpace()
	if d.pos < len(d.buf) && d.buf[d.pos] == '}' {
		d.pos++
		d.closeAt(obj)
		return nil
	}
	var names map[string]struct{} // the member names, for a large object only
	for n := 1; ; n++ {
		if d.pos >= len(d.buf) {
			return d.eof()
		}
		if d.buf[d.pos] != '"' {
			return d.errorf("invalid character %s looking for beginning of object key string", quoteChar(d.buf[d.pos]))
		}
		keyAt := d.pos
		key, err := d.str()
		if err != nil {
			return err
		}
		d.skipSpace()
		if d.pos >= len(d.buf) {
			return d.eof()
		}
		if d.buf[d.pos] != ':' {
			return d.errorf("invalid character %s after object key", quoteChar(d.buf[d.pos]))
		}
		d.pos++
		d.skipSpace()
		member := len(d.doc.nodes)
		if err := d.value(); err != nil {
			return err
		}
		d.doc.nodes[member].key = key
		if d.repeats(obj, member, n, &names) {
			return &syntaxError{msg: fmt.Sprintf("member %s appears twice in an object", excerpt(key, 64)), Offset: keyAt, Duplicate: key}
		}
		if done, err := d.delimiter('}', "object key:value pair"); err != nil {
			return err
		} else if done {
			d.closeAt(obj)
			return nil
		}
	}
}

// linearMembers is the size up to which an object's member names are
// compared one by one for repeats; larger objects use a map.
const linearMembers = 16

// repeats reports whether the name of member, the nth of object obj,
// was the name of an earlier member. names holds the earlier names once
// the object is larger than linearMembers.
func (d *jsonDecoder) repeats(obj, member, n int, names *map[string]struct{}) bool {
	nodes := d.doc.nodes
	key := nodes[member].key
	if n <= linearMembers {
		for j := obj + 1; j < member; j = nodes[j].end {
			if nodes[j].key == key {
				return true
			}
		}
		return false
	}
	if *names == nil {
		*names = make(map[string]struct{}, 2*linearMembers)
		for j := obj + 1; j < member; j = nodes[j].end {
			(*names)[nodes[j].key] = struct{}{}
		}
	}
	if _, ok := (*names)[key]; ok {
		return true
	}
	(*names)[key] = struct{}{}
	return false
}

func (d *jsonDecoder) array() error {
	d.pos++ // [
	arr := d.open(kindArray)
	d.skipSpace()
	if d.pos < len(d.buf) && d.buf[d.pos] == ']' {
		d.pos++
		d.closeAt(arr)
		return nil
	}
	for {
		if err := d.value(); err != nil {
			return err
		}
		if done, err := d.delimiter(']', "array element"); err != nil {
			return err
		} else if done {
			d.closeAt(arr)
			return nil
		}
	}
}

// someDigits reads the digits the grammar requires after a decimal point
// or an exponent's sign: at least one ("invalid character … <where>
// numeric literal" otherwise, as encoding/json says).
func (d *jsonDecoder) someDigits(where string) error {
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
func (d *jsonDecoder) delimiter(closing byte, element string) (done bool, err error) {
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
func (d *jsonDecoder) str() (string, error) {
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
func (d *jsonDecoder) escapedStr(start int) (string, error) {
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

func (d *jsonDecoder) hex4() (rune, bool) {
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
func (d *jsonDecoder) number() (float64, error) {
	start := d.pos
	if d.buf[d.pos] == '-' {
		d.pos++
	}
	if d.pos >= len(d.buf) {
		return 0, d.eof()
	}
	switch c := d.buf[d.pos]; {
	case c == '0':
		d.pos++
	case c >= '1' && c <= '9':
		d.digits()
	default:
		return 0, d.errorf("invalid character %s in numeric literal", quoteChar(c))
	}
	if d.pos < len(d.buf) && d.buf[d.pos] == '.' {
		d.pos++
		if err := d.someDigits("after decimal point in"); err != nil {
			return 0, err
		}
	}
	if d.pos < len(d.buf) && (d.buf[d.pos] == 'e' || d.buf[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.buf) && (d.buf[d.pos] == '+' || d.buf[d.pos] == '-') {
			d.pos++
		}
		if err := d.someDigits("in exponent of"); err != nil {
			return 0, err
		}
	}
	lit := d.buf[start:d.pos]
	f, err := strconv.ParseFloat(unsafe.String(&lit[0], len(lit)), 64)
	if err != nil {
		return 0, &syntaxError{msg: "number " + string(lit) + " is out of range for a 64-bit float", Offset: start}
	}
	return f, nil
}

func (d *jsonDecoder) digits() {
	for d.pos < len(d.buf) && d.buf[d.pos] >= '0' && d.buf[d.pos] <= '9' {
		d.pos++
	}
}
