package sink

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cxone-bridge/bridge/secret"
)

// Defaults used by [DefaultConfig] and by [New] for zero-valued fields.
// Package config applies the same ones to bridge.yaml's absent keys.
const (
	DefaultBaseURL    = "https://api-us-1.cxone.com"
	DefaultEventsPath = "/api/v2/eventbridge/events"
	DefaultTokenPath  = "/oauth/token"
	DefaultScope      = "eventbridge:events:write"
	DefaultUserAgent  = "cxone-bridge"

	// DefaultMaxInFlight is the consumer's default in-flight limit
	// ([github.com/cxone-bridge/bridge/consumer.DefaultMaxInFlight], which
	// this package does not import: a test of package config checks that
	// the two agree), so that the pool of a Publisher built directly is
	// sized as the bridge's.
	DefaultMaxInFlight      = 256
	DefaultMaxResponseBytes = 64 << 10 // bound on what is read of an answer (id, field errors); excerpts are smaller
)

// AuthMode selects how the [Publisher] obtains its bearer token.
type AuthMode string

const (
	// AuthClientCredentials is the tutorial's flow: OAuth2 client credentials
	// grant, client id and secret in the Basic header, scope in the form.
	// It is the default ("" means AuthClientCredentials).
	AuthClientCredentials AuthMode = "client_credentials"

	// AuthAccessKey is real CXone's flow for back-end applications (docs/design.md
	// §7): the OAuth2 password grant, the registered application's client
	// id and secret in the Basic header, a user's access key id and secret
	// as username and password in the form.
	AuthAccessKey AuthMode = "access_key"
)

// BasicEncoding is the form of the client id and secret inside the HTTP
// Basic header of a token request, base64(id ":" secret). The two forms
// differ only for an id or secret holding a character that
// application/x-www-form-urlencoded changes (anything but A-Z a-z 0-9 - . _
// ~; e.g. + / = % : or a space), and a server that does not decode refuses
// one of them ([BasicFormsDiffer]).
type BasicEncoding string

const (
	// BasicRaw sends the id and secret as they are: the reference Node.js
	// producer's form (Buffer.from(`${id}:${secret}`)) and the common
	// reading of CXone's documentation. It is the default ("" means
	// BasicRaw). An id holding ":" cannot be sent in this form.
	BasicRaw BasicEncoding = "raw"

	// BasicRFC6749 form-URL-encodes the id and secret first (RFC 6749
	// §2.3.1), as golang.org/x/oauth2 does.
	BasicRFC6749 BasicEncoding = "rfc6749"
)

// BasicFormsDiffer reports whether the [BasicRaw] and [BasicRFC6749] Basic
// headers of clientID and clientSecret differ, that is whether
// [Config.BasicEncoding] matters for these credentials.
func BasicFormsDiffer(clientID, clientSecret string) bool {
	return url.QueryEscape(clientID) != clientID || url.QueryEscape(clientSecret) != clientSecret
}

// basicHeader returns the Authorization header value of a token request:
// "Basic " and the base64 of id ":" secret in form e (BasicRFC6749, else raw).
func (e BasicEncoding) basicHeader(id, secret string) string {
	if e == BasicRFC6749 {
		id, secret = url.QueryEscape(id), url.QueryEscape(secret)
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// RetryConfig controls retries of transient failures inside one
// [Publisher.Publish] call.
type RetryConfig struct {
	// BaseDelay and MaxDelay bound the exponential backoff: before retry n
	// (n = 0, 1, ...) Publish sleeps a uniformly random duration in
	// [0, min(MaxDelay, BaseDelay·2ⁿ)] ("full jitter"). Defaults 100ms and 10s.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// MaxAttempts bounds the number of tries of one event (a try that needed a
	// forced token refresh counts once). 0 means the default (6); a negative
	// value means no bound other than MaxElapsed and the context.
	MaxAttempts int
	// MaxElapsed bounds the time from the start of Publish after which no new
	// retry is scheduled: a retry whose wait would end past it is not made.
	// 0 means the default (2m); negative means no bound. Time spent waiting
	// for an open circuit breaker counts too, but such a wait is bounded
	// only by the context.
	MaxElapsed time.Duration
	// RetryAfterMax caps a server's Retry-After (both forms). Default 60s.
	RetryAfterMax time.Duration
}

// RateLimitConfig is the client-side rate limit shared by all callers of one
// [Publisher] (a token bucket, [golang.org/x/time/rate]).
type RateLimitConfig struct {
	// PerSecond is the sustained rate in events per second; 0 disables the limit.
	PerSecond float64
	// Burst is the bucket size; 0 means max(1, ceil(PerSecond)).
	Burst int
}

// BreakerConfig configures the circuit breaker (see the package documentation).
type BreakerConfig struct {
	// FailuresToOpen transient or systemic failures of distinct events in a
	// row, with no healthy answer in between, open the breaker (an event's
	// repeated failures count once). Two or more distinct events failing
	// with no answer for OpenTimeout open it too, however few. Default 5.
	FailuresToOpen int
	// OpenTimeout is how long the breaker stays open before it moves to
	// half-open by itself and lets probes through. Default 30s.
	OpenTimeout time.Duration
	// HalfOpenMaxRequests probes may be in flight while half-open; that many
	// consecutive successes close the breaker. Default 1.
	HalfOpenMaxRequests int
}

// PoisonConfig bounds the effort spent on an event that keeps failing while
// CXone answers other events (the persistent failure rule: see the package
// documentation). Both bounds must be reached, and the failures must be
// unlikely to be bad luck, before [Publisher.Publish] gives up with
// [ClassPersistent].
type PoisonConfig struct {
	// MinAttempts is the number of failed tries in a row (across Publish
	// calls) before an event may be given up on, not counting tries made
	// while other events failed too and none was answered (an outage).
	// Default 10; a negative value turns the rule off (an event is then
	// retried for ever).
	MinAttempts int
	// MinDuration is the time since the event's first failure before it may
	// be given up on. Default 1m.
	MinDuration time.Duration
}

// Config configures a [Publisher]. Zero-valued fields take the defaults of
// [Config.WithDefaults] (those of [DefaultConfig], and the rules of the
// fields that depend on others), which are also those of bridge.yaml's
// absent keys: a Config with only ClientID and ClientSecret set is
// complete. Printing a Config with fmt or slog never shows the secret.
type Config struct {
	// BaseURL is the CXone API base; default [DefaultBaseURL] (unless
	// DiscoverAPIEndpoint).
	BaseURL string
	// EventsPath is appended to BaseURL. Default /api/v2/eventbridge/events.
	EventsPath string
	// DiscoverAPIEndpoint: BaseURL is not given but discovered once from
	// Issuer's /.well-known/cxone-configuration?tenantId=TenantID
	// (api_endpoint), at the first publish (or Endpoints call).
	DiscoverAPIEndpoint bool
	// TenantID is the CXone tenant whose API endpoint is discovered.
	TenantID string
	// TokenURL is the OAuth2 token endpoint. When empty: discovered from
	// Issuer's /.well-known/openid-configuration if Issuer is set, else
	// [DefaultTokenURL].
	TokenURL string
	// Issuer is the OAuth2/OpenID issuer whose discovery documents are
	// read; default [DefaultIssuerFor].
	Issuer string
	// DiscoveryCacheFile, when set, keeps the discovered endpoints across
	// restarts: it is written after each discovery and read only when a
	// discovery fails (not when the issuer says the tenant is unknown).
	DiscoveryCacheFile string
	// AllowedHosts, when set, lists the only hosts that discovered
	// endpoints (the token endpoint of the issuer's openid-configuration,
	// the API base of the tenant's cxone-configuration) may be on: an
	// entry is a host name, or ".example.com" for that domain and every
	// subdomain. Configured URLs are not checked (they are the operator's).
	// Empty: any host (the issuer is trusted).
	AllowedHosts []string
	// AllowInsecureHTTP accepts http:// URLs announced by discovery
	// documents (for a local test server). The configured URLs are checked
	// by the caller (config validation).
	AllowInsecureHTTP bool
	// AuthMode: "" or [AuthClientCredentials], or [AuthAccessKey].
	AuthMode AuthMode
	// ClientID and ClientSecret are sent in the Basic header of the token
	// request. With ClientSecretFile the secret is read from that file
	// instead, again at every token fetch (see secretSource), so a rotated
	// secret is picked up without a restart.
	ClientID         string
	ClientSecret     secret.Secret
	ClientSecretFile string
	// BasicEncoding is the form of ClientID and ClientSecret in that Basic
	// header, for every token request (both modes): [BasicRaw] (default) or
	// [BasicRFC6749].
	BasicEncoding BasicEncoding
	// AccessKeyID and AccessKeySecret (or AccessKeySecretFile, read like
	// ClientSecretFile) are the password grant's username and password in
	// [AuthAccessKey] mode.
	AccessKeyID         string
	AccessKeySecret     secret.Secret
	AccessKeySecretFile string
	// CAFile is a PEM bundle of certificate authorities trusted in addition
	// to the system's (a corporate TLS-inspecting proxy's CA, a private CA).
	// Checked by [cafile.Load]. Not used with [WithHTTPClient], whose
	// client brings its own.
	CAFile string
	// Proxy chooses the proxy of each request. nil means the environment
	// (HTTPS_PROXY, HTTP_PROXY, NO_PROXY and their lower-case forms), read
	// when [New] is called. Not used with [WithHTTPClient].
	Proxy func(*http.Request) (*url.URL, error)
	// Scope is the space-separated scope list requested; default
	// [DefaultScopeFor] the mode.
	Scope string
	// TokenRefreshBefore: a cached token is refreshed this long before it
	// expires (at most half its lifetime), in the background while the old
	// one is still used. Default 30s.
	TokenRefreshBefore time.Duration
	// UserAgent is sent with every request. Default "cxone-bridge".
	UserAgent string

	// MaxInFlight is the bridge's in-flight limit; the keep-alive pool keeps
	// that many idle connections to CXone. Default [DefaultMaxInFlight].
	MaxInFlight int
	// DialTimeout and TLSHandshakeTimeout bound the phases of a new
	// connection, RequestTimeout one whole try, reading the answer
	// included. Defaults 5s, 5s, 30s. ResponseHeaderTimeout, if set, also
	// bounds the wait for the answer's headers; by default it is not:
	// CXone's answers are a few bytes, so the try's deadline bounds that
	// wait as well, and a second deadline cost the transport a timer per
	// request, armed and disarmed in the runtime's timer heap every time
	// the request waited on it (4 allocations and a few µs per event).
	DialTimeout           time.Duration
	TLSHandshakeTimeout   time.Duration
	ResponseHeaderTimeout time.Duration
	RequestTimeout        time.Duration
	// MaxResponseBytes bounds what is read of an answer to parse it (id,
	// field errors). Default 64 KiB. The excerpt kept of a failed answer
	// is at most min(MaxResponseBytes, MaxExcerptBytes), scrubbed.
	MaxResponseBytes int

	Retry     RetryConfig
	RateLimit RateLimitConfig
	Breaker   BreakerConfig
	Poison    PoisonConfig

	// Logger receives the [Publisher]'s logs. nil means none: they are
	// discarded.
	Logger *slog.Logger
	// OnBreakerState, when set, is called on every state change of the
	// circuit breaker, in order. It runs synchronously while the breaker's
	// lock is held: it must return quickly and must not call the Publisher
	// (hand the change to another goroutine, e.g. over a buffered channel).
	OnBreakerState func(from, to BreakerState)
	// Observer, when set, is told about publishes, retries and token
	// fetches (for metrics). Its methods must be quick and safe for
	// concurrent use.
	Observer Observer
}

// Observer receives the [Publisher]'s events; the metrics package implements
// it, so the sink itself needs no metrics library.
type Observer interface {
	// Published is called once per [Publisher.Publish] call that ended with
	// a final answer: err is nil (accepted; res.Duplicate for a 409) or an
	// [*Error] (rejected or systemic, or transient with retries exhausted).
	// Calls abandoned because ctx ended are not reported. d includes
	// retries.
	Published(d time.Duration, res Result, err *Error)
	// Retrying is called before each sink-level retry; reason is
	// "http_<status>", "timeout" or "connection".
	Retrying(reason string)
	// TokenFetched is called after each token endpoint request (but one
	// that [Publisher.Close] ended); err is nil when a token was obtained.
	TokenFetched(err error)
}

// DefaultConfig returns a Config with every default that depends on no
// other field filled in; ClientID and ClientSecret are left empty, and so
// are the fields whose default depends on others (Issuer, TokenURL, Scope:
// see [DefaultIssuerFor], [DefaultTokenURL], [DefaultScopeFor]).
func DefaultConfig() Config {
	return Config{
		BaseURL:             DefaultBaseURL,
		EventsPath:          DefaultEventsPath,
		AuthMode:            AuthClientCredentials,
		BasicEncoding:       BasicRaw,
		TokenRefreshBefore:  30 * time.Second,
		UserAgent:           DefaultUserAgent,
		MaxInFlight:         DefaultMaxInFlight,
		DialTimeout:         5 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
		RequestTimeout:      30 * time.Second,
		MaxResponseBytes:    DefaultMaxResponseBytes,
		Retry: RetryConfig{
			BaseDelay:     100 * time.Millisecond,
			MaxDelay:      10 * time.Second,
			MaxAttempts:   6,
			MaxElapsed:    2 * time.Minute,
			RetryAfterMax: 60 * time.Second,
		},
		Breaker: BreakerConfig{
			FailuresToOpen:      5,
			OpenTimeout:         30 * time.Second,
			HalfOpenMaxRequests: 1,
		},
		Poison: PoisonConfig{
			MinAttempts: 10,
			MinDuration: time.Minute,
		},
	}
}

// String implements [fmt.Stringer]; the secret is redacted.
func (c Config) String() string {
	return fmt.Sprintf("sink.Config{BaseURL:%q EventsPath:%q TokenURL:%q Issuer:%q TenantID:%q AuthMode:%q ClientID:%q ClientSecret:%s AccessKeyID:%q AccessKeySecret:%s Scope:%q MaxInFlight:%d}",
		c.BaseURL, c.EventsPath, c.TokenURL, c.Issuer, c.TenantID, c.AuthMode, c.ClientID, c.ClientSecret, c.AccessKeyID, c.AccessKeySecret, c.Scope, c.MaxInFlight)
}

// GoString implements [fmt.GoStringer] (%#v); the secret is redacted.
func (c Config) GoString() string { return c.String() }

// LogValue implements [slog.LogValuer]; the secret is redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("base_url", c.BaseURL),
		slog.String("events_path", c.EventsPath),
		slog.String("token_url", c.TokenURL),
		slog.String("auth_mode", string(c.AuthMode)),
		slog.String("basic_encoding", string(c.BasicEncoding)),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", c.ClientSecret.String()),
		slog.String("issuer", c.Issuer),
		slog.String("tenant_id", c.TenantID),
		slog.String("access_key_id", c.AccessKeyID),
		slog.String("access_key_secret", c.AccessKeySecret.String()),
		slog.String("scope", c.Scope),
	)
}

// WithDefaults returns c with its zero fields replaced by their defaults,
// as [New] applies them. It checks nothing.
func (c Config) WithDefaults() Config { return c.withDefaults() }

// withDefaults returns c with zero fields replaced by defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if !c.DiscoverAPIEndpoint {
		setDefault(&c.BaseURL, d.BaseURL)
	}
	setDefault(&c.EventsPath, d.EventsPath)
	setDefault(&c.AuthMode, d.AuthMode)
	setDefault(&c.Scope, DefaultScopeFor(c.AuthMode))
	setDefault(&c.BasicEncoding, d.BasicEncoding)
	setDefault(&c.TokenRefreshBefore, d.TokenRefreshBefore)
	setDefault(&c.UserAgent, d.UserAgent)
	setDefault(&c.MaxInFlight, d.MaxInFlight)
	setDefault(&c.DialTimeout, d.DialTimeout)
	setDefault(&c.TLSHandshakeTimeout, d.TLSHandshakeTimeout)
	setDefault(&c.ResponseHeaderTimeout, d.ResponseHeaderTimeout)
	setDefault(&c.RequestTimeout, d.RequestTimeout)
	setDefault(&c.MaxResponseBytes, d.MaxResponseBytes)
	setDefault(&c.Retry.BaseDelay, d.Retry.BaseDelay)
	setDefault(&c.Retry.MaxDelay, d.Retry.MaxDelay)
	setDefault(&c.Retry.MaxAttempts, d.Retry.MaxAttempts)
	setDefault(&c.Retry.MaxElapsed, d.Retry.MaxElapsed)
	setDefault(&c.Retry.RetryAfterMax, d.Retry.RetryAfterMax)
	setDefault(&c.Breaker.FailuresToOpen, d.Breaker.FailuresToOpen)
	setDefault(&c.Breaker.OpenTimeout, d.Breaker.OpenTimeout)
	setDefault(&c.Breaker.HalfOpenMaxRequests, d.Breaker.HalfOpenMaxRequests)
	setDefault(&c.Poison.MinAttempts, d.Poison.MinAttempts)
	setDefault(&c.Poison.MinDuration, d.Poison.MinDuration)
	setDefault(&c.Issuer, DefaultIssuerFor(c.AuthMode, c.TokenURL, c.DiscoverAPIEndpoint))
	setDefault(&c.TokenURL, DefaultTokenURL(c.BaseURL, c.Issuer, c.DiscoverAPIEndpoint))
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// The defaults of the token request that depend on other settings. They
// are the one statement of these rules: [New] applies them, and so does
// package config to bridge.yaml's cxone.auth keys (docs/config.md).

// DefaultScopeFor is the scope requested in mode when none is set:
// [DefaultScope] in [AuthClientCredentials] mode (and ""); none in
// [AuthAccessKey] mode, whose password grant has none (CXone grants the
// application's scopes).
func DefaultScopeFor(mode AuthMode) string {
	if mode == "" || mode == AuthClientCredentials {
		return DefaultScope
	}
	return ""
}

// DefaultIssuerFor is the issuer used in mode when none is set:
// [DefaultIssuer], real CXone's, in [AuthAccessKey] mode when tokenURL is
// empty (it is then discovered from the issuer) or the API base is
// discovered; otherwise none.
func DefaultIssuerFor(mode AuthMode, tokenURL string, discoverAPI bool) string {
	if mode == AuthAccessKey && (tokenURL == "" || discoverAPI) {
		return DefaultIssuer
	}
	return ""
}

// DefaultTokenURL is the token endpoint used when none is set: baseURL +
// [DefaultTokenPath], unless there is an issuer to discover it from, or the
// API base is discovered (then there is no base URL to start from); "" in
// those cases.
func DefaultTokenURL(baseURL, issuer string, discoverAPI bool) string {
	if issuer != "" || discoverAPI || baseURL == "" {
		return ""
	}
	return strings.TrimRight(baseURL, "/") + DefaultTokenPath
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

func (c Config) validate() error {
	var errs []error
	if c.DiscoverAPIEndpoint {
		if c.BaseURL != "" {
			errs = append(errs, errors.New("BaseURL must be empty when DiscoverAPIEndpoint is set"))
		}
		if c.Issuer == "" || c.TenantID == "" {
			errs = append(errs, errors.New("DiscoverAPIEndpoint needs Issuer and TenantID"))
		}
	} else if err := checkURL("BaseURL", c.BaseURL); err != nil {
		errs = append(errs, err)
	}
	if c.Issuer != "" {
		if err := checkURL("Issuer", c.Issuer); err != nil {
			errs = append(errs, err)
		}
	}
	if !strings.HasPrefix(c.EventsPath, "/") {
		errs = append(errs, fmt.Errorf("EventsPath %q must start with /", c.EventsPath))
	}
	switch c.AuthMode {
	case AuthClientCredentials:
		if c.AccessKeyID != "" || c.AccessKeySecret != "" || c.AccessKeySecretFile != "" {
			errs = append(errs, errors.New("access keys are used only in AuthMode access_key"))
		}
	case AuthAccessKey:
		if c.AccessKeyID == "" {
			errs = append(errs, errors.New("AccessKeyID is empty"))
		}
		if (c.AccessKeySecret == "") == (c.AccessKeySecretFile == "") {
			errs = append(errs, errors.New("set one of AccessKeySecret and AccessKeySecretFile"))
		}
	default:
		errs = append(errs, fmt.Errorf("AuthMode %q is not supported (%q or %q)", c.AuthMode, AuthClientCredentials, AuthAccessKey))
	}
	if c.TokenURL != "" {
		if err := checkURL("TokenURL", c.TokenURL); err != nil {
			errs = append(errs, err)
		}
	} else if c.Issuer == "" {
		errs = append(errs, errors.New("TokenURL is empty and there is no Issuer to discover it from"))
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("ClientID is empty"))
	}
	switch c.BasicEncoding {
	case BasicRaw:
		if strings.Contains(c.ClientID, ":") {
			errs = append(errs, fmt.Errorf("ClientID holds \":\", which BasicEncoding %q cannot carry (use %q)", BasicRaw, BasicRFC6749))
		}
	case BasicRFC6749:
	default:
		errs = append(errs, fmt.Errorf("BasicEncoding %q is not supported (%q or %q)", c.BasicEncoding, BasicRaw, BasicRFC6749))
	}
	if c.ClientSecret == "" && c.ClientSecretFile == "" {
		errs = append(errs, errors.New("ClientSecret is empty"))
	}
	for i, h := range c.AllowedHosts {
		name := strings.TrimPrefix(h, ".")
		if name == "" || strings.HasPrefix(name, ".") || strings.ContainsAny(name, "/:@*?#[]% \t\r\n") {
			errs = append(errs, fmt.Errorf("AllowedHosts[%d] %q is not a host name or a .domain", i, h))
		}
	}
	if c.MaxInFlight < 0 || c.MaxResponseBytes < 0 {
		errs = append(errs, errors.New("MaxInFlight and MaxResponseBytes must not be negative"))
	}
	if c.RateLimit.PerSecond < 0 || c.RateLimit.Burst < 0 {
		errs = append(errs, errors.New("RateLimit must not be negative"))
	}
	if c.Breaker.FailuresToOpen < 0 || c.Breaker.HalfOpenMaxRequests < 0 {
		errs = append(errs, errors.New("Breaker counts must not be negative"))
	}
	if c.Poison.MinDuration < 0 {
		errs = append(errs, errors.New("Poison.MinDuration must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sink: invalid config: %w", err)
	}
	return nil
}

func checkURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q is not an absolute http(s) URL", name, raw)
	}
	if u.User != nil {
		return fmt.Errorf("%s must not carry credentials", name)
	}
	return nil
}

// Option adjusts a [Publisher] beyond [Config].
type Option func(*options)

type options struct {
	httpClient *http.Client
}

// WithHTTPClient makes the [Publisher] use hc (for example one with a custom
// TLS configuration) instead of the tuned client it builds from [Config]. hc
// is used for the token endpoint as well. Redirects are not followed only if
// hc's CheckRedirect says so.
func WithHTTPClient(hc *http.Client) Option { return func(o *options) { o.httpClient = hc } }

// BreakerState is the state of the circuit breaker.
type BreakerState int

const (
	BreakerClosed   BreakerState = iota // requests flow
	BreakerHalfOpen                     // a bounded number of probes flow
	BreakerOpen                         // callers wait
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half-open"
	case BreakerOpen:
		return "open"
	}
	return fmt.Sprintf("BreakerState(%d)", int(s))
}
