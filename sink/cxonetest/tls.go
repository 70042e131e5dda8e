package cxonetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// DefaultCertHosts are the names the certificate of [NewTLSServer] is valid
// for. cxone.test (RFC 6761 reserves .test) lets tests reach the server
// through a proxy under a name that is not loopback-named.
var DefaultCertHosts = []string{"localhost", "cxone.test", "*.cxone.test", "127.0.0.1", "::1"}

// NewTLSServer is [NewServer] over HTTPS, with HTTP/2 offered (ALPN h2 and
// http/1.1), and a certificate for [DefaultCertHosts] signed by a fresh
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

// GenerateCert makes a throw-away certificate authority and a server
// certificate it signed, valid for 24 hours for hosts (names or IP
// addresses). It returns the server certificate (for [tls.Config]) and the
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
