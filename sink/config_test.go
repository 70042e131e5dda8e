package sink_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// TestAuthDefaultRules: the rules of the token request's defaults that
// depend on other settings (docs/config.md, cxone.auth), which New and the
// configuration loader both apply.
func TestAuthDefaultRules(t *testing.T) {
	const base = "https://api-eu-1.cxone.com/"
	for _, tc := range []struct {
		name                string
		mode                sink.AuthMode
		tokenURL, issuer    string
		discover            bool
		wantIssuer, wantURL string
		wantScope           string
	}{
		{"tutorial", "", "", "", false, "", "https://api-eu-1.cxone.com/oauth/token", "eventbridge:events:write"},
		{"client credentials", sink.AuthClientCredentials, "", "", false, "", "https://api-eu-1.cxone.com/oauth/token", "eventbridge:events:write"},
		{"client credentials, issuer", sink.AuthClientCredentials, "", "https://idp.example", false, "https://idp.example", "", "eventbridge:events:write"},
		{"client credentials, token URL", sink.AuthClientCredentials, "https://t.example/token", "", false, "", "https://t.example/token", "eventbridge:events:write"},
		{"access key", sink.AuthAccessKey, "", "", false, sink.DefaultIssuer, "", ""},
		{"access key, token URL", sink.AuthAccessKey, "https://t.example/token", "", false, "", "https://t.example/token", ""},
		{"access key, token URL, discovered API", sink.AuthAccessKey, "https://t.example/token", "", true, sink.DefaultIssuer, "https://t.example/token", ""},
		{"access key, own issuer", sink.AuthAccessKey, "", "https://idp.example", false, "https://idp.example", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sink.Config{AuthMode: tc.mode, TokenURL: tc.tokenURL, Issuer: tc.issuer, DiscoverAPIEndpoint: tc.discover}
			if !tc.discover {
				c.BaseURL = base
			}
			d := c.WithDefaults()
			if d.Issuer != tc.wantIssuer || d.TokenURL != tc.wantURL || d.Scope != tc.wantScope {
				t.Errorf("issuer %q, token URL %q, scope %q; want %q, %q, %q", d.Issuer, d.TokenURL, d.Scope, tc.wantIssuer, tc.wantURL, tc.wantScope)
			}
		})
	}
}

// TestZeroConfig: a Config with only the credentials is complete, with the
// defaults bridge.yaml's absent keys have.
func TestZeroConfig(t *testing.T) {
	d := sink.Config{ClientID: "a", ClientSecret: "b"}.WithDefaults()
	if d.BaseURL != sink.DefaultBaseURL || d.TokenURL != sink.DefaultBaseURL+sink.DefaultTokenPath || d.EventsPath != sink.DefaultEventsPath ||
		d.MaxInFlight != 256 || d.DialTimeout != 5*time.Second || d.RequestTimeout != 30*time.Second || d.Retry.MaxAttempts != 6 ||
		d.Breaker.FailuresToOpen != 5 || d.Poison.MinAttempts != 10 {
		t.Errorf("defaults: %#v", d)
	}
	if d.Logger == nil || d.Logger.Handler() != slog.DiscardHandler {
		t.Error("the default logger does not discard")
	}
	if _, err := sink.New(sink.Config{ClientID: "a", ClientSecret: "b"}); err != nil {
		t.Errorf("New with the defaults: %v", err)
	}
	// With a discovered API base there is no default base URL.
	d = sink.Config{DiscoverAPIEndpoint: true, AuthMode: sink.AuthAccessKey}.WithDefaults()
	if d.BaseURL != "" || d.Issuer != sink.DefaultIssuer {
		t.Errorf("discovered: base URL %q, issuer %q", d.BaseURL, d.Issuer)
	}
}

// TestCAFileStrict: the CA file is checked as the configuration loader
// checks it: a certificate that does not parse is refused even next to a
// good one, and the error names the file without quoting it.
func TestCAFileStrict(t *testing.T) {
	_, ca, err := cxonetest.GenerateCert("cxone.test")
	if err != nil {
		t.Fatal(err)
	}
	const leak = "VE9QLVNFQ1JFVA=="
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pem")
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(good, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, append(append([]byte{}, ca...), "-----BEGIN CERTIFICATE-----\n"+leak+"\n-----END CERTIFICATE-----\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sink.New(sink.Config{ClientID: "a", ClientSecret: "b", CAFile: good}); err != nil {
		t.Errorf("a good CA file: %v", err)
	}
	_, err = sink.New(sink.Config{ClientID: "a", ClientSecret: "b", CAFile: bad})
	if err == nil || !strings.Contains(err.Error(), "CA file "+bad+": certificate 2 is not a valid X.509 certificate") || strings.Contains(err.Error(), leak) {
		t.Errorf("a CA file with a broken certificate: %v", err)
	}
}
