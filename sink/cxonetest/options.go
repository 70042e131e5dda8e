package cxonetest

import (
	"log/slog"
	"strconv"
	"time"
)

// Option configures a [Handler].
type Option func(*Handler)

// WithClient registers a client that may use the client-credentials grant
// (and only that grant). Without scopes it may request [WriteScope]. The first
// WithClient replaces the default client ([DefaultClientID]).
func WithClient(id, secret string, scopes ...string) Option {
	return func(h *Handler) {
		if !h.customClients {
			for k, c := range h.clients {
				if c.grant == grantClientCredentials {
					delete(h.clients, k)
				}
			}
			h.customClients = true
		}
		if len(scopes) == 0 {
			scopes = []string{WriteScope}
		}
		h.clients[id] = client{secret: secret, scopes: scopes, grant: grantClientCredentials}
	}
}

// WithApp registers a CXone back-end application: a client that may use the
// password grant (with a registered access key) and only that grant. Without
// scopes it may be granted [WriteScope]. The first WithApp replaces the
// default application ([DefaultAppID]).
func WithApp(id, secret string, scopes ...string) Option {
	return func(h *Handler) {
		if !h.customApps {
			for k, c := range h.clients {
				if c.grant == grantPassword {
					delete(h.clients, k)
				}
			}
			h.customApps = true
		}
		if len(scopes) == 0 {
			scopes = []string{WriteScope}
		}
		h.clients[id] = client{secret: secret, scopes: scopes, grant: grantPassword}
	}
}

// WithAccessKey registers a user's access key (the password grant's username
// and password). The first WithAccessKey replaces the default one.
func WithAccessKey(id, secret string) Option {
	return func(h *Handler) {
		if !h.customKeys {
			h.accessKeys = map[string]string{}
			h.customKeys = true
		}
		h.accessKeys[id] = secret
	}
}

// Forms of the HTTP Basic credentials of a token request ([WithBasicEncoding]).
const (
	// BasicRaw: base64(id ":" secret) with the id and secret as they are,
	// as the Node tutorial sends them. The default.
	BasicRaw = "raw"
	// BasicRFC6749: the id and secret form-URL-encoded first (RFC 6749
	// §2.3.1), as golang.org/x/oauth2 sends them.
	BasicRFC6749 = "rfc6749"
)

// WithBasicEncoding sets the one form of the Basic credentials that the
// token endpoint accepts: [BasicRaw] (the default) or [BasicRFC6749]. The
// other form of a known client's credentials is refused (401
// invalid_client) when it differs, that is for an id or secret holding a
// character that form-URL-encoding changes (+ / = % : space …); for the
// others both forms are the same bytes. It panics on any other value.
func WithBasicEncoding(form string) Option {
	if form != BasicRaw && form != BasicRFC6749 {
		panic("cxonetest: WithBasicEncoding: " + strconv.Quote(form) + " is not " + BasicRaw + " or " + BasicRFC6749)
	}
	return func(h *Handler) { h.basicEncoding = form }
}

// WithTenant registers a tenant for /.well-known/cxone-configuration.
// apiEndpoint is the api_endpoint announced for it; "" announces the
// server's own base URL (as the request reached it). The first WithTenant
// replaces the default tenant ([DefaultTenantID]).
func WithTenant(id, apiEndpoint string) Option {
	return func(h *Handler) {
		if !h.customTenants {
			h.tenants = map[string]string{}
			h.customTenants = true
		}
		h.tenants[id] = apiEndpoint
	}
}

// WithIssuer fixes the issuer announced by the OpenID discovery document;
// by default it is the server's base URL as the request reached it (scheme
// and Host header), so a client using another host name sees a consistent
// document.
func WithIssuer(issuer string) Option { return func(h *Handler) { h.issuer = issuer } }

// WithFaults sets the initial faults.
func WithFaults(f Faults) Option { return func(h *Handler) { h.setFaultsLocked(f) } }

// WithTokenTTL sets the lifetime of issued tokens ([Faults.TokenTTL]).
func WithTokenTTL(d time.Duration) Option {
	return func(h *Handler) { h.faults.TokenTTL = Duration(d) }
}

// WithDuplicateStatus sets the answer to a repeated idempotency key: 200
// (default) or 409; either carries the first event's id.
func WithDuplicateStatus(status int) Option { return func(h *Handler) { h.dupStatus = status } }

// WithEarlyGrace sets how soon after a 429 a request of the same client may
// still arrive without counting as an early retry (default 50ms): it may have
// been sent before the client could read the 429.
func WithEarlyGrace(d time.Duration) Option { return func(h *Handler) { h.grace = d } }

// WithRecordLimit keeps at most n accepted events (the most recent); counters
// and dedupe are not affected. Default 100000; 0 keeps none.
func WithRecordLimit(n int) Option { return func(h *Handler) { h.recordLimit = n } }

// WithMaxBodyBytes sets the largest events body accepted (default 1 MiB; 413 above).
func WithMaxBodyBytes(n int64) Option { return func(h *Handler) { h.maxBody = n } }

// WithOnAccepted registers fn, called once for every event the server
// accepts (answered 202, so not for duplicates), right after the answer was
// written, that is after the configured latency, with the request's
// X-Correlation-Id and the time the answer was written. fn runs on the
// request's goroutine: it must be quick and safe for concurrent use.
// Benchmarks use it to measure end-to-end latency.
func WithOnAccepted(fn func(correlationID string, answeredAt time.Time)) Option {
	return func(h *Handler) { h.onAccepted = fn }
}

// WithLogger logs every answer at debug level and admin changes at info level.
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }
