// Package redact removes credentials from text that came from outside the
// process — the body of an HTTP answer, the message of an error quoting
// one — before that text reaches an error, a log line, a metric or a
// dead-letter header. An answer may echo the request that caused it (API
// gateways, WAF error pages and TLS-inspecting proxies do), and that
// request carried the credentials.
//
// A Scrubber knows the credentials of one client: secrets (AddSecret), HTTP
// Basic credentials (AddBasic) and the last MaxTokens bearer tokens
// (AddToken). It is safe for concurrent use; adding is cheap and rare
// (once per token fetch), scrubbing is meant for failures, not for a hot
// path. A nil *Scrubber knows no value but applies the rules and bounds
// below all the same.
//
// # What Scrub guarantees
//
// For Scrub(text, limit) and ScrubString(text, limit), the output
//
//  1. contains no encoding (see below) of any value known to the Scrubber
//     when it is called: neither one that was in the text nor one formed by
//     a redaction marker with the text around it (the marker is chosen so
//     that no known encoding occurs in it);
//  2. keeps no start of a secret cut off: when the input is longer than
//     the part examined (limit plus the longest encoding), a fragment at
//     the end of that part that begins an encoding is redacted too;
//  3. has the values of credential fields redacted, whoever's they are:
//     a value after a key ending in "password", "passwd", "secret" or
//     "token" (form style key=value, JSON style "key": "value", header
//     style key: value; this covers password, client_secret,
//     access_token, refresh_token, id_token), the value of an
//     Authorization or Proxy-Authorization header in any scheme (the
//     scheme name is kept: "Authorization: Basic [redacted]"), and the
//     credentials after the word Basic (base64 of user:password) or
//     Bearer (16 characters or more) anywhere;
//  4. is valid UTF-8 (invalid input bytes become U+FFFD) and at most limit
//     bytes long.
//
// The encodings of a value v are: v; url.QueryEscape(v) and
// url.PathEscape(v) (with upper- and lower-case hex digits) and
// QueryEscape applied twice; v as inside a JSON string (encoding/json with
// and without HTML escaping, every non-ASCII rune and "/" escaped, and
// JSON-escaped twice); html.EscapeString(v) and the &quot;/&#x27; variant;
// standard and raw URL base64 of v. For Basic credentials (user,
// password): the standard base64 of "user:password" with the raw and the
// form-URL-encoded user and password (RFC 6749 §2.3.1, as
// golang.org/x/oauth2 sends them; the Node tutorial sends them raw), in
// the four combinations, and each of them form-URL-encoded; the password
// is a secret too. An encoding longer than MaxPatternBytes is matched by
// pieces of that size, so that none of it survives whole.
//
// Each redacted span (overlapping and adjacent matches are joined) is
// replaced by Marker, "[redacted]", or by another marker if a known
// encoding occurs in that one.
//
// What it does not promise: a value it was never told about is redacted
// only by the rules of point 3; and a value's encodings other than those
// listed (e.g. inside a compressed or encrypted body) are not recognised.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

const (
	// Marker replaces each redacted span.
	Marker = "[redacted]"
	// MaxSecrets secrets and MaxSecrets Basic credentials are remembered;
	// beyond that the least recently added ones are forgotten. Adding a
	// value already known makes it the most recent.
	MaxSecrets = 16
	// MaxTokens bearer tokens are remembered (the current one and the
	// recent ones).
	MaxTokens = 8
	// MaxPatternBytes is the length beyond which an encoding is matched by
	// pieces.
	MaxPatternBytes = 1024
	// MinBearerLen is the shortest credential redacted after the word
	// Bearer when it is not a known token.
	MinBearerLen = 16
)

// markers are tried in order; "" (the span is removed) is the last resort.
var markers = []string{Marker, "[REDACTED]", "<redacted>", "***", "###", "~~~", "___", ""}

// Scrubber removes known credentials and credential fields from text. The
// zero value is ready to use; so is a nil pointer (no known values).
type Scrubber struct {
	mu      sync.Mutex // serialises the writers
	secrets []string   // least recent first
	basics  []basic
	tokens  []string
	set     atomic.Pointer[patterns] // immutable; replaced on change
}

type basic struct{ user, password string }

// patterns is the matching state derived from the known values.
type patterns struct {
	lits   []string  // every encoding (or piece of one) to redact
	pi     [][]int32 // KMP prefix function of each literal, for cut tails
	maxLen int
	marker string
}

var noPatterns = &patterns{marker: Marker}

// New returns an empty Scrubber.
func New() *Scrubber { return &Scrubber{} }

// AddSecret makes every encoding of v redacted from now on. Empty values
// are ignored.
func (s *Scrubber) AddSecret(v string) {
	if s == nil || v == "" {
		return
	}
	s.update(func() (changed bool) {
		s.secrets, changed = remember(s.secrets, v, MaxSecrets)
		return changed
	})
}

// AddBasic makes the HTTP Basic encodings of user and password, and every
// encoding of password, redacted from now on. An empty password is
// ignored.
func (s *Scrubber) AddBasic(user, password string) {
	if s == nil || password == "" {
		return
	}
	s.update(func() bool {
		var c1, c2 bool
		s.basics, c1 = remember(s.basics, basic{user, password}, MaxSecrets)
		s.secrets, c2 = remember(s.secrets, password, MaxSecrets)
		return c1 || c2
	})
}

// AddToken makes every encoding of the bearer (or refresh) token t
// redacted from now on; the last MaxTokens tokens are remembered. Empty
// values are ignored.
func (s *Scrubber) AddToken(t string) {
	if s == nil || t == "" {
		return
	}
	s.update(func() (changed bool) {
		s.tokens, changed = remember(s.tokens, t, MaxTokens)
		return changed
	})
}

// update runs change under s.mu and rebuilds the patterns if it reports a
// change of the known values.
func (s *Scrubber) update(change func() bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if change() {
		s.rebuildLocked()
	}
}

// remember moves v to the end of list, appending it if new (and dropping
// the oldest beyond max); changed reports whether the set changed.
func remember[T comparable](list []T, v T, max int) (_ []T, changed bool) {
	if i := slices.Index(list, v); i >= 0 {
		if i != len(list)-1 {
			list = append(slices.Delete(list, i, i+1), v)
		}
		return list, false
	}
	list = append(list, v)
	if len(list) > max {
		list = slices.Delete(list, 0, len(list)-max)
	}
	return list, true
}

func (s *Scrubber) rebuildLocked() {
	seen := map[string]bool{}
	var lits []string
	add := func(e string) {
		for len(e) > 0 {
			p := e
			if len(p) > MaxPatternBytes {
				p = e[:MaxPatternBytes]
			}
			e = e[len(p):]
			if !seen[p] {
				seen[p] = true
				lits = append(lits, p)
			}
		}
	}
	for _, v := range s.secrets {
		for _, e := range Encodings(v) {
			add(e)
		}
	}
	for _, b := range s.basics {
		for _, e := range BasicEncodings(b.user, b.password) {
			add(e)
		}
	}
	for _, t := range s.tokens {
		for _, e := range Encodings(t) {
			add(e)
		}
	}
	ps := &patterns{lits: lits, pi: make([][]int32, len(lits))}
	for i, p := range lits {
		ps.maxLen = max(ps.maxLen, len(p))
		ps.pi[i] = prefixFunction(p)
	}
	for _, m := range markers {
		if !slices.ContainsFunc(lits, func(p string) bool { return strings.Contains(m, p) }) {
			ps.marker = m
			break
		}
	}
	s.set.Store(ps)
}

// Encodings returns the encodings of v that a Scrubber redacts for a
// secret or a token (see the package documentation), without duplicates.
func Encodings(v string) []string {
	if v == "" {
		return nil
	}
	qe, pe := url.QueryEscape(v), url.PathEscape(v)
	js := jsonString(v, true)
	out := []string{
		v,
		qe, lowerHex(qe), pe, lowerHex(pe), url.QueryEscape(qe),
		js, jsonString(v, false), jsonASCII(v), jsonString(js, true),
		html.EscapeString(v), htmlAlt.Replace(v),
		base64.StdEncoding.EncodeToString([]byte(v)), base64.RawURLEncoding.EncodeToString([]byte(v)),
	}
	return dedupe(out)
}

// BasicEncodings returns the HTTP Basic encodings of user and password: the
// standard base64 of "user:password" with each of them raw and
// form-URL-encoded (four combinations), and each of those form-URL-encoded
// in turn, without duplicates.
func BasicEncodings(user, password string) []string {
	var out []string
	for _, u := range []string{user, url.QueryEscape(user)} {
		for _, p := range []string{password, url.QueryEscape(password)} {
			b := base64.StdEncoding.EncodeToString([]byte(u + ":" + p))
			out = append(out, b, url.QueryEscape(b))
		}
	}
	return dedupe(out)
}

func dedupe(list []string) []string {
	out := list[:0]
	for _, e := range list {
		if e != "" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

var htmlAlt = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;")

// jsonString is v as encoding/json writes it inside a string, without the
// quotes.
func jsonString(v string, escapeHTML bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	enc.Encode(v) // a string always encodes
	s := strings.TrimSuffix(b.String(), "\n")
	return s[1 : len(s)-1]
}

// jsonASCII is v inside a JSON string with every non-ASCII rune as \uXXXX
// (lower-case hex, surrogate pairs beyond the BMP) and "/" as "\/", as some
// encoders write it.
func jsonASCII(v string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	u4 := func(r rune) {
		b.WriteString(`\u`)
		for sh := 12; sh >= 0; sh -= 4 {
			b.WriteByte(hex[(r>>sh)&0xF])
		}
	}
	for _, r := range v {
		switch {
		case r == '"' || r == '\\' || r == '/':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			u4(r)
		case r < 0x80:
			b.WriteRune(r)
		case r >= 0x10000:
			r -= 0x10000
			u4(0xD800 + (r >> 10))
			u4(0xDC00 + (r & 0x3FF))
		default:
			u4(r) // also U+FFFD for an invalid byte
		}
	}
	return b.String()
}

// lowerHex writes the hex digits of %XX escapes in lower case.
func lowerHex(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lowerASCII(b[i+1]), lowerASCII(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// prefixFunction is the Knuth-Morris-Pratt prefix function of p.
func prefixFunction(p string) []int32 {
	pi := make([]int32, len(p))
	k := int32(0)
	for i := 1; i < len(p); i++ {
		for k > 0 && p[i] != p[k] {
			k = pi[k-1]
		}
		if p[i] == p[k] {
			k++
		}
		pi[i] = k
	}
	return pi
}

func (s *Scrubber) load() *patterns {
	if s == nil {
		return noPatterns
	}
	if ps := s.set.Load(); ps != nil {
		return ps
	}
	return noPatterns
}

// Scrub returns text scrubbed and bounded to limit bytes (see the package
// documentation for what it guarantees). cut reports that the output does
// not hold all of the text: the text was longer than what was examined, or
// the scrubbed text was longer than limit.
func (s *Scrubber) Scrub(text []byte, limit int) (out string, cut bool) {
	ps := s.load()
	limit = max(limit, 0)
	text, cut = examined(text, limit+ps.maxLen)
	return ps.scrub(strings.ToValidUTF8(string(text), "\uFFFD"), limit, cut)
}

// ScrubString is Scrub for a string; it returns the output only.
func (s *Scrubber) ScrubString(text string, limit int) string {
	ps := s.load()
	limit = max(limit, 0)
	text, cut := examined(text, limit+ps.maxLen)
	out, _ := ps.scrub(strings.ToValidUTF8(text, "\uFFFD"), limit, cut)
	return out
}

// examined returns the part of text that is examined, at most window
// bytes, and whether that is not all of it. A rune the cut splits is
// dropped rather than turned into U+FFFD: the bytes before it may begin an
// encoding (guarantee 2).
func examined[T string | []byte](text T, window int) (T, bool) {
	if len(text) <= window {
		return text, false
	}
	text = text[:window]
	for i := len(text) - 1; i >= 0 && i >= len(text)-utf8.UTFMax; i-- {
		if utf8.RuneStart(text[i]) {
			if !utf8.FullRuneInString(string(text[i:])) {
				text = text[:i]
			}
			break
		}
	}
	return text, true
}

// span is a half-open byte range of the examined text to redact.
type span struct{ from, to int }

// scrub redacts str (valid UTF-8) and bounds the result to limit bytes.
// cut tells that str is the start of a longer text.
func (ps *patterns) scrub(str string, limit int, cut bool) (string, bool) {
	spans := ps.find(str, cut)
	out := str
	if len(spans) > 0 {
		out = ps.render(str, spans)
	}
	if len(out) > limit {
		out = Truncate(out, limit)
		cut = true
	}
	return out, cut
}

// find lists what to redact in str: every occurrence of a known encoding,
// the credential fields, and (when cut) a tail beginning an encoding.
func (ps *patterns) find(str string, cut bool) []span {
	var spans []span
	for _, p := range ps.lits {
		spans = occurrences(str, p, spans)
	}
	lower := lowerString(str)
	spans = fieldValues(str, lower, spans)
	spans = authorizationValues(str, lower, spans)
	spans = schemeCredentials(str, lower, cut, spans)
	if cut {
		for i, p := range ps.lits {
			if k := tailPrefix(str, p, ps.pi[i]); k > 0 {
				spans = append(spans, span{len(str) - k, len(str)})
			}
		}
	}
	return spans
}

// occurrences appends every occurrence of p in str, overlapping ones
// included.
func occurrences(str, p string, spans []span) []span {
	for i := 0; i <= len(str)-len(p); {
		j := strings.Index(str[i:], p)
		if j < 0 {
			break
		}
		spans = append(spans, span{i + j, i + j + len(p)})
		i += j + 1
	}
	return spans
}

// tailPrefix returns the length of the longest proper prefix of p that
// str ends with (0 if none), pi being p's prefix function.
func tailPrefix(str, p string, pi []int32) int {
	m := len(p)
	if m < 2 {
		return 0
	}
	tail := str[max(0, len(str)-(m-1)):]
	k := int32(0)
	for i := 0; i < len(tail); i++ {
		c := tail[i]
		for k > 0 && (int(k) == m || c != p[k]) {
			k = pi[k-1]
		}
		if c == p[k] {
			k++
		}
	}
	return int(k)
}

// render replaces the spans of str by the marker, then makes sure no known
// encoding was formed by a marker and the text around it: such an
// occurrence has its text redacted too, until none is left. Each round
// redacts at least one more byte of str, so it ends.
func (ps *patterns) render(str string, spans []span) string {
	for round := 0; ; round++ {
		spans = normalize(str, spans)
		out, pieces := build(str, spans, ps.marker)
		more := ps.formed(out, pieces)
		if len(more) == 0 {
			return out
		}
		if round > len(str) { // cannot happen; fail closed
			return ps.marker
		}
		spans = append(spans, more...)
	}
}

// piece maps a range of the output to the text: a marker (orig < 0) or
// the text from orig.
type piece struct {
	at, end int // in the output
	orig    int // in the text; -1 for a marker
}

func build(str string, spans []span, marker string) (string, []piece) {
	var b strings.Builder
	b.Grow(len(str))
	var pieces []piece
	last := 0
	text := func(from, to int) {
		if from < to {
			pieces = append(pieces, piece{at: b.Len(), end: b.Len() + to - from, orig: from})
			b.WriteString(str[from:to])
		}
	}
	for _, sp := range spans {
		text(last, sp.from)
		pieces = append(pieces, piece{at: b.Len(), end: b.Len() + len(marker), orig: -1})
		b.WriteString(marker)
		last = sp.to
	}
	text(last, len(str))
	return b.String(), pieces
}

// formed returns, in text coordinates, the text bytes of every known
// encoding occurring in out (each necessarily spans a marker).
func (ps *patterns) formed(out string, pieces []piece) []span {
	var more []span
	for _, p := range ps.lits {
		for _, oc := range occurrences(out, p, nil) {
			for _, pc := range pieces {
				if pc.orig < 0 || pc.end <= oc.from || pc.at >= oc.to {
					continue
				}
				from, to := max(oc.from, pc.at), min(oc.to, pc.end)
				more = append(more, span{pc.orig + from - pc.at, pc.orig + to - pc.at})
			}
		}
	}
	return more
}

// normalize widens the spans to whole runes, sorts them and joins the
// overlapping and adjacent ones.
func normalize(str string, spans []span) []span {
	for i := range spans {
		sp := &spans[i]
		for sp.from > 0 && !utf8.RuneStart(str[sp.from]) {
			sp.from--
		}
		for sp.to < len(str) && !utf8.RuneStart(str[sp.to]) {
			sp.to++
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from - b.from })
	out := spans[:0]
	for _, sp := range spans {
		if n := len(out); n > 0 && sp.from <= out[n-1].to {
			out[n-1].to = max(out[n-1].to, sp.to)
			continue
		}
		out = append(out, sp)
	}
	return out
}

// Truncate cuts s to at most n bytes without splitting a rune (the way
// Scrub bounds its output), for callers that bound text of their own.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// lowerString lowers ASCII letters only, so that byte offsets are kept.
func lowerString(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lowerASCII(c)
	}
	return string(b)
}
