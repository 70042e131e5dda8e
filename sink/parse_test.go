package sink

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cxone-bridge/bridge/redact"
	"github.com/cxone-bridge/bridge/secret"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"2", 2 * time.Second, true},
		{" 120 ", 120 * time.Second, true},
		{"0", 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999999999999999", maxRetryAfter, true},
		{now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second, true},
		{"Sun, 01 Mar 2026 12:00:10 GMT", 10 * time.Second, true},
		{"Sunday, 01-Mar-26 12:00:05 GMT", 5 * time.Second, true}, // RFC 850
		{"Sun Mar  1 12:00:07 2026", 7 * time.Second, true},       // asctime
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},    // past
		{"Sun, 01 Mar 2026 12:00:10 +0100", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.in, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "2", "120", "", "-3", "Sun, 06 Nov 1994 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "18446744073709551616", "1e3"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v out of range", s, d)
		}
		if !ok && d != 0 {
			t.Fatalf("parseRetryAfter(%q) = %v with ok=false", s, d)
		}
		if v := strings.TrimSpace(s); isDigits(v) && len(v) < 10 {
			n, _ := strconv.ParseInt(v, 10, 64)
			if !ok || d != time.Duration(n)*time.Second {
				t.Fatalf("parseRetryAfter(%q) = %v, %v", s, d, ok)
			}
		}
	})
}

func TestFullJitter(t *testing.T) {
	for retry := range 70 {
		for range 20 {
			d := fullJitter(100*time.Millisecond, 10*time.Second, retry)
			ceil := min(10*time.Second, 100*time.Millisecond<<min(retry, 20))
			if d < 0 || d > ceil {
				t.Fatalf("retry %d: delay %v not in [0, %v]", retry, d, ceil)
			}
		}
	}
	if d := fullJitter(0, time.Second, 3); d != 0 {
		t.Fatalf("zero base: %v", d)
	}
}

func TestParseFieldErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []FieldError
	}{
		{"cxonetest shape", `{"error":"validation_failed","errors":[{"field":"eventType","message":"must not be empty"},{"field":"timestamp","message":"bad"}]}`,
			[]FieldError{{"eventType", "must not be empty"}, {"timestamp", "bad"}}},
		{"top-level array", `[{"path":"/a","msg":"x"}]`, []FieldError{{"/a", "x"}}},
		{"ajv style", `{"details":[{"instancePath":"/orderId","message":"must match pattern"}]}`, []FieldError{{"/orderId", "must match pattern"}}},
		{"loc path", `{"violations":[{"loc":["body","attributes",0],"detail":"bad"}]}`, []FieldError{{"body.attributes.0", "bad"}}},
		{"map form", `{"fieldErrors":{"b":["x","y"],"a":"z"}}`, []FieldError{{"a", "z"}, {"b", "x; y"}}},
		{"strings", `{"errors":["eventType is required"]}`, []FieldError{{"", "eventType is required"}}},
		{"no errors", `{"error":"bad"}`, nil},
		{"not json", `<html>`, nil},
		{"empty", ``, nil},
		{"null", `null`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseFieldErrors([]byte(tt.body), nil)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	var b strings.Builder
	b.WriteString(`{"errors":[`)
	for i := range 150 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"field":"f%d","message":%q}`, i, strings.Repeat("m", 600))
	}
	b.WriteString("]}")
	got := parseFieldErrors([]byte(b.String()), nil)
	if len(got) != maxFieldErrors || len(got[0].Message) != maxFieldErrorLen {
		t.Fatalf("not bounded: %d errors, message %d bytes", len(got), len(got[0].Message))
	}
}

func FuzzParseFieldErrors(f *testing.F) {
	for _, s := range []string{`{"errors":[{"field":"a","message":"b"}]}`, `[{"path":"x"}]`, `{"fieldErrors":{"a":["b"]}}`,
		`{"errors":["x"]}`, `{"violations":[{"loc":["a",1]}]}`, `null`, `[]`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := parseFieldErrors(body, nil)
		if len(got) > maxFieldErrors {
			t.Fatalf("%d field errors", len(got))
		}
		for _, fe := range got {
			if len(fe.Field) > maxFieldErrorLen || len(fe.Message) > maxFieldErrorLen ||
				!utf8.ValidString(fe.Field) || !utf8.ValidString(fe.Message) {
				t.Fatalf("unbounded or invalid field error %q", fe)
			}
		}
	})
}

// FuzzExcerpt: an excerpt (the Publisher's scrubber over an answer) is
// bounded, valid UTF-8, and never holds the token it knows.
func FuzzExcerpt(f *testing.F) {
	f.Add([]byte("hello"), 3)
	f.Add([]byte("h\xe2\x82\xacllo"), 2)
	f.Add([]byte(`{"headers":{"Authorization":["Bearer fuzz-token-0123456789"]}}`), 100)
	const token = "fuzz-token-0123456789"
	sc := redact.New()
	sc.AddToken(token)
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		if limit < 0 || limit > 1<<16 {
			return
		}
		s, _ := sc.Scrub(b, limit)
		if len(s) > limit || !utf8.ValidString(s) || strings.Contains(s, token) {
			t.Fatalf("Scrub(%q, %d) = %q", b, limit, s)
		}
	})
}

func TestClassify(t *testing.T) {
	tests := []struct {
		status int
		class  Class
		ok     bool
	}{
		{200, 0, true}, {201, 0, true}, {202, 0, true}, {204, 0, true}, {409, 0, true},
		{400, ClassRejected, false}, {410, ClassRejected, false}, {413, ClassRejected, false},
		{415, ClassRejected, false}, {422, ClassRejected, false},
		{408, ClassTransient, false}, {425, ClassTransient, false}, {429, ClassTransient, false},
		{500, ClassTransient, false}, {502, ClassTransient, false}, {503, ClassTransient, false},
		{504, ClassTransient, false}, {599, ClassTransient, false},
		{403, ClassSystemic, false}, {404, ClassSystemic, false}, {405, ClassSystemic, false},
		{501, ClassSystemic, false}, {505, ClassSystemic, false}, {301, ClassSystemic, false},
		{302, ClassSystemic, false}, {100, ClassSystemic, false}, {0, ClassSystemic, false},
	}
	for _, tt := range tests {
		class, ok := classify(tt.status)
		if class != tt.class || ok != tt.ok {
			t.Errorf("classify(%d) = %v, %v; want %v, %v", tt.status, class, ok, tt.class, tt.ok)
		}
	}
}

func TestErrorMatching(t *testing.T) {
	cause := errors.New("boom")
	for _, c := range []Class{ClassRejected, ClassTransient, ClassSystemic} {
		var err error = fmt.Errorf("wrapped: %w", &Error{Class: c, Status: 500, Err: cause, Excerpt: strings.Repeat("x", 1000)})
		var e *Error
		if !errors.As(err, &e) || e.Class != c {
			t.Fatalf("errors.As failed for %v", c)
		}
		if !errors.Is(err, cause) {
			t.Errorf("%v: cause not found", c)
		}
		for _, other := range []Class{ClassRejected, ClassTransient, ClassSystemic} {
			if errors.Is(err, other.sentinel()) != (other == c) {
				t.Errorf("errors.Is(%v error, %v) wrong", c, other)
			}
		}
		if len(err.Error()) > 400 {
			t.Errorf("message not bounded: %d bytes", len(err.Error()))
		}
	}
}

func TestSecretRedacted(t *testing.T) {
	const value = "hunter2-SECRET"
	cfg := DefaultConfig()
	cfg.BaseURL = "https://example.invalid"
	cfg.ClientID = "id"
	cfg.ClientSecret = value
	cfg.AccessKeySecret = value
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		for _, v := range []any{cfg, &cfg, cfg.ClientSecret, struct{ S secret.Secret }{cfg.ClientSecret}} {
			if out := fmt.Sprintf(format, v); strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) {
				t.Errorf("%s of %T leaks the secret: %s", format, v, out)
			}
		}
	}
	if string(cfg.ClientSecret) != value {
		t.Fatal("conversion must give the value back")
	}
}

func TestAnswerID(t *testing.T) {
	for _, tc := range []struct {
		body string
		id   string
		fast bool
	}{
		{`{"id":"evt-1"}`, "evt-1", true},
		{" {\n \"id\" : \"a b\" }\t", "a b", true},
		{`{"id":""}`, "", true},
		{`{"id":"a\"b"}`, "", false},       // escape: encoding/json decides
		{`{"id":"é"}`, "", false},          // non-ASCII: encoding/json decides
		{`{"id":"x","id":"y"}`, "", false}, // a second member
		{`{"status":"ok","id":"x"}`, "", false},
		{`{"id":1}`, "", false},
		{`{"id":"x"} {}`, "", false},
		{`{"id":"x"`, "", false},
		{``, "", false},
	} {
		id, ok := answerID([]byte(tc.body))
		if ok != tc.fast || id != tc.id {
			t.Errorf("%q: got (%q, %v), want (%q, %v)", tc.body, id, ok, tc.id, tc.fast)
		}
	}
}

// FuzzAnswerID: whenever the fast path answers, encoding/json agrees.
func FuzzAnswerID(f *testing.F) {
	for _, s := range []string{`{"id":"evt-1"}`, ` { "id" : "x" } `, `{"id":"a\u0041"}`, `{"id":"x","id":"y"}`, `{"id":null}`, `{"ID":"x"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		id, ok := answerID(body)
		if !ok {
			return
		}
		var ans struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(body, &ans); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refuses it: %v", body, err)
		}
		if ans.ID != id {
			t.Fatalf("%q: fast path %q, encoding/json %q", body, id, ans.ID)
		}
	})
}
