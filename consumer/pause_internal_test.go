package consumer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// An assignment racing a Resume must never leave a topic paused in the
// client while the consumer believes it is resumed: nothing would ever
// resume it. The race window is a few instructions wide, so the test runs
// many rounds (until it finds a mismatch or its time is up).
func TestPauseStateMatchesClientUnderRace(t *testing.T) {
	c, _ := newInternalConsumer(t, "g-race", []string{"orders.dlq"}, Config{},
		HandlerFunc(func(context.Context, *kgo.Record) (Outcome, error) { return Outcome{}, nil }))
	assigned := map[string][]int32{"orders": {0}}
	deadline := time.Now().Add(3 * time.Second)
	rounds := 0
	for ; time.Now().Before(deadline); rounds++ {
		c.Pause()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); c.onAssigned(context.Background(), c.cl, assigned) }()
		go func() { defer wg.Done(); c.Resume() }()
		wg.Wait()
		if paused := c.cl.PauseFetchTopics(); !c.Paused() && len(paused) > 0 {
			t.Fatalf("round %d: consumer resumed but the client still pauses %v: fetching would never resume", rounds, paused)
		}
	}
	t.Logf("%d rounds without a mismatch", rounds)
}
