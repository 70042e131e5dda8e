package transform

import (
	"math/rand/v2"
	"testing"
	"time"
)

// appendISOMillis must agree with time.Time.AppendFormat on the layout it
// replaces, for any instant and any zone.
func TestAppendISOMillis(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("x", -7*3600-1800), time.FixedZone("y", 14*3600)}
	times := []time.Time{
		time.Date(2026, 11, 27, 16, 0, 0, 123456789, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		{},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		times = append(times, time.Unix(rng.Int64N(1<<36)-1<<35, rng.Int64N(1e9)))
	}
	for _, tm := range times {
		for _, z := range zones {
			tz := tm.In(z)
			want := tz.UTC().AppendFormat(nil, "2006-01-02T15:04:05.000Z")
			if got := appendISOMillis(nil, tz); string(got) != string(want) {
				t.Fatalf("%v: got %s, want %s", tz, got, want)
			}
		}
	}
}
