package sink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"html"
	"net"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/cxone-bridge/bridge/redact"
)

// Bounds on what is kept of an answer from outside (events, token and
// discovery endpoints). Everything kept is scrubbed first (package redact).
const (
	// MaxExcerptBytes bounds Error.Excerpt, the start of an answer kept
	// for the DLQ envelope (when dlq.include_response is set).
	MaxExcerptBytes = 2 << 10
	// maxDetailBytes bounds the free text of an answer that goes into an
	// error message or a log line: a token endpoint's description, a
	// field error.
	maxDetailBytes = 256
	// maxErrorMessage bounds Error.Error().
	maxErrorMessage = 1024
)

// TokenError is a failed token request, reduced to what is safe to show:
// the HTTP status, the OAuth error code and a scrubbed, bounded
// description. It never holds the answer's body nor the library error that
// carried it (golang.org/x/oauth2's RetrieveError keeps the whole body, up
// to 1 MiB, and prints it): an error page may echo the request, and so the
// client secret, the access key secret or the Basic header.
type TokenError struct {
	// Status is the HTTP status of the answer; 0 when there was none.
	Status int
	// Code is the answer's RFC 6749 §5.2 "error" ("invalid_client", …),
	// when it had one that is a short token; "" otherwise.
	Code string
	// Description is the answer's error_description, or else the start of
	// the answer, scrubbed and at most 256 bytes; without an answer, the
	// cause's message, scrubbed and bounded likewise.
	Description string
	// Err is the cause when there was no answer and it is a transport,
	// TLS or context error (for errors.Is and errors.As); nil otherwise.
	Err error

	excerpt   string // scrubbed start of the answer, at most MaxExcerptBytes
	truncated bool
}

func (e *TokenError) Error() string {
	var b strings.Builder
	b.WriteString("token endpoint")
	if e.Status != 0 {
		b.WriteString(" answered HTTP ")
		b.WriteString(strconv.Itoa(e.Status))
		if e.Code != "" {
			b.WriteString(" ")
			b.WriteString(e.Code)
		}
		if e.Description != "" {
			b.WriteString(": ")
			b.WriteString(strconv.Quote(e.Description))
		}
		return b.String()
	}
	if e.Code != "" {
		b.WriteString(" answered ")
		b.WriteString(e.Code)
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	return b.String()
}

// Unwrap returns the transport, TLS or context cause, if any.
func (e *TokenError) Unwrap() error { return e.Err }

// refused reports whether the endpoint refused the credentials (401, or
// invalid_client, invalid_grant, unauthorized_client).
func (e *TokenError) refused() bool {
	if e.Status == 401 {
		return true
	}
	switch e.Code {
	case "invalid_client", "invalid_grant", "unauthorized_client":
		return true
	}
	return false
}

// newTokenError turns any error of a token fetch into a *TokenError made
// of scrubbed, bounded parts (nil stays nil). A *TokenError, and a
// *DiscoveryError of the token endpoint (which holds no answer), are
// returned as they are.
func newTokenError(err error, sc *redact.Scrubber) error {
	if err == nil {
		return nil
	}
	var (
		te *TokenError
		de *DiscoveryError
	)
	if errors.As(err, &te) {
		return te
	}
	if errors.As(err, &de) {
		return de
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		te = &TokenError{Code: oauthCode(re.ErrorCode)}
		if re.Response != nil {
			te.Status = re.Response.StatusCode
		}
		te.excerpt, te.truncated = sc.Scrub(re.Body, MaxExcerptBytes)
		switch {
		case re.ErrorDescription != "":
			te.Description = sc.ScrubString(re.ErrorDescription, maxDetailBytes)
		case htmlTitle(te.excerpt) != "":
			te.Description = redact.Truncate(htmlTitle(te.excerpt), maxDetailBytes-len(" (HTML page)")) + " (HTML page)"
		default:
			te.Description = redact.Truncate(te.excerpt, maxDetailBytes)
		}
		return te
	}
	return &TokenError{Description: sc.ScrubString(err.Error(), maxDetailBytes), Err: safeCause(err)}
}

// htmlTitle returns the text of the <title> of an HTML page (a gateway's
// error page), or "". page is already scrubbed.
func htmlTitle(page string) string {
	lower := strings.ToLower(page)
	if !strings.HasPrefix(strings.TrimSpace(lower), "<") {
		return ""
	}
	i := strings.Index(lower, "<title>")
	if i < 0 {
		return ""
	}
	rest := page[i+len("<title>"):]
	j := strings.Index(strings.ToLower(rest), "</title>")
	if j < 0 {
		return ""
	}
	return strings.Join(strings.Fields(html.UnescapeString(rest[:j])), " ")
}

// safeCause returns the part of err's chain that is known to hold no
// answer: a transport, TLS or context error; nil if there is none.
func safeCause(err error) error {
	var (
		ue  *url.Error
		ne  net.Error
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		he  x509.HostnameError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	case errors.As(err, &cve):
		return cve
	case errors.As(err, &uae):
		return uae
	case errors.As(err, &he):
		return he
	case errors.As(err, &ue):
		return ue
	case errors.As(err, &ne):
		return ne
	}
	return nil
}

// oauthCode returns code if it is a plausible RFC 6749 error code (1 to 64
// characters of [A-Za-z0-9._-]), else "".
func oauthCode(code string) string {
	if len(code) == 0 || len(code) > 64 {
		return ""
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return ""
		}
	}
	return code
}
