package cxonetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// Faults are the misbehaviours the server injects; the zero value injects
// none. They can be set with [WithFaults], [Handler.SetFaults] and the admin API.
// All but Targets hit every events request (or every token request) alike;
// Targets hit only the events that match them.
type Faults struct {
	// Latency is added to every events answer; with LatencyMax > Latency the
	// latency is uniform in [Latency, LatencyMax].
	Latency    Duration `json:"latency,omitempty"`
	LatencyMax Duration `json:"latency_max,omitempty"`

	// ErrorRates maps an HTTP status to the probability (0..1) that an events
	// request (authorized, otherwise valid or not) is answered with it.
	ErrorRates map[int]float64 `json:"error_rates,omitempty"`

	// Outage: events requests arriving in [OutageFrom, OutageUntil) get
	// OutageStatus (default 503). OutageFor, when set through SetFaults or
	// the admin API, means "from now for that long".
	OutageFrom   time.Time `json:"outage_from,omitzero"`
	OutageUntil  time.Time `json:"outage_until,omitzero"`
	OutageFor    Duration  `json:"outage_for,omitempty"`
	OutageStatus int       `json:"outage_status,omitempty"`

	// ForceStatus answers the next ForceCount authorized events requests
	// with that status (ForceCount is decremented as they are answered).
	ForceStatus int `json:"force_status,omitempty"`
	ForceCount  int `json:"force_count,omitempty"`

	// RetryAfter goes with injected 429 and 503 answers (forced, random,
	// outage, target). For 429, 0 means 1s and a negative value means no header; for
	// 503, 0 means no header. RetryAfterDate sends it as an HTTP date
	// (rounded up to the next whole second) instead of delta-seconds.
	RetryAfter     Duration `json:"retry_after,omitempty"`
	RetryAfterDate bool     `json:"retry_after_date,omitempty"`

	// RateLimit accepts at most this many events requests per second per
	// server (token bucket with RateBurst, default ceil(RateLimit)); others get
	// 429 with the Retry-After the bucket needs. 0 turns it off.
	RateLimit float64 `json:"rate_limit,omitempty"`
	RateBurst int     `json:"rate_burst,omitempty"`

	// Targets are faults for the events that match them only; every other event
	// is answered as usual. The first matching target applies. They are
	// checked for events that passed the content and shape checks, before
	// dedupe (step 7 of the package doc): a matching event is never recorded
	// as accepted and its idempotency key is not marked as ingested. Through
	// the admin API a "targets" list replaces the current one; [] or null
	// clears it.
	Targets []Target `json:"targets,omitempty"`

	// TokenTTL is the lifetime of issued tokens; 0 means 1h.
	TokenTTL Duration `json:"token_ttl,omitempty"`
	// TokenStatus, when set, makes the token endpoint refuse every request
	// with that status (e.g. 503: token endpoint down; 401: refusing).
	TokenStatus int `json:"token_status,omitempty"`

	// The hostile answers (see the package documentation): what an API
	// gateway, a WAF or a TLS-inspecting proxy in front of CXone may send.
	// They change error answers only (status 400 and above); accepted
	// events and issued tokens are answered as usual, and with all three
	// off the events endpoint's hot path is unchanged.
	//
	// EchoRequests makes every error answer of the events and token
	// endpoints echo the request it answers, first in the body: method,
	// URL, Host, every header (Authorization included, so the bearer
	// token or the Basic credentials) and the body (the events body, or
	// the token request's form with the access key secret).
	EchoRequests bool `json:"echo_requests,omitempty"`
	// ErrorBodyBytes pads every error answer of the events and token
	// endpoints to at least this many bytes (after the echo), e.g. 1<<20.
	// 0: no padding; at most MaxErrorBodyBytes.
	ErrorBodyBytes int `json:"error_body_bytes,omitempty"`
	// TokenErrorHTML makes the token endpoint's error answers a gateway's
	// HTML page (text/html) instead of JSON: with TokenStatus 502 and
	// EchoRequests, a "502 Bad Gateway" page showing the request as raw
	// HTTP text (Authorization: Basic …, then the form).
	TokenErrorHTML bool `json:"token_error_html,omitempty"`
}

// Target selects events and says how to answer them ([Faults.Targets]).
//
// A status answer is an injected fault like the others: a JSON error body,
// counted in [Stats.Faults] ([Stats.RateLimited] for 429, which opens a 429
// window as other injected 429s do) and in [Stats.Targeted]; 429 and 503 carry
// Retry-After as [Faults.RetryAfter] says.
//
// A held (Hang) request counts in [Stats.Hung] while it is held, and in
// Stats.Targeted once its hold ends. When the targets change so that it no
// longer matches (or matches a status target), it goes on from the target
// check as if it had just arrived there: usually dedupe, then 202 and the
// configured latency. If its client gives up first (the request's context
// ends, e.g. on [Server.Close]), it is never answered and its arrival is
// recorded with status 0. If the [http.Server] serving the [Handler] begins a
// graceful Shutdown, it is answered 503 with Connection: close, so that the
// shutdown does not wait for it.
type Target struct {
	// Match: at least one must be set; every one that is set must match.
	BodyContains   string `json:"body_contains,omitempty"`   // substring of the raw request body
	EventType      string `json:"event_type,omitempty"`      // the body's eventType, exactly
	IdempotencyKey string `json:"idempotency_key,omitempty"` // the X-Idempotency-Key header, exactly
	// Status answers a matching event with this status (default 503 when Hang is false).
	Status int `json:"status,omitempty"`
	// Hang never answers a matching event: the request is held until the client gives up
	// (its context ends), the server closes, or the targets are changed so that it no
	// longer matches — then it is processed as usual (so a "stuck" event is released at once
	// when the test lifts the fault, and accepted).
	Hang bool `json:"hang,omitempty"`
}

// matches reports whether the event (its idempotency key, raw body and
// eventType) matches t.
func (t *Target) matches(key string, body []byte, eventType string) bool {
	return (t.IdempotencyKey == "" || t.IdempotencyKey == key) &&
		(t.EventType == "" || t.EventType == eventType) &&
		(t.BodyContains == "" || bytes.Contains(body, []byte(t.BodyContains)))
}

// matchTarget returns the first target that matches the event, or nil.
func matchTarget(targets []Target, key string, body []byte, eventType string) *Target {
	for i := range targets {
		if targets[i].matches(key, body, eventType) {
			return &targets[i]
		}
	}
	return nil
}

func (f Faults) validate() error {
	var errs []error
	if f.Latency < 0 || f.LatencyMax < 0 {
		errs = append(errs, errors.New("latency must not be negative"))
	}
	for st, p := range f.ErrorRates {
		if st < 100 || st > 599 || p < 0 || p > 1 {
			errs = append(errs, fmt.Errorf("error_rates: bad entry %d: %v", st, p))
		}
	}
	for _, st := range []int{f.OutageStatus, f.ForceStatus, f.TokenStatus} {
		if st != 0 && (st < 100 || st > 599) {
			errs = append(errs, fmt.Errorf("bad status %d", st))
		}
	}
	for i, t := range f.Targets {
		if t.BodyContains == "" && t.EventType == "" && t.IdempotencyKey == "" {
			errs = append(errs, fmt.Errorf("targets[%d]: no matcher: set body_contains, event_type or idempotency_key", i))
		}
		if t.Status != 0 && (t.Status < 100 || t.Status > 599) {
			errs = append(errs, fmt.Errorf("targets[%d]: bad status %d (want 100-599)", i, t.Status))
		}
		if t.Hang && t.Status != 0 {
			errs = append(errs, fmt.Errorf("targets[%d]: hang and status exclude each other", i))
		}
	}
	if f.ErrorBodyBytes < 0 || f.ErrorBodyBytes > MaxErrorBodyBytes {
		errs = append(errs, fmt.Errorf("error_body_bytes %d: want 0 to %d", f.ErrorBodyBytes, MaxErrorBodyBytes))
	}
	if f.ForceCount < 0 || f.RateLimit < 0 || f.RateBurst < 0 || f.TokenTTL < 0 || f.OutageFor < 0 {
		errs = append(errs, errors.New("counts, rates and durations must not be negative"))
	}
	return errors.Join(errs...)
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

// Duration is a [time.Duration] that reads and writes JSON as a Go duration
// string ("250ms", "2s"); a JSON number is read as seconds.
type Duration time.Duration

// MarshalJSON implements [json.Marshaler].
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).String())), nil
}

// UnmarshalJSON implements [json.Unmarshaler].
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return errors.New("duration must be a string like \"2s\" or a number of seconds")
	}
	*d = Duration(f * float64(time.Second))
	return nil
}
