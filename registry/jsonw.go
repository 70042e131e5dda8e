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

const maxSafeInt = 1 << 53 // largest integer every JSON parser holds exactly

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

// appendInt64 appends v as a JSON number when |v| <= 2^53, else as a
// decimal string.
func appendInt64(dst []byte, v int64) []byte {
	if v >= -maxSafeInt && v <= maxSafeInt {
		return strconv.AppendInt(dst, v, 10)
	}
	dst = append(dst, '"')
	dst = strconv.AppendInt(dst, v, 10)
	return append(dst, '"')
}

// appendUint64 appends v as a JSON number when v <= 2^53, else as a
// decimal string.
func appendUint64(dst []byte, v uint64) []byte {
	if v <= maxSafeInt {
		return strconv.AppendUint(dst, v, 10)
	}
	dst = append(dst, '"')
	dst = strconv.AppendUint(dst, v, 10)
	return append(dst, '"')
}

// appendFloat appends f as encoding/json writes it (shortest decimal that
// reads back to the same value; exponent form below 1e-6 and from 1e21),
// and NaN and the infinities as the strings "NaN", "Infinity",
// "-Infinity". bits is 32 for a float, 64 for a double.
func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// Turn e-09 into e-9, as encoding/json does.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
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
const (
	minTimestampSec = -62135596800
	maxTimestampSec = 253402300799
)

// appendTimestamp appends the instant sec+nsec (0 <= nsec < 1e9) as an RFC
// 3339 UTC string with 3, 6 or 9 fractional digits, the fewest that hold
// the value exactly: "2024-01-02T03:04:05.000Z", "…05.123456Z". ok is
// false when the year is outside 0001–9999.
func appendTimestamp(dst []byte, sec int64, nsec int64) ([]byte, bool) {
	if sec < minTimestampSec || sec > maxTimestampSec || nsec < 0 || nsec >= 1e9 {
		return dst, false
	}
	t := time.Unix(sec, 0).UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	dst = append(dst, '"')
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, int(mo))
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, 'T')
	dst = appendClock(dst, h, mi, s, nsec)
	return append(dst, 'Z', '"'), true
}

// appendDate appends days since the Unix epoch as "YYYY-MM-DD". ok is
// false when the year is outside 0001–9999.
func appendDate(dst []byte, days int64) ([]byte, bool) {
	if days < minTimestampSec/86400 || days > maxTimestampSec/86400 {
		return dst, false
	}
	y, mo, d := time.Unix(days*86400, 0).UTC().Date()
	dst = append(dst, '"')
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, int(mo))
	dst = append(dst, '-')
	dst = append2(dst, d)
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
	dst = appendClock(dst, int(sec/3600), int(sec/60%60), int(sec%60), ns%1e9)
	return append(dst, '"'), true
}

// appendClock appends HH:MM:SS and the fraction of a second, 3, 6 or 9
// digits long.
func appendClock(dst []byte, h, m, s int, nsec int64) []byte {
	dst = append2(dst, h)
	dst = append(dst, ':')
	dst = append2(dst, m)
	dst = append(dst, ':')
	dst = append2(dst, s)
	dst = append(dst, '.')
	digits, div := 3, int64(1e6)
	switch {
	case nsec%1e6 == 0:
	case nsec%1e3 == 0:
		digits, div = 6, 1e3
	default:
		digits, div = 9, 1
	}
	v := nsec / div
	var buf [9]byte
	for i := digits - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, buf[:digits]...)
}

// appendDuration appends sec+nsec (same signs, |nsec| < 1e9) as protojson
// writes a google.protobuf.Duration: "1.5s", "-0.000000001s", "3s", with 0,
// 3, 6 or 9 fractional digits.
func appendDuration(dst []byte, sec, nsec int64) []byte {
	dst = append(dst, '"')
	if sec < 0 || nsec < 0 {
		dst = append(dst, '-')
		sec, nsec = -sec, -nsec
	}
	dst = strconv.AppendInt(dst, sec, 10)
	if nsec != 0 {
		digits, div := 9, int64(1)
		switch {
		case nsec%1e6 == 0:
			digits, div = 3, 1e6
		case nsec%1e3 == 0:
			digits, div = 6, 1e3
		}
		v := nsec / div
		var buf [9]byte
		for i := digits - 1; i >= 0; i-- {
			buf[i] = byte('0' + v%10)
			v /= 10
		}
		dst = append(dst, '.')
		dst = append(dst, buf[:digits]...)
	}
	return append(dst, 's', '"')
}

func append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

func append4(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
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
