// Package sink publishes events to NICE CXone's event-ingestion endpoint, as
// the CXone EventBridge tutorial does, with the failure handling a production
// bridge needs (docs/design.md §1, §4, §7).
//
// A [Publisher] is built once from a [Config] by [New] and shared by every
// worker, which calls [Publisher.Publish] for each event (see ExampleNew):
//
//	p, err := sink.New(sink.Config{BaseURL: baseURL, ClientID: id, ClientSecret: secret})
//	…
//	defer p.Close()
//	res, err := p.Publish(ctx, &sink.Event{IdempotencyKey: k, CorrelationID: c, Body: body})
//
// # One request per event
//
// POST {BaseURL}{EventsPath} with Authorization: Bearer, Content-Type:
// application/json, X-Idempotency-Key, X-Correlation-Id and, when given,
// traceparent; the body is sent byte for byte. Redirects are not followed.
// At most [Config.MaxResponseBytes] of an answer is read, at most 256 KiB
// more is drained so the connection can be reused, and beyond that the
// connection is closed: a huge answer costs neither memory nor time. Of a
// failed answer, the [Error] keeps a scrubbed excerpt of at most
// [MaxExcerptBytes] (see Secrets).
//
// # Tokens
//
// [Config.AuthMode] chooses the grant. [AuthClientCredentials] (default) is
// the tutorial's OAuth2 client-credentials grant (id and secret in the
// Basic header, [Config.Scope] in the form). [AuthAccessKey] is real
// CXone's (docs/design.md §7): the password grant, the registered
// application's id and secret in the Basic header, a user's access key id
// and secret as username and password. In both, [Config.BasicEncoding]
// chooses the form of the id and secret in the Basic header: [BasicRaw]
// (default, the Node tutorial's) or [BasicRFC6749] (form-URL-encoded
// first, as golang.org/x/oauth2 sends them); they are never sent in the
// form. Secrets given as files are read again at every token fetch, and
// once more when the token endpoint refuses them, so a rotated secret is
// used without a restart. The token is cached
// and refreshed in the background before it expires, one fetch at a time
// for all callers. A 401 drops the token, forces one refresh and repeats
// the POST once; a second 401 is systemic.
//
// # Discovery
//
// With [Config.Issuer] and no [Config.TokenURL], the token endpoint comes
// from the issuer's /.well-known/openid-configuration; with
// [Config.DiscoverAPIEndpoint], the API base URL comes from
// /.well-known/cxone-configuration?tenantId=… (api_endpoint). Each is
// fetched at first use, once per process (failures are retried at the next
// use and are systemic for Publish), parsed strictly
// ([ParseOpenIDConfiguration], [ParseCXoneConfiguration]) and, with
// [Config.DiscoveryCacheFile], kept on disk for a restart during an issuer
// outage. With [Config.AllowedHosts], a discovered token endpoint or API
// base (or a cached one) on a host not listed is refused before anything
// is sent to it: a [DiscoveryError] wrapping [ErrHostNotAllowed], naming
// the member and the host, systemic for Publish and not served from the
// cache.
//
// Token fetches and discoveries run in goroutines of their own, so that a
// caller who stops waiting does not cancel them for the others;
// [Publisher.Close] ends those still in flight and waits for them.
//
// # Transport
//
// One http.Client serves discovery, tokens and events: HTTP/2 when offered,
// TLS 1.2+, the system's authorities plus [Config.CAFile], the proxy of
// HTTPS_PROXY/HTTP_PROXY/NO_PROXY read at [New] (or [Config.Proxy]).
//
// # Classes
//
// Publish returns nil (2xx, or 409 "already ingested") or an [*Error] whose
// [Class] is [ClassRejected], [ClassTransient], [ClassSystemic] or
// [ClassPersistent]; errors.Is works with [ErrRejected], [ErrTransient],
// [ErrSystemic] and [ErrPersistent]. See [Publisher.Publish] for what each
// promises and what the caller should do. An error for a context that ended
// carries no class: check the class sentinels, not context.DeadlineExceeded,
// to tell an HTTP timeout (transient) from the caller's own deadline.
//
// # How retries, the 429 cooldown, the rate limit and the breaker interact
//
// Each try of an event passes four gates in this order, and every gate waits
// on the caller's context:
//
//  1. Rate limiter ([Config.RateLimit]). A token bucket shared by all callers
//     keeps the tenant under its quota; 0 turns it off.
//  2. Circuit breaker ([Config.Breaker]). It measures CXone, not one event:
//     FailuresToOpen transient or systemic failures of distinct events in a
//     row (an event's repeated failures count once; a healthy answer resets
//     the count) open it, and so do two or more distinct events failing
//     with no answer for OpenTimeout (an outage with few events in flight;
//     one event failing alone never opens it: it may be poison). While open, callers wait instead of sending or
//     spending retries. After OpenTimeout a timer moves it to half-open by
//     itself (no caller needs to be there); HalfOpenMaxRequests probes go
//     through while the others keep waiting, and an event suspected of
//     being poison (see Persistent failures) is not picked as a probe for
//     the first OpenTimeout of half-open; a successful probe closes it, a
//     failed one opens it again. Every change goes to [Config.OnBreakerState]
//     so the consumer can pause fetching while open and resume otherwise.
//     Counting: successes and rejected events (a 422 says nothing bad about
//     CXone's health) are healthy answers; transient and systemic failures
//     are failures; a 429 and a try cut short by the caller's context are
//     not counted at all: a 429 is the tenant's quota, not an outage, and is
//     handled by the cooldown below.
//  3. Events URL (discovered once, see Discovery) and the token cache.
//  4. 429 cooldown. A 429 sets one shared "not before" instant (now +
//     Retry-After, or + Retry.BaseDelay without one) and every caller waits
//     for it before every POST (the re-POST after a forced token refresh
//     included), so one 429 slows all workers, not just the one that got
//     it. The instant only moves forward. Callers that had to wait are
//     released over a short window after it (a tenth of the wait, 50ms to
//     1s), not all at once.
//  5. The POST.
//
// A transient failure is retried after a delay of full jitter,
// rand[0, min(MaxDelay, BaseDelay·2ⁿ)], or the server's Retry-After (both
// forms, capped at RetryAfterMax) if longer. Retrying stops after MaxAttempts
// tries or when the next delay would end past MaxElapsed; Publish then returns
// the transient error and the caller retries later. A systemic failure is
// returned at once, never retried inside Publish: the caller keeps the record
// and retries it, and it is the breaker, counting those failures, that makes
// those later calls wait rather than hammer CXone. A rejected event is
// returned at once.
//
// # Persistent failures
//
// The Publisher keeps, for every event that is failing now (by idempotency
// key, across Publish calls), when it first failed and how many tries
// failed since, and counts the tries of all events that CXone answered and
// that failed. An event that kept failing while CXone answered others is
// given up on with [ClassPersistent] once [Config.Poison]'s bounds are reached
// (MinAttempts failed tries in a row, MinDuration since the first failure)
// and the chance of so many failures by bad luck, at the success rate the
// other events saw meanwhile, is below one in a million (the formula is in
// health.go). While CXone answers nothing (an outage) no event is ever given
// up on. The evidence is this Publisher's own.
//
// # Secrets
//
// [Config.ClientSecret] and [Config.AccessKeySecret] have type
// [secret.Secret]: fmt, slog and encoding/json print "[redacted]". The
// secrets are sent only in the token request (Basic header, form).
//
// An answer may echo the request that caused it (a gateway, a WAF error
// page, a TLS-inspecting proxy, or CXone itself), and with it the bearer
// token, the Basic header or the form. So everything that comes from an
// answer passes one redaction point, the Publisher's [redact.Scrubber],
// before it reaches an error, a log line, the Observer or (through the
// caller) a DLQ header. The Scrubber learns the secrets as they are read
// (files again at each fetch, so rotated values too, with their Basic
// encodings in both forms, raw and RFC 6749's, whichever is sent) and
// the tokens as they are fetched (the last redact.MaxTokens), and removes
// every encoding of them, plus credential fields and Authorization values
// of anyone's (see package redact for the exact guarantee). Bounds: an
// Error's Excerpt is at most [MaxExcerptBytes], its Error() at most 1 KiB, a
// token endpoint's description 256 bytes. A failed token request is kept
// as a [*TokenError] (status, OAuth error code, scrubbed description), never
// as golang.org/x/oauth2's [oauth2.RetrieveError], which holds the whole
// answer; [DiscoveryError] never holds the answer either. [Publisher.Redact]
// applies the same scrubbing to any text. Only failures are scrubbed: accepted
// events cost nothing more.
package sink
