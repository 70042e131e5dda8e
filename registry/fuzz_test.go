package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
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

// FuzzDecodeProtobuf decodes payloads against the shop schema registered
// twice: as .proto text and as base64 FileDescriptorProtos (the root and
// its reference alike, as Confluent's Python client registers them). The
// two must decode every payload alike: same JSON, same error.
func FuzzDecodeProtobuf(f *testing.F) {
	fx := newProtoFixture(f)
	b64 := registerDescriptorForm(f, fx)
	full := protoEncode(f, fx.files, "shop.Everything", everythingIn)
	f.Add(append([]byte{0}, full...))
	f.Add(append([]byte{2, 2}, protoEncode(f, fx.files, "shop.Second", `{"x":"y"}`)...))
	f.Add(append([]byte{4, 2, 0}, protoEncode(f, fx.files, "shop.Second.Deep", `{"y":5}`)...))
	f.Add(append([]byte{0}, wire{}.bytes(21, []byte{8, 1}).bytes(21, []byte{0x12, 1, 'a'})...))
	f.Add(append([]byte{0}, wire{}.bytes(33, wire{}.bytes(5, wire{}.bytes(1, wire{}.bytes(1, []byte("k")).bytes(2, []byte{0x20, 1}))))...))
	prefix := AppendHeader(nil, Header{SchemaID: fx.id}, false)

	b64Prefix := AppendHeader(nil, Header{SchemaID: b64.id}, false)

	f.Fuzz(func(t *testing.T, rest []byte) {
		value := append(prefix[:len(prefix):len(prefix)], rest...)
		out, info, err := fx.d.Decode(context.Background(), FormatProtobuf, value)
		out2, info2, err2 := b64.d.Decode(context.Background(), FormatProtobuf, append(b64Prefix[:len(b64Prefix):len(b64Prefix)], rest...))
		if !bytes.Equal(out, out2) || info.Name != info2.Name || !sameFailure(err, err2) {
			t.Fatalf("text and descriptor forms differ:\ntext:       %s %q %v\ndescriptor: %s %q %v", out, info.Name, err, out2, info2.Name, err2)
		}
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

// registerDescriptorForm registers fx's schema and its reference again, as
// base64 FileDescriptorProtos, and returns a decoder and the id for them.
func registerDescriptorForm(t testing.TB, fx *protoFixture) (b64 struct {
	d  *Decoder
	id int
}) {
	t.Helper()
	root := fx.files[0]
	money := importOf(t, root, "common/money.proto")
	fx.reg.register(t, "common-money-b64", sr.Schema{Schema: descriptorBase64(t, protodesc.ToFileDescriptorProto(money)), Type: sr.TypeProtobuf})
	b64.id = fx.reg.register(t, "shop-b64-value", sr.Schema{Schema: descriptorBase64(t, protodesc.ToFileDescriptorProto(root)), Type: sr.TypeProtobuf,
		References: []sr.SchemaReference{{Name: "common/money.proto", Subject: "common-money-b64", Version: 1}}})
	b64.d = newTestDecoder(t, fx.reg, Config{})
	return b64
}

// importOf is the file fd imports as path.
func importOf(t testing.TB, fd protoreflect.FileDescriptor, path string) protoreflect.FileDescriptor {
	t.Helper()
	for i := 0; i < fd.Imports().Len(); i++ {
		if imp := fd.Imports().Get(i); imp.Path() == path {
			return imp.FileDescriptor
		}
	}
	t.Fatalf("%s does not import %s", fd.Path(), path)
	return nil
}

// sameFailure reports whether a and b are both nil or both an *Error with
// the same reason and detail (the schema ids may differ).
func sameFailure(a, b error) bool {
	var ea, eb *Error
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return errors.As(a, &ea) && errors.As(b, &eb) && ea.Reason == eb.Reason && ea.Detail == eb.Detail
}

// FuzzProtobufDescriptorSchema compiles fuzzed FileDescriptorProtos, as
// base64 schemas, the way the decoder compiles a registered one: whatever
// the bytes, compiling neither panics nor hangs, and a schema that compiles
// decodes payloads without panicking, into valid JSON or ErrDecode.
func FuzzProtobufDescriptorSchema(f *testing.F) {
	fx := newProtoFixture(f)
	marshal := func(fd *descriptorpb.FileDescriptorProto) []byte {
		b, err := proto.Marshal(fd)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	root := fx.files[0]
	money := importOf(f, root, "common/money.proto")
	imports := map[string]string{"common/money.proto": descriptorBase64(f, protodesc.ToFileDescriptorProto(money))}
	orderPayload := frameProto(0, []int{1}, nil)[5:] // the index path [1]
	f.Add(marshal(orderDescriptor()), orderPayload)
	f.Add(marshal(protodesc.ToFileDescriptorProto(root)), append([]byte{0}, protoEncode(f, fx.files, "shop.Everything", everythingIn)...))
	f.Add(marshal(protodesc.ToFileDescriptorProto(money)), []byte{0, 0x0a, 0x01, 'x'})
	proto2 := compiledDescriptor(f, map[string]string{"p2.proto": `syntax = "proto2"; package p;
message M { optional group G = 1 { optional int32 x = 2; } repeated M self = 3; map<int32, string> m = 4; extensions 100 to 200; }
extend M { optional string ext = 100; }`}, "p2.proto")
	f.Add(marshal(proto2), []byte{0, 0x0b, 0x10, 0x01, 0x0c})

	f.Fuzz(func(t *testing.T, descriptor, value []byte) {
		ps, err := compileProtobuf(context.Background(), 1, base64.StdEncoding.EncodeToString(descriptor), imports)
		if err != nil {
			return
		}
		var idx [MaxMessageIndexes]int
		n, payload, err := parseIndexes(value, &idx)
		if err != nil {
			return
		}
		m, ok := ps.message(idx[:n])
		if !ok {
			return
		}
		d := &Decoder{maxJSON: 1 << 16}
		out, err := d.decodeProtobuf(&schema{id: 1, pb: ps}, m, payload)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v is not ErrDecode", err)
			}
			return
		}
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("invalid JSON %q", out)
		}
	})
}
