package cafile_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/cafile"
)

func newCA(t *testing.T, name string) (*x509.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParse(t *testing.T) {
	_, a := newCA(t, "ca-a")
	_, b := newCA(t, "ca-b")
	const leak = "TOP-SECRET-in-the-wrong-file"
	notACert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte(leak)})
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte(leak)})
	for name, tc := range map[string]struct {
		data  []byte
		certs int
		err   string
	}{
		"one":                  {a, 1, ""},
		"two":                  {append(append([]byte{}, a...), b...), 2, ""},
		"other blocks skipped": {append(append([]byte{}, key...), a...), 1, ""},
		"empty":                {nil, 0, "no PEM certificate found"},
		"not PEM":              {[]byte(leak), 0, "no PEM certificate found"},
		"only a key":           {key, 0, "no PEM certificate found"},
		// One good certificate does not make a bad one acceptable.
		"second is bad": {append(append([]byte{}, a...), notACert...), 0, "certificate 2 is not a valid X.509 certificate"},
		"first is bad":  {append(append([]byte{}, notACert...), a...), 0, "certificate 1 is not a valid X.509 certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			certs, err := cafile.Parse(tc.data)
			if tc.err == "" {
				if err != nil || len(certs) != tc.certs {
					t.Fatalf("got %d certificates, %v; want %d", len(certs), err, tc.certs)
				}
				return
			}
			if err == nil || err.Error() != tc.err {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if strings.Contains(err.Error(), leak) {
				t.Errorf("the error quotes the file: %v", err)
			}
		})
	}
	if _, err := cafile.Parse(nil); !errors.Is(err, cafile.ErrNoCertificates) {
		t.Errorf("errors.Is(ErrNoCertificates) = false for %v", err)
	}
	var ce *cafile.CertError
	if _, err := cafile.Parse(notACert); !errors.As(err, &ce) || ce.N != 1 {
		t.Errorf("errors.As(*CertError) failed for %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	cert, data := newCA(t, "ca-load")
	good := write(t, dir, "ca.pem", data)
	pool, err := cafile.Load(good, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Errorf("the loaded pool does not trust the CA: %v", err)
	}
	// Added to a given pool, which is returned.
	base := x509.NewCertPool()
	other, _ := newCA(t, "ca-other")
	base.AddCert(other)
	pool, err = cafile.Load(good, base)
	if err != nil || pool != base {
		t.Fatalf("Load into a pool: %v", err)
	}
	for _, c := range []*x509.Certificate{cert, other} {
		if _, err := c.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
			t.Errorf("%s not trusted: %v", c.Subject.CommonName, err)
		}
	}

	bad := write(t, dir, "bad.pem", []byte("TOP-SECRET"))
	missing := filepath.Join(dir, "nope.pem")
	for path, want := range map[string]string{
		bad:     "CA file " + bad + ": no PEM certificate found",
		missing: "CA file " + missing + ": no such file or directory",
	} {
		_, err := cafile.Load(path, nil)
		if err == nil || err.Error() != want {
			t.Errorf("Load(%s) = %v, want %q", path, err, want)
		}
	}
	if _, err := cafile.Load(missing, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: errors.Is(fs.ErrNotExist) = false")
	}
}
