package termsafe

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain {\"a\":1} é ü 中文 🙂 \uFFFD", "plain {\"a\":1} é ü 中文 🙂 \uFFFD"},
		{"a\nb\tc\rd", `a\nb\tc\rd`},
		{`back\slash "\x1b"`, `back\slash "\x1b"`}, // a message quoting a value keeps its escapes
		{"\x1b]0;pwned\a", `\x1b]0;pwned\x07`},
		{"\x1b[2J\x1b[H", `\x1b[2J\x1b[H`},
		{"\x00\x7f", `\x00\x7f`},
		{"\u009b2J \u0085", `\u009b2J \u0085`},                                       // C1 controls, UTF-8 encoded
		{"\xff\xfe \xc2", `\xff\xfe \xc2`},                                           // not UTF-8
		{"invoice\u202Efdp.exe", `invoice\u202efdp.exe`},                             // right-to-left override
		{"\u2066x\u2069 \u200f \u200b \ufeff", `\u2066x\u2069 \u200f \u200b \ufeff`}, // isolates, marks, zero width, BOM
		{"\u2028\u2029", `\u2028\u2029`},                                             // line and paragraph separators
		{"\U000E0001 \U000F0000", `\U000e0001 \U000f0000`},                           // tag, private use
	}
	for _, tc := range tests {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// Bytes escapes the same, and a backslash too.
		data := Bytes([]byte(tc.in), 0)
		if !strings.Contains(tc.in, `\`) && data != tc.want {
			t.Errorf("Bytes(%q) = %q, want %q", tc.in, data, tc.want)
		}
		if got := unescape(t, data); got != tc.in {
			t.Errorf("unescape(Bytes(%q)) = %q", tc.in, got)
		}
	}
}

func TestBytes(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"héllo", 0, "héllo"},
		{"héllo", 2, "h…"}, // no half character
		{"héllo", 3, "hé…"},
		{"abc", 3, "abc"},
		{"a\x1bbc", 2, `a\x1b…`},
		{`a\b "\x1b"`, 0, `a\\b "\\x1b"`},
		{"\xff\xfe\xfd", 2, `\xff\xfe…`}, // invalid bytes are not dropped as incomplete characters
	}
	for _, tc := range tests {
		if got := Bytes([]byte(tc.in), tc.n); got != tc.want {
			t.Errorf("Bytes(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestLines(t *testing.T) {
	in := "config:\n  kafka.brokers[0]: \x1b[2Jwant host:port\r\n  routes: \u202eat least one"
	want := "config:\n  kafka.brokers[0]: \\x1b[2Jwant host:port\\r\n  routes: \\u202eat least one"
	if got := Lines(in); got != want {
		t.Errorf("Lines = %q, want %q", got, want)
	}
	if got := Lines("one\ntwo"); got != "one\ntwo" {
		t.Errorf("Lines changed clean text: %q", got)
	}
}

func TestJSON(t *testing.T) {
	type doc struct {
		S string `json:"s"`
	}
	in := doc{S: "a\x1b[2J\x7f\u009b\u202e\U000E0001\\\"<b>é\n"}
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`\u001b`)) {
		t.Errorf("encoding/json left ESC raw: %q", b)
	}
	out := JSON(b)
	if want := "{\n  \"s\": \"a\\u001b[2J\\u007f\\u009b\\u202e\\udb40\\udc01\\\\\\\"\\u003cb\\u003eé\\n\"\n}"; string(out) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", out, want)
	}
	var back doc
	if err := json.Unmarshal(out, &back); err != nil || back != in {
		t.Errorf("JSON changed the document: %+v, %v", back, err)
	}
	if clean := []byte(`{"a": [1, "x"]}`); &JSON(clean)[0] != &clean[0] {
		t.Error("clean JSON copied")
	}
}

// checkSafe fails unless s is valid UTF-8 without control characters
// (except those in allowed), DEL, C1 controls or other characters that
// are not graphic.
func checkSafe(t *testing.T, in, s, allowed string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("%q → %q: not UTF-8", in, s)
	}
	for _, r := range s {
		if strings.ContainsRune(allowed, r) {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || !unicode.IsGraphic(r) {
			t.Fatalf("%q → %q: holds %U", in, s, r)
		}
	}
}

// FuzzString: the output is valid UTF-8 without a control or other
// character that is not graphic; Bytes's unescapes to the input.
func FuzzString(f *testing.F) {
	for _, s := range []string{"a\x00\xffé\n", "\x1b]0;t\a\x1b[2J", "\u202e\u009b\\x1b", "\xc2", "\U000E0001", `\\u202e`} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		checkSafe(t, s, String(s), "")
		if !strings.Contains(s, `\`) && String(s) != Bytes([]byte(s), 0) {
			t.Fatalf("String(%q) = %q, Bytes = %q", s, String(s), Bytes([]byte(s), 0))
		}
		out := Bytes([]byte(s), 0)
		checkSafe(t, s, out, "")
		if got := unescape(t, out); got != s {
			t.Fatalf("%q → %q → %q", s, out, got)
		}
		lines := Lines(s)
		checkSafe(t, s, lines, "\n")
		if strings.Count(lines, "\n") != strings.Count(s, "\n") {
			t.Fatalf("Lines(%q) = %q: line count changed", s, lines)
		}
		ex := Bytes([]byte(s), n%64)
		checkSafe(t, s, ex, "")
		if body, _ := strings.CutSuffix(ex, Ellipsis); !strings.HasPrefix(s, unescape(t, body)) {
			t.Fatalf("Bytes(%q, %d) = %q: not a prefix", s, n%64, ex)
		}
	})
}

// FuzzJSON: JSON keeps a valid document's meaning and leaves nothing but
// JSON whitespace that is not graphic.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a":"\u001b"}`, "[\"\u009b\u202e\"]", "\"\xff\"", "\x1b", `"\\"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		out := JSON(p)
		checkSafe(t, string(p), string(out), " \t\n\r")
		// Valid JSON stays valid and means the same. (Invalid JSON may
		// become valid: a raw control character in a string is escaped.)
		var a, b any
		if errA := json.Unmarshal(p, &a); errA == nil {
			if errB := json.Unmarshal(out, &b); errB != nil {
				t.Fatalf("%q → %q: no longer JSON: %v", p, out, errB)
			}
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if !bytes.Equal(ja, jb) {
				t.Fatalf("%q → %q: %s → %s", p, out, ja, jb)
			}
		}
	})
}

// unescape reverses String.
func unescape(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			t.Fatalf("dangling backslash in %q", s)
		}
		i++
		switch c := s[i]; c {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
			if i+1+n > len(s) {
				t.Fatalf("short escape in %q", s)
			}
			v, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32)
			if err != nil {
				t.Fatalf("bad escape in %q: %v", s, err)
			}
			if c == 'x' {
				b.WriteByte(byte(v))
			} else {
				b.WriteRune(rune(v))
			}
			i += n
		default:
			t.Fatalf("unknown escape \\%c in %q", c, s)
		}
	}
	return b.String()
}
