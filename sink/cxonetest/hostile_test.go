package cxonetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestHostileEvents: a forced 400 echoes the request (the bearer token, the
// body) first, keeps the usual error members, and is padded; an accepted
// event is answered as usual.
func TestHostileEvents(t *testing.T) {
	s := newTestServer(t)
	tok := getToken(t, s)
	if err := s.SetFaults(Faults{ForceStatus: 400, ForceCount: 1, EchoRequests: true, ErrorBodyBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	body := validBodyFor("corr-echo")
	st, m := postEvent(t, s, tok, "k-echo", "corr-echo", body)
	if st != 400 || m["error"] != "bad_request" {
		t.Fatalf("got %d %v", st, m["error"])
	}
	req, _ := m["request"].(map[string]any)
	hdr, _ := req["headers"].(map[string]any)
	if req["method"] != "POST" || req["url"] != EventsPath || req["body"] != body ||
		!strings.Contains(strings.Join(toStrings(hdr["Authorization"]), ""), "Bearer "+tok) {
		t.Errorf("echo %v", req)
	}
	if p, _ := m["padding"].(string); len(p) < 1<<20-2048 {
		t.Errorf("padding %d bytes", len(p))
	}
	// The echo comes first: the token is in the first few hundred bytes.
	rawPost(t, s, tok, "k-echo-2", "c2", body, 400)
	if st, m := postEvent(t, s, tok, "k-ok", "corr-ok", validBodyFor("corr-ok")); st != 202 || m["request"] != nil || m["padding"] != nil {
		t.Errorf("accepted event answered %d %v", st, m)
	}
	// A content error (422, body read) echoes the body too.
	st, m = postEvent(t, s, tok, "k-422", "corr-422", `{"eventType":""}`)
	if req, _ := m["request"].(map[string]any); st != 422 || req["body"] != `{"eventType":""}` || m["errors"] == nil {
		t.Errorf("422: %d %v", st, m)
	}
}

// rawPost forces one echoing answer of status and checks the token comes
// early in it.
func rawPost(t *testing.T, s *Server, tok, key, corr, body string, status int) {
	t.Helper()
	if err := s.SetFaults(Faults{ForceStatus: status, ForceCount: 1, EchoRequests: true}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+EventsPath, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Idempotency-Key", key)
	req.Header.Set("X-Correlation-Id", corr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if i := bytes.Index(b, []byte(tok)); resp.StatusCode != status || i < 0 || i > 400 {
		t.Errorf("status %d, token at %d in %q", resp.StatusCode, i, b)
	}
	s.SetFaults(Faults{EchoRequests: true})
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, e := range l {
			s, _ := e.(string)
			out = append(out, s)
		}
	}
	return out
}

// TestHostileToken: the token endpoint's error answers echo the request
// (Basic header, form with the access key secret) as JSON or as an HTML
// gateway page, padded; a good request still gets a token, which
// IssuedTokens lists.
func TestHostileToken(t *testing.T) {
	s := newTestServer(t)
	form := url.Values{"grant_type": {"password"}, "username": {DefaultAccessKeyID}, "password": {DefaultAccessKeySecret}}
	post := func() (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+AuthTokenPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(DefaultAppID, DefaultAppSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, b := post()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(b, &tok); resp.StatusCode != 200 || tok.AccessToken == "" {
		t.Fatalf("token: %d %s", resp.StatusCode, b)
	}
	if got := s.IssuedTokens(); len(got) != 1 || got[0] != tok.AccessToken {
		t.Errorf("IssuedTokens %v", got)
	}

	r0, _ := http.NewRequest("POST", "/", nil)
	r0.SetBasicAuth(DefaultAppID, DefaultAppSecret)
	basic := r0.Header.Get("Authorization")

	if err := s.SetFaults(Faults{TokenStatus: 502, TokenErrorHTML: true, EchoRequests: true, ErrorBodyBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	resp, b = post()
	page := string(b)
	if resp.StatusCode != 502 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || len(b) < 1<<20 ||
		!strings.Contains(page, "<title>502 Bad Gateway</title>") || !strings.Contains(page, "Authorization: "+basic+"\r\n") ||
		!strings.Contains(page, "password="+url.QueryEscape(DefaultAccessKeySecret)) || strings.Index(page, basic) > 1024 {
		t.Errorf("HTML page: %d %s, %d bytes:\n%.1500s", resp.StatusCode, resp.Header.Get("Content-Type"), len(b), page)
	}

	if err := s.SetFaults(Faults{TokenStatus: 401, EchoRequests: true}); err != nil {
		t.Fatal(err)
	}
	resp, b = post()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || resp.StatusCode != 401 || m["error"] != "temporarily_unavailable" ||
		!strings.Contains(string(b), basic) || !strings.Contains(string(b), DefaultAccessKeySecret) {
		t.Errorf("JSON echo: %d %s", resp.StatusCode, b)
	}
	// Without the hostile faults, the usual JSON error.
	s.SetFaults(Faults{TokenStatus: 503})
	if resp, b = post(); resp.StatusCode != 503 || strings.Contains(string(b), "request") {
		t.Errorf("plain error: %d %s", resp.StatusCode, b)
	}
}

func TestHostileFaultsValidated(t *testing.T) {
	s := newTestServer(t)
	for _, f := range []Faults{{ErrorBodyBytes: -1}, {ErrorBodyBytes: MaxErrorBodyBytes + 1}} {
		if err := s.SetFaults(f); err == nil {
			t.Errorf("%+v accepted", f)
		}
	}
	// Through the admin API.
	resp, err := http.Post(s.URL+"/_sim/faults", "application/json",
		strings.NewReader(`{"echo_requests":true,"error_body_bytes":4096,"token_error_html":true,"token_status":502}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if f := s.Faults(); resp.StatusCode != 200 || !f.EchoRequests || f.ErrorBodyBytes != 4096 || !f.TokenErrorHTML || f.TokenStatus != 502 {
		t.Errorf("admin: %d %+v", resp.StatusCode, f)
	}
}
