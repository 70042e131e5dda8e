package registry

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

const personSchema = `{"type":"record","name":"Person","fields":[{"name":"name","type":"string"}]}`

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // error substring; "" means valid
	}{
		{"no URL", Config{}, "no URL"},
		{"bare host", Config{URLs: []string{"localhost:8081"}}, ""},
		{"https", Config{URLs: []string{"https://sr.example:443/prefix"}}, ""},
		{"bad URL", Config{URLs: []string{"http://"}}, "not an http(s) URL"},
		{"credentials in URL", Config{URLs: []string{"https://user:secret@sr.example"}}, "carries credentials"},
		{"basic and bearer", Config{URLs: []string{"h:1"}, Username: "u", Password: "p", BearerToken: "t"}, "both basic"},
		{"password alone", Config{URLs: []string{"h:1"}, Password: "p"}, "password without a username"},
		{"client and TLS", Config{URLs: []string{"h:1"}, HTTPClient: &http.Client{}, TLS: &tls.Config{}}, "both HTTPClient and TLS"},
		{"TLS", Config{URLs: []string{"h:1"}, TLS: &tls.Config{MinVersion: tls.VersionTLS12}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"json", "avro", "protobuf", "jsonschema", "auto", "AVRO", "Auto"} {
		f, err := ParseFormat(s)
		if err != nil || string(f) != strings.ToLower(s) {
			t.Errorf("%q: %q, %v", s, f, err)
		}
	}
	for _, s := range []string{"", "xml", "json-schema", " avro"} {
		if _, err := ParseFormat(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestOneRequestPerID: many decodes, sequential and concurrent, of values
// with one schema id make exactly one registry request.
func TestOneRequestPerID(t *testing.T) {
	reg := newFakeRegistry(t)
	id := reg.register(t, "person-value", sr.Schema{Schema: personSchema})
	d := newTestDecoder(t, reg, Config{})
	value := avroEncode(t, id, personSchema, map[string]any{"name": "Ada"})

	// Hold the first request until every goroutine has had the chance to
	// join it.
	gate := make(chan struct{})
	reg.gate.Store(&gate)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				got, _, err := d.Decode(context.Background(), FormatAvro, value)
				if err == nil && string(got) != `{"name":"Ada"}` {
					err = errors.New("wrong output " + string(got))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	<-reg.arrived
	reg.gate.Store(nil)
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for range 1000 {
		if _, _, err := d.Decode(context.Background(), FormatAuto, value); err != nil {
			t.Fatal(err)
		}
	}
	if n := reg.requests.Load(); n != 1 {
		t.Errorf("%d registry requests for 4,200 decodes, want 1", n)
	}
}

// TestWaiterGivesUp: a caller whose context ends stops waiting; the fetch
// goes on and serves the others.
func TestWaiterGivesUp(t *testing.T) {
	reg := newFakeRegistry(t)
	id := reg.register(t, "person-value", sr.Schema{Schema: personSchema})
	d := newTestDecoder(t, reg, Config{})
	value := avroEncode(t, id, personSchema, map[string]any{"name": "Ada"})

	gate := make(chan struct{})
	reg.gate.Store(&gate)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := d.Decode(ctx, FormatAvro, value)
		done <- err
	}()
	<-reg.arrived // the fetch is in flight, held
	cancel()
	err := <-done
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled waiter: %v", err)
	}
	reg.gate.Store(nil)
	close(gate)
	if _, _, err := d.Decode(context.Background(), FormatAvro, value); err != nil {
		t.Fatal(err)
	}
	if n := reg.fetches(id); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

func TestUnknownID(t *testing.T) {
	reg := newFakeRegistry(t)
	d := newTestDecoder(t, reg, Config{NotFoundTTL: time.Minute})
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return now }
	value := append(AppendHeader(nil, Header{SchemaID: 4242}, false), 2, 'x')

	for i := 0; i < 5; i++ {
		_, info, err := d.Decode(context.Background(), FormatAvro, value)
		if !errors.Is(err, ErrUnknownSchema) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v, want ErrUnknownSchema", err)
		}
		var e *Error
		if !errors.As(err, &e) || e.SchemaID != 4242 || e.Reason != ReasonUnknownSchema || !strings.Contains(err.Error(), "40403") {
			t.Errorf("error %v", err)
		}
		if info.SchemaID != 4242 {
			t.Errorf("info %+v", info)
		}
	}
	if n := reg.fetches(4242); n != 1 {
		t.Errorf("%d fetches within the TTL, want 1", n)
	}
	// Once the TTL is over the registry is asked again, and a schema
	// registered meanwhile is found.
	reg.SeedSchema("late-value", 1, 4242, sr.Schema{Schema: `"string"`})
	now = now.Add(time.Minute)
	got, _, err := d.Decode(context.Background(), FormatAvro, value)
	if err != nil || string(got) != `"x"` {
		t.Fatalf("after TTL: %s, %v", got, err)
	}
	if n := reg.fetches(4242); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}

	// Ids above 2^31-1 cannot exist: no request at all.
	high := append(AppendHeader(nil, Header{SchemaID: 1 << 31}, false), 0)
	if _, _, err := d.Decode(context.Background(), FormatAvro, high); !errors.Is(err, ErrUnknownSchema) {
		t.Errorf("high id: %v", err)
	}
	if n := reg.fetches(1 << 31); n != 0 {
		t.Errorf("high id fetched %d times", n)
	}
}

func TestUnknownIDNotRemembered(t *testing.T) {
	reg := newFakeRegistry(t)
	d := newTestDecoder(t, reg, Config{NotFoundTTL: -1})
	value := append(AppendHeader(nil, Header{SchemaID: 7}, false), 0)
	for range 3 {
		if _, _, err := d.Decode(context.Background(), FormatAvro, value); !errors.Is(err, ErrUnknownSchema) {
			t.Fatal(err)
		}
	}
	if n := reg.fetches(7); n != 3 {
		t.Errorf("%d fetches, want 3", n)
	}
}

// TestOutage: whatever the registry's failure, it is ErrUnavailable, it is
// not remembered, and the next call after recovery succeeds.
// TestOutageHold: while the registry cannot answer, the records waiting
// for one id send at most one request per OutageHold; after it, the next
// record asks again, and once the registry is back it succeeds.
func TestOutageHold(t *testing.T) {
	reg := newFakeRegistry(t)
	id := reg.register(t, "person-value", sr.Schema{Schema: personSchema})
	value := avroEncode(t, id, personSchema, map[string]any{"name": "Ada"})
	d := newTestDecoder(t, reg, Config{OutageHold: time.Second})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return now }
	reg.setFault(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	for range 50 {
		if _, _, err := d.Decode(context.Background(), FormatAvro, value); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("during the outage: %v", err)
		}
	}
	if n := reg.fetches(id); n != 1 {
		t.Errorf("%d requests for 50 records within the hold, want 1", n)
	}
	now = now.Add(1100 * time.Millisecond)
	if _, _, err := d.Decode(context.Background(), FormatAvro, value); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("after the hold, still down: %v", err)
	}
	if n := reg.fetches(id); n != 2 {
		t.Errorf("%d requests after the hold, want 2", n)
	}
	reg.setFault(nil)
	now = now.Add(1100 * time.Millisecond)
	if _, _, err := d.Decode(context.Background(), FormatAvro, value); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestOutage(t *testing.T) {
	faults := []struct {
		name string
		h    http.HandlerFunc
		want string
	}{
		{"503", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}, "HTTP 503"},
		{"500 with registry error", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"error_code":50001,"message":"store error"}`))
		}, "error code 50001: store error"},
		{"401", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error_code":401,"message":"Unauthorized"}`))
		}, "HTTP 401"},
		{"403", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) }, "HTTP 403"},
		{"429", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTooManyRequests) }, "HTTP 429"},
		{"404 from a proxy", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte("<html>" + strings.Repeat("not found ", 100) + "</html>"))
		}, "HTTP 404"},
		{"200 not a schema", func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte("<html>login page</html>"))
		}, "not a schema"},
		{"connection dropped", func(w http.ResponseWriter, _ *http.Request) {
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			c.Close()
		}, "request failed"},
	}
	reg := newFakeRegistry(t)
	id := reg.register(t, "person-value", sr.Schema{Schema: personSchema})
	value := avroEncode(t, id, personSchema, map[string]any{"name": "Ada"})
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			d := newTestDecoder(t, reg, Config{})
			reg.setFault(f.h)
			for range 2 {
				_, _, err := d.Decode(context.Background(), FormatAvro, value)
				if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnknownSchema) || errors.Is(err, ErrDecode) {
					t.Fatalf("got %v, want ErrUnavailable", err)
				}
				if !strings.Contains(err.Error(), f.want) || len(err.Error()) > 600 {
					t.Errorf("error %q does not say %q (or is too long)", err, f.want)
				}
				if auth := f.name == "401" || f.name == "403"; errors.Is(err, ErrAuthentication) != auth {
					t.Errorf("errors.Is(%v, ErrAuthentication) = %v, want %v", err, !auth, auth)
				}
			}
			reg.setFault(nil)
			got, _, err := d.Decode(context.Background(), FormatAvro, value)
			if err != nil || string(got) != `{"name":"Ada"}` {
				t.Fatalf("after recovery: %s, %v", got, err)
			}
		})
	}
}

func TestRegistryDown(t *testing.T) {
	reg := newFakeRegistry(t)
	id := reg.register(t, "person-value", sr.Schema{Schema: personSchema})
	value := avroEncode(t, id, personSchema, map[string]any{"name": "Ada"})
	d := newTestDecoder(t, reg, Config{})
	reg.srv.Close()
	if _, _, err := d.Decode(context.Background(), FormatAvro, value); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("closed server: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	reg := newFakeRegistry(t)
	id := reg.register(t, "person-value", sr.Schema{Schema: personSchema})
	value := avroEncode(t, id, personSchema, map[string]any{"name": "Ada"})
	d := newTestDecoder(t, reg, Config{Timeout: 50 * time.Millisecond})
	gate := make(chan struct{})
	reg.gate.Store(&gate)
	t.Cleanup(func() { close(gate) })
	_, _, err := d.Decode(context.Background(), FormatAvro, value)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrUnavailable wrapping a deadline", err)
	}
	reg.gate.Store(nil)
	if _, _, err := d.Decode(context.Background(), FormatAvro, value); err != nil {
		t.Fatalf("after the slow registry recovered: %v", err)
	}
}

func TestAuthentication(t *testing.T) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("key:secret"))
	tests := []struct {
		name   string
		expect string
		cfg    Config
		ok     bool
	}{
		{"basic", basic, Config{Username: "key", Password: "secret"}, true},
		{"basic wrong", basic, Config{Username: "key", Password: "nope"}, false},
		{"bearer", "Bearer tok", Config{BearerToken: "tok"}, true},
		{"none", "Bearer tok", Config{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := newFakeRegistry(t, srfake.WithAuth(tt.expect))
			id := reg.register(t, "person-value", sr.Schema{Schema: personSchema})
			d := newTestDecoder(t, reg, tt.cfg)
			_, _, err := d.Decode(context.Background(), FormatAvro, avroEncode(t, id, personSchema, map[string]any{"name": "Ada"}))
			if tt.ok && err != nil {
				t.Fatal(err)
			}
			if !tt.ok && (!errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrAuthentication)) {
				t.Fatalf("got %v, want ErrUnavailable and ErrAuthentication", err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks a credential: %v", err)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	reg := newFakeRegistry(t)
	avroID := reg.register(t, "person-value", sr.Schema{Schema: personSchema})
	jsID := reg.register(t, "js-value", sr.Schema{Schema: `{"type":"object"}`, Type: sr.TypeJSON})
	pbID := reg.register(t, "pb-value", sr.Schema{Schema: `syntax = "proto3"; message M { string name = 1; }`, Type: sr.TypeProtobuf})
	d := newTestDecoder(t, reg, Config{})

	avroValue := avroEncode(t, avroID, personSchema, map[string]any{"name": "Ada"})
	jsValue := append(AppendHeader(nil, Header{SchemaID: jsID}, false), `{"a":1}`...)
	pbValue := frameProto(pbID, nil, wire{}.bytes(1, []byte("Ada")))
	plain := []byte(`{"orderId":"1"}`)

	tests := []struct {
		name   string
		format Format
		value  []byte
		want   string
		info   Info
		err    error
	}{
		{"json", FormatJSON, plain, string(plain), Info{Format: FormatJSON}, nil},
		{"json keeps anything", FormatJSON, avroValue, string(avroValue), Info{Format: FormatJSON}, nil},
		{"auto plain", FormatAuto, plain, string(plain), Info{Format: FormatJSON}, nil},
		{"auto empty", FormatAuto, []byte{}, "", Info{Format: FormatJSON}, nil},
		{"auto avro", FormatAuto, avroValue, `{"name":"Ada"}`, Info{Format: FormatAvro, SchemaID: avroID, Name: "Person"}, nil},
		{"auto protobuf", FormatAuto, pbValue, `{"name":"Ada"}`, Info{Format: FormatProtobuf, SchemaID: pbID, Name: "M"}, nil},
		{"auto jsonschema", FormatAuto, jsValue, `{"a":1}`, Info{Format: FormatJSONSchema, SchemaID: jsID}, nil},
		{"jsonschema", FormatJSONSchema, jsValue, `{"a":1}`, Info{Format: FormatJSONSchema, SchemaID: jsID}, nil},
		{"avro given protobuf", FormatAvro, pbValue, "", Info{Format: FormatProtobuf, SchemaID: pbID}, ErrBadWireFormat},
		{"protobuf given avro", FormatProtobuf, avroValue, "", Info{Format: FormatAvro, SchemaID: avroID, Name: "Person"}, ErrBadWireFormat},
		{"jsonschema given avro", FormatJSONSchema, avroValue, "", Info{Format: FormatAvro, SchemaID: avroID, Name: "Person"}, ErrBadWireFormat},
		{"avro given plain JSON", FormatAvro, plain, "", Info{}, ErrBadWireFormat},
		{"avro short", FormatAvro, []byte{0, 0, 1}, "", Info{}, ErrBadWireFormat},
		{"avro empty", FormatAvro, []byte{}, "", Info{}, ErrBadWireFormat},
		{"protobuf bad indexes", FormatProtobuf, append(AppendHeader(nil, Header{SchemaID: pbID}, false), 0x80), "", Info{Format: FormatProtobuf, SchemaID: pbID}, ErrBadWireFormat},
		{"unknown format", Format("xml"), plain, "", Info{}, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, info, err := d.Decode(context.Background(), tt.format, tt.value)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if info != tt.info {
				t.Errorf("info %+v, want %+v", info, tt.info)
			}
		})
	}

	// A tombstone stays nil, whatever the format.
	for _, f := range []Format{FormatJSON, FormatAvro, FormatProtobuf, FormatJSONSchema, FormatAuto} {
		got, _, err := d.Decode(context.Background(), f, nil)
		if got != nil || err != nil {
			t.Errorf("%s tombstone: %q, %v", f, got, err)
		}
	}
}

func TestLookupSubject(t *testing.T) {
	reg := newFakeRegistry(t)
	id := reg.register(t, "person-value", sr.Schema{Schema: personSchema})
	d := newTestDecoder(t, reg, Config{LookupSubject: true})

	_, info, err := d.Decode(context.Background(), FormatAvro, avroEncode(t, id, personSchema, map[string]any{"name": "Ada"}))
	if err != nil || info.Subject != "person-value" {
		t.Fatalf("info %+v, %v", info, err)
	}
	_, _, err = d.Decode(context.Background(), FormatAvro, append(AppendHeader(nil, Header{SchemaID: id}, false), 0x07))
	var e *Error
	if !errors.As(err, &e) || e.Subject != "person-value" || !strings.Contains(err.Error(), `schema id 1 (subject "person-value")`) {
		t.Errorf("error %v", err)
	}
	_, _, err = d.Decode(context.Background(), FormatProtobuf, avroEncode(t, id, personSchema, map[string]any{"name": "Ada"}))
	if !errors.As(err, &e) || e.Subject != "person-value" {
		t.Errorf("mismatch error %v", err)
	}
	if n := reg.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2 (schema and subjects)", n)
	}
}

// TestUnsupportedSchemaType: a registry answering with a schema type this
// package does not know (a newer registry) makes an unknown schema.
func TestUnsupportedSchemaType(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.setFault(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"schema":"<xml/>","schemaType":"XML"}`))
	})
	d := newTestDecoder(t, reg, Config{})
	_, _, err := d.Decode(context.Background(), FormatAuto, append(AppendHeader(nil, Header{SchemaID: 3}, false), 1))
	if !errors.Is(err, ErrUnknownSchema) || !strings.Contains(err.Error(), `"XML" is not supported`) {
		t.Fatalf("got %v", err)
	}
}

// TestMissingReference: a schema whose reference the registry cannot
// serve is an unknown schema; an outage while fetching it is an outage.
func TestMissingReference(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.register(t, "address", sr.Schema{Schema: `{"type":"record","name":"Address","fields":[]}`})
	id := reg.register(t, "person", sr.Schema{Schema: `{"type":"record","name":"P","fields":[{"name":"a","type":"Address"}]}`,
		References: []sr.SchemaReference{{Name: "Address", Subject: "address", Version: 1}}})
	d := newTestDecoder(t, reg, Config{})
	value := append(AppendHeader(nil, Header{SchemaID: id}, false), 0)

	reg.setFault(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/subjects/") {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		reg.Handler().ServeHTTP(w, r)
	})
	if _, _, err := d.Decode(context.Background(), FormatAvro, value); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("reference outage: %v", err)
	}
	reg.setFault(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/subjects/") {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error_code":40402,"message":"Version not found"}`))
			return
		}
		reg.Handler().ServeHTTP(w, r)
	})
	if _, _, err := d.Decode(context.Background(), FormatAvro, value); !errors.Is(err, ErrUnknownSchema) || !strings.Contains(err.Error(), `referenced schema "Address"`) {
		t.Fatalf("reference missing: %v", err)
	}
}

// TestErrorsBounded: an error never carries the record's content.
func TestErrorsBounded(t *testing.T) {
	reg := newFakeRegistry(t)
	id := reg.register(t, "person-value", sr.Schema{Schema: personSchema})
	d := newTestDecoder(t, reg, Config{})
	secret := strings.Repeat("SECRET-CARD-4111111111111111 ", 100)
	value := avroEncode(t, id, personSchema, map[string]any{"name": secret})
	value = append(value, "trailing"...)
	_, _, err := d.Decode(context.Background(), FormatAvro, value)
	if !errors.Is(err, ErrDecode) {
		t.Fatal(err)
	}
	if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "trailing\"") || len(err.Error()) > 300 {
		t.Errorf("error says too much: %v", err)
	}
}

func TestMaxJSONBytes(t *testing.T) {
	reg := newFakeRegistry(t)
	schema := `{"type":"array","items":"string"}`
	id := reg.register(t, "big", sr.Schema{Schema: schema})
	d := newTestDecoder(t, reg, Config{MaxJSONBytes: 1000})
	items := make([]string, 200)
	for i := range items {
		items[i] = "0123456789"
	}
	_, _, err := d.Decode(context.Background(), FormatAvro, avroEncode(t, id, schema, items))
	if !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "over the limit of 1000 bytes") {
		t.Fatalf("got %v", err)
	}
}

// TestRememberedNotFoundBounded: remembered 404s of many ids are swept once
// they expire (at the latest when the table has doubled).
func TestRememberedNotFoundBounded(t *testing.T) {
	reg := newFakeRegistry(t)
	d := newTestDecoder(t, reg, Config{NotFoundTTL: time.Second})
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return now }
	for id := 1; id <= 2100; id++ {
		if id == 1050 {
			now = now.Add(time.Hour) // the first 1049 have expired
		}
		value := append(AppendHeader(nil, Header{SchemaID: id}, false), 0)
		if _, _, err := d.Decode(context.Background(), FormatAvro, value); !errors.Is(err, ErrUnknownSchema) {
			t.Fatal(err)
		}
	}
	d.mu.Lock()
	n := len(d.pending)
	d.mu.Unlock()
	if n >= 1100 {
		t.Errorf("%d remembered failures, want the 1049 expired ones swept", n)
	}
}
