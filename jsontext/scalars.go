package jsontext

import (
	"math"
	"strconv"
	"time"
)

// MaxSafeInt is the largest integer magnitude every JSON reader holds
// exactly (2^53): integers beyond it are written as strings.
const MaxSafeInt = 1 << 53

// AppendInt64 appends v as a JSON number when |v| <= [MaxSafeInt], else as
// a string of its decimal digits, so that no JSON reader rounds it.
func AppendInt64(dst []byte, v int64) []byte {
	if v >= -MaxSafeInt && v <= MaxSafeInt {
		return strconv.AppendInt(dst, v, 10)
	}
	dst = append(dst, '"')
	dst = strconv.AppendInt(dst, v, 10)
	return append(dst, '"')
}

// AppendUint64 is [AppendInt64] for an unsigned integer.
func AppendUint64(dst []byte, v uint64) []byte {
	if v <= MaxSafeInt {
		return strconv.AppendUint(dst, v, 10)
	}
	dst = append(dst, '"')
	dst = strconv.AppendUint(dst, v, 10)
	return append(dst, '"')
}

// AppendFloat appends the finite f as encoding/json writes it: the
// shortest decimal that reads back to f (as a float32 when bits is 32),
// in exponent form below 1e-6 and from 1e21. NaN and the infinities have
// no JSON number form: the caller decides what they become.
func AppendFloat(dst []byte, f float64, bits int) []byte {
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

// The instants with an RFC 3339 form: years 0001 to 9999.
const (
	MinTimestampSec = -62135596800 // 0001-01-01T00:00:00Z
	MaxTimestampSec = 253402300799 // 9999-12-31T23:59:59Z
)

// AppendTimestamp appends the instant sec+nsec (0 <= nsec < 1e9) as an
// RFC 3339 UTC string with 3, 6 or 9 fractional digits, the fewest that
// hold it exactly: "2024-01-02T03:04:05.000Z", "…05.123456Z". ok is false
// (and nothing appended) when the year is outside 0001–9999.
func AppendTimestamp(dst []byte, sec, nsec int64) (out []byte, ok bool) {
	if sec < MinTimestampSec || sec > MaxTimestampSec || nsec < 0 || nsec >= 1e9 {
		return dst, false
	}
	t := time.Unix(sec, 0).UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	dst = append(dst, '"')
	dst = Append4(dst, y)
	dst = append(dst, '-')
	dst = Append2(dst, int(mo))
	dst = append(dst, '-')
	dst = Append2(dst, d)
	dst = append(dst, 'T')
	dst = AppendClock(dst, h, mi, s, nsec)
	return append(dst, 'Z', '"'), true
}

// AppendClock appends HH:MM:SS and the fraction of a second, 3, 6 or 9
// digits long (the fewest that hold nsec exactly).
func AppendClock(dst []byte, h, m, s int, nsec int64) []byte {
	dst = Append2(dst, h)
	dst = append(dst, ':')
	dst = Append2(dst, m)
	dst = append(dst, ':')
	dst = Append2(dst, s)
	dst = append(dst, '.')
	digits, div := 3, int64(1e6)
	switch {
	case nsec%1e6 == 0:
	case nsec%1e3 == 0:
		digits, div = 6, 1e3
	default:
		digits, div = 9, 1
	}
	return appendDigits(dst, nsec/div, digits)
}

// AppendDuration appends sec+nsec (same signs, |nsec| < 1e9) as protojson
// writes a google.protobuf.Duration: "1.500s", "-0.000000001s", "3s", with
// 0, 3, 6 or 9 fractional digits.
func AppendDuration(dst []byte, sec, nsec int64) []byte {
	dst = append(dst, '"')
	if sec < 0 || nsec < 0 {
		dst = append(dst, '-')
		sec, nsec = -sec, -nsec
	}
	dst = strconv.AppendUint(dst, uint64(sec), 10)
	if nsec != 0 {
		digits, div := 9, int64(1)
		switch {
		case nsec%1e6 == 0:
			digits, div = 3, 1e6
		case nsec%1e3 == 0:
			digits, div = 6, 1e3
		}
		dst = append(dst, '.')
		dst = appendDigits(dst, nsec/div, digits)
	}
	return append(dst, 's', '"')
}

// appendDigits appends v as exactly digits decimal digits.
func appendDigits(dst []byte, v int64, digits int) []byte {
	var buf [9]byte
	for i := digits - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, buf[:digits]...)
}

// Append2 appends 0 <= v < 100 as two digits.
func Append2(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

// Append4 appends 0 <= v < 10000 as four digits.
func Append4(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/1000), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}
