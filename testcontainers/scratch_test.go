package testcontainers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/testcontainers"
)

func TestScratch(t *testing.T) {
	start := time.Now()
	k := testcontainers.StartKafka(t, testcontainers.Nodes(3))
	t.Logf("ready %s", time.Since(start))
	for _, l := range strings.Split(k.NodeLog(0, 400), "\n") {
		if strings.Contains(l, "Transition") || strings.Contains(l, "started") || strings.Contains(l, "Starting") || strings.Contains(l, "leader") || strings.Contains(l, "Registered") || strings.Contains(l, "unfenced") || strings.Contains(l, "Formatting") {
			t.Log(l)
		}
	}
	k.KillNode(1)
	s := time.Now()
	k.StartNode(1)
	t.Logf("restart %s", time.Since(s))
	for _, l := range strings.Split(k.NodeLog(1, 600), "\n") {
		if strings.Contains(l, "Transition") || strings.Contains(l, "started") || strings.Contains(l, "Starting") || strings.Contains(l, "unfenced") || strings.Contains(l, "catch") || strings.Contains(l, "Recover") || strings.Contains(l, "Loaded") {
			t.Log(l)
		}
	}
}
