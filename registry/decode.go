package registry

import (
	"context"
	"fmt"
	"strings"
)

// Format is how record values (or keys) of a route are encoded.
type Format string

const (
	// FormatJSON: plain JSON, passed through unchanged.
	FormatJSON Format = "json"
	// FormatAvro: Schema Registry wire format, Avro binary payload.
	FormatAvro Format = "avro"
	// FormatProtobuf: Schema Registry wire format, Protobuf payload.
	FormatProtobuf Format = "protobuf"
	// FormatJSONSchema: Schema Registry wire format, JSON payload (the
	// registry's JSON Schema type): the header is stripped.
	FormatJSONSchema Format = "jsonschema"
	// FormatAuto: a value whose first byte is 0 is in the wire format and
	// the registry's schema type says which of the three it is; any other
	// value is plain JSON, passed through unchanged.
	FormatAuto Format = "auto"
)

// ParseFormat returns the Format named s (case-insensitive): "json",
// "avro", "protobuf", "jsonschema" or "auto".
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case FormatJSON, FormatAvro, FormatProtobuf, FormatJSONSchema, FormatAuto:
		return f, nil
	}
	return "", fmt.Errorf("registry: unknown format %q (want json, avro, protobuf, jsonschema or auto)", s)
}

// Info describes how a value was decoded.
type Info struct {
	// Format is what the value turned out to be: FormatJSON for a value
	// passed through, else FormatAvro, FormatProtobuf or FormatJSONSchema
	// (never FormatAuto).
	Format   Format
	SchemaID int    // 0 for plain JSON
	Subject  string // "" unless Config.LookupSubject found one
	// Name is the full name of the decoded type: the Avro writer schema's
	// root record (or its type name, such as "string"), the Protobuf
	// message. "" for JSON.
	Name string
}

// Decode turns a record value (or key: the same rules apply) written in
// format into JSON, following the mapping in the package documentation.
//
// A nil value (a tombstone) comes back nil, with a zero Info and no error,
// whatever the format. For FormatJSON, and for FormatAuto when the first byte is not 0,
// the returned slice is value itself; for FormatJSONSchema it is the part
// of value after the header. Otherwise it is newly allocated and valid
// JSON.
//
// Every error is an *Error matching exactly one of ErrUnavailable (retry
// later: the registry, not the record, is at fault; so is an unknown
// format), ErrUnknownSchema, ErrBadWireFormat or ErrDecode (the record is at
// fault). Decode never panics, whatever value holds, and asks the registry
// only the first time it meets a schema id.
func (d *Decoder) Decode(ctx context.Context, format Format, value []byte) ([]byte, Info, error) {
	if value == nil {
		return nil, Info{}, nil
	}
	switch format {
	case FormatJSON:
		return value, Info{Format: FormatJSON}, nil
	case FormatAuto:
		if len(value) == 0 || value[0] != 0 {
			return value, Info{Format: FormatJSON}, nil
		}
	case FormatAvro, FormatProtobuf, FormatJSONSchema:
	default:
		return nil, Info{}, &Error{Reason: ReasonUnavailable, Detail: fmt.Sprintf("unknown format %q", excerpt(string(format), 40))}
	}
	id, payload, err := parsePrefix(value)
	if err != nil {
		return nil, Info{}, err
	}
	s, err := d.schema(ctx, id)
	if err != nil {
		return nil, Info{SchemaID: id}, err
	}
	info := Info{Format: s.format, SchemaID: id, Subject: s.subject, Name: s.name}
	if format != FormatAuto && format != s.format {
		e := newError(ReasonBadWireFormat, id, nil, "the record's schema is %s, the format configured is %s", s.format, format)
		e.Subject = s.subject
		return nil, info, e
	}
	switch s.format {
	case FormatJSONSchema:
		return payload, info, nil
	case FormatAvro:
		out, err := d.decodeAvro(s, payload)
		return out, info, err
	default:
		var idx [MaxMessageIndexes]int
		n, payload, err := parseIndexes(payload, &idx)
		if err != nil {
			e := err.(*Error)
			e.SchemaID, e.Subject = id, s.subject
			return nil, info, e
		}
		m, ok := s.pb.message(idx[:n])
		if !ok {
			path := append([]int(nil), idx[:n]...) // a copy: idx stays on the stack
			e := newError(ReasonBadWireFormat, id, nil, "message indexes %v name no message of the schema", path)
			e.Subject = s.subject
			return nil, info, e
		}
		info.Name = string(m.name)
		out, err := d.decodeProtobuf(s, m, payload)
		return out, info, err
	}
}

// decodeAvro decodes an Avro datum with a pooled decoder state, returning
// a copy of the output.
func (d *Decoder) decodeAvro(s *schema, payload []byte) ([]byte, error) {
	st, _ := d.avroPool.Get().(*avroDecoder)
	if st == nil {
		st = &avroDecoder{}
	}
	st.in, st.pos, st.out, st.maxOut = payload, 0, st.out[:0], d.maxJSON
	err := st.decode(s.avro)
	var out []byte
	if err == nil {
		out = append(make([]byte, 0, len(st.out)), st.out...)
	}
	st.in, st.keys = nil, st.keys[:0]
	if cap(st.out) > 1<<20 {
		st.out = nil // do not pin a large buffer
	}
	d.avroPool.Put(st)
	if err != nil {
		return nil, &Error{Reason: ReasonDecode, SchemaID: s.id, Subject: s.subject, Detail: "Avro: " + err.Error()}
	}
	return out, nil
}

// decodeProtobuf decodes a Protobuf message with a pooled decoder state,
// returning a copy of the output.
func (d *Decoder) decodeProtobuf(s *schema, m *pbMsg, payload []byte) ([]byte, error) {
	st, _ := d.pbPool.Get().(*pbDecoder)
	if st == nil {
		st = &pbDecoder{}
	}
	st.in, st.out, st.maxOut, st.schema = payload, st.out[:0], d.maxJSON, s.pb
	st.occ, st.heads, st.spans, st.ents = st.occ[:0], st.heads[:0], st.spans[:0], st.ents[:0]
	err := st.decode(m)
	var out []byte
	if err == nil {
		out = append(make([]byte, 0, len(st.out)), st.out...)
	}
	st.in, st.schema = nil, nil
	if cap(st.out) > 1<<20 {
		st.out = nil
	}
	if cap(st.occ) > 1<<16 {
		st.occ, st.heads, st.spans, st.ents = nil, nil, nil, nil
	}
	d.pbPool.Put(st)
	if err != nil {
		return nil, &Error{Reason: ReasonDecode, SchemaID: s.id, Subject: s.subject, Detail: "Protobuf " + string(m.name) + ": " + err.Error()}
	}
	return out, nil
}
