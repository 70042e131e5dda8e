package kafkaconn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const awsSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

func jwt(t *testing.T, claims map[string]any) string {
	t.Helper()
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(p) + "."
}

func TestParseToken(t *testing.T) {
	exp := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	j := jwt(t, map[string]any{"sub": "bridge", "exp": exp.Unix()})
	for _, tc := range []struct {
		in      string
		tok     string
		exp     time.Time
		errPart string
	}{
		{in: "abc.def-ghi_~+/=\n", tok: "abc.def-ghi_~+/="},
		{in: "  " + j + "\r\n", tok: j, exp: exp},
		{in: jwt(t, map[string]any{"exp": "soon"}), tok: jwt(t, map[string]any{"exp": "soon"})},
		{in: "", errPart: "empty"},
		{in: " \n\t", errPart: "empty"},
		{in: "Bearer abc", errPart: "byte 6"},
		{in: `{"access_token":"x"}`, errPart: "byte 0"},
		{in: strings.Repeat("a", maxTokenBytes+1), errPart: "longer"},
	} {
		tok, e, err := ParseToken([]byte(tc.in))
		if tc.errPart != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errPart) {
				t.Errorf("ParseToken(%.20q): err %v, want one containing %q", tc.in, err, tc.errPart)
			}
			continue
		}
		if err != nil || tok != tc.tok || !e.Equal(tc.exp) {
			t.Errorf("ParseToken(%.20q) = %.20q, %v, %v; want %.20q, %v", tc.in, tok, e, err, tc.tok, tc.exp)
		}
	}
}

// FuzzParseToken: no panic; an accepted token is the trimmed input, made
// of token characters only; an error never quotes the input.
func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"abc", "a.b.c", "eyJhbGciOiJub25lIn0.eyJleHAiOjE3OTk5OTk5OTl9.", "", "x y", "\xff", "a.%%%.b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, _, err := ParseToken(data)
		if err != nil {
			if s := strings.TrimSpace(string(data)); len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("error quotes the input: %v", err)
			}
			return
		}
		if tok != strings.TrimSpace(string(data)) || tok == "" {
			t.Fatalf("token %q from %q", tok, data)
		}
		for i := 0; i < len(tok); i++ {
			if !isTokenChar(tok[i]) {
				t.Fatalf("accepted byte %q", tok[i])
			}
		}
	})
}

// TestTokenCommandCached: token_command runs once per token lifetime: a
// JWT is reused until 30 s before its exp, then the command runs again.
func TestTokenCommandCached(t *testing.T) {
	now := time.Date(2026, 11, 27, 19, 0, 0, 0, time.UTC)
	runs := 0
	tp := newTokenProvider(SASL{Mechanism: SASLOAuthBearer, TokenCommand: []string{"get-token"}})
	tp.now = func() time.Time { return now }
	tp.run = func(_ context.Context, _ string, argv []string) ([]byte, error) {
		runs++
		return []byte(jwt(t, map[string]any{"n": runs, "exp": now.Add(5 * time.Minute).Unix()}) + "\n"), nil
	}
	tok1, err := tp.token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(4 * time.Minute)
	if tok, _ := tp.token(context.Background()); tok != tok1 || runs != 1 {
		t.Fatalf("4 min later: runs %d, same token %v; want the cached token", runs, tok == tok1)
	}
	now = now.Add(31 * time.Second) // 29 s before exp
	if tok, _ := tp.token(context.Background()); tok == tok1 || runs != 2 {
		t.Fatalf("29 s before exp: runs %d; want a new token", runs)
	}

	// A non-JWT token is cached for tokenTTL.
	tp = newTokenProvider(SASL{TokenCommand: []string{"get-token"}})
	tp.now = func() time.Time { return now }
	runs = 0
	tp.run = func(context.Context, string, []string) ([]byte, error) { runs++; return []byte("opaque"), nil }
	tp.token(context.Background())
	now = now.Add(tokenTTL - time.Second)
	tp.token(context.Background())
	now = now.Add(2 * time.Second)
	tp.token(context.Background())
	if runs != 2 {
		t.Fatalf("opaque token: %d runs over %s, want 2", runs, tokenTTL+time.Second)
	}
}

// TestTokenFileRotation: token_file is re-read when it changes.
func TestTokenFileRotation(t *testing.T) {
	f := filepath.Join(t.TempDir(), "token")
	os.WriteFile(f, []byte("token-one\n"), 0o600)
	tp := newTokenProvider(SASL{TokenFile: f})
	if tok, err := tp.token(context.Background()); err != nil || tok != "token-one" {
		t.Fatalf("got %q, %v", tok, err)
	}
	os.WriteFile(f, []byte("token-two-rotated\n"), 0o600)
	if tok, err := tp.token(context.Background()); err != nil || tok != "token-two-rotated" {
		t.Fatalf("after rotation: got %q, %v", tok, err)
	}
	os.WriteFile(f, []byte("not a token\n"), 0o600)
	if _, err := tp.token(context.Background()); err == nil || strings.Contains(err.Error(), "not a token") {
		t.Fatalf("bad token file: %v", err)
	}
}

func TestParseCredentialProcess(t *testing.T) {
	good := `{"Version":1,"AccessKeyId":"AKIAEXAMPLE","SecretAccessKey":"` + awsSecret + `","SessionToken":"tok","Expiration":"2026-11-27T20:00:00Z"}`
	c, err := ParseCredentialProcess([]byte(good))
	if err != nil || c.AccessKeyID != "AKIAEXAMPLE" || c.SecretAccessKey != awsSecret || c.SessionToken != "tok" ||
		!c.Expiration.Equal(time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)) {
		t.Fatalf("good: %+v, %v", c, err)
	}
	if s := fmt.Sprint(c); strings.Contains(s, awsSecret) {
		t.Fatalf("String shows the secret: %s", s)
	}
	for in, want := range map[string]string{
		`{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S"}`:                         "",
		`{"Version":2,"AccessKeyId":"A","SecretAccessKey":"` + awsSecret + `"}`:         "Version must be 1",
		`{"Version":1,"SecretAccessKey":"` + awsSecret + `"}`:                           "AccessKeyId is missing",
		`{"Version":1,"AccessKeyId":"A"}`:                                               "SecretAccessKey is missing",
		`{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"tomorrow"}`: "RFC 3339",
		`{"Version":1,"AccessKeyId":"A","SecretAccessKey":12345678}`:                    "SecretAccessKey has the wrong type",
		`{"Version":1,"AccessKeyId":"A","SecretAccessKey":"` + awsSecret + `"`:          "not valid JSON",
		`[1]`:   "wrong type",
		`{} {}`: "more than one",
		``:      "not a JSON object",
	} {
		_, err := ParseCredentialProcess([]byte(in))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", in, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: err %v, want %q", in, err, want)
		case err != nil && (strings.Contains(err.Error(), awsSecret) || strings.Contains(err.Error(), "12345678")):
			t.Errorf("%s: error shows the secret: %v", in, err)
		}
	}
}

// FuzzParseCredentialProcess: no panic; accepted credentials have both
// keys; an error never contains a string value of the input.
func FuzzParseCredentialProcess(f *testing.F) {
	f.Add([]byte(`{"Version":1,"AccessKeyId":"AKIA","SecretAccessKey":"secretvalue","SessionToken":"t","Expiration":"2026-11-27T20:00:00Z"}`))
	f.Add([]byte(`{"Version":1,"AccessKeyId":"AKIA","SecretAccessKey":"secretvalue","Expiration":""}`))
	f.Add([]byte(`{"Version":"1"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"Version":1e400}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCredentialProcess(data)
		if err == nil {
			if c.AccessKeyID == "" || c.SecretAccessKey == "" {
				t.Fatalf("accepted without keys: %q", data)
			}
			return
		}
		var m map[string]any
		if json.Unmarshal(data, &m) == nil {
			for _, v := range m {
				if s, ok := v.(string); ok && len(s) >= 6 && strings.Contains(err.Error(), s) {
					t.Fatalf("error %q quotes the value %q", err, s)
				}
			}
		}
	})
}

// TestAWSCredentialsCommand: credentials_command runs again 5 min before
// Expiration, not before; expired output is refused.
func TestAWSCredentialsCommand(t *testing.T) {
	now := time.Date(2026, 11, 27, 19, 0, 0, 0, time.UTC)
	runs := 0
	exp := now.Add(time.Hour)
	p := newAWSProvider(AWS{CredentialsCommand: []string{"aws", "configure", "export-credentials", "--format", "process"}}, nil)
	p.now = func() time.Time { return now }
	p.run = func(context.Context, string, []string) ([]byte, error) {
		runs++
		return fmt.Appendf(nil, `{"Version":1,"AccessKeyId":"AKIA%d","SecretAccessKey":"s","SessionToken":"t","Expiration":%q}`, runs, exp.Format(time.RFC3339)), nil
	}
	c, err := p.credentials(context.Background())
	if err != nil || c.AccessKeyID != "AKIA1" {
		t.Fatalf("%v %v", c, err)
	}
	now = now.Add(54 * time.Minute)
	if c, _ := p.credentials(context.Background()); c.AccessKeyID != "AKIA1" || runs != 1 {
		t.Fatalf("6 min before expiry: %v after %d runs; want the cached AKIA1", c, runs)
	}
	now = now.Add(2 * time.Minute)
	exp = now.Add(time.Hour)
	if c, _ := p.credentials(context.Background()); c.AccessKeyID != "AKIA2" || runs != 2 {
		t.Fatalf("4 min before expiry: %v after %d runs; want fresh AKIA2", c, runs)
	}
	now = now.Add(2 * time.Hour)
	exp = now.Add(-time.Second)
	if _, err := p.credentials(context.Background()); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired output: %v", err)
	}
}

// TestAWSEnvAndStatic: without a command, static keys win, else the
// standard environment variables are read at each authentication.
func TestAWSEnvAndStatic(t *testing.T) {
	env := map[string]string{}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	p := newAWSProvider(AWS{}, lookup)
	if _, err := p.credentials(context.Background()); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("no env: %v", err)
	}
	env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"] = "AKIAENV", awsSecret, "sess"
	if c, err := p.credentials(context.Background()); err != nil || c.AccessKeyID != "AKIAENV" || c.SessionToken != "sess" {
		t.Fatalf("env: %v %v", c, err)
	}
	p = newAWSProvider(AWS{AccessKeyID: "AKIACFG", SecretAccessKey: awsSecret}, lookup)
	if c, err := p.credentials(context.Background()); err != nil || c.AccessKeyID != "AKIACFG" {
		t.Fatalf("static: %v %v", c, err)
	}
}

// TestMSKIAMChallenge: the aws-msk-iam mechanism signs its first message
// with the configured credentials, for the region of the broker's host.
func TestMSKIAMChallenge(t *testing.T) {
	m, err := Mechanism(SASL{Mechanism: SASLAWSMSKIAM,
		AWS: AWS{AccessKeyID: "AKIACFG", SecretAccessKey: awsSecret, SessionToken: "sess-token"}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Name() != "AWS_MSK_IAM" {
		t.Fatalf("name %s", m.Name())
	}
	_, first, err := m.Authenticate(context.Background(), "b-1.demo.abc123.c2.kafka.eu-west-1.amazonaws.com:9098")
	if err != nil {
		t.Fatal(err)
	}
	var msg map[string]string
	if err := json.Unmarshal(first, &msg); err != nil {
		t.Fatalf("%v: %s", err, first)
	}
	if !strings.HasPrefix(msg["x-amz-credential"], "AKIACFG/") || !strings.Contains(msg["x-amz-credential"], "/eu-west-1/kafka-cluster/") ||
		msg["x-amz-security-token"] != "sess-token" || msg["x-amz-signature"] == "" {
		t.Fatalf("challenge %v", msg)
	}
	if strings.Contains(string(first), awsSecret) {
		t.Fatal("the secret key itself is in the message")
	}
}

// TestRunCommand: stdout is returned; a failing command's error carries
// its exit status and stderr, never its stdout.
func TestRunCommand(t *testing.T) {
	out, err := runCommand(context.Background(), "test", []string{"sh", "-c", "printf 'tok-123'"})
	if err != nil || string(out) != "tok-123" {
		t.Fatalf("%q %v", out, err)
	}
	_, err = runCommand(context.Background(), "kafka.sasl.token_command", []string{"sh", "-c", "echo secret-on-stdout; echo 'login expired' >&2; exit 3"})
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "login expired") ||
		strings.Contains(err.Error(), "secret-on-stdout") || !strings.Contains(err.Error(), "kafka.sasl.token_command") {
		t.Fatalf("failing command: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := runCommand(ctx, "test", []string{"sh", "-c", "sleep 5 & sleep 5"}); err == nil || !strings.Contains(err.Error(), "did not finish in time") || time.Since(start) > 2500*time.Millisecond {
		t.Fatalf("hanging command: %v after %s", err, time.Since(start))
	}
	if _, err := runCommand(context.Background(), "test", []string{"/nonexistent/get-token"}); err == nil {
		t.Fatal("missing program: no error")
	}
	if _, err := runCommand(context.Background(), "test", []string{"sh", "-c", fmt.Sprintf("head -c %d /dev/zero", maxCommandOutput+10)}); err == nil || !strings.Contains(err.Error(), "longer") {
		t.Fatalf("huge output: %v", err)
	}
}
