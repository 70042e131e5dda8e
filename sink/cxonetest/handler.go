package cxonetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

// Stats are the server's counters. Every events request counts in Requests
// and in at most one of the other events counters, except Targeted, which
// counts again the requests that a target (Faults.Targets) matched, and Hung,
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

type client struct {
	secret string
	scopes []string
	grant  string // the one grant type it may use: client_credentials or password
}

type token struct {
	clientID string
	scopes   []string
	expires  time.Time
}

type keyState struct {
	id       string
	arrivals []Arrival
}

const (
	maxArrivalsPerKey = 1000
	maxRateLimits     = 10000
	maxIssued         = 10000
)

// Handler is the test server's http.Handler (CXone API and admin API). It is
// safe for concurrent use. Use NewServer in tests, or serve it yourself (the
// bridge's `sim` command does).
type Handler struct {
	mu            sync.Mutex
	clients       map[string]client
	customClients bool
	customApps    bool
	accessKeys    map[string]string // access key id → secret
	customKeys    bool
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

// NewHandler returns a Handler with the default registrations unless
// replaced by options: the client-credentials client (DefaultClientID,
// DefaultClientSecret, WriteScope; WithClient), the password-grant
// application (DefaultAppID, DefaultAppSecret; WithApp), its access key
// (DefaultAccessKeyID, DefaultAccessKeySecret; WithAccessKey) and the tenant
// DefaultTenantID (WithTenant).
func NewHandler(opts ...Option) *Handler {
	h := &Handler{
		clients: map[string]client{
			DefaultClientID: {secret: DefaultClientSecret, scopes: []string{WriteScope}, grant: grantClientCredentials},
			DefaultAppID:    {secret: DefaultAppSecret, scopes: []string{WriteScope}, grant: grantPassword},
		},
		accessKeys:  map[string]string{DefaultAccessKeyID: DefaultAccessKeySecret},
		tenants:     map[string]string{DefaultTenantID: ""},
		tokens:      map[string]token{},
		keys:        map[string]*keyState{},
		dupStatus:   http.StatusOK,
		grace:       50 * time.Millisecond,
		recordLimit: 100000,
		maxBody:     1 << 20,
	}
	for _, o := range opts {
		o(h)
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h
}

// ServeHTTP implements http.Handler.
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

// Faults returns the current faults.
func (h *Handler) Faults() Faults {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.faults
	f.ErrorRates = cloneMap(f.ErrorRates)
	f.Targets = slices.Clone(f.Targets)
	return f
}

// SetFaults replaces the faults. OutageFor > 0 sets the outage window to
// [now, now+OutageFor). Requests held by a Hang target check the new
// targets at once.
func (h *Handler) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.setFaultsLocked(f)
	return nil
}

func (h *Handler) setFaultsLocked(f Faults) {
	if f.OutageFor > 0 {
		f.OutageFrom = time.Now()
		f.OutageUntil = f.OutageFrom.Add(time.Duration(f.OutageFor))
		f.OutageFor = 0
	}
	f.ErrorRates = cloneMap(f.ErrorRates)
	if len(f.Targets) == 0 {
		f.Targets = nil // the events hot path tests len(Targets) only
	} else {
		f.Targets = slices.Clone(f.Targets) // never changed in place: held requests read it unlocked
	}
	old := h.faults
	h.faults = f
	if h.faultsChanged != nil {
		close(h.faultsChanged) // held requests check the new targets
	}
	h.faultsChanged = make(chan struct{})
	if f.RateLimit <= 0 {
		h.limiter = nil
	} else if h.limiter == nil || old.RateLimit != f.RateLimit || old.RateBurst != f.RateBurst {
		burst := f.RateBurst
		if burst == 0 {
			burst = max(1, int(math.Ceil(f.RateLimit)))
		}
		h.limiter = rate.NewLimiter(rate.Limit(f.RateLimit), burst)
	}
}

func cloneMap(m map[int]float64) map[int]float64 {
	if m == nil {
		return nil
	}
	c := make(map[int]float64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// IssuedTokens returns the access tokens the server issued, oldest first
// (at most the last 10,000; RevokeTokens and Reset do not forget them), for
// tests that check a token never leaks.
func (h *Handler) IssuedTokens() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.issued)
}

// RevokeTokens invalidates every issued token (the next events request with
// one gets 401).
func (h *Handler) RevokeTokens() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.tokens)
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

// ---- token endpoint ----

func (h *Handler) serveToken(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.stats.TokenRequests++
	refuse := h.faults.TokenStatus
	hf := h.faults.hostile()
	h.mu.Unlock()

	var raw []byte
	if hf.echo { // keep the form for the echo
		raw = readEchoBody(r)
		r.Body = io.NopCloser(bytes.NewReader(raw))
	}
	status, body := h.issueToken(r, refuse)
	if status != http.StatusOK {
		h.mu.Lock()
		h.stats.TokenFailures++
		h.mu.Unlock()
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="cxone"`)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	h.log.Debug("token request", "status", status)
	if status >= 400 && (hf.html || hf.shapesJSON()) {
		var echo *echoedRequest
		if hf.echo {
			echo = echoOf(r, raw)
		}
		if hf.html {
			writeRaw(w, status, "text/html; charset=utf-8", hostileHTML(status, echo, hf.pad))
		} else {
			writeRaw(w, status, "application/json", hostileJSON(body, echo, hf.pad))
		}
		return
	}
	writeJSON(w, status, body)
}

func (h *Handler) issueToken(r *http.Request, refuse int) (int, any) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, errBody("invalid_request", "POST required")
	}
	if refuse != 0 {
		return refuse, errBody("temporarily_unavailable", "token endpoint fault injected")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return http.StatusBadRequest, errBody("invalid_request", "Content-Type must be application/x-www-form-urlencoded")
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		return http.StatusUnauthorized, errBody("invalid_client", "HTTP Basic client authentication required")
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return http.StatusBadRequest, errBody("invalid_request", "malformed form body")
	}
	h.mu.Lock()
	c, known := h.lookupClient(id, secret)
	ttl := time.Duration(h.faults.TokenTTL)
	h.mu.Unlock()
	if !known {
		return http.StatusUnauthorized, errBody("invalid_client", "unknown client or wrong secret")
	}
	switch gt := r.PostForm.Get("grant_type"); {
	case gt != grantClientCredentials && gt != grantPassword:
		return http.StatusBadRequest, errBody("unsupported_grant_type", "grant_type must be client_credentials or password")
	case gt != c.grant:
		return http.StatusBadRequest, errBody("unauthorized_client", "this client may not use the "+gt+" grant")
	case gt == grantPassword:
		user, pass := r.PostForm.Get("username"), r.PostForm.Get("password")
		h.mu.Lock()
		want, ok := h.accessKeys[user]
		h.mu.Unlock()
		if user == "" || pass == "" || !ok || want != pass {
			return http.StatusBadRequest, errBody("invalid_grant", "unknown access key or wrong secret")
		}
	}
	requested := strings.Fields(r.PostForm.Get("scope"))
	if len(requested) == 0 {
		if c.grant != grantPassword {
			return http.StatusBadRequest, errBody("invalid_scope", "scope is required")
		}
		requested = c.scopes // CXone applications get their registered scopes
	}
	var granted []string
	for _, s := range requested {
		if slices.Contains(c.scopes, s) && !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	if len(granted) == 0 {
		return http.StatusBadRequest, errBody("invalid_scope", "none of the requested scopes is allowed for this client")
	}
	if ttl <= 0 {
		ttl = time.Hour
	}
	var raw [24]byte
	rand.Read(raw[:])
	value := hex.EncodeToString(raw[:])
	now := time.Now()
	h.mu.Lock()
	if len(h.tokens) > 10000 {
		for k, t := range h.tokens {
			if now.After(t.expires) {
				delete(h.tokens, k)
			}
		}
	}
	h.tokens[value] = token{clientID: c.id(id), scopes: granted, expires: now.Add(ttl)}
	if len(h.issued) == maxIssued {
		h.issued = slices.Delete(h.issued, 0, maxIssued/2)
	}
	h.issued = append(h.issued, value)
	h.stats.TokensIssued++
	h.mu.Unlock()
	return http.StatusOK, map[string]any{
		"access_token": value,
		"token_type":   "Bearer",
		"expires_in":   int64(ttl / time.Second),
		"scope":        strings.Join(granted, " "),
	}
}

func (c client) id(raw string) string {
	if u, err := url.QueryUnescape(raw); err == nil {
		return u
	}
	return raw
}

// lookupClient accepts the raw credentials or their form-URL-encoded forms.
func (h *Handler) lookupClient(id, secret string) (client, bool) {
	if c, ok := h.clients[id]; ok && c.secret == secret {
		return c, true
	}
	uid, err1 := url.QueryUnescape(id)
	usec, err2 := url.QueryUnescape(secret)
	if err1 == nil && err2 == nil {
		if c, ok := h.clients[uid]; ok && c.secret == usec {
			return c, true
		}
	}
	return client{}, false
}

// ---- events endpoint ----

type answer struct {
	status     int // 0: no answer, the client is gone
	body       any
	retryAfter string
	wwwAuth    string
	connClose  bool
	reqBody    []byte // the request body when it was read (error answers only), for an echo
}

func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	a, ev := h.answerEvent(r, arrived)
	if a.status == 0 {
		return // held by a target until the client gave up: nobody to answer
	}
	if err := h.sleepLatency(r.Context()); err != nil {
		return // client gone
	}
	if a.connClose {
		w.Header().Set("Connection", "close")
	}
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	if a.wwwAuth != "" {
		w.Header().Set("WWW-Authenticate", a.wwwAuth)
	}
	if h.log.Enabled(r.Context(), slog.LevelDebug) {
		h.log.Debug("events request", "status", a.status, "key", r.Header.Get("X-Idempotency-Key"),
			"correlation_id", r.Header.Get("X-Correlation-Id"), "event_id", ev)
	}
	if a.status >= 400 && h.hostileEvents(w, r, a) {
		return
	}
	writeJSON(w, a.status, a.body)
	if a.status == http.StatusAccepted && h.onAccepted != nil {
		h.onAccepted(r.Header.Get("X-Correlation-Id"), time.Now())
	}
}

// hostileEvents writes an error answer shaped by the hostile faults
// (echo, padding) and reports whether it did; with none set it writes
// nothing.
func (h *Handler) hostileEvents(w http.ResponseWriter, r *http.Request, a answer) bool {
	h.mu.Lock()
	hf := h.faults.hostile()
	h.mu.Unlock()
	if !hf.shapesJSON() {
		return false
	}
	var echo *echoedRequest
	if hf.echo {
		body := a.reqBody
		if body == nil {
			body = readEchoBody(r) // answered before the body was read
		}
		echo = echoOf(r, body)
	}
	writeRaw(w, a.status, "application/json", hostileJSON(a.body, echo, hf.pad))
	return true
}

func (h *Handler) sleepLatency(ctx context.Context) error {
	h.mu.Lock()
	lo, hi := time.Duration(h.faults.Latency), time.Duration(h.faults.LatencyMax)
	h.mu.Unlock()
	d := lo
	if hi > lo {
		d = lo + mrand.N(hi-lo+1)
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// answerEvent decides the answer to one events request; it returns the
// answer and the accepted (or duplicate) event id.
func (h *Handler) answerEvent(r *http.Request, now time.Time) (answer, string) {
	key := r.Header.Get("X-Idempotency-Key")
	h.mu.Lock()
	h.stats.Requests++
	a, clientID, holder, decided := h.gateLocked(r, now)
	h.mu.Unlock()
	if decided {
		h.noteArrival(key, Arrival{At: now, Status: a.status})
		return a, ""
	}

	// Content checks, outside the lock.
	body, a, ok := h.readValid(r)
	if !ok {
		h.mu.Lock()
		h.stats.Rejected++
		h.mu.Unlock()
		h.noteArrival(key, Arrival{At: now, Status: a.status})
		return a, ""
	}

	h.mu.Lock()
	held := false
	if len(h.faults.Targets) > 0 {
		targets, changed := h.faults.Targets, h.faultsChanged
		h.mu.Unlock()
		a, held, decided = h.applyTargets(r, key, body, clientID, holder, now, targets, changed)
		if decided {
			a.reqBody = body.raw
			h.noteArrival(key, Arrival{At: now, Status: a.status, Hung: held})
			return a, ""
		}
		h.mu.Lock()
	}
	defer h.mu.Unlock()
	ks := h.keys[key]
	if ks == nil {
		ks = &keyState{}
		h.keys[key] = ks
	}
	if ks.id != "" {
		h.stats.Duplicates++
		ks.add(Arrival{At: now, Status: h.dupStatus, Duplicate: true, ID: ks.id, Hung: held})
		if h.dupStatus == http.StatusConflict {
			return answer{status: http.StatusConflict, body: map[string]any{"id": ks.id, "error": "already_ingested",
				"message": "an event with this X-Idempotency-Key was already ingested"}}, ks.id
		}
		return answer{status: h.dupStatus, body: map[string]string{"id": ks.id}}, ks.id
	}
	ks.id = uuid.NewString()
	ks.add(Arrival{At: now, Status: http.StatusAccepted, ID: ks.id, Hung: held})
	h.stats.Accepted++
	if h.recordLimit > 0 {
		hdr := r.Header.Clone()
		hdr.Set("Authorization", "Bearer [redacted]")
		h.events = append(h.events, Event{
			ID: ks.id, IdempotencyKey: key, CorrelationID: r.Header.Get("X-Correlation-Id"),
			Traceparent: r.Header.Get("Traceparent"), EventType: body.eventType, ClientID: clientID,
			ArrivedAt: now, Header: hdr, Body: body.raw,
		})
		if len(h.events) > 2*h.recordLimit {
			h.events = slices.Clone(h.events[len(h.events)-h.recordLimit:])
		}
	}
	return answer{status: http.StatusAccepted, body: map[string]string{"id": ks.id}}, ks.id
}

// Events beyond the record limit are trimmed lazily; the accessor trims too.
func (h *Handler) trimmedEvents() []Event {
	if len(h.events) > h.recordLimit {
		return h.events[len(h.events)-h.recordLimit:]
	}
	return h.events
}

func (ks *keyState) add(a Arrival) {
	if len(ks.arrivals) < maxArrivalsPerKey {
		ks.arrivals = append(ks.arrivals, a)
	}
}

func (h *Handler) noteArrival(key string, a Arrival) {
	if key == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ks := h.keys[key]
	if ks == nil {
		ks = &keyState{}
		h.keys[key] = ks
	}
	ks.add(a)
}

// applyTargets is the target check (step 7 of the package doc) for a valid
// event, given the current targets (non-empty) and the channel closed when
// they change. decided reports that a target answered the event (status 0:
// it was held until its client gave up); otherwise the event goes on to
// dedupe. held reports that a Hang target held it first. It never holds
// h.mu while waiting.
func (h *Handler) applyTargets(r *http.Request, key string, body validBody, clientID, holder string, now time.Time,
	targets []Target, changed <-chan struct{}) (a answer, held, decided bool) {
	var shutdown <-chan struct{}
	for {
		t := matchTarget(targets, key, body.raw, body.eventType)
		switch {
		case t == nil && !held:
			return answer{}, false, false
		case t == nil: // released: processed as usual
			h.mu.Lock()
			h.stats.Hung--
			h.stats.Targeted++
			h.mu.Unlock()
			return answer{}, true, false
		case !t.Hang:
			st := t.Status
			if st == 0 {
				st = http.StatusServiceUnavailable
			}
			h.mu.Lock()
			a = h.injectLocked(st, now, clientID, holder, "target")
			h.stats.Targeted++
			if held {
				h.stats.Hung--
			}
			h.mu.Unlock()
			return a, held, true
		}
		if !held {
			held = true
			shutdown = h.shutdownSignal(r)
			h.mu.Lock()
			h.stats.Hung++
			h.mu.Unlock()
		}
		select {
		case <-changed:
			h.mu.Lock()
			targets, changed = h.faults.Targets, h.faultsChanged
			h.mu.Unlock()
		case <-r.Context().Done():
			h.mu.Lock()
			h.stats.Hung--
			h.stats.Targeted++
			h.mu.Unlock()
			return answer{}, true, true
		case <-shutdown:
			h.mu.Lock()
			h.stats.Hung--
			h.stats.Targeted++
			h.stats.Faults++
			h.mu.Unlock()
			return answer{status: http.StatusServiceUnavailable, connClose: true,
				body: errBody("service_unavailable", "server shutting down")}, true, true
		}
	}
}

// shutdownSignal returns a channel closed when the http.Server serving r
// begins a graceful Shutdown (nil, never ready, if r does not name its
// server), so that held requests do not keep the shutdown waiting.
func (h *Handler) shutdownSignal(r *http.Request) <-chan struct{} {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.shutdowns[srv]
	if !ok {
		c = make(chan struct{})
		if h.shutdowns == nil {
			h.shutdowns = map[*http.Server]chan struct{}{}
		}
		h.shutdowns[srv] = c
		srv.RegisterOnShutdown(sync.OnceFunc(func() { close(c) }))
	}
	return c
}

// gateLocked applies the checks that come before the content: outage, auth,
// 429 windows, injected faults, rate limit. decided reports an answer.
// holder identifies the client's process for 429 windows (see RateLimit).
func (h *Handler) gateLocked(r *http.Request, now time.Time) (a answer, clientID, holder string, decided bool) {
	f := &h.faults
	if r.Method != http.MethodPost {
		h.stats.Rejected++
		return answer{status: http.StatusMethodNotAllowed, body: errBody("method_not_allowed", "POST required")}, "", "", true
	}
	if !f.OutageUntil.IsZero() && !now.Before(f.OutageFrom) && now.Before(f.OutageUntil) {
		st := f.OutageStatus
		if st == 0 {
			st = http.StatusServiceUnavailable
		}
		return h.injectLocked(st, now, "", "", "outage"), "", "", true
	}

	// Authorization.
	auth := r.Header.Get("Authorization")
	value, ok := strings.CutPrefix(auth, "Bearer ")
	tok, known := h.tokens[value]
	switch {
	case !ok || value == "":
		h.stats.Unauthorized++
		return answer{status: http.StatusUnauthorized, body: errBody("invalid_token", "bearer token required"),
			wwwAuth: `Bearer realm="cxone"`}, "", "", true
	case !known || !now.Before(tok.expires):
		h.stats.Unauthorized++
		return answer{status: http.StatusUnauthorized, body: errBody("invalid_token", "token unknown or expired"),
			wwwAuth: `Bearer realm="cxone", error="invalid_token"`}, "", "", true
	case !slices.Contains(tok.scopes, WriteScope):
		h.stats.Forbidden++
		return answer{status: http.StatusForbidden, body: errBody("insufficient_scope", "token lacks "+WriteScope),
			wwwAuth: `Bearer realm="cxone", error="insufficient_scope", scope="` + WriteScope + `"`}, tok.clientID, "", true
	}
	clientID = tok.clientID
	holder = clientID + " " + value

	// 429 windows of this holder (client id and token: one process).
	var until time.Time
	early := false
	live := h.windows[:0]
	for _, i := range h.windows {
		rl := &h.rateLimits[i]
		if !now.Before(rl.AllowedAt) {
			continue // expired
		}
		live = append(live, i)
		if rl.holder != holder {
			continue
		}
		if rl.AllowedAt.After(until) {
			until = rl.AllowedAt
		}
		if now.Sub(rl.IssuedAt) >= h.grace {
			rl.Early++
			early = true
		}
	}
	h.windows = live
	if early {
		h.stats.EarlyRetries++
	}
	if !until.IsZero() {
		return h.rateLimitLocked(clientID, holder, now, until, true), clientID, holder, true
	}

	// Injected faults.
	if f.ForceCount > 0 && f.ForceStatus != 0 {
		f.ForceCount--
		return h.injectLocked(f.ForceStatus, now, clientID, holder, "forced"), clientID, holder, true
	}
	if len(f.ErrorRates) > 0 {
		u := mrand.Float64()
		codes := make([]int, 0, len(f.ErrorRates))
		for st := range f.ErrorRates {
			codes = append(codes, st)
		}
		slices.Sort(codes)
		acc := 0.0
		for _, st := range codes {
			acc += f.ErrorRates[st]
			if u < acc {
				return h.injectLocked(st, now, clientID, holder, "random"), clientID, holder, true
			}
		}
	}
	if h.limiter != nil {
		res := h.limiter.ReserveN(now, 1)
		if d := res.DelayFrom(now); d > 0 {
			res.CancelAt(now)
			return h.rateLimitLocked(clientID, holder, now, now.Add(d), false), clientID, holder, true
		}
	}
	return answer{}, clientID, holder, false
}

// injectLocked builds an injected error answer.
func (h *Handler) injectLocked(status int, now time.Time, clientID, holder, why string) answer {
	ra := time.Duration(h.faults.RetryAfter)
	if status == http.StatusTooManyRequests {
		if ra == 0 {
			ra = time.Second
		}
		if ra < 0 {
			h.stats.RateLimited++
			return answer{status: status, body: errBody("rate_limited", "too many requests ("+why+")")}
		}
		return h.rateLimitLocked(clientID, holder, now, now.Add(ra), false)
	}
	h.stats.Faults++
	a := answer{status: status, body: errBody(statusCode(status), "fault injected ("+why+")")}
	if ra > 0 && status == http.StatusServiceUnavailable {
		a.retryAfter, _ = h.retryAfterLocked(now, now.Add(ra))
	}
	return a
}

// rateLimitLocked answers 429 asking the client to wait until at least
// allowed, and records the window. window marks a repeat inside an existing
// window (then the instant named is the window's own, not a new one).
func (h *Handler) rateLimitLocked(clientID, holder string, now, allowed time.Time, window bool) answer {
	h.stats.RateLimited++
	header, at := h.retryAfterLocked(now, allowed)
	if len(h.rateLimits) < maxRateLimits {
		h.rateLimits = append(h.rateLimits, RateLimit{ClientID: clientID, IssuedAt: now, AllowedAt: at, holder: holder})
		h.windows = append(h.windows, len(h.rateLimits)-1)
	}
	msg := "rate limit exceeded"
	if window {
		msg = "rate limited: Retry-After has not passed"
	}
	return answer{status: http.StatusTooManyRequests, body: errBody("rate_limited", msg), retryAfter: header}
}

// retryAfterLocked renders a Retry-After for the instant allowed, rounded up
// to a whole second (both forms have one-second resolution), and returns the
// instant the header actually names.
func (h *Handler) retryAfterLocked(now, allowed time.Time) (string, time.Time) {
	if h.faults.RetryAfterDate {
		at := allowed.Truncate(time.Second)
		if at.Before(allowed) {
			at = at.Add(time.Second)
		}
		return at.UTC().Format(http.TimeFormat), at
	}
	secs := int64(math.Ceil(allowed.Sub(now).Seconds()))
	secs = max(secs, 1)
	return strconv.FormatInt(secs, 10), now.Add(time.Duration(secs) * time.Second)
}

type validBody struct {
	raw       json.RawMessage
	eventType string
}

// readValid applies the content checks (headers, size, JSON, shape).
func (h *Handler) readValid(r *http.Request) (validBody, answer, bool) {
	var raw []byte // once read, echoed by a hostile answer
	bad := func(status int, code, msg string, fields ...fieldError) (validBody, answer, bool) {
		b := map[string]any{"error": code, "message": msg}
		if len(fields) > 0 {
			b["errors"] = fields
		}
		return validBody{}, answer{status: status, body: b, reqBody: raw}, false
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return bad(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	}
	var missing []fieldError
	for _, name := range []string{"X-Idempotency-Key", "X-Correlation-Id"} {
		if strings.TrimSpace(r.Header.Get(name)) == "" {
			missing = append(missing, fieldError{Field: name, Message: "header is required"})
		}
	}
	if len(missing) > 0 {
		return bad(http.StatusBadRequest, "missing_header", "required headers are missing", missing...)
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, h.maxBody+1))
	if err != nil {
		return bad(http.StatusBadRequest, "invalid_request", "could not read body")
	}
	if int64(len(raw)) > h.maxBody {
		return bad(http.StatusRequestEntityTooLarge, "payload_too_large", "body exceeds "+strconv.FormatInt(h.maxBody, 10)+" bytes")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return bad(http.StatusBadRequest, "invalid_json", "body must be a JSON object")
	}
	fields := checkShape(top, r.Header.Get("X-Correlation-Id"))
	if len(fields) > 0 {
		return bad(http.StatusUnprocessableEntity, "validation_failed", "the event does not match the EventBridge contract", fields...)
	}
	var et string
	json.Unmarshal(top["eventType"], &et)
	return validBody{raw: json.RawMessage(raw), eventType: et}, answer{}, true
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// checkShape checks {"eventType", "attributes": {..., "_correlationId",
// "_publishedAt"}, "timestamp"} and returns every violation.
func checkShape(top map[string]json.RawMessage, correlationHeader string) []fieldError {
	var errs []fieldError
	add := func(f, m string) { errs = append(errs, fieldError{Field: f, Message: m}) }

	extra := make([]string, 0)
	for k := range top {
		if k != "eventType" && k != "attributes" && k != "timestamp" {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		add(k, "unknown member")
	}

	if s, ok := jsonString(top["eventType"]); !ok {
		add("eventType", "required, must be a string")
	} else if strings.TrimSpace(s) == "" {
		add("eventType", "must not be empty")
	}
	if s, ok := jsonString(top["timestamp"]); !ok {
		add("timestamp", "required, must be an RFC 3339 date-time string")
	} else if !isRFC3339(s) {
		add("timestamp", "must be an RFC 3339 date-time")
	}
	var attrs map[string]json.RawMessage
	if raw, ok := top["attributes"]; !ok || json.Unmarshal(raw, &attrs) != nil || attrs == nil {
		add("attributes", "required, must be an object")
		return errs
	}
	if s, ok := jsonString(attrs["_correlationId"]); !ok || s == "" {
		add("attributes._correlationId", "required, must be a non-empty string")
	} else if s != correlationHeader {
		add("attributes._correlationId", "must equal the X-Correlation-Id header")
	}
	if s, ok := jsonString(attrs["_publishedAt"]); !ok {
		add("attributes._publishedAt", "required, must be an RFC 3339 date-time string")
	} else if !isRFC3339(s) {
		add("attributes._publishedAt", "must be an RFC 3339 date-time")
	}
	return errs
}

func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func isRFC3339(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

// ---- helpers ----

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
