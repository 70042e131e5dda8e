package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// Credentials of the authentication cases: no error may quote them.
const (
	checkUser     = "api-key-7"
	checkPassword = "pw-7e1c9"
	checkToken    = "tok-55ab0"
)

var checkBasic = "Basic " + base64.StdEncoding.EncodeToString([]byte(checkUser+":"+checkPassword))

// leaksCredential reports whether s quotes a credential of the tests.
func leaksCredential(s string) bool {
	for _, c := range []string{checkPassword, checkToken, checkBasic[len("Basic "):]} {
		if strings.Contains(s, c) {
			return true
		}
	}
	return false
}

// echoAuth answers 401 with the Authorization header in its message, as a
// careless proxy might.
func echoAuth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	w.Write([]byte(`{"error_code":40101,"message":"bad credentials: ` + r.Header.Get("Authorization") + `"}`))
}

// checkCase is one registry behaviour, shared by the Check and
// SubjectExists tests.
type checkCase struct {
	name   string
	auth   string           // srfake.WithAuth; "" for none
	cfg    Config           // credentials
	fault  http.HandlerFunc // answers in place of the registry, if set
	auth2  bool             // the error must match ErrAuthentication
	errSay string           // the error must say this; "" means no error
}

var checkCases = []checkCase{
	{name: "open registry"},
	{name: "basic authentication", auth: checkBasic, cfg: Config{Username: checkUser, Password: checkPassword}},
	{name: "bearer token", auth: "Bearer " + checkToken, cfg: Config{BearerToken: checkToken}},
	{name: "no credentials (401)", auth: checkBasic, auth2: true, errSay: "HTTP 401 Unauthorized (error code 50002): authentication failed"},
	{name: "wrong password (403)", auth: checkBasic, cfg: Config{Username: checkUser, Password: checkPassword + "x"}, auth2: true, errSay: "HTTP 403 Forbidden (error code 50002): authentication failed or access is forbidden"},
	{name: "wrong token (403)", auth: "Bearer " + checkToken, cfg: Config{BearerToken: checkToken + "x"}, auth2: true, errSay: "forbidden"},
	{name: "401 echoing the credentials", cfg: Config{Username: checkUser, Password: checkPassword}, fault: echoAuth, auth2: true, errSay: "authentication failed"},
	{name: "503", fault: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }, errSay: "HTTP 503"},
	{name: "500 with registry error", fault: func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"error_code":50001,"message":"store error"}`))
	}, errSay: "HTTP 500 (error code 50001: store error)"},
	{name: "404 from a proxy", fault: func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("<html>no such page</html>"))
	}, errSay: "HTTP 404"},
	{name: "connection dropped", fault: func(w http.ResponseWriter, _ *http.Request) {
		hj, _ := w.(http.Hijacker)
		c, _, _ := hj.Hijack()
		c.Close()
	}, errSay: "request failed"},
}

// checkErr checks err against what tt says of it.
func (tt checkCase) checkErr(t *testing.T, err error) {
	t.Helper()
	if tt.errSay == "" {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnknownSchema) || errors.Is(err, ErrDecode) || errors.Is(err, ErrBadWireFormat) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if errors.Is(err, ErrAuthentication) != tt.auth2 {
		t.Errorf("errors.Is(%v, ErrAuthentication) = %v, want %v", err, !tt.auth2, tt.auth2)
	}
	if !strings.Contains(err.Error(), tt.errSay) || len(err.Error()) > 400 {
		t.Errorf("error %q does not say %q (or is too long)", err, tt.errSay)
	}
	if leaksCredential(err.Error()) {
		t.Errorf("error quotes a credential: %v", err)
	}
}

func TestCheck(t *testing.T) {
	for _, tt := range checkCases {
		t.Run(tt.name, func(t *testing.T) {
			var opts []srfake.Option
			if tt.auth != "" {
				opts = append(opts, srfake.WithAuth(tt.auth))
			}
			reg := newFakeRegistry(t, opts...)
			reg.register(t, "orders-value", sr.Schema{Schema: personSchema})
			reg.setFault(tt.fault)
			d := newTestDecoder(t, reg, tt.cfg)
			tt.checkErr(t, d.Check(context.Background()))
			if n := reg.requests.Load(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// TestCheckNotARegistry: something answers 200, but not with a subject
// list (a login page, a web server at the wrong URL).
func TestCheckNotARegistry(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.setFault(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<html>login</html>")) })
	err := newTestDecoder(t, reg, Config{}).Check(context.Background())
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrAuthentication) || !strings.Contains(err.Error(), "not a subject list") {
		t.Fatalf("got %v", err)
	}
}

func TestCheckUnreachable(t *testing.T) {
	reg := newFakeRegistry(t)
	d := newTestDecoder(t, reg, Config{})
	reg.srv.Close()
	err := d.Check(context.Background())
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrAuthentication) || !strings.Contains(err.Error(), "GET /subjects: request failed") {
		t.Fatalf("closed server: %v", err)
	}
	if _, err := d.SubjectExists(context.Background(), "orders-value"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("closed server, SubjectExists: %v", err)
	}
}

// TestCheckTimeout: a registry that does not answer within Config.Timeout
// is unavailable, and the error says it timed out.
func TestCheckTimeout(t *testing.T) {
	reg := newFakeRegistry(t)
	d := newTestDecoder(t, reg, Config{Timeout: 50 * time.Millisecond})
	gate := make(chan struct{})
	reg.gate.Store(&gate)
	t.Cleanup(func() { close(gate) })
	err := d.Check(context.Background())
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("got %v, want ErrUnavailable saying it timed out", err)
	}
	_, err = d.SubjectExists(context.Background(), "orders-value")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("SubjectExists: got %v, want ErrUnavailable saying it timed out", err)
	}

	// The caller's context bounds the request too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Check(ctx); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}

func TestSubjectExists(t *testing.T) {
	reg := newFakeRegistry(t)
	reg.register(t, "orders-value", sr.Schema{Schema: personSchema})
	reg.register(t, "team.a b/c-value", sr.Schema{Schema: personSchema})
	reg.register(t, "deleted-value", sr.Schema{Schema: personSchema})
	req, err := http.NewRequest(http.MethodDelete, reg.URL()+"/subjects/deleted-value", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("delete: %v %v", resp, err)
	}
	resp.Body.Close()
	d := newTestDecoder(t, reg, Config{})

	tests := []struct {
		subject string
		want    bool
	}{
		{"orders-value", true},
		{"team.a b/c-value", true}, // escaped in the path
		{"payments-value", false},  // 404, error code 40401
		{"deleted-value", false},   // soft-deleted
		{"orders-value/versions", false},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			before := reg.requests.Load()
			got, err := d.SubjectExists(context.Background(), tt.subject)
			if err != nil || got != tt.want {
				t.Fatalf("SubjectExists(%q) = %v, %v; want %v", tt.subject, got, err, tt.want)
			}
			if n := reg.requests.Load() - before; n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
	if _, err := d.SubjectExists(context.Background(), ""); !errors.Is(err, ErrUnavailable) {
		t.Errorf("empty subject: %v", err)
	}
}

// TestSubjectExistsFailures: every registry failure is an error, never
// "does not exist"; the authentication failures say so.
func TestSubjectExistsFailures(t *testing.T) {
	for _, tt := range checkCases {
		t.Run(tt.name, func(t *testing.T) {
			var opts []srfake.Option
			if tt.auth != "" {
				opts = append(opts, srfake.WithAuth(tt.auth))
			}
			reg := newFakeRegistry(t, opts...)
			reg.register(t, "orders-value", sr.Schema{Schema: personSchema})
			reg.setFault(tt.fault)
			d := newTestDecoder(t, reg, tt.cfg)
			got, err := d.SubjectExists(context.Background(), "orders-value")
			tt.checkErr(t, err)
			if want := tt.errSay == ""; got != want {
				t.Errorf("SubjectExists = %v, want %v", got, want)
			}
		})
	}
}
