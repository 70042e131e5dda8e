// Package registry decodes Kafka record values written in the Confluent
// Schema Registry wire format (Avro, Protobuf, JSON Schema) into JSON bytes,
// so that the bridge's JSON path (package transform) takes them unchanged.
//
// # Wire format
//
// A value is magic byte 0, a 4-byte big-endian schema id, for Protobuf the
// message-index path (ParseHeader), then the payload. The Decoder fetches
// the schema of an id from the registry once, compiles it (references
// resolved recursively: Avro named types defined under other subjects,
// Protobuf imports served from the referenced subjects by reference name),
// and keeps it for its whole life. A 404 for an id is remembered for
// Config.NotFoundTTL (10s by default); a registry outage is never
// remembered, so the next call after the registry comes back succeeds.
//
// A Protobuf schema, and each schema it references, is either .proto text
// or the standard base64 of a serialized google.protobuf.FileDescriptorProto:
// Confluent's Python client registers the latter, and a registry hands it
// back as registered (srfake) or when asked for ?format=serialized
// (Confluent's). Both forms decode alike (same JSON, same message indexes,
// same errors). The google/protobuf files protoc ships (timestamp, wrappers,
// duration, struct, any, empty, field_mask, ...) and Confluent's
// confluent/meta.proto and confluent/type/decimal.proto are built in: a
// schema may import them without a reference, as Confluent's clients do.
//
// # Checking the registry
//
// Decoder.Check proves the registry reachable and the credentials
// accepted with one request; Decoder.SubjectExists asks whether a subject
// is registered. Both fail with ErrUnavailable, and a refused credential
// (HTTP 401 or 403) also matches ErrAuthentication.
//
// # Errors
//
// Every error is an *Error with one of four reasons, matched with errors.Is:
// ErrUnavailable (systemic: registry unreachable, timeout, 5xx, 401/403 (which
// also match ErrAuthentication), a 404 without a registry error code;
// retry), ErrUnknownSchema (the registry has no such id, or the schema does
// not compile), ErrBadWireFormat (bad
// header, or a schema of another type than the configured format) and
// ErrDecode (the payload does not decode against its schema). The last
// three are the record's fault: dead-letter it. Messages name the schema id
// and (with Config.LookupSubject) the subject, and carry offsets and field
// paths, never more than a bounded excerpt of the record.
//
// # JSON mapping
//
// One mapping, for Avro and Protobuf alike:
//
//   - Records and messages are JSON objects; members are the fields, in
//     schema declaration order, named exactly as the schema writes them
//     (.proto names as written, not lowerCamelCase).
//   - An Avro union is its value itself, without a {"type": value} wrapper;
//     null is null.
//   - An enum is its symbol name as a string. A Protobuf enum number the
//     schema does not name (open enums) is that number.
//   - bytes and fixed are standard base64 strings, with padding.
//   - Maps are objects, arrays and repeated fields are arrays. Avro map
//     keys keep their wire order; Protobuf map keys are sorted (as
//     protojson sorts them) and non-string keys become their decimal or
//     true/false text. A key that occurs twice keeps its last value.
//   - Integers: int32 and uint32 are numbers; int64 and uint64 (Avro long,
//     Protobuf int64, sint64, sfixed64, uint64, fixed64) are numbers when
//     their magnitude is at most 2^53, and decimal strings beyond, so that
//     no JSON reader rounds them.
//   - float and double are numbers written as encoding/json writes them
//     (shortest round-trip form); NaN, +Inf and -Inf are the strings "NaN",
//     "Infinity" and "-Infinity".
//   - Strings must be valid UTF-8 (else ErrDecode); they are written with
//     quote, backslash and control characters escaped.
//   - Avro decimal (on bytes or fixed) is a JSON string of the unscaled
//     value with the scale applied, every digit kept: unscaled 1230 with
//     scale 2 is "12.30". Confluent's confluent.type.Decimal Protobuf
//     message maps the same way; Protobuf has no other decimal.
//   - Instants (Avro timestamp-millis/-micros/-nanos, local-timestamp-*,
//     Protobuf google.protobuf.Timestamp) are RFC 3339 strings in UTC with
//     3, 6 or 9 fractional digits, the fewest that hold the value exactly:
//     "2024-01-02T03:04:05.000Z", "2024-01-02T03:04:05.123456Z". A local
//     timestamp has no zone; its wall-clock reading is written as if UTC.
//     Avro date is "YYYY-MM-DD"; time-millis and time-micros are
//     "HH:MM:SS.fff" ("HH:MM:SS.ffffff" when the microseconds are not
//     zero). A date or instant outside years 0001–9999, or a time of day
//     outside [00:00, 24:00), is ErrDecode.
//   - Avro uuid is its string (a uuid on fixed(16) is written in the
//     canonical 8-4-4-4-12 form). Logical types not listed here (duration,
//     and logical types the schema gets wrong) are written as their
//     underlying type.
//   - Avro: the writer's schema (the one the id names) decodes the datum,
//     so every field is present and default values play no part. Bytes
//     left after the datum are ErrDecode.
//   - Protobuf fields without presence (proto3 scalars, enums, repeated and
//     map fields) are always written, with their default value when unset
//     (0, false, "", the enum's zero name, [], {}), so that JSON pointers
//     find them. Fields with presence (message fields, proto3 optional,
//     proto2 optional, oneof members) are omitted when unset (a proto2
//     [default = ...] is not written either); a oneof writes only its
//     member that is set. A group is written under its field name.
//   - Protobuf well-known types: the wrappers (google.protobuf.StringValue
//     and the others) are the wrapped value; Duration is a string as
//     protojson writes it ("1.500s": 0, 3, 6 or 9 fraction digits); Struct, Value and ListValue are the
//     JSON they hold (a Value with no kind set is null); NullValue is null;
//     Any is written as protojson writes it ({"@type": url, ...fields}, or
//     {"@type": url, "value": ...} for a type with a JSON form of its own)
//     when the schema or its imports define the named type, else it is
//     ErrDecode. FieldMask and Empty are ordinary messages.
//   - Nesting deeper than 256 levels, or JSON output over
//     Config.MaxJSONBytes, is ErrDecode.
package registry
