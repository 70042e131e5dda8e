package transform

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// checkShape rejects nesting deeper than maxDepth before the value is
// decoded, in one pass that allocates nothing, so that a value of 100,000
// opening brackets costs microseconds and no memory. Brackets inside
// strings do not count. It also reports whether v has white space outside
// strings, which buildBody then compacts.
func checkShape(v []byte, maxDepth int) (spaced bool, _ *InvalidError) {
	depth, inString, escaped := 0, false, false
	for i, c := range v {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > maxDepth {
				return spaced, invalid(ReasonTooDeep, "value nests deeper than %d levels (at byte offset %d)", maxDepth, i)
			}
		case c == '}' || c == ']':
			depth--
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			spaced = true
		}
	}
	return spaced, nil
}

func firstBadUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}

// excerpt bounds s to n bytes (on a rune boundary) for messages.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:cut], len(s))
}

var printer = message.NewPrinter(language.English)

const maxSchemaMessages = 10

// schemaErrorText flattens a validation error into "path: message" items,
// like the reference producer's "/currency: must match pattern ...", with a
// missing or extra property named by its own path. At most
// maxSchemaMessages items are listed.
func schemaErrorText(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	var items []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		at := pointerText(e.InstanceLocation)
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, m := range k.Missing {
				items = append(items, join(at, m)+": required property missing")
			}
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				items = append(items, join(at, p)+": property not allowed (additionalProperties is false)")
			}
		case *kind.FalseSchema:
			items = append(items, nonRoot(at)+": not allowed")
		default:
			msg := k.LocalizedString(printer)
			if len(msg) > 256 {
				msg = msg[:256] + "…"
			}
			items = append(items, nonRoot(at)+": "+msg)
		}
	}
	walk(ve)
	if len(items) == 0 {
		return "does not match the schema"
	}
	if len(items) > maxSchemaMessages {
		more := len(items) - maxSchemaMessages
		items = append(items[:maxSchemaMessages], fmt.Sprintf("and %d more", more))
	}
	return strings.Join(items, "; ")
}

func pointerText(loc []string) string {
	var b strings.Builder
	for _, tok := range loc {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

func join(at, prop string) string {
	return at + "/" + strings.ReplaceAll(strings.ReplaceAll(prop, "~", "~0"), "/", "~1")
}

func nonRoot(at string) string {
	if at == "" {
		return "(root)"
	}
	return at
}
