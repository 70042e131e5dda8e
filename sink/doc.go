// Package sink publishes events to NICE CXone's event-ingestion endpoint, as
// the CXone EventBridge tutorial does, with the failure handling a production
// bridge needs (DESIGN §1, §4, §7).
//
// A Publisher is built once from a Config and shared by every worker:
//
//	p, err := sink.New(sink.Config{
//		BaseURL:      "https://api-us-1.cxone.com",
//		ClientID:     id,
//		ClientSecret: sink.Secret(secret),
//		OnBreakerState: func(from, to sink.BreakerState) { states <- to },
//	})
//	res, err := p.Publish(ctx, &sink.Event{IdempotencyKey: k, CorrelationID: c, Body: body})
//
// # One request per event
//
// POST {BaseURL}{EventsPath} with Authorization: Bearer, Content-Type:
// application/json, X-Idempotency-Key, X-Correlation-Id and, when given,
// traceparent; the body is sent byte for byte. Redirects are not followed.
// At most Config.MaxResponseBytes of an answer is kept, at most 256 KiB more
// is drained so the connection can be reused, and beyond that the connection
// is closed: a huge answer costs neither memory nor time.
//
// # Tokens
//
// The token comes from the OAuth2 client-credentials grant
// (golang.org/x/oauth2/clientcredentials, id and secret in the Basic header,
// Config.Scope in the form). It is cached and refreshed in the background
// before it expires, one fetch at a time for all callers. A 401 drops the
// token, forces one refresh and repeats the POST once; a second 401 is
// systemic. WithTokenSource plugs in another grant (DESIGN §7's access keys).
//
// # Classes
//
// Publish returns nil (2xx, or 409 "already ingested") or an *Error whose
// Class is ClassRejected, ClassTransient or ClassSystemic; errors.Is works with
// ErrRejected, ErrTransient and ErrSystemic. See Publish for what each
// promises and what the caller should do. An error for a context that ended
// carries no class: check the class sentinels, not context.DeadlineExceeded,
// to tell an HTTP timeout (transient) from the caller's own deadline.
//
// # How retries, the 429 cooldown, the rate limit and the breaker interact
//
// Each try of an event passes four gates in this order, and every gate waits
// on the caller's context:
//
//  1. Rate limiter (Config.RateLimit). A token bucket shared by all callers
//     keeps the tenant under its quota; 0 turns it off.
//  2. Circuit breaker (Config.Breaker). Consecutive transient or systemic
//     failures (FailuresToOpen) open it. While open, callers wait until
//     OpenTimeout has passed instead of sending or spending retries; then
//     HalfOpenMaxRequests probes go through while the others keep waiting; a
//     successful probe closes it, a failed one opens it again. Every change
//     goes to Config.OnBreakerState so the consumer can pause fetching while
//     open and resume when closed. Counting: successes and rejected events
//     (a 422 says nothing about CXone's health) count as successes; transient
//     and systemic failures as failures; a 429 and a try cut short by the
//     caller's context are not counted at all: a 429 is the tenant's quota,
//     not an outage, and is handled by the cooldown below.
//  3. 429 cooldown. A 429 sets one shared "not before" instant (now +
//     Retry-After, or + Retry.BaseDelay without one) and every caller waits
//     for it before sending, so one 429 slows all workers, not just the one
//     that got it. The instant only moves forward.
//  4. Token cache, then the POST.
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
// # Secrets
//
// Config.ClientSecret has type Secret: fmt, slog and encoding/json print
// "[redacted]". The secret is used only in the token request's Basic header
// and never appears in errors or logs.
package sink
