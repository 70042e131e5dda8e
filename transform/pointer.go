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
	return Pointer{text: s, tokens: parts}, nil
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
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) || (len(tok) > 1 && tok[0] == '0') {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
