package demo

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/schemas"
)

// TestBridgeConfig: the demo's configuration, built as a value (so that a
// renamed key of package config breaks the build, not a run), is complete
// and valid, names the topics and group the demo's checks read, and takes
// its values as they are (a "${" in a secret is not an environment
// reference).
func TestBridgeConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "order.json"), schemas.Order, 0o600); err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Ordering, o.MaxInFlight = "partition", 7
	for _, tc := range []struct {
		name     string
		ep       ExternalCXone
		insecure bool
		tokenURL string
	}{
		{"test server", ExternalCXone{BaseURL: "http://127.0.0.1:8089", ClientID: "id", ClientSecret: "s${ECRET}"}, true, "http://127.0.0.1:8089/oauth/token"},
		{"external", ExternalCXone{BaseURL: "https://cxone.example.com", TokenURL: "https://auth.example.com/token", ClientID: "id", ClientSecret: "x"}, false, "https://auth.example.com/token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.New(bridgeConfig(&o, []string{"127.0.0.1:9092"}, &tc.ep, ""), dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.DLQTopic(Topic); got != DLQTopic {
				t.Errorf("DLQ topic of %s = %q, want %q", Topic, got, DLQTopic)
			}
			if cfg.Kafka.GroupID != GroupID || cfg.Routes[0].Topic != Topic || cfg.Routes[0].EventType != EventType {
				t.Errorf("group %q, route %q → %q; want %q, %q → %q", cfg.Kafka.GroupID, cfg.Routes[0].Topic, cfg.Routes[0].EventType, GroupID, Topic, EventType)
			}
			if cfg.Routes[0].SchemaPath != filepath.Join(dir, "order.json") {
				t.Errorf("schema %q, want order.json of %s", cfg.Routes[0].SchemaPath, dir)
			}
			c := cfg.Consumer
			if c.Ordering != o.Ordering || c.MaxInFlight != o.MaxInFlight || c.CommitInterval != 200*time.Millisecond || c.DrainTimeout != 10*time.Second {
				t.Errorf("consumer %+v", c)
			}
			a := cfg.CXone.Auth
			if cfg.CXone.AllowInsecureHTTP != tc.insecure || a.TokenURL != tc.tokenURL || a.ClientID != tc.ep.ClientID || string(a.ClientSecret) != tc.ep.ClientSecret {
				t.Errorf("cxone: insecure %v, token URL %q, client %q; want %v, %q, %q and the secret as given",
					cfg.CXone.AllowInsecureHTTP, a.TokenURL, a.ClientID, tc.insecure, tc.tokenURL, tc.ep.ClientID)
			}
		})
	}
}
