package cxonetest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func passwordReq(base, appID, appSecret, keyID, keySecret, scope string) *http.Request {
	form := url.Values{"grant_type": {"password"}, "username": {keyID}, "password": {keySecret}}
	if scope != "" {
		form.Set("scope", scope)
	}
	req, _ := http.NewRequest(http.MethodPost, base+AuthTokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(appID, appSecret)
	return req
}

// TestPasswordGrant: an application with a registered access key gets a
// token that publishes; each wrong part gets its own OAuth2 error, and a
// client-credentials client may not use the password grant nor an
// application the client-credentials grant.
func TestPasswordGrant(t *testing.T) {
	s := newTestServer(t)
	tests := []struct {
		name       string
		req        *http.Request
		wantStatus int
		wantError  string
	}{
		{"ok without scope", passwordReq(s.URL, DefaultAppID, DefaultAppSecret, DefaultAccessKeyID, DefaultAccessKeySecret, ""), 200, ""},
		{"ok with scope", passwordReq(s.URL, DefaultAppID, DefaultAppSecret, DefaultAccessKeyID, DefaultAccessKeySecret, WriteScope), 200, ""},
		{"wrong access key secret", passwordReq(s.URL, DefaultAppID, DefaultAppSecret, DefaultAccessKeyID, "nope", ""), 400, "invalid_grant"},
		{"unknown access key", passwordReq(s.URL, DefaultAppID, DefaultAppSecret, "who", DefaultAccessKeySecret, ""), 400, "invalid_grant"},
		{"wrong app secret", passwordReq(s.URL, DefaultAppID, "nope", DefaultAccessKeyID, DefaultAccessKeySecret, ""), 401, "invalid_client"},
		{"client credentials client", passwordReq(s.URL, DefaultClientID, DefaultClientSecret, DefaultAccessKeyID, DefaultAccessKeySecret, ""), 400, "unauthorized_client"},
		{"app with client credentials grant", func() *http.Request {
			r := tokenReq(DefaultAppID, DefaultAppSecret, "client_credentials", WriteScope, "")
			r.URL, _ = url.Parse(s.URL + AuthTokenPath)
			return r
		}(), 400, "unauthorized_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, m := do(t, tt.req)
			if st != tt.wantStatus || (tt.wantError != "" && m["error"] != tt.wantError) {
				t.Fatalf("status %d %v, want %d %s", st, m, tt.wantStatus, tt.wantError)
			}
			if st != 200 {
				return
			}
			if m["scope"] != WriteScope {
				t.Errorf("scope %v", m["scope"])
			}
			if st, m := postEvent(t, s, m["access_token"].(string), "k-"+tt.name, "c", validBodyFor("c")); st != 202 {
				t.Errorf("publish with password-grant token: %d %v", st, m)
			}
		})
	}
}

// TestCredentialRotation: after a rotation only the new secret works, for
// both a client secret and an access key secret, through the admin API too.
func TestCredentialRotation(t *testing.T) {
	s := newTestServer(t)
	if !s.SetClientSecret(DefaultAppID, "app-2") {
		t.Fatal("app not found")
	}
	if st, _ := do(t, passwordReq(s.URL, DefaultAppID, DefaultAppSecret, DefaultAccessKeyID, DefaultAccessKeySecret, "")); st != 401 {
		t.Errorf("old app secret: %d, want 401", st)
	}
	if st, _ := do(t, passwordReq(s.URL, DefaultAppID, "app-2", DefaultAccessKeyID, DefaultAccessKeySecret, "")); st != 200 {
		t.Errorf("new app secret: %d, want 200", st)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/_sim/credentials", strings.NewReader(`{"access_key_id":"`+DefaultAccessKeyID+`","access_key_secret":"key-2"}`))
	if st, m := do(t, req); st != 200 || m["rotated"] != 1.0 {
		t.Fatalf("admin rotation: %d %v", st, m)
	}
	if st, m := do(t, passwordReq(s.URL, DefaultAppID, "app-2", DefaultAccessKeyID, DefaultAccessKeySecret, "")); st != 400 || m["error"] != "invalid_grant" {
		t.Errorf("old access key secret: %d %v", st, m)
	}
	if st, _ := do(t, passwordReq(s.URL, DefaultAppID, "app-2", DefaultAccessKeyID, "key-2", "")); st != 200 {
		t.Errorf("new access key secret: %d", st)
	}
	req, _ = http.NewRequest(http.MethodPost, s.URL+"/_sim/credentials", strings.NewReader(`{"client_id":"nobody","client_secret":"x"}`))
	if st, _ := do(t, req); st != 404 {
		t.Errorf("unknown client rotation: %d, want 404", st)
	}
}

// TestDiscoveryDocuments: the OpenID document names the issuer and token
// endpoint as reached; the CXone document answers a known tenant, 404 for an
// unknown one, 400 without tenantId.
func TestDiscoveryDocuments(t *testing.T) {
	s := newTestServer(t, WithTenant("t-1", ""), WithTenant("t-2", "https://api-eu-1.example"))
	get := func(path string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
		return do(t, req)
	}
	st, m := get(OpenIDConfigPath)
	if st != 200 || m["issuer"] != s.URL || m["token_endpoint"] != s.URL+AuthTokenPath {
		t.Errorf("openid-configuration: %d %v", st, m)
	}
	if st, m := get(CXoneConfigPath + "?tenantId=t-1"); st != 200 || m["api_endpoint"] != s.URL || m["tenantId"] != "t-1" {
		t.Errorf("t-1: %d %v", st, m)
	}
	if st, m := get(CXoneConfigPath + "?tenantId=t-2"); st != 200 || m["api_endpoint"] != "https://api-eu-1.example" {
		t.Errorf("t-2: %d %v", st, m)
	}
	if st, m := get(CXoneConfigPath + "?tenantId=" + DefaultTenantID); st != 404 || m["error"] != "tenant_not_found" {
		t.Errorf("replaced default tenant: %d %v", st, m)
	}
	if st, _ := get(CXoneConfigPath); st != 400 {
		t.Errorf("no tenantId: %d", st)
	}
	if n := s.Stats().DiscoveryRequests; n != 5 {
		t.Errorf("discovery requests %d, want 5", n)
	}
}

// TestTLSServer: the TLS server is trusted through its CA only, offers
// HTTP/2, and its documents carry the host name the client used.
func TestTLSServer(t *testing.T) {
	s := NewTLSServer()
	t.Cleanup(s.Close)
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") {
		t.Fatalf("URL %s", s.URL)
	}
	if _, err := http.Get(s.URL + OpenIDConfigPath); err == nil {
		t.Error("untrusted certificate accepted")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CACert) {
		t.Fatal("CACert is not PEM")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err := hc.Get(s.URL + OpenIDConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2", resp.Proto)
	}
	if doc["issuer"] != s.URL || doc["token_endpoint"] != s.URL+AuthTokenPath {
		t.Errorf("document %v", doc)
	}
	if got := s.URLWithHost("cxone.test"); !strings.HasPrefix(got, "https://cxone.test:") || got[len("https://cxone.test"):] != s.URL[len("https://127.0.0.1"):] {
		t.Errorf("URLWithHost %s", got)
	}
}
