package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	_ "google.golang.org/protobuf/types/known/timestamppb" // in protoregistry.GlobalFiles
	_ "google.golang.org/protobuf/types/known/wrapperspb"
)

// lowerCamel is the json_name protoc writes into a field's descriptor.
func lowerCamel(name string) string {
	parts := strings.Split(name, "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

func fieldProto(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type, typeName string, repeated bool) *descriptorpb.FieldDescriptorProto {
	label := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
	if repeated {
		label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED
	}
	f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(num), Type: typ.Enum(),
		Label: label.Enum(), JsonName: proto.String(lowerCamel(name))}
	if typeName != "" {
		f.TypeName = proto.String(typeName)
	}
	return f
}

// orderDescriptor is order.proto as e2e/testdata/confluent_producer.py
// builds it (and Confluent's Python client registers it): proto3, package
// cxone.bridge.interop, importing timestamp.proto and wrappers.proto
// (which that client does not register as references), messages Item then
// Order (so Order's message index is [1]), every field with its json_name,
// sales_channel's being salesChannel.
func orderDescriptor() *descriptorpb.FileDescriptorProto {
	const (
		str  = descriptorpb.FieldDescriptorProto_TYPE_STRING
		dbl  = descriptorpb.FieldDescriptorProto_TYPE_DOUBLE
		i32  = descriptorpb.FieldDescriptorProto_TYPE_INT32
		i64  = descriptorpb.FieldDescriptorProto_TYPE_INT64
		byt  = descriptorpb.FieldDescriptorProto_TYPE_BYTES
		msg  = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
		enum = descriptorpb.FieldDescriptorProto_TYPE_ENUM
	)
	const pkg = ".cxone.bridge.interop"
	item := &descriptorpb.DescriptorProto{Name: proto.String("Item"), Field: []*descriptorpb.FieldDescriptorProto{
		fieldProto("sku", 1, str, "", false),
		fieldProto("quantity", 2, i32, "", false),
		fieldProto("price", 3, dbl, "", false),
	}}
	status := &descriptorpb.EnumDescriptorProto{Name: proto.String("Status")}
	for i, s := range []string{"PENDING", "PAID", "SHIPPED", "CANCELLED"} {
		status.Value = append(status.Value, &descriptorpb.EnumValueDescriptorProto{Name: proto.String(s), Number: proto.Int32(int32(i))})
	}
	tags := &descriptorpb.DescriptorProto{Name: proto.String("TagsEntry"), Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
		Field: []*descriptorpb.FieldDescriptorProto{fieldProto("key", 1, str, "", false), fieldProto("value", 2, str, "", false)}}
	order := &descriptorpb.DescriptorProto{Name: proto.String("Order"),
		NestedType: []*descriptorpb.DescriptorProto{tags},
		EnumType:   []*descriptorpb.EnumDescriptorProto{status},
		Field: []*descriptorpb.FieldDescriptorProto{
			fieldProto("orderId", 1, str, "", false),
			fieldProto("customerId", 2, str, "", false),
			fieldProto("totalAmount", 3, dbl, "", false),
			fieldProto("currency", 4, str, "", false),
			fieldProto("amount", 5, str, "", false),
			fieldProto("createdAt", 6, msg, ".google.protobuf.Timestamp", false),
			fieldProto("updatedAt", 7, msg, ".google.protobuf.Timestamp", false),
			fieldProto("deliveryDate", 8, str, "", false),
			fieldProto("trackingId", 9, str, "", false),
			fieldProto("status", 10, enum, pkg+".Order.Status", false),
			fieldProto("note", 11, msg, ".google.protobuf.StringValue", false),
			fieldProto("items", 12, msg, pkg+".Item", true),
			fieldProto("tags", 13, msg, pkg+".Order.TagsEntry", true),
			fieldProto("sales_channel", 14, str, "", false),
			fieldProto("signature", 15, byt, "", false),
			fieldProto("sequence", 16, i64, "", false),
		}}
	return &descriptorpb.FileDescriptorProto{
		Name:        proto.String("cxone/bridge/interop/order.proto"),
		Package:     proto.String("cxone.bridge.interop"),
		Syntax:      proto.String("proto3"),
		Dependency:  []string{"google/protobuf/timestamp.proto", "google/protobuf/wrappers.proto"},
		MessageType: []*descriptorpb.DescriptorProto{item, order},
	}
}

// orderProtoText is orderDescriptor as .proto text.
const orderProtoText = `syntax = "proto3";
package cxone.bridge.interop;
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
message Item { string sku = 1; int32 quantity = 2; double price = 3; }
message Order {
  enum Status { PENDING = 0; PAID = 1; SHIPPED = 2; CANCELLED = 3; }
  string orderId = 1; string customerId = 2; double totalAmount = 3;
  string currency = 4; string amount = 5;
  google.protobuf.Timestamp createdAt = 6; google.protobuf.Timestamp updatedAt = 7;
  string deliveryDate = 8; string trackingId = 9; Status status = 10;
  google.protobuf.StringValue note = 11; repeated Item items = 12;
  map<string, string> tags = 13; string sales_channel = 14;
  bytes signature = 15; int64 sequence = 16;
}
`

// descriptorBase64 is fd as a registry holds a serialized descriptor.
func descriptorBase64(t testing.TB, fd *descriptorpb.FileDescriptorProto) string {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(fd)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// descriptorTypes builds fd (whose imports are in protoregistry.GlobalFiles
// or in deps) with protodesc, independently of the decoder's compiler, and
// returns a type resolver over it.
func descriptorTypes(t testing.TB, fd *descriptorpb.FileDescriptorProto, deps ...*descriptorpb.FileDescriptorProto) *dynamicpb.Types {
	t.Helper()
	files := new(protoregistry.Files)
	var resolver protodesc.Resolver = chainResolver{files, protoregistry.GlobalFiles}
	for _, d := range append(deps, fd) {
		f, err := protodesc.NewFile(d, resolver)
		if err != nil {
			t.Fatalf("protodesc %s: %v", d.GetName(), err)
		}
		if err := files.RegisterFile(f); err != nil {
			t.Fatal(err)
		}
	}
	return dynamicpb.NewTypes(files)
}

// chainResolver resolves from the first protoregistry.Files that knows a
// name.
type chainResolver []*protoregistry.Files

func (c chainResolver) FindFileByPath(p string) (protoreflect.FileDescriptor, error) {
	for _, f := range c {
		if fd, err := f.FindFileByPath(p); err == nil {
			return fd, nil
		}
	}
	return nil, protoregistry.NotFound
}

func (c chainResolver) FindDescriptorByName(n protoreflect.FullName) (protoreflect.Descriptor, error) {
	for _, f := range c {
		if d, err := f.FindDescriptorByName(n); err == nil {
			return d, nil
		}
	}
	return nil, protoregistry.NotFound
}

// encodeWith builds a message of type name from protojson text with types
// and returns its wire bytes.
func encodeWith(t testing.TB, types *dynamicpb.Types, name, protojsonText string) []byte {
	t.Helper()
	mt, err := types.FindMessageByName(protoreflect.FullName(name))
	if err != nil {
		t.Fatal(err)
	}
	m := mt.New().Interface()
	if err := (protojson.UnmarshalOptions{Resolver: types}).Unmarshal([]byte(protojsonText), m); err != nil {
		t.Fatalf("protojson %s: %v", name, err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProtobufDescriptorSchema: a Protobuf schema registered as the base64
// of a serialized FileDescriptorProto (as Confluent's Python client
// registers it) decodes exactly as the same schema registered as .proto
// text: same JSON (names as written, not their json_name), same message
// indexes, same errors.
func TestProtobufDescriptorSchema(t *testing.T) {
	fd := orderDescriptor()
	reg := newFakeRegistry(t)
	b64ID := reg.register(t, "orders-value", sr.Schema{Schema: descriptorBase64(t, fd), Type: sr.TypeProtobuf})
	textID := reg.register(t, "orders-text-value", sr.Schema{Schema: orderProtoText, Type: sr.TypeProtobuf})
	d := newTestDecoder(t, reg, Config{})
	types := descriptorTypes(t, fd)

	tests := []struct {
		name    string
		indexes []int
		typ     string
		in      string // protojson (json_name or names as written)
		want    string
	}{
		{"order", []int{1}, "cxone.bridge.interop.Order",
			`{"orderId":"ORD-1","customerId":"C","totalAmount":21.98,"currency":"USD","amount":"10.01",
			  "createdAt":"2024-01-02T04:04:05.123456789Z","updatedAt":"2024-01-02T04:04:05Z",
			  "deliveryDate":"2024-01-06","trackingId":"t","status":"PAID","note":"at the door",
			  "items":[{"sku":"S","quantity":2,"price":10.99}],"tags":{"region":"eu","channel":"web"},
			  "salesChannel":"app","signature":"++//AQ==","sequence":"-9007199254740993"}`,
			`{"orderId":"ORD-1","customerId":"C","totalAmount":21.98,"currency":"USD","amount":"10.01",` +
				`"createdAt":"2024-01-02T04:04:05.123456789Z","updatedAt":"2024-01-02T04:04:05.000Z",` +
				`"deliveryDate":"2024-01-06","trackingId":"t","status":"PAID","note":"at the door",` +
				`"items":[{"sku":"S","quantity":2,"price":10.99}],"tags":{"channel":"web","region":"eu"},` +
				`"sales_channel":"app","signature":"++//AQ==","sequence":"-9007199254740993"}`},
		{"order defaults", []int{1}, "cxone.bridge.interop.Order", `{}`,
			`{"orderId":"","customerId":"","totalAmount":0,"currency":"","amount":"","deliveryDate":"",` +
				`"trackingId":"","status":"PENDING","items":[],"tags":{},"sales_channel":"","signature":"","sequence":0}`},
		{"item", []int{0}, "cxone.bridge.interop.Item", `{"sku":"S","quantity":1}`, `{"sku":"S","quantity":1,"price":0}`},
		{"map entry", []int{1, 0}, "cxone.bridge.interop.Order.TagsEntry", `{"key":"k","value":"v"}`, `{"key":"k","value":"v"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := encodeWith(t, types, tt.typ, tt.in)
			for _, form := range []struct {
				name string
				id   int
			}{{"base64", b64ID}, {"text", textID}} {
				for _, format := range []Format{FormatProtobuf, FormatAuto} {
					got, info, err := d.Decode(context.Background(), format, frameProto(form.id, tt.indexes, payload))
					if err != nil {
						t.Fatalf("%s, %s: %v", form.name, format, err)
					}
					if string(got) != tt.want {
						t.Errorf("%s, %s:\n got %s\nwant %s", form.name, format, got, tt.want)
					}
					if want := (Info{Format: FormatProtobuf, SchemaID: form.id, Name: tt.typ}); info != want {
						t.Errorf("%s, %s: info %+v, want %+v", form.name, format, info, want)
					}
				}
			}
			differential(t, types, tt.typ, payload, mustDecode(t, d, frameProto(b64ID, tt.indexes, payload)))
		})
	}

	// The same errors as for the text: indexes that name no message are a
	// bad header, a bad payload does not decode.
	for _, id := range []int{b64ID, textID} {
		if _, _, err := d.Decode(context.Background(), FormatProtobuf, frameProto(id, []int{2}, nil)); !errors.Is(err, ErrBadWireFormat) {
			t.Errorf("id %d, indexes [2]: %v, want ErrBadWireFormat", id, err)
		}
		_, _, err := d.Decode(context.Background(), FormatProtobuf, frameProto(id, []int{1}, wire{}.bytes(14, []byte{0xff})))
		if !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "cxone.bridge.interop.Order: /sales_channel: string is not valid UTF-8") {
			t.Errorf("id %d, bad UTF-8: %v", id, err)
		}
	}
	if n := reg.fetches(b64ID); n != 1 {
		t.Errorf("%d fetches of the base64 schema, want 1", n)
	}
}

func mustDecode(t testing.TB, d *Decoder, value []byte) []byte {
	t.Helper()
	out, _, err := d.Decode(context.Background(), FormatAuto, value)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pythonSample is testdata/python_protobuf_orders.json: records written by
// Confluent's Python client and the schema it registered for them.
type pythonSample struct {
	Subject    string               `json:"subject"`
	SchemaType string               `json:"schemaType"`
	Schema     string               `json:"schema"`
	References []sr.SchemaReference `json:"references"`
	Records    []struct {
		Key      string          `json:"key"`
		Value    []byte          `json:"value"` // base64 in the file
		Expected json.RawMessage `json:"expected"`
	} `json:"records"`
}

// TestProtobufPythonClientRecords decodes records that Confluent's Python
// client (confluent-kafka 2.16.1, with e2e/testdata/confluent_producer.py's
// Order class and values) serialized, with the schema it registered (a
// base64 FileDescriptorProto, no references), into the attributes the
// script expects of them.
func TestProtobufPythonClientRecords(t *testing.T) {
	raw, err := os.ReadFile("testdata/python_protobuf_orders.json")
	if err != nil {
		t.Fatal(err)
	}
	var sample pythonSample
	if err := json.Unmarshal(raw, &sample); err != nil {
		t.Fatal(err)
	}
	if len(sample.Records) == 0 || sample.SchemaType != "PROTOBUF" || len(sample.References) != 0 {
		t.Fatalf("sample: %d records, type %s, %d references", len(sample.Records), sample.SchemaType, len(sample.References))
	}
	// What the client registered is the descriptor orderDescriptor builds.
	registered := parseDescriptor(sample.Schema)
	if registered == nil {
		t.Fatal("the registered schema is not a base64 FileDescriptorProto")
	}
	if !proto.Equal(registered, orderDescriptor()) {
		t.Errorf("the Python client registered\n%v\nnot orderDescriptor's\n%v", registered, orderDescriptor())
	}

	h, _, err := ParseHeader(sample.Records[0].Value, true)
	if err != nil {
		t.Fatal(err)
	}
	reg := newFakeRegistry(t)
	reg.SeedSchema(sample.Subject, 1, h.SchemaID, sr.Schema{Schema: sample.Schema, Type: sr.TypeProtobuf})
	d := newTestDecoder(t, reg, Config{LookupSubject: true})
	for _, r := range sample.Records {
		t.Run(r.Key, func(t *testing.T) {
			got, info, err := d.Decode(context.Background(), FormatAuto, r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if err := sameJSON(got, r.Expected); err != nil {
				t.Errorf("%v\n got  %s\n want %s", err, got, r.Expected)
			}
			want := Info{Format: FormatProtobuf, SchemaID: h.SchemaID, Subject: sample.Subject, Name: "cxone.bridge.interop.Order"}
			if info != want {
				t.Errorf("info %+v, want %+v", info, want)
			}
		})
	}
}

// sameJSON reports how JSON values a and b differ (numbers compared by
// exact value: 0 is 0.0), or nil.
func sameJSON(a, b []byte) error {
	var va, vb any
	for _, p := range []struct {
		data []byte
		v    *any
	}{{a, &va}, {b, &vb}} {
		dec := json.NewDecoder(bytes.NewReader(p.data))
		dec.UseNumber()
		if err := dec.Decode(p.v); err != nil {
			return fmt.Errorf("not JSON: %v", err)
		}
	}
	return diffJSON("$", va, vb)
}

func diffJSON(path string, a, b any) error {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: object vs %T", path, b)
		}
		keys := map[string]bool{}
		for k := range a {
			keys[k] = true
		}
		for k := range b {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			va, ina := a[k]
			vb, inb := b[k]
			if ina != inb {
				return fmt.Errorf("%s.%s: present in only one (first: %v, second: %v)", path, k, ina, inb)
			}
			if err := diffJSON(path+"."+k, va, vb); err != nil {
				return err
			}
		}
		return nil
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return fmt.Errorf("%s: array of %d vs %v", path, len(a), b)
		}
		for i := range a {
			if err := diffJSON(fmt.Sprintf("%s[%d]", path, i), a[i], b[i]); err != nil {
				return err
			}
		}
		return nil
	case json.Number:
		b, ok := b.(json.Number)
		ra, oka := new(big.Rat).SetString(a.String())
		if !ok {
			return fmt.Errorf("%s: number %s vs %T %v", path, a, b, b)
		}
		rb, okb := new(big.Rat).SetString(b.String())
		if !oka || !okb || ra.Cmp(rb) != 0 {
			return fmt.Errorf("%s: %s vs %s", path, a, b)
		}
		return nil
	default: // string, bool, nil
		if a != b {
			return fmt.Errorf("%s: %#v vs %#v", path, a, b)
		}
		return nil
	}
}

// compiledDescriptor compiles .proto sources as the decoder does and
// returns root's FileDescriptorProto, as a client that registers
// descriptors would have it.
func compiledDescriptor(t testing.TB, srcs map[string]string, root string) *descriptorpb.FileDescriptorProto {
	t.Helper()
	return protodesc.ToFileDescriptorProto(protoFiles(t, srcs, root)[0])
}

// TestProtobufDescriptorReferences: imports served by references whose
// schemas are base64 descriptors or text, in every mix, decode alike;
// built-in files (Confluent's decimal, the well-known types) need no
// reference in either form.
func TestProtobufDescriptorReferences(t *testing.T) {
	const money = `syntax = "proto3";
package common;
import "confluent/type/decimal.proto";
message Money { string currency = 1; confluent.type.Decimal amount = 2; }
`
	const order = `syntax = "proto3";
package shop;
import "common/money.proto";
import "google/protobuf/wrappers.proto";
message Header { string id = 1; }
message Order { common.Money total = 1; google.protobuf.StringValue note = 2; repeated common.Money lines = 3; }
`
	srcs := map[string]string{"common/money.proto": money, "shop/order.proto": order, "confluent/type/decimal.proto": confluentDecimalProto}
	moneyFD := compiledDescriptor(t, srcs, "common/money.proto")
	orderFD := compiledDescriptor(t, srcs, "shop/order.proto")
	files := protoFiles(t, srcs, "shop/order.proto")
	payload := protoEncode(t, files, "shop.Order",
		`{"total":{"currency":"EUR","amount":{"value":"BM4=","precision":4,"scale":2}},"note":"n","lines":[{"currency":"USD"}]}`)
	const want = `{"total":{"currency":"EUR","amount":"12.30"},"note":"n","lines":[{"currency":"USD"}]}`

	// A dependency whose descriptor names itself otherwise than the
	// reference does (the reference name is the import path), and one
	// that imports Confluent's decimal by its legacy path.
	renamed := proto.Clone(moneyFD).(*descriptorpb.FileDescriptorProto)
	renamed.Name = proto.String("money.proto")
	legacy := proto.Clone(moneyFD).(*descriptorpb.FileDescriptorProto)
	legacy.Dependency = []string{"confluent/types/decimal.proto"}

	tests := []struct {
		name        string
		root, money string
	}{
		{"base64 importing base64", descriptorBase64(t, orderFD), descriptorBase64(t, moneyFD)},
		{"base64 importing text", descriptorBase64(t, orderFD), money},
		{"text importing base64", order, descriptorBase64(t, moneyFD)},
		{"text importing text", order, money},
		{"dependency named otherwise", descriptorBase64(t, orderFD), descriptorBase64(t, renamed)},
		{"legacy decimal import", descriptorBase64(t, orderFD), descriptorBase64(t, legacy)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newFakeRegistry(t)
			reg.register(t, "common-money", sr.Schema{Schema: tt.money, Type: sr.TypeProtobuf})
			id := reg.register(t, "shop-value", sr.Schema{Schema: tt.root, Type: sr.TypeProtobuf,
				References: []sr.SchemaReference{{Name: "common/money.proto", Subject: "common-money", Version: 1}}})
			d := newTestDecoder(t, reg, Config{})
			got, info, err := d.Decode(context.Background(), FormatProtobuf, frameProto(id, []int{1}, payload))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want || info.Name != "shop.Order" {
				t.Errorf("got %s (%s), want %s", got, info.Name, want)
			}
		})
	}

	// Two levels of base64 references: shop -> common/money -> base/currency.
	const currency = `syntax = "proto3"; package base; message Currency { string code = 1; }`
	const money2 = `syntax = "proto3"; package common; import "base/currency.proto"; message Money { base.Currency currency = 1; int64 units = 2; }`
	const top = `syntax = "proto3"; package top; import "common/money.proto"; message Price { common.Money money = 1; }`
	srcs2 := map[string]string{"base/currency.proto": currency, "common/money.proto": money2, "top.proto": top}
	reg := newFakeRegistry(t)
	reg.register(t, "currency", sr.Schema{Schema: descriptorBase64(t, compiledDescriptor(t, srcs2, "base/currency.proto")), Type: sr.TypeProtobuf})
	reg.register(t, "money", sr.Schema{Schema: descriptorBase64(t, compiledDescriptor(t, srcs2, "common/money.proto")), Type: sr.TypeProtobuf,
		References: []sr.SchemaReference{{Name: "base/currency.proto", Subject: "currency", Version: 1}}})
	id := reg.register(t, "price-value", sr.Schema{Schema: descriptorBase64(t, compiledDescriptor(t, srcs2, "top.proto")), Type: sr.TypeProtobuf,
		References: []sr.SchemaReference{{Name: "common/money.proto", Subject: "money", Version: 1}}})
	d := newTestDecoder(t, reg, Config{})
	payload = protoEncode(t, protoFiles(t, srcs2, "top.proto"), "top.Price", `{"money":{"currency":{"code":"EUR"},"units":"5"}}`)
	got, _, err := d.Decode(context.Background(), FormatProtobuf, frameProto(id, nil, payload))
	if err != nil || string(got) != `{"money":{"currency":{"code":"EUR"},"units":5}}` {
		t.Errorf("two levels: %s, %v", got, err)
	}
}

// TestProtobufDescriptorErrors: a schema that is neither .proto text nor a
// usable base64 descriptor is an unknown schema that "does not compile",
// remembered for good (one fetch), never a panic.
func TestProtobufDescriptorErrors(t *testing.T) {
	b64 := func(fd *descriptorpb.FileDescriptorProto) string { return descriptorBase64(t, fd) }
	mutate := func(f func(fd *descriptorpb.FileDescriptorProto)) string {
		fd := orderDescriptor()
		f(fd)
		return b64(fd)
	}
	tests := []struct {
		name   string
		schema string
		refs   []sr.SchemaReference
		want   string
	}{
		{"base64 of no descriptor", base64.StdEncoding.EncodeToString([]byte{7, 7, 7, 7, 7, 7}),
			nil, "(neither .proto text nor a serialized FileDescriptorProto) does not compile"},
		{"base64 of nothing named", b64(&descriptorpb.FileDescriptorProto{Package: proto.String("p")}),
			nil, "(neither .proto text nor a serialized FileDescriptorProto) does not compile"},
		{"base64 with a line break", b64(orderDescriptor())[:40] + "\n" + b64(orderDescriptor())[40:],
			nil, "Protobuf schema does not compile"},
		{"unresolvable type", mutate(func(fd *descriptorpb.FileDescriptorProto) {
			fd.MessageType[1].Field[0].TypeName = proto.String(".nowhere.Type")
			fd.MessageType[1].Field[0].Type = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum()
		}), nil, "(a serialized FileDescriptorProto) does not compile"},
		{"missing import", mutate(func(fd *descriptorpb.FileDescriptorProto) {
			fd.Dependency = append(fd.Dependency, "not/registered.proto")
		}), nil, "not/registered.proto"},
		{"duplicate field number", mutate(func(fd *descriptorpb.FileDescriptorProto) {
			fd.MessageType[0].Field[1].Number = proto.Int32(1)
		}), nil, "(a serialized FileDescriptorProto) does not compile"},
		{"oneof index out of range", mutate(func(fd *descriptorpb.FileDescriptorProto) {
			fd.MessageType[0].Field[0].OneofIndex = proto.Int32(7)
		}), nil, "does not compile"},
		{"public dependency out of range", mutate(func(fd *descriptorpb.FileDescriptorProto) {
			fd.PublicDependency = []int32{9}
		}), nil, "does not compile"},
		{"unknown syntax", mutate(func(fd *descriptorpb.FileDescriptorProto) {
			fd.Syntax = proto.String("proto4")
		}), nil, "does not compile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newFakeRegistry(t)
			id := reg.register(t, "bad-value", sr.Schema{Schema: tt.schema, Type: sr.TypeProtobuf, References: tt.refs})
			d := newTestDecoder(t, reg, Config{})
			for range 2 {
				_, _, err := d.Decode(context.Background(), FormatProtobuf, frameProto(id, []int{1}, nil))
				if !errors.Is(err, ErrUnknownSchema) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want ErrUnknownSchema saying %q", err, tt.want)
				}
				if strings.Contains(err.Error(), "panicked") {
					t.Errorf("the compiler panicked: %v", err)
				}
			}
			if n := reg.fetches(id); n != 1 {
				t.Errorf("%d fetches, want 1 (a schema that does not compile is remembered)", n)
			}
		})
	}
}

func TestParseDescriptor(t *testing.T) {
	valid := descriptorBase64(t, orderDescriptor())
	tests := []struct {
		name   string
		schema string
		want   bool
	}{
		{"descriptor", valid, true},
		{"descriptor with surrounding space", "\n " + valid + " \n", true},
		{"only messages, no name", descriptorBase64(t, &descriptorpb.FileDescriptorProto{MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("M")}}}), true},
		{"proto text", orderProtoText, false},
		{"empty", "", false},
		{"unpadded", strings.TrimRight(base64.StdEncoding.EncodeToString([]byte("\x0a\x02ab")), "="), false},
		{"URL alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(valid), strings.ContainsAny(valid, "+/") == false},
		{"not a descriptor", base64.StdEncoding.EncodeToString([]byte("not a protobuf message \xff")), false},
		{"comment-only text", "////", false}, // base64 of 0xffffff: no descriptor
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseDescriptor(tt.schema) != nil; got != tt.want {
				t.Errorf("parseDescriptor = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestProtobufConfluentMeta: a schema annotated with Confluent's meta
// options (as Confluent's serializers write them; confluent/meta.proto is
// built in) decodes alike in both forms; the options change nothing.
func TestProtobufConfluentMeta(t *testing.T) {
	const annotated = `syntax = "proto3";
package tagged;
import "confluent/meta.proto";
option (confluent.file_meta) = { doc: "orders" };
message Order {
  option (confluent.message_meta) = { tags: ["PII"] };
  string email = 1 [(confluent.field_meta) = { tags: ["PII"], params: [{ key: "k", value: "v" }] }];
  Kind kind = 2;
}
enum Kind { option (confluent.enum_meta) = { doc: "kind" }; KIND_UNSPECIFIED = 0; BIG = 1 [(confluent.enum_value_meta) = { doc: "big" }]; }
`
	srcs := map[string]string{"tagged.proto": annotated, "confluent/meta.proto": confluentMetaProto}
	fd := compiledDescriptor(t, srcs, "tagged.proto")
	if opts, _ := proto.Marshal(fd.GetMessageType()[0].GetField()[0].GetOptions()); len(opts) == 0 {
		t.Fatal("the descriptor lost the field's meta option: the test is wrong")
	}
	reg := newFakeRegistry(t)
	textID := reg.register(t, "tagged-text", sr.Schema{Schema: annotated, Type: sr.TypeProtobuf})
	b64ID := reg.register(t, "tagged-b64", sr.Schema{Schema: descriptorBase64(t, fd), Type: sr.TypeProtobuf})
	d := newTestDecoder(t, reg, Config{})
	payload := protoEncode(t, protoFiles(t, srcs, "tagged.proto"), "tagged.Order", `{"email":"a@b","kind":"BIG"}`)
	for _, id := range []int{textID, b64ID} {
		got, _, err := d.Decode(context.Background(), FormatProtobuf, frameProto(id, nil, payload))
		if err != nil || string(got) != `{"email":"a@b","kind":"BIG"}` {
			t.Errorf("id %d: %s, %v", id, got, err)
		}
	}
}
