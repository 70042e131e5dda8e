package dlqtool

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/dlq"
)

// Filter selects the DLQ records a replay acts on, and those inspect
// counts and shows. The zero Filter selects every record. All set criteria
// must hold (they are ANDed); within Classes, Reasons, SourceTopics and
// Offsets any one entry is enough (ORed): --reason schema --reason
// http_422 selects both.
type Filter struct {
	// Classes are error classes (dlq.ClassInvalid, dlq.ClassRejected).
	Classes []string
	// Reasons are case-insensitive substrings of the reason code
	// (cxone-bridge.error.reason) or of the message
	// (cxone-bridge.error.message).
	Reasons []string
	// SourceTopics are the topics named in the envelope.
	SourceTopics []string
	// Message, when set, must match the message
	// (cxone-bridge.error.message): an unanchored regular expression, as
	// regexp.MatchString reads it.
	Message *regexp.Regexp
	// FailedFrom and FailedUntil bound the failure time
	// (cxone-bridge.failed.at): FailedFrom <= t < FailedUntil. Zero: open.
	FailedFrom, FailedUntil time.Time
	// Offsets are ranges of offsets in the DLQ topic.
	Offsets []OffsetRange
}

// Empty reports whether f selects every record.
func (f *Filter) Empty() bool {
	return len(f.Classes) == 0 && len(f.Reasons) == 0 && len(f.SourceTopics) == 0 && f.Message == nil &&
		f.FailedFrom.IsZero() && f.FailedUntil.IsZero() && len(f.Offsets) == 0
}

// Validate reports criteria that can never match: unknown classes, an
// empty time range.
func (f *Filter) Validate() error {
	for _, c := range f.Classes {
		if c != dlq.ClassInvalid && c != dlq.ClassRejected {
			return fmt.Errorf("unknown error class %q: want %s or %s", c, dlq.ClassInvalid, dlq.ClassRejected)
		}
	}
	if !f.FailedFrom.IsZero() && !f.FailedUntil.IsZero() && !f.FailedFrom.Before(f.FailedUntil) {
		return fmt.Errorf("empty failure-time range: %s is not before %s",
			f.FailedFrom.Format(time.RFC3339), f.FailedUntil.Format(time.RFC3339))
	}
	return nil
}

// Match reports whether the DLQ record r, whose envelope is env, is
// selected.
func (f *Filter) Match(r *kgo.Record, env *dlq.Envelope) bool {
	if len(f.Classes) > 0 && !slices.Contains(f.Classes, env.Class) {
		return false
	}
	if len(f.Reasons) > 0 {
		reason, msg := strings.ToLower(env.Reason), strings.ToLower(env.Message)
		if !slices.ContainsFunc(f.Reasons, func(want string) bool {
			s := strings.ToLower(want)
			return strings.Contains(reason, s) || strings.Contains(msg, s)
		}) {
			return false
		}
	}
	if len(f.SourceTopics) > 0 && !slices.Contains(f.SourceTopics, env.Topic) {
		return false
	}
	if f.Message != nil && !f.Message.MatchString(env.Message) {
		return false
	}
	if !f.FailedFrom.IsZero() && env.FailedAt.Before(f.FailedFrom) {
		return false
	}
	if !f.FailedUntil.IsZero() && !env.FailedAt.Before(f.FailedUntil) {
		return false
	}
	if len(f.Offsets) > 0 && !slices.ContainsFunc(f.Offsets, func(o OffsetRange) bool { return o.Contains(r.Partition, r.Offset) }) {
		return false
	}
	return true
}

// String describes f for people ("all records" when empty).
func (f *Filter) String() string {
	var parts []string
	if len(f.Classes) > 0 {
		parts = append(parts, "class in "+strings.Join(f.Classes, ","))
	}
	if len(f.Reasons) > 0 {
		var qs []string
		for _, r := range f.Reasons {
			qs = append(qs, strconv.Quote(r))
		}
		parts = append(parts, "reason/message contains "+strings.Join(qs, " or "))
	}
	if len(f.SourceTopics) > 0 {
		parts = append(parts, "source topic in "+strings.Join(f.SourceTopics, ","))
	}
	if f.Message != nil {
		parts = append(parts, "message matches "+strconv.Quote(f.Message.String()))
	}
	if !f.FailedFrom.IsZero() {
		parts = append(parts, "failed at or after "+f.FailedFrom.Format(time.RFC3339Nano))
	}
	if !f.FailedUntil.IsZero() {
		parts = append(parts, "failed before "+f.FailedUntil.Format(time.RFC3339Nano))
	}
	if len(f.Offsets) > 0 {
		var os []string
		for _, o := range f.Offsets {
			os = append(os, o.String())
		}
		parts = append(parts, "DLQ offsets in "+strings.Join(os, ","))
	}
	if len(parts) == 0 {
		return "all records"
	}
	return strings.Join(parts, " and ")
}

// OffsetRange is an inclusive range of offsets in the DLQ topic, in one
// partition or in all of them.
type OffsetRange struct {
	Partition int32 // -1: every partition
	From      int64 // first offset, inclusive
	To        int64 // last offset, inclusive; -1: no upper bound
}

// Contains reports whether offset o of partition p is in the range.
func (r OffsetRange) Contains(p int32, o int64) bool {
	if r.Partition >= 0 && p != r.Partition {
		return false
	}
	return o >= r.From && (r.To < 0 || o <= r.To)
}

// String formats r in the syntax ParseOffsetRange reads.
func (r OffsetRange) String() string {
	var b strings.Builder
	if r.Partition >= 0 {
		b.WriteString(strconv.Itoa(int(r.Partition)) + ":")
	}
	b.WriteString(strconv.FormatInt(r.From, 10) + "-")
	if r.To >= 0 {
		b.WriteString(strconv.FormatInt(r.To, 10))
	}
	return b.String()
}

// ParseOffsetRange reads an offset range of the DLQ topic:
//
//	100-200     offsets 100 to 200 inclusive, every partition
//	100-        offset 100 and later
//	-200        offsets up to 200
//	150         offset 150 only
//	3:100-200   the same, partition 3 only (3:150, 3:100-, 3:-200 too)
func ParseOffsetRange(s string) (OffsetRange, error) {
	bad := func(why string) (OffsetRange, error) {
		return OffsetRange{}, fmt.Errorf("invalid offset range %q: %s (want FROM-TO, FROM-, -TO or N, optionally prefixed by PARTITION:)", s, why)
	}
	r := OffsetRange{Partition: -1, To: -1}
	rest := strings.TrimSpace(s)
	if p, after, ok := strings.Cut(rest, ":"); ok {
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil || n < 0 {
			return bad("partition is not a non-negative integer")
		}
		r.Partition = int32(n)
		rest = after
	}
	num := func(v string) (int64, bool) {
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil && n >= 0 && v != "" && v[0] != '+'
	}
	from, to, isRange := strings.Cut(rest, "-")
	if !isRange {
		n, ok := num(rest)
		if !ok {
			return bad("offset is not a non-negative integer")
		}
		r.From, r.To = n, n
		return r, nil
	}
	if from == "" && to == "" {
		return bad("no bound")
	}
	if from != "" {
		n, ok := num(from)
		if !ok {
			return bad("start is not a non-negative integer")
		}
		r.From = n
	}
	if to != "" {
		n, ok := num(to)
		if !ok {
			return bad("end is not a non-negative integer")
		}
		if n < r.From {
			return bad("end before start")
		}
		r.To = n
	}
	return r, nil
}

// ParseTime reads a failure-time bound: an RFC 3339 time
// ("2026-11-27T10:00:00Z", fractional seconds and offsets allowed), a date
// ("2026-11-27", midnight UTC), or an age before now: a Go duration ("90m",
// "1h30m") or a number of days ("2d").
func ParseTime(s string, now time.Time) (time.Time, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return time.Time{}, fmt.Errorf("invalid time %q: empty", s)
	}
	if v, err := time.Parse(time.RFC3339Nano, t); err == nil {
		return v, nil
	}
	if v, err := time.Parse(time.DateOnly, t); err == nil {
		return v, nil
	}
	if d, ok := strings.CutSuffix(t, "d"); ok {
		if n, err := strconv.ParseUint(d, 10, 16); err == nil && d[0] != '+' {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(t); err == nil && d >= 0 && t[0] != '+' {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q: want RFC 3339 (2026-11-27T10:00:00Z), a date (2026-11-27) or an age (90m, 2h, 3d)", s)
}
