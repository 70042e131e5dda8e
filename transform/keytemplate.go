package transform

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// KeyTemplate is a parsed idempotency-key template. The rendered text is
// turned into the key as UUID v5 in the DNS namespace, as the reference Node
// producer does, so the default template "{eventType}:{businessKey}" yields
// the same key for the same business transaction as that producer.
//
// Placeholders: {eventType}, {businessKey}, {topic}, {key} (the Kafka record
// key as text) and {/json/pointer} (a string or number field of the value).
// At least one placeholder must vary per record ({businessKey}, {key} or a
// pointer): a constant key would make CXone drop every event but the first.
type KeyTemplate struct {
	text  string
	parts []keyPart
}

type keyPartKind int

const (
	partLiteral keyPartKind = iota
	partEventType
	partBusinessKey
	partTopic
	partKey
	partField
)

type keyPart struct {
	kind keyPartKind
	lit  string
	ptr  Pointer
}

// ParseKeyTemplate parses an idempotency-key template.
func ParseKeyTemplate(s string) (KeyTemplate, error) {
	t := KeyTemplate{text: s}
	varies := false
	rest := s
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			if strings.Contains(rest, "}") {
				return KeyTemplate{}, fmt.Errorf("unmatched } in %q", s)
			}
			t.parts = append(t.parts, keyPart{kind: partLiteral, lit: rest})
			break
		}
		if open > 0 {
			lit := rest[:open]
			if strings.Contains(lit, "}") {
				return KeyTemplate{}, fmt.Errorf("unmatched } in %q", s)
			}
			t.parts = append(t.parts, keyPart{kind: partLiteral, lit: lit})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return KeyTemplate{}, fmt.Errorf("unclosed { in %q", s)
		}
		name := rest[open+1 : open+end]
		rest = rest[open+end+1:]
		var p keyPart
		switch {
		case name == "eventType":
			p.kind = partEventType
		case name == "businessKey":
			p.kind, varies = partBusinessKey, true
		case name == "topic":
			p.kind = partTopic
		case name == "key":
			p.kind, varies = partKey, true
		case strings.HasPrefix(name, "/"):
			ptr, err := ParsePointer(name)
			if err != nil {
				return KeyTemplate{}, err
			}
			p.kind, p.ptr, varies = partField, ptr, true
		default:
			return KeyTemplate{}, fmt.Errorf("unknown placeholder {%s} in %q (known: {eventType}, {businessKey}, {topic}, {key}, {/json/pointer})", name, s)
		}
		t.parts = append(t.parts, p)
	}
	if !varies {
		return KeyTemplate{}, errors.New("template " + strconv.Quote(s) + " must contain {businessKey}, {key} or a {/json/pointer}: a constant key would deduplicate every event into one")
	}
	return t, nil
}

// String returns the template as written.
func (t KeyTemplate) String() string { return t.text }

// render appends the template's text for one record, its value decoded
// in doc, to dst.
func (t KeyTemplate) render(dst []byte, eventType, businessKey string, rec *Record, doc *jsonDoc) ([]byte, *InvalidError) {
	for _, p := range t.parts {
		switch p.kind {
		case partLiteral:
			dst = append(dst, p.lit...)
		case partEventType:
			dst = append(dst, eventType...)
		case partBusinessKey:
			dst = append(dst, businessKey...)
		case partTopic:
			dst = append(dst, rec.Topic...)
		case partKey:
			if len(rec.Key) == 0 {
				return nil, invalid(ReasonKeyTemplate, "idempotency key template %q needs the record key, and the record has none", t.text)
			}
			dst = append(dst, rec.Key...)
		case partField:
			i := p.ptr.find(doc)
			if i < 0 {
				return nil, invalid(ReasonKeyTemplate, "%s: missing (the idempotency key template needs it)", p.ptr)
			}
			switch n := &doc.nodes[i]; n.kind {
			case kindString:
				dst = append(dst, n.str...)
			case kindNumber:
				dst = strconv.AppendFloat(dst, n.num, 'f', -1, 64)
			default:
				return nil, invalid(ReasonKeyTemplate, "%s: want a string or number for the idempotency key, got %s", p.ptr, doc.typeName(i))
			}
		}
	}
	return dst, nil
}
