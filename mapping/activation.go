package mapping

import (
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
)

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Activation is the record an expression is evaluated over. The caller
// fills its exported fields, evaluates the route's expressions, then fills
// it with the next record: reusing one Activation per goroutine is what
// keeps evaluations cheap (header maps, strings and buffers are kept and
// reused). An Activation is not safe for concurrent use, and Eval reads
// its fields only while it runs.
//
// Key and header values that are not valid UTF-8 reach expressions with
// each invalid byte sequence replaced by U+FFFD, as CEL strings are UTF-8.
type Activation struct {
	// Value is the decoded record value, as transform's JSON decoder and
	// encoding/json produce it: map[string]any, []any, string, float64,
	// bool or nil. Other Go types reach the expression as cel-go adapts
	// them (json.Number, int64 and time.Time do as expected).
	Value any
	// Key is the record key; nil or empty is the empty string.
	Key []byte
	// Headers are the record headers in record order. The variable
	// headers keeps the first value of a repeated name; header_values has
	// every value, in order. Names are case-sensitive.
	Headers   []Header
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time

	// Built at most once per evaluation, on the expression's first read.
	built      uint8
	keyRaw     string // string(Key) when key was last built
	key        string // keyRaw made valid UTF-8
	hdrStrs    []hdrStr
	headers    map[string]string
	hdrValues  map[string][]string
	jsonWriter jsonWriter
}

// hdrStr caches the strings of one header, so that evaluating several
// expressions over the same record converts its header bytes once.
type hdrStr struct {
	rawKey, rawVal string // as in the record
	key, val       string // made valid UTF-8
}

// Bits of Activation.built.
const (
	builtKey uint8 = 1 << iota
	builtHeaders
	builtHeaderValues
)

// begin starts an evaluation: what was built for the previous one may
// describe another record.
func (a *Activation) begin() { a.built = 0 }

var _ interpreter.Activation = (*Activation)(nil)

// ResolveName implements interpreter.Activation: it returns the variable
// name of the current record, building the key string and the header maps
// on their first read in an evaluation only.
func (a *Activation) ResolveName(name string) (any, bool) {
	switch name {
	case varValue:
		return a.Value, true
	case varKey:
		return types.String(a.keyString()), true
	case varHeaders:
		a.buildHeaders()
		return types.NewStringStringMap(types.DefaultTypeAdapter, a.headers), true
	case varHeaderValues:
		a.buildHeaderValues()
		return types.NewMap(types.DefaultTypeAdapter, a.hdrValues), true
	case varTopic:
		return types.String(validString(a.Topic)), true
	case varPartition:
		return types.Int(a.Partition), true
	case varOffset:
		return types.Int(a.Offset), true
	case varTimestamp:
		return types.Timestamp{Time: a.Timestamp.UTC()}, true
	}
	return nil, false
}

// Parent implements interpreter.Activation: there is none.
func (a *Activation) Parent() interpreter.Activation { return nil }

// keyString returns Key as a valid UTF-8 string, allocating only when the
// key differs from the one of the previous evaluation.
func (a *Activation) keyString() string {
	if a.built&builtKey == 0 {
		if string(a.Key) != a.keyRaw {
			a.keyRaw = string(a.Key)
			a.key = validString(a.keyRaw)
		}
		a.built |= builtKey
	}
	return a.key
}

// headerStrings refreshes hdrStrs from Headers, converting only the headers
// that differ from those of the previous evaluation.
func (a *Activation) headerStrings() []hdrStr {
	if cap(a.hdrStrs) < len(a.Headers) {
		a.hdrStrs = append(a.hdrStrs[:cap(a.hdrStrs)], make([]hdrStr, len(a.Headers)-cap(a.hdrStrs))...)
	}
	a.hdrStrs = a.hdrStrs[:len(a.Headers)]
	for i := range a.Headers {
		h, c := &a.Headers[i], &a.hdrStrs[i]
		if h.Key != c.rawKey {
			c.rawKey, c.key = h.Key, validString(h.Key)
		}
		if string(h.Value) != c.rawVal {
			c.rawVal = string(h.Value)
			c.val = validString(c.rawVal)
		}
	}
	return a.hdrStrs
}

// buildHeaders fills the headers map: the first value of each name.
func (a *Activation) buildHeaders() {
	if a.built&builtHeaders != 0 {
		return
	}
	a.built |= builtHeaders
	if a.headers == nil {
		a.headers = make(map[string]string, len(a.Headers))
	}
	clear(a.headers)
	for _, h := range a.headerStrings() {
		if _, dup := a.headers[h.key]; !dup {
			a.headers[h.key] = h.val
		}
	}
}

// buildHeaderValues fills the header_values map: every value of each name,
// in record order.
func (a *Activation) buildHeaderValues() {
	if a.built&builtHeaderValues != 0 {
		return
	}
	a.built |= builtHeaderValues
	if a.hdrValues == nil {
		a.hdrValues = make(map[string][]string, len(a.Headers))
	}
	clear(a.hdrValues)
	for _, h := range a.headerStrings() {
		// A new slice per name and evaluation: header_values is rarely
		// read, and reusing slices would need a map of their own.
		a.hdrValues[h.key] = append(a.hdrValues[h.key], h.val)
	}
}

// writer returns the activation's JSON writer, its scratch space kept from
// one evaluation to the next.
func (a *Activation) writer() *jsonWriter { return &a.jsonWriter }

// validString returns s with each invalid UTF-8 sequence replaced by
// U+FFFD; s itself, without allocating, when it is valid.
func validString(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			if utf8.ValidString(s[i:]) {
				return s
			}
			return strings.ToValidUTF8(s, "\uFFFD")
		}
	}
	return s
}
