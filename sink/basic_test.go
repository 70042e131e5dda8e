package sink_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/cxone-bridge/bridge/logbuf"
	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// Credentials whose raw and RFC 6749 Basic forms differ: the secrets hold
// + / = % and :, the id a space and a +.
const (
	basicClientID  = "bridge client+1"
	basicAppID     = "bridge app+2"
	basicSecret    = "a+b/c=d%e:f"
	basicKeyID     = "AK-basic"
	basicKeySecret = "k+e/y=s%e:c"
)

// basicConfig is a Config for srv in mode with the credentials above, the
// Basic header in form.
func basicConfig(srv string, mode sink.AuthMode, form sink.BasicEncoding) sink.Config {
	cfg := testConfig(srv)
	cfg.ClientID, cfg.ClientSecret, cfg.BasicEncoding = basicClientID, basicSecret, form
	if mode == sink.AuthAccessKey {
		cfg.AuthMode, cfg.TokenURL = sink.AuthAccessKey, srv+cxonetest.AuthTokenPath
		cfg.ClientID = basicAppID
		cfg.AccessKeyID, cfg.AccessKeySecret = basicKeyID, basicKeySecret
	}
	return cfg
}

// TestBasicEncodingAgainstServer: with a secret holding + / = % :, in both
// grants, the sink gets a token from a test server that expects the form
// it sends (raw by default on both sides), keeps working through a 401 and
// its forced refresh, and gets 401 invalid_client from a server that
// expects the other form (which echoes the request); neither the errors
// nor the logs hold a secret or a Basic encoding of them.
func TestBasicEncodingAgainstServer(t *testing.T) {
	raw, rfc := sink.BasicRaw, sink.BasicRFC6749
	for _, mode := range []sink.AuthMode{sink.AuthClientCredentials, sink.AuthAccessKey} {
		for _, tc := range []struct {
			name   string
			sink   sink.BasicEncoding // "": the default
			server string             // "": the default
			ok     bool
		}{
			{"defaults", "", "", true},
			{"raw against raw", raw, cxonetest.BasicRaw, true},
			{"rfc6749 against rfc6749", rfc, cxonetest.BasicRFC6749, true},
			{"raw against rfc6749", raw, cxonetest.BasicRFC6749, false},
			{"rfc6749 against raw", rfc, cxonetest.BasicRaw, false},
			{"default against rfc6749", "", cxonetest.BasicRFC6749, false},
		} {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				opts := []cxonetest.Option{
					cxonetest.WithClient(basicClientID, basicSecret), cxonetest.WithApp(basicAppID, basicSecret),
					cxonetest.WithAccessKey(basicKeyID, basicKeySecret),
					cxonetest.WithFaults(cxonetest.Faults{EchoRequests: true}),
				}
				if tc.server != "" {
					opts = append(opts, cxonetest.WithBasicEncoding(tc.server))
				}
				srv := newServer(t, opts...)
				cfg := basicConfig(srv.URL, mode, tc.sink)
				never := forbidden(cfg.ClientID, basicSecret, basicKeySecret)
				logs := &logbuf.Buffer{}
				cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				p := newPublisher(t, cfg)
				err := p.FetchToken(context.Background())
				if !tc.ok {
					var te *sink.TokenError
					if !errors.Is(err, sink.ErrSystemic) || !errors.As(err, &te) || te.Status != 401 || te.Code != "invalid_client" {
						t.Fatalf("FetchToken: %v, want 401 invalid_client", err)
					}
					e := asError(t, err)
					if !strings.Contains(e.Excerpt, "Authorization") || !strings.Contains(e.Excerpt, "[redacted]") {
						t.Errorf("excerpt does not show the scrubbed echo: %s", e.Excerpt)
					}
					_, perr := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
					if !errors.Is(perr, sink.ErrSystemic) {
						t.Errorf("Publish: %v", perr)
					}
					assertNone(t, "errors", err.Error()+"\n"+e.Excerpt+"\n"+perr.Error(), never)
					assertNone(t, "logs", logs.String(), never)
					return
				}
				if err != nil {
					t.Fatalf("FetchToken: %v", err)
				}
				if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
					t.Fatalf("Publish: %v", err)
				}
				// A 401 forces a refresh, in the same form.
				srv.RevokeTokens()
				if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
					t.Fatalf("Publish after the tokens were revoked: %v", err)
				}
				if st := srv.Stats(); st.TokensIssued != 2 || st.TokenFailures != 0 || st.Accepted != 2 {
					t.Errorf("stats %+v, want 2 tokens issued, none refused, 2 events", st)
				}
				if ev := srv.Events(); len(ev) != 2 || ev[1].ClientID != cfg.ClientID {
					t.Errorf("events %+v, want 2 of client %q", ev, cfg.ClientID)
				}
				assertNone(t, "logs", logs.String(), never)
			})
		}
	}
}

// TestBasicHeaderWireFormat: every token request carries exactly the
// Basic header of the configured form (raw by default), in both grants,
// and the form holds no client credentials.
func TestBasicHeaderWireFormat(t *testing.T) {
	b64 := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	qe := url.QueryEscape
	raw := func(id string) string { return b64(id + ":" + basicSecret) }
	rfc := func(id string) string { return b64(qe(id) + ":" + qe(basicSecret)) }
	type seen struct {
		auth string
		form url.Values
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got <- seen{r.Header.Get("Authorization"), r.PostForm}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"t","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(srv.Close)
	for _, mode := range []sink.AuthMode{sink.AuthClientCredentials, sink.AuthAccessKey} {
		for _, tc := range []struct {
			form sink.BasicEncoding
			want func(id string) string
		}{
			{"", raw},
			{sink.BasicRaw, raw},
			{sink.BasicRFC6749, rfc},
		} {
			t.Run(string(mode)+"/"+string(tc.form), func(t *testing.T) {
				cfg := basicConfig(srv.URL, mode, tc.form)
				cfg.TokenURL = srv.URL + "/token"
				if err := newPublisher(t, cfg).FetchToken(context.Background()); err != nil {
					t.Fatal(err)
				}
				s := <-got
				if want := tc.want(cfg.ClientID); s.auth != want {
					t.Errorf("Authorization %q, want %q", s.auth, want)
				}
				for _, k := range []string{"client_id", "client_secret"} {
					if s.form.Has(k) {
						t.Errorf("the form holds %s: %v", k, s.form)
					}
				}
				if mode == sink.AuthAccessKey && (s.form.Get("username") != basicKeyID || s.form.Get("password") != basicKeySecret) {
					t.Errorf("form %v", s.form)
				}
			})
		}
	}
}

// TestBasicHeaderOnRedirect: with an HTTP client that follows redirects
// (WithHTTPClient), a redirect of the token request to the same host
// carries the Basic header in the configured form, and one to another host
// carries none: the sink replaces the header net/http keeps, and never
// adds one it dropped.
func TestBasicHeaderOnRedirect(t *testing.T) {
	auth := make(chan string, 1)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth <- r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"t","token_type":"Bearer","expires_in":3600}`)
	}))
	t.Cleanup(target.Close)
	_, port, _ := strings.Cut(strings.TrimPrefix(target.URL, "http://"), ":")
	for _, tc := range []struct {
		name, location string
		want           string
	}{
		{"same host", target.URL + "/token",
			"Basic " + base64.StdEncoding.EncodeToString([]byte(basicClientID+":"+basicSecret))},
		{"other host", "http://localhost:" + port + "/token", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, tc.location, http.StatusTemporaryRedirect)
			})
			mux.Handle("/token", target.Config.Handler)
			// The redirecting server and the target share the host
			// 127.0.0.1 ("same host") or not ("other host": localhost).
			from := httptest.NewServer(mux)
			t.Cleanup(from.Close)
			cfg := basicConfig(from.URL, sink.AuthClientCredentials, sink.BasicRaw)
			cfg.TokenURL = from.URL + "/redirect"
			if err := newPublisher(t, cfg, sink.WithHTTPClient(&http.Client{})).FetchToken(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := <-auth; got != tc.want {
				t.Errorf("Authorization at the target %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBasicEncodingConfig: the default form is raw; New refuses an unknown
// form, and a client id holding ":" in the raw form (the server would cut
// the id there).
func TestBasicEncodingConfig(t *testing.T) {
	if d := (sink.Config{}).WithDefaults(); d.BasicEncoding != sink.BasicRaw {
		t.Errorf("default BasicEncoding %q, want raw", d.BasicEncoding)
	}
	if d := sink.DefaultConfig(); d.BasicEncoding != sink.BasicRaw {
		t.Errorf("DefaultConfig().BasicEncoding %q, want raw", d.BasicEncoding)
	}
	for _, tc := range []struct {
		form    sink.BasicEncoding
		id      string
		wantErr string
	}{
		{"", "client", ""},
		{sink.BasicRaw, "client", ""},
		{sink.BasicRFC6749, "client", ""},
		{sink.BasicRFC6749, "client:1", ""},
		{sink.BasicRaw, "client:1", `ClientID holds ":"`},
		{"", "client:1", `ClientID holds ":"`},
		{"RFC6749", "client", `BasicEncoding "RFC6749" is not supported`},
		{"base64", "client", `BasicEncoding "base64" is not supported`},
	} {
		cfg := testConfig("https://cxone.example")
		cfg.ClientID, cfg.BasicEncoding = tc.id, tc.form
		p, err := sink.New(cfg)
		if err == nil {
			p.Close()
		}
		if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%q with id %q: %v, want error %q", tc.form, tc.id, err, tc.wantErr)
		}
	}
}

// TestBasicFormsDiffer: the forms differ exactly when form-URL-encoding
// changes the id or the secret.
func TestBasicFormsDiffer(t *testing.T) {
	for _, tc := range []struct {
		id, secret string
		want       bool
	}{
		{"client", "Plain-Secret_1.x~", false},
		{"client", basicSecret, true},
		{"client", "a+b", true},
		{"client", "a/b", true},
		{"client", "a=b", true},
		{"client", "a%b", true},
		{"client", "a:b", true},
		{"client", "a b", true},
		{"client", "Sécret", true},
		{"my client", "plain", true},
	} {
		if got := sink.BasicFormsDiffer(tc.id, tc.secret); got != tc.want {
			t.Errorf("BasicFormsDiffer(%q, %q) = %v, want %v", tc.id, tc.secret, got, tc.want)
		}
	}
}
