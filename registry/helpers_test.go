package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// fakeRegistry is srfake's in-memory registry behind a server of our own
// that counts requests and can play an outage.
type fakeRegistry struct {
	*srfake.Registry
	srv *httptest.Server

	requests atomic.Int64 // every request
	byID     sync.Map     // path -> *atomic.Int64, for GET /schemas/ids/{id}
	// fault, when set, answers every request in place of the registry.
	fault atomic.Pointer[http.HandlerFunc]
	// gate, when set, holds every request until it is closed; arrived
	// then gets a signal for each request held.
	gate    atomic.Pointer[chan struct{}]
	arrived chan struct{}
}

func newFakeRegistry(t testing.TB, opts ...srfake.Option) *fakeRegistry {
	t.Helper()
	f := &fakeRegistry{Registry: srfake.NewRegistry(opts...), arrived: make(chan struct{}, 1024)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if strings.HasPrefix(r.URL.Path, "/schemas/ids/") {
			c, _ := f.byID.LoadOrStore(r.URL.Path, new(atomic.Int64))
			c.(*atomic.Int64).Add(1)
		}
		if g := f.gate.Load(); g != nil {
			select {
			case f.arrived <- struct{}{}:
			default:
			}
			<-*g
		}
		if h := f.fault.Load(); h != nil {
			(*h)(w, r)
			return
		}
		f.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRegistry) URL() string { return f.srv.URL }

// fetches is the number of GET /schemas/ids/{id} requests for id.
func (f *fakeRegistry) fetches(id int) int64 {
	c, ok := f.byID.Load("/schemas/ids/" + strconv.Itoa(id))
	if !ok {
		return 0
	}
	return c.(*atomic.Int64).Load()
}

func (f *fakeRegistry) setFault(h http.HandlerFunc) {
	if h == nil {
		f.fault.Store(nil)
		return
	}
	f.fault.Store(&h)
}

// register registers a schema under subject and returns its id.
func (f *fakeRegistry) register(t testing.TB, subject string, s sr.Schema) int {
	t.Helper()
	id, _, err := f.RegisterSchema(subject, s)
	if err != nil {
		t.Fatalf("register %s: %v", subject, err)
	}
	return id
}

// newTestDecoder is a Decoder of f. Unless cfg says otherwise, it does not
// hold outages (OutageHold -1), so that a test sees the registry's
// recovery at once; TestOutageHold tests the hold.
func newTestDecoder(t testing.TB, f *fakeRegistry, cfg Config) *Decoder {
	t.Helper()
	cfg.URLs = []string{f.URL()}
	if cfg.OutageHold == 0 {
		cfg.OutageHold = -1
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// avroEncode encodes v with the Avro schema text (whose references, in
// dependency order, are refs) and frames it with id.
func avroEncode(t testing.TB, id int, schema string, v any, refs ...string) []byte {
	t.Helper()
	cache := &avro.SchemaCache{}
	for _, r := range refs {
		if _, err := avro.ParseWithCache(r, "", cache); err != nil {
			t.Fatal(err)
		}
	}
	s, err := avro.ParseWithCache(schema, "", cache)
	if err != nil {
		t.Fatal(err)
	}
	b, err := avro.Marshal(s, v)
	if err != nil {
		t.Fatalf("avro marshal: %v", err)
	}
	return append(AppendHeader(nil, Header{SchemaID: id}, false), b...)
}

// protoFiles compiles .proto sources the way the decoder does.
func protoFiles(t testing.TB, srcs map[string]string, root string) linker.Files {
	t.Helper()
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(srcs)})}
	files, err := c.Compile(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// protoTypes is a type resolver over the files (and their imports), for
// protojson and Any.
func protoTypes(t testing.TB, files linker.Files) *dynamicpb.Types {
	t.Helper()
	reg := new(protoregistry.Files)
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if _, err := reg.FindFileByPath(fd.Path()); err == nil {
			return
		}
		imps := fd.Imports()
		for i := 0; i < imps.Len(); i++ {
			add(imps.Get(i).FileDescriptor)
		}
		if err := reg.RegisterFile(fd); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		add(f)
	}
	return dynamicpb.NewTypes(reg)
}

// protoEncode builds a message of type name from its protojson text
// (field names as written or lowerCamel) and returns its wire bytes.
func protoEncode(t testing.TB, files linker.Files, name, protojsonText string) []byte {
	t.Helper()
	types := protoTypes(t, files)
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

func frameProto(id int, indexes []int, payload []byte) []byte {
	return append(AppendHeader(nil, Header{SchemaID: id, MessageIndexes: indexes}, true), payload...)
}

// jsonEqual reports whether two JSON texts hold the same value (numbers
// compared as written).
func jsonEqual(t testing.TB, got []byte, want string) bool {
	t.Helper()
	if !json.Valid(got) {
		t.Fatalf("output is not valid JSON: %s", got)
	}
	g, w := decodeJSONValue(t, got), decodeJSONValue(t, []byte(want))
	return reflect.DeepEqual(g, w)
}

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

func decodeJSONValue(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}
