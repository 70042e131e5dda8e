package registry

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		protobuf bool
		want     Header
		payload  string
		err      string // substring; "" means valid
	}{
		{"avro", []byte{0, 0, 0, 1, 2, 'x'}, false, Header{SchemaID: 258}, "x", ""},
		{"avro no payload", []byte{0, 0xff, 0xff, 0xff, 0xff}, false, Header{SchemaID: 1<<32 - 1}, "", ""},
		{"protobuf shorthand", []byte{0, 0, 0, 0, 7, 0, 'p'}, true, Header{SchemaID: 7, MessageIndexes: []int{0}}, "p", ""},
		{"protobuf explicit [0]", []byte{0, 0, 0, 0, 7, 2, 0, 'p'}, true, Header{SchemaID: 7, MessageIndexes: []int{0}}, "p", ""},
		{"protobuf path", []byte{0, 0, 0, 0, 7, 4, 2, 6}, true, Header{SchemaID: 7, MessageIndexes: []int{1, 3}}, "", ""},
		{"protobuf two-byte index", []byte{0, 0, 0, 0, 7, 2, 0x80, 0x02}, true, Header{SchemaID: 7, MessageIndexes: []int{128}}, "", ""},
		{"empty", nil, false, Header{}, "", "empty value"},
		{"plain JSON", []byte(`{"a":1}`), false, Header{}, "", "magic byte is 0x7b"},
		{"short", []byte{0, 0, 0}, false, Header{}, "", "3 bytes, shorter than the 5-byte header"},
		{"protobuf no indexes", []byte{0, 0, 0, 0, 1}, true, Header{}, "", "truncated varint"},
		{"negative count", []byte{0, 0, 0, 0, 1, 1, 0}, true, Header{}, "", "negative message index count -1"},
		{"count over limit", []byte{0, 0, 0, 0, 1, 0x82, 0x01}, true, Header{}, "", "count 65 over the limit of 64"},
		{"count beyond data", []byte{0, 0, 0, 0, 1, 6, 2}, true, Header{}, "", "count 3 but only 1 bytes follow"},
		{"negative index", []byte{0, 0, 0, 0, 1, 2, 3}, true, Header{}, "", "message index 0 is negative"},
		{"truncated index", []byte{0, 0, 0, 0, 1, 4, 2, 0x80}, true, Header{}, "", "message index 1: truncated varint"},
		{"varint too long", []byte{0, 0, 0, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0}, true, Header{}, "", "longer than 5 bytes"},
		{"varint over 32 bits", []byte{0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x7f}, true, Header{}, "", "over 32 bits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, payload, err := ParseHeader(tt.in, tt.protobuf)
			if tt.err != "" {
				if !errors.Is(err, ErrBadWireFormat) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want ErrBadWireFormat saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(h, tt.want) || string(payload) != tt.payload {
				t.Errorf("got %+v %q, want %+v %q", h, payload, tt.want, tt.payload)
			}
		})
	}
}

func TestAppendHeader(t *testing.T) {
	tests := []struct {
		h        Header
		protobuf bool
		want     []byte
	}{
		{Header{SchemaID: 1}, false, []byte{0, 0, 0, 0, 1}},
		{Header{SchemaID: 1, MessageIndexes: []int{4}}, false, []byte{0, 0, 0, 0, 1}},
		{Header{SchemaID: 1}, true, []byte{0, 0, 0, 0, 1, 0}},
		{Header{SchemaID: 1, MessageIndexes: []int{0}}, true, []byte{0, 0, 0, 0, 1, 0}},
		{Header{SchemaID: 1, MessageIndexes: []int{0, 0}}, true, []byte{0, 0, 0, 0, 1, 4, 0, 0}},
		{Header{SchemaID: 1 << 24, MessageIndexes: []int{1, 64}}, true, []byte{0, 1, 0, 0, 0, 4, 2, 0x80, 0x01}},
	}
	for _, tt := range tests {
		got := AppendHeader([]byte("x"), tt.h, tt.protobuf)
		if string(got) != "x"+string(tt.want) {
			t.Errorf("%+v: got %v, want %v", tt.h, got[1:], tt.want)
		}
		h, _, err := ParseHeader(got[1:], tt.protobuf)
		if err != nil {
			t.Fatal(err)
		}
		if h.SchemaID != tt.h.SchemaID {
			t.Errorf("round trip id %d", h.SchemaID)
		}
	}
}
