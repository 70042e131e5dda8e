package cxonetest

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// What the real CXone platform adds to the tutorial's contract (docs/design.md §7):
// back-end applications registered with a client id and secret obtain tokens
// with the OAuth2 password grant and a user's access key; the issuer
// publishes an OpenID discovery document and, per tenant, the API base URL.
const (
	// AuthTokenPath is CXone's token endpoint path (the tutorial's is TokenPath).
	AuthTokenPath = "/auth/token"
	// OpenIDConfigPath is the OpenID Connect discovery document of the issuer.
	OpenIDConfigPath = "/.well-known/openid-configuration"
	// CXoneConfigPath answers ?tenantId=… with the tenant's endpoints.
	CXoneConfigPath = "/.well-known/cxone-configuration"

	// Default registration of the password-grant application, its user's
	// access key and the tenant, present unless replaced with WithApp,
	// WithAccessKey and WithTenant.
	DefaultAppID           = "cxone-app-id"
	DefaultAppSecret       = "cxone-app-secret"
	DefaultAccessKeyID     = "cxone-access-key-id"
	DefaultAccessKeySecret = "cxone-access-key-secret"
	DefaultTenantID        = "11111111-2222-3333-4444-555555555555"

	grantClientCredentials = "client_credentials"
	grantPassword          = "password"
)

// Default credentials: the placeholders of the tutorial's Node example, so the
// unmodified example authenticates against a default server.
const (
	DefaultClientID     = "your-client-id"
	DefaultClientSecret = "your-client-secret"
	WriteScope          = "eventbridge:events:write"
	TokenPath           = "/oauth/token"
	EventsPath          = "/api/v2/eventbridge/events"
)

// Stats are the server's counters. Every events request counts in Requests
// and in at most one of the other events counters, except Targeted, which
// counts again the requests that a target ([Faults.Targets]) matched, and Hung,
// which is a gauge.
type Stats struct {
	Requests      int64 `json:"requests"`       // events endpoint requests
	Accepted      int64 `json:"accepted"`       // new events accepted
	Duplicates    int64 `json:"duplicates"`     // repeated idempotency keys
	Rejected      int64 `json:"rejected"`       // 400, 413, 415, 422 for the request's content
	Unauthorized  int64 `json:"unauthorized"`   // 401: no, unknown or expired token
	Forbidden     int64 `json:"forbidden"`      // 403: token lacks the write scope
	RateLimited   int64 `json:"rate_limited"`   // 429 answers, injected ones included
	EarlyRetries  int64 `json:"early_retries"`  // requests that came before a 429's Retry-After instant
	Faults        int64 `json:"faults"`         // injected errors other than 429 (forced, random, outage, target)
	TokenRequests int64 `json:"token_requests"` // token endpoint requests
	TokensIssued  int64 `json:"tokens_issued"`
	TokenFailures int64 `json:"token_failures"` // token requests refused
	// DiscoveryRequests counts requests to the two .well-known documents.
	DiscoveryRequests int64 `json:"discovery_requests"`
	// Targeted counts the events requests that a target matched, each once,
	// when it leaves the target check: answered by a status target (then
	// also counted in Faults, or RateLimited for 429), or held by a Hang
	// target until the hold ended (released and then answered as usual,
	// abandoned by its client, or ended by the server's Shutdown). A held
	// request counts only when its hold ends, so a test can wait for a held
	// request's handler to be done by polling Targeted (or Hung).
	Targeted int64 `json:"targeted"`
	// Hung is a gauge, not a counter: the events requests held by a Hang
	// target right now. It goes up when a hold begins and down when it ends;
	// Reset leaves it as it is.
	Hung int64 `json:"hung"`
}

// Event is an accepted event as recorded.
type Event struct {
	ID             string          `json:"id"`
	IdempotencyKey string          `json:"idempotency_key"`
	CorrelationID  string          `json:"correlation_id"`
	Traceparent    string          `json:"traceparent,omitempty"`
	EventType      string          `json:"event_type"`
	ClientID       string          `json:"client_id"`
	ArrivedAt      time.Time       `json:"arrived_at"`
	Header         http.Header     `json:"headers"` // Authorization redacted
	Body           json.RawMessage `json:"body"`
}

// Arrival is one events request that carried an idempotency key.
type Arrival struct {
	At        time.Time `json:"at"`
	Status    int       `json:"status"` // 0: held and never answered (its client gave up)
	Duplicate bool      `json:"duplicate,omitempty"`
	ID        string    `json:"id,omitempty"`
	Hung      bool      `json:"hung,omitempty"` // held by a Hang target before its answer
}

// RateLimit records one 429 answer.
type RateLimit struct {
	ClientID  string    `json:"client_id"`
	IssuedAt  time.Time `json:"issued_at"`
	AllowedAt time.Time `json:"allowed_at"` // the instant its Retry-After names
	Early     int       `json:"early"`      // requests of the client that arrived before AllowedAt (past the grace)

	// holder is who received the 429: the client id and the bearer token.
	// Several replicas of one application share a client id but each has
	// its own token, and a 429 binds only the process that received it.
	holder string
}

const (
	maxArrivalsPerKey = 1000
	maxRateLimits     = 10000
	maxIssued         = 10000
)

// Handler is the test server's [http.Handler] (CXone API and admin API). It is
// safe for concurrent use. Use [NewServer] in tests, or serve it yourself (the
// bridge's `sim` command does).
type Handler struct {
	mu            sync.Mutex
	clients       map[string]client
	customClients bool
	customApps    bool
	accessKeys    map[string]string // access key id → secret
	customKeys    bool
	basicEncoding string            // BasicRaw or BasicRFC6749
	tenants       map[string]string // tenant id → announced api_endpoint ("" = own base URL)
	customTenants bool
	issuer        string
	tokens        map[string]token
	issued        []string // every token issued, for IssuedTokens
	faults        Faults
	faultsChanged chan struct{} // closed and replaced whenever the faults change
	limiter       *rate.Limiter
	dupStatus     int
	grace         time.Duration
	recordLimit   int
	maxBody       int64
	log           *slog.Logger
	onAccepted    func(correlationID string, answeredAt time.Time)

	stats      Stats
	events     []Event
	keys       map[string]*keyState
	rateLimits []RateLimit
	windows    []int // indexes in rateLimits whose AllowedAt may still be ahead

	// shutdowns: per http.Server that served a held request, a channel
	// closed when it begins Shutdown.
	shutdowns map[*http.Server]chan struct{}
}

// NewHandler returns a [Handler] with the default registrations unless
// replaced by options: the client-credentials client ([DefaultClientID],
// [DefaultClientSecret], [WriteScope]; [WithClient]), the password-grant
// application ([DefaultAppID], [DefaultAppSecret]; [WithApp]), its access key
// ([DefaultAccessKeyID], [DefaultAccessKeySecret]; [WithAccessKey]) and the tenant
// [DefaultTenantID] ([WithTenant]); Basic credentials are accepted raw
// ([WithBasicEncoding]).
func NewHandler(opts ...Option) *Handler {
	h := &Handler{
		clients: map[string]client{
			DefaultClientID: {secret: DefaultClientSecret, scopes: []string{WriteScope}, grant: grantClientCredentials},
			DefaultAppID:    {secret: DefaultAppSecret, scopes: []string{WriteScope}, grant: grantPassword},
		},
		accessKeys:    map[string]string{DefaultAccessKeyID: DefaultAccessKeySecret},
		tenants:       map[string]string{DefaultTenantID: ""},
		tokens:        map[string]token{},
		keys:          map[string]*keyState{},
		basicEncoding: BasicRaw,
		dupStatus:     http.StatusOK,
		grace:         50 * time.Millisecond,
		recordLimit:   100000,
		maxBody:       1 << 20,
	}
	for _, o := range opts {
		o(h)
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h
}

// ServeHTTP implements [http.Handler].
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == TokenPath, r.URL.Path == AuthTokenPath:
		h.serveToken(w, r)
	case r.URL.Path == OpenIDConfigPath:
		h.serveOpenIDConfig(w, r)
	case r.URL.Path == CXoneConfigPath:
		h.serveCXoneConfig(w, r)
	case r.URL.Path == EventsPath:
		h.serveEvents(w, r)
	case strings.HasPrefix(r.URL.Path, "/_sim/"):
		h.serveAdmin(w, r)
	default:
		writeJSON(w, http.StatusNotFound, errBody("not_found", "no such endpoint"))
	}
}

// Stats returns a snapshot of the counters.
func (h *Handler) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// Events returns the accepted events in arrival order (at most the record limit).
func (h *Handler) Events() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.trimmedEvents())
}

// Arrivals returns every events request seen with idempotency key key, in
// arrival order.
func (h *Handler) Arrivals(key string) []Arrival {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ks := h.keys[key]; ks != nil {
		return slices.Clone(ks.arrivals)
	}
	return nil
}

// RateLimits returns every 429 answered, in order.
func (h *Handler) RateLimits() []RateLimit {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.rateLimits)
}

// Reset forgets accepted events, idempotency keys, counters and 429 windows.
// Faults, clients and tokens stay.
func (h *Handler) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats = Stats{Hung: h.stats.Hung} // a gauge: the held requests are still held
	h.events = nil
	h.keys = map[string]*keyState{}
	h.rateLimits = nil
	h.windows = nil
}

func errBody(code, msg string) map[string]string {
	return map[string]string{"error": code, "message": msg}
}

func statusCode(status int) string {
	t := strings.ToLower(http.StatusText(status))
	if t == "" {
		return "error"
	}
	return strings.ReplaceAll(t, " ", "_")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
