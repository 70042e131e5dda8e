package sink

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/time/rate"

	"github.com/cxone-bridge/bridge/redact"
)

// Event is one CXone request, already built by the transform stage.
type Event struct {
	IdempotencyKey string // sent as X-Idempotency-Key; required
	CorrelationID  string // sent as X-Correlation-Id; required
	Traceparent    string // optional, passed through as the traceparent header
	Body           []byte // the complete JSON body, sent as is; required
	// Log, optional, is added to every log line about this event, a group
	// value inlined (the pipeline puts the record's topic, partition and
	// offset here). A LogValuer is resolved only when a line is written,
	// so it costs nothing per event that is not logged.
	Log slog.LogValuer
}

// Result describes an accepted event.
type Result struct {
	ID        string // the "id" of CXone's answer; "" if the answer had none
	Status    int    // HTTP status of the accepting answer (2xx or 409)
	Attempts  int    // HTTP requests made for the event
	Duplicate bool   // CXone answered 409: the key was already ingested
}

// Publisher posts [Event]s to CXone. It is safe for concurrent use; all callers
// share one token cache, one connection pool, one rate limiter, one 429
// cooldown and one circuit breaker.
type Publisher struct {
	cfg Config
	log *slog.Logger
	hc  *http.Client
	// rt is hc's transport: events are posted through it directly (see
	// post), with one deadline per request instead of http.Client's.
	rt        http.RoundTripper
	ownClient bool
	endpoints *endpoints
	tokens    *tokenCache
	bg        *background   // runs the token fetches and discoveries; Close stops it
	limiter   *rate.Limiter // nil: no client-side limit
	cool      cooldown
	br        *breaker
	health    *health
	bufs      sync.Pool
	stopWait  chan struct{} // closed by StopWaiting
	stopOnce  sync.Once
	// scrub knows the secrets (as they are read) and the recent tokens
	// (as they are fetched); every excerpt of an answer and every token
	// error goes through it before it reaches an error, a log line, a
	// metric or a DLQ header. Only failures are scrubbed.
	scrub *redact.Scrubber

	// Header values shared by every request: net/http only reads a
	// request's header, so one slice can serve concurrent requests.
	userAgent []string
	bearer    atomic.Pointer[bearerHeader] // Authorization of the last token used
	// eventsURL is the events endpoint last posted to, parsed once rather
	// than once per request (the transport only reads a request's URL).
	eventsURL atomic.Pointer[parsedURL]
}

// parsedURL is one events endpoint, as discovered and as parsed.
type parsedURL struct {
	raw string
	u   *url.URL
}

// parseEventsURL returns raw parsed, from the last call's result when raw
// is the same endpoint.
func (p *Publisher) parseEventsURL(raw string) (*url.URL, error) {
	if c := p.eventsURL.Load(); c != nil && c.raw == raw {
		return c.u, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	p.eventsURL.Store(&parsedURL{raw: raw, u: u})
	return u, nil
}

// bearerHeader is the Authorization value of one token.
type bearerHeader struct {
	token string
	value []string
}

var jsonHeader = []string{"application/json"}

// authorization returns the Authorization header value for token, built
// once per token rather than once per request.
func (p *Publisher) authorization(token string) []string {
	if b := p.bearer.Load(); b != nil && b.token == token {
		return b.value
	}
	b := &bearerHeader{token: token, value: []string{"Bearer " + token}}
	p.bearer.Store(b)
	return b.value
}

// New returns a Publisher for cfg. Zero fields of cfg take their defaults
// (see [DefaultConfig]). It does not contact CXone: the first token is
// fetched, and the endpoints are discovered (when so configured), by the
// first [Publisher.Publish], [Publisher.FetchToken] or [Publisher.Endpoints]
// call. It reads the secret files once to fail early on a missing one, and
// the CA file.
func New(cfg Config, opts ...Option) (*Publisher, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Publisher{
		cfg:       cfg,
		log:       cfg.Logger,
		hc:        o.httpClient,
		bg:        newBackground(),
		userAgent: []string{cfg.UserAgent},
		scrub:     redact.New(),
		stopWait:  make(chan struct{}),
	}
	p.bg.stopWait = p.stopWait
	// The inline secrets; the grant source adds what it reads from files.
	p.scrub.AddBasic(cfg.ClientID, string(cfg.ClientSecret))
	p.scrub.AddSecret(string(cfg.AccessKeySecret))
	if p.hc == nil {
		hc, err := newHTTPClient(cfg)
		if err != nil {
			return nil, fmt.Errorf("sink: %w", err)
		}
		p.hc = hc
		p.ownClient = true
	}
	p.rt = p.hc.Transport
	if p.rt == nil {
		p.rt = http.DefaultTransport
	}
	p.endpoints = newEndpoints(cfg, p.hc, p.log, p.bg)
	g := &grantSource{
		mode:         cfg.AuthMode,
		hc:           p.hc,
		basic:        cfg.BasicEncoding,
		clientID:     cfg.ClientID,
		clientSecret: &secretSource{name: "client secret", static: cfg.ClientSecret, path: cfg.ClientSecretFile, log: p.log},
		scopes:       strings.Fields(cfg.Scope),
		tokenURL:     p.endpoints.token,
		log:          p.log,
		scrub:        p.scrub,
	}
	if cfg.AuthMode == AuthAccessKey {
		g.keyID = cfg.AccessKeyID
		g.keySecret = &secretSource{name: "access key secret", static: cfg.AccessKeySecret, path: cfg.AccessKeySecretFile, log: p.log}
	}
	if _, _, err := g.secrets(); err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	p.tokens = newTokenCache(g, cfg.TokenRefreshBefore, cfg.RequestTimeout, p.bg)
	p.tokens.sanitize = func(err error) error { return newTokenError(err, p.scrub) }
	p.tokens.onToken = func(t *oauth2.Token) {
		p.scrub.AddToken(t.AccessToken)
		p.scrub.AddToken(t.RefreshToken)
	}
	if obs := cfg.Observer; obs != nil {
		p.tokens.onFetch = obs.TokenFetched
	}
	if cfg.RateLimit.PerSecond > 0 {
		burst := cfg.RateLimit.Burst
		if burst == 0 {
			burst = max(1, int(math.Ceil(cfg.RateLimit.PerSecond)))
		}
		p.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit.PerSecond), burst)
	}
	p.br = newBreaker(cfg.Breaker, p.log, cfg.OnBreakerState, p.stopWait)
	p.health = newHealth(cfg.Poison)
	p.bufs.New = func() any { return bytes.NewBuffer(make([]byte, 0, 512)) }
	return p, nil
}

// Close ends the token fetch and the discoveries in flight, if any (their
// waiting callers get their error) and waits for them, releases idle
// connections and stops the breaker's timer: nothing the Publisher started
// runs after it returns. It returns an error only if those calls did not
// end within a few seconds of being ended. [Publisher.Publish],
// [Publisher.FetchToken] and [Publisher.Endpoints] must not be called
// afterwards.
func (p *Publisher) Close() error {
	p.br.stop()
	err := p.bg.stop(closeWait)
	if p.ownClient {
		p.hc.CloseIdleConnections()
	}
	return err
}

// StopWaiting makes every Publish that waits (for an open breaker, the 429
// cooldown, the rate limiter or its own backoff), now or later, give up at
// once with an error wrapping [ErrStopped] (no class: the event is not
// final). Requests already sent are left to finish. A bridge calls it when
// it shuts down, so that its drain is not spent waiting for a CXone that
// is down. It cannot be undone.
func (p *Publisher) StopWaiting() {
	p.stopOnce.Do(func() { close(p.stopWait) })
}

// BreakerState reports the circuit breaker's state (for readiness checks).
func (p *Publisher) BreakerState() BreakerState { return p.br.state() }

// Publish sends ev to CXone and returns once the outcome is final for this
// call. It guarantees:
//
//   - Success (nil error): CXone answered 2xx, or 409 (already ingested, so
//     [Result.Duplicate] is set). [Result.ID] is the answer's "id".
//   - [ClassRejected] ([*Error], errors.Is(err, [ErrRejected])): CXone
//     refused the event itself; Status, a bounded Excerpt and, for 422,
//     Fields are set. Never retried. The caller sends the record to the DLQ.
//   - [ClassTransient]: every try failed transiently and the retry budget
//     ([RetryConfig.MaxAttempts], [RetryConfig.MaxElapsed]) is spent. The
//     caller retries later; it never sends the record to the DLQ by default.
//   - [ClassSystemic]: returned on the first occurrence, without retrying here
//     (retrying a 403 or a dead token endpoint in a loop helps no one). The
//     caller keeps the record, pauses, reports not-ready and retries later;
//     the breaker, which counts these, makes that later call wait while it
//     is open instead of hammering CXone.
//   - [ClassPersistent]: the event has kept failing (transient or systemic)
//     across this and earlier calls while CXone answered other events, past
//     [Config.Poison]'s bounds; [Error.Verdict] says why. Never while
//     nothing else is answered (an outage). The caller gives up on the
//     event (dead-letters it); a later Publish of the same key starts
//     afresh.
//   - [Publisher.StopWaiting] was called while it waited: an error wrapping
//     [ErrStopped] (and no class sentinel).
//   - ctx ended: an error wrapping ctx.Err() (and no class sentinel). Every
//     wait (backoff, Retry-After, 429 cooldown, rate limit, open breaker,
//     token fetch) ends as soon as ctx does.
//
// Each try goes through, in order: the client-side rate limiter, the circuit
// breaker (waiting while it is open, not counting as a try), the events URL
// (discovered once when [Config.DiscoverAPIEndpoint] is set; a discovery
// failure is systemic), the token cache, the shared 429 cooldown, then one
// POST. A 401 drops the token, forces one refresh and repeats the POST once
// within the same try, after the cooldown again; a second 401 is systemic.
func (p *Publisher) Publish(ctx context.Context, ev *Event) (Result, error) {
	if err := checkEvent(ev); err != nil {
		return Result{}, err
	}
	start := time.Now()
	var (
		attempts int // HTTP requests made
		tries    int // tries (a forced 401 refresh stays within one try)
	)
	for {
		tries++
		res, cerr, err := p.try(ctx, ev, &attempts)
		if err != nil { // ctx ended, or StopWaiting
			return Result{}, p.abandoned(err, attempts, cerr)
		}
		if cerr == nil {
			res.Attempts = attempts
			p.observe(start, res, nil)
			return res, nil
		}
		cerr.Attempts = attempts
		// A 429 says nothing about the event (try records no failure for
		// it): never the try that gives an event up.
		if cerr.Class != ClassRejected && (cerr.Status != http.StatusTooManyRequests || cerr.fromTokenEndpoint()) {
			if v, ok := p.health.verdict(ev.IdempotencyKey, time.Now()); ok {
				perr := &Error{Class: ClassPersistent, Status: cerr.Status, Excerpt: cerr.Excerpt, Truncated: cerr.Truncated,
					Attempts: v.Attempts, Err: cerr, Verdict: &v}
				p.observe(start, Result{}, perr)
				p.logFor(ev).Warn("cxone keeps failing this event while accepting others: giving up on it", "status", cerr.Status,
					"attempts", v.Attempts, "failures", v.Failures, "failing_for", v.Since, "others_answered", v.OthersAnswered,
					"idempotency_key", ev.IdempotencyKey, "correlation_id", ev.CorrelationID)
				return Result{}, perr
			}
		}
		if cerr.Class != ClassTransient {
			p.observe(start, Result{}, cerr)
		}
		switch cerr.Class {
		case ClassRejected:
			p.logFor(ev).Debug("cxone rejected event", "status", cerr.Status, "idempotency_key", ev.IdempotencyKey,
				"correlation_id", ev.CorrelationID, "err", cerr)
			return Result{}, cerr
		case ClassSystemic:
			p.logFor(ev).Error("cxone systemic failure", "status", cerr.Status, "idempotency_key", ev.IdempotencyKey,
				"correlation_id", ev.CorrelationID, "err", cerr)
			return Result{}, cerr
		}

		// Transient: back off with full jitter, but never less than the
		// server's Retry-After (already capped). For a 429 the same instant
		// was also published to every other caller through p.cool.
		delay := max(fullJitter(p.cfg.Retry.BaseDelay, p.cfg.Retry.MaxDelay, tries-1), cerr.RetryAfter)
		elapsed := time.Since(start)
		if (p.cfg.Retry.MaxAttempts > 0 && tries >= p.cfg.Retry.MaxAttempts) ||
			(p.cfg.Retry.MaxElapsed > 0 && elapsed+delay > p.cfg.Retry.MaxElapsed) {
			p.observe(start, Result{}, cerr)
			p.logFor(ev).Warn("cxone transient failure, retries exhausted", "status", cerr.Status, "attempts", attempts,
				"elapsed", elapsed, "idempotency_key", ev.IdempotencyKey, "correlation_id", ev.CorrelationID, "err", cerr)
			return Result{}, cerr
		}
		p.logFor(ev).Debug("cxone transient failure, retrying", "status", cerr.Status, "attempt", attempts, "delay", delay,
			"idempotency_key", ev.IdempotencyKey, "correlation_id", ev.CorrelationID, "err", cerr)
		if p.cfg.Observer != nil {
			p.cfg.Observer.Retrying(retryReason(cerr))
		}
		if err := sleepStop(ctx, p.stopWait, delay); err != nil {
			return Result{}, p.abandoned(err, attempts, cerr)
		}
	}
}

// abandoned is the error of a Publish that stopped waiting: ctxErr is the
// context's error or [ErrStopped], last the last failure, if any.
func (p *Publisher) abandoned(ctxErr error, attempts int, last *Error) error {
	if last != nil {
		return fmt.Errorf("sink: publish abandoned after %d attempt(s), last failure %s: %w", attempts, last.describe(""), ctxErr)
	}
	return fmt.Errorf("sink: publish abandoned after %d attempt(s): %w", attempts, ctxErr)
}

// try makes one try: waits for the rate limiter and the breaker, then
// posts (twice if the first answer is a 401), after the cooldown. It
// returns a classified failure (cerr), or err != nil when ctx ended. It
// tells the breaker and the health record what the try says about CXone.
func (p *Publisher) try(ctx context.Context, ev *Event, attempts *int) (res Result, cerr *Error, err error) {
	if err := p.waitLimiter(ctx); err != nil {
		return Result{}, nil, err
	}
	key := ev.IdempotencyKey
	permit, err := p.br.acquire(ctx, p.health.suspect(key))
	if err != nil {
		return Result{}, nil, err
	}
	before := *attempts
	res, cerr, err = p.postWithToken(ctx, ev, attempts)
	switch {
	case err != nil:
		// ctx ended: says nothing about CXone.
		p.br.release(permit, outcomeNone, false)
	case cerr == nil || cerr.Class == ClassRejected:
		// Accepted, or refused for itself: CXone is answering.
		p.health.healthy(key)
		p.br.release(permit, outcomeHealthy, false)
	case cerr.Status == http.StatusTooManyRequests && !cerr.fromTokenEndpoint():
		// Rate limited: handled by the shared cooldown, not the breaker.
		// (A token endpoint's 429 sets no cooldown: it is a failure like
		// its 503, which opens the breaker, so that the bridge asks for
		// tokens once per open_timeout, not once per record retry.)
		p.br.release(permit, outcomeNone, false)
	default:
		repeat := p.health.failedTry(key, *attempts-before, time.Now(), permit.gen)
		p.br.release(permit, outcomeFailed, repeat)
	}
	return res, cerr, err
}

func (p *Publisher) waitLimiter(ctx context.Context) error {
	if p.limiter == nil {
		return nil
	}
	r := p.limiter.Reserve()
	if !r.OK() {
		return nil // burst 0 cannot happen: New sets at least 1
	}
	if err := sleepStop(ctx, p.stopWait, r.Delay()); err != nil {
		r.Cancel()
		return err
	}
	return nil
}

// postWithToken posts with the cached token; on a 401 it drops that token,
// fetches a new one (one fetch however many callers saw the 401) and posts
// once more.
func (p *Publisher) postWithToken(ctx context.Context, ev *Event, attempts *int) (Result, *Error, error) {
	eventsURL, err := p.endpoints.events.get(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, nil, ctx.Err()
		}
		if errors.Is(err, ErrStopped) {
			return Result{}, nil, err
		}
		// Discovery failing is not the record's fault (docs/reliability.md: systemic).
		return Result{}, &Error{Class: ClassSystemic, Err: err}, nil
	}
	for refreshed := false; ; refreshed = true {
		tok, err := p.tokens.get(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return Result{}, nil, ctx.Err()
			}
			if errors.Is(err, ErrStopped) {
				return Result{}, nil, err
			}
			return Result{}, p.tokenError(err), nil
		}
		if err := p.cool.wait(ctx, p.stopWait); err != nil {
			return Result{}, nil, err
		}
		*attempts++
		res, cerr, err := p.post(ctx, eventsURL, ev, tok)
		if err != nil || cerr == nil || cerr.Status != http.StatusUnauthorized {
			return res, cerr, err
		}
		if refreshed {
			cerr.Class = ClassSystemic
			cerr.Err = errors.New("unauthorized after a forced token refresh")
			return res, cerr, nil
		}
		p.logFor(ev).Debug("cxone answered 401, forcing a token refresh", "correlation_id", ev.CorrelationID)
		p.tokens.invalidate(tok)
	}
}

// tokenError classifies a token failure: always systemic (docs/reliability.md, "token
// endpoint down or refusing"), with the endpoint's status and scrubbed
// excerpt when it answered. err comes from the token cache, which made it
// a [*TokenError] (or kept a [*DiscoveryError]).
func (p *Publisher) tokenError(err error) *Error {
	var te *TokenError
	if !errors.As(err, &te) {
		return &Error{Class: ClassSystemic, Err: fmt.Errorf("token endpoint: %w", newTokenError(err, p.scrub))}
	}
	limit := min(p.cfg.MaxResponseBytes, MaxExcerptBytes)
	return &Error{Class: ClassSystemic, Err: te, Status: te.Status,
		Excerpt: redact.Truncate(te.excerpt, limit), Truncated: te.truncated || len(te.excerpt) > limit}
}

// newPostRequest is http.NewRequestWithContext(ctx, "POST", u, body) with
// header h, built on u as it is: the same request (a body the transport
// recognises as in memory, so headers and body go out in one write; a
// GetBody to send it again on a fresh connection) without parsing the URL
// again or allocating a second header map.
func newPostRequest(ctx context.Context, u *url.URL, h http.Header, body []byte) *http.Request {
	r := http.Request{Method: http.MethodPost, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Host: u.Host, ContentLength: int64(len(body))}
	if len(body) == 0 {
		r.Body, r.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
	} else {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return r.WithContext(ctx)
}

// drainLimit is how much of an unread answer is discarded to keep the
// connection reusable; beyond it the connection is closed instead.
const drainLimit = 256 << 10

// post sends one request. A nil [*Error] means accepted.
//
// It goes to the transport's RoundTrip, not through http.Client.Do: the
// client would clone the headers, arm a timer of its own for its Timeout
// and wrap the body to stop it, per request, for nothing this request
// needs. It follows no redirect either way (a 3xx is an answer: the URL is
// wrong), and RequestTimeout bounds the whole exchange, the answer's body
// included, as the client's Timeout did: one context deadline.
func (p *Publisher) post(ctx context.Context, eventsURL string, ev *Event, token string) (Result, *Error, error) {
	// ctx is the caller's: when it ends, post returns its error. reqCtx
	// adds the request's own deadline: when that passes, the try failed
	// (a timeout, transient).
	reqCtx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
	defer cancel()
	u, err := p.parseEventsURL(eventsURL)
	if err != nil {
		return Result{}, &Error{Class: ClassSystemic, Err: fmt.Errorf("building request: %w", err)}, nil
	}
	h := make(http.Header, 7)
	h["Authorization"] = p.authorization(token)
	h["Content-Type"] = jsonHeader
	h["Accept"] = jsonHeader
	h["User-Agent"] = p.userAgent
	vals := [...]string{ev.IdempotencyKey, ev.CorrelationID, ev.Traceparent} // one allocation for the three
	hv := vals[:]
	h["X-Idempotency-Key"] = hv[0:1:1]
	h["X-Correlation-Id"] = hv[1:2:2]
	if ev.Traceparent != "" {
		h["Traceparent"] = hv[2:3:3]
	}
	req := newPostRequest(reqCtx, u, h, ev.Body)

	resp, err := p.rt.RoundTrip(req)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, nil, ctx.Err()
		}
		if reqCtx.Err() != nil {
			err = &timeoutError{err}
		}
		// Its text may quote what was sent: a broken gateway that echoes
		// the request's headers makes the transport quote the bad line,
		// Authorization included.
		return Result{}, transportError(&scrubbedError{text: p.scrub.ScrubString(err.Error(), maxErrorMessage), err: err}), nil
	}
	buf := p.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		// Keep the connection if the rest of the answer is small; else close it.
		io.CopyN(io.Discard, resp.Body, drainLimit)
		resp.Body.Close()
		if buf.Cap() <= 64<<10 {
			p.bufs.Put(buf)
		}
	}()
	limit := int64(p.cfg.MaxResponseBytes)
	n, rerr := readLimited(buf, resp.Body, limit+1)
	truncated := n > limit
	body := buf.Bytes()
	if truncated {
		body = body[:limit]
	}

	status := resp.StatusCode
	class, ok := classify(status)
	if ok {
		if rerr != nil && ctx.Err() != nil {
			return Result{}, nil, ctx.Err()
		}
		// Accepted, whatever happened to the rest of the body: the status is
		// the answer. The id is best effort.
		var ans struct {
			ID string `json:"id"`
		}
		if truncated {
			// no id
		} else if id, ok := answerID(body); ok {
			ans.ID = id
		} else if json.Unmarshal(body, &ans) != nil {
			ans.ID = ""
		}
		if ans.ID == "" {
			p.logFor(ev).Debug("cxone accepted event without an id", "status", status, "correlation_id", ev.CorrelationID)
		}
		return Result{ID: ans.ID, Status: status, Duplicate: status == http.StatusConflict}, nil, nil
	}
	if rerr != nil && ctx.Err() != nil {
		return Result{}, nil, ctx.Err()
	}
	// The answer may echo the request (a gateway, a WAF, a proxy): what is
	// kept of it is scrubbed of the token and secrets, and bounded.
	ex, cut := p.scrub.Scrub(body, min(int(limit), MaxExcerptBytes))
	e := &Error{Class: class, Status: status, Excerpt: ex, Truncated: truncated || cut}
	if status == http.StatusUnprocessableEntity {
		e.Fields = parseFieldErrors(body, p.scrub)
	}
	if ra, has := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); has {
		e.RetryAfter = min(ra, p.cfg.Retry.RetryAfterMax)
	}
	if status == http.StatusTooManyRequests {
		// 429 is global (see cooldown): every caller waits until this instant.
		// Without Retry-After, the backoff delay of the next retry is used
		// by this caller only; the others are still held back for BaseDelay.
		wait := e.RetryAfter
		if wait == 0 {
			wait = p.cfg.Retry.BaseDelay
		}
		p.cool.extend(time.Now().Add(wait), wait)
		p.logFor(ev).Warn("cxone rate limited, all publishers cool down", "retry_after", wait, "correlation_id", ev.CorrelationID)
	}
	return Result{}, e, nil
}

// readLimited appends to buf what r holds, at most limit bytes, as
// buf.ReadFrom(io.LimitReader(r, limit)) would, without allocating the
// LimitedReader (an allocation per request).
func readLimited(buf *bytes.Buffer, r io.Reader, limit int64) (int64, error) {
	var n int64
	for n < limit {
		buf.Grow(int(min(limit-n, 512)))
		b := buf.AvailableBuffer()
		b = b[:min(int64(cap(b)), limit-n)]
		m, err := r.Read(b)
		buf.Write(b[:m]) // b is buf's own free space: this only extends it
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// timeoutError is a request that ran past RequestTimeout: a timeout (as
// http.Client reports its own Timeout), whatever the transport said.
type timeoutError struct{ err error }

func (e *timeoutError) Error() string   { return "request timed out: " + e.err.Error() }
func (e *timeoutError) Unwrap() error   { return e.err }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }

// classify maps an HTTP status to a class; ok reports acceptance.
func classify(status int) (class Class, ok bool) {
	switch {
	case status >= 200 && status < 300, status == http.StatusConflict:
		return 0, true
	case status == http.StatusUnauthorized: // refreshed once by the caller, then systemic
		return ClassTransient, false
	case status == http.StatusForbidden, status == http.StatusNotFound, status == http.StatusMethodNotAllowed:
		return ClassSystemic, false
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly, status == http.StatusTooManyRequests:
		return ClassTransient, false
	case status >= 400 && status < 500:
		return ClassRejected, false
	case status == http.StatusNotImplemented, status == http.StatusHTTPVersionNotSupported:
		return ClassSystemic, false
	case status >= 500 && status < 600:
		return ClassTransient, false
	}
	return ClassSystemic, false // 1xx/3xx/garbage: misconfigured endpoint
}

// scrubbedError is an error whose text was scrubbed of every secret and
// token; errors.Is and errors.As still see the original.
type scrubbedError struct {
	text string
	err  error
}

func (e *scrubbedError) Error() string { return e.text }
func (e *scrubbedError) Unwrap() error { return e.err }

// transportError classifies a failure to get an answer: TLS and certificate
// failures are systemic (they do not heal by retrying), everything else —
// refused, reset, timeouts, EOF — is transient.
func transportError(err error) *Error {
	var (
		cve  *tls.CertificateVerificationError
		rhe  tls.RecordHeaderError
		ae   tls.AlertError
		uae  x509.UnknownAuthorityError
		he   x509.HostnameError
		cie  x509.CertificateInvalidError
		ecpe *tls.ECHRejectionError
	)
	if errors.As(err, &cve) || errors.As(err, &rhe) || errors.As(err, &ae) || errors.As(err, &uae) ||
		errors.As(err, &he) || errors.As(err, &cie) || errors.As(err, &ecpe) {
		return &Error{Class: ClassSystemic, Err: fmt.Errorf("TLS: %w", err)}
	}
	return &Error{Class: ClassTransient, Err: err}
}

// checkEvent rejects events that cannot be sent as is. Header values must be
// visible ASCII or space (docs/design.md §6: a CR/LF must never reach a header).
func checkEvent(ev *Event) error {
	var problem string
	switch {
	case ev == nil:
		problem = "nil event"
	case len(ev.Body) == 0:
		problem = "empty body"
	case ev.IdempotencyKey == "":
		problem = "empty idempotency key"
	case ev.CorrelationID == "":
		problem = "empty correlation id"
	case !headerSafe(ev.IdempotencyKey):
		problem = "idempotency key is not printable ASCII"
	case !headerSafe(ev.CorrelationID):
		problem = "correlation id is not printable ASCII"
	case !headerSafe(ev.Traceparent):
		problem = "traceparent is not printable ASCII"
	default:
		return nil
	}
	return &Error{Class: ClassRejected, Err: fmt.Errorf("%w: %s", ErrInvalidEvent, problem)}
}

func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// observe reports a final Publish outcome to the [Observer].
func (p *Publisher) observe(start time.Time, res Result, cerr *Error) {
	if p.cfg.Observer != nil {
		p.cfg.Observer.Published(time.Since(start), res, cerr)
	}
}

// retryReason names why a transient failure is retried.
func retryReason(e *Error) string {
	if e.Status != 0 {
		return fmt.Sprintf("http_%d", e.Status)
	}
	var ne net.Error
	if errors.Is(e.Err, context.DeadlineExceeded) || (errors.As(e.Err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	return "connection"
}

// TokenOK reports whether a token is obtainable: a valid token is cached,
// or the last token fetch succeeded. Before the first fetch it is false.
func (p *Publisher) TokenOK() bool {
	if t := p.tokens.cur.Load(); t != nil && t.usable(time.Now()) {
		return true
	}
	return p.tokens.lastOK.Load()
}

// FetchToken makes sure a token is obtainable, fetching one unless a valid
// one is cached. The error never contains the secret or the token; it is a
// [*Error] of class systemic when the token endpoint refused or failed, and
// wraps [ErrStopped] when [Publisher.StopWaiting] ended the wait.
func (p *Publisher) FetchToken(ctx context.Context) error {
	if _, err := p.tokens.get(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrStopped) {
			return err
		}
		return p.tokenError(err)
	}
	return nil
}

// Redact returns text scrubbed of the credentials this Publisher knows
// (its secrets, their encodings, its recent tokens) and of credential
// fields, valid UTF-8 and at most limit bytes ([redact.Scrubber]). The texts
// of its errors are already scrubbed; callers that keep text derived from
// them (the DLQ envelope) may use it as a second line of defence.
func (p *Publisher) Redact(text string, limit int) string {
	return p.scrub.ScrubString(text, limit)
}

// Endpoints are the URLs a [Publisher] uses.
type Endpoints struct {
	TokenURL        string
	EventsURL       string
	TokenDiscovered bool // TokenURL came from the issuer's openid-configuration
	APIDiscovered   bool // EventsURL's base came from the tenant's cxone-configuration
}

// Endpoints returns the token and events URLs, discovering them first when
// so configured (once per process: a success is kept, a failure is retried
// at the next call). The error is a [*DiscoveryError], ctx's error, or
// [ErrStopped] when [Publisher.StopWaiting] ended the wait.
func (p *Publisher) Endpoints(ctx context.Context) (Endpoints, error) {
	e := Endpoints{TokenDiscovered: p.endpoints.token.discovered(), APIDiscovered: p.endpoints.events.discovered()}
	var err error
	if e.EventsURL, err = p.endpoints.events.get(ctx); err != nil {
		return e, err
	}
	if e.TokenURL, err = p.endpoints.token.get(ctx); err != nil {
		return e, err
	}
	return e, nil
}

// logFor returns the logger for lines about ev.
func (p *Publisher) logFor(ev *Event) *slog.Logger {
	if ev.Log == nil {
		return p.log
	}
	return p.log.With(slog.Any("", ev.Log))
}
