package registry

import (
	"encoding/base64"
	"math"
	"math/big"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cxone-bridge/bridge/jsontext"
)

// This file writes the JSON scalars of the mapping (doc.go) straight into a
// []byte. Every function appends one complete JSON value.

// appendKey appends the JSON object key `"name":`.
func appendKey(dst []byte, name string) []byte {
	return append(jsontext.AppendString(dst, []byte(name)), ':')
}

// validUTF8 is utf8.Valid with an ASCII fast path.
func validUTF8(s []byte) bool {
	for _, c := range s {
		if c >= 0x80 {
			return utf8.Valid(s)
		}
	}
	return true
}

// appendFloat appends f as encoding/json writes it, and NaN and the
// infinities as the strings "NaN", "Infinity", "-Infinity". bits is 32
// for a float, 64 for a double.
func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	return jsontext.AppendFloat(dst, f, bits)
}

// appendBase64 appends b as a JSON string in standard base64 with padding.
func appendBase64(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// appendDecimal appends the two's-complement big-endian unscaled integer b
// with scale applied, as a JSON string keeping every digit: 1230 with scale
// 2 is "12.30", -5 with scale 2 is "-0.05". An empty b is zero.
func appendDecimal(dst []byte, b []byte, scale int) []byte {
	var digits []byte
	var scratch [24]byte
	if len(b) <= 8 {
		var v int64
		if len(b) > 0 && b[0]&0x80 != 0 {
			v = -1
		}
		for _, c := range b {
			v = v<<8 | int64(c)
		}
		digits = strconv.AppendInt(scratch[:0], v, 10)
	} else {
		n := new(big.Int).SetBytes(b)
		if b[0]&0x80 != 0 {
			n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
		digits = n.Append(nil, 10)
	}
	dst = append(dst, '"')
	if digits[0] == '-' {
		dst = append(dst, '-')
		digits = digits[1:]
	}
	if scale <= 0 {
		dst = append(dst, digits...)
		return append(dst, '"')
	}
	if len(digits) <= scale {
		dst = append(dst, '0', '.')
		for i := len(digits); i < scale; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
		return append(dst, '"')
	}
	dst = append(dst, digits[:len(digits)-scale]...)
	dst = append(dst, '.')
	dst = append(dst, digits[len(digits)-scale:]...)
	return append(dst, '"')
}

// Range of RFC 3339 timestamps: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z, as seconds since the Unix epoch.

// appendDate appends days since the Unix epoch as "YYYY-MM-DD". ok is
// false when the year is outside 0001–9999.
func appendDate(dst []byte, days int64) ([]byte, bool) {
	if days < jsontext.MinTimestampSec/86400 || days > jsontext.MaxTimestampSec/86400 {
		return dst, false
	}
	y, mo, d := time.Unix(days*86400, 0).UTC().Date()
	dst = append(dst, '"')
	dst = jsontext.Append4(dst, y)
	dst = append(dst, '-')
	dst = jsontext.Append2(dst, int(mo))
	dst = append(dst, '-')
	dst = jsontext.Append2(dst, d)
	return append(dst, '"'), true
}

// appendTimeOfDay appends nanoseconds since midnight as "HH:MM:SS.fff"
// (".ffffff" when the microseconds are not zero). ok is false outside
// [0, 24h).
func appendTimeOfDay(dst []byte, ns int64) ([]byte, bool) {
	if ns < 0 || ns >= 24*int64(time.Hour) {
		return dst, false
	}
	sec := ns / 1e9
	dst = append(dst, '"')
	dst = jsontext.AppendClock(dst, int(sec/3600), int(sec/60%60), int(sec%60), ns%1e9)
	return append(dst, '"'), true
}

// appendUUID appends 16 bytes as the canonical lower-case UUID string.
func appendUUID(dst []byte, b []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hex[c>>4], hex[c&0xf])
	}
	return append(dst, '"')
}
