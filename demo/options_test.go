package demo

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// TestCheck: every option out of its range is an OptionError named as its
// flag, in one style; a zero is refused by Check (Run reads it as the
// default).
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*Options)
		want []string // Message("--") of each OptionError, in order
	}{
		{"defaults", func(*Options) {}, nil},
		{"records 0", func(o *Options) { o.Records = 0 }, []string{"--records must be between 1 and 5000000, got 0"}},
		{"records -5", func(o *Options) { o.Records = -5 }, []string{"--records must be between 1 and 5000000, got -5"}},
		{"records too many", func(o *Options) { o.Records = MaxRecords + 1 }, []string{"--records must be between 1 and 5000000, got 5000001"}},
		{"partitions", func(o *Options) { o.Partitions = 1001 }, []string{"--partitions must be between 1 and 1000, got 1001"}},
		{"keys", func(o *Options) { o.Keys = -1 }, []string{"--keys must be at least 1, got -1"}},
		{"max in flight", func(o *Options) { o.MaxInFlight = 0 }, []string{"--max-in-flight must be between 1 and 100000, got 0"}},
		{"invalid share", func(o *Options) { o.InvalidShare = 0.95 }, []string{"--invalid must be between 0 and 0.9, got 0.95"}},
		{"invalid NaN", func(o *Options) { o.InvalidShare = math.NaN() }, []string{"--invalid must be between 0 and 0.9, got NaN"}},
		{"duplicate share", func(o *Options) { o.DuplicateShare = -0.5 }, []string{"--duplicates must be between 0 and 0.9, got -0.5"}},
		{"shares sum", func(o *Options) { o.InvalidShare, o.DuplicateShare = 0.5, 0.5 }, []string{"--invalid plus --duplicates must be at most 0.9, got 0.5 + 0.5"}},
		{"latency", func(o *Options) { o.LatencyMin, o.LatencyMax = -time.Millisecond, -time.Second },
			[]string{"--latency must not be negative, got -1ms", "--latency-max must not be negative, got -1s"}},
		{"stall timeout", func(o *Options) { o.StallTimeout = 0 }, []string{"--stall-timeout must be more than 0, got 0s"}},
		{"ordering", func(o *Options) { o.Ordering = "" }, []string{`--ordering must be key, partition or none, got ""`}},
		{"format", func(o *Options) { o.Format = "xml" }, []string{`--format must be json or avro, got "xml"`}},
		{"several", func(o *Options) { o.Records, o.Keys = -1, 0 },
			[]string{"--records must be between 1 and 5000000, got -1", "--keys must be at least 1, got 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			o.Format = FormatJSON
			tc.set(&o)
			err := o.Check()
			var got []string
			collect(err, &got)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Check: %q, want %q", got, tc.want)
			}
			if (err != nil) != errors.Is(err, ErrBadOptions) {
				t.Errorf("error %v does not wrap ErrBadOptions", err)
			}
		})
	}
}

// TestRunBadOptions: Run refuses out-of-range options with the same
// problems, named without the dashes, and takes zero as the default.
func TestRunBadOptions(t *testing.T) {
	_, err := Run(t.Context(), Options{Records: -5, Keys: -1})
	if !errors.Is(err, ErrBadOptions) || err.Error() != "demo: bad options: records must be between 1 and 5000000, got -5\nkeys must be at least 1, got -1" {
		t.Errorf("Run: %v", err)
	}
	o := Options{}
	if err := o.defaults(); err != nil {
		t.Errorf("zero options: %v", err)
	}
}

func collect(err error, msgs *[]string) {
	switch x := err.(type) {
	case nil:
	case *OptionError:
		*msgs = append(*msgs, x.Message("--"))
	case interface{ Unwrap() []error }:
		for _, e := range x.Unwrap() {
			collect(e, msgs)
		}
	}
}
