package registry

import (
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/parser"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/cxone-bridge/bridge/jsontext"
)

// Files every Confluent Schema Registry knows without a reference: schemas
// written by Confluent's serializers may import them bare. They are served
// only when the schema's references do not provide the same path.
const (
	confluentMetaProto = `syntax = "proto3";
package confluent;
import "google/protobuf/descriptor.proto";
option java_package = "io.confluent.protobuf";
message Meta {
  string doc = 1;
  map<string, string> params = 2;
  repeated string tags = 3;
}
extend google.protobuf.FileOptions { Meta file_meta = 1088; }
extend google.protobuf.MessageOptions { Meta message_meta = 1088; }
extend google.protobuf.FieldOptions { Meta field_meta = 1088; }
extend google.protobuf.EnumOptions { Meta enum_meta = 1088; }
extend google.protobuf.EnumValueOptions { Meta enum_value_meta = 1088; }
`
	confluentDecimalProto = `syntax = "proto3";
package confluent.type;
option java_package = "io.confluent.protobuf.type";
option java_outer_classname = "DecimalProto";
message Decimal {
  bytes value = 1;
  uint32 precision = 2;
  int32 scale = 3;
}
`
)

// wktKind marks the message types with a JSON form of their own.
type wktKind uint8

const (
	wktNone wktKind = iota
	wktTimestamp
	wktDuration
	wktWrapper // google.protobuf.*Value wrappers: the wrapped value
	wktStruct
	wktValue
	wktListValue
	wktAny
	wktDecimal // confluent.type.Decimal
)

// pbSchema is a compiled Protobuf schema: a decoding plan for every message
// type of the schema's file and of the files it imports.
type pbSchema struct {
	top    []*pbMsg // the root file's top-level messages, in order
	byName map[protoreflect.FullName]*pbMsg
}

// pbMsg is the decoding plan of one message type.
type pbMsg struct {
	name   protoreflect.FullName
	wkt    wktKind
	fields []pbField // declaration order
	dense  []int16   // field number -> index in fields, or -1; nil: use sparse
	sparse map[protowire.Number]int
	oneofs [][]int  // members (indexes in fields) of each real oneof
	nested []*pbMsg // nested message types, in order (message indexes)
}

type pbField struct {
	num      protowire.Number
	name     string
	key      []byte // `"name":`
	kind     protoreflect.Kind
	list     bool // repeated, not a map
	isMap    bool
	presence bool // explicit presence: omitted when absent
	oneof    int  // index in pbMsg.oneofs, or -1
	msg      *pbMsg
	enum     *pbEnum
	dflt     []byte // JSON written when an implicit-presence field is absent
}

type pbEnum struct {
	dense  [][]byte // value number -> JSON name, for numbers in [0, len)
	sparse map[int32][]byte
	closed bool
	isNull bool // google.protobuf.NullValue: always null
}

func (e *pbEnum) name(v int32) ([]byte, bool) {
	if v >= 0 && int(v) < len(e.dense) && e.dense[v] != nil {
		return e.dense[v], true
	}
	s, ok := e.sparse[v]
	return s, ok
}

func (m *pbMsg) field(num protowire.Number) int {
	if m.dense != nil {
		if int(num) < len(m.dense) {
			return int(m.dense[num])
		}
		return -1
	}
	if i, ok := m.sparse[num]; ok {
		return i
	}
	return -1
}

// compileProtobuf compiles a Protobuf schema as the registry serves it:
// .proto text, or the standard base64 of a serialized
// google.protobuf.FileDescriptorProto (what Confluent's Python client
// registers, and what a registry answers to ?format=serialized; see
// parseDescriptor). imports resolves the schema's imports (reference name
// -> schema, in either form, references of references included). The
// standard google/protobuf files (the descriptors shipped with protobuf-go:
// timestamp, wrappers, duration, struct, any, empty, field_mask and the
// others protoc ships) and Confluent's meta and decimal files are known
// without a reference, as every Confluent registry knows them and its
// clients do not register them; a reference of the same path takes
// precedence.
//
// Both forms give the same plan: a text file is compiled (protocompile), a
// descriptor is validated and linked by the Protobuf runtime
// (protodesc.NewFile), each against the same files, and the plan is built
// from the result alike, so that the JSON mapping and the message indexes
// (the order of the root file's messages) do not depend on the form. A
// schema or import in neither form, or one that does not compile or link,
// is an error.
func compileProtobuf(ctx context.Context, id int, schema string, imports map[string]string) (ps *pbSchema, err error) {
	root := "schema-registry-id-" + strconv.Itoa(id) + ".proto"
	b := &pbFiles{
		ctx:     ctx,
		sources: make(map[string]pbSource, len(imports)+3),
		built:   map[string]protoreflect.FileDescriptor{},
		busy:    map[string]bool{},
		reg:     new(protoregistry.Files),
	}
	b.sources["confluent/meta.proto"] = pbSource{text: confluentMetaProto}
	b.sources["confluent/type/decimal.proto"] = pbSource{text: confluentDecimalProto}
	for k, v := range imports {
		b.sources[k] = newPBSource(k, v)
	}
	b.sources[root] = newPBSource(root, schema)
	for _, f := range b.sources {
		f.canonicalDeps(b.sources)
	}
	file, err := b.file(root)
	if err != nil {
		return nil, err
	}
	pb := pbBuilder{byName: map[protoreflect.FullName]*pbMsg{}}
	pb.file(file, map[string]bool{})
	ps = &pbSchema{byName: pb.byName}
	msgs := file.Messages()
	for i := 0; i < msgs.Len(); i++ {
		ps.top = append(ps.top, pb.byName[msgs.Get(i).FullName()])
	}
	return ps, nil
}

// pbSource is one file of a Protobuf schema: .proto text, or (desc set) a
// file descriptor.
type pbSource struct {
	text string
	desc *descriptorpb.FileDescriptorProto
}

// newPBSource classifies schema, to be served under path.
func newPBSource(path, schema string) pbSource {
	fd := parseDescriptor(schema)
	if fd == nil {
		return pbSource{text: schema}
	}
	// A descriptor names itself; the importer names it by the reference
	// name (Confluent's clients rename it alike).
	fd.Name = proto.String(path)
	return pbSource{desc: fd}
}

// pbFiles builds the files of one schema, each once, each after the files
// it imports. It implements protodesc.Resolver over the files built so far.
type pbFiles struct {
	ctx     context.Context
	sources map[string]pbSource
	built   map[string]protoreflect.FileDescriptor
	busy    map[string]bool // being built: an import of one is a cycle
	reg     *protoregistry.Files
}

// standardImports serves the files protoc ships (google/protobuf/...), as
// protobuf-go's generated descriptors.
var standardImports = protocompile.WithStandardImports(protocompile.ResolverFunc(func(string) (protocompile.SearchResult, error) {
	return protocompile.SearchResult{}, fs.ErrNotExist
}))

// file returns the descriptor of path, building it (and what it imports)
// on first use.
func (b *pbFiles) file(path string) (protoreflect.FileDescriptor, error) {
	if fd, ok := b.built[path]; ok {
		return fd, nil
	}
	src, ok := b.sources[path]
	var fd protoreflect.FileDescriptor
	var err error
	switch {
	case !ok:
		res, serr := standardImports.FindFileByPath(path)
		if serr != nil || res.Desc == nil {
			return nil, fmt.Errorf("import %q: no reference of the schema provides it, and it is not a built-in file", path)
		}
		fd = res.Desc
	case b.busy[path]:
		return nil, fmt.Errorf("import cycle through %q", path)
	case src.desc != nil:
		b.busy[path] = true
		fd, err = b.descriptor(src.desc)
	default:
		b.busy[path] = true
		fd, err = b.text(path, src.text)
	}
	delete(b.busy, path)
	if err != nil {
		return nil, err
	}
	if err := b.reg.RegisterFile(fd); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b.built[path] = fd
	return fd, nil
}

// descriptor validates and links a file descriptor.
func (b *pbFiles) descriptor(fdp *descriptorpb.FileDescriptorProto) (protoreflect.FileDescriptor, error) {
	for _, dep := range fdp.GetDependency() {
		if _, err := b.file(dep); err != nil {
			return nil, err
		}
	}
	fd, err := protodesc.NewFile(fdp, b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fdp.GetName(), err)
	}
	return fd, nil
}

// text compiles a .proto file.
func (b *pbFiles) text(path, text string) (protoreflect.FileDescriptor, error) {
	h := reporter.NewHandler(nil)
	ast, err := parser.Parse(path, strings.NewReader(text), h)
	if err != nil {
		return nil, err
	}
	parsed, err := parser.ResultFromAST(ast, true, h)
	if err != nil {
		return nil, err
	}
	for _, dep := range parsed.FileDescriptorProto().GetDependency() {
		if _, err := b.file(dep); err != nil {
			return nil, err
		}
	}
	c := protocompile.Compiler{
		Resolver: protocompile.ResolverFunc(func(p string) (protocompile.SearchResult, error) {
			if p == path {
				return protocompile.SearchResult{ParseResult: parsed}, nil
			}
			if fd, ok := b.built[p]; ok { // read only while compiling
				return protocompile.SearchResult{Desc: fd}, nil
			}
			return standardImports.FindFileByPath(p) // descriptor.proto, for options
		}),
		MaxParallelism: 1,
	}
	files, err := c.Compile(b.ctx, path)
	if err != nil {
		return nil, err
	}
	return files[0], nil
}

// FindFileByPath implements protodesc.Resolver: the files built so far.
func (b *pbFiles) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if fd, ok := b.built[path]; ok {
		return fd, nil
	}
	return nil, protoregistry.NotFound
}

// FindDescriptorByName implements protodesc.Resolver.
func (b *pbFiles) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	return b.reg.FindDescriptorByName(name)
}

// legacyDeps maps import paths that older Confluent clients wrote into
// descriptors to the built-in files that replaced them (Confluent's Python
// client rewrites them the same way when it reads a schema).
var legacyDeps = map[string]string{
	"confluent/types/decimal.proto": "confluent/type/decimal.proto",
}

// canonicalDeps rewrites, in a descriptor, the legacy imports that files
// does not serve to the files that replaced them.
func (f pbSource) canonicalDeps(files map[string]pbSource) {
	if f.desc == nil {
		return
	}
	for i, dep := range f.desc.Dependency {
		if to, ok := legacyDeps[dep]; ok {
			if _, served := files[dep]; !served {
				f.desc.Dependency[i] = to
			}
		}
	}
}

// isBase64ish reports whether s, trimmed, is made of base64 characters
// only: a schema meant to be a serialized descriptor (else it would be
// .proto text), for error messages.
func isBase64ish(s string) bool {
	s = strings.TrimSpace(s)
	return s != "" && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == ""
}

// parseDescriptor returns the file descriptor that s is the standard base64
// encoding (with padding) of, or nil when s is not one: not base64 or not a
// serialized FileDescriptorProto, or one with neither a name nor a message
// type (a few bytes that happen to parse). s is then taken for .proto text;
// no .proto text that declares anything is base64, since a declaration needs
// a ';' or a '{', so the two forms cannot be confused.
func parseDescriptor(s string) *descriptorpb.FileDescriptorProto {
	s = strings.TrimSpace(s)
	if s == "" || len(s)%4 != 0 || strings.ContainsAny(s, " \t\r\n") {
		return nil // StdEncoding would skip line breaks; a schema has none
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	fd := new(descriptorpb.FileDescriptorProto)
	if err := proto.Unmarshal(raw, fd); err != nil || fd.GetName() == "" && len(fd.GetMessageType()) == 0 {
		return nil
	}
	return fd
}

// message returns the plan selected by a message-index path.
func (ps *pbSchema) message(path []int) (*pbMsg, bool) {
	list := ps.top
	var m *pbMsg
	for _, i := range path {
		if i < 0 || i >= len(list) {
			return nil, false
		}
		m = list[i]
		list = m.nested
	}
	return m, m != nil
}

type pbBuilder struct {
	byName map[protoreflect.FullName]*pbMsg
}

// file builds the plans of every message of f and, transitively, of the
// files it imports (a type an Any names may live there).
func (b *pbBuilder) file(f protoreflect.FileDescriptor, seen map[string]bool) {
	if seen[f.Path()] {
		return
	}
	seen[f.Path()] = true
	msgs := f.Messages()
	for i := 0; i < msgs.Len(); i++ {
		b.msg(msgs.Get(i))
	}
	imps := f.Imports()
	for i := 0; i < imps.Len(); i++ {
		if imp := imps.Get(i); imp.FileDescriptor != nil {
			b.file(imp.FileDescriptor, seen)
		}
	}
}

func (b *pbBuilder) msg(md protoreflect.MessageDescriptor) *pbMsg {
	if m, ok := b.byName[md.FullName()]; ok {
		return m
	}
	m := &pbMsg{name: md.FullName(), wkt: wktOf(md)}
	b.byName[m.name] = m

	fds := md.Fields()
	maxNum := protowire.Number(0)
	for i := 0; i < fds.Len(); i++ {
		maxNum = max(maxNum, fds.Get(i).Number())
	}
	if maxNum <= 1024 {
		m.dense = make([]int16, maxNum+1)
		for i := range m.dense {
			m.dense[i] = -1
		}
	} else {
		m.sparse = make(map[protowire.Number]int, fds.Len())
	}
	oneofIndex := map[protoreflect.FullName]int{}
	ods := md.Oneofs()
	for i := 0; i < ods.Len(); i++ {
		if od := ods.Get(i); !od.IsSynthetic() {
			oneofIndex[od.FullName()] = len(m.oneofs)
			m.oneofs = append(m.oneofs, nil)
		}
	}
	for i := 0; i < fds.Len(); i++ {
		fd := fds.Get(i)
		f := pbField{
			num:      fd.Number(),
			name:     string(fd.Name()),
			key:      appendKey(nil, string(fd.Name())),
			kind:     fd.Kind(),
			list:     fd.IsList(),
			isMap:    fd.IsMap(),
			presence: fd.HasPresence(),
			oneof:    -1,
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			f.oneof = oneofIndex[od.FullName()]
			m.oneofs[f.oneof] = append(m.oneofs[f.oneof], i)
		}
		switch {
		case fd.IsMap():
			f.msg = b.msg(fd.Message())
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			f.msg = b.msg(fd.Message())
		case fd.Kind() == protoreflect.EnumKind:
			f.enum = enumPlan(fd.Enum())
		}
		f.dflt = defaultJSON(fd, f.enum)
		if m.dense != nil {
			m.dense[f.num] = int16(i)
		} else {
			m.sparse[f.num] = i
		}
		m.fields = append(m.fields, f)
	}
	nested := md.Messages()
	for i := 0; i < nested.Len(); i++ {
		m.nested = append(m.nested, b.msg(nested.Get(i)))
	}
	return m
}

func enumPlan(ed protoreflect.EnumDescriptor) *pbEnum {
	e := &pbEnum{closed: ed.IsClosed(), isNull: ed.FullName() == "google.protobuf.NullValue"}
	vals := ed.Values()
	for i := 0; i < vals.Len(); i++ {
		v := vals.Get(i)
		n := int32(v.Number())
		if _, dup := e.name(n); dup {
			continue // an alias: the first name of a number wins, as in protojson
		}
		js := jsontext.AppendString(nil, []byte(v.Name()))
		if n >= 0 && n < 256 {
			for int(n) >= len(e.dense) {
				e.dense = append(e.dense, nil)
			}
			e.dense[n] = js
			continue
		}
		if e.sparse == nil {
			e.sparse = map[int32][]byte{}
		}
		e.sparse[n] = js
	}
	return e
}

// defaultJSON is what an absent field without presence stands for.
func defaultJSON(fd protoreflect.FieldDescriptor, e *pbEnum) []byte {
	switch {
	case fd.IsMap():
		return []byte("{}")
	case fd.IsList():
		return []byte("[]")
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return []byte("false")
	case protoreflect.StringKind, protoreflect.BytesKind:
		return []byte(`""`)
	case protoreflect.EnumKind:
		if e.isNull {
			return []byte("null")
		}
		n := int32(fd.Default().Enum())
		if s, ok := e.name(n); ok {
			return s
		}
		return strconv.AppendInt(nil, int64(n), 10)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return nil // always has presence
	}
	return []byte("0")
}

// wktOf recognises the well-known types by name, and checks their shape so
// that a look-alike of another shape is decoded as a plain message.
func wktOf(md protoreflect.MessageDescriptor) wktKind {
	fields := md.Fields()
	has := func(num protowire.Number, kind protoreflect.Kind, list bool) bool {
		fd := fields.ByNumber(num)
		return fd != nil && fd.Kind() == kind && fd.IsList() == list && !fd.IsMap()
	}
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		if has(1, protoreflect.Int64Kind, false) && has(2, protoreflect.Int32Kind, false) {
			return wktTimestamp
		}
	case "google.protobuf.Duration":
		if has(1, protoreflect.Int64Kind, false) && has(2, protoreflect.Int32Kind, false) {
			return wktDuration
		}
	case "google.protobuf.DoubleValue", "google.protobuf.FloatValue",
		"google.protobuf.Int64Value", "google.protobuf.UInt64Value",
		"google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		if fd := fields.ByNumber(1); fd != nil && !fd.IsList() && !fd.IsMap() && fd.Kind() != protoreflect.MessageKind &&
			fd.Kind() != protoreflect.GroupKind && fd.Kind() != protoreflect.EnumKind {
			return wktWrapper
		}
	case "google.protobuf.Struct":
		if fd := fields.ByNumber(1); fd != nil && fd.IsMap() && fd.MapValue().Message() != nil &&
			fd.MapValue().Message().FullName() == "google.protobuf.Value" {
			return wktStruct
		}
	case "google.protobuf.Value":
		if od := md.Oneofs().ByName("kind"); od != nil && od.Fields().Len() == 6 && fields.Len() == 6 {
			return wktValue
		}
	case "google.protobuf.ListValue":
		if fd := fields.ByNumber(1); fd != nil && fd.IsList() && fd.Message() != nil &&
			fd.Message().FullName() == "google.protobuf.Value" {
			return wktListValue
		}
	case "google.protobuf.Any":
		if has(1, protoreflect.StringKind, false) && has(2, protoreflect.BytesKind, false) {
			return wktAny
		}
	case "confluent.type.Decimal":
		if has(1, protoreflect.BytesKind, false) && has(3, protoreflect.Int32Kind, false) {
			return wktDecimal
		}
	}
	return wktNone
}

// wireTypeOK reports whether a value of wire type wt can set field f, as
// the Protobuf parser decides (a mismatch makes the value an unknown field).
func (f *pbField) wireTypeOK(wt protowire.Type) bool {
	if f.isMap {
		return wt == protowire.BytesType
	}
	switch f.kind {
	case protoreflect.BoolKind, protoreflect.EnumKind,
		protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Uint32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Uint64Kind:
		return wt == protowire.VarintType || f.list && wt == protowire.BytesType
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return wt == protowire.Fixed32Type || f.list && wt == protowire.BytesType
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return wt == protowire.Fixed64Type || f.list && wt == protowire.BytesType
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return wt == protowire.BytesType
	case protoreflect.GroupKind:
		return wt == protowire.StartGroupType
	}
	return false
}

// scalarWireType is the wire type of one element of a packable kind.
func scalarWireType(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	case protoreflect.StringKind, protoreflect.BytesKind, protoreflect.MessageKind:
		return protowire.BytesType
	case protoreflect.GroupKind:
		return protowire.StartGroupType
	}
	return protowire.VarintType
}
