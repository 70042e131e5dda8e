package sink

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/cxone-bridge/bridge/redact"
)

func TestHostAllowed(t *testing.T) {
	allowed := []string{"api-us-1.cxone.com", ".niceincontact.com", "Auth.Example.org."}
	for host, want := range map[string]bool{
		"api-us-1.cxone.com": true, "API-US-1.CXONE.COM": true, "api-us-1.cxone.com.": true,
		"cxone.niceincontact.com": true, "a.b.niceincontact.com": true, "niceincontact.com": true,
		"auth.example.org":   true,
		"api-us-2.cxone.com": false, "evilniceincontact.com": false, "niceincontact.com.evil": false,
		"cxone.com": false, "": false, "127.0.0.1": false,
	} {
		if got := hostAllowed(host, allowed); got != want {
			t.Errorf("hostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
	if err := checkAllowed("token_endpoint", "https://x.example/t", nil); err != nil {
		t.Errorf("no allow-list: %v", err)
	}
	err := checkAllowed("token_endpoint", "https://evil.example:8443/t", allowed)
	if !errors.Is(err, ErrHostNotAllowed) || !strings.Contains(err.Error(), `token_endpoint is on host "evil.example"`) {
		t.Errorf("got %v", err)
	}
}

func TestOAuthCode(t *testing.T) {
	for code, want := range map[string]string{
		"invalid_client": "invalid_client", "temporarily_unavailable": "temporarily_unavailable", "x.y-z": "x.y-z",
		"": "", "<script>": "", "invalid client": "", strings.Repeat("a", 65): "", "secret\"quote": "",
	} {
		if got := oauthCode(code); got != want {
			t.Errorf("oauthCode(%q) = %q, want %q", code, got, want)
		}
	}
}

// TestNewTokenError: a RetrieveError, even wrapped, is replaced by a
// TokenError of scrubbed parts; other causes keep only a transport or
// context error in the chain.
func TestNewTokenError(t *testing.T) {
	const secret = "the-client-secret-42"
	sc := redact.New()
	sc.AddBasic("id", secret)
	body := []byte("<html><head><title>502 &amp; Bad</title></head><body>Authorization: Basic aWQ6dGhlLWNsaWVudC1zZWNyZXQtNDI=\r\n" +
		"password=" + secret + strings.Repeat(" pad", 1<<18) + "</body></html>")
	re := &oauth2.RetrieveError{Response: &http.Response{StatusCode: 502, Status: "502 Bad Gateway"}, Body: body, ErrorCode: "<bad code>"}
	err := newTokenError(fmt.Errorf("custom source: %w", re), sc)
	var te *TokenError
	var got *oauth2.RetrieveError
	if !errors.As(err, &te) || errors.As(err, &got) || te.Status != 502 || te.Code != "" || te.Description != "502 & Bad (HTML page)" {
		t.Fatalf("got %#v", err)
	}
	if strings.Contains(te.excerpt, secret) || strings.Contains(te.excerpt, "aWQ6dGhlLWNsaWVudC1zZWNyZXQtNDI=") ||
		len(te.excerpt) > MaxExcerptBytes || !te.truncated || len(err.Error()) > 300 {
		t.Errorf("excerpt %d bytes (truncated %v): %.300s", len(te.excerpt), te.truncated, te.excerpt)
	}
	if again := newTokenError(err, sc); again != err {
		t.Error("a TokenError was not kept as is")
	}

	err = newTokenError(fmt.Errorf("fetch: %w (body %s)", context.DeadlineExceeded, secret), sc)
	if !errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), secret) {
		t.Errorf("got %v", err)
	}
	err = newTokenError(errors.New("oauth2: cannot parse json: "+secret), sc)
	if errors.Unwrap(err) != nil || strings.Contains(err.Error(), secret) {
		t.Errorf("got %v (cause %v)", err, errors.Unwrap(err))
	}
}
