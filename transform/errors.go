package transform

import (
	"errors"
	"fmt"
)

// ErrInvalid matches (with errors.Is) every *InvalidError: the record itself
// is bad and goes to the DLQ at once, without any call to CXone.
var ErrInvalid = errors.New("invalid record")

// ErrSkip matches (with errors.Is) the *SkipError returned for a record
// that is deliberately not published and needs no DLQ entry: a tombstone
// under the "skip" policy, or a record no route's filter took. Commit it.
var ErrSkip = errors.New("record skipped")

// SkipError is a skipped record: why ([ReasonTombstone] or
// [ReasonFiltered]), and its correlation id for the log line.
type SkipError struct {
	CorrelationID string
	Reason        string
}

func (e *SkipError) Error() string { return ErrSkip.Error() + ": " + e.Reason }

// Is makes errors.Is(err, ErrSkip) true.
func (e *SkipError) Is(target error) bool { return target == ErrSkip }

// Reasons of an InvalidError. They are stable: the DLQ envelope and metrics
// carry them, and operators filter on them.
const (
	ReasonNoRoute   = "no_route"  // no route matches the record's topic
	ReasonTombstone = "tombstone" // null value, route policy "dlq"
	ReasonTooLarge  = "too_large" // value over the route's max_value_bytes
	ReasonBadUTF8   = "bad_utf8"  // value is not valid UTF-8
	ReasonNotJSON   = "not_json"  // value does not parse as one JSON value
	// ReasonDuplicateMember: an object of the value has a member name twice;
	// validation would see one value and CXone's parser maybe the other.
	ReasonDuplicateMember = "duplicate_member"
	ReasonTooDeep         = "too_deep"     // nesting deeper than the route's max_depth
	ReasonNotObject       = "not_object"   // a JSON array, string, number, boolean or null
	ReasonSchema          = "schema"       // fails the route's JSON Schema
	ReasonBusinessKey     = "business_key" // business key absent, empty or not a string
	ReasonEventType       = "event_type"   // event type absent or not a valid name
	ReasonTimestamp       = "timestamp"    // timestamp field present but not RFC 3339
	ReasonKeyTemplate     = "key_template" // a value the idempotency-key template needs is missing
)

// InvalidError says why a record cannot become a CXone event. Detail is
// meant for people: it names the field paths involved, for example
// "/currency: does not match pattern '^[A-Z]{3}$'". It never contains more
// than a bounded excerpt of the record.
type InvalidError struct {
	Reason string // one of the Reason constants
	Detail string

	// CorrelationID is the record's correlation id, so that the DLQ entry
	// and the log line of an invalid record can still be traced.
	CorrelationID string
	// IdempotencyKey is the key the record's event would have had, when
	// it could be made despite the fault: a schema violation or a bad
	// timestamp (field or expression), with the event type and the
	// business key found by the route's pointer, header or CEL
	// expression, evaluated over the decoded record. "" when not: the
	// event type or the business key is missing (or its expression fails
	// on the record), a value the key template needs is missing, or the
	// value is not JSON.
	IdempotencyKey string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid record (%s): %s", e.Reason, e.Detail)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(reason, format string, args ...any) *InvalidError {
	return &InvalidError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
