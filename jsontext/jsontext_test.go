package jsontext

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

// TestAppendString: the same text as encoding/json for every byte that
// matters (controls, quote, backslash), valid JSON that reads back.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "tab\tnl\ncr\r", "\x00\x1f\x7f", "ünï €", "<&>"} {
		b := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%q → %s → %q, %v", s, b, back, err)
		}
		if string(AppendString(nil, []byte(s))) != string(b) {
			t.Errorf("%q: the []byte and string forms differ", s)
		}
	}
}

func TestScalars(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{string(AppendInt64(nil, 1<<53)), "9007199254740992"},
		{string(AppendInt64(nil, 1<<53+1)), `"9007199254740993"`},
		{string(AppendInt64(nil, -(1<<53)-1)), `"-9007199254740993"`},
		{string(AppendUint64(nil, math.MaxUint64)), `"18446744073709551615"`},
		{string(AppendFloat(nil, 150.75, 64)), "150.75"},
		{string(AppendFloat(nil, 1e21, 64)), "1e+21"},
		{string(AppendFloat(nil, 1e-7, 64)), "1e-7"},
		{string(AppendFloat(nil, float64(float32(0.1)), 32)), "0.1"},
		{string(AppendDuration(nil, 1, 5e8)), `"1.500s"`},
		{string(AppendDuration(nil, 0, -1)), `"-0.000000001s"`},
		{string(AppendDuration(nil, 3, 0)), `"3s"`},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
	for _, f := range []float64{150.75, 1e21, 1e-7, 123456789.123, -0.5, 5e-324} {
		want, _ := json.Marshal(f)
		if got := AppendFloat(nil, f, 64); string(got) != string(want) {
			t.Errorf("%v: %s, encoding/json %s", f, got, want)
		}
	}
	ts := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{ts, `"2024-01-02T03:04:05.123456Z"`},
		{ts.Truncate(time.Millisecond), `"2024-01-02T03:04:05.123Z"`},
		{ts.Truncate(time.Second), `"2024-01-02T03:04:05.000Z"`},
		{ts.Add(789), `"2024-01-02T03:04:05.123456789Z"`},
	} {
		got, ok := AppendTimestamp(nil, tc.t.Unix(), int64(tc.t.Nanosecond()))
		if !ok || string(got) != tc.want {
			t.Errorf("%v: %s %v, want %s", tc.t, got, ok, tc.want)
		}
	}
	if _, ok := AppendTimestamp(nil, MaxTimestampSec+1, 0); ok {
		t.Error("year 10000 has an RFC 3339 form")
	}
}
