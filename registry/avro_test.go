package registry

import (
	"context"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

const avroAllTypes = `{"type":"record","name":"AllTypes","namespace":"com.acme","fields":[
 {"name":"n","type":"null"},
 {"name":"b","type":"boolean"},
 {"name":"i","type":"int"},
 {"name":"l","type":"long"},
 {"name":"big","type":"long"},
 {"name":"negbig","type":"long"},
 {"name":"edge","type":"long"},
 {"name":"f","type":"float"},
 {"name":"d","type":"double"},
 {"name":"nan","type":"double"},
 {"name":"inf","type":"double"},
 {"name":"ninf","type":"float"},
 {"name":"tiny","type":"double"},
 {"name":"raw","type":"bytes"},
 {"name":"s","type":"string"},
 {"name":"fx","type":{"type":"fixed","name":"Four","size":4}},
 {"name":"color","type":{"type":"enum","name":"Color","symbols":["RED","GREEN","BLUE"]}},
 {"name":"arr","type":{"type":"array","items":"int"}},
 {"name":"empty","type":{"type":"array","items":"string"}},
 {"name":"m","type":{"type":"map","values":"long"}},
 {"name":"u1","type":["null","string"]},
 {"name":"u2","type":["null","string"]},
 {"name":"u3","type":["int","string",{"type":"record","name":"Inner","fields":[{"name":"a","type":"int"}]}]},
 {"name":"inner","type":"Inner"},
 {"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
 {"name":"decneg","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
 {"name":"decbig","type":{"type":"bytes","logicalType":"decimal","precision":40,"scale":3}},
 {"name":"decfixed","type":{"type":"fixed","name":"Dec8","size":8,"logicalType":"decimal","precision":18,"scale":4}},
 {"name":"date","type":{"type":"int","logicalType":"date"}},
 {"name":"tmillis","type":{"type":"int","logicalType":"time-millis"}},
 {"name":"tmicros","type":{"type":"long","logicalType":"time-micros"}},
 {"name":"tsmillis","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"tsmicros","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"tswhole","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"tsneg","type":{"type":"long","logicalType":"timestamp-millis"}},
 {"name":"ltsmillis","type":{"type":"long","logicalType":"local-timestamp-millis"}},
 {"name":"ltsmicros","type":{"type":"long","logicalType":"local-timestamp-micros"}},
 {"name":"tsnanos","type":{"type":"long","logicalType":"timestamp-nanos"}},
 {"name":"uuid","type":{"type":"string","logicalType":"uuid"}},
 {"name":"uuidfixed","type":{"type":"fixed","name":"UUID16","size":16,"logicalType":"uuid"}},
 {"name":"dur","type":{"type":"fixed","name":"Dur","size":12,"logicalType":"duration"}}
]}`

func allTypesValue() map[string]any {
	bigDec, _ := new(big.Rat).SetString("12345678901234567890123.456")
	ts := time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)
	return map[string]any{
		"n":         nil,
		"b":         true,
		"i":         -42,
		"l":         int64(1234567890123),
		"big":       int64(1<<53 + 1),
		"negbig":    int64(-1 << 60),
		"edge":      int64(1 << 53),
		"f":         float32(0.1),
		"d":         150.75,
		"nan":       math.NaN(),
		"inf":       math.Inf(1),
		"ninf":      float32(math.Inf(-1)),
		"tiny":      1e-7,
		"raw":       []byte{0, 1, 2, 250, 251, 255},
		"s":         "He said \"hi\"\n\t\\ é€😀\x01\x1f",
		"fx":        [4]byte{'a', 'b', 'c', 'd'},
		"color":     "GREEN",
		"arr":       []int{1, 2, 3},
		"empty":     []string{},
		"m":         map[string]any{"a": int64(1)},
		"u1":        nil,
		"u2":        map[string]any{"string": "x"},
		"u3":        map[string]any{"com.acme.Inner": map[string]any{"a": 5}},
		"inner":     map[string]any{"a": 7},
		"dec":       big.NewRat(1230, 100),
		"decneg":    big.NewRat(-5, 100),
		"decbig":    bigDec,
		"decfixed":  big.NewRat(-3, 2),
		"date":      time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC),
		"tmillis":   3*time.Hour + 4*time.Minute + 5*time.Second + 6*time.Millisecond,
		"tmicros":   3*time.Hour + 4*time.Minute + 5*time.Second + 7*time.Microsecond,
		"tsmillis":  ts.Truncate(time.Millisecond),
		"tsmicros":  ts.Truncate(time.Microsecond),
		"tswhole":   ts.Truncate(time.Second),
		"tsneg":     time.UnixMilli(-1).UTC(),
		"ltsmillis": ts.Truncate(time.Millisecond),
		"ltsmicros": ts.Truncate(time.Microsecond),
		"tsnanos":   ts.UnixNano(),
		"uuid":      "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		"uuidfixed": [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8},
		"dur":       avro.LogicalDuration{Months: 1, Days: 2, Milliseconds: 3},
	}
}

// The whole mapping of doc.go, for Avro, compared byte for byte (member
// order is the schema's).
const allTypesJSON = `{"n":null,"b":true,"i":-42,"l":1234567890123,"big":"9007199254740993",` +
	`"negbig":"-1152921504606846976","edge":9007199254740992,"f":0.1,"d":150.75,"nan":"NaN",` +
	`"inf":"Infinity","ninf":"-Infinity","tiny":1e-7,"raw":"AAEC+vv/",` +
	`"s":"He said \"hi\"\n\t\\ é€😀\u0001\u001f","fx":"YWJjZA==","color":"GREEN","arr":[1,2,3],` +
	`"empty":[],"m":{"a":1},"u1":null,"u2":"x","u3":{"a":5},"inner":{"a":7},"dec":"12.30",` +
	`"decneg":"-0.05","decbig":"12345678901234567890123.456","decfixed":"-1.5000","date":"2024-01-02",` +
	`"tmillis":"03:04:05.006","tmicros":"03:04:05.000007","tsmillis":"2024-01-02T03:04:05.123Z",` +
	`"tsmicros":"2024-01-02T03:04:05.123456Z","tswhole":"2024-01-02T03:04:05.000Z",` +
	`"tsneg":"1969-12-31T23:59:59.999Z","ltsmillis":"2024-01-02T03:04:05.123Z",` +
	`"ltsmicros":"2024-01-02T03:04:05.123456Z","tsnanos":"2024-01-02T03:04:05.123456789Z",` +
	`"uuid":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","uuidfixed":"6ba7b810-9dad-11d1-80b4-00c04fd430c8",` +
	`"dur":"AQAAAAIAAAADAAAA"}`

func TestAvroMapping(t *testing.T) {
	reg := newFakeRegistry(t)
	id := reg.register(t, "all-value", sr.Schema{Schema: avroAllTypes})
	d := newTestDecoder(t, reg, Config{})
	value := avroEncode(t, id, avroAllTypes, allTypesValue())

	for _, format := range []Format{FormatAvro, FormatAuto} {
		got, info, err := d.Decode(context.Background(), format, value)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if string(got) != allTypesJSON {
			t.Errorf("%s:\n got %s\nwant %s", format, got, allTypesJSON)
		}
		if want := (Info{Format: FormatAvro, SchemaID: id, Name: "com.acme.AllTypes"}); info != want {
			t.Errorf("%s: info %+v, want %+v", format, info, want)
		}
	}
}

// TestAvroScalars checks each top-level primitive and logical type alone,
// and the edges of the number rules.
func TestAvroScalars(t *testing.T) {
	tests := []struct {
		name, schema string
		value        any
		want         string
	}{
		{"string", `"string"`, "a\u2028b", `"a` + "\u2028" + `b"`},
		{"int min", `"int"`, math.MinInt32, `-2147483648`},
		{"long 2^53", `"long"`, int64(1 << 53), `9007199254740992`},
		{"long -2^53", `"long"`, int64(-1 << 53), `-9007199254740992`},
		{"long -2^53-1", `"long"`, int64(-1<<53 - 1), `"-9007199254740993"`},
		{"long max", `"long"`, int64(math.MaxInt64), `"9223372036854775807"`},
		{"long min", `"long"`, int64(math.MinInt64), `"-9223372036854775808"`},
		{"double big", `"double"`, 1e21, `1e+21`},
		{"double below", `"double"`, 1e20, `100000000000000000000`},
		{"double -0", `"double"`, math.Copysign(0, -1), `-0`},
		{"float max", `"float"`, float32(math.MaxFloat32), `3.4028235e+38`},
		{"bool false", `"boolean"`, false, `false`},
		{"null", `"null"`, nil, `null`},
		{"bytes empty", `"bytes"`, []byte{}, `""`},
		{"decimal zero", `{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}`, big.NewRat(0, 1), `"0.00"`},
		{"decimal scale 0", `{"type":"bytes","logicalType":"decimal","precision":4,"scale":0}`, big.NewRat(-1230, 1), `"-1230"`},
		{"decimal 1", `{"type":"bytes","logicalType":"decimal","precision":9,"scale":4}`, big.NewRat(1, 10000), `"0.0001"`},
		{"decimal -128", `{"type":"bytes","logicalType":"decimal","precision":9,"scale":1}`, big.NewRat(-128, 10), `"-12.8"`},
		{"date epoch", `{"type":"int","logicalType":"date"}`, time.Unix(0, 0).UTC(), `"1970-01-01"`},
		{"date before", `{"type":"int","logicalType":"date"}`, time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), `"1969-12-31"`},
		{"date year 1", `{"type":"int","logicalType":"date"}`, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), `"0001-01-01"`},
		{"time midnight", `{"type":"int","logicalType":"time-millis"}`, time.Duration(0), `"00:00:00.000"`},
		{"time last ms", `{"type":"int","logicalType":"time-millis"}`, 24*time.Hour - time.Millisecond, `"23:59:59.999"`},
		{"time-micros whole ms", `{"type":"long","logicalType":"time-micros"}`, 5 * time.Millisecond, `"00:00:00.005"`},
		{"ts year 9999", `{"type":"long","logicalType":"timestamp-micros"}`, time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), `"9999-12-31T23:59:59.999999Z"`},
		{"ts year 1", `{"type":"long","logicalType":"timestamp-millis"}`, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), `"0001-01-01T00:00:00.000Z"`},
		{"ts nanos negative", `{"type":"long","logicalType":"timestamp-nanos"}`, int64(-1), `"1969-12-31T23:59:59.999999999Z"`},
		{"enum", `{"type":"enum","name":"E","symbols":["A","B_q"]}`, "B_q", `"B_q"`},
		{"array of arrays", `{"type":"array","items":{"type":"array","items":"null"}}`, [][]any{{nil}, {}}, `[[null],[]]`},
		{"union of records", `["null",{"type":"record","name":"Empty","fields":[]}]`, map[string]any{"Empty": map[string]any{}}, `{}`},
		{"invalid logical type", `{"type":"int","logicalType":"timestamp-millis"}`, 5, `5`},
	}
	reg := newFakeRegistry(t)
	d := newTestDecoder(t, reg, Config{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := reg.register(t, "scalar-"+string(rune('a'+i)), sr.Schema{Schema: tt.schema})
			got, _, err := d.Decode(context.Background(), FormatAvro, avroEncode(t, id, tt.schema, tt.value))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if !jsonEqual(t, got, tt.want) {
				t.Errorf("not the same JSON value")
			}
		})
	}
}

// TestAvroReferences decodes a record whose field types are defined in
// schemas registered under other subjects, one of which references a third.
func TestAvroReferences(t *testing.T) {
	reg := newFakeRegistry(t)
	country := `{"type":"enum","name":"Country","namespace":"com.acme.geo","symbols":["FR","US"]}`
	address := `{"type":"record","name":"Address","namespace":"com.acme","fields":[
		{"name":"city","type":"string"},{"name":"country","type":"com.acme.geo.Country"}]}`
	person := `{"type":"record","name":"Person","namespace":"com.acme","fields":[
		{"name":"name","type":"string"},
		{"name":"home","type":"Address"},
		{"name":"work","type":["null","com.acme.Address"]}]}`
	reg.register(t, "country", sr.Schema{Schema: country})
	reg.register(t, "address", sr.Schema{Schema: address, References: []sr.SchemaReference{
		{Name: "com.acme.geo.Country", Subject: "country", Version: 1}}})
	id := reg.register(t, "person-value", sr.Schema{Schema: person, References: []sr.SchemaReference{
		{Name: "com.acme.Address", Subject: "address", Version: 1}}})

	d := newTestDecoder(t, reg, Config{})
	value := avroEncode(t, id, person, map[string]any{
		"name": "Ada",
		"home": map[string]any{"city": "Paris", "country": "FR"},
		"work": map[string]any{"com.acme.Address": map[string]any{"city": "NYC", "country": "US"}},
	}, country, address)
	for i := 0; i < 3; i++ {
		got, info, err := d.Decode(context.Background(), FormatAvro, value)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"name":"Ada","home":{"city":"Paris","country":"FR"},"work":{"city":"NYC","country":"US"}}`
		if string(got) != want {
			t.Errorf("got %s, want %s", got, want)
		}
		if info.Name != "com.acme.Person" {
			t.Errorf("name %q", info.Name)
		}
	}
	// One request for the id, one per referenced subject version, once.
	if n := reg.requests.Load(); n != 3 {
		t.Errorf("%d registry requests, want 3", n)
	}
}

func TestAvroRecursive(t *testing.T) {
	schema := `{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","Node"]}]}`
	reg := newFakeRegistry(t)
	id := reg.register(t, "list", sr.Schema{Schema: schema})
	d := newTestDecoder(t, reg, Config{})
	value := avroEncode(t, id, schema, map[string]any{"v": 1, "next": map[string]any{"Node": map[string]any{"v": 2, "next": nil}}})
	got, _, err := d.Decode(context.Background(), FormatAvro, value)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"v":1,"next":{"v":2,"next":null}}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}

	// 300 nested nodes: deeper than the limit, a decode error, no crash.
	deep := AppendHeader(nil, Header{SchemaID: id}, false)
	for i := 0; i < 300; i++ {
		deep = append(deep, 2, 2) // v=1, branch 1 (Node)
	}
	deep = append(deep, 2, 0)
	if _, _, err := d.Decode(context.Background(), FormatAvro, deep); !errors.Is(err, ErrDecode) || !strings.Contains(err.Error(), "nesting deeper") {
		t.Errorf("deep list: %v", err)
	}
}

// TestAvroWire covers what hamba/avro does not write: blocks with a byte
// size, several blocks, duplicate map keys.
func TestAvroWire(t *testing.T) {
	tests := []struct {
		name, schema string
		payload      []byte
		want         string
	}{
		{"array in two blocks", `{"type":"array","items":"int"}`, []byte{2, 2, 4, 4, 6, 0}, `[1,2,3]`},
		{"array negative count", `{"type":"array","items":"int"}`, []byte{3, 4, 2, 4, 0}, `[1,2]`},
		{"map negative count", `{"type":"map","values":"int"}`, []byte{1, 4, 2, 'a', 2, 0}, `{"a":1}`},
		{"map duplicate key", `{"type":"map","values":"int"}`, []byte{6, 2, 'a', 2, 2, 'b', 4, 2, 'a', 6, 0}, `{"b":2,"a":3}`},
		{"map duplicate across blocks", `{"type":"map","values":"int"}`, []byte{2, 2, 'a', 2, 2, 2, 'a', 4, 0}, `{"a":2}`},
		{"map key escaped", `{"type":"map","values":"null"}`, []byte{2, 4, '"', '\n', 0}, `{"\"\n":null}`},
		{"empty map", `{"type":"map","values":"int"}`, []byte{0}, `{}`},
		{"union index 1", `["null","int"]`, []byte{2, 0x54}, `42`},
	}
	reg := newFakeRegistry(t)
	d := newTestDecoder(t, reg, Config{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := reg.register(t, "wire-"+string(rune('a'+i)), sr.Schema{Schema: tt.schema})
			value := append(AppendHeader(nil, Header{SchemaID: id}, false), tt.payload...)
			got, _, err := d.Decode(context.Background(), FormatAvro, value)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}

	// A map with many keys takes the hashed duplicate check.
	schema := `{"type":"map","values":"int"}`
	id := reg.register(t, "wire-many", sr.Schema{Schema: schema})
	value := append(AppendHeader(nil, Header{SchemaID: id}, false), 42) // 21 entries
	for i := 0; i < 20; i++ {
		value = append(value, 2, byte('a'+i), 0)
	}
	value = append(value, 2, 'a', 2, 0)
	got, _, err := d.Decode(context.Background(), FormatAvro, value)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(got), `{"b":0,`) || !strings.HasSuffix(string(got), `"t":0,"a":1}`) || strings.Count(string(got), `"a"`) != 1 {
		t.Errorf("got %s", got)
	}
}

func TestAvroDecodeErrors(t *testing.T) {
	tests := []struct {
		name, schema string
		payload      []byte
		want         string // in the error message
	}{
		{"empty payload", `"int"`, nil, "unexpected end of data at payload offset 0"},
		{"truncated varint", `"long"`, []byte{0x80}, "unexpected end"},
		{"varint overflow", `"long"`, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "overflows"},
		{"int out of range", `"int"`, []byte{0x80, 0x80, 0x80, 0x80, 0x10}, "out of 32-bit range"},
		{"trailing bytes", `"int"`, []byte{2, 0}, "1 trailing bytes"},
		{"bad boolean", `"boolean"`, []byte{2}, "boolean byte 0x02"},
		{"truncated double", `"double"`, []byte{1, 2, 3}, "unexpected end"},
		{"truncated float", `"float"`, []byte{1}, "unexpected end"},
		{"negative length", `"string"`, []byte{1}, "negative length"},
		{"length beyond data", `"bytes"`, []byte{20, 'a'}, "length 10 beyond"},
		{"invalid UTF-8", `"string"`, []byte{4, 0xff, 0xfe}, "not valid UTF-8"},
		{"truncated fixed", `{"type":"fixed","name":"F","size":4}`, []byte{1, 2}, "unexpected end"},
		{"bad enum", `{"type":"enum","name":"E","symbols":["A"]}`, []byte{2}, "enum E has no symbol 1"},
		{"negative enum", `{"type":"enum","name":"E","symbols":["A"]}`, []byte{1}, "has no symbol -1"},
		{"bad union", `["null","int"]`, []byte{4}, "union branch 2 of 2"},
		{"negative union", `["null","int"]`, []byte{1}, "union branch -1"},
		{"array too long", `{"type":"array","items":"int"}`, []byte{0xfe, 0xff, 0xff, 0xff, 0x0f, 2}, "beyond the 1 bytes left"},
		{"array of nulls over limit", `{"type":"array","items":"null"}`, []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, "over the output limit"},
		{"map key not UTF-8", `{"type":"map","values":"null"}`, []byte{2, 2, 0xff, 0}, "map key is not valid UTF-8"},
		{"date out of range", `{"type":"int","logicalType":"date"}`, []byte{0xfe, 0xff, 0xff, 0xff, 0x0f}, "outside years"},
		{"time negative", `{"type":"int","logicalType":"time-millis"}`, []byte{1}, "not within a day"},
		{"time a day", `{"type":"long","logicalType":"time-micros"}`, avroLong(86400e6), "not within a day"},
		{"timestamp year 10000", `{"type":"long","logicalType":"timestamp-millis"}`, avroLong(253402300800000), "outside years"},
		{"timestamp before year 1", `{"type":"long","logicalType":"timestamp-micros"}`, avroLong(-62135596800000001), "outside years"},
		{"field path", `{"type":"record","name":"R","fields":[{"name":"items","type":{"type":"array","items":{"type":"record","name":"I","fields":[{"name":"sku","type":"string"}]}}}]}`,
			[]byte{4, 2, 'a', 2, 0xff}, "/items/1/sku: string is not valid UTF-8 at payload offset 3"},
		{"map path", `{"type":"map","values":"int"}`, []byte{2, 2, 'k'}, "/k: unexpected end"},
	}
	reg := newFakeRegistry(t)
	d := newTestDecoder(t, reg, Config{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := reg.register(t, "err-"+string(rune('a'+i)), sr.Schema{Schema: tt.schema})
			value := append(AppendHeader(nil, Header{SchemaID: id}, false), tt.payload...)
			got, info, err := d.Decode(context.Background(), FormatAvro, value)
			if !errors.Is(err, ErrDecode) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnknownSchema) || errors.Is(err, ErrBadWireFormat) {
				t.Fatalf("got %s, %v; want only ErrDecode", got, err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Reason != ReasonDecode || e.SchemaID != id {
				t.Errorf("error %#v", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "schema id") {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if info.SchemaID != id {
				t.Errorf("info %+v", info)
			}
		})
	}
}

func avroLong(v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	var b []byte
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
}

// TestAvroBadSchemas: schemas the registry holds but that do not compile
// are unknown schemas, remembered for good (one request).
func TestAvroBadSchemas(t *testing.T) {
	tests := []struct{ name, schema string }{
		{"unknown type", `{"type":"record","name":"R","fields":[{"name":"a","type":"Missing"}]}`},
		{"not a schema", `{"foo":1}`},
		{"huge decimal scale", `{"type":"bytes","logicalType":"decimal","precision":5000,"scale":2000}`},
	}
	reg := newFakeRegistry(t)
	d := newTestDecoder(t, reg, Config{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := reg.register(t, "bad-"+string(rune('a'+i)), sr.Schema{Schema: tt.schema})
			value := append(AppendHeader(nil, Header{SchemaID: id}, false), 0)
			for range 3 {
				if _, _, err := d.Decode(context.Background(), FormatAvro, value); !errors.Is(err, ErrUnknownSchema) {
					t.Fatalf("got %v, want ErrUnknownSchema", err)
				}
			}
			if n := reg.fetches(id); n != 1 {
				t.Errorf("%d fetches, want 1", n)
			}
		})
	}
}
