// Package termsafe makes text that comes from outside (Kafka records,
// envelope headers, broker and CXone error messages) safe to print for a
// person on a terminal: no byte of it can move the cursor, clear the
// screen, retitle the window, reorder the line (bidi overrides) or hide
// what follows.
//
// String is the filter; Bytes, Lines and JSON are the same filter for
// record data, for a message of several lines and for JSON text. A
// printable character (a letter, mark, number, punctuation, symbol or
// space: unicode.IsGraphic) is kept as is; everything else is escaped:
//
//	\n \t \r             newline, tab, carriage return
//	\xNN                 another ASCII control (C0, DEL), or a byte that is
//	                     not valid UTF-8 (then NN >= 80)
//	\uNNNN, \UNNNNNNNN   any other character that is not printable: C1
//	                     controls (U+0080–U+009F), bidi overrides and
//	                     isolates (U+202A–U+202E, U+2066–U+2069), other
//	                     format characters (U+200B–U+200F, U+FEFF …), line
//	                     and paragraph separators, private-use and
//	                     unassigned code points
//
// The output is valid UTF-8 and holds no control character.
//
// String and Lines are for messages (errors, reports), which often quote
// values already (strconv.Quote's "\x1b"): they keep backslashes as they
// are. Bytes is for record data (keys, values, headers) and also escapes
// a backslash as \\, so that its output is unambiguous: two different
// inputs never print the same, and the escapes read back to the bytes.
package termsafe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Ellipsis marks where Bytes cut its input.
const Ellipsis = "…"

// String returns the message s with every character that is not
// printable escaped (see the package documentation); backslashes are
// kept.
func String(s string) string {
	if clean(s, false) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	escape(&b, s, false)
	return b.String()
}

// Bytes returns the data p escaped as String does and, so that the result
// is unambiguous, a backslash as \\: only the first max bytes of p (all
// of p when max <= 0), cut on a character boundary, with Ellipsis
// appended when p was cut.
func Bytes(p []byte, max int) string {
	cut := false
	if max > 0 && len(p) > max {
		p, cut = p[:max], true
		// Do not end inside a character: drop a trailing incomplete
		// sequence (an invalid byte stays, escaped).
		j := len(p) - 1
		for j > 0 && len(p)-j < utf8.UTFMax && !utf8.RuneStart(p[j]) {
			j--
		}
		if !utf8.FullRune(p[j:]) {
			p = p[:j]
		}
	}
	var b strings.Builder
	b.Grow(len(p) + 16)
	escape(&b, string(p), true)
	if cut {
		b.WriteString(Ellipsis)
	}
	return b.String()
}

// Lines is String for a message of several lines: each line is escaped
// and the line breaks ("\n") are kept. Use it where the message is meant
// to be read as lines (an error that lists problems one per line); a
// carriage return or any other control character is still escaped.
func Lines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = String(l)
	}
	return strings.Join(lines, "\n")
}

// JSON escapes, in JSON text, every character String would escape except
// the whitespace JSON itself uses between tokens (space, tab, newline,
// carriage return), as \uNNNN escapes (a surrogate pair beyond U+FFFF),
// and replaces bytes that are not valid UTF-8 by \ufffd, as encoding/json
// does. A JSON document keeps its meaning: such characters can only stand
// inside strings, where the escape is the same character. Backslashes are
// left alone. encoding/json already escapes C0 controls; JSON adds DEL,
// C1 controls, bidi and other format characters.
func JSON(p []byte) []byte {
	if jsonClean(p) {
		return p
	}
	out := make([]byte, 0, len(p)+32)
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		switch {
		case r == utf8.RuneError && size <= 1:
			out = append(out, `\ufffd`...)
		case keepJSON(r):
			out = append(out, p[:size]...)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			out = appendU(appendU(out, r1), r2)
		default:
			out = appendU(out, r)
		}
		p = p[size:]
	}
	return out
}

func appendU(out []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	return append(out, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}

// keepJSON reports whether r is left as is by JSON.
func keepJSON(r rune) bool {
	switch {
	case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\\':
		return true
	case r < utf8.RuneSelf:
		return r >= 0x20 && r < 0x7f
	}
	return unicode.IsGraphic(r)
}

// clean reports whether escaping s changes nothing.
func clean(s string, backslash bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f || c == '\\' && backslash {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !unicode.IsGraphic(r) {
			return false
		}
		i += size
	}
	return true
}

func jsonClean(p []byte) bool {
	for i := 0; i < len(p); {
		c := p[i]
		if c < utf8.RuneSelf {
			if !keepJSON(rune(c)) {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size == 1 || !unicode.IsGraphic(r) {
			return false
		}
		i += size
	}
	return true
}

// escape writes s to b escaped, a backslash as \\ when backslash is set.
func escape(b *strings.Builder, s string, backslash bool) {
	const hex = "0123456789abcdef"
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteByte(hex[s[0]>>4])
			b.WriteByte(hex[s[0]&0xf])
		case r == '\\' && backslash:
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xf])
		case r >= utf8.RuneSelf && !unicode.IsGraphic(r):
			if r > 0xffff {
				b.WriteString(`\U`)
				b.WriteString(pad(strconv.FormatInt(int64(r), 16), 8))
			} else {
				b.WriteString(`\u`)
				b.WriteString(pad(strconv.FormatInt(int64(r), 16), 4))
			}
		default:
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
}

func pad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat("0", n-len(s)) + s
}
