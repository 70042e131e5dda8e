package sink_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/cxone-bridge/bridge/sink"
)

// fuzzMarker stands for a secret that landed in a document: errors must
// never quote document values, so it must never appear in one.
const fuzzMarker = "s3cr3t-MARK"

func checkDiscoveryErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if !errors.Is(err, sink.ErrBadDocument) && !errors.Is(err, sink.ErrInsecureEndpoint) {
		t.Fatalf("error wraps no sentinel: %v", err)
	}
	if msg := err.Error(); strings.Contains(msg, fuzzMarker) || len(msg) > 200 {
		t.Fatalf("error quotes the document or is unbounded: %q", msg)
	}
}

func checkAnnouncedURL(t *testing.T, raw string, allowHTTP bool) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || (u.Scheme != "https" && !(allowHTTP && u.Scheme == "http")) {
		t.Fatalf("accepted URL %q (allowHTTP %v)", raw, allowHTTP)
	}
}

// FuzzParseOpenIDConfiguration: never panics; accepts only documents whose
// issuer matches and whose token endpoint is a clean https URL; errors wrap
// a sentinel and never quote the document.
func FuzzParseOpenIDConfiguration(f *testing.F) {
	f.Add([]byte(`{"issuer":"https://cxone.niceincontact.com","token_endpoint":"https://cxone.niceincontact.com/auth/token"}`), false)
	f.Add([]byte(`{"issuer":"https://cxone.niceincontact.com/","token_endpoint":"http://x/auth/token"}`), true)
	f.Add([]byte(`{"issuer":"https://cxone.niceincontact.com","token_endpoint":"https://u:`+fuzzMarker+`@x/t"}`), false)
	f.Add([]byte(`{"issuer":"`+fuzzMarker+`","token_endpoint":"`+fuzzMarker+`"}`), false)
	f.Add([]byte(`{"issuer":"https://cxone.niceincontact.com","token_endpoint":"https://x/t#`+fuzzMarker+`"}`), false)
	f.Add([]byte(`{"issuer":1,"token_endpoint":null} {}`), false)
	f.Add([]byte(`[]`), false)
	f.Fuzz(func(t *testing.T, doc []byte, allowHTTP bool) {
		c, err := sink.ParseOpenIDConfiguration(doc, sink.DefaultIssuer, allowHTTP)
		checkDiscoveryErr(t, err)
		if err == nil {
			if strings.TrimRight(c.Issuer, "/") != sink.DefaultIssuer {
				t.Fatalf("issuer %q accepted", c.Issuer)
			}
			checkAnnouncedURL(t, c.TokenEndpoint, allowHTTP)
		}
	})
}

// FuzzParseCXoneConfiguration: never panics; accepts only a clean https
// api_endpoint without query and a matching tenant id; errors wrap a
// sentinel and never quote the document.
func FuzzParseCXoneConfiguration(f *testing.F) {
	const tenant = "11111111-2222-3333-4444-555555555555"
	f.Add([]byte(`{"tenantId":"`+tenant+`","area":"na1","api_endpoint":"https://api-na1.niceincontact.com","ui_endpoint":"https://na1.nice-incontact.com"}`), false)
	f.Add([]byte(`{"api_endpoint":"https://api-na1.niceincontact.com/?`+fuzzMarker+`"}`), false)
	f.Add([]byte(`{"tenantId":"`+fuzzMarker+`","api_endpoint":"https://x"}`), false)
	f.Add([]byte(`{"api_endpoint":"http://`+fuzzMarker+`.example"}`), false)
	f.Add([]byte(`{"api_endpoint":"https://`+fuzzMarker+`:`+fuzzMarker+`@x"}`), true)
	f.Add([]byte(`{"api_endpoint":["https://x"]}`), false)
	f.Add([]byte("\xff"), false)
	f.Fuzz(func(t *testing.T, doc []byte, allowHTTP bool) {
		c, err := sink.ParseCXoneConfiguration(doc, tenant, allowHTTP)
		checkDiscoveryErr(t, err)
		if err == nil {
			checkAnnouncedURL(t, c.APIEndpoint, allowHTTP)
			if u, _ := url.Parse(c.APIEndpoint); u.RawQuery != "" || strings.HasSuffix(c.APIEndpoint, "/") {
				t.Fatalf("api_endpoint %q accepted", c.APIEndpoint)
			}
			if c.TenantID != "" && !strings.EqualFold(c.TenantID, tenant) {
				t.Fatalf("tenant %q accepted", c.TenantID)
			}
		}
	})
}
