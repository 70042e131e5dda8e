package cxonetest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"
)

// What the real CXone platform adds to the tutorial's contract (docs/design.md §7):
// back-end applications registered with a client id and secret obtain tokens
// with the OAuth2 password grant and a user's access key; the issuer
// publishes an OpenID discovery document and, per tenant, the API base URL.
const (
	// AuthTokenPath is CXone's token endpoint path (the tutorial's is TokenPath).
	AuthTokenPath = "/auth/token"
	// OpenIDConfigPath is the OpenID Connect discovery document of the issuer.
	OpenIDConfigPath = "/.well-known/openid-configuration"
	// CXoneConfigPath answers ?tenantId=… with the tenant's endpoints.
	CXoneConfigPath = "/.well-known/cxone-configuration"

	// Default registration of the password-grant application, its user's
	// access key and the tenant, present unless replaced with WithApp,
	// WithAccessKey and WithTenant.
	DefaultAppID           = "cxone-app-id"
	DefaultAppSecret       = "cxone-app-secret"
	DefaultAccessKeyID     = "cxone-access-key-id"
	DefaultAccessKeySecret = "cxone-access-key-secret"
	DefaultTenantID        = "11111111-2222-3333-4444-555555555555"

	grantClientCredentials = "client_credentials"
	grantPassword          = "password"
)

// WithApp registers a CXone back-end application: a client that may use the
// password grant (with a registered access key) and only that grant. Without
// scopes it may be granted WriteScope. The first WithApp replaces the
// default application (DefaultAppID).
func WithApp(id, secret string, scopes ...string) Option {
	return func(h *Handler) {
		if !h.customApps {
			for k, c := range h.clients {
				if c.grant == grantPassword {
					delete(h.clients, k)
				}
			}
			h.customApps = true
		}
		if len(scopes) == 0 {
			scopes = []string{WriteScope}
		}
		h.clients[id] = client{secret: secret, scopes: scopes, grant: grantPassword}
	}
}

// WithAccessKey registers a user's access key (the password grant's username
// and password). The first WithAccessKey replaces the default one.
func WithAccessKey(id, secret string) Option {
	return func(h *Handler) {
		if !h.customKeys {
			h.accessKeys = map[string]string{}
			h.customKeys = true
		}
		h.accessKeys[id] = secret
	}
}

// WithTenant registers a tenant for /.well-known/cxone-configuration.
// apiEndpoint is the api_endpoint announced for it; "" announces the
// server's own base URL (as the request reached it). The first WithTenant
// replaces the default tenant (DefaultTenantID).
func WithTenant(id, apiEndpoint string) Option {
	return func(h *Handler) {
		if !h.customTenants {
			h.tenants = map[string]string{}
			h.customTenants = true
		}
		h.tenants[id] = apiEndpoint
	}
}

// WithIssuer fixes the issuer announced by the OpenID discovery document;
// by default it is the server's base URL as the request reached it (scheme
// and Host header), so a client using another host name sees a consistent
// document.
func WithIssuer(issuer string) Option { return func(h *Handler) { h.issuer = issuer } }

// SetClientSecret replaces the secret of a registered client or
// application (a rotation): from now on only the new secret is accepted.
// Issued tokens stay valid. It reports whether id is registered.
func (h *Handler) SetClientSecret(id, secret string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.clients[id]
	if ok {
		c.secret = secret
		h.clients[id] = c
	}
	return ok
}

// SetAccessKeySecret replaces the secret of a registered access key (a
// rotation). Issued tokens stay valid. It reports whether id is registered.
func (h *Handler) SetAccessKeySecret(id, secret string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.accessKeys[id]
	if ok {
		h.accessKeys[id] = secret
	}
	return ok
}

// baseURL is the server's base URL as this request reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (h *Handler) serveOpenIDConfig(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.stats.DiscoveryRequests++
	iss := h.issuer
	h.mu.Unlock()
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, errBody("invalid_request", "GET required"))
		return
	}
	base := baseURL(r)
	if iss == "" {
		iss = base
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"token_endpoint":                        base + AuthTokenPath,
		"grant_types_supported":                 []string{grantPassword, grantClientCredentials},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"response_types_supported":              []string{"token"},
		"scopes_supported":                      []string{WriteScope},
	})
}

func (h *Handler) serveCXoneConfig(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.stats.DiscoveryRequests++
	h.mu.Unlock()
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, errBody("invalid_request", "GET required"))
		return
	}
	id := r.URL.Query().Get("tenantId")
	if id == "" {
		writeJSON(w, http.StatusBadRequest, errBody("invalid_request", "tenantId is required"))
		return
	}
	h.mu.Lock()
	api, ok := h.tenants[id]
	h.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, errBody("tenant_not_found", "no such tenant"))
		return
	}
	base := baseURL(r)
	if api == "" {
		api = base
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenantId":      id,
		"private":       false,
		"area":          "na1",
		"cluster":       "T01",
		"api_endpoint":  api,
		"ui_endpoint":   base,
		"auth_endpoint": base,
	})
}

// serveCredentials implements POST /_sim/credentials (rotation).
func (h *Handler) serveCredentials(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ClientID        string `json:"client_id"`
		ClientSecret    string `json:"client_secret"`
		AccessKeyID     string `json:"access_key_id"`
		AccessKeySecret string `json:"access_key_secret"`
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, errBody("invalid_request", "want {client_id, client_secret} and/or {access_key_id, access_key_secret}"))
		return
	}
	changed := 0
	if in.ClientID != "" {
		if in.ClientSecret == "" || !h.SetClientSecret(in.ClientID, in.ClientSecret) {
			writeJSON(w, http.StatusNotFound, errBody("not_found", "unknown client, or empty secret"))
			return
		}
		changed++
	}
	if in.AccessKeyID != "" {
		if in.AccessKeySecret == "" || !h.SetAccessKeySecret(in.AccessKeyID, in.AccessKeySecret) {
			writeJSON(w, http.StatusNotFound, errBody("not_found", "unknown access key, or empty secret"))
			return
		}
		changed++
	}
	h.log.Info("credentials rotated", "count", changed)
	writeJSON(w, http.StatusOK, map[string]int{"rotated": changed})
}

// GenerateCert makes a throw-away certificate authority and a server
// certificate it signed, valid for 24 hours for hosts (names or IP
// addresses). It returns the server certificate (for tls.Config) and the
// authority's certificate in PEM (for the client's trust store).
func GenerateCert(hosts ...string) (tls.Certificate, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	serial := func() *big.Int { n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62)); return n }
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "cxonetest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "cxonetest"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, host := range hosts {
		if ip := net.ParseIP(host); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, host)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caPEM, nil
}

// DefaultCertHosts are the names the certificate of NewTLSServer is valid
// for. cxone.test (RFC 6761 reserves .test) lets tests reach the server
// through a proxy under a name that is not loopback-named.
var DefaultCertHosts = []string{"localhost", "cxone.test", "*.cxone.test", "127.0.0.1", "::1"}

// NewTLSServer is NewServer over HTTPS, with HTTP/2 offered (ALPN h2 and
// http/1.1), and a certificate for DefaultCertHosts signed by a fresh
// authority whose PEM is in CACert. Like httptest it panics if it cannot
// start.
func NewTLSServer(opts ...Option) *Server {
	cert, caPEM, err := GenerateCert(DefaultCertHosts...)
	if err != nil {
		panic(fmt.Sprintf("cxonetest: certificate: %v", err))
	}
	s := newServer(opts...)
	s.CACert = caPEM
	s.URL = "https://" + s.Listener.Addr().String()
	s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	go s.srv.ServeTLS(s.Listener, "", "")
	return s
}

// URLWithHost returns the server's base URL with host in place of the
// loopback address (the port stays), e.g. https://cxone.test:41234.
func (s *Server) URLWithHost(host string) string {
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	scheme, _, _ := strings.Cut(s.URL, "://")
	return scheme + "://" + net.JoinHostPort(host, port)
}
