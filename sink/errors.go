package sink

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cxone-bridge/bridge/redact"
)

// Class is the failure class of an event that CXone did not accept (docs/reliability.md).
type Class int

const (
	// ClassRejected: CXone refused this event (400, 413, 422 and other 4xx
	// not listed as transient or systemic). Retrying will not help; the
	// caller writes the record to the DLQ.
	ClassRejected Class = iota + 1
	// ClassTransient: 408, 425, 429, 500, 502, 503, 504 and other 5xx,
	// connection errors and timeouts. Publish has already retried; the
	// caller should retry later and never DLQ by default.
	ClassTransient
	// ClassSystemic: not the event's fault (401 after one forced token
	// refresh, 403, 404, 405, 501, 505, 3xx, token endpoint down or refusing,
	// TLS failure). Publish returns it at once without retrying; the caller
	// pauses, reports not-ready and retries later; never DLQ.
	ClassSystemic
	// ClassPersistent: the event kept failing (transient or systemic
	// answers) while CXone answered other events, past the bounds of
	// Config.Poison: its failures are its own, not an outage's (see the
	// package documentation, "Persistent failures"). Status and Excerpt are
	// those of its last failure, Attempts counts every HTTP request made
	// for it since its first failure, and Verdict says why. The caller
	// gives up on it (the bridge dead-letters it). Never returned while no
	// other event is answered.
	ClassPersistent
)

func (c Class) String() string {
	switch c {
	case ClassRejected:
		return "rejected"
	case ClassTransient:
		return "transient"
	case ClassSystemic:
		return "systemic"
	case ClassPersistent:
		return "persistent"
	}
	return "Class(" + strconv.Itoa(int(c)) + ")"
}

// Sentinels for errors.Is: every [*Error] matches the one of its class.
var (
	ErrRejected  = errors.New("sink: rejected by CXone")
	ErrTransient = errors.New("sink: transient failure")
	ErrSystemic  = errors.New("sink: systemic failure")
	// ErrPersistent matches a ClassPersistent error.
	ErrPersistent = errors.New("sink: persistent failure")
	// ErrStopped is wrapped (with no class) by a Publish that was waiting
	// (for the breaker, the 429 cooldown, the rate limiter or a backoff)
	// when [Publisher.StopWaiting] was called: the caller is shutting down.
	// Its text has no "sink: ": it is only ever seen inside the error that
	// wraps it, which has.
	ErrStopped = errors.New("stopped waiting: shutting down")
	// ErrInvalidEvent is wrapped (class rejected) when an [Event] cannot be
	// sent at all: nil, empty body or key, or a header value with control
	// or non-ASCII characters. Like ErrStopped, its text has no "sink: ".
	ErrInvalidEvent = errors.New("invalid event")
)

func (c Class) sentinel() error {
	switch c {
	case ClassRejected:
		return ErrRejected
	case ClassTransient:
		return ErrTransient
	case ClassSystemic:
		return ErrSystemic
	case ClassPersistent:
		return ErrPersistent
	}
	return nil
}

// FieldError is one field-level complaint from a 422 answer.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is returned by [Publisher.Publish] for every classified failure. Use
// errors.As to read it, or errors.Is with [ErrRejected], [ErrTransient],
// [ErrSystemic], [ErrPersistent].
type Error struct {
	Class Class
	// Status is the HTTP status of the last answer, 0 when there was none
	// (connection error, timeout, invalid event).
	Status int
	// Excerpt is the start of the last answer's body, scrubbed of the
	// credentials (package redact: the tokens, the secrets, their
	// encodings, credential fields and Authorization values), valid UTF-8,
	// at most MaxExcerptBytes (and Config.MaxResponseBytes) long;
	// Truncated tells whether there was more.
	Excerpt   string
	Truncated bool
	// Fields holds the field errors of a 422 answer, when it listed any,
	// scrubbed like Excerpt and bounded.
	Fields []FieldError
	// RetryAfter is the (capped) wait the server asked for with its last
	// answer, 0 when it asked none.
	RetryAfter time.Duration
	// Attempts is the number of HTTP requests made for the event.
	Attempts int
	// Err is the underlying cause (transport error, *TokenError,
	// *DiscoveryError), if any; for ClassPersistent, the event's last
	// failure (an *Error). It never holds an answer's body.
	Err error
	// Verdict, for ClassPersistent only, says why the event was given up on.
	Verdict *Verdict
}

const maxExcerptInMessage = 200

// Error describes the failure in at most 1 KiB. Its parts that came from
// outside (excerpt, field errors, token endpoint's description) were
// scrubbed when the Error was made.
func (e *Error) Error() string { return e.describe("sink: ") }

// describe is Error's text after prefix ("" where the text goes into
// another error of this package, which has the prefix already).
func (e *Error) describe(prefix string) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteString(e.Class.String())
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Attempts > 0 {
		fmt.Fprintf(&b, " after %d attempt(s)", e.Attempts)
	}
	if e.Verdict != nil {
		b.WriteString(": ")
		b.WriteString(e.Verdict.String())
		return redact.Truncate(b.String(), maxErrorMessage) // the last failure (Err) has its own Error()
	}
	var te *TokenError
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
		if errors.As(e.Err, &te) {
			return redact.Truncate(b.String(), maxErrorMessage) // its description is the excerpt's start
		}
	}
	if len(e.Fields) > 0 {
		b.WriteString(": fields: ")
		for i, f := range e.Fields {
			if i == 5 {
				fmt.Fprintf(&b, "; and %d more", len(e.Fields)-i)
				break
			}
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(redact.Truncate(f.Field, maxExcerptInMessage/2))
			b.WriteString(": ")
			b.WriteString(redact.Truncate(f.Message, maxExcerptInMessage/2))
		}
	} else if e.Excerpt != "" {
		b.WriteString(": ")
		b.WriteString(strconv.Quote(redact.Truncate(e.Excerpt, maxExcerptInMessage)))
	}
	return redact.Truncate(b.String(), maxErrorMessage)
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's class.
func (e *Error) Is(target error) bool {
	return target != nil && target == e.Class.sentinel()
}

// Limits applied to field errors parsed from an answer.
const (
	maxFieldErrors   = 100
	maxFieldErrorLen = 512
)

// parseFieldErrors extracts field errors from a 422 answer. CXone's exact
// shape is undocumented, so it accepts the common ones: a top-level array, or
// an object with one of errors/fieldErrors/field_errors/details/violations/
// validationErrors holding an array of objects or strings, or an object
// mapping field to message(s). Within an item the field is read from
// field/path/pointer/name/property/instancePath/loc and the message from
// message/msg/error/detail/description/reason. It never fails: unknown shapes
// give nil. Output is bounded (count and length), valid UTF-8 and scrubbed
// by sc (nil: by the rules of package redact only).
func parseFieldErrors(body []byte, sc *redact.Scrubber) []FieldError {
	var root any
	if err := json.Unmarshal(body, &root); err != nil {
		return nil
	}
	var out []FieldError
	switch v := root.(type) {
	case []any:
		out = fieldErrorsFromList(v, sc)
	case map[string]any:
		for _, k := range []string{"errors", "fieldErrors", "field_errors", "details", "violations", "validationErrors"} {
			switch list := v[k].(type) {
			case []any:
				out = fieldErrorsFromList(list, sc)
			case map[string]any:
				out = fieldErrorsFromMap(list, sc)
			}
			if len(out) > 0 {
				return out
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func fieldErrorsFromList(list []any, sc *redact.Scrubber) []FieldError {
	var out []FieldError
	for _, it := range list {
		if len(out) == maxFieldErrors {
			break
		}
		switch v := it.(type) {
		case string:
			out = append(out, newFieldError("", v, sc))
		case map[string]any:
			field := firstString(v, ".", "field", "path", "pointer", "name", "property", "instancePath", "loc")
			msg := firstString(v, "; ", "message", "msg", "error", "detail", "description", "reason")
			if field == "" && msg == "" {
				continue
			}
			out = append(out, newFieldError(field, msg, sc))
		}
	}
	return out
}

func fieldErrorsFromMap(m map[string]any, sc *redact.Scrubber) []FieldError {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []FieldError
	for _, k := range keys {
		if len(out) == maxFieldErrors {
			break
		}
		if s := stringOf(m[k], "; "); s != "" {
			out = append(out, newFieldError(k, s, sc))
		}
	}
	return out
}

// firstString returns the first of keys whose value renders as a string.
func firstString(m map[string]any, sep string, keys ...string) string {
	for _, k := range keys {
		if s := stringOf(m[k], sep); s != "" {
			return s
		}
	}
	return ""
}

// stringOf renders strings, numbers and arrays of them (e.g. a "loc" path or
// a list of messages, joined with sep); anything else gives "".
func stringOf(v any, sep string) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			if len(parts) == 16 {
				break
			}
			switch y := e.(type) {
			case string:
				parts = append(parts, y)
			case float64:
				parts = append(parts, strconv.FormatFloat(y, 'f', -1, 64))
			}
		}
		return strings.Join(parts, sep)
	}
	return ""
}

func newFieldError(field, msg string, sc *redact.Scrubber) FieldError {
	return FieldError{Field: sc.ScrubString(field, maxFieldErrorLen), Message: sc.ScrubString(msg, maxFieldErrorLen)}
}

// answerID is the fast path of reading CXone's answer {"id":"…"}: when body
// is exactly one object whose only member is "id" with a string value that
// has no escapes (white space allowed between tokens), it returns the value
// and true. Anything else returns false, and the caller decodes with
// encoding/json. FuzzAnswerID checks it never disagrees with encoding/json.
// (encoding/json spent about 3% of the bridge's CPU on this at 0 ms.)
func answerID(body []byte) (string, bool) {
	i := 0
	space := func() {
		for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r') {
			i++
		}
	}
	lit := func(s string) bool {
		if len(body)-i < len(s) || string(body[i:i+len(s)]) != s {
			return false
		}
		i += len(s)
		return true
	}
	space()
	if !lit("{") {
		return "", false
	}
	space()
	if !lit(`"id"`) {
		return "", false
	}
	space()
	if !lit(":") {
		return "", false
	}
	space()
	if !lit(`"`) {
		return "", false
	}
	start := i
	for i < len(body) && body[i] != '"' {
		if c := body[i]; c == '\\' || c < 0x20 || c >= 0x80 {
			return "", false // escapes, control bytes, non-ASCII: encoding/json's job
		}
		i++
	}
	if i == len(body) {
		return "", false
	}
	id := string(body[start:i])
	i++
	space()
	if !lit("}") {
		return "", false
	}
	space()
	if i != len(body) {
		return "", false
	}
	return id, true
}

// fromTokenEndpoint reports whether e is the token endpoint's failure (its
// Status is the token endpoint's, not the events endpoint's).
func (e *Error) fromTokenEndpoint() bool {
	var te *TokenError
	return errors.As(e.Err, &te)
}
