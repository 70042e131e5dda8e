package registry

import (
	"errors"
	"fmt"
	"strconv"
)

// The four classes of failure. Every error a Decoder returns matches exactly
// one of them with errors.Is (it is an *Error), so that the caller can tell
// a record that belongs in the dead-letter queue from a registry that must be
// waited for.
var (
	// ErrUnavailable: the registry could not answer (unreachable, timeout,
	// 5xx, 401/403, a 404 that is not a registry "not found", an answer
	// that is not a schema), or the caller's context ended. Systemic: the
	// record is not at fault; retry it later. Never cached.
	ErrUnavailable = errors.New("schema registry unavailable")

	// ErrUnknownSchema: the registry says it has no schema with the record's
	// id (404 with a 404xx registry error code), a schema it references is
	// missing, or the schema does not parse or compile.
	ErrUnknownSchema = errors.New("unknown schema")

	// ErrBadWireFormat: the record does not carry a valid Schema Registry
	// header (magic byte, schema id, Protobuf message indexes), or its
	// schema is of another type than the configured format demands.
	ErrBadWireFormat = errors.New("bad wire format")

	// ErrDecode: the payload does not decode against its schema (truncated,
	// trailing bytes, invalid UTF-8 in a string, an out-of-range union
	// branch, enum symbol, date or time, nesting too deep, ...).
	ErrDecode = errors.New("payload does not decode")
)

// ErrAuthentication refines ErrUnavailable: the registry refused the
// credentials (HTTP 401 or 403). It is not a fifth class: an error that
// matches it is an *Error of reason ReasonUnavailable with ErrAuthentication
// as its cause, so it matches ErrUnavailable too and is retried like any
// outage, while `bridge check` can tell a wrong API key from a registry
// that is down.
var ErrAuthentication = errors.New("schema registry authentication failed")

// Reasons of an Error. They are stable: a dead-letter envelope or a metric
// label may carry them.
const (
	ReasonUnavailable   = "registry_unavailable"
	ReasonUnknownSchema = "unknown_schema"
	ReasonBadWireFormat = "bad_wire_format"
	ReasonDecode        = "decode_error"
)

// Error is the error type of this package. Its Detail names the schema id
// and, when known, the subject, and never holds more than a bounded excerpt
// of the record (offsets and field paths, not payload bytes).
type Error struct {
	Reason   string // one of the Reason constants
	SchemaID int    // 0 when the header could not be read
	Subject  string // "" when not known
	Detail   string
	Err      error // underlying cause, if any (errors.Unwrap reaches it)
}

func (e *Error) Error() string {
	s := "registry: " + e.Reason
	if e.SchemaID != 0 {
		s += ": schema id " + strconv.Itoa(e.SchemaID)
		if e.Subject != "" {
			s += " (subject " + strconv.Quote(e.Subject) + ")"
		}
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is makes errors.Is(err, sentinel) true for the sentinel of e's Reason.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnavailable:
		return e.Reason == ReasonUnavailable
	case ErrUnknownSchema:
		return e.Reason == ReasonUnknownSchema
	case ErrBadWireFormat:
		return e.Reason == ReasonBadWireFormat
	case ErrDecode:
		return e.Reason == ReasonDecode
	}
	return false
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

func newError(reason string, id int, cause error, format string, args ...any) *Error {
	return &Error{Reason: reason, SchemaID: id, Detail: fmt.Sprintf(format, args...), Err: cause}
}

// withSubject returns err with the subject filled in when it is an *Error
// of this package that lacks one. Cached errors are shared, so it copies.
func withSubject(err error, subject string) error {
	var e *Error
	if subject == "" || !errors.As(err, &e) || e.Subject != "" {
		return err
	}
	c := *e
	c.Subject = subject
	return &c
}

// excerpt cuts s to at most n bytes (on a rune boundary when s is UTF-8),
// marking the cut; registry error bodies and library messages go through it.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && i > n-4 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "…"
}
