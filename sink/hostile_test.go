package sink_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/cxone-bridge/bridge/logbuf"
	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// Secrets with every character that an encoding changes.
const (
	hostileClientID  = "client id+1"
	hostileAppID     = "app id+2"
	hostileSecret    = "cs+/=&Sécret%41 x"
	hostileAppSecret = "app+/=&Sécret%42 y"
	hostileKeyID     = "AK-hostile"
	hostileKeySecret = "ak+/=&Sécret%43 z"
)

// forbidden lists what must never appear: each secret raw and
// form-URL-encoded (each also as JSON and Go quoting escape it), and the
// Basic credentials in both forms.
func forbidden(id string, secrets ...string) []string {
	qe := url.QueryEscape
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	out := []string{b64(id + ":" + secrets[0]), b64(qe(id) + ":" + qe(secrets[0]))}
	for _, s := range secrets {
		for _, v := range []string{s, qe(s)} {
			js, _ := json.Marshal(v)                     // as slog's JSON handler writes it
			goq := strconv.Quote(v)                      // as an error message quotes an excerpt
			jgoq, _ := json.Marshal(goq[1 : len(goq)-1]) // both
			out = append(out, v, string(js[1:len(js)-1]), goq[1:len(goq)-1], string(jgoq[1:len(jgoq)-1]))
		}
	}
	return out
}

func assertNone(t *testing.T, what, text string, values []string) {
	t.Helper()
	for _, v := range values {
		if strings.Contains(text, v) {
			t.Errorf("%s contains %q:\n%.3000s", what, v, text)
		}
	}
}

// assertLines checks every line of a log is at most max bytes.
func assertLines(t *testing.T, logs string, max int) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		if n := len(sc.Bytes()); n > max {
			t.Errorf("log line of %d bytes (max %d): %.300s…", n, max, sc.Text())
		}
	}
}

type tokenErrors struct {
	mu   sync.Mutex
	errs []error
}

func (o *tokenErrors) Published(time.Duration, sink.Result, *sink.Error) {}
func (o *tokenErrors) Retrying(string)                                   {}
func (o *tokenErrors) TokenFetched(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.errs = append(o.errs, err)
}

// TestTokenEndpointEchoScrubbed: the token endpoint fails with a 1 MiB
// gateway page echoing the request (Basic header, form with the access key
// secret), or with a JSON error echoing it. In both auth modes (secrets
// inline and in files) and both forms of the Basic header, the error of
// FetchToken and of Publish, the excerpt, what the Observer is told and
// the logs hold no secret and no Basic encoding, are bounded, and no
// oauth2.RetrieveError is kept.
func TestTokenEndpointEchoScrubbed(t *testing.T) {
	dir := t.TempDir()
	for name, v := range map[string]string{"app.secret": hostileAppSecret, "key.secret": hostileKeySecret} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	modes := []struct {
		name   string
		cfg    func(srv *cxonetest.Server) sink.Config
		values []string
	}{
		{"client_credentials", func(srv *cxonetest.Server) sink.Config {
			cfg := testConfig(srv.URL)
			cfg.ClientID, cfg.ClientSecret = hostileClientID, hostileSecret
			return cfg
		}, forbidden(hostileClientID, hostileSecret)},
		{"access_key, secrets in files", func(srv *cxonetest.Server) sink.Config {
			cfg := testConfig(srv.URL)
			cfg.AuthMode, cfg.TokenURL = sink.AuthAccessKey, srv.URL+cxonetest.AuthTokenPath
			cfg.ClientID, cfg.ClientSecret, cfg.ClientSecretFile = hostileAppID, "", filepath.Join(dir, "app.secret")
			cfg.AccessKeyID, cfg.AccessKeySecretFile = hostileKeyID, filepath.Join(dir, "key.secret")
			return cfg
		}, forbidden(hostileAppID, hostileAppSecret, hostileKeySecret)},
	}
	answers := []struct {
		name   string
		faults cxonetest.Faults
		status int
		code   string
	}{
		{"HTML page", cxonetest.Faults{TokenStatus: 502, TokenErrorHTML: true, EchoRequests: true, ErrorBodyBytes: 1 << 20}, 502, ""},
		{"JSON", cxonetest.Faults{TokenStatus: 401, EchoRequests: true, ErrorBodyBytes: 1 << 20}, 401, "temporarily_unavailable"},
	}
	for _, m := range modes {
		for _, a := range answers {
			for _, form := range []string{cxonetest.BasicRaw, cxonetest.BasicRFC6749} {
				t.Run(m.name+"/"+a.name+"/"+form, func(t *testing.T) {
					srv := newServer(t, cxonetest.WithClient(hostileClientID, hostileSecret),
						cxonetest.WithApp(hostileAppID, hostileAppSecret), cxonetest.WithAccessKey(hostileKeyID, hostileKeySecret),
						cxonetest.WithBasicEncoding(form))
					// The credentials work: a token first.
					logs := &logbuf.Buffer{}
					obs := &tokenErrors{}
					cfg := m.cfg(srv)
					cfg.BasicEncoding = sink.BasicEncoding(form)
					cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
					cfg.Observer = obs
					p := newPublisher(t, cfg)
					if err := p.FetchToken(context.Background()); err != nil {
						t.Fatal(err)
					}
					if err := srv.SetFaults(a.faults); err != nil {
						t.Fatal(err)
					}
					srv.RevokeTokens()

					// FetchToken returns the cached token: use a new publisher.
					p = newPublisher(t, cfg)
					err := p.FetchToken(context.Background())
					e := asError(t, err)
					var te *sink.TokenError
					var re *oauth2.RetrieveError
					if !errors.Is(err, sink.ErrSystemic) || !errors.As(err, &te) || errors.As(err, &re) ||
						e.Status != a.status || te.Status != a.status || te.Code != a.code {
						t.Fatalf("got %v (%T), TokenError %+v", err, err, te)
					}
					if len(err.Error()) > 1024 || len(e.Excerpt) > sink.MaxExcerptBytes || !e.Truncated || len(te.Description) > 256 {
						t.Errorf("not bounded: message %d, excerpt %d (truncated %v), description %d",
							len(err.Error()), len(e.Excerpt), e.Truncated, len(te.Description))
					}
					if !strings.Contains(e.Excerpt, "[redacted]") || !strings.Contains(e.Excerpt, "Authorization") {
						t.Errorf("excerpt does not show the scrubbed echo: %s", e.Excerpt)
					}
					_, perr := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
					if !errors.Is(perr, sink.ErrSystemic) || errors.As(perr, &re) {
						t.Fatalf("Publish: %v", perr)
					}
					obs.mu.Lock()
					var observed []string
					for _, oe := range obs.errs {
						if oe != nil {
							if errors.As(oe, &re) {
								t.Error("the Observer was given an oauth2.RetrieveError")
							}
							observed = append(observed, oe.Error())
						}
					}
					obs.mu.Unlock()
					for what, text := range map[string]string{"FetchToken error": err.Error(), "excerpt": e.Excerpt,
						"description": te.Description, "Publish error": perr.Error(), "logs": logs.String(),
						"observed errors": strings.Join(observed, "\n")} {
						assertNone(t, what, text, m.values)
					}
					assertLines(t, logs.String(), 8<<10)
					t.Logf("%v", err)
				})
			}
		}
	}
}

// TestEventsEchoScrubbed: the events endpoint answers 400 with a 1 MiB
// body echoing the request (Authorization: Bearer …) or 422 with field
// errors quoting the token (in a 16 KiB answer, within MaxResponseBytes:
// the fields are parsed): Error(), Excerpt and Fields hold no token and
// are bounded.
func TestEventsEchoScrubbed(t *testing.T) {
	t.Run("400 echo", func(t *testing.T) {
		srv := newServer(t, cxonetest.WithFaults(cxonetest.Faults{ForceStatus: 400, ForceCount: 1, EchoRequests: true, ErrorBodyBytes: 1 << 20}))
		p := newPublisher(t, testConfig(srv.URL))
		_, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
		e := asError(t, err)
		if !errors.Is(err, sink.ErrRejected) || e.Status != 400 || !e.Truncated || len(e.Excerpt) > sink.MaxExcerptBytes || len(err.Error()) > 1024 {
			t.Fatalf("got %v: excerpt %d bytes, truncated %v", err, len(e.Excerpt), e.Truncated)
		}
		if !strings.Contains(e.Excerpt, `"Authorization":["Bearer [redacted]"]`) {
			t.Errorf("excerpt does not show the scrubbed echo: %s", e.Excerpt)
		}
		tokens := srv.IssuedTokens()
		if len(tokens) == 0 {
			t.Fatal("no token issued")
		}
		assertNone(t, "Error()", err.Error(), tokens)
		assertNone(t, "Excerpt", e.Excerpt, tokens)
	})
	t.Run("422 fields", func(t *testing.T) {
		tokens := cxonetest.NewHandler()
		mux := http.NewServeMux()
		mux.Handle(cxonetest.TokenPath, tokens)
		mux.HandleFunc(cxonetest.EventsPath, func(w http.ResponseWriter, r *http.Request) {
			auth := r.Header.Get("Authorization")
			tok := strings.TrimPrefix(auth, "Bearer ")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(422)
			fmt.Fprintf(w, `{"errors":[{"field":"Authorization","message":%q},{"field":%q,"message":"token was %s"}],"pad":%q}`,
				auth, tok, tok, strings.Repeat("p", 16<<10))
		})
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		p := newPublisher(t, testConfig(srv.URL))
		_, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
		e := asError(t, err)
		if !errors.Is(err, sink.ErrRejected) || len(e.Fields) != 2 || len(err.Error()) > 1024 {
			t.Fatalf("got %v, fields %v", err, e.Fields)
		}
		issued := tokens.IssuedTokens()
		assertNone(t, "Error()", err.Error(), issued)
		assertNone(t, "Fields", fmt.Sprint(e.Fields), issued)
		assertNone(t, "Excerpt", e.Excerpt, issued)
		if e.Fields[0].Message != "Bearer [redacted]" {
			t.Errorf("fields %v", e.Fields)
		}
	})
}

// TestAllowedHosts: a discovered token endpoint or API base on a host
// that Config.AllowedHosts does not list is refused (a systemic discovery
// error naming the member and the host) and nothing is sent to it; a
// configured URL is not checked; a cached endpoint on such a host is not
// used.
func TestAllowedHosts(t *testing.T) {
	srv := newServer(t) // announces itself, http://127.0.0.1:port
	notListed := []string{"cxone.example.com", ".niceincontact.com"}
	discovering := func(allowed []string) sink.Config {
		cfg := accessKeyConfig(srv.URL, "")
		cfg.AllowInsecureHTTP = true
		cfg.AllowedHosts = allowed
		return cfg
	}
	check := func(t *testing.T, cfg sink.Config, member string, tokenDiscovered bool) {
		t.Helper()
		before := srv.Stats()
		p := newPublisher(t, cfg)
		_, err := p.Endpoints(context.Background())
		var de *sink.DiscoveryError
		want := member + ` is on host "127.0.0.1", which is not in the allowed hosts`
		if !errors.As(err, &de) || !errors.Is(err, sink.ErrHostNotAllowed) || !strings.Contains(err.Error(), want) {
			t.Fatalf("Endpoints: %v, want a DiscoveryError saying %q", err, want)
		}
		_, perr := p.Publish(context.Background(), orderEvent(uniqueKey(), "c"))
		if !errors.Is(perr, sink.ErrSystemic) || !errors.Is(perr, sink.ErrHostNotAllowed) {
			t.Fatalf("Publish: %v", perr)
		}
		if err := p.FetchToken(context.Background()); tokenDiscovered && !errors.Is(err, sink.ErrHostNotAllowed) {
			t.Fatalf("FetchToken: %v", err)
		}
		after := srv.Stats()
		if (tokenDiscovered && after.TokenRequests != before.TokenRequests) || after.Requests != before.Requests {
			t.Errorf("requests reached the refused host: %+v → %+v", before, after)
		}
	}
	t.Run("api_endpoint", func(t *testing.T) {
		cfg := discovering(notListed)
		cfg.TokenURL = srv.URL + cxonetest.AuthTokenPath // configured: not checked
		check(t, cfg, "api_endpoint", false)
	})
	t.Run("token_endpoint", func(t *testing.T) {
		cfg := discovering(notListed)
		cfg.DiscoverAPIEndpoint, cfg.TenantID, cfg.BaseURL = false, "", srv.URL // configured: not checked
		check(t, cfg, "token_endpoint", true)
	})
	t.Run("listed", func(t *testing.T) {
		for _, allowed := range [][]string{{"127.0.0.1"}, {"other.example", "127.0.0.1."}} {
			p := newPublisher(t, discovering(allowed))
			if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); err != nil {
				t.Fatalf("%v: %v", allowed, err)
			}
		}
	})
	t.Run("cache file", func(t *testing.T) {
		cache := filepath.Join(t.TempDir(), "discovery.json")
		cfg := discovering(nil)
		cfg.DiscoveryCacheFile = cache
		if _, err := newPublisher(t, cfg).Endpoints(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The issuer is unreachable now; the cache holds 127.0.0.1, not listed.
		cfg = discovering(notListed)
		cfg.DiscoveryCacheFile = cache
		cfg.Proxy = func(r *http.Request) (*url.URL, error) {
			if strings.HasPrefix(r.URL.Path, "/.well-known/") {
				return url.Parse("http://127.0.0.1:1")
			}
			return nil, nil
		}
		before := srv.Stats()
		p := newPublisher(t, cfg)
		if _, err := p.Publish(context.Background(), orderEvent(uniqueKey(), "c")); !errors.Is(err, sink.ErrSystemic) {
			t.Fatalf("Publish with a cache on a host not allowed: %v", err)
		}
		if after := srv.Stats(); after.TokenRequests != before.TokenRequests || after.Requests != before.Requests {
			t.Errorf("requests reached the refused host: %+v → %+v", before, after)
		}
	})
	t.Run("invalid entries", func(t *testing.T) {
		for _, h := range []string{"", ".", "https://x.example", "x.example:443", "x.example/path", "*.example", "..example"} {
			cfg := discovering([]string{h})
			if _, err := sink.New(cfg); err == nil || !strings.Contains(err.Error(), "AllowedHosts[0]") {
				t.Errorf("%q: %v", h, err)
			}
		}
	})
}

// TestRefusedTokenEchoScrubbed: the token endpoint refuses the
// credentials (400 invalid_client, which makes the grant read the secrets
// again) with an answer echoing the inline secret, in the form and as the
// Basic header: the Publisher's errors keep neither, nor the
// oauth2.RetrieveError that holds the whole answer.
func TestRefusedTokenEchoScrubbed(t *testing.T) {
	const secret = "inline-secret-echoed-by-a-refusal"
	cfg := testConfig("http://127.0.0.1:1")
	cfg.ClientSecret = secret
	body := []byte(`{"error":"invalid_client","echo":"client_secret=` + secret + `&Authorization: Basic ` +
		base64.StdEncoding.EncodeToString([]byte(cfg.ClientID+":"+secret)) + `"}`)
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write(body)
	}))
	t.Cleanup(tokens.Close)
	cfg.TokenURL = tokens.URL + "/oauth/token"
	p := newPublisher(t, cfg)
	err := p.FetchToken(context.Background())
	var re *oauth2.RetrieveError
	var te *sink.TokenError
	if !errors.As(err, &te) || errors.As(err, &re) || te.Code != "invalid_client" || te.Status != 400 {
		t.Fatalf("got %v", err)
	}
	e := asError(t, err)
	assertNone(t, "error", err.Error()+e.Excerpt, forbidden(cfg.ClientID, secret))
}
