package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cxone-bridge/bridge/redact"
)

// Discovery (docs/design.md §7). Real CXone publishes, under its issuer (for example
// https://cxone.niceincontact.com):
//
//	/.well-known/openid-configuration            → token_endpoint
//	/.well-known/cxone-configuration?tenantId=ID → api_endpoint of the tenant
//
// Both documents come from outside: they are parsed strictly, their size is
// bounded, and the URLs they announce must be https (unless the
// configuration allows plain http for a local test server). Errors name the
// document, the member and what is wrong, never the values.

// Well-known paths under the issuer.
const (
	OpenIDConfigPath = "/.well-known/openid-configuration"
	CXoneConfigPath  = "/.well-known/cxone-configuration"
	// DefaultIssuer is real CXone's issuer, the default in access-key mode.
	DefaultIssuer = "https://cxone.niceincontact.com"
	// MaxDiscoveryBytes bounds a discovery document; real ones are a few KiB.
	MaxDiscoveryBytes = 256 << 10
	maxURLLen         = 2048
)

var (
	// ErrBadDocument: a discovery document is not what the bridge accepts
	// (not a JSON object, a member missing or of the wrong type, too large,
	// an issuer that does not match).
	ErrBadDocument = errors.New("malformed discovery document")
	// ErrInsecureEndpoint: a document announced a plain http:// URL and
	// allow_insecure_http is not set.
	ErrInsecureEndpoint = errors.New("announced endpoint is not https")
	// ErrUnknownTenant: the issuer answered 404 for the tenant id.
	ErrUnknownTenant = errors.New("the issuer does not know this tenant id")
	// ErrHostNotAllowed: a document announced an endpoint on a host that
	// [Config.AllowedHosts] does not list. Nothing is sent to it.
	ErrHostNotAllowed = errors.New("announced endpoint is on a host that is not allowed")
)

// DiscoveryError is a failed discovery: the document's URL, the HTTP status
// when the issuer answered something other than 200, and the cause (test it
// with errors.Is against [ErrBadDocument], [ErrInsecureEndpoint],
// [ErrUnknownTenant], [ErrHostNotAllowed], or a transport error). It never
// holds the answer's body: the causes name the member and what is wrong
// (for ErrHostNotAllowed, the host, quoted and bounded).
type DiscoveryError struct {
	Doc    string // "openid-configuration" or "cxone-configuration"
	URL    string
	Status int
	Err    error
}

func (e *DiscoveryError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("discovery of %s at %s: HTTP %d: %v", e.Doc, e.URL, e.Status, e.Err)
	}
	return fmt.Sprintf("discovery of %s at %s: %v", e.Doc, e.URL, e.Err)
}

func (e *DiscoveryError) Unwrap() error { return e.Err }

// OpenIDConfiguration is what the bridge uses of an issuer's OpenID
// discovery document.
type OpenIDConfiguration struct {
	Issuer        string
	TokenEndpoint string
}

// CXoneConfiguration is what the bridge uses of a tenant's
// cxone-configuration document.
type CXoneConfiguration struct {
	TenantID    string // as the document states it ("" when it does not)
	APIEndpoint string // base URL of the tenant's API, without trailing slash
}

// ParseOpenIDConfiguration parses an OpenID discovery document. It
// guarantees, on success, that the document is a JSON object of at most
// [MaxDiscoveryBytes] whose "issuer" equals issuer (OpenID Connect Discovery
// §4.3; a trailing slash is ignored) and whose "token_endpoint" is an
// absolute https URL (http only with allowHTTP) without credentials or
// fragment. Other members are ignored. Errors wrap [ErrBadDocument] or
// [ErrInsecureEndpoint] and never quote the document's values.
func ParseOpenIDConfiguration(body []byte, issuer string, allowHTTP bool) (OpenIDConfiguration, error) {
	m, err := parseDocument(body)
	if err != nil {
		return OpenIDConfiguration{}, err
	}
	var c OpenIDConfiguration
	if c.Issuer, err = stringMember(m, "issuer", true); err != nil {
		return OpenIDConfiguration{}, err
	}
	if strings.TrimRight(c.Issuer, "/") != strings.TrimRight(issuer, "/") {
		return OpenIDConfiguration{}, fmt.Errorf("%w: issuer does not match the configured issuer", ErrBadDocument)
	}
	if c.TokenEndpoint, err = stringMember(m, "token_endpoint", true); err != nil {
		return OpenIDConfiguration{}, err
	}
	if err := checkAnnounced("token_endpoint", c.TokenEndpoint, allowHTTP); err != nil {
		return OpenIDConfiguration{}, err
	}
	return c, nil
}

// ParseCXoneConfiguration parses a tenant's cxone-configuration document.
// It guarantees, on success, that the document is a JSON object of at most
// [MaxDiscoveryBytes], that its "tenantId", when present, equals tenantID
// (case-insensitively: it is a GUID), and that "api_endpoint" is an
// absolute https URL (http only with allowHTTP) without credentials, query
// or fragment; [CXoneConfiguration.APIEndpoint] has no trailing slash.
// Errors wrap [ErrBadDocument] or [ErrInsecureEndpoint] and never quote the
// document's values.
func ParseCXoneConfiguration(body []byte, tenantID string, allowHTTP bool) (CXoneConfiguration, error) {
	m, err := parseDocument(body)
	if err != nil {
		return CXoneConfiguration{}, err
	}
	var c CXoneConfiguration
	if c.TenantID, err = stringMember(m, "tenantId", false); err != nil {
		return CXoneConfiguration{}, err
	}
	if c.TenantID != "" && !strings.EqualFold(c.TenantID, tenantID) {
		return CXoneConfiguration{}, fmt.Errorf("%w: tenantId does not match the configured tenant_id", ErrBadDocument)
	}
	if c.APIEndpoint, err = stringMember(m, "api_endpoint", true); err != nil {
		return CXoneConfiguration{}, err
	}
	if err := checkAnnounced("api_endpoint", c.APIEndpoint, allowHTTP); err != nil {
		return CXoneConfiguration{}, err
	}
	if u, _ := url.Parse(c.APIEndpoint); u.RawQuery != "" || u.ForceQuery {
		return CXoneConfiguration{}, fmt.Errorf("%w: api_endpoint must not have a query", ErrBadDocument)
	}
	c.APIEndpoint = strings.TrimRight(c.APIEndpoint, "/")
	return c, nil
}

func parseDocument(body []byte) (map[string]json.RawMessage, error) {
	if len(body) > MaxDiscoveryBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadDocument, MaxDiscoveryBytes)
	}
	if !utf8.Valid(body) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrBadDocument)
	}
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrBadDocument)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrBadDocument)
	}
	return m, nil
}

// stringMember returns member name as a string; a missing member is an
// error only when required, a member of another type always is.
func stringMember(m map[string]json.RawMessage, name string, required bool) (string, error) {
	raw, ok := m[name]
	if !ok || string(raw) == "null" {
		if required {
			return "", fmt.Errorf("%w: %s is missing", ErrBadDocument, name)
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: %s must be a string", ErrBadDocument, name)
	}
	if required && s == "" {
		return "", fmt.Errorf("%w: %s is empty", ErrBadDocument, name)
	}
	return s, nil
}

// checkAnnounced checks a URL a document announced, without echoing it.
func checkAnnounced(name, raw string, allowHTTP bool) error {
	if len(raw) > maxURLLen {
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrBadDocument, name, maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Opaque != "" {
		return fmt.Errorf("%w: %s is not an absolute http(s) URL", ErrBadDocument, name)
	}
	if u.User != nil {
		return fmt.Errorf("%w: %s must not carry credentials", ErrBadDocument, name)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("%w: %s must not have a fragment", ErrBadDocument, name)
	}
	if u.Scheme == "http" && !allowHTTP {
		return fmt.Errorf("%w: %s (set allow_insecure_http only for a local test server)", ErrInsecureEndpoint, name)
	}
	return nil
}

// checkAllowed checks the host of a URL a document announced (already
// checked by checkAnnounced) against allowed (Config.AllowedHosts; empty:
// any host).
func checkAllowed(name, raw string, allowed []string) error {
	if len(allowed) == 0 {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %s is not an absolute http(s) URL", ErrBadDocument, name)
	}
	host := u.Hostname()
	if hostAllowed(host, allowed) {
		return nil
	}
	return fmt.Errorf("%w: %s is on host %s, which is not in the allowed hosts", ErrHostNotAllowed, name,
		strconv.Quote(redact.Truncate(strings.ToValidUTF8(host, "\uFFFD"), 255)))
}

// hostAllowed reports whether host is one of allowed: an entry is a host
// name, or ".example.com" for example.com and every subdomain. Case and a
// trailing dot are ignored.
func hostAllowed(host string, allowed []string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "" {
		return false
	}
	for _, a := range allowed {
		a = strings.TrimSuffix(strings.ToLower(a), ".")
		if domain, ok := strings.CutPrefix(a, "."); ok {
			if domain != "" && (h == domain || strings.HasSuffix(h, a)) {
				return true
			}
		} else if h == a {
			return true
		}
	}
	return false
}

// fetchDocument GETs a discovery document; the body read is bounded.
func fetchDocument(ctx context.Context, hc *http.Client, doc, u, userAgent string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, &DiscoveryError{Doc: doc, URL: u, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &DiscoveryError{Doc: doc, URL: u, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxDiscoveryBytes+1))
	if err != nil {
		return nil, &DiscoveryError{Doc: doc, URL: u, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return body, nil
	case resp.StatusCode == http.StatusNotFound && doc == "cxone-configuration":
		return nil, &DiscoveryError{Doc: doc, URL: u, Status: resp.StatusCode, Err: ErrUnknownTenant}
	default:
		return nil, &DiscoveryError{Doc: doc, URL: u, Status: resp.StatusCode, Err: errors.New("unexpected answer")}
	}
}

// lazyURL is a URL that is either fixed or discovered once, on first use:
// at most one discovery is in flight (a [flight]: callers wait for it
// context-aware, a caller giving up does not cancel it for others, and
// [Publisher.Close] ends it), a success is kept for the life of the
// process, a failure is not (the next caller tries again).
type lazyURL struct {
	val      atomic.Pointer[string]
	discover *flight[string] // nil when fixed
}

func fixedURL(u string) *lazyURL {
	l := &lazyURL{}
	l.val.Store(&u)
	return l
}

// discoveredURL returns a lazyURL that discover finds, on bg, in at most
// timeout.
func discoveredURL(discover func(ctx context.Context) (string, error), timeout time.Duration, bg *background) *lazyURL {
	l := &lazyURL{}
	l.discover = &flight[string]{
		fn: func(ctx context.Context) (string, error) {
			v, err := discover(ctx)
			if err == nil {
				l.val.Store(&v)
			}
			return v, err
		},
		timeout: timeout,
		bg:      bg,
	}
	return l
}

func (l *lazyURL) get(ctx context.Context) (string, error) {
	if v := l.val.Load(); v != nil {
		return *v, nil
	}
	return l.discover.do(ctx, l.known)
}

// known returns the URL once it is known.
func (l *lazyURL) known() (string, bool) {
	if v := l.val.Load(); v != nil {
		return *v, true
	}
	return "", false
}

// discovered reports whether the URL is discovered rather than fixed.
func (l *lazyURL) discovered() bool { return l.discover != nil }
