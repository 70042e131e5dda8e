package kafkaconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Probe connects to the cluster with k's connection options and asks one
// broker for metadata, within ctx. It returns nil when a broker answered.
// An authentication or TLS problem is returned as an error that [IsFatal]
// recognises, worded for an operator (which mechanism, which user, what
// the broker said; never a secret); other errors (brokers unreachable) are
// returned wrapped as they are.
func Probe(ctx context.Context, k Config) error {
	opts, err := Options(k)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	if err := cl.Ping(ctx); err != nil {
		return Explain(k, err)
	}
	return nil
}

// FatalError is a connection problem that retrying does not solve:
// credentials refused, a mechanism the broker does not offer, a
// certificate that does not verify.
type FatalError struct {
	Msg string
	Err error
}

func (e *FatalError) Error() string { return e.Msg + ": " + e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }

// IsFatal reports whether err (from [Probe] or [Explain]) is a [*FatalError].
func IsFatal(err error) bool {
	var fe *FatalError
	return errors.As(err, &fe)
}

// Explain wraps a Kafka client error: an authentication or TLS failure
// becomes a [*FatalError] saying what failed in terms of bridge.yaml; any
// other error is returned as is.
func Explain(k Config, err error) error {
	s := k.SASL
	who := "mechanism " + strings.ToUpper(s.Mechanism)
	if s.Username != "" {
		who += ", user " + s.Username
	}
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var cie x509.CertificateInvalidError
	var cve *tls.CertificateVerificationError
	var rhe tls.RecordHeaderError
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return &FatalError{"kafka: SASL authentication failed (" + who + "): check kafka.sasl credentials", err}
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		return &FatalError{"kafka: the broker does not offer SASL " + strings.ToUpper(s.Mechanism) + ": check kafka.sasl.mechanism and the listener", err}
	case errors.Is(err, kerr.IllegalSaslState):
		return &FatalError{"kafka: SASL handshake refused (" + who + ")", err}
	case errors.As(err, &uae), errors.As(err, &he), errors.As(err, &cie), errors.As(err, &cve):
		return &FatalError{"kafka: TLS: the broker's certificate does not verify: check kafka.tls.ca_file and kafka.tls.server_name", err}
	case errors.As(err, &rhe):
		return &FatalError{"kafka: TLS: the broker did not answer with TLS: is this a TLS listener? (kafka.tls.enabled)", err}
	}
	return err
}
