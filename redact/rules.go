package redact

import (
	"encoding/base64"
	"strings"
)

// The rules for credentials the Scrubber was not told about (guarantee 3).
// They work on the text and its ASCII-lowered copy (same offsets).

// fieldKeys: a key ending in one of these names a credential.
var fieldKeys = []string{"password", "passwd", "secret", "token"}

// fieldValues appends the values of credential fields: form style
// (password=v&…), JSON style ("client_secret": "v", also with escaped
// quotes inside another JSON string), header style (password: v).
func fieldValues(str, lower string, spans []span) []span {
	for _, k := range fieldKeys {
		for i := 0; ; {
			j := strings.Index(lower[i:], k)
			if j < 0 {
				break
			}
			end := i + j + len(k)
			// "…/oauth/token": is the end of a URL (a path segment), not a
			// field name: a connection error quoting the token URL keeps
			// its next word ("dial tcp …").
			if at := i + j; at == 0 || lower[at-1] != '/' {
				if from, to, ok := valueAfter(str, end, false); ok {
					spans = append(spans, span{from, to})
				}
			}
			i = end
		}
	}
	return spans
}

// authorizationValues appends the values of Authorization and
// Proxy-Authorization headers (Name: value, "Name": "value",
// "Name": ["value"], name=value), keeping the scheme name.
func authorizationValues(str, lower string, spans []span) []span {
	const k = "authorization"
	for i := 0; ; {
		j := strings.Index(lower[i:], k)
		if j < 0 {
			break
		}
		end := i + j + len(k)
		i = end
		from, to, ok := valueAfter(str, end, true)
		if !ok {
			continue
		}
		// Keep a leading scheme name ("Basic", "Bearer", …) followed by
		// white space (or its form encodings) and something more.
		s := from
		for s < to && isSchemeChar(str[s]) {
			s++
		}
		if s > from && s < to {
			if r := skipSeparator(str, s, to); r > s && r < to {
				from = r
			}
		}
		spans = append(spans, span{from, to})
	}
	return spans
}

// valueAfter parses what follows a key ending at i: an optional closing
// quote (maybe escaped), white space, ':' or '=', white space, an optional
// '[' and an optional opening quote (maybe escaped), then the value, up to
// its closing quote, or (unquoted) up to a delimiter: the end of the line
// for a header value, else also white space and & , ; < > ) ] }.
func valueAfter(str string, i int, header bool) (from, to int, ok bool) {
	n := len(str)
	if i < n && str[i] == '\\' && i+1 < n && isQuote(str[i+1]) {
		i++
	}
	if i < n && isQuote(str[i]) {
		i++
	}
	i = skipSpace(str, i)
	if i >= n || (str[i] != ':' && str[i] != '=') {
		return 0, 0, false
	}
	sep := str[i]
	i = skipSpace(str, i+1)
	if i < n && str[i] == '[' {
		i = skipSpace(str, i+1)
	}
	escaped := false
	if i+1 < n && str[i] == '\\' && isQuote(str[i+1]) {
		escaped = true
		i++
	}
	if i < n && isQuote(str[i]) {
		q := str[i]
		from = i + 1
		for i = from; i < n; i++ {
			c := str[i]
			if c == '\n' || c == '\r' {
				break
			}
			if c == '\\' {
				if escaped && i+1 < n && str[i+1] == q {
					break
				}
				i++ // an escaped character
				continue
			}
			if c == q {
				break
			}
		}
		to = min(i, n)
		return from, to, to > from
	}
	from = i
	for ; i < n; i++ {
		c := str[i]
		if c == '\n' || c == '\r' || c == '<' || c == '"' || c == '\'' || c == '&' || c == '\\' {
			break
		}
		if header && sep == ':' {
			continue // a header value runs to the end of the line
		}
		if c == ' ' || c == '\t' || c == ',' || c == ';' || c == '>' || c == ')' || c == ']' || c == '}' {
			break
		}
	}
	return from, i, i > from
}

// schemeCredentials appends the credentials after the words Basic (when
// they decode as user:password, or are long) and Bearer (16 characters or
// more), wherever they are: in an HTML table, a sentence, a JSON value. In
// a cut text, a credential reaching the end is redacted whatever its
// length.
func schemeCredentials(str, lower string, cut bool, spans []span) []span {
	for _, w := range []string{"basic", "bearer"} {
		for i := 0; ; {
			j := strings.Index(lower[i:], w)
			if j < 0 {
				break
			}
			at, end := i+j, i+j+len(w)
			i = end
			if at > 0 && isAlnum(lower[at-1]) {
				continue
			}
			from := skipSeparator(str, end, len(str))
			if from == end {
				continue
			}
			to := from
			for to < len(str) && isToken68(str[to]) {
				to++
			}
			for to < len(str) && str[to] == '=' {
				to++
			}
			if to == from {
				continue
			}
			cred := str[from:to]
			atEnd := cut && to == len(str)
			if atEnd || (w == "bearer" && len(cred) >= MinBearerLen) || (w == "basic" && (len(cred) >= 24 || basicCredentials(cred))) {
				spans = append(spans, span{from, to})
			}
		}
	}
	return spans
}

// basicCredentials reports whether s is base64 of something with a colon.
func basicCredentials(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	}
	return err == nil && strings.IndexByte(string(b), ':') >= 0
}

// skipSeparator skips white space and its form encodings ('+', "%20")
// from i (not beyond end).
func skipSeparator(str string, i, end int) int {
	for i < end {
		switch {
		case str[i] == ' ' || str[i] == '\t' || str[i] == '+':
			i++
		case i+3 <= end && str[i] == '%' && str[i+1] == '2' && str[i+2] == '0':
			i += 3
		default:
			return i
		}
	}
	return i
}

func skipSpace(str string, i int) int {
	for i < len(str) && (str[i] == ' ' || str[i] == '\t') {
		i++
	}
	return i
}

func isQuote(c byte) bool { return c == '"' || c == '\'' }

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isSchemeChar(c byte) bool { return isAlnum(c) || c == '-' || c == '_' || c == '.' }

// isToken68 reports a character of RFC 9110's token68 (without '=').
func isToken68(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}
