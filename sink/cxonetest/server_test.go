package cxonetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// ---- helpers: a bare HTTP client, so the server is tested on its own ----

func newTestServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s := NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

func fetchToken(t *testing.T, s *Server, id, secret, scope string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}
	req, _ := http.NewRequest(http.MethodPost, s.URL+TokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %q", b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	m["_retry_after"] = resp.Header.Get("Retry-After")
	return resp.StatusCode, m
}

func getToken(t *testing.T, s *Server) string {
	t.Helper()
	st, m := fetchToken(t, s, DefaultClientID, DefaultClientSecret, WriteScope)
	if st != 200 {
		t.Fatalf("token: %d %v", st, m)
	}
	return m["access_token"].(string)
}

func validBodyFor(corr string) string {
	return fmt.Sprintf(`{"eventType":"OrderCreated","attributes":{"orderId":"ORD-1","_correlationId":%q,"_publishedAt":"2026-01-02T03:04:05.678Z"},"timestamp":"2026-01-02T03:04:05Z"}`, corr)
}

func postEvent(t *testing.T, s *Server, tok, key, corr, body string, mod ...func(*http.Request)) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+EventsPath, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-Idempotency-Key", key)
	}
	if corr != "" {
		req.Header.Set("X-Correlation-Id", corr)
	}
	for _, m := range mod {
		m(req)
	}
	return do(t, req)
}

// ---- tests ----

func TestTokenEndpoint(t *testing.T) {
	s := newTestServer(t, WithClient("app", "p@ss w/rd"), WithClient("reader", "r", "eventbridge:events:read"))
	tests := []struct {
		name       string
		req        func() *http.Request
		wantStatus int
		wantError  string
	}{
		{"ok raw credentials", func() *http.Request { return tokenReq("app", "p@ss w/rd", "client_credentials", WriteScope, "") }, 200, ""},
		{"form-encoded credentials (RFC 6749 2.3.1) refused by default", func() *http.Request {
			return tokenReq(url.QueryEscape("app"), url.QueryEscape("p@ss w/rd"), "client_credentials", WriteScope, "")
		}, 401, "invalid_client"},
		{"wrong secret", func() *http.Request { return tokenReq("app", "nope", "client_credentials", WriteScope, "") }, 401, "invalid_client"},
		{"unknown client", func() *http.Request { return tokenReq("who", "p@ss w/rd", "client_credentials", WriteScope, "") }, 401, "invalid_client"},
		{"no basic auth", func() *http.Request {
			r := tokenReq("app", "x", "client_credentials", WriteScope, "")
			r.Header.Del("Authorization")
			return r
		}, 401, "invalid_client"},
		{"grant of another kind of client", func() *http.Request { return tokenReq("app", "p@ss w/rd", "password", WriteScope, "") }, 400, "unauthorized_client"},
		{"unknown grant", func() *http.Request { return tokenReq("app", "p@ss w/rd", "implicit", WriteScope, "") }, 400, "unsupported_grant_type"},
		{"no scope", func() *http.Request { return tokenReq("app", "p@ss w/rd", "client_credentials", "", "") }, 400, "invalid_scope"},
		{"scope not allowed", func() *http.Request { return tokenReq("reader", "r", "client_credentials", WriteScope, "") }, 400, "invalid_scope"},
		{"JSON body", func() *http.Request {
			return tokenReq("app", "p@ss w/rd", "client_credentials", WriteScope, "application/json")
		}, 400, "invalid_request"},
		{"GET", func() *http.Request {
			r := tokenReq("app", "p@ss w/rd", "client_credentials", WriteScope, "")
			r.Method = http.MethodGet
			return r
		}, 405, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req()
			req.URL, _ = url.Parse(s.URL + TokenPath)
			st, m := do(t, req)
			if st != tt.wantStatus {
				t.Fatalf("status %d, want %d: %v", st, tt.wantStatus, m)
			}
			if tt.wantError != "" && m["error"] != tt.wantError {
				t.Errorf("error %v, want %s", m["error"], tt.wantError)
			}
			if st == 200 {
				if m["token_type"] != "Bearer" || m["expires_in"].(float64) != 3600 || len(m["access_token"].(string)) < 32 {
					t.Errorf("token answer %v", m)
				}
			}
		})
	}
	// Token requests are counted; refused ones too.
	if st := s.Stats(); st.TokenRequests != int64(len(tests)) || st.TokensIssued != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestTokenEndpointBasicEncoding: the token endpoint accepts the Basic
// credentials in the one form WithBasicEncoding sets (raw by default),
// refuses the other one with 401 invalid_client when the forms differ
// (a secret with + / = % :, an id with a space), accepts both when they do
// not, and records the issued token for the client id as registered.
func TestTokenEndpointBasicEncoding(t *testing.T) {
	type cred struct{ id, secret string }
	differ := cred{"app id", "a+b/c=d%e:f"}
	same := cred{"plain-app", "Plain.Secret_1~"}
	encode := func(c cred, form string) cred {
		if form == BasicRFC6749 {
			return cred{url.QueryEscape(c.id), url.QueryEscape(c.secret)}
		}
		return c
	}
	for _, tc := range []struct {
		name         string
		server, sent string // "" server: no option (the default)
		cred         cred
		want         int
	}{
		{"default server, raw", "", BasicRaw, differ, 200},
		{"default server, rfc6749", "", BasicRFC6749, differ, 401},
		{"raw server, raw", BasicRaw, BasicRaw, differ, 200},
		{"raw server, rfc6749", BasicRaw, BasicRFC6749, differ, 401},
		{"rfc6749 server, rfc6749", BasicRFC6749, BasicRFC6749, differ, 200},
		{"rfc6749 server, raw", BasicRFC6749, BasicRaw, differ, 401},
		{"raw server, rfc6749, forms alike", BasicRaw, BasicRFC6749, same, 200},
		{"rfc6749 server, raw, forms alike", BasicRFC6749, BasicRaw, same, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []Option{WithClient(tc.cred.id, tc.cred.secret)}
			if tc.server != "" {
				opts = append(opts, WithBasicEncoding(tc.server))
			}
			s := newTestServer(t, opts...)
			c := encode(tc.cred, tc.sent)
			st, m := fetchToken(t, s, c.id, c.secret, WriteScope)
			if st != tc.want {
				t.Fatalf("status %d, want %d: %v", st, tc.want, m)
			}
			if st != 200 {
				if m["error"] != "invalid_client" {
					t.Errorf("error %v, want invalid_client", m["error"])
				}
				return
			}
			if st, m := postEvent(t, s, m["access_token"].(string), "k1", "c1", validBodyFor("c1")); st != 202 {
				t.Fatalf("event: %d %v", st, m)
			}
			if ev := s.Events(); len(ev) != 1 || ev[0].ClientID != tc.cred.id {
				t.Errorf("events %+v, want one of client %q", ev, tc.cred.id)
			}
		})
	}
}

// TestWithBasicEncodingPanics: a form other than raw and rfc6749 is a
// mistake in the test, reported at once.
func TestWithBasicEncodingPanics(t *testing.T) {
	for _, form := range []string{"", "RFC6749", "base64"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("WithBasicEncoding(%q) did not panic", form)
				}
			}()
			WithBasicEncoding(form)
		}()
	}
}

func tokenReq(id, secret, grant, scope, contentType string) *http.Request {
	form := url.Values{"grant_type": {grant}}
	if scope != "" {
		form.Set("scope", scope)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://placeholder", strings.NewReader(form.Encode()))
	if contentType == "" {
		contentType = "application/x-www-form-urlencoded"
	}
	req.Header.Set("Content-Type", contentType)
	req.SetBasicAuth(id, secret)
	return req
}

func TestEventsEndpointChecks(t *testing.T) {
	s := newTestServer(t, WithClient(DefaultClientID, DefaultClientSecret), WithClient("reader", "r", "eventbridge:events:read"),
		WithMaxBodyBytes(4096))
	tok := getToken(t, s)
	st, m := fetchToken(t, s, "reader", "r", "eventbridge:events:read")
	if st != 200 {
		t.Fatal(m)
	}
	readTok := m["access_token"].(string)

	tests := []struct {
		name       string
		tok        string
		key, corr  string
		body       string
		mod        func(*http.Request)
		wantStatus int
		wantFields []string
	}{
		{"accepted", tok, "k1", "c1", validBodyFor("c1"), nil, 202, nil},
		{"no token", "", "k2", "c1", validBodyFor("c1"), nil, 401, nil},
		{"unknown token", "bogus", "k2", "c1", validBodyFor("c1"), nil, 401, nil},
		{"token without write scope", readTok, "k2", "c1", validBodyFor("c1"), nil, 403, nil},
		{"wrong content type", tok, "k2", "c1", validBodyFor("c1"), func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, 415, nil},
		{"no idempotency key", tok, "", "c1", validBodyFor("c1"), nil, 400, []string{"X-Idempotency-Key"}},
		{"no correlation id", tok, "k2", "", validBodyFor("c1"), nil, 400, []string{"X-Correlation-Id"}},
		{"too large", tok, "k2", "c1", strings.Repeat(" ", 5000), nil, 413, nil},
		{"not JSON", tok, "k2", "c1", "{", nil, 400, nil},
		{"array", tok, "k2", "c1", "[]", nil, 400, nil},
		{"empty object", tok, "k2", "c1", "{}", nil, 422, []string{"eventType", "timestamp", "attributes"}},
		{"bad shapes", tok, "k2", "c1", `{"eventType":7,"attributes":{"_correlationId":"other","_publishedAt":"2026-01-02"},"timestamp":"now","extra":1}`,
			nil, 422, []string{"extra", "eventType", "timestamp", "attributes._correlationId", "attributes._publishedAt"}},
		{"attributes not object", tok, "k2", "c1", `{"eventType":"X","attributes":[],"timestamp":"2026-01-02T03:04:05Z"}`, nil, 422, []string{"attributes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mods []func(*http.Request)
			if tt.mod != nil {
				mods = append(mods, tt.mod)
			}
			st, m := postEvent(t, s, tt.tok, tt.key, tt.corr, tt.body, mods...)
			if st != tt.wantStatus {
				t.Fatalf("status %d, want %d: %v", st, tt.wantStatus, m)
			}
			if st == 202 && m["id"] == "" {
				t.Error("no id")
			}
			if tt.wantFields != nil {
				var got []string
				list, _ := m["errors"].([]any)
				for _, e := range list {
					got = append(got, e.(map[string]any)["field"].(string))
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.wantFields) {
					t.Errorf("fields %v, want %v", got, tt.wantFields)
				}
			}
		})
	}
	stats := s.Stats()
	want := Stats{Requests: int64(len(tests)), Accepted: 1, Unauthorized: 2, Forbidden: 1, Rejected: int64(len(tests)) - 4,
		TokenRequests: 2, TokensIssued: 2}
	if stats != want {
		t.Errorf("stats\n got %+v\nwant %+v", stats, want)
	}
}

func TestTokenExpiry(t *testing.T) {
	s := newTestServer(t, WithTokenTTL(50*time.Millisecond))
	tok := getToken(t, s)
	if st, m := postEvent(t, s, tok, "k", "c", validBodyFor("c")); st != 202 {
		t.Fatal(st, m)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ := postEvent(t, s, tok, "k", "c", validBodyFor("c"))
		if st == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("token never expired")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDedupe(t *testing.T) {
	s := newTestServer(t)
	tok := getToken(t, s)
	_, a := postEvent(t, s, tok, "same", "c", validBodyFor("c"))
	st, b := postEvent(t, s, tok, "same", "c", validBodyFor("c"))
	_, c := postEvent(t, s, tok, "other", "c", validBodyFor("c"))
	if st != 200 || a["id"] != b["id"] || a["id"] == c["id"] {
		t.Fatalf("status %d, ids %v %v %v", st, a["id"], b["id"], c["id"])
	}
	if st := s.Stats(); st.Accepted != 2 || st.Duplicates != 1 || len(s.Events()) != 2 {
		t.Fatalf("stats %+v", st)
	}
	if arr := s.Arrivals("same"); len(arr) != 2 || !arr[1].Duplicate || !arr[0].At.Before(arr[1].At) {
		t.Fatalf("arrivals %+v", arr)
	}
	ev := s.Events()[0]
	if ev.Header.Get("Authorization") != "Bearer [redacted]" || ev.Header.Get("X-Correlation-Id") != "c" {
		t.Errorf("recorded headers %v", ev.Header)
	}
}

func TestFaultsAndEarlyRetries(t *testing.T) {
	s := newTestServer(t, WithEarlyGrace(20*time.Millisecond))
	tok := getToken(t, s)

	// Forced status for the next N requests.
	s.SetFaults(Faults{ForceStatus: 500, ForceCount: 2})
	for i, want := range []int{500, 500, 202} {
		if st, _ := postEvent(t, s, tok, fmt.Sprint("f", i), "c", validBodyFor("c")); st != want {
			t.Fatalf("request %d: %d, want %d", i, st, want)
		}
	}

	// A 429 with Retry-After; a client that comes back early is counted and
	// answered 429 again; one that waits is accepted.
	s.SetFaults(Faults{ForceStatus: 429, ForceCount: 1, RetryAfter: Duration(time.Second)})
	st, m := postEvent(t, s, tok, "r", "c", validBodyFor("c"))
	if st != 429 || m["_retry_after"] != "1" {
		t.Fatalf("%d %v", st, m)
	}
	time.Sleep(50 * time.Millisecond) // deliberately early: past the grace, before Retry-After
	if st, _ := postEvent(t, s, tok, "r", "c", validBodyFor("c")); st != 429 {
		t.Fatalf("early request got %d", st)
	}
	if got := s.Stats().EarlyRetries; got != 1 {
		t.Fatalf("early retries %d, want 1", got)
	}
	rls := s.RateLimits()
	waitUntil := rls[len(rls)-1].AllowedAt
	time.Sleep(time.Until(waitUntil)) // a well-behaved client
	if st, _ := postEvent(t, s, tok, "r", "c", validBodyFor("c")); st != 202 {
		t.Fatalf("request after Retry-After got %d", st)
	}
	if got := s.Stats().EarlyRetries; got != 1 {
		t.Fatalf("early retries %d, want still 1", got)
	}

	// HTTP-date form names a whole second.
	s.SetFaults(Faults{ForceStatus: 429, ForceCount: 1, RetryAfter: Duration(time.Second), RetryAfterDate: true})
	_, m = postEvent(t, s, tok, "d", "c", validBodyFor("c"))
	at, err := http.ParseTime(m["_retry_after"].(string))
	if err != nil || at.Before(time.Now()) {
		t.Fatalf("Retry-After %v: %v", m["_retry_after"], err)
	}
	s.Reset() // forget the 429 window just opened

	// Outage window.
	s.SetFaults(Faults{OutageFor: Duration(time.Hour)})
	if st, _ := postEvent(t, s, tok, "o", "c", validBodyFor("c")); st != 503 {
		t.Fatalf("outage: %d", st)
	}
	// Error rates: always 502.
	s.SetFaults(Faults{ErrorRates: map[int]float64{502: 1}})
	if st, _ := postEvent(t, s, tok, "e", "c", validBodyFor("c")); st != 502 {
		t.Fatalf("error rate: %d", st)
	}
	// Token endpoint refusing.
	s.SetFaults(Faults{TokenStatus: 503})
	if st, _ := fetchToken(t, s, DefaultClientID, DefaultClientSecret, WriteScope); st != 503 {
		t.Fatalf("token fault: %d", st)
	}
	// Server-side rate limit: a burst of 2 then 429 with Retry-After.
	s.SetFaults(Faults{RateLimit: 0.5, RateBurst: 2})
	var got []int
	for i := range 3 {
		st, m := postEvent(t, s, tok, fmt.Sprint("rl", i), "c", validBodyFor("c"))
		got = append(got, st)
		if st == 429 && m["_retry_after"] == "" {
			t.Error("429 without Retry-After")
		}
	}
	if fmt.Sprint(got) != "[202 202 429]" {
		t.Fatalf("rate limit answers %v", got)
	}
}

func TestLatency(t *testing.T) {
	s := newTestServer(t, WithFaults(Faults{Latency: Duration(100 * time.Millisecond), LatencyMax: Duration(150 * time.Millisecond)}))
	tok := getToken(t, s)
	start := time.Now()
	postEvent(t, s, tok, "k", "c", validBodyFor("c"))
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Fatalf("answered after %v", el)
	}
}

func TestAdminAPI(t *testing.T) {
	s := newTestServer(t)
	tok := getToken(t, s)
	postEvent(t, s, tok, "k", "c", validBodyFor("c"))

	get := func(path string) (int, string) {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	_, body := get("/_sim/stats")
	var stats map[string]int
	json.Unmarshal([]byte(body), &stats)
	for _, k := range []string{"accepted", "duplicates", "rejected", "unauthorized", "forbidden", "rate_limited", "token_requests", "early_retries"} {
		if _, ok := stats[k]; !ok {
			t.Errorf("stats lack %q: %s", k, body)
		}
	}
	if stats["accepted"] != 1 {
		t.Errorf("stats %s", body)
	}
	if _, body := get("/_sim/events"); !strings.Contains(body, `"idempotency_key":"k"`) {
		t.Errorf("events %s", body)
	}
	if _, body := get("/_sim/events?key=none"); body != "[]\n" {
		t.Errorf("events for unknown key %q", body)
	}
	if _, body := get("/_sim/arrivals?key=k"); !strings.Contains(body, `"status":202`) {
		t.Errorf("arrivals %s", body)
	}
	// Merge semantics.
	if st, body := post("POST", "/_sim/faults", `{"latency":"5ms","error_rates":{"503":0.25}}`); st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	if st, body := post("PUT", "/_sim/faults", `{"force_status":429,"force_count":3,"outage_for":"1s"}`); st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	f := s.Faults()
	if f.Latency != Duration(5*time.Millisecond) || f.ErrorRates[503] != 0.25 || f.ForceCount != 3 || f.OutageUntil.IsZero() {
		t.Errorf("faults %+v", f)
	}
	for _, bad := range []string{`{"nope":1}`, `{"latency":"soon"}`, `{"error_rates":{"503":2}}`, `[`} {
		if st, _ := post("POST", "/_sim/faults", bad); st != 400 {
			t.Errorf("%s accepted: %d", bad, st)
		}
	}
	if st, _ := post("POST", "/_sim/reset", ""); st != 200 || s.Stats() != (Stats{}) || len(s.Events()) != 0 {
		t.Errorf("reset: %+v", s.Stats())
	}
	if st, _ := post("POST", "/_sim/revoke", ""); st != 200 {
		t.Error("revoke")
	}
	s.SetFaults(Faults{})
	if st, _ := postEvent(t, s, tok, "k", "c", validBodyFor("c")); st != 401 {
		t.Errorf("revoked token accepted: %d", st)
	}
	if st, _ := get("/_sim/nope"); st != 404 {
		t.Errorf("unknown admin path: %d", st)
	}
	if st, _ := get("/elsewhere"); st != 404 {
		t.Errorf("unknown path: %d", st)
	}
}

func TestRecordLimit(t *testing.T) {
	s := newTestServer(t, WithRecordLimit(3))
	tok := getToken(t, s)
	for i := range 10 {
		postEvent(t, s, tok, fmt.Sprint("k", i), "c", validBodyFor("c"))
	}
	ev := s.Events()
	if len(ev) != 3 || ev[2].IdempotencyKey != "k9" || s.Stats().Accepted != 10 {
		t.Fatalf("%d events, last %+v", len(ev), ev[len(ev)-1])
	}
}

// FuzzEvents throws arbitrary bodies and headers at the events endpoint: the
// server must never panic and must answer one of its documented statuses.
func FuzzEvents(f *testing.F) {
	f.Add(validBodyFor("c"), "c", "application/json")
	f.Add(`{"eventType":"X","attributes":{"_correlationId":"c","_publishedAt":"2026-01-02T03:04:05+01:00"},"timestamp":"2026-01-02T03:04:05Z"}`, "c", "application/json; charset=utf-8")
	f.Add(`{"attributes":null}`, "", "text/plain")
	f.Add(`{"eventType":"\ud800","attributes":{"_correlationId":1e999}}`, "c", "application/json")
	h := NewHandler(WithRecordLimit(10))
	tok := "fuzz-token"
	h.tokens[tok] = token{clientID: DefaultClientID, scopes: []string{WriteScope}, expires: time.Now().Add(time.Hour)}
	f.Fuzz(func(t *testing.T, body, corr, contentType string) {
		req := httptest.NewRequest(http.MethodPost, EventsPath, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-Idempotency-Key", "k")
		req.Header.Set("X-Correlation-Id", corr)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 202, 400, 413, 415, 422:
		default:
			t.Fatalf("status %d for %q", w.Code, body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", w.Body.String())
		}
	})
}

// FuzzFaultsJSON: the admin API must reject or accept any JSON without panicking.
func FuzzFaultsJSON(f *testing.F) {
	f.Add(`{"latency":"5ms","latency_max":"10ms","error_rates":{"503":0.1}}`)
	f.Add(`{"outage_for":3,"retry_after":"-1s","rate_limit":1e308}`)
	f.Add(`{"targets":[{"body_contains":"x","status":429},{"event_type":"T","hang":true},{"status":0}]}`)
	h := NewHandler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/_sim/faults", strings.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 && w.Code != 400 {
			t.Fatalf("status %d", w.Code)
		}
	})
}
