// Package dlq defines the dead-letter envelope (docs/dlq.md): the headers the
// bridge adds to a record it parks in a dead-letter topic, and how to build
// and read such records.
//
// A DLQ record is a new record, never the consumed one re-produced: it
// keeps the original key, value and headers byte for byte, and appends the
// envelope headers, all named with the prefix "cxone-bridge." (Prefix).
// Its Kafka timestamp is the time it was dead-lettered (the
// "cxone-bridge.failed.at" header), not the source record's, which the
// envelope keeps in "cxone-bridge.source.timestamp": time-based retention
// of the dead-letter topic then counts from when the record got there, and
// a topic with a message.timestamp.before.max.ms limit accepts it however
// old the source record is.
// The format is versioned by the header "cxone-bridge.version"; this is
// version 1, documented in docs/dlq.md. Readers must ignore envelope headers
// they do not know, and writers only add headers within a version.
package dlq

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Prefix starts the name of every envelope header.
const Prefix = "cxone-bridge."

// Version is the envelope format written by this package.
const Version = 1

// Envelope header names (version 1).
const (
	HeaderVersion        = Prefix + "version"
	HeaderClass          = Prefix + "error.class"
	HeaderReason         = Prefix + "error.reason"
	HeaderMessage        = Prefix + "error.message"
	HeaderHTTPStatus     = Prefix + "http.status"
	HeaderResponse       = Prefix + "http.response"
	HeaderTopic          = Prefix + "source.topic"
	HeaderPartition      = Prefix + "source.partition"
	HeaderOffset         = Prefix + "source.offset"
	HeaderTimestamp      = Prefix + "source.timestamp"
	HeaderAttempts       = Prefix + "attempts"
	HeaderFailedAt       = Prefix + "failed.at"
	HeaderCorrelationID  = Prefix + "correlation.id"
	HeaderIdempotencyKey = Prefix + "idempotency.key"
	HeaderReplayCount    = Prefix + "replay.count"
	// HeaderValueOmitted, when present, holds the size in bytes of the
	// original value, which was too large for the dead-letter topic and was
	// left out; the record's value is then empty. Read the original at the
	// source offset.
	HeaderValueOmitted = Prefix + "value.omitted"
)

// Error classes that reach the DLQ. Transient and systemic failures never
// do (docs/reliability.md, failure classes).
const (
	ClassInvalid  = "invalid"  // the record itself is bad; no HTTP call was made
	ClassRejected = "rejected" // CXone refused it (400, 413, 422, other 4xx), or kept failing it while accepting others
)

// ReasonPersistentFailure is the reason of a rejected record that CXone kept
// failing (5xx, timeouts, 403 ...) while it accepted other records, until
// the bridge gave up on it (docs/dlq.md).
const ReasonPersistentFailure = "persistent_failure"

// Bounds on the free-text headers, so that a DLQ record stays small and a
// huge error answer cannot bloat the topic.
const (
	MaxMessageBytes  = 1024
	MaxResponseBytes = 2048
)

// MaxReasonBytes bounds the reason code (cxone-bridge.error.reason).
const MaxReasonBytes = 64

// MaxReplayCount is the largest replay count the envelope carries. A
// cxone-bridge.replay.count that is not an integer from 0 to
// MaxReplayCount (negative, absurd, garbled) is not the bridge's: any
// producer can write that header, on a source record as on a DLQ record.
// Parse ignores it (the record reads as never replayed, and
// Envelope.IgnoredReplayCount keeps what was there) and NewRecord does not
// copy it, so a forged count can neither make a dead letter unreadable nor
// unreplayable. The count only guards against a record looping between
// the DLQ and its topic; a replay refuses records long before this bound
// (dlqtool: --max-replays, at most MaxReplayCount).
const MaxReplayCount = 1000

// KnownClass reports whether class is an error class of this version.
func KnownClass(class string) bool { return class == ClassInvalid || class == ClassRejected }

// ValidTopic reports whether s is a valid Kafka topic name: 1 to 249
// characters of [a-zA-Z0-9._-], neither "." nor "..".
func ValidTopic(s string) bool {
	if len(s) == 0 || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidReason reports whether s is a reason code: 1 to MaxReasonBytes
// characters of [a-z0-9_].
func ValidReason(s string) bool {
	if len(s) == 0 || len(s) > MaxReasonBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// replayCount reads a replay count header value: ok is false when it is
// not a decimal integer from 0 to MaxReplayCount.
func replayCount(v string) (n int, ok bool) {
	if v == "" || len(v) > 4 || v[0] == '+' || v[0] == '-' {
		return 0, false
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 || i > MaxReplayCount {
		return 0, false
	}
	return i, true
}

// Failure is why a record goes to the DLQ.
type Failure struct {
	Class          string // ClassInvalid or ClassRejected
	Reason         string // stable code, e.g. "schema", "not_json", "http_422"
	Message        string // for people; bounded to MaxMessageBytes
	HTTPStatus     int    // 0 when no HTTP call was made
	Response       string // excerpt of CXone's answer; bounded to MaxResponseBytes
	Attempts       int
	CorrelationID  string
	IdempotencyKey string
}

// Envelope is a Failure read back from a DLQ record, with the source
// coordinates and the replay count.
type Envelope struct {
	Version int
	Failure
	Topic       string
	Partition   int32
	Offset      int64
	Timestamp   time.Time
	FailedAt    time.Time
	ReplayCount int
	// IgnoredReplayCount is the cxone-bridge.replay.count header when it
	// was present but not a count from 0 to MaxReplayCount (forged or
	// garbled; bounded to 64 bytes of valid UTF-8): ReplayCount is then 0.
	IgnoredReplayCount string
	// ValueOmitted is the size of the original value when it was too large
	// for the DLQ and left out (0 otherwise).
	ValueOmitted int
}

// NewRecord builds the DLQ record for src: src's key, value and headers
// unchanged (envelope headers src already carried, from an earlier trip
// through the DLQ, are dropped, except that the replay count is kept when
// it is a count Parse accepts: the first cxone-bridge.replay.count header,
// from 0 to MaxReplayCount; otherwise the count starts again at 0),
// followed by the envelope. The record has no partition set: with the
// default partitioner the key decides it, as for the source.
//
// The record's timestamp is failedAt, the instant also written to
// HeaderFailedAt, both cut to the millisecond that Kafka stores; src's
// timestamp goes to HeaderTimestamp only. A DLQ record must not carry the
// source timestamp: after a long catch-up the dead-letter topic's
// retention would delete it soon after the source offset was committed,
// and a topic with message.timestamp.before.max.ms would refuse it.
func NewRecord(src *kgo.Record, topic string, f *Failure, failedAt time.Time) *kgo.Record {
	failedAt = time.UnixMilli(failedAt.UnixMilli()).UTC()
	replays, seenReplays := 0, false
	headers := make([]kgo.RecordHeader, 0, len(src.Headers)+15)
	for _, h := range src.Headers {
		if strings.HasPrefix(h.Key, Prefix) {
			if h.Key == HeaderReplayCount && !seenReplays {
				seenReplays = true
				replays, _ = replayCount(string(h.Value))
			}
			continue
		}
		headers = append(headers, h)
	}
	add := func(k, v string) {
		headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	add(HeaderVersion, strconv.Itoa(Version))
	add(HeaderClass, f.Class)
	add(HeaderReason, f.Reason)
	add(HeaderMessage, bound(f.Message, MaxMessageBytes))
	if f.HTTPStatus != 0 {
		add(HeaderHTTPStatus, strconv.Itoa(f.HTTPStatus))
	}
	if f.Response != "" {
		add(HeaderResponse, bound(f.Response, MaxResponseBytes))
	}
	add(HeaderTopic, src.Topic)
	add(HeaderPartition, strconv.FormatInt(int64(src.Partition), 10))
	add(HeaderOffset, strconv.FormatInt(src.Offset, 10))
	add(HeaderTimestamp, src.Timestamp.UTC().Format(time.RFC3339Nano))
	add(HeaderAttempts, strconv.Itoa(f.Attempts))
	add(HeaderFailedAt, failedAt.Format(time.RFC3339Nano))
	if f.CorrelationID != "" {
		add(HeaderCorrelationID, f.CorrelationID)
	}
	if f.IdempotencyKey != "" {
		add(HeaderIdempotencyKey, f.IdempotencyKey)
	}
	add(HeaderReplayCount, strconv.Itoa(replays))
	return &kgo.Record{
		Topic:     topic,
		Key:       src.Key,
		Value:     src.Value,
		Headers:   headers,
		Timestamp: failedAt,
	}
}

// OmitValue drops the value of a DLQ record built by NewRecord, noting the
// original size in the HeaderValueOmitted header. The consumer uses it when
// the dead-letter topic refuses the record as too large.
func OmitValue(r *kgo.Record, size int) {
	r.Value = nil
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderValueOmitted, Value: []byte(strconv.Itoa(size))})
}

// ErrNoEnvelope is returned by Parse for a record without envelope headers.
var ErrNoEnvelope = errors.New("dlq: record has no envelope headers")

// Parse reads the envelope of a DLQ record and returns it with the
// record's original headers (those outside the envelope). A record of an
// unknown newer version, or with a missing or garbled required header, is
// an error that names the header; it never panics on any input.
//
// Any producer can write a DLQ topic, so Parse checks what the tools act
// on or print (docs/dlq.md, "Validation"): the source topic is a valid
// Kafka topic name, the class a known one, the reason a code of
// [a-z0-9_] of at most MaxReasonBytes, partition, offset, attempts and
// the omitted size non-negative integers, the HTTP status three digits
// (100-999), the times RFC 3339. A replay count that is not from 0 to
// MaxReplayCount is ignored, not an error (MaxReplayCount). When several
// headers have the same name, the first counts.
func Parse(headers []kgo.RecordHeader) (*Envelope, []kgo.RecordHeader, error) {
	var env Envelope
	var orig []kgo.RecordHeader
	seen := map[string]string{}
	for _, h := range headers {
		if !strings.HasPrefix(h.Key, Prefix) {
			orig = append(orig, h)
			continue
		}
		if _, dup := seen[h.Key]; !dup {
			seen[h.Key] = string(h.Value)
		}
	}
	if len(seen) == 0 {
		return nil, orig, ErrNoEnvelope
	}
	var problems []string
	bad := func(name, why string) { problems = append(problems, name+": "+why) }
	req := func(name string) (string, bool) {
		v, ok := seen[name]
		if !ok {
			bad(name, "missing")
		}
		return v, ok
	}
	integer := func(name string, required bool, bits int) int64 {
		v, ok := seen[name]
		if !ok {
			if required {
				bad(name, "missing")
			}
			return 0
		}
		n, err := strconv.ParseInt(v, 10, bits)
		if err != nil || n < 0 {
			bad(name, "not a non-negative integer: "+quote(v))
		}
		return n
	}
	when := func(name string) time.Time {
		v, ok := req(name)
		if !ok {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			bad(name, "not an RFC 3339 time: "+quote(v))
		}
		return t
	}
	env.Version = int(integer(HeaderVersion, true, 32))
	if env.Version > Version {
		return nil, orig, fmt.Errorf("dlq: envelope version %d is newer than this bridge reads (%d)", env.Version, Version)
	}
	if env.Version < 1 && len(problems) == 0 {
		bad(HeaderVersion, "must be at least 1")
	}
	if v, ok := req(HeaderClass); ok {
		if KnownClass(v) {
			env.Class = v
		} else {
			bad(HeaderClass, "not a known class ("+ClassInvalid+" or "+ClassRejected+"): "+quote(v))
		}
	}
	if v, ok := req(HeaderReason); ok {
		if ValidReason(v) {
			env.Reason = v
		} else {
			bad(HeaderReason, "not a reason code (1 to "+strconv.Itoa(MaxReasonBytes)+" of a-z, 0-9, _): "+quote(v))
		}
	}
	env.Message = seen[HeaderMessage]
	if v, ok := seen[HeaderHTTPStatus]; ok {
		if n, err := strconv.Atoi(v); err != nil || n < 100 || n > 999 || v[0] == '+' {
			bad(HeaderHTTPStatus, "not an HTTP status (100 to 999): "+quote(v))
		} else {
			env.HTTPStatus = n
		}
	}
	env.Response = seen[HeaderResponse]
	if v, ok := req(HeaderTopic); ok {
		if ValidTopic(v) {
			env.Topic = v
		} else {
			bad(HeaderTopic, "not a valid Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-'; not '.' or '..'): "+quote(v))
		}
	}
	env.Partition = int32(integer(HeaderPartition, true, 32))
	env.Offset = integer(HeaderOffset, true, 64)
	env.Timestamp = when(HeaderTimestamp)
	env.Attempts = int(integer(HeaderAttempts, false, 32))
	env.FailedAt = when(HeaderFailedAt)
	env.CorrelationID = seen[HeaderCorrelationID]
	env.IdempotencyKey = seen[HeaderIdempotencyKey]
	if v, ok := seen[HeaderReplayCount]; ok {
		if n, valid := replayCount(v); valid {
			env.ReplayCount = n
		} else {
			env.IgnoredReplayCount = bound(v, 64)
		}
	}
	env.ValueOmitted = int(integer(HeaderValueOmitted, false, 32))
	if len(problems) > 0 {
		return nil, orig, fmt.Errorf("dlq: malformed envelope: %s", strings.Join(problems, "; "))
	}
	return &env, orig, nil
}

// bound cuts s to at most n bytes on a rune boundary, marking the cut, and
// replaces bytes that are not valid UTF-8.
func bound(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func quote(s string) string { return strconv.Quote(bound(s, 64)) }
