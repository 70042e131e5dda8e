// Package cafile is the bridge's one check of a file of certificate
// authorities (a PEM bundle), used wherever such a file is named: the
// configuration loader checks cxone.ca_file and kafka.tls.ca_file with it
// at load, the CXone client (package sink) and the Kafka connection
// (package kafkaconn) load them with it. So a file is accepted or refused
// the same way everywhere, with one strictness: it must hold at least one
// certificate, and every certificate in it must parse.
//
// Errors name the file (Load) and the certificate's number, never a part
// of what the file holds: x509's own parse errors may quote a
// certificate's names, and a file named by mistake may hold a secret.
package cafile

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrNoCertificates: the data holds no PEM CERTIFICATE block.
var ErrNoCertificates = errors.New("no PEM certificate found")

// CertError is a CERTIFICATE block that is not a valid X.509 certificate.
type CertError struct {
	// N is the block's number among the file's CERTIFICATE blocks, from 1.
	N int
}

func (e *CertError) Error() string {
	return fmt.Sprintf("certificate %d is not a valid X.509 certificate", e.N)
}

// Parse returns the certificates of a PEM bundle. It fails with
// [ErrNoCertificates] unless data holds at least one CERTIFICATE block,
// and with a [*CertError] when one of them does not parse. Blocks of other
// types are ignored.
func Parse(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, &CertError{N: len(certs) + 1}
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, ErrNoCertificates
	}
	return certs, nil
}

// Load reads the PEM bundle at path, checks it with [Parse] and adds its
// certificates to pool (to a new, empty pool when pool is nil), which it
// returns. An error reads "CA file PATH: what is wrong".
func Load(path string, pool *x509.CertPool) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is said once, below
		}
		return nil, fmt.Errorf("CA file %s: %w", path, err)
	}
	certs, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", path, err)
	}
	if pool == nil {
		pool = x509.NewCertPool()
	}
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}
