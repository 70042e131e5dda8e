package cxonetest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Token endpoint: POST TokenPath and AuthTokenPath (the package doc,
// "Contract"): client credentials and password grants, the registered
// clients and access keys, and the tokens issued.

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
	id, c, known := h.lookupClient(id, secret)
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
	h.tokens[value] = token{clientID: id, scopes: granted, expires: now.Add(ttl)}
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

// lookupClient reads the Basic credentials id and secret in the form the
// server expects ([WithBasicEncoding]) and returns the client id they name
// and its registration, if they match one: in the other form, a secret
// that the forms write differently does not match (the wrong form is
// logged at debug level, to help a test's author). h.mu is held.
func (h *Handler) lookupClient(id, secret string) (string, client, bool) {
	match := func(id, secret string, decode bool) (string, client, bool) {
		if decode {
			var err1, err2 error
			id, err1 = url.QueryUnescape(id)
			secret, err2 = url.QueryUnescape(secret)
			if err1 != nil || err2 != nil {
				return "", client{}, false
			}
		}
		c, ok := h.clients[id]
		return id, c, ok && c.secret == secret
	}
	rfc := h.basicEncoding == BasicRFC6749
	if id, c, ok := match(id, secret, rfc); ok {
		return id, c, true
	}
	if _, _, ok := match(id, secret, !rfc); ok {
		h.log.Debug("token request refused: Basic credentials in the other form", "expected", h.basicEncoding)
	}
	return "", client{}, false
}

// SetClientSecret replaces the secret of a registered client or
// application (a rotation): from now on only the new secret is accepted.
// Issued tokens stay valid. It reports whether id is registered.
func (h *Handler) SetClientSecret(id, secret string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.clients[id]
	if ok {
		c.secret = secret
		h.clients[id] = c
	}
	return ok
}

// SetAccessKeySecret replaces the secret of a registered access key (a
// rotation). Issued tokens stay valid. It reports whether id is registered.
func (h *Handler) SetAccessKeySecret(id, secret string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.accessKeys[id]
	if ok {
		h.accessKeys[id] = secret
	}
	return ok
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
