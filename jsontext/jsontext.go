// Package jsontext writes JSON text into byte slices, without reflection
// or allocation beyond the slice's growth: the one JSON string writer of
// the transform (request bodies) and of the schema registry decoders
// (values decoded into JSON).
package jsontext

// AppendString appends s as a JSON string and returns the extended slice.
// Quote, backslash and control characters (below U+0020) are escaped; all
// other bytes pass through unchanged, so s must be valid UTF-8 for the
// result to be valid JSON (callers check it first).
func AppendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
