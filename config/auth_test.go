package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

const keySecret = "acc3ss-Key-Secret-99"

// withCXone is minimal with its cxone section replaced.
func withCXone(cxone string) string {
	start := strings.Index(minimal, "cxone:")
	end := strings.Index(minimal, "routes:")
	return minimal[:start] + "cxone:\n" + cxone + minimal[end:]
}

// cxoneAuthDir holds secret files, a CA bundle and a file that is not PEM.
func cxoneAuthDir(t *testing.T) string {
	dir := dirWithSchema(t)
	_, ca, err := cxonetest.GenerateCert("cxone.test")
	if err != nil {
		t.Fatal(err)
	}
	testCA := string(ca)
	files := map[string]string{
		"app.secret": "app-secret\n", "key.secret": keySecret + "\n", "empty.secret": "\n",
		"ca.pem": testCA, "notpem.txt": "hello",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var keyEnv = env(map[string]string{"CXONE_CLIENT_ID": "client-1", "CXONE_CLIENT_SECRET": secret,
	"CXONE_ACCESS_KEY_ID": "AK-1", "CXONE_ACCESS_KEY_SECRET": keySecret})

const accessKeyDiscover = `  base_url: discover
  tenant_id: 11111111-2222-3333-4444-555555555555
  auth:
    mode: access_key
    client_id: ${CXONE_CLIENT_ID}
    client_secret: ${CXONE_CLIENT_SECRET}
    access_key_id: ${CXONE_ACCESS_KEY_ID}
    access_key_secret: ${CXONE_ACCESS_KEY_SECRET}
`

// TestAuthModesValid: each documented way to configure authentication
// loads, with its defaults, and maps to the sink as documented.
func TestAuthModesValid(t *testing.T) {
	tests := []struct {
		name  string
		cxone string
		check func(t *testing.T, c *config.Config, sc sink.Config)
	}{
		{"client credentials (tutorial)", "  auth: {client_id: a, client_secret: b}\n", func(t *testing.T, c *config.Config, sc sink.Config) {
			if sc.AuthMode != sink.AuthClientCredentials || sc.TokenURL != "https://api-us-1.cxone.com/oauth/token" || sc.Issuer != "" || sc.DiscoverAPIEndpoint ||
				sc.Scope != "eventbridge:events:write" {
				t.Errorf("sink config %v", sc)
			}
		}},
		{"access key with both discoveries", accessKeyDiscover, func(t *testing.T, c *config.Config, sc sink.Config) {
			if c.CXone.Auth.Issuer != sink.DefaultIssuer || c.CXone.Auth.TokenURL != "" {
				t.Errorf("issuer %q token_url %q", c.CXone.Auth.Issuer, c.CXone.Auth.TokenURL)
			}
			if sc.AuthMode != sink.AuthAccessKey || !sc.DiscoverAPIEndpoint || sc.BaseURL != "" || sc.TenantID != "11111111-2222-3333-4444-555555555555" ||
				sc.AccessKeyID != "AK-1" || string(sc.AccessKeySecret) != keySecret || sc.Issuer != sink.DefaultIssuer {
				t.Errorf("sink config %v", sc)
			}
			if sc.Scope != "" {
				t.Errorf("scope %q, want none in access_key mode", sc.Scope)
			}
			if c.CXone.EventsURL() != "{discovered api_endpoint}/api/v2/eventbridge/events" {
				t.Errorf("EventsURL %s", c.CXone.EventsURL())
			}
			if _, err := sink.New(sc); err != nil {
				t.Errorf("sink.New: %v", err)
			}
		}},
		{"access key, fixed URLs, secret files", `  base_url: https://api-eu-1.example
  auth:
    mode: access_key
    token_url: https://auth.example/auth/token
    client_id: app
    client_secret_file: app.secret
    access_key_id: AK-2
    access_key_secret_file: key.secret
`, func(t *testing.T, c *config.Config, sc sink.Config) {
			if sc.Issuer != "" || sc.TokenURL != "https://auth.example/auth/token" || sc.BaseURL != "https://api-eu-1.example" {
				t.Errorf("sink config %v", sc)
			}
			if !filepath.IsAbs(sc.ClientSecretFile) || !filepath.IsAbs(sc.AccessKeySecretFile) || sc.ClientSecret != "" || sc.AccessKeySecret != "" {
				t.Errorf("secret files not passed as the source: %q %q", sc.ClientSecretFile, sc.AccessKeySecretFile)
			}
			if string(c.CXone.Auth.AccessKeySecret) != keySecret {
				t.Error("access key secret file not read at load")
			}
			if _, err := sink.New(sc); err != nil {
				t.Errorf("sink.New: %v", err)
			}
		}},
		{"client credentials, token endpoint from an issuer", "  auth: {issuer: https://login.example, client_id: a, client_secret: b}\n", func(t *testing.T, c *config.Config, sc sink.Config) {
			if sc.TokenURL != "" || sc.Issuer != "https://login.example" {
				t.Errorf("sink config %v", sc)
			}
		}},
		{"CA file and discovery cache", "  ca_file: ca.pem\n  discovery_cache: disc.json\n" + accessKeyDiscover, func(t *testing.T, c *config.Config, sc sink.Config) {
			if !filepath.IsAbs(sc.CAFile) || !filepath.IsAbs(sc.DiscoveryCacheFile) || filepath.Base(sc.DiscoveryCacheFile) != "disc.json" {
				t.Errorf("paths not resolved: %q %q", sc.CAFile, sc.DiscoveryCacheFile)
			}
			if _, err := sink.New(sc); err != nil {
				t.Errorf("sink.New: %v", err)
			}
		}},
		{"basic encoding raw by default", "  auth: {client_id: a, client_secret: b}\n", func(t *testing.T, c *config.Config, sc sink.Config) {
			if c.CXone.Auth.BasicEncoding != "raw" || sc.BasicEncoding != sink.BasicRaw {
				t.Errorf("basic_encoding %q, sink %q; want raw", c.CXone.Auth.BasicEncoding, sc.BasicEncoding)
			}
		}},
		{"basic encoding rfc6749, a colon in the client id", "  auth: {client_id: \"a:1\", client_secret: b, basic_encoding: rfc6749}\n", func(t *testing.T, c *config.Config, sc sink.Config) {
			if sc.BasicEncoding != sink.BasicRFC6749 {
				t.Errorf("sink BasicEncoding %q, want rfc6749", sc.BasicEncoding)
			}
			if _, err := sink.New(sc); err != nil {
				t.Errorf("sink.New: %v", err)
			}
		}},
		{"basic encoding in access key mode", accessKeyDiscover + "    basic_encoding: rfc6749\n", func(t *testing.T, c *config.Config, sc sink.Config) {
			if sc.AuthMode != sink.AuthAccessKey || sc.BasicEncoding != sink.BasicRFC6749 {
				t.Errorf("sink config %v, BasicEncoding %q", sc, sc.BasicEncoding)
			}
		}},
		{"local test server over http", "  base_url: http://127.0.0.1:8089\n  allow_insecure_http: true\n  auth: {mode: access_key, issuer: http://127.0.0.1:8089, client_id: a, client_secret: b, access_key_id: k, access_key_secret: s}\n",
			func(t *testing.T, c *config.Config, sc sink.Config) {
				if !sc.AllowInsecureHTTP || sc.TokenURL != "" {
					t.Errorf("sink config %v", sc)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(withCXone(tt.cxone)), cxoneAuthDir(t), keyEnv)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg, cfg.SinkConfig())
		})
	}
}

// TestAuthValidation: every new key's mistakes are reported at its path.
func TestAuthValidation(t *testing.T) {
	ak := func(extra string) string {
		return "  auth:\n    mode: access_key\n    client_id: a\n    client_secret: b\n" + extra
	}
	tests := []struct {
		name, cxone, want string
	}{
		{"unknown mode", "  auth: {mode: magic, client_id: a, client_secret: b}\n", `cxone.auth.mode: must be client_credentials or access_key; got "magic"`},
		{"access key id missing", ak("    access_key_secret: s\n"), "cxone.auth.access_key_id: is required with cxone.auth.mode: access_key"},
		{"access key secret missing", ak("    access_key_id: k\n"), "cxone.auth.access_key_secret: is required with cxone.auth.mode: access_key"},
		{"access key secret twice", ak("    access_key_id: k\n    access_key_secret: s\n    access_key_secret_file: key.secret\n"), "cxone.auth.access_key_secret_file: set either access_key_secret or access_key_secret_file, not both"},
		{"access key secret file missing", ak("    access_key_id: k\n    access_key_secret_file: nope.secret\n"), "cxone.auth.access_key_secret_file: file not found: nope.secret"},
		{"access key secret file empty", ak("    access_key_id: k\n    access_key_secret_file: empty.secret\n"), "cxone.auth.access_key_secret_file: is empty: empty.secret"},
		{"client secret file empty", "  auth: {client_id: a, client_secret_file: empty.secret}\n", "cxone.auth.client_secret_file: is empty: empty.secret"},
		{"access key in client credentials mode", "  auth: {client_id: a, client_secret: b, access_key_id: k}\n", "cxone.auth.access_key_id: is used only with cxone.auth.mode: access_key"},
		{"access key secret file in client credentials mode", "  auth: {client_id: a, client_secret: b, access_key_secret_file: key.secret}\n", "cxone.auth.access_key_secret_file: is used only with cxone.auth.mode: access_key"},
		{"discover without tenant", "  base_url: discover\n" + ak("    access_key_id: k\n    access_key_secret: s\n"), "cxone.tenant_id: is required with cxone.base_url: discover"},
		{"discover without issuer", "  base_url: discover\n  tenant_id: t1\n  auth: {client_id: a, client_secret: b}\n", "cxone.auth.issuer: is required with cxone.base_url: discover"},
		{"discover, no token endpoint", "  base_url: discover\n  tenant_id: t1\n  auth: {client_id: a, client_secret: b}\n", "cxone.auth.token_url: is required when cxone.base_url is discover"},
		{"tenant without discover", "  tenant_id: t1\n  auth: {client_id: a, client_secret: b}\n", "cxone.tenant_id: is used only with cxone.base_url: discover"},
		{"bad tenant id", "  base_url: discover\n  tenant_id: \"t 1/..\"\n" + ak("    access_key_id: k\n    access_key_secret: s\n"), "cxone.tenant_id: must be 1 to 128 of"},
		{"http issuer", "  auth: {issuer: http://cxone.example, client_id: a, client_secret: b}\n", "cxone.auth.issuer: must be https (set cxone.allow_insecure_http for local testing)"},
		{"issuer with credentials", "  auth: {issuer: https://u:p@cxone.example, client_id: a, client_secret: b}\n", "cxone.auth.issuer: must not contain credentials"},
		{"issuer not a URL", "  auth: {issuer: cxone.example, client_id: a, client_secret: b}\n", "cxone.auth.issuer: must be an absolute https URL"},
		{"CA file missing", "  ca_file: nope.pem\n  auth: {client_id: a, client_secret: b}\n", "cxone.ca_file: file not found: nope.pem"},
		{"CA file not PEM", "  ca_file: notpem.txt\n  auth: {client_id: a, client_secret: b}\n", "cxone.ca_file: no PEM certificate found in notpem.txt"},
		{"cache without discovery", "  discovery_cache: d.json\n  auth: {client_id: a, client_secret: b}\n", "cxone.discovery_cache: nothing is discovered"},
		{"cache folder missing", "  discovery_cache: no/such/dir/d.json\n  base_url: discover\n  tenant_id: t1\n" + ak("    access_key_id: k\n    access_key_secret: s\n"), "cxone.discovery_cache: its folder does not exist"},
		{"unknown basic encoding", "  auth: {client_id: a, client_secret: b, basic_encoding: RFC6749}\n", `cxone.auth.basic_encoding: must be raw (client id and secret as they are, as the reference producer sends them) or rfc6749 (form-URL-encoded first, RFC 6749 §2.3.1); got "RFC6749"`},
		{"basic encoding from the environment", "  auth: {client_id: a, client_secret: b, basic_encoding: \"${BASIC:-base64}\"}\n", `cxone.auth.basic_encoding: must be raw (client id and secret as they are, as the reference producer sends them) or rfc6749 (form-URL-encoded first, RFC 6749 §2.3.1); got ${BASIC:-base64}`},
		{"client id with a colon, raw", "  auth: {client_id: \"a:1\", client_secret: b}\n", `cxone.auth.client_id: holds ":", which cxone.auth.basic_encoding: raw cannot carry (the server would cut the id there); set rfc6749`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse([]byte(withCXone(tt.cxone)), cxoneAuthDir(t), keyEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("want problem %q, got:\n%v", tt.want, err)
			}
			if err != nil && strings.Contains(err.Error(), keySecret) {
				t.Errorf("secret in error: %v", err)
			}
		})
	}
}

// TestAccessKeyWithoutCredentials: dry-run loads an access-key file whose
// secrets are unset.
func TestAccessKeyWithoutCredentials(t *testing.T) {
	if _, err := config.Parse([]byte(withCXone(accessKeyDiscover)), cxoneAuthDir(t), env(nil), config.WithoutCredentials()); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse([]byte(withCXone(accessKeyDiscover)), cxoneAuthDir(t), env(nil)); err == nil ||
		!strings.Contains(err.Error(), "cxone.auth.access_key_secret: environment variable CXONE_ACCESS_KEY_SECRET is not set") {
		t.Errorf("err = %v", err)
	}
}

// TestAccessKeySecretNeverPrinted: the access key secret, from the
// environment or a file, is in no dump, log or error of the configuration.
func TestAccessKeySecretNeverPrinted(t *testing.T) {
	dir := cxoneAuthDir(t)
	for name, cxone := range map[string]string{
		"env":           accessKeyDiscover,
		"file":          strings.Replace(accessKeyDiscover, "access_key_secret: ${CXONE_ACCESS_KEY_SECRET}", "access_key_secret_file: key.secret", 1),
		"in wrong key":  strings.Replace(accessKeyDiscover, "tenant_id: 11111111-2222-3333-4444-555555555555", "tenant_id: ${CXONE_ACCESS_KEY_SECRET}/x", 1),
		"in issuer url": accessKeyDiscover + "    issuer: https://u:${CXONE_ACCESS_KEY_SECRET}@cxone.example\n",
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			cfg, err := config.Parse([]byte(withCXone(cxone)), dir, keyEnv)
			if err != nil {
				fmt.Fprintf(&out, "%v %+v", err, err)
			} else {
				j, _ := json.Marshal(cfg)
				out.Write(j)
				fmt.Fprintf(&out, "%v %+v %#v %v", cfg, cfg, cfg.SinkConfig(), cfg.SinkConfig())
				slog.New(slog.NewJSONHandler(&out, nil)).Info("cfg", "cfg", cfg, "sink", cfg.SinkConfig())
			}
			if out.Len() == 0 || strings.Contains(out.String(), keySecret) {
				t.Errorf("secret leaked or nothing printed:\n%s", out.String())
			}
		})
	}
}
