package sink

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/cxone-bridge/bridge/cafile"
)

// newHTTPClient builds the client shared by the token endpoint, discovery
// and the events endpoint, tuned for [Config.MaxInFlight] concurrent
// requests to one host. It guarantees:
//
//   - HTTP/2 is used when the server offers it (ALPN), although the
//     transport has its own dialer and TLS configuration (ForceAttemptHTTP2);
//   - TLS 1.2 at least, trusting the system's authorities plus those of
//     [Config.CAFile] (checked by [cafile.Load]: a file without a
//     certificate, or with one that does not parse, is an error naming it);
//   - requests go through the proxy [Config.Proxy] chooses, by default the
//     one HTTPS_PROXY/HTTP_PROXY/NO_PROXY name, read now (net/http's
//     ProxyFromEnvironment reads them once per process); a proxy for an
//     https URL is asked to CONNECT, so the proxy resolves the host name;
//   - redirects are not followed: a 3xx from CXone means the configured URL
//     is wrong (systemic).
func newHTTPClient(cfg Config) (*http.Client, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pool, err := loadCAFile(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		tlsCfg.RootCAs = pool
	}
	proxy := cfg.Proxy
	if proxy == nil {
		proxy = proxyFromEnvironment()
	}
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 proxy,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   cfg.TLSHandshakeTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		// CXone's answers are a few bytes of JSON: asking for gzip (the
		// transport's default) cost a header added to every request and
		// bought nothing.
		DisableCompression:  true,
		MaxIdleConns:        cfg.MaxInFlight + 8, // + the token endpoint, if on another host
		MaxIdleConnsPerHost: cfg.MaxInFlight,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   cfg.RequestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// proxyFromEnvironment returns the proxy function of the current
// environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, and lower-case forms),
// read at this call. Like net/http it never proxies localhost or loopback
// addresses.
func proxyFromEnvironment() func(*http.Request) (*url.URL, error) {
	f := httpproxy.FromEnvironment().ProxyFunc()
	return func(r *http.Request) (*url.URL, error) { return f(r.URL) }
}

// loadCAFile returns the system pool plus every certificate of the PEM
// file at path.
func loadCAFile(path string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	return cafile.Load(path, pool)
}
