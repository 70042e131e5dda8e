package redact_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/cxone-bridge/bridge/redact"
)

// encodingsOf computes, independently of the package, the encodings of
// secret (and of the Basic credentials user:secret) that must never
// survive, plus the package's own list.
func encodingsOf(user, secret string) []string {
	js, _ := json.Marshal(secret)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	qe := url.QueryEscape
	out := []string{
		secret, qe(secret), url.PathEscape(secret), string(js[1 : len(js)-1]), html.EscapeString(secret), b64(secret),
		b64(user + ":" + secret), b64(qe(user) + ":" + qe(secret)),
	}
	out = append(out, redact.Encodings(secret)...)
	out = append(out, redact.BasicEncodings(user, secret)...)
	return slices.DeleteFunc(out, func(s string) bool { return s == "" })
}

func assertClean(t *testing.T, out string, limit int, secrets ...string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("output is not valid UTF-8: %q", out)
	}
	if len(out) > limit {
		t.Errorf("output is %d bytes, limit %d", len(out), limit)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("output contains %q: %q", s, out)
		}
	}
}

// TestEachEncoding: each secret, in each encoding, inside several
// surroundings (plain text, JSON, a form, HTML, a header line) is
// redacted, and the text around it is kept.
func TestEachEncoding(t *testing.T) {
	const user = "client id+1"
	secrets := []string{
		"plainSecretValue123",
		"s3cr+t/=&x%41 y",         // every form-encoding special
		`qu"ot'e<tag>&amp;\back`,  // JSON and HTML specials
		"ÄÖü-€-😀-secret",          // multi-byte runes, one beyond the BMP
		"tab\there\nnewline\x01",  // control characters
		strings.Repeat("L", 3000), // longer than MaxPatternBytes
	}
	surroundings := []string{"%s", "before %s after", `{"k":"%s"}`, "a=1&b=%s&c=2", "<td>%s</td>", "X-Echo: %s\r\n"}
	for _, secret := range secrets {
		s := redact.New()
		s.AddBasic(user, secret)
		for _, enc := range encodingsOf(user, secret) {
			for _, sur := range surroundings {
				in := fmt.Sprintf(sur, enc)
				out, _ := s.Scrub([]byte(in), 64<<10)
				assertClean(t, out, 64<<10, encodingsOf(user, secret)...)
				if !strings.Contains(out, redact.Marker) {
					t.Errorf("%q: no marker in %q", in, out)
				}
				pre, post, _ := strings.Cut(sur, "%s")
				if !strings.HasPrefix(out, pre) || !strings.HasSuffix(out, post) {
					t.Errorf("%q: surrounding text lost: %q", in, out)
				}
			}
		}
	}
}

// TestRules: credentials the Scrubber was never told about.
func TestRules(t *testing.T) {
	var s *redact.Scrubber // nil: no known value, rules only
	tests := []struct{ in, want string }{
		{"grant_type=password&username=ak&password=p%40ss&scope=x", "grant_type=password&username=ak&password=[redacted]&scope=x"},
		{"client_secret=abc&x=1", "client_secret=[redacted]&x=1"},
		{`{"access_token":"eyJhbGciOi.x.y","token_type":"Bearer","refresh_token":"r1"}`,
			`{"access_token":"[redacted]","token_type":"Bearer","refresh_token":"[redacted]"}`},
		{`{"password" : "a\"b", "n": 1}`, `{"password" : "[redacted]", "n": 1}`},
		{`{"body":"{\"client_secret\":\"zz\"}"}`, `{"body":"{\"client_secret\":\"[redacted]\"}"}`},
		{"Authorization: Basic dXNlcjpwYXNz\r\nHost: x\r\n", "Authorization: Basic [redacted]\r\nHost: x\r\n"},
		{"proxy-authorization: Negotiate YIIabc def\n", "proxy-authorization: Negotiate [redacted]\n"},
		{"Authorization: opaque-value-no-scheme\n", "Authorization: [redacted]\n"},
		{`{"Authorization":["Bearer abc.def"],"Accept":["*/*"]}`, `{"Authorization":["Bearer [redacted]"],"Accept":["*/*"]}`},
		{`"authorization": "Digest username=\"u\", response=\"r\""`, `"authorization": "Digest [redacted]"`},
		{"<tr><th>Authorization</th><td>Basic dXNlcjpwYXNz</td></tr>", "<tr><th>Authorization</th><td>Basic [redacted]</td></tr>"},
		{"token was Bearer 0123456789abcdef0123 ok", "token was Bearer [redacted] ok"},
		{"Authorization=Bearer+0123456789abcdef&x", "Authorization=Bearer+[redacted]&x"},
		// Not credentials: kept.
		{`Bearer realm="cxone", error="invalid_token"`, `Bearer realm="cxone", error="invalid_token"`},
		{"HTTP Basic client authentication required", "HTTP Basic client authentication required"},
		{`{"error":"invalid_client","error_description":"unknown client or wrong secret"}`,
			`{"error":"invalid_client","error_description":"unknown client or wrong secret"}`},
		{`{"token_endpoint":"https://x/auth/token","scopes":["a"]}`, `{"token_endpoint":"https://x/auth/token","scopes":["a"]}`},
	}
	for _, tt := range tests {
		if got := s.ScrubString(tt.in, 4096); got != tt.want {
			t.Errorf("ScrubString(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// TestOverlaps: overlapping and adjacent occurrences, secrets inside each
// other, a secret formed by the marker and its neighbours, a secret inside
// the marker.
func TestOverlaps(t *testing.T) {
	tests := []struct {
		secrets []string
		in      string
		want    string
	}{
		{[]string{"abcdef", "defghi"}, "xxabcdefghixx", "xx[redacted]xx"},
		{[]string{"aa"}, "aaaaa", "[redacted]"},
		{[]string{"aa"}, "aabaa", "[redacted]b[redacted]"},
		{[]string{"outer-secret", "secret"}, "1 outer-secret 2 secret", "1 [redacted] 2 [redacted]"},
		{[]string{"abc", "abcabc"}, "abcab", "[redacted]ab"},
		// Replacing "xSECRET" would form "ted]y" = another secret: its
		// neighbour goes too.
		{[]string{"xSECRET", "ted]y"}, "1xSECRETy2", "1[redacted]2"},
		// A secret that occurs in the marker: another marker is used.
		{[]string{"dact", "SECRET"}, "a SECRET dact b", "a [REDACTED] [REDACTED] b"},
		{[]string{"e", "*"}, "se*e", "s[REDACTED]"},
	}
	for _, tt := range tests {
		s := redact.New()
		for _, v := range tt.secrets {
			s.AddSecret(v)
		}
		got := s.ScrubString(tt.in, 1024)
		if got != tt.want {
			t.Errorf("%q with %q: got %q, want %q", tt.in, tt.secrets, got, tt.want)
		}
	}
}

// TestCutTail: when the text is longer than what is examined, the start
// of a secret at the end of the examined part is redacted too.
func TestCutTail(t *testing.T) {
	const secret = "TopSecretValue-0123456789"
	s := redact.New()
	s.AddSecret(secret)
	longest := 0
	for _, e := range redact.Encodings(secret) {
		longest = max(longest, len(e))
	}
	window := 100 + longest // limit + longest encoding
	for k := 1; k < len(secret); k++ {
		// The secret starts k bytes before the end of the examined part.
		in := strings.Repeat("x", window-k) + secret + strings.Repeat("y", 50)
		out, cut := s.Scrub([]byte(in), 100)
		if !cut {
			t.Fatalf("k=%d: not reported cut", k)
		}
		assertClean(t, out, 100, secret)
		// And through ScrubString, with a limit that shows the whole tail.
		str := s.ScrubString(in, 100)
		assertClean(t, str, 100, secret)
	}
	// With markers shorter than what they replace, the output shows the
	// end of the examined part: it ends with a marker, not with the
	// secret's first 7 bytes.
	in := strings.Repeat("z", 10) + secret + " " + secret + " " + secret + strings.Repeat("x", window-12-3*len(secret)-7) + secret[:7] + "REST-OF-IT"
	out, cut := s.Scrub([]byte(in), 100)
	if !cut || strings.Contains(out, secret[:7]) || !strings.HasSuffix(out, redact.Marker) {
		t.Errorf("cut tail: %q (cut %v)", out, cut)
	}
}

// TestUTF8: invalid input becomes U+FFFD, cuts never split a rune, and a
// secret that is part of a rune's bytes is redacted without breaking the
// text.
func TestUTF8(t *testing.T) {
	s := redact.New()
	s.AddSecret("\x82\xac") // the tail of "€"
	for _, in := range []string{"a€b", "€€€", "x\xffy\xe2\x82", strings.Repeat("€", 100)} {
		for limit := 0; limit < 20; limit++ {
			out, _ := s.Scrub([]byte(in), limit)
			assertClean(t, out, limit, "\x82\xac")
		}
	}
	var nilS *redact.Scrubber
	if got := nilS.ScrubString("a\xffb", 10); got != "a\uFFFDb" {
		t.Errorf("invalid byte: %q", got)
	}
	if got := nilS.ScrubString("€€", 5); got != "€" {
		t.Errorf("rune split: %q", got)
	}
}

// TestBound: a huge text costs the examined part only, and the output is
// bounded even when markers make it grow.
func TestBound(t *testing.T) {
	s := redact.New()
	s.AddSecret("k")
	huge := strings.Repeat("k", 1<<20)
	out, cut := s.Scrub([]byte(huge), 512)
	assertClean(t, out, 512, "k")
	if !cut {
		t.Error("not reported cut")
	}
	out, cut = s.Scrub([]byte("short"), 512)
	if out != "short" || cut {
		t.Errorf("got %q, %v", out, cut)
	}
}

// TestMemory: the last MaxTokens tokens and MaxSecrets secrets are
// remembered; adding a known value again keeps it.
func TestMemory(t *testing.T) {
	s := redact.New()
	tok := func(i int) string { return fmt.Sprintf("tok%04d", i) }
	for i := range redact.MaxTokens + 1 {
		s.AddToken(tok(i))
	}
	if got := s.ScrubString(tok(0), 100); got != tok(0) {
		t.Errorf("oldest token still redacted: %q", got)
	}
	for i := 1; i <= redact.MaxTokens; i++ {
		if got := s.ScrubString(tok(i), 100); got != redact.Marker {
			t.Errorf("token %d: %q", i, got)
		}
	}
	// A secret re-added at each token fetch is never the one forgotten.
	s.AddSecret("client-secret-kept")
	for i := range 3 * redact.MaxSecrets {
		s.AddSecret(fmt.Sprintf("rotated-%d", i))
		s.AddSecret("client-secret-kept")
	}
	if got := s.ScrubString("client-secret-kept", 100); got != redact.Marker {
		t.Errorf("re-added secret forgotten: %q", got)
	}
}

// TestConcurrent: adding while scrubbing (run with -race).
func TestConcurrent(t *testing.T) {
	s := redact.New()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				v := fmt.Sprintf("value-%d-%d", g, i)
				switch g {
				case 0, 2:
					s.AddToken(v) // tokens never evict secrets
				case 1: // the only writer of secrets: none is evicted between add and check
					s.AddSecret(v)
					if out := s.ScrubString("x "+v+" y", 100); strings.Contains(out, v) {
						t.Errorf("%q survived", v)
					}
				default:
					s.ScrubString("value-1-1 value-0-1 "+v, 100)
				}
			}
		}()
	}
	wg.Wait()
}

// FuzzScrub: for a random secret (and Basic user) and a random text with
// encodings of the secret inserted at random places, no encoding of the
// secret survives, and the output is valid UTF-8 within the bound.
func FuzzScrub(f *testing.F) {
	f.Add("s3cr+t/=&x", "client", "some text around {} and <b>", uint64(0xff), uint64(1), uint16(300))
	f.Add("ÄÖ€😀", "id", "\xff\xfe€", uint64(0x3), uint64(7), uint16(5))
	f.Add("a", "", "aaaa", uint64(1), uint64(2), uint16(0))
	f.Add("[redacted]", "u", "x", uint64(1), uint64(3), uint16(20))
	f.Add("ted]abc", "u", "xabc", uint64(1), uint64(4), uint16(50))
	f.Fuzz(func(t *testing.T, secret, user, text string, mask, seed uint64, limit uint16) {
		if secret == "" {
			return
		}
		encs := encodingsOf(user, secret)
		rng := rand.New(rand.NewPCG(seed, mask))
		var b strings.Builder
		b.WriteString(text)
		for i, e := range encs {
			if mask&(1<<(i%64)) == 0 {
				continue
			}
			cur := b.String()
			at := rng.IntN(len(cur) + 1)
			b.Reset()
			b.WriteString(cur[:at])
			b.WriteString(e)
			b.WriteString(cur[at:])
		}
		in := b.String()
		s := redact.New()
		s.AddBasic(user, secret)
		out, _ := s.Scrub([]byte(in), int(limit))
		assertClean(t, out, int(limit), encs...)
		assertClean(t, s.ScrubString(in, int(limit)), int(limit), encs...)
	})
}

// TestURLEndingInTokenIsNotAField: a quoted URL whose path ends in
// /token, followed by ": ", is not a credential field; the fields around
// it still are.
func TestURLEndingInTokenIsNotAField(t *testing.T) {
	var s *redact.Scrubber
	in := `token endpoint: Post "http://127.0.0.1:8089/oauth/token": dial tcp 127.0.0.1:8089: connect: connection refused`
	if got := s.ScrubString(in, 1000); got != in {
		t.Errorf("got %s", got)
	}
	for _, in := range []string{`{"access_token": "abc123"}`, `token=abc123&x=1`, `X-Auth-Token: abc123`, `"refresh_token":"abc123"`} {
		if got := s.ScrubString(in, 1000); strings.Contains(got, "abc123") {
			t.Errorf("%s → %s", in, got)
		}
	}
}
