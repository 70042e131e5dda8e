package transform

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"unicode/utf8"
)

// fastSchema answers, for the common flat-object schema (an order: an
// object of scalar members with types, patterns, lengths, bounds, enums
// and date-times), whether a decoded value is valid, without the JSON
// Schema library's per-value allocations (about 25 per order, 3 µs).
//
// It is one-sided by design: valid(v) true means the library would accept
// v too; false means "ask the library", which then decides, and words the
// error. So a record is never judged otherwise than the library judges it
// (FuzzFastSchema checks it), and no error message changes. Where the
// fast check cannot be sure (a number equal to a bound, whose comparison
// the library makes in exact decimals; a date-time only the library's
// laxer check accepts) it says false as well.
//
// compileFastSchema builds it only for schemas made of the keywords below
// and nothing else; any other keyword (a $ref, a nested properties, an
// allOf, a format other than date-time, another draft) leaves the route
// with the library alone.
type fastSchema struct {
	required []string
	props    map[string]*fastProp
	closed   bool // additionalProperties: false
}

// fastProp is the check of one member.
type fastProp struct {
	types            uint8 // fastString | ...; 0: any
	pattern          *regexp.Regexp
	minLen, maxLen   int // -1: none
	min, max         *fastBound
	exclMin, exclMax *fastBound
	enum             []string // string enums only; nil: none
	dateTime         bool
}

type fastBound struct{ v float64 }

const (
	fastString uint8 = 1 << iota
	fastNumber
	fastInteger
	fastBoolean
	fastNull
	fastObject
	fastArray
)

var fastTypes = map[string]uint8{
	"string": fastString, "number": fastNumber, "integer": fastInteger, "boolean": fastBoolean,
	"null": fastNull, "object": fastObject, "array": fastArray,
}

// Keywords that only annotate: they never change what is valid.
var fastAnnotations = map[string]bool{
	"title": true, "description": true, "$comment": true, "examples": true, "default": true,
	"deprecated": true, "readOnly": true, "writeOnly": true,
}

// compileFastSchemaFile reads a schema file and compiles its fast check,
// nil when the schema is outside the subset (or the file unreadable: the
// library reports that).
func compileFastSchemaFile(file string) *fastSchema {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	return compileFastSchema(b)
}

// compileFastSchema compiles the fast check of a schema document, nil when
// the schema is outside the subset.
func compileFastSchema(doc []byte) *fastSchema {
	var root map[string]json.RawMessage
	if json.Unmarshal(doc, &root) != nil {
		return nil
	}
	f := &fastSchema{props: map[string]*fastProp{}}
	sawObject := false
	for k, raw := range root {
		switch {
		case fastAnnotations[k]:
		case k == "$schema":
			var s string
			if json.Unmarshal(raw, &s) != nil || s != "https://json-schema.org/draft/2020-12/schema" {
				return nil
			}
		case k == "type":
			var s string
			if json.Unmarshal(raw, &s) != nil || s != "object" {
				return nil
			}
			sawObject = true
		case k == "required":
			if json.Unmarshal(raw, &f.required) != nil {
				return nil
			}
		case k == "additionalProperties":
			var b bool
			if json.Unmarshal(raw, &b) != nil {
				return nil
			}
			f.closed = !b
		case k == "properties":
			var props map[string]json.RawMessage
			if json.Unmarshal(raw, &props) != nil {
				return nil
			}
			for name, p := range props {
				fp := compileFastProp(p)
				if fp == nil {
					return nil
				}
				f.props[name] = fp
			}
		default:
			return nil
		}
	}
	if !sawObject {
		return nil
	}
	return f
}

func compileFastProp(raw json.RawMessage) *fastProp {
	var kw map[string]json.RawMessage
	if json.Unmarshal(raw, &kw) != nil {
		return nil // a boolean schema, or not an object
	}
	p := &fastProp{minLen: -1, maxLen: -1}
	objectOnly := false
	for k, v := range kw {
		var err error
		switch {
		case fastAnnotations[k]:
		case k == "type":
			var one string
			var many []string
			if json.Unmarshal(v, &one) == nil {
				many = []string{one}
			} else if json.Unmarshal(v, &many) != nil {
				return nil
			}
			for _, t := range many {
				bit, ok := fastTypes[t]
				if !ok {
					return nil
				}
				p.types |= bit
			}
			objectOnly = len(many) == 1 && many[0] == "object"
		case k == "pattern":
			var s string
			if err = json.Unmarshal(v, &s); err == nil {
				p.pattern, err = regexp.Compile(s) // the library's engine
			}
		case k == "minLength":
			err = json.Unmarshal(v, &p.minLen)
		case k == "maxLength":
			err = json.Unmarshal(v, &p.maxLen)
		case k == "minimum":
			p.min, err = fastBoundOf(v)
		case k == "maximum":
			p.max, err = fastBoundOf(v)
		case k == "exclusiveMinimum":
			p.exclMin, err = fastBoundOf(v)
		case k == "exclusiveMaximum":
			p.exclMax, err = fastBoundOf(v)
		case k == "enum":
			if err = json.Unmarshal(v, &p.enum); err == nil && p.enum == nil {
				err = fmt.Errorf("empty enum")
			}
		case k == "format":
			var s string
			if json.Unmarshal(v, &s) != nil || s != "date-time" {
				return nil
			}
			p.dateTime = true
		case k == "additionalProperties":
			var b bool
			if json.Unmarshal(v, &b) != nil || !b {
				return nil
			}
		default:
			return nil
		}
		if err != nil {
			return nil
		}
	}
	if _, ok := kw["additionalProperties"]; ok && !objectOnly {
		return nil // additionalProperties: true only as the no-op of an object member
	}
	return p
}

func fastBoundOf(raw json.RawMessage) (*fastBound, error) {
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return nil, fmt.Errorf("bound %s", raw)
	}
	return &fastBound{v}, nil
}

// valid reports whether the value doc holds is valid for certain; see
// fastSchema.
func (f *fastSchema) valid(doc *jsonDoc) bool {
	if !doc.isObject() {
		return false
	}
	for _, name := range f.required {
		if doc.member(0, name) < 0 {
			return false
		}
	}
	for j := 1; j < doc.nodes[0].end; j = doc.nodes[j].end {
		n := &doc.nodes[j]
		p, ok := f.props[n.key]
		if !ok {
			if f.closed {
				return false
			}
			continue
		}
		if !p.valid(n) {
			return false
		}
	}
	return true
}

func (p *fastProp) valid(n *jsonNode) bool {
	switch n.kind {
	case kindString:
		x := n.str
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
	case kindNumber:
		x := n.num
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
	case kindTrue, kindFalse:
		return (p.types == 0 || p.types&fastBoolean != 0) && p.enum == nil
	case kindNull:
		return (p.types == 0 || p.types&fastNull != 0) && p.enum == nil
	case kindObject:
		return (p.types == 0 || p.types&fastObject != 0) && p.enum == nil
	case kindArray:
		return (p.types == 0 || p.types&fastArray != 0) && p.enum == nil
	}
	return false
}
