package kafkaconn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Token caching of token_command: a JWT is reused until shortly before its
// exp claim, any other token for tokenTTL.
const (
	tokenTTL        = time.Minute
	tokenRefreshGap = 30 * time.Second
	maxTokenBytes   = 16 << 10
)

// tokenProvider returns the OAUTHBEARER token: token_file re-read when it
// changes, or token_command run again when its last token is about to
// expire.
type tokenProvider struct {
	file *secretFile
	argv []string
	now  func() time.Time
	run  func(ctx context.Context, what string, argv []string) ([]byte, error)

	mu      sync.Mutex
	cached  string
	expires time.Time
}

func newTokenProvider(s SASL) *tokenProvider {
	tp := &tokenProvider{argv: s.TokenCommand, now: time.Now, run: runCommand}
	if s.TokenFile != "" {
		tp.file = &secretFile{path: s.TokenFile, what: "kafka.sasl.token_file"}
	}
	return tp
}

// token returns a valid-looking token or an error naming its source.
func (tp *tokenProvider) token(ctx context.Context) (string, error) {
	if tp.file != nil {
		raw, err := tp.file.read()
		if err != nil {
			return "", err
		}
		tok, _, err := ParseToken([]byte(raw))
		if err != nil {
			return "", fmt.Errorf("kafka.sasl.token_file %s: %w", tp.file.path, err)
		}
		return tok, nil
	}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	now := tp.now()
	if tp.cached != "" && now.Before(tp.expires) {
		return tp.cached, nil
	}
	out, err := tp.run(ctx, "kafka.sasl.token_command", tp.argv)
	if err != nil {
		return "", err
	}
	tok, exp, err := ParseToken(out)
	if err != nil {
		return "", fmt.Errorf("kafka.sasl.token_command %s: %w", tp.argv[0], err)
	}
	tp.cached, tp.expires = tok, now.Add(tokenTTL)
	if !exp.IsZero() {
		tp.expires = exp.Add(-tokenRefreshGap)
	}
	return tok, nil
}

// ParseToken reads a bearer token as printed by a token command or held
// in a token file: the token alone, surrounding white space ignored. It
// must be 1 to 16 KiB of the RFC 6750 token characters. When the token is
// a JWT whose payload has a numeric exp claim, exp is that time; otherwise
// exp is zero. Errors describe the problem without quoting the input.
func ParseToken(data []byte) (token string, exp time.Time, err error) {
	s := strings.TrimSpace(string(data))
	switch {
	case s == "":
		return "", time.Time{}, errors.New("no token (empty output)")
	case len(s) > maxTokenBytes:
		return "", time.Time{}, fmt.Errorf("token longer than %d bytes", maxTokenBytes)
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return "", time.Time{}, fmt.Errorf("not a bearer token: byte %d is not one of A-Z a-z 0-9 - . _ ~ + / = (print the token alone)", i)
		}
	}
	return s, jwtExpiry(s), nil
}

// isTokenChar: the b64token characters of RFC 6750 §2.1.
func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '='
}

// jwtExpiry returns the exp claim of a JWT, zero if s is no JWT or has no
// usable exp.
func jwtExpiry(s string) time.Time {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == nil {
		return time.Time{}
	}
	e := *claims.Exp
	if e <= 0 || e > 1e11 { // not seconds since 1970 (year 5138 at most)
		return time.Time{}
	}
	return time.Unix(int64(e), 0)
}
