// Package cxonetest provides a CXone-compatible test server, in the manner of
// net/http/httptest: a real HTTP server on loopback that speaks the contract
// of the CXone EventBridge tutorial strictly (docs/design.md §8), records what it
// accepted, and injects faults on demand.
//
// # Contract
//
// POST /oauth/token ([TokenPath]) requires Content-Type
// application/x-www-form-urlencoded, HTTP Basic credentials of a known client
// in one form, [WithBasicEncoding]: the raw id:secret, as the Node tutorial
// sends them ([BasicRaw], the default), or form-URL-encoded first, as RFC
// 6749 §2.3.1 and golang.org/x/oauth2 send them ([BasicRFC6749]); the other
// form of credentials that the forms write differently is 401
// invalid_client. Then grant_type=client_credentials and a non-empty
// scope. It grants the requested scopes that the client is allowed (400
// invalid_scope if none) and answers {"access_token", "token_type":
// "Bearer", "expires_in", "scope"} with a random token that expires after
// [Faults.TokenTTL] (default 1h; expires_in is the TTL in whole seconds,
// rounded down).
//
// The same endpoint is also served at /auth/token ([AuthTokenPath], real
// CXone's path) and speaks real CXone's password grant (docs/design.md §7): a
// registered application ([WithApp]; Basic credentials as above) sends
// grant_type=password&username=<access key id>&password=<access key secret>;
// scope is optional (the application's scopes are granted). Each client may
// use one grant only: another known grant is answered 400
// unauthorized_client, a wrong access key 400 invalid_grant, an unknown grant
// 400 unsupported_grant_type.
//
// GET /.well-known/openid-configuration ([OpenIDConfigPath]) answers the
// issuer ([WithIssuer], else the base URL the request used) and its
// token_endpoint (<base>/auth/token). GET /.well-known/cxone-configuration
// ?tenantId=ID ([CXoneConfigPath]) answers a registered tenant's api_endpoint
// ([WithTenant]), 404 tenant_not_found for an unknown one, 400 without tenantId.
// [NewTLSServer] serves all of it over HTTPS with HTTP/2.
//
// POST /api/v2/eventbridge/events ([EventsPath]) checks, in order:
//  1. outage window (Faults.Outage*): 503 (or OutageStatus);
//  2. Authorization: Bearer token, unknown or expired: 401;
//     token without eventbridge:events:write: 403;
//  3. 429 windows: while a 429 answered to the same client has not reached
//     its Retry-After instant, the client gets 429 again; such a request
//     counts as an early retry unless it arrived within EarlyGrace of that
//     429 (then it may have been sent before the client could read it);
//  4. forced status ([Faults.ForceStatus] for the next ForceCount requests),
//     random errors ([Faults.ErrorRates]), rate limit ([Faults.RateLimit]): 429
//     carries a Retry-After (seconds, or an HTTP date with RetryAfterDate);
//  5. Content-Type application/json (415), X-Idempotency-Key and
//     X-Correlation-Id present (400), body at most MaxBodyBytes (413), body a
//     JSON object (400);
//  6. body shape, else 422 with {"error":"validation_failed","errors":
//     [{"field","message"}...]}: exactly the members eventType (non-empty
//     string), attributes (object with _correlationId, a non-empty string
//     equal to X-Correlation-Id, and _publishedAt, RFC 3339) and timestamp
//     (RFC 3339);
//  7. targets ([Faults.Targets]): the first target that the event matches (by
//     a substring of the raw body, the eventType, the X-Idempotency-Key)
//     answers it with its status (default 503; a JSON error body, 429 and
//     503 as in step 4), or holds it (Hang) without an answer until the
//     client gives up or the targets change so that it no longer matches,
//     then it goes on here as if it had just arrived. A matched event is not
//     accepted and its key is not marked as ingested;
//  8. dedupe by X-Idempotency-Key: a new key is accepted with 202 and a new
//     {"id"}; a known key is counted as a duplicate, not recorded as a second
//     event, and answered with the first id: 200 by default, or 409 with
//     [WithDuplicateStatus](409). The body of a repeated key is not compared.
//
// Every answer is JSON. Latency ([Faults.Latency], LatencyMax) is added to every
// events answer (after a hold, too). A held request that its client gave up
// is never answered; when the [http.Server] serving the Handler begins a
// graceful Shutdown, held requests are answered 503 with Connection: close.
//
// # Hostile answers
//
// Real CXone sits behind API gateways, WAFs and, on the client's side,
// TLS-inspecting proxies, whose error answers may echo the request and be
// huge. Three faults turn the server into such a hostile peer; they change
// error answers (status 400 and above) only, of the events and token
// endpoints:
//
//   - [Faults.EchoRequests]: the answer starts with the request it answers,
//     {"request":{"method","url","host","headers","body"}, "error", …}:
//     every header, the Authorization header with the bearer token or the
//     Basic credentials included, and the body (the events body; the
//     token request's form, with the access key secret as password).
//   - [Faults.ErrorBodyBytes]: the answer is padded to that many bytes (a
//     "padding" member, or an HTML comment), e.g. 1 MiB.
//   - [Faults.TokenErrorHTML]: the token endpoint's error answers are a
//     gateway's HTML page (text/html) instead of JSON, showing the echoed
//     request as raw HTTP text. TokenStatus chooses the status, e.g.
//     {"token_status": 502, "token_error_html": true, "echo_requests":
//     true, "error_body_bytes": 1048576}.
//
// With ForceStatus (or ErrorRates, Targets, an outage) they make the events
// endpoint answer, e.g., a 400 that echoes the bearer token. IssuedTokens
// lists the tokens the server issued, so a test can check none leaked.
//
// # Admin API
//
// On the same server, under /_sim/:
//
//	GET  /_sim/stats        counters (Stats) as JSON
//	GET  /_sim/events       accepted events (?key=K for one idempotency key)
//	GET  /_sim/arrivals?key=K   every request seen for key K, in arrival order
//	GET  /_sim/rate-limits  every 429 answered, its allowed instant and early arrivals
//	GET  /_sim/faults       current faults
//	POST|PUT /_sim/faults   merge the JSON object into the current faults
//	                        (a "targets" list replaces the current one; [] clears it)
//	POST /_sim/revoke       invalidate every issued token
//	POST /_sim/credentials  rotate: {"client_id","client_secret"} and/or
//	                        {"access_key_id","access_key_secret"}; only the
//	                        new secret is accepted afterwards
//	POST /_sim/reset        forget events, keys, counters and 429 windows
//	                        (faults, clients and tokens stay)
package cxonetest

// Files, one per endpoint (as franz-go's kfake has one per request kind):
//
//	doc.go        this documentation
//	server.go     Server, NewServer: a Handler on a loopback listener
//	tls.go        NewTLSServer, DefaultCertHosts, GenerateCert
//	handler.go    the contract's paths and default credentials; Handler,
//	              NewHandler, ServeHTTP (routing); Stats, Event, Arrival,
//	              RateLimit and their accessors; Reset; JSON answer helpers
//	options.go    Option and every With* option
//	token.go      token endpoint: grants, clients, access keys, issued
//	              tokens, their rotation and revocation
//	discovery.go  the two .well-known discovery documents
//	events.go     events endpoint: gate (outage, auth, 429 windows, injected
//	              faults, rate limit), targets, dedupe, recording, latency
//	validate.go   events request checks: headers, body size, JSON, shape
//	faults.go     Faults, Target, Duration; their validation; Handler.Faults
//	              and SetFaults
//	hostile.go    hostile error answers: echo, padding, HTML page
//	admin.go      the /_sim/ admin API, credential rotation included
