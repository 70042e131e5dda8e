package cxonetest

import (
	"context"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Events endpoint: POST EventsPath, steps 1 to 4, 7 and 8 of the package
// doc (validate.go has steps 5 and 6), then the configured latency.

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
	ks := h.keyLocked(key)
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

type keyState struct {
	id       string
	arrivals []Arrival
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
	h.keyLocked(key).add(a)
}

// keyLocked returns the state of idempotency key key, made on first use.
// h.mu is held.
func (h *Handler) keyLocked(key string) *keyState {
	ks := h.keys[key]
	if ks == nil {
		ks = &keyState{}
		h.keys[key] = ks
	}
	return ks
}

// Events beyond the record limit are trimmed lazily; the accessor trims too.
func (h *Handler) trimmedEvents() []Event {
	if len(h.events) > h.recordLimit {
		return h.events[len(h.events)-h.recordLimit:]
	}
	return h.events
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
