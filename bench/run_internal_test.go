package bench

import (
	"strconv"
	"testing"
	"time"
)

func TestBridgeWarmUp(t *testing.T) {
	for _, c := range []struct {
		maxInFlight int
		ceilingEPS  float64
		want        int
	}{
		{1, 48, 20},          // 20 ms, one in flight: a floor, not 12 records
		{1, 1600, 400},       // a quarter of a second at the ceiling's pace
		{64, 22000, 2000},    // capped at the bare client's warm-up
		{256, 400, 512},      // at least two rounds of max_in_flight
		{1024, 51000, 2000},  // ... but never above 2,000
		{4096, 100000, 2000}, //
		{0, 0, 20},           // nothing known: the floor
	} {
		if got := bridgeWarmUp(c.maxInFlight, c.ceilingEPS); got != c.want {
			t.Errorf("bridgeWarmUp(%d, %v) = %d, want %d", c.maxInFlight, c.ceilingEPS, got, c.want)
		}
	}
}

// The bridge's rate counts only what was accepted after its window opened,
// over the time from then to the last answer.
func TestRateSince(t *testing.T) {
	var rc recorder
	p := rc.start(tagThroughput, 300, false)
	t0 := time.Unix(1000, 0)
	for i := range 100 { // warm-up: 100 answers in the first second, slow
		rc.accepted(corrID(i), t0.Add(time.Duration(i)*10*time.Millisecond))
	}
	start := t0.Add(time.Second)
	n0 := p.count.Load()
	for i := 100; i < 300; i++ { // then 200 answers in the next 0.1 s
		rc.accepted(corrID(i), start.Add(time.Duration(i-99)*500*time.Microsecond))
	}
	if got, want := p.rateSince(start, n0), 2000.0; got < want*0.999 || got > want*1.001 {
		t.Errorf("rateSince = %v, want %v (200 answers in 0.1 s)", got, want)
	}
	if whole := p.rate(); whole > 300 {
		t.Errorf("rate over the whole phase = %v: the slow warm-up should weigh on it", whole)
	}
	if got := p.rateSince(start.Add(time.Hour), p.count.Load()); got != 0 {
		t.Errorf("rateSince with nothing after it = %v, want 0", got)
	}
}

func corrID(i int) string { return string(tagThroughput) + "-" + strconv.Itoa(i) }
