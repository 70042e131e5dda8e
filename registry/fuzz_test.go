package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func FuzzParseHeader(f *testing.F) {
	for _, seed := range [][]byte{
		{0, 0, 0, 0, 1, 0},
		{0, 0, 0, 0, 1, 4, 2, 6, 'x'},
		{0, 0, 0, 1, 0, 2, 0x80, 0x02},
		{0, 0, 0, 0, 1, 0x82, 0x01},
		{0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		{1, 2, 3},
		{},
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, protobuf bool) {
		h, payload, err := ParseHeader(b, protobuf)
		if err != nil {
			if !errors.Is(err, ErrBadWireFormat) {
				t.Fatalf("error %v is not ErrBadWireFormat", err)
			}
			return
		}
		if !bytes.HasSuffix(b, payload) || len(b)-len(payload) < 5 {
			t.Fatalf("payload %x is not the tail of %x", payload, b)
		}
		if protobuf != (len(h.MessageIndexes) > 0) || len(h.MessageIndexes) > MaxMessageIndexes {
			t.Fatalf("indexes %v", h.MessageIndexes)
		}
		// Round trip: the canonical encoding parses back to the same header.
		enc := AppendHeader(nil, h, protobuf)
		h2, rest, err := ParseHeader(append(enc, payload...), protobuf)
		if err != nil || !reflect.DeepEqual(h, h2) || !bytes.Equal(rest, payload) {
			t.Fatalf("round trip of %+v: %+v %x %v", h, h2, rest, err)
		}
		if len(enc) > len(b)-len(payload) {
			t.Fatalf("canonical header %x longer than the parsed one %x", enc, b[:len(b)-len(payload)])
		}
	})
}

// fuzzAvroSchema reaches every Avro kind and logical type: a union of the
// all-types record, a recursive list and a map of unions.
var fuzzAvroSchema = `[` + avroAllTypes + `,
 {"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]},
 {"type":"map","values":["null","string",{"type":"array","items":"double"},"com.acme.Color"]}]`

func FuzzDecodeAvro(f *testing.F) {
	reg := newFakeRegistry(f)
	id := reg.register(f, "fuzz-avro", sr.Schema{Schema: fuzzAvroSchema})
	d := newTestDecoder(f, reg, Config{MaxJSONBytes: 1 << 20})
	schema := avro.MustParse(fuzzAvroSchema)

	all := avroEncode(f, id, avroAllTypes, allTypesValue())[5:]
	f.Add(append([]byte{0}, all...))
	f.Add([]byte{2, 2, 2, 4, 0})                     // Node{1, Node{2, null}}
	f.Add([]byte{4, 4, 2, 'a', 0, 2, 'b', 2, 0, 0})  // {"a": null, "b": ""}
	f.Add([]byte{4, 3, 8, 2, 'k', 4, 2, 0, 0, 0, 0}) // negative block count
	f.Add([]byte{4, 2, 2, 'c', 6, 2})                // an enum in the map
	header := AppendHeader(nil, Header{SchemaID: id}, false)

	f.Fuzz(func(t *testing.T, payload []byte) {
		value := append(header[:len(header):len(header)], payload...)
		out, _, err := d.Decode(context.Background(), FormatAvro, value)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v is not ErrDecode", err)
			}
			return
		}
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("invalid JSON %q", out)
		}
		// What this decoder accepts, hamba/avro reads too.
		var v any
		if err := avro.Unmarshal(schema, payload, &v); err != nil {
			t.Fatalf("decoded %s but hamba/avro says %v", out, err)
		}
	})
}

func FuzzDecodeProtobuf(f *testing.F) {
	fx := newProtoFixture(f)
	full := protoEncode(f, fx.files, "shop.Everything", everythingIn)
	f.Add(append([]byte{0}, full...))
	f.Add(append([]byte{2, 2}, protoEncode(f, fx.files, "shop.Second", `{"x":"y"}`)...))
	f.Add(append([]byte{4, 2, 0}, protoEncode(f, fx.files, "shop.Second.Deep", `{"y":5}`)...))
	f.Add(append([]byte{0}, wire{}.bytes(21, []byte{8, 1}).bytes(21, []byte{0x12, 1, 'a'})...))
	f.Add(append([]byte{0}, wire{}.bytes(33, wire{}.bytes(5, wire{}.bytes(1, wire{}.bytes(1, []byte("k")).bytes(2, []byte{0x20, 1}))))...))
	prefix := AppendHeader(nil, Header{SchemaID: fx.id}, false)

	f.Fuzz(func(t *testing.T, rest []byte) {
		value := append(prefix[:len(prefix):len(prefix)], rest...)
		out, info, err := fx.d.Decode(context.Background(), FormatProtobuf, value)
		if err != nil {
			if !errors.Is(err, ErrDecode) && !errors.Is(err, ErrBadWireFormat) {
				t.Fatalf("error %v is neither ErrDecode nor ErrBadWireFormat", err)
			}
			return
		}
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("invalid JSON %q", out)
		}
		_, payload, err := ParseHeader(value, true)
		if err != nil {
			t.Fatal(err)
		}
		mt, err := fx.types.FindMessageByName(protoreflect.FullName(info.Name))
		if err != nil {
			t.Fatal(err)
		}
		m := mt.New()
		if ok, err := referenceUnmarshal(payload, m.Interface(), fx.types); !ok {
			return // the reference panicked (see referenceUnmarshal); this decoder did not
		} else if err != nil {
			t.Fatalf("decoded %s but proto.Unmarshal says %v", out, err)
		}
		if !lossyForJSON(m) {
			differential(t, fx.types, info.Name, payload, out)
		}
	})
}

// lossyForJSON reports whether m holds something whose JSON form protojson
// cannot read back into the same message: a Confluent Decimal (a string
// here), an Any (raw bytes), a NullValue holding a number other than 0.
func lossyForJSON(m protoreflect.Message) bool {
	switch m.Descriptor().FullName() {
	case "confluent.type.Decimal", "google.protobuf.Any":
		return true
	}
	lossy := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		check := func(fd protoreflect.FieldDescriptor, v protoreflect.Value) {
			switch {
			case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
				lossy = lossy || lossyForJSON(v.Message())
			case fd.Kind() == protoreflect.EnumKind && fd.Enum().FullName() == "google.protobuf.NullValue":
				lossy = lossy || v.Enum() != 0
			}
		}
		switch {
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				check(fd, v.List().Get(i))
			}
		case fd.IsMap():
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				check(fd.MapValue(), mv)
				return true
			})
		default:
			check(fd, v)
		}
		return !lossy
	})
	return lossy
}
