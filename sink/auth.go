package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/cxone-bridge/bridge/redact"
	"github.com/cxone-bridge/bridge/secret"
)

// maxSecretFileBytes bounds what is read of a secret file.
const maxSecretFileBytes = 64 << 10

// secretSource yields a secret given inline or kept in a file. A file is
// read again at every call (a token fetch: rare), so a rotated secret — a
// Kubernetes Secret volume swaps its files in place — is used from the next
// token fetch on, without a restart. When the file cannot be read or is
// empty (for example in the middle of a rotation), the last good value is
// kept and the problem logged; without a last good value it is an error.
type secretSource struct {
	name   string // "client secret", "access key secret": for logs and errors
	static secret.Secret
	path   string
	log    *slog.Logger

	mu   sync.Mutex
	last secret.Secret
}

func (s *secretSource) get() (secret.Secret, error) {
	if s.path == "" {
		return s.static, nil
	}
	v, err := readSecretFile(s.path)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.last == "" {
			return "", fmt.Errorf("%s: %w", s.name, err)
		}
		s.log.Warn("cannot read secret file, keeping the last secret read", "secret", s.name, "file", s.path, "err", err)
		return s.last, nil
	}
	if s.last != "" && v != s.last {
		s.log.Info("secret file changed, using the new secret", "secret", s.name, "file", s.path)
	}
	s.last = v
	return v, nil
}

// readSecretFile reads a secret file: at most maxSecretFileBytes, trailing
// CR/LF removed, not empty. Errors name the file, never its content.
func readSecretFile(path string) (secret.Secret, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxSecretFileBytes {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxSecretFileBytes)
	}
	v := strings.TrimRight(string(data), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return secret.Secret(v), nil
}

// grantSource is the [tokenSource] the Publisher builds from [Config]: the
// client-credentials grant (the tutorial's) or the password grant with an
// access key (real CXone, docs/design.md §7). Each Token call resolves the token
// endpoint (fixed or discovered once), reads the secrets (files again), and
// asks for one token. When the endpoint refuses the credentials (401, or
// invalid_client, invalid_grant, unauthorized_client) it reads the secrets
// once more and, if a secret file changed meanwhile, tries once more with
// the new value before giving up.
//
// Every request carries the client id and secret in the Basic header, in
// the form basic says (see tokenClient), and nowhere else.
//
// Every secret it reads is given to scrub before it is used, and every
// error it returns is a [*TokenError] (scrubbed, bounded, holding no answer
// body) or the [*DiscoveryError] of the token endpoint.
type grantSource struct {
	mode         AuthMode
	hc           *http.Client  // the Publisher's; see tokenClient
	basic        BasicEncoding // the form of the Basic header
	clientID     string
	clientSecret *secretSource
	keyID        string
	keySecret    *secretSource // access_key mode only
	scopes       []string
	tokenURL     *lazyURL
	log          *slog.Logger
	scrub        *redact.Scrubber
}

func (g *grantSource) Token(ctx context.Context) (*oauth2.Token, error) {
	u, err := g.tokenURL.get(ctx)
	if err != nil {
		return nil, err
	}
	cs, ks, err := g.secrets()
	if err != nil {
		return nil, err
	}
	tok, err := g.exchange(ctx, u, cs, ks)
	if err == nil || !credentialsRefused(err) {
		return tok, err
	}
	cs2, ks2, rerr := g.secrets()
	if rerr != nil || (cs2 == cs && ks2 == ks) {
		return nil, err
	}
	g.log.Info("credentials refused, and a secret file changed since: retrying with the new secret")
	return g.exchange(ctx, u, cs2, ks2)
}

// secrets reads the secrets (the files again) and tells the scrubber about
// them before anything is sent: the client secret with its Basic header
// encodings, the access key secret.
func (g *grantSource) secrets() (client, key secret.Secret, err error) {
	if client, err = g.clientSecret.get(); err != nil {
		return "", "", err
	}
	g.scrub.AddBasic(g.clientID, string(client))
	if g.keySecret != nil {
		if key, err = g.keySecret.get(); err != nil {
			return "", "", err
		}
		g.scrub.AddSecret(string(key))
	}
	return client, key, nil
}

// exchange makes one token request; its error is a *TokenError.
func (g *grantSource) exchange(ctx context.Context, tokenURL string, clientSecret, keySecret secret.Secret) (*oauth2.Token, error) {
	tok, err := g.request(ctx, tokenURL, clientSecret, keySecret)
	return tok, newTokenError(err, g.scrub)
}

// request makes one token request through golang.org/x/oauth2, whose
// header it replaces with the configured form (tokenClient).
func (g *grantSource) request(ctx context.Context, tokenURL string, clientSecret, keySecret secret.Secret) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, g.tokenClient(g.basic.basicHeader(g.clientID, string(clientSecret))))
	if g.mode == AuthAccessKey {
		c := &oauth2.Config{
			ClientID:     g.clientID,
			ClientSecret: string(clientSecret),
			Endpoint:     oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader},
			Scopes:       g.scopes,
		}
		return c.PasswordCredentialsToken(ctx, g.keyID, string(keySecret))
	}
	c := &clientcredentials.Config{
		ClientID:     g.clientID,
		ClientSecret: string(clientSecret),
		TokenURL:     tokenURL,
		Scopes:       g.scopes,
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	return c.Token(ctx)
}

// tokenClient returns the client of one token request: g.hc whose
// transport sets the Authorization header to header.
//
// golang.org/x/oauth2 (AuthStyleInHeader) always form-URL-encodes the id
// and secret (RFC 6749 §2.3.1), which a server that does not decode
// refuses for a secret holding + / = % or :; the transport replaces that
// header with the configured form, [BasicRaw] or [BasicRFC6749], so that
// the credentials stay in the header in both. It replaces a header that
// is there and never adds one: on a redirect to another host, net/http
// drops the header, and the credentials are not sent there.
func (g *grantSource) tokenClient(header string) *http.Client {
	c := *g.hc
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &basicTransport{base: base, header: header}
	return &c
}

// basicTransport sets the Authorization header of the token request it
// carries; see tokenClient.
type basicTransport struct {
	base   http.RoundTripper
	header string
}

func (t *basicTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") != "" {
		r = r.Clone(r.Context()) // a RoundTripper must not change the caller's request
		r.Header.Set("Authorization", t.header)
	}
	return t.base.RoundTrip(r)
}

// credentialsRefused tells a refusal of the credentials from other failures.
func credentialsRefused(err error) bool {
	var te *TokenError
	return errors.As(err, &te) && te.refused()
}

// endpoints resolves the token endpoint and the events URL: fixed by the
// configuration, or discovered from the issuer once (docs/design.md §7), with an
// optional cache file that outlives the process.
type endpoints struct {
	cfg    Config
	hc     *http.Client
	log    *slog.Logger
	token  *lazyURL
	events *lazyURL
	cache  *discoveryCache // nil: no cache file
}

func newEndpoints(cfg Config, hc *http.Client, log *slog.Logger, bg *background) *endpoints {
	e := &endpoints{cfg: cfg, hc: hc, log: log}
	if cfg.DiscoveryCacheFile != "" {
		e.cache = &discoveryCache{path: cfg.DiscoveryCacheFile, issuer: cfg.Issuer, tenant: cfg.TenantID, allowed: cfg.AllowedHosts}
	}
	if cfg.TokenURL != "" {
		e.token = fixedURL(cfg.TokenURL)
	} else {
		e.token = discoveredURL(e.discoverToken, cfg.RequestTimeout, bg)
	}
	if !cfg.DiscoverAPIEndpoint {
		e.events = fixedURL(strings.TrimRight(cfg.BaseURL, "/") + cfg.EventsPath)
	} else {
		e.events = discoveredURL(e.discoverEvents, cfg.RequestTimeout, bg)
	}
	return e
}

func (e *endpoints) issuerURL(path string) string { return strings.TrimRight(e.cfg.Issuer, "/") + path }

func (e *endpoints) discoverToken(ctx context.Context) (string, error) {
	const doc = "openid-configuration"
	u := e.issuerURL(OpenIDConfigPath)
	body, err := fetchDocument(ctx, e.hc, doc, u, e.cfg.UserAgent)
	if err == nil {
		var c OpenIDConfiguration
		if c, err = ParseOpenIDConfiguration(body, e.cfg.Issuer, e.cfg.AllowInsecureHTTP); err == nil {
			if err := checkAllowed("token_endpoint", c.TokenEndpoint, e.cfg.AllowedHosts); err != nil {
				// A definite answer, not an outage: no cache fallback,
				// and nothing is ever sent to that host.
				return "", &DiscoveryError{Doc: doc, URL: u, Err: err}
			}
			e.log.Info("discovered the CXone token endpoint", "issuer", e.cfg.Issuer, "token_endpoint", c.TokenEndpoint)
			e.cache.save(func(f *cacheFile) { f.TokenEndpoint = c.TokenEndpoint }, e.log)
			return c.TokenEndpoint, nil
		}
		err = &DiscoveryError{Doc: doc, URL: u, Err: err}
	}
	return e.fallback(ctx, err, func(f *cacheFile) string { return f.TokenEndpoint }, "token_endpoint")
}

func (e *endpoints) discoverEvents(ctx context.Context) (string, error) {
	const doc = "cxone-configuration"
	u := e.issuerURL(CXoneConfigPath) + "?tenantId=" + url.QueryEscape(e.cfg.TenantID)
	body, err := fetchDocument(ctx, e.hc, doc, u, e.cfg.UserAgent)
	if err == nil {
		var c CXoneConfiguration
		if c, err = ParseCXoneConfiguration(body, e.cfg.TenantID, e.cfg.AllowInsecureHTTP); err == nil {
			if err := checkAllowed("api_endpoint", c.APIEndpoint, e.cfg.AllowedHosts); err != nil {
				return "", &DiscoveryError{Doc: doc, URL: u, Err: err}
			}
			e.log.Info("discovered the CXone API endpoint", "tenant_id", e.cfg.TenantID, "api_endpoint", c.APIEndpoint)
			e.cache.save(func(f *cacheFile) { f.APIEndpoint = c.APIEndpoint }, e.log)
			return c.APIEndpoint + e.cfg.EventsPath, nil
		}
		err = &DiscoveryError{Doc: doc, URL: u, Err: err}
	}
	base, err := e.fallback(ctx, err, func(f *cacheFile) string { return f.APIEndpoint }, "api_endpoint")
	if err != nil {
		return "", err
	}
	return base + e.cfg.EventsPath, nil
}

// fallback returns the cached value of a failed discovery when there is a
// cache file holding one for this issuer and tenant, except when the issuer
// said it does not know the tenant (a definite answer, not an outage) and
// when the discovery was abandoned at [Publisher.Close] (ctx is its
// context). A cached value on a host that is not allowed is not used.
func (e *endpoints) fallback(ctx context.Context, err error, field func(*cacheFile) string, name string) (string, error) {
	if e.cache == nil || errors.Is(err, ErrUnknownTenant) || closing(ctx) {
		return "", err
	}
	f, cerr := e.cache.load(e.cfg.AllowInsecureHTTP)
	if cerr != nil || field(f) == "" {
		if cerr != nil && !errors.Is(cerr, os.ErrNotExist) {
			e.log.Warn("discovery cache file unusable", "file", e.cache.path, "err", cerr)
		}
		return "", err
	}
	e.log.Warn("discovery failed, using the endpoint from the cache file", "endpoint", name, "value", field(f),
		"saved_at", f.SavedAt, "file", e.cache.path, "err", err)
	return field(f), nil
}

// discoveryCache is the optional file keeping the last discovered
// endpoints, so that a restart during an outage of the issuer still finds
// them. It is written atomically (temporary file and rename, mode 0600) and
// read strictly: another issuer's or tenant's file, or a bad URL in it, is
// not used.
type discoveryCache struct {
	path, issuer, tenant string
	allowed              []string // Config.AllowedHosts
	mu                   sync.Mutex
}

type cacheFile struct {
	Version       int       `json:"version"`
	Issuer        string    `json:"issuer"`
	TenantID      string    `json:"tenant_id,omitempty"`
	TokenEndpoint string    `json:"token_endpoint,omitempty"`
	APIEndpoint   string    `json:"api_endpoint,omitempty"`
	SavedAt       time.Time `json:"saved_at"`
}

func (c *discoveryCache) load(allowHTTP bool) (*cacheFile, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loadLocked(allowHTTP)
}

func (c *discoveryCache) loadLocked(allowHTTP bool) (*cacheFile, error) {
	data, err := os.ReadFile(c.path)
	if err != nil {
		return nil, err
	}
	var f cacheFile
	if len(data) > MaxDiscoveryBytes || json.Unmarshal(data, &f) != nil || f.Version != 1 {
		return nil, errors.New("not a version 1 discovery cache")
	}
	if f.Issuer != c.issuer || f.TenantID != c.tenant {
		return nil, errors.New("written for another issuer or tenant")
	}
	for name, v := range map[string]string{"token_endpoint": f.TokenEndpoint, "api_endpoint": f.APIEndpoint} {
		if v != "" {
			if err := checkAnnounced(name, v, allowHTTP); err != nil {
				return nil, err
			}
			if err := checkAllowed(name, v, c.allowed); err != nil {
				return nil, err
			}
		}
	}
	return &f, nil
}

// save merges one discovered value into the file; failures are logged, not
// returned: the cache is a convenience. A nil cache does nothing.
func (c *discoveryCache) save(set func(*cacheFile), log *slog.Logger) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := c.loadLocked(true)
	if err != nil {
		f = &cacheFile{Version: 1, Issuer: c.issuer, TenantID: c.tenant}
	}
	set(f)
	f.SavedAt = time.Now().UTC()
	data, _ := json.MarshalIndent(f, "", "  ")
	if err := writeFileAtomic(c.path, append(data, '\n')); err != nil {
		log.Warn("cannot write the discovery cache file", "file", c.path, "err", err)
	}
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
