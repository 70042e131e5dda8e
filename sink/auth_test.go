package sink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// newTLSServer starts the CXone test server over HTTPS and writes its CA to
// a file.
func newTLSServer(t testing.TB, opts ...cxonetest.Option) (*cxonetest.Server, string) {
	t.Helper()
	s := cxonetest.NewTLSServer(opts...)
	t.Cleanup(s.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, s.CACert, 0o644); err != nil {
		t.Fatal(err)
	}
	return s, ca
}

// accessKeyConfig is real CXone's setup against srv: access keys, the token
// endpoint and the API base discovered from the issuer.
func accessKeyConfig(issuer, caFile string) sink.Config {
	cfg := testConfig("")
	cfg.AuthMode = sink.AuthAccessKey
	cfg.Issuer = issuer
	cfg.DiscoverAPIEndpoint = true
	cfg.TenantID = cxonetest.DefaultTenantID
	cfg.ClientID, cfg.ClientSecret = cxonetest.DefaultAppID, cxonetest.DefaultAppSecret
	cfg.AccessKeyID, cfg.AccessKeySecret = cxonetest.DefaultAccessKeyID, cxonetest.DefaultAccessKeySecret
	cfg.CAFile = caFile
	cfg.Proxy = noProxy
	return cfg
}

func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

// TestAccessKeyModeWithDiscovery: with only an issuer and a tenant id, the
// publisher discovers the token endpoint and the API base over HTTPS (CA
// file), gets a password-grant token and publishes; the two documents are
// fetched once however many events follow.
func TestAccessKeyModeWithDiscovery(t *testing.T) {
	srv, ca := newTLSServer(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	cfg := accessKeyConfig(srv.URL, ca)
	cfg.Logger = slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := newPublisher(t, cfg)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ep, err := p.Endpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := sink.Endpoints{TokenURL: srv.URL + cxonetest.AuthTokenPath, EventsURL: srv.URL + cxonetest.EventsPath, TokenDiscovered: true, APIDiscovered: true}
	if ep != want {
		t.Errorf("endpoints %+v, want %+v", ep, want)
	}
	st := srv.Stats()
	if st.Accepted != n || st.DiscoveryRequests != 2 || st.TokensIssued != 1 || st.TokenFailures != 0 {
		t.Errorf("stats %+v, want %d accepted, 2 discovery requests, 1 token", st, n)
	}
	for _, ev := range srv.Events() {
		if ev.ClientID != cxonetest.DefaultAppID {
			t.Fatalf("event published as %q, want the access-key application", ev.ClientID)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range []string{cxonetest.DefaultAppSecret, cxonetest.DefaultAccessKeySecret} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("secret in logs")
		}
	}
	if !strings.Contains(logs.String(), "discovered the CXone API endpoint") {
		t.Errorf("discovery not logged:\n%s", logs.String())
	}
}

// TestDiscoveryFailures: each way discovery can fail gives a *DiscoveryError
// naming the document and the cause (errors.Is-able), Publish classifies it
// systemic, nothing is published, and no secret is in the error.
func TestDiscoveryFailures(t *testing.T) {
	tlsOther, caOther := newTLSServer(t, cxonetest.WithTenant("someone-else", ""))
	tlsHTTPAPI, caHTTPAPI := newTLSServer(t, cxonetest.WithTenant(cxonetest.DefaultTenantID, "http://127.0.0.1:1"))
	tlsWrongIssuer, caWrongIssuer := newTLSServer(t, cxonetest.WithIssuer("https://impostor.example"))
	serve := func(h http.HandlerFunc) string {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return s.URL
	}
	badJSON := serve(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"api_endpoint": "https://x"`) })
	huge := serve(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"api_endpoint":"https://x","pad":"`+strings.Repeat("a", sink.MaxDiscoveryBytes)+`"}`)
	})
	wrongType := serve(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"api_endpoint": 42}`) })
	withCreds := serve(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"api_endpoint": "https://user:`+cxonetest.DefaultAppSecret+`@api.example"}`)
	})
	status500 := serve(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	hang := serve(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })

	tests := []struct {
		name       string
		issuer, ca string
		insecure   bool
		tokenURL   string // set: only the API endpoint is discovered
		want       error
		wantStatus int
		doc        string
	}{
		{name: "unknown tenant", issuer: tlsOther.URL, ca: caOther, want: sink.ErrUnknownTenant, wantStatus: 404, doc: "cxone-configuration"},
		{name: "http api_endpoint refused", issuer: tlsHTTPAPI.URL, ca: caHTTPAPI, want: sink.ErrInsecureEndpoint, doc: "cxone-configuration"},
		{name: "issuer mismatch", issuer: tlsWrongIssuer.URL, ca: caWrongIssuer, want: sink.ErrBadDocument, doc: "openid-configuration"},
		{name: "bad JSON", issuer: badJSON, insecure: true, tokenURL: badJSON + "/t", want: sink.ErrBadDocument, doc: "cxone-configuration"},
		{name: "too large", issuer: huge, insecure: true, tokenURL: huge + "/t", want: sink.ErrBadDocument, doc: "cxone-configuration"},
		{name: "wrong type", issuer: wrongType, insecure: true, tokenURL: wrongType + "/t", want: sink.ErrBadDocument, doc: "cxone-configuration"},
		{name: "credentials in URL", issuer: withCreds, insecure: true, tokenURL: withCreds + "/t", want: sink.ErrBadDocument, doc: "cxone-configuration"},
		{name: "HTTP 500", issuer: status500, insecure: true, wantStatus: 500, doc: "cxone-configuration", tokenURL: status500 + "/t"},
		{name: "timeout", issuer: hang, insecure: true, tokenURL: hang + "/t", want: context.DeadlineExceeded, doc: "cxone-configuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := accessKeyConfig(tt.issuer, tt.ca)
			cfg.AllowInsecureHTTP = tt.insecure
			cfg.TokenURL = tt.tokenURL
			cfg.RequestTimeout = 300 * time.Millisecond
			p := newPublisher(t, cfg)
			start := time.Now()
			_, err := p.Endpoints(context.Background())
			var de *sink.DiscoveryError
			if !errors.As(err, &de) {
				t.Fatalf("Endpoints: %v, want a *DiscoveryError", err)
			}
			if de.Doc != tt.doc || de.Status != tt.wantStatus || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("got doc %q status %d err %v; want %q %d %v", de.Doc, de.Status, err, tt.doc, tt.wantStatus, tt.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s", d)
			}
			_, perr := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
			if !errors.Is(perr, sink.ErrSystemic) || !errors.As(perr, &de) {
				t.Errorf("Publish: %v, want systemic wrapping the discovery error", perr)
			}
			for _, e := range []error{err, perr} {
				for _, s := range []string{cxonetest.DefaultAppSecret, cxonetest.DefaultAccessKeySecret} {
					if strings.Contains(e.Error(), s) {
						t.Errorf("secret in error: %v", e)
					}
				}
			}
			t.Logf("%v", err)
		})
	}
	for _, s := range []*cxonetest.Server{tlsOther, tlsHTTPAPI, tlsWrongIssuer} {
		if st := s.Stats(); st.Accepted != 0 {
			t.Errorf("events accepted despite failed discovery: %+v", st)
		}
	}
}

// TestDiscoveryCacheFile: discovered endpoints are written to the cache
// file (mode 0600); a later publisher whose issuer is unreachable uses
// them, and publishes; a cache of another tenant is not used.
func TestDiscoveryCacheFile(t *testing.T) {
	srv, ca := newTLSServer(t)
	cache := filepath.Join(t.TempDir(), "discovery.json")
	cfg := accessKeyConfig(srv.URL, ca)
	cfg.DiscoveryCacheFile = cache
	p := newPublisher(t, cfg)
	if _, err := p.Endpoints(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(cache)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("cache mode %v", st.Mode())
	}
	var f map[string]any
	data, _ := os.ReadFile(cache)
	if err := json.Unmarshal(data, &f); err != nil || f["api_endpoint"] != srv.URL || f["token_endpoint"] != srv.URL+cxonetest.AuthTokenPath {
		t.Fatalf("cache %s (%v)", data, err)
	}

	// The issuer's discovery documents become unreachable: a proxy that
	// refuses every CONNECT stands in for the outage, except for the API
	// and token endpoints themselves.
	outage := func(r *http.Request) (*url.URL, error) {
		if strings.HasPrefix(r.URL.Path, "/.well-known/") {
			return url.Parse("http://127.0.0.1:1")
		}
		return nil, nil
	}
	cfg2 := accessKeyConfig(srv.URL, ca)
	cfg2.DiscoveryCacheFile = cache
	cfg2.Proxy = outage
	p2 := newPublisher(t, cfg2)
	if _, err := p2.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
		t.Fatalf("publish with cached endpoints: %v", err)
	}
	before := srv.Stats().DiscoveryRequests

	cfg3 := cfg2
	cfg3.TenantID = "another-tenant"
	p3 := newPublisher(t, cfg3)
	if _, err := p3.Endpoints(context.Background()); err == nil {
		t.Error("another tenant's cache was used")
	}
	if got := srv.Stats().DiscoveryRequests; got != before {
		t.Errorf("discovery requests reached the server during the outage: %d → %d", before, got)
	}
}

// TestSecretFilesRotated: both secrets are read from files; after the
// server accepts only new secrets and the files are rewritten, the next
// token fetch uses them without a restart and without a refused request.
func TestSecretFilesRotated(t *testing.T) {
	srv, ca := newTLSServer(t)
	dir := t.TempDir()
	appFile, keyFile := filepath.Join(dir, "app"), filepath.Join(dir, "key")
	write := func(path, v string) {
		t.Helper()
		// Like a Kubernetes Secret volume: a new file renamed into place.
		if err := os.WriteFile(path+".new", []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	write(appFile, cxonetest.DefaultAppSecret)
	write(keyFile, cxonetest.DefaultAccessKeySecret)
	cfg := accessKeyConfig(srv.URL, ca)
	cfg.ClientSecret, cfg.ClientSecretFile = "", appFile
	cfg.AccessKeySecret, cfg.AccessKeySecretFile = "", keyFile
	p := newPublisher(t, cfg)
	publish := func(step string) {
		t.Helper()
		if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	publish("before rotation")

	srv.SetClientSecret(cxonetest.DefaultAppID, "app-secret-2")
	write(appFile, "app-secret-2")
	srv.RevokeTokens() // the next publish needs a new token
	publish("after the application secret's rotation")

	srv.SetAccessKeySecret(cxonetest.DefaultAccessKeyID, "key-secret-2")
	write(keyFile, "key-secret-2")
	srv.RevokeTokens()
	publish("after the access key's rotation")

	if st := srv.Stats(); st.TokensIssued != 3 || st.TokenFailures != 0 || st.Accepted != 3 {
		t.Errorf("stats %+v, want 3 tokens, no refused token request, 3 events", st)
	}
}

// TestRefusedCredentialsRereadSecretFile: the secret file changes between
// the read and the token endpoint's refusal: the source reads it again and
// retries once with the new secret; with an unchanged file it gives up
// after one request.
func TestRefusedCredentialsRereadSecretFile(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	var tokenRequests atomic.Int32
	var rotateOnRefusal atomic.Bool
	rotateOnRefusal.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/token" {
			w.WriteHeader(202)
			io.WriteString(w, `{"id":"1"}`)
			return
		}
		tokenRequests.Add(1)
		_, secret, _ := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		if secret != "new" {
			if rotateOnRefusal.Load() {
				os.WriteFile(secretFile, []byte("new\n"), 0o600) // rotated while the request was on its way
			}
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		io.WriteString(w, `{"access_token":"tok","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(srv.Close)
	cfg := testConfig(srv.URL)
	cfg.ClientSecret, cfg.ClientSecretFile = "", secretFile
	p := newPublisher(t, cfg)
	if err := p.FetchToken(context.Background()); err != nil {
		t.Fatalf("FetchToken: %v", err)
	}
	if n := tokenRequests.Load(); n != 2 {
		t.Errorf("%d token requests, want 2 (refused, then the re-read secret)", n)
	}

	rotateOnRefusal.Store(false)
	if err := os.WriteFile(secretFile, []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenRequests.Store(0)
	p2 := newPublisher(t, cfg)
	err := p2.FetchToken(context.Background())
	if se := asError(t, err); se.Status != 401 || se.Class != sink.ClassSystemic {
		t.Errorf("got %+v", se)
	}
	if n := tokenRequests.Load(); n != 1 {
		t.Errorf("%d token requests with an unchanged file, want 1", n)
	}
}

// TestHTTP2WithCAFile: against a TLS server trusted only through the CA
// file, the events requests use HTTP/2.
func TestHTTP2WithCAFile(t *testing.T) {
	var h2, other atomic.Int32
	h := cxonetest.NewHandler()
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == cxonetest.EventsPath {
			if r.ProtoMajor == 2 {
				h2.Add(1)
			} else {
				other.Add(1)
			}
		}
		h.ServeHTTP(w, r)
	}))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(ts.URL)
	cfg.CAFile = ca
	cfg.Proxy = noProxy
	p := newPublisher(t, cfg)
	for i := 0; i < 10; i++ {
		if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
			t.Fatal(err)
		}
	}
	if h2.Load() != 10 || other.Load() != 0 {
		t.Errorf("%d HTTP/2 and %d other events requests, want 10 HTTP/2", h2.Load(), other.Load())
	}
}

// connectProxy is a small CONNECT proxy on loopback: it counts tunnels,
// records their targets and maps the host cxone.test to 127.0.0.1 (so the
// client cannot have resolved the name itself: nothing else resolves it).
type connectProxy struct {
	URL     string
	mu      sync.Mutex
	targets []string
}

func newConnectProxy(t *testing.T) *connectProxy {
	cp := &connectProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		cp.mu.Lock()
		cp.targets = append(cp.targets, r.Host)
		cp.mu.Unlock()
		host, port, err := net.SplitHostPort(r.Host)
		if err != nil || host != "cxone.test" {
			http.Error(w, "unknown host", http.StatusBadGateway)
			return
		}
		up, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() { io.Copy(up, buf); up.(*net.TCPConn).CloseWrite() }()
		io.Copy(conn, up)
		conn.Close()
		up.Close()
	}))
	t.Cleanup(srv.Close)
	cp.URL = srv.URL
	return cp
}

func (cp *connectProxy) tunnels() []string {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return append([]string(nil), cp.targets...)
}

// TestHTTPSProxyFromEnvironment: with HTTPS_PROXY set, discovery, the token
// request and the events go through CONNECT tunnels to cxone.test (a name
// only the proxy resolves); with NO_PROXY naming the host the proxy is not
// used at all.
func TestHTTPSProxyFromEnvironment(t *testing.T) {
	srv, ca := newTLSServer(t)
	proxy := newConnectProxy(t)
	issuer := srv.URLWithHost("cxone.test")
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("https_proxy", "")
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	cfg := accessKeyConfig(issuer, ca)
	cfg.Proxy = nil // from the environment
	p := newPublisher(t, cfg)
	for i := 0; i < 3; i++ {
		if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
			t.Fatalf("publish through the proxy: %v", err)
		}
	}
	tunnels := proxy.tunnels()
	if len(tunnels) == 0 {
		t.Fatal("no CONNECT reached the proxy")
	}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, target := range tunnels {
		if target != "cxone.test:"+port {
			t.Errorf("CONNECT to %q, want cxone.test:%s", target, port)
		}
	}
	if st := srv.Stats(); st.Accepted != 3 || st.DiscoveryRequests != 2 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("%d CONNECT tunnel(s) for 2 discovery documents, 1 token and 3 events", len(tunnels))

	t.Setenv("NO_PROXY", "cxone.test")
	cfg.RequestTimeout = 3 * time.Second
	cfg.Retry.MaxAttempts = 1
	p2 := newPublisher(t, cfg)
	_, err := p2.Endpoints(context.Background())
	if err == nil {
		t.Fatal("cxone.test reached without the proxy, which should be impossible")
	}
	if n := len(proxy.tunnels()); n != len(tunnels) {
		t.Errorf("NO_PROXY host went through the proxy: %d tunnels, was %d", n, len(tunnels))
	}
	t.Logf("direct attempt failed as expected: %v", err)
}

func ExampleConfig_accessKey() {
	cfg := sink.Config{
		AuthMode:            sink.AuthAccessKey,
		Issuer:              sink.DefaultIssuer,
		DiscoverAPIEndpoint: true,
		TenantID:            "11111111-2222-3333-4444-555555555555",
		ClientID:            "my-app",
		ClientSecretFile:    "/var/run/secrets/cxone/client_secret",
		AccessKeyID:         "AK-123",
		AccessKeySecretFile: "/var/run/secrets/cxone/access_key_secret",
	}
	fmt.Println(cfg.AuthMode, cfg.Issuer)
	// Output: access_key https://cxone.niceincontact.com
}

// TestAccessKeyGrantWireFormat: the token request of access-key mode is
// docs/design.md §7's: Basic(client id, secret) and the form grant_type=password,
// username=<access key id>, password=<access key secret>, and no scope
// unless one is configured.
func TestAccessKeyGrantWireFormat(t *testing.T) {
	type seen struct {
		user, pass string
		form       url.Values
	}
	got := make(chan seen, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		r.ParseForm()
		got <- seen{u, p, r.PostForm}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"t","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(srv.Close)
	cfg := accessKeyConfig("", "")
	cfg.DiscoverAPIEndpoint, cfg.Issuer, cfg.TenantID = false, "", ""
	cfg.BaseURL, cfg.TokenURL = srv.URL, srv.URL+"/auth/token"
	for _, scope := range []string{"", "custom:scope"} {
		cfg.Scope = scope
		if err := newPublisher(t, cfg).FetchToken(context.Background()); err != nil {
			t.Fatal(err)
		}
		s := <-got
		want := url.Values{"grant_type": {"password"}, "username": {cxonetest.DefaultAccessKeyID}, "password": {cxonetest.DefaultAccessKeySecret}}
		if scope != "" {
			want.Set("scope", scope)
		}
		if s.user != cxonetest.DefaultAppID || s.pass != cxonetest.DefaultAppSecret || s.form.Encode() != want.Encode() {
			t.Errorf("scope %q: basic %q/%q form %v, want %v", scope, s.user, s.pass, s.form, want)
		}
	}
}
