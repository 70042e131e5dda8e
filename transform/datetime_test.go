package transform

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func TestValidDateTime(t *testing.T) {
	for s, want := range map[string]bool{
		"2026-11-27T10:00:00Z":            true,
		"2026-11-27t10:00:00z":            true, // RFC 3339 §5.6 NOTE: t and z may be lower case
		"2026-11-27T10:00:00.1234567891Z": true, // any number of fraction digits
		"2026-11-27T10:00:00+14:00":       true, // offsets up to 23:59
		"2026-11-27T10:00:00+13:59":       true,
		"2026-11-27T10:00:00-00:00":       true,
		"2016-12-31T23:59:60Z":            true, // a leap second
		"2016-12-31T15:59:60-08:00":       true, // the same, in another zone
		"2016-12-31T22:59:60Z":            false,
		"2024-02-29T00:00:00Z":            true,
		"2023-02-29T00:00:00Z":            false,
		"2024-02-30T10:15:00.000Z":        false,
		"2026-11-27 10:00:00Z":            false,
		"2026-11-27T10:00:00":             false,
		"2026-11-27T10:00:00.Z":           false,
		"2026-11-27T24:00:00Z":            false,
		"2026-11-27T10:00:00+0100":        false,
		"+026-11-27T10:00:00Z":            false,
	} {
		if got := validDateTime(s); got != want {
			t.Errorf("%s: %v, want %v", s, got, want)
		}
	}
}

// FuzzDateTime: what validDateTime accepts, the JSON Schema library's
// "date-time" format accepts too, so that a route's schema never passes
// a timestamp that the timestamp check then refuses. (The library is
// laxer in one way: it reads numeric fields with strconv.Atoi, which
// takes a sign, "+1"; RFC 3339 allows digits only.)
func FuzzDateTime(f *testing.F) {
	for _, s := range []string{"2026-11-27T10:00:00Z", "2016-12-31T23:59:60Z", "2026-11-27t10:00:00.5+01:00", "2024-02-30T10:15:00Z", "2026-11-27T10:00:00+14:00"} {
		f.Add(s)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("dt.json", map[string]any{"type": "string", "format": "date-time"}); err != nil {
		f.Fatal(err)
	}
	sch, err := c.Compile("dt.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ours := validDateTime(s)
		lib := sch.Validate(s) == nil
		if ours && !lib {
			t.Fatalf("%q: accepted here, refused by the schema's date-time format", s)
		}
		if lib && !ours && plainDigits(s) {
			t.Fatalf("%q: refused here, accepted by the schema's date-time format", s)
		}
	})
}

// plainDigits reports whether the numeric fields of s (positions of a
// date-time) hold digits only, where the library would also take signs.
func plainDigits(s string) bool {
	for _, r := range [][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}} {
		if len(s) < r[1] {
			return true
		}
		if _, ok := digits(s[r[0]:r[1]]); !ok {
			return false
		}
	}
	if n := len(s); n >= 6 && (s[n-6] == '+' || s[n-6] == '-') {
		if _, ok := digits(s[n-5 : n-3]); !ok {
			return false
		}
		if _, ok := digits(s[n-2:]); !ok {
			return false
		}
	}
	return true
}

// TestSchemaFileErrors: a schema file that is not JSON, or not a valid
// JSON Schema, is reported in terms of the file, on one line.
func TestSchemaFileErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ content, want string }{
		"truncated":  {`{"type": "object", "properties": {`, "not JSON: the file ends before its JSON does"},
		"bad text":   {`{"type": x}`, "not JSON: unexpected text at byte 10"},
		"bad schema": {`{"type": "objectt"}`, "not a valid JSON Schema: /type: value must be one of"},
	} {
		f := filepath.Join(dir, name+".json")
		if err := os.WriteFile(f, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := CompileSchema(f)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "failing loading") {
			t.Errorf("%s: %v, want %q on one line", name, err, tc.want)
		}
	}
}
