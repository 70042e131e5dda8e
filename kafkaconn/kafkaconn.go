// Package kafkaconn turns a [Config] (brokers, client id, TLS, SASL) into
// franz-go client options. Every Kafka client of the bridge (the consumer,
// the DLQ tools, `bridge check`) takes its connection options from
// [Options], so all of them connect the same way. The configuration loader
// builds the Config from bridge.yaml's kafka section (package config); this
// package knows nothing of YAML.
//
// Credentials that live in files or come from commands are fetched anew
// for every SASL authentication (each new broker connection, and each
// re-authentication when the broker sets connections.max.reauth.ms), so a
// rotated password file, token file, token or AWS credentials take effect
// without a restart. A TLS client certificate is re-read when its files
// change. No error or log line of this package contains a secret.
package kafkaconn

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/cxone-bridge/bridge/cafile"
	"github.com/cxone-bridge/bridge/secret"
)

// Config is how a Kafka client reaches the cluster: the connection only
// (the consumer group and fetch settings are the consumer's, in package
// consumer). Zero values take the defaults below, which are also those of
// bridge.yaml's absent keys.
type Config struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string
	// ClientID is shown in broker logs and quotas; default [DefaultClientID].
	ClientID string
	TLS      TLS
	SASL     SASL
}

// TLS encrypts the connection to the brokers and, with a client
// certificate, authenticates the client (mTLS).
type TLS struct {
	Enabled bool
	// CAFile is a PEM bundle of the CAs that sign the brokers'
	// certificates, checked with [cafile.Load]; empty: the system's roots.
	CAFile string
	// CertFile and KeyFile are the client certificate and its key (PEM),
	// both or neither. They are re-read when they change on disk.
	CertFile string
	KeyFile  string
	// ServerName overrides the name checked in the brokers' certificates
	// (default: each broker's host name).
	ServerName string
	// MinVersion is [TLSVersion12] (the default, [DefaultTLSMinVersion])
	// or [TLSVersion13].
	MinVersion string
	// InsecureSkipVerify turns certificate verification off. Never in
	// production.
	InsecureSkipVerify bool
}

// SASL authenticates the client to the brokers.
type SASL struct {
	// Mechanism is empty (no SASL), [SASLPlain], [SASLScram256],
	// [SASLScram512], [SASLOAuthBearer] or [SASLAWSMSKIAM].
	Mechanism string
	// Username with Password or PasswordFile: plain and scram-*.
	Username     string
	Password     secret.Secret
	PasswordFile string
	// TokenFile or TokenCommand (argv, no shell): oauthbearer.
	TokenFile    string
	TokenCommand []string
	// AWS: aws-msk-iam.
	AWS AWS
}

// AWS holds the credentials of aws-msk-iam. All empty: the environment
// variables [EnvAWSAccessKeyID], [EnvAWSSecretAccessKey] and
// [EnvAWSSessionToken], read at every authentication.
type AWS struct {
	AccessKeyID     string
	SecretAccessKey secret.Secret
	SessionToken    secret.Secret
	// CredentialsCommand (argv, no shell) prints AWS credential_process
	// JSON, e.g. [aws, configure, export-credentials, --format, process].
	CredentialsCommand []string
}

// Defaults of [Config].
const (
	DefaultClientID      = "cxone-bridge"
	DefaultTLSMinVersion = TLSVersion12
)

// WithDefaults returns c with its zero fields set to their defaults
// ([DefaultClientID], [DefaultTLSMinVersion]). [Options] and [TLSConfig]
// treat the zero values the same way.
func (c Config) WithDefaults() Config {
	c.ClientID = cmp.Or(c.ClientID, DefaultClientID)
	c.TLS.MinVersion = cmp.Or(c.TLS.MinVersion, DefaultTLSMinVersion)
	return c
}

// TLS versions of [TLS.MinVersion].
const (
	TLSVersion12 = "1.2"
	TLSVersion13 = "1.3"
)

// SASL mechanisms of [SASL.Mechanism] (bridge.yaml's kafka.sasl.mechanism,
// lower-cased).
const (
	SASLPlain       = "plain"
	SASLScram256    = "scram-sha-256"
	SASLScram512    = "scram-sha-512"
	SASLOAuthBearer = "oauthbearer"
	SASLAWSMSKIAM   = "aws-msk-iam"
)

// Environment variables aws-msk-iam falls back on.
const (
	EnvAWSAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvAWSSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	EnvAWSSessionToken    = "AWS_SESSION_TOKEN"
)

// Options returns the connection options of k: seed brokers, client id
// and, when configured, TLS and SASL. The configuration loader checked k's
// files; an error here means a file changed or vanished since. Callers
// append their own options (consumer group, fetch sizes, a different
// client id) after these.
func Options(k Config) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(k.Brokers...), kgo.ClientID(cmp.Or(k.ClientID, DefaultClientID))}
	if k.TLS.Enabled {
		tc, err := TLSConfig(k.TLS)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if k.SASL.Mechanism != "" {
		m, err := Mechanism(k.SASL)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// TransactionalMetadataMinAge is the minimum time between metadata
// refreshes of the bridge's transactional producers ([Transactional]).
const TransactionalMetadataMinAge = 100 * time.Millisecond

// Transactional returns the options every transactional producer of the
// bridge adds (the exactly-once dead letters, `bridge dlq replay`).
//
// Since KIP-890 a partition may answer the first write of a transaction
// with CONCURRENT_TRANSACTIONS while the markers of the same producer's
// previous transaction are still being written there. The client sends
// it again only after a metadata refresh, and it refreshes at most once
// per MetadataMinAge: with its default of 5s, one transaction in a few
// stood still for up to 5s, about every 5s, when transactions ran back to
// back (an exactly-once flood of dead letters went at a third of its
// pace). [TransactionalMetadataMinAge] is the Java producer's wait there
// (retry.backoff.ms, 100ms).
func Transactional() []kgo.Opt {
	return []kgo.Opt{kgo.MetadataMinAge(TransactionalMetadataMinAge)}
}

// TLSConfig builds the client TLS configuration of t: the CA bundle (else
// the system roots), the minimum version, the server name and, when set,
// a client certificate that is re-read from its files whenever they
// change (a pair that fails to load keeps the previous one in use, so a
// half-written rotation never breaks new connections).
func TLSConfig(t TLS) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, warned about at start
	}
	if t.MinVersion == TLSVersion13 {
		tc.MinVersion = tls.VersionTLS13
	}
	if t.CAFile != "" {
		pool, err := cafile.Load(t.CAFile, nil)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		r := &certReloader{certFile: t.CertFile, keyFile: t.KeyFile}
		if _, err := r.get(); err != nil {
			return nil, err
		}
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return r.get() }
	}
	return tc, nil
}

// certReloader holds the client certificate and reloads it when the
// modification time or size of either file changes.
type certReloader struct {
	certFile, keyFile string

	mu   sync.Mutex
	stat [2]fileStamp
	cert *tls.Certificate
}

func (r *certReloader) get() (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs, errc := stampOf(r.certFile)
	ks, errk := stampOf(r.keyFile)
	if err := errors.Join(errc, errk); err != nil {
		if r.cert != nil {
			return r.cert, nil // files briefly gone during a rotation
		}
		return nil, fmt.Errorf("kafka.tls client certificate: %w", err)
	}
	if r.cert != nil && r.stat == [2]fileStamp{cs, ks} {
		return r.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if r.cert != nil {
			return r.cert, nil // a half-written rotation: keep the last good pair
		}
		return nil, fmt.Errorf("kafka.tls client certificate %s: %w", r.certFile, err)
	}
	r.cert, r.stat = &cert, [2]fileStamp{cs, ks}
	return r.cert, nil
}

// Mechanism returns the SASL mechanism of s. Its credentials callback is
// called by franz-go on every authentication and returns the current
// password, token or AWS credentials.
func Mechanism(s SASL) (sasl.Mechanism, error) {
	switch s.Mechanism {
	case SASLPlain, SASLScram256, SASLScram512:
		pw := passwordSource(s)
		user := s.Username
		switch s.Mechanism {
		case SASLPlain:
			return plain.Plain(func(context.Context) (plain.Auth, error) {
				p, err := pw()
				return plain.Auth{User: user, Pass: p}, err
			}), nil
		case SASLScram256:
			return scram.Sha256(func(context.Context) (scram.Auth, error) {
				p, err := pw()
				return scram.Auth{User: user, Pass: p}, err
			}), nil
		default:
			return scram.Sha512(func(context.Context) (scram.Auth, error) {
				p, err := pw()
				return scram.Auth{User: user, Pass: p}, err
			}), nil
		}
	case SASLOAuthBearer:
		tp := newTokenProvider(s)
		return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
			tok, err := tp.token(ctx)
			return oauth.Auth{Token: tok}, err
		}), nil
	case SASLAWSMSKIAM:
		cp := newAWSProvider(s.AWS, os.LookupEnv)
		return aws.ManagedStreamingIAM(func(ctx context.Context) (aws.Auth, error) {
			c, err := cp.credentials(ctx)
			if err != nil {
				return aws.Auth{}, err
			}
			return aws.Auth{AccessKey: c.AccessKeyID, SecretKey: c.SecretAccessKey, SessionToken: c.SessionToken}, nil
		}), nil
	}
	return nil, fmt.Errorf("kafka.sasl.mechanism: unsupported %q", s.Mechanism)
}

// passwordSource returns the configured password, or a function that
// re-reads password_file when it changed.
func passwordSource(s SASL) func() (string, error) {
	if s.PasswordFile == "" {
		pw := string(s.Password)
		return func() (string, error) { return pw, nil }
	}
	f := &secretFile{path: s.PasswordFile, what: "kafka.sasl.password_file"}
	return f.read
}

// fileStamp identifies a version of a file well enough to notice a
// rewrite (Kubernetes swaps a symlink, which changes both).
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{st.ModTime(), st.Size()}, nil
}

// secretFile caches a secret held in a file and re-reads it when the
// file's modification time or size changes. The value is the content
// without trailing CR/LF.
type secretFile struct {
	path, what string

	mu    sync.Mutex
	stamp fileStamp
	value string
	ok    bool
}

// read returns the file's current value; an error names the file and the
// cause, never the content.
func (f *secretFile) read() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := stampOf(f.path)
	if err == nil && f.ok && st == f.stamp {
		return f.value, nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.what, err)
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.what, err)
	}
	v := strings.TrimRight(string(data), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s %s: is empty", f.what, f.path)
	}
	f.value, f.stamp, f.ok = v, st, true
	return v, nil
}
