package transform

import (
	"errors"
	"strconv"
	"strings"
)

// Pointer is a parsed RFC 6901 JSON pointer such as /orderId or /a~1b/0.
type Pointer struct {
	text   string
	tokens []string
	index  []int // each token as an array index, -1 where it is none
}

// ParsePointer parses a non-empty JSON pointer. The root pointer "" is not
// accepted: every pointer here names a field.
func ParsePointer(s string) (Pointer, error) {
	if !strings.HasPrefix(s, "/") {
		return Pointer{}, errors.New("must be a JSON pointer starting with /, such as /orderId; got " + strconv.Quote(s))
	}
	parts := strings.Split(s[1:], "/")
	for i, p := range parts {
		for j := 0; j < len(p); j++ {
			if p[j] == '~' && (j+1 == len(p) || (p[j+1] != '0' && p[j+1] != '1')) {
				return Pointer{}, errors.New("invalid escape in JSON pointer " + strconv.Quote(s) + ": ~ must be followed by 0 or 1")
			}
		}
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
	}
	index := make([]int, len(parts))
	for i, tok := range parts {
		index[i] = arrayIndex(tok)
	}
	return Pointer{text: s, tokens: parts, index: index}, nil
}

// arrayIndex is tok as an index into an array, as Lookup reads it; -1
// when tok is none (a leading zero, a negative or not a number).
func arrayIndex(tok string) int {
	i, err := strconv.Atoi(tok)
	if err != nil || i < 0 || (len(tok) > 1 && tok[0] == '0') {
		return -1
	}
	return i
}

// String returns the pointer as written.
func (p Pointer) String() string { return p.text }

// IsZero reports whether p was never set.
func (p Pointer) IsZero() bool { return p.text == "" }

// Lookup resolves p in a value decoded by encoding/json into any.
func (p Pointer) Lookup(doc any) (any, bool) {
	cur := doc
	for _, tok := range p.tokens {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i := arrayIndex(tok)
			if i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// find resolves p in doc as Lookup does in doc's tree: the node it names,
// -1 when there is none.
func (p Pointer) find(doc *jsonDoc) int {
	cur := 0
	for k, tok := range p.tokens {
		switch doc.nodes[cur].kind {
		case kindObject:
			cur = doc.member(cur, tok)
		case kindArray:
			cur = doc.element(cur, p.index[k])
		default:
			return -1
		}
		if cur < 0 {
			return -1
		}
	}
	return cur
}
