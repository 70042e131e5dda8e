package registry

import (
	"encoding/binary"
	"fmt"
)

// MaxMessageIndexes is the longest Protobuf message-index path ParseHeader
// accepts: a path of nested message types deeper than this is refused as a
// bad header rather than looked for.
const MaxMessageIndexes = 64

// Header is the Confluent Schema Registry prefix of a record value or key:
// magic byte 0, the 4-byte big-endian schema id and, for Protobuf, the path
// of message indexes that selects the message type within the schema.
type Header struct {
	SchemaID int
	// MessageIndexes is the Protobuf message path: [i] is the i-th
	// top-level message of the .proto file, [i, j] the j-th message nested
	// in it, and so on. ParseHeader always returns at least one index for
	// Protobuf (the one-byte shorthand 0 means [0]) and nil otherwise.
	MessageIndexes []int
}

// ParseHeader reads the wire-format header at the start of b. With protobuf
// true it also reads the message-index list (a zig-zag varint count, then
// that many zig-zag varint indexes, as Confluent's serializers write them;
// a count of 0 is the shorthand for [0]). It returns the header and the
// payload that follows it (a sub-slice of b).
//
// Any header that is short, has a magic byte other than 0, a varint that
// does not fit 32 bits, a negative count or index, or a count over
// MaxMessageIndexes or beyond the data, is an error matching
// ErrBadWireFormat. ParseHeader never panics and allocates only the index
// slice.
func ParseHeader(b []byte, protobuf bool) (Header, []byte, error) {
	var idx [MaxMessageIndexes]int
	id, n, payload, err := parseHeader(b, protobuf, &idx)
	if err != nil {
		return Header{}, nil, err
	}
	h := Header{SchemaID: id}
	if protobuf {
		h.MessageIndexes = append([]int(nil), idx[:n]...)
	}
	return h, payload, nil
}

// AppendHeader appends h in the wire format to dst and returns the extended
// slice. For protobuf, an empty MessageIndexes or [0] is written as the
// one-byte shorthand, as Confluent's serializers do. SchemaID is written as
// its low 32 bits; negative indexes are written as they are (and refused by
// ParseHeader). It is the inverse of ParseHeader for every header ParseHeader
// returns.
func AppendHeader(dst []byte, h Header, protobuf bool) []byte {
	dst = append(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.SchemaID))
	if !protobuf {
		return dst
	}
	if len(h.MessageIndexes) == 0 || len(h.MessageIndexes) == 1 && h.MessageIndexes[0] == 0 {
		return append(dst, 0)
	}
	dst = appendZigZag32(dst, int64(len(h.MessageIndexes)))
	for _, i := range h.MessageIndexes {
		dst = appendZigZag32(dst, int64(i))
	}
	return dst
}

func appendZigZag32(dst []byte, v int64) []byte {
	u := uint64(uint32((int32(v) << 1) ^ (int32(v) >> 31)))
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

func badHeader(format string, args ...any) *Error {
	return &Error{Reason: ReasonBadWireFormat, Detail: fmt.Sprintf(format, args...)}
}

// parseHeader reads the 5-byte prefix and, when protobuf, the message
// indexes into idx. n is the number of indexes (at least 1 for protobuf).
func parseHeader(b []byte, protobuf bool, idx *[MaxMessageIndexes]int) (id, n int, payload []byte, err error) {
	id, payload, err = parsePrefix(b)
	if err != nil || !protobuf {
		return id, 0, payload, err
	}
	n, payload, err = parseIndexes(payload, idx)
	if err != nil {
		err.(*Error).SchemaID = id
	}
	return id, n, payload, err
}

// parsePrefix reads the magic byte and the schema id.
func parsePrefix(b []byte) (int, []byte, error) {
	switch {
	case len(b) == 0:
		return 0, nil, badHeader("empty value")
	case b[0] != 0:
		return 0, nil, badHeader("magic byte is 0x%02x, want 0x00", b[0])
	case len(b) < 5:
		return 0, nil, badHeader("value is %d bytes, shorter than the 5-byte header", len(b))
	}
	return int(binary.BigEndian.Uint32(b[1:5])), b[5:], nil
}

// parseIndexes reads the Protobuf message-index list at the start of b.
func parseIndexes(b []byte, idx *[MaxMessageIndexes]int) (int, []byte, error) {
	count, k, err := readZigZag32(b)
	if err != nil {
		return 0, nil, badHeader("message index count: %s", err)
	}
	b = b[k:]
	switch {
	case count == 0:
		idx[0] = 0
		return 1, b, nil
	case count < 0:
		return 0, nil, badHeader("negative message index count %d", count)
	case count > MaxMessageIndexes:
		return 0, nil, badHeader("message index count %d over the limit of %d", count, MaxMessageIndexes)
	case int(count) > len(b):
		return 0, nil, badHeader("message index count %d but only %d bytes follow", count, len(b))
	}
	for i := 0; i < int(count); i++ {
		v, k, err := readZigZag32(b)
		if err != nil {
			return 0, nil, badHeader("message index %d: %s", i, err)
		}
		if v < 0 {
			return 0, nil, badHeader("message index %d is negative (%d)", i, v)
		}
		idx[i] = int(v)
		b = b[k:]
	}
	return int(count), b, nil
}

// readZigZag32 reads a zig-zag varint of at most 5 bytes whose value fits
// 32 bits, as Java's ByteUtils.readVarint does.
func readZigZag32(b []byte) (int32, int, error) {
	var u uint64
	for i := 0; i < 5; i++ {
		if i == len(b) {
			return 0, 0, fmt.Errorf("truncated varint")
		}
		c := b[i]
		u |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if u > 0xFFFFFFFF {
				return 0, 0, fmt.Errorf("varint over 32 bits")
			}
			v := uint32(u)
			return int32(v>>1) ^ -int32(v&1), i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("varint longer than 5 bytes")
}
