package registry

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile/linker"
	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

const moneyProto = `syntax = "proto3";
package common;
import "confluent/type/decimal.proto";
message Money {
  string currency = 1;
  confluent.type.Decimal amount = 2;
}
`

const everythingProto = `syntax = "proto3";
package shop;
import "google/protobuf/timestamp.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/any.proto";
import "google/protobuf/empty.proto";
import "common/money.proto";

message Everything {
  int32 i32 = 1;
  int64 i64 = 2;
  uint32 u32 = 3;
  uint64 u64 = 4;
  sint32 s32 = 5;
  sint64 s64 = 6;
  fixed32 f32 = 7;
  fixed64 f64 = 8;
  sfixed32 sf32 = 9;
  sfixed64 sf64 = 10;
  float fl = 11;
  double db = 12;
  bool flag = 13;
  string text = 14;
  bytes raw = 15;
  Color color = 16;
  repeated int32 nums = 17;
  repeated string tags = 18;
  map<string, int64> counts = 19;
  map<int32, Inner> by_id = 20;
  Inner inner = 21;
  Inner unset_inner = 22;
  oneof choice {
    string name = 23;
    int32 code = 24;
    Inner boxed = 46;
  }
  optional int32 maybe = 25;
  optional int32 maybe_unset = 26;
  google.protobuf.Timestamp at = 27;
  google.protobuf.Duration took = 28;
  google.protobuf.StringValue sv = 29;
  google.protobuf.Int64Value iv = 30;
  google.protobuf.BoolValue bv = 31;
  google.protobuf.Struct meta = 32;
  google.protobuf.Value val = 33;
  google.protobuf.ListValue list = 34;
  google.protobuf.Any any = 35;
  common.Money price = 36;
  double nan = 37;
  float inf = 38;
  int64 big = 39;
  uint64 ubig = 40;
  Color unknown_color = 41;
  google.protobuf.NullValue nothing = 42;
  int32 zero = 43;
  string empty = 44;
  repeated int32 none = 45;
  google.protobuf.Any any_ts = 47;
  google.protobuf.Empty void = 48;
  repeated Inner items = 49;
  map<bool, string> flags = 50;
  map<sint64, string> signed = 51;

  message Inner {
    string name = 1;
    int32 qty = 2;
  }
}

enum Color {
  COLOR_UNSPECIFIED = 0;
  RED = 1;
  GREEN = 2;
}

message Second {
  string x = 1;
  message Deep {
    int32 y = 1;
  }
}
`

const everythingIn = `{"i32":-5,"i64":"-9007199254740993","u32":4000000000,"u64":"18446744073709551615",
 "s32":-7,"s64":"-8","f32":7,"f64":"9007199254740992","sf32":-9,"sf64":"-10","fl":0.1,"db":150.75,
 "flag":true,"text":"héllo \"q\"\n","raw":"AAEC+vv/","color":"GREEN","nums":[1,2,3],"tags":["a","b"],
 "counts":{"b":2,"a":1},"by_id":{"2":{"name":"two"},"-1":{"name":"minus one","qty":1}},
 "inner":{"name":"n","qty":3},"name":"chosen","maybe":0,
 "at":"2024-01-02T03:04:05.123Z","took":"1.5s","sv":"wrapped","iv":"42","bv":false,
 "meta":{"k":"v","n":1,"nested":{"x":[1,"two",null,true]}},"val":12.5,"list":[1,"a"],
 "any":{"@type":"type.googleapis.com/shop.Second","x":"in any"},
 "price":{"currency":"USD","amount":{"value":"BM4=","precision":4,"scale":2}},
 "nan":"NaN","inf":"-Infinity","big":"9007199254740993","ubig":"9007199254740992",
 "unknown_color":7,"nothing":null,
 "any_ts":{"@type":"type.googleapis.com/google.protobuf.Timestamp","value":"2024-01-02T03:04:05Z"},
 "void":{},"items":[{"name":"a","qty":1},{}],"flags":{"true":"yes","false":"no"},
 "signed":{"-3":"m3","10":"p10","2":"p2"}}`

// Member order is the declaration order; map keys sorted; unset fields
// with presence omitted; implicit-presence fields at their defaults.
const everythingOut = `{"i32":-5,"i64":"-9007199254740993","u32":4000000000,"u64":"18446744073709551615",` +
	`"s32":-7,"s64":-8,"f32":7,"f64":9007199254740992,"sf32":-9,"sf64":-10,"fl":0.1,"db":150.75,` +
	`"flag":true,"text":"héllo \"q\"\n","raw":"AAEC+vv/","color":"GREEN","nums":[1,2,3],"tags":["a","b"],` +
	`"counts":{"a":1,"b":2},"by_id":{"-1":{"name":"minus one","qty":1},"2":{"name":"two","qty":0}},` +
	`"inner":{"name":"n","qty":3},"name":"chosen","maybe":0,` +
	`"at":"2024-01-02T03:04:05.123Z","took":"1.500s","sv":"wrapped","iv":42,"bv":false,` +
	`"meta":{"k":"v","n":1,"nested":{"x":[1,"two",null,true]}},"val":12.5,"list":[1,"a"],` +
	`"any":{"@type":"type.googleapis.com/shop.Second","x":"in any"},` +
	`"price":{"currency":"USD","amount":"12.30"},` +
	`"nan":"NaN","inf":"-Infinity","big":"9007199254740993","ubig":9007199254740992,` +
	`"unknown_color":7,"nothing":null,"zero":0,"empty":"","none":[],` +
	`"any_ts":{"@type":"type.googleapis.com/google.protobuf.Timestamp","value":"2024-01-02T03:04:05.000Z"},` +
	`"void":{},"items":[{"name":"a","qty":1},{"name":"","qty":0}],"flags":{"false":"no","true":"yes"},` +
	`"signed":{"-3":"m3","2":"p2","10":"p10"}}`

// protoFixture is the shop schema registered with a reference to the
// money schema, which imports a Confluent built-in.
type protoFixture struct {
	reg   *fakeRegistry
	d     *Decoder
	id    int
	files linker.Files
	types *dynamicpb.Types
}

func newProtoFixture(t testing.TB) *protoFixture {
	t.Helper()
	reg := newFakeRegistry(t)
	reg.register(t, "common-money", sr.Schema{Schema: moneyProto, Type: sr.TypeProtobuf})
	id := reg.register(t, "shop-value", sr.Schema{Schema: everythingProto, Type: sr.TypeProtobuf,
		References: []sr.SchemaReference{{Name: "common/money.proto", Subject: "common-money", Version: 1}}})
	files := protoFiles(t, map[string]string{
		"shop/everything.proto":        everythingProto,
		"common/money.proto":           moneyProto,
		"confluent/type/decimal.proto": confluentDecimalProto,
	}, "shop/everything.proto")
	return &protoFixture{reg: reg, d: newTestDecoder(t, reg, Config{}), id: id, files: files, types: protoTypes(t, files)}
}

func TestProtobufMapping(t *testing.T) {
	fx := newProtoFixture(t)
	payload := protoEncode(t, fx.files, "shop.Everything", everythingIn)
	for _, format := range []Format{FormatProtobuf, FormatAuto} {
		got, info, err := fx.d.Decode(context.Background(), format, frameProto(fx.id, nil, payload))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != everythingOut {
			t.Errorf("%s:\n got %s\nwant %s", format, got, everythingOut)
		}
		if want := (Info{Format: FormatProtobuf, SchemaID: fx.id, Name: "shop.Everything"}); info != want {
			t.Errorf("info %+v, want %+v", info, want)
		}
	}
	// 1 request for the id, 1 for the reference.
	if n := fx.reg.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestProtobufMessageIndexes(t *testing.T) {
	fx := newProtoFixture(t)
	// Everything's nested types: the two map entries come first, in field
	// order, then Inner (as protoc and Confluent's serializer number them).
	everything := fx.files[0].Messages().Get(0)
	var inner int
	for i := 0; i < everything.Messages().Len(); i++ {
		if everything.Messages().Get(i).Name() == "Inner" {
			inner = i
		}
	}
	tests := []struct {
		name    string
		indexes []int
		typ     string
		in      string
		want    string
	}{
		{"second", []int{1}, "shop.Second", `{"x":"y"}`, `{"x":"y"}`},
		{"nested", []int{1, 0}, "shop.Second.Deep", `{"y":-3}`, `{"y":-3}`},
		{"nested in first", []int{0, inner}, "shop.Everything.Inner", `{"qty":2}`, `{"name":"","qty":2}`},
		{"explicit [0]", []int{0}, "shop.Everything", `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := protoEncode(t, fx.files, tt.typ, tt.in)
			value := AppendHeader(nil, Header{SchemaID: fx.id}, true)[:5]
			value = appendZigZag32(value, int64(len(tt.indexes))) // not the shorthand, even for [0]
			for _, i := range tt.indexes {
				value = appendZigZag32(value, int64(i))
			}
			got, info, err := fx.d.Decode(context.Background(), FormatProtobuf, append(value, payload...))
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if info.Name != tt.typ {
				t.Errorf("name %q, want %q", info.Name, tt.typ)
			}
		})
	}
	for _, bad := range [][]int{{2}, {1, 1}, {0, 99}, {1, 0, 0}} {
		_, _, err := fx.d.Decode(context.Background(), FormatProtobuf, frameProto(fx.id, bad, nil))
		if !errors.Is(err, ErrBadWireFormat) {
			t.Errorf("indexes %v: %v, want ErrBadWireFormat", bad, err)
		}
	}
}

// wire builds Protobuf payloads by hand, for what a serializer would not
// write: repeated singular fields, mixed packing, unknown fields.
type wire []byte

func (w wire) varint(num protowire.Number, v uint64) wire {
	return protowire.AppendVarint(protowire.AppendTag(w, num, protowire.VarintType), v)
}

func (w wire) bytes(num protowire.Number, b []byte) wire {
	return protowire.AppendBytes(protowire.AppendTag(w, num, protowire.BytesType), b)
}

func (w wire) fixed32(num protowire.Number, v uint32) wire {
	return protowire.AppendFixed32(protowire.AppendTag(w, num, protowire.Fixed32Type), v)
}

// TestProtobufParserSemantics: the decoder reads the wire as a Protobuf
// parser does.
func TestProtobufParserSemantics(t *testing.T) {
	inner := func(name string, qty uint64) []byte {
		var w wire
		if name != "" {
			w = w.bytes(1, []byte(name))
		}
		if qty != 0 {
			w = w.varint(2, qty)
		}
		return w
	}
	// pick returns the members of got named in keys, in a small object.
	tests := []struct {
		name    string
		payload wire
		want    map[string]string // member -> JSON value; "" means absent
	}{
		{"last scalar wins", wire{}.varint(1, 1).varint(1, 2), map[string]string{"i32": "2"}},
		{"message fields merge", wire{}.bytes(21, inner("a", 0)).bytes(21, inner("", 2)).bytes(21, inner("b", 0)),
			map[string]string{"inner": `{"name":"b","qty":2}`}},
		{"packed and unpacked mix", wire{}.varint(17, 1).bytes(17, []byte{2, 3}).varint(17, 4),
			map[string]string{"nums": "[1,2,3,4]"}},
		{"oneof last member wins", wire{}.bytes(23, []byte("x")).varint(24, 5),
			map[string]string{"name": "", "code": "5"}},
		{"oneof member again", wire{}.varint(24, 5).bytes(23, []byte("x")),
			map[string]string{"name": `"x"`, "code": ""}},
		{"oneof message restarts", wire{}.bytes(46, inner("a", 1)).varint(24, 5).bytes(46, inner("", 2)),
			map[string]string{"boxed": `{"name":"","qty":2}`, "code": ""}},
		{"oneof message merges", wire{}.bytes(46, inner("a", 1)).bytes(46, inner("", 2)),
			map[string]string{"boxed": `{"name":"a","qty":2}`}},
		{"map last key wins", wire{}.bytes(19, wire{}.bytes(1, []byte("k")).varint(2, 1)).bytes(19, wire{}.bytes(1, []byte("k")).varint(2, 2)),
			map[string]string{"counts": `{"k":2}`}},
		{"map entry missing value", wire{}.bytes(19, wire{}.bytes(1, []byte("k"))).bytes(20, wire{}.varint(1, 3)),
			map[string]string{"counts": `{"k":0}`, "by_id": `{"3":{"name":"","qty":0}}`}},
		{"map entry missing key", wire{}.bytes(19, wire{}.varint(2, 9)), map[string]string{"counts": `{"":9}`}},
		{"unknown fields skipped", wire{}.varint(999, 1).bytes(1000, []byte("zz")).fixed32(1001, 7).varint(1, 3),
			map[string]string{"i32": "3"}},
		{"wrong wire type skipped", wire{}.fixed32(1, 7).bytes(13, []byte{1}).varint(1, 4),
			map[string]string{"i32": "4", "flag": "false"}},
		{"int32 from 64-bit varint", wire{}.varint(1, 1<<32+5), map[string]string{"i32": "5"}},
		{"bool from big varint", wire{}.varint(13, 1<<40), map[string]string{"flag": "true"}},
		{"optional set to zero", wire{}.varint(25, 0), map[string]string{"maybe": "0", "maybe_unset": ""}},
		{"empty wrapper", wire{}.bytes(29, nil).bytes(30, nil), map[string]string{"sv": `""`, "iv": "0"}},
		{"empty timestamp", wire{}.bytes(27, nil), map[string]string{"at": `"1970-01-01T00:00:00.000Z"`}},
		{"value with no kind", wire{}.bytes(33, nil), map[string]string{"val": "null"}},
		{"empty any", wire{}.bytes(35, nil), map[string]string{"any": "{}"}},
		{"negative duration", wire{}.bytes(28, wire{}.varint(1, uint64(1<<64-1)).varint(2, uint64(1<<64-500000000))),
			map[string]string{"took": `"-1.500s"`}},
		{"duration nanos", wire{}.bytes(28, wire{}.varint(2, 1)), map[string]string{"took": `"0.000000001s"`}},
		{"timestamp micros", wire{}.bytes(27, wire{}.varint(1, 1704164645).varint(2, 123456000)),
			map[string]string{"at": `"2024-01-02T03:04:05.123456Z"`}},
		{"timestamp nanos", wire{}.bytes(27, wire{}.varint(1, 1704164645).varint(2, 1)),
			map[string]string{"at": `"2024-01-02T03:04:05.000000001Z"`}},
	}
	fx := newProtoFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := fx.d.Decode(context.Background(), FormatProtobuf, frameProto(fx.id, nil, tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			obj, ok := decodeJSONValue(t, got).(map[string]any)
			if !ok {
				t.Fatalf("not an object: %s", got)
			}
			for member, want := range tt.want {
				v, present := obj[member]
				switch {
				case want == "" && present:
					t.Errorf("%s present (%v), want absent", member, v)
				case want != "" && !present:
					t.Errorf("%s absent, want %s", member, want)
				case want != "" && !jsonEqual(t, mustJSON(t, v), want):
					t.Errorf("%s = %s, want %s", member, mustJSON(t, v), want)
				}
			}
			differential(t, fx.types, "shop.Everything", tt.payload, got)
		})
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := jsonEncoder(&buf)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(buf.Bytes())
}

// differential checks decoded JSON against the Protobuf runtime: the JSON,
// read back by protojson, must be the message proto.Unmarshal reads from
// the payload. It skips what protojson cannot print or read back the same
// (NaN payloads, a Value without a kind, Any's raw bytes).
func differential(t testing.TB, types *dynamicpb.Types, name string, payload, got []byte) {
	t.Helper()
	mt, err := types.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		t.Fatal(err)
	}
	m1 := mt.New().Interface()
	if ok, err := referenceUnmarshal(payload, m1, types); !ok {
		return
	} else if err != nil {
		t.Fatalf("the decoder accepted what proto.Unmarshal refuses (%v): %x", err, payload)
	}
	if _, err := (protojson.MarshalOptions{Resolver: types}).Marshal(m1); err != nil {
		return
	}
	if bytes.Contains(got, []byte(`"NaN"`)) || bytes.Contains(got, []byte(`"@type"`)) {
		return
	}
	m2 := mt.New().Interface()
	if err := (protojson.UnmarshalOptions{Resolver: types}).Unmarshal(got, m2); err != nil {
		t.Fatalf("protojson cannot read the output back: %v\n%s", err, got)
	}
	b1, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m1)
	b2, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m2)
	if !bytes.Equal(b1, b2) {
		t.Fatalf("output differs from the message proto.Unmarshal reads:\n got %s\nwant %s\nread back %s", got, protojson.Format(m1), protojson.Format(m2))
	}
}

// TestProtobufDifferential decodes random messages and checks each against
// the Protobuf runtime.
func TestProtobufDifferential(t *testing.T) {
	fx := newProtoFixture(t)
	mt, _ := fx.types.FindMessageByName("shop.Everything")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		m := mt.New()
		fillRandom(rng, m, 0)
		payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Interface())
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := fx.d.Decode(context.Background(), FormatProtobuf, frameProto(fx.id, nil, payload))
		if err != nil {
			if errors.Is(err, ErrDecode) && strings.Contains(err.Error(), "outside years") {
				continue // random timestamps beyond year 9999
			}
			t.Fatalf("message %d: %v\n%s", i, err, protojson.Format(m.Interface()))
		}
		differential(t, fx.types, "shop.Everything", payload, got)
	}
}

// fillRandom sets a random subset of m's fields to random values.
func fillRandom(rng *rand.Rand, m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if rng.IntN(3) == 0 || depth > 3 && fd.Kind() == protoreflect.MessageKind {
			continue
		}
		switch {
		case fd.IsMap():
			mp := m.Mutable(fd).Map()
			for n := rng.IntN(4); n > 0; n-- {
				k := randomScalar(rng, fd.MapKey())
				if fd.MapValue().Kind() == protoreflect.MessageKind {
					v := mp.NewValue()
					fillRandom(rng, v.Message(), depth+1)
					mp.Set(k.MapKey(), v)
				} else {
					mp.Set(k.MapKey(), randomScalar(rng, fd.MapValue()))
				}
			}
		case fd.IsList():
			l := m.Mutable(fd).List()
			for n := rng.IntN(4); n > 0; n-- {
				if fd.Kind() == protoreflect.MessageKind {
					v := l.NewElement()
					fillRandom(rng, v.Message(), depth+1)
					l.Append(v)
				} else {
					l.Append(randomScalar(rng, fd))
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			switch fd.Message().FullName() {
			case "google.protobuf.Any", "confluent.type.Decimal":
				continue // no protojson form to compare with
			case "google.protobuf.Timestamp":
				ts := m.Mutable(fd).Message()
				ts.Set(ts.Descriptor().Fields().ByNumber(1), protoreflect.ValueOfInt64(rng.Int64N(253402300799)))
				ts.Set(ts.Descriptor().Fields().ByNumber(2), protoreflect.ValueOfInt32(rng.Int32N(1e9)))
				continue
			case "google.protobuf.Duration":
				du := m.Mutable(fd).Message()
				du.Set(du.Descriptor().Fields().ByNumber(1), protoreflect.ValueOfInt64(rng.Int64N(1e6)))
				du.Set(du.Descriptor().Fields().ByNumber(2), protoreflect.ValueOfInt32(rng.Int32N(1e9)))
				continue
			case "google.protobuf.Value", "google.protobuf.Struct", "google.protobuf.ListValue":
				if depth > 1 {
					continue
				}
			}
			fillRandom(rng, m.Mutable(fd).Message(), depth+1)
		default:
			m.Set(fd, randomScalar(rng, fd))
		}
	}
}

func randomScalar(rng *rand.Rand, fd protoreflect.FieldDescriptor) protoreflect.Value {
	u := rng.Uint64() >> rng.IntN(64)
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(u&1 == 1)
	case protoreflect.EnumKind:
		if fd.Enum().FullName() == "google.protobuf.NullValue" {
			return protoreflect.ValueOfEnum(0) // any number is null in JSON
		}
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(rng.IntN(4)))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(u))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(u))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(int64(u))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(u)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(rng.NormFloat64() * 1e3))
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(rng.NormFloat64() * float64(u))
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(string([]rune{rune('a' + rng.IntN(26)), 'é', rune(rng.IntN(0x20)), '"'}[:rng.IntN(5)]))
	case protoreflect.BytesKind:
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return protoreflect.ValueOfBytes(b)
	}
	return protoreflect.Value{}
}

func TestProtobufDecodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    string
	}{
		{"field number 0", []byte{0x00}, "bad field tag"},
		{"truncated varint", []byte{0x08, 0x80}, "field 1"},
		{"truncated length", []byte{0x72, 0x05, 'a'}, "field 14"},
		{"invalid wire type", []byte{0x0f}, "invalid wire type 7"},
		{"end group without start", []byte{0x0c}, "without a start"},
		{"unterminated group", []byte{0x0b, 0x08, 0x01}, "field 1"},
		{"invalid UTF-8", wire{}.bytes(14, []byte{0xff}), "/text: string is not valid UTF-8"},
		{"invalid UTF-8 in map key", wire{}.bytes(19, wire{}.bytes(1, []byte{0xc3})), "/counts: map key is not valid UTF-8"},
		{"bad packed", wire{}.bytes(17, []byte{0x80}), "/nums: packed element 0"},
		{"timestamp year 10000", wire{}.bytes(27, wire{}.varint(1, 253402300800)), "/at: google.protobuf.Timestamp"},
		{"timestamp negative nanos", wire{}.bytes(27, wire{}.varint(2, uint64(1<<64-1))), "not normalised"},
		{"duration mixed signs", wire{}.bytes(28, wire{}.varint(1, 1).varint(2, uint64(1<<64-1))), "/took: google.protobuf.Duration"},
		{"any of unknown type", wire{}.bytes(35, wire{}.bytes(1, []byte("type.googleapis.com/x.Nope"))), `type "x.Nope" is not defined`},
		{"any value without type", wire{}.bytes(35, wire{}.bytes(2, []byte{8, 1})), "no type_url"},
		{"bad nested message", wire{}.bytes(21, []byte{0xff}), "/inner: "},
		{"decimal scale", wire{}.bytes(36, wire{}.bytes(2, wire{}.varint(3, 5000))), "/price/amount: confluent.type.Decimal scale 5000"},
	}
	fx := newProtoFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := fx.d.Decode(context.Background(), FormatProtobuf, frameProto(fx.id, nil, tt.payload))
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("got %s, %v; want ErrDecode", got, err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "shop.Everything") {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}

	// Nesting: a Struct holding a Struct holding ... 300 deep.
	v := wire{}.bytes(4, []byte{1}) // Value{bool_value: true}
	for i := 0; i < 300; i++ {
		st := wire{}.bytes(1, wire{}.bytes(1, []byte("k")).bytes(2, v)) // Struct{fields: {"k": v}}
		v = wire{}.bytes(5, st)                                         // Value{struct_value: st}
	}
	_, _, err := fx.d.Decode(context.Background(), FormatProtobuf, frameProto(fx.id, nil, wire{}.bytes(33, v)))
	if !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "nesting deeper than 256") {
		t.Errorf("deep: %v", err)
	}
}

// TestProtobufProto2 covers closed enums, groups (named by their field
// name, as protojson's UseProtoNames does) and proto2 presence.
func TestProtobufProto2(t *testing.T) {
	const p2 = `syntax = "proto2";
package legacy;
enum Kind { A = 1; B = 2; }
message Msg {
  optional Kind kind = 1;
  repeated Kind kinds = 2;
  optional int32 n = 3 [default = 7];
  optional group G = 4 { optional string s = 5; }
  required string id = 6;
  map<string, Kind> by = 7;
}
`
	reg := newFakeRegistry(t)
	id := reg.register(t, "legacy", sr.Schema{Schema: p2, Type: sr.TypeProtobuf})
	d := newTestDecoder(t, reg, Config{})
	types := protoTypes(t, protoFiles(t, map[string]string{"legacy.proto": p2}, "legacy.proto"))

	group := protowire.AppendTag(nil, 4, protowire.StartGroupType)
	group = wire(group).bytes(5, []byte("in group"))
	group = protowire.AppendTag(group, 4, protowire.EndGroupType)
	tests := []struct {
		name    string
		payload []byte
		want    string
	}{
		{"absent with presence", nil, `{"kinds":[],"by":{}}`},
		{"closed enum unknown value keeps previous", wire{}.varint(1, 2).varint(1, 9), `{"kind":"B","kinds":[],"by":{}}`},
		{"closed enum unknown only", wire{}.varint(1, 9), `{"kinds":[],"by":{}}`},
		{"repeated closed enum drops unknown", wire{}.varint(2, 1).bytes(2, []byte{9, 2}).varint(2, 3),
			`{"kinds":["A","B"],"by":{}}`},
		{"map closed enum drops entry", wire{}.bytes(7, wire{}.bytes(1, []byte("x")).varint(2, 9)).bytes(7, wire{}.bytes(1, []byte("y")).varint(2, 1)),
			`{"kinds":[],"by":{"y":"A"}}`},
		{"group", append(group, wire{}.bytes(6, []byte("id-1"))...), `{"kinds":[],"g":{"s":"in group"},"id":"id-1","by":{}}`},
		{"default not written", wire{}.varint(3, 7), `{"n":7,"kinds":[],"by":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := d.Decode(context.Background(), FormatProtobuf, frameProto(id, nil, tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, got, tt.want) {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			differential(t, types, "legacy.Msg", tt.payload, got)
		})
	}
}

// TestProtobufImports: a .proto importing another registered .proto,
// which imports a third, each served by its reference name.
func TestProtobufImports(t *testing.T) {
	const base = `syntax = "proto3"; package base; message Id { string value = 1; }`
	const mid = `syntax = "proto3"; package mid; import "base/id.proto"; message Ref { base.Id id = 1; int32 n = 2; }`
	const top = `syntax = "proto3"; package top; import "mid/ref.proto"; import "base/id.proto";
message Top { mid.Ref ref = 1; base.Id direct = 2; }`
	reg := newFakeRegistry(t)
	reg.register(t, "base", sr.Schema{Schema: base, Type: sr.TypeProtobuf})
	reg.register(t, "mid", sr.Schema{Schema: mid, Type: sr.TypeProtobuf,
		References: []sr.SchemaReference{{Name: "base/id.proto", Subject: "base", Version: 1}}})
	id := reg.register(t, "top-value", sr.Schema{Schema: top, Type: sr.TypeProtobuf,
		References: []sr.SchemaReference{
			{Name: "mid/ref.proto", Subject: "mid", Version: 1},
			{Name: "base/id.proto", Subject: "base", Version: 1},
		}})
	files := protoFiles(t, map[string]string{"top.proto": top, "mid/ref.proto": mid, "base/id.proto": base}, "top.proto")
	payload := protoEncode(t, files, "top.Top", `{"ref":{"id":{"value":"a"},"n":2},"direct":{"value":"b"}}`)

	d := newTestDecoder(t, reg, Config{})
	got, _, err := d.Decode(context.Background(), FormatProtobuf, frameProto(id, nil, payload))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"ref":{"id":{"value":"a"},"n":2},"direct":{"value":"b"}}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// The id, then mid and base once each (base is referenced twice).
	if n := reg.requests.Load(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}

	// A missing import is an unknown schema.
	bad := reg.register(t, "orphan", sr.Schema{Schema: `syntax = "proto3"; import "nowhere.proto"; message M {}`, Type: sr.TypeProtobuf})
	if _, _, err := d.Decode(context.Background(), FormatProtobuf, frameProto(bad, nil, nil)); !errors.Is(err, ErrUnknownSchema) {
		t.Errorf("missing import: %v", err)
	}
}

// TestProtobufTopLevelWellKnown: a record that is itself a wrapper or a
// Struct is that JSON value.
func TestProtobufTopLevelWellKnown(t *testing.T) {
	const p = `syntax = "proto3"; import "google/protobuf/wrappers.proto"; import "google/protobuf/struct.proto";
message Holder { google.protobuf.StringValue s = 1; }`
	reg := newFakeRegistry(t)
	id := reg.register(t, "wk", sr.Schema{Schema: p, Type: sr.TypeProtobuf})
	d := newTestDecoder(t, reg, Config{})
	got, _, err := d.Decode(context.Background(), FormatProtobuf, frameProto(id, nil, wire{}.bytes(1, wire{}.bytes(1, []byte("v")))))
	if err != nil || string(got) != `{"s":"v"}` {
		t.Errorf("got %s, %v", got, err)
	}
	// Build the plan of a Struct directly: its JSON is an object.
	s := d.mustSchema(t, id)
	st := s.pb.byName["google.protobuf.Struct"]
	out, err := d.decodeProtobuf(s, st, wire{}.bytes(1, wire{}.bytes(1, []byte("a")).bytes(2, wire{}.bytes(3, []byte("b")))))
	if err != nil || string(out) != `{"a":"b"}` {
		t.Errorf("struct: %s, %v", out, err)
	}
}

func (d *Decoder) mustSchema(t testing.TB, id int) *schema {
	t.Helper()
	s, err := d.schema(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// referenceUnmarshal is proto.Unmarshal (partial messages allowed, unknown
// fields dropped) as the reference to compare with. ok is false when the
// Protobuf runtime itself panics: as of v1.36.12, dynamicpb's map decoding
// panics ("cannot convert nil to map key") on a map entry whose key field
// is repeated with a wrong wire type.
func referenceUnmarshal(b []byte, m proto.Message, types *dynamicpb.Types) (ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			ok = false
		}
	}()
	return true, proto.UnmarshalOptions{AllowPartial: true, DiscardUnknown: true, Resolver: types}.Unmarshal(b, m)
}

// TestProtobufKeysAndNumbers: map keys of every kind sort by value; packed
// lists of every width; field and enum numbers too large for dense tables.
func TestProtobufKeysAndNumbers(t *testing.T) {
	const p = `syntax = "proto3";
package kinds;
enum Sparse { ZERO = 0; NEG = -5; BIG = 100000; ALIAS_OF_BIG = 100000 [deprecated = true]; option allow_alias = true; }
message K {
  map<int64, string> i64 = 1;
  map<uint32, string> u32 = 2;
  map<uint64, string> u64 = 3;
  map<fixed32, string> fx32 = 4;
  map<sfixed64, string> sfx64 = 5;
  map<sint32, string> si32 = 6;
  map<int32, Sparse> en = 7;
  repeated fixed32 pf32 = 8;
  repeated double pd = 9;
  repeated float pfl = 10;
  repeated sfixed64 psf64 = 11;
  repeated bool pb = 12;
  repeated sint64 ps64 = 13;
  map<string, string> strs = 14;
  Sparse sparse = 536870911;
  repeated Sparse sparse_list = 100000;
}
`
	in := `{"i64":{"-1":"a","10":"b","2":"c","-9007199254740993":"d"},"u32":{"4294967295":"a","7":"b"},
"u64":{"18446744073709551615":"a","3":"b"},"fx32":{"10":"a","9":"b"},"sfx64":{"-2":"a","-10":"b"},
"si32":{"-1":"a","1":"b","0":"c"},"en":{"1":"NEG","2":"BIG","3":"ZERO"},"pf32":[1,4294967295],
"pd":[1.5,-0.25,1e300],"pfl":[0.5],"psf64":["-9007199254740993",1],"pb":[true,false],"ps64":[-1,1],
"strs":{"b":"1","a":"2","ä":"3","Z":"4"},"sparse":"NEG","sparse_list":["BIG",7,"ZERO"]}`
	want := `{"i64":{"-9007199254740993":"d","-1":"a","2":"c","10":"b"},"u32":{"7":"b","4294967295":"a"},` +
		`"u64":{"3":"b","18446744073709551615":"a"},"fx32":{"9":"b","10":"a"},"sfx64":{"-10":"b","-2":"a"},` +
		`"si32":{"-1":"a","0":"c","1":"b"},"en":{"1":"NEG","2":"BIG","3":"ZERO"},"pf32":[1,4294967295],` +
		`"pd":[1.5,-0.25,1e+300],"pfl":[0.5],"psf64":["-9007199254740993",1],"pb":[true,false],"ps64":[-1,1],` +
		`"strs":{"Z":"4","a":"2","b":"1","ä":"3"},"sparse":"NEG","sparse_list":["BIG",7,"ZERO"]}`
	reg := newFakeRegistry(t)
	id := reg.register(t, "kinds", sr.Schema{Schema: p, Type: sr.TypeProtobuf})
	d := newTestDecoder(t, reg, Config{})
	files := protoFiles(t, map[string]string{"kinds.proto": p}, "kinds.proto")
	payload := protoEncode(t, files, "kinds.K", in)
	got, _, err := d.Decode(context.Background(), FormatProtobuf, frameProto(id, nil, payload))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	differential(t, protoTypes(t, files), "kinds.K", payload, got)
}

// TestProtobufDroppedValuesMustParse: values a parser overrides are still
// parsed, and a malformed one fails the record, as proto.Unmarshal fails.
func TestProtobufDroppedValuesMustParse(t *testing.T) {
	bad := []byte{0x0a, 0x05, 'x'} // name: length 5, one byte follows
	tests := []struct {
		name    string
		payload []byte
	}{
		{"oneof member overridden", wire{}.bytes(46, bad).varint(24, 5)},
		{"oneof member restarted", wire{}.bytes(46, bad).varint(24, 5).bytes(46, nil)},
		{"map value overridden", wire{}.bytes(20, wire{}.varint(1, 1).bytes(2, bad)).bytes(20, wire{}.varint(1, 1))},
		{"invalid UTF-8 overridden", wire{}.bytes(14, []byte{0xff}).bytes(14, []byte("ok"))},
		{"invalid UTF-8 in dropped map value", wire{}.bytes(18, []byte("ok")).bytes(50, wire{}.varint(1, 1).bytes(2, []byte{0xff})).bytes(50, wire{}.varint(1, 1))},
	}
	fx := newProtoFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := fx.d.Decode(context.Background(), FormatProtobuf, frameProto(fx.id, nil, tt.payload)); !errors.Is(err, ErrDecode) {
				t.Errorf("got %v, want ErrDecode", err)
			}
			mt, _ := fx.types.FindMessageByName("shop.Everything")
			if ok, err := referenceUnmarshal(tt.payload, mt.New().Interface(), fx.types); ok && err == nil {
				t.Errorf("proto.Unmarshal accepts it: the test is wrong")
			}
		})
	}
}
