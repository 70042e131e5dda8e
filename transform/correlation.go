package transform

import (
	"strconv"
	"strings"
	"unsafe"

	"github.com/google/uuid"
)

// Correlation configures where a record's correlation id comes from
// (docs/design.md §6).
type Correlation struct {
	// Headers are tried in order, names compared case-insensitively; the
	// first present and valid one wins. The name "traceparent" takes the
	// trace id of a W3C traceparent header. Nil: [DefaultCorrelationHeaders];
	// empty but not nil: none, every id is derived.
	Headers []string
	// MaxLength bounds an accepted id; longer header values are not used.
	// Default [DefaultCorrelationMaxLength].
	MaxLength int
}

// DefaultCorrelationHeaders returns the default [Correlation.Headers]: the
// usual correlation headers, then a W3C traceparent's trace id.
func DefaultCorrelationHeaders() []string {
	return []string{"x-correlation-id", "correlation-id", "correlation_id", "traceparent"}
}

// WithDefaults returns c with its unset fields set to their defaults.
func (c Correlation) WithDefaults() Correlation {
	if c.Headers == nil {
		c.Headers = DefaultCorrelationHeaders()
	}
	if c.MaxLength <= 0 {
		c.MaxLength = DefaultCorrelationMaxLength
	}
	return c
}

// Correlation sources reported in Event.CorrelationSource.
const (
	SourceDerived = "derived" // no usable header: derived from topic/partition/offset
)

// derivedNamespace is the UUID namespace of derived correlation ids.
var derivedNamespace = uuid.MustParse("6ba7b811-9dad-11d1-80b4-00c04fd430c8") // RFC 4122 URL namespace

// correlation is the correlation of one record, as correlate found it.
// id (when idView) and traceparent are views of the record's header
// bytes, valid while the record is unchanged: what outlives the transform
// is copied (into the Event's buffer, or with strings.Clone).
type correlation struct {
	id, source, traceparent, note string
	idView                        bool
}

// ownedID is the correlation id as a string of its own.
func (c *correlation) ownedID() string {
	if c.idView {
		return strings.Clone(c.id)
	}
	return c.id
}

// correlate picks the correlation id of rec. It never returns a value that
// could not travel in an HTTP header: header values with bytes outside
// printable ASCII (CR, LF, NUL, UTF-8 ...), or longer than MaxLength, are
// passed over, and the reason is returned in note for the log. When no
// header qualifies the id is derived from topic, partition and offset, so
// that retries and redeliveries of the record keep it.
func (c *Correlation) correlate(rec *Record) correlation {
	var out correlation
	tp, hasTP := rec.header("traceparent")
	if hasTP && !validTraceparent(tp) {
		out.note = "traceparent header is malformed; not passed on"
		hasTP = false
	}
	if hasTP {
		out.traceparent = view(tp)
	}
	for _, name := range c.Headers {
		if name == "traceparent" {
			if hasTP {
				out.id, out.idView, out.source = view(tp[3:35]), true, "traceparent"
				return out
			}
			continue
		}
		v, ok := rec.header(name)
		if !ok {
			continue
		}
		s, why := sanitize(v, c.MaxLength)
		if why != "" {
			if out.note == "" {
				out.note = name + " header " + why + "; not used"
			}
			continue
		}
		out.id, out.idView, out.source = s, true, name
		return out
	}
	var name [128]byte
	b := append(name[:0], derivedNamespace[:]...)
	b = append(b, rec.Topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(rec.Partition), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, rec.Offset, 10)
	out.id, out.source = uuidV5(b), SourceDerived
	return out
}

// view is b as a string without copying: valid while b is unchanged.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// sanitize accepts v as a correlation id when, after trimming spaces, it is
// 1..max bytes of printable ASCII (0x20-0x7E). Otherwise it says why not.
// The id is a view of v.
func sanitize(v []byte, max int) (string, string) {
	s := strings.TrimSpace(view(v))
	switch {
	case s == "":
		return "", "is empty"
	case len(s) > max:
		return "", "is longer than " + strconv.Itoa(max) + " bytes"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return "", "contains control or non-ASCII characters"
		}
	}
	return s, ""
}

// validTraceparent checks a W3C Trace Context traceparent value:
// version "-" trace-id "-" parent-id "-" flags, all lowercase hex, with an
// all-zero trace or parent id and version ff invalid. Versions above 00 may
// carry more fields after the flags.
func validTraceparent(v []byte) bool {
	if len(v) < 55 || len(v) > 256 || (len(v) > 55 && (v[55] != '-' || string(v[:2]) == "00")) {
		return false
	}
	for _, c := range v[55:] {
		if c <= 0x20 || c > 0x7e {
			return false
		}
	}
	if v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return false
	}
	if !isLowerHex(v[0:2]) || string(v[0:2]) == "ff" || !isLowerHex(v[3:35]) || !isLowerHex(v[36:52]) || !isLowerHex(v[53:55]) {
		return false
	}
	return !allZero(v[3:35]) && !allZero(v[36:52])
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != '0' {
			return false
		}
	}
	return true
}
