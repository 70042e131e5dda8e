package config

import (
	"crypto/tls"
	"encoding/pem"
	"os"
	"strings"

	"github.com/cxone-bridge/bridge/kafkaconn"
	"github.com/cxone-bridge/bridge/secret"
)

// KafkaTLS encrypts the connection to the brokers and, with a client
// certificate, authenticates the bridge (mTLS): bridge.yaml's kafka.tls,
// mapped to [kafkaconn.TLS].
type KafkaTLS struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the CAs that sign the brokers' certificates;
	// empty: the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate and its key (PEM),
	// both or neither. They are re-read when they change on disk.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the brokers' certificates
	// (default: each broker's host name).
	ServerName string `yaml:"server_name"`
	// MinVersion is "1.2" (default, [kafkaconn.DefaultTLSMinVersion]) or
	// "1.3".
	MinVersion string `yaml:"min_version"`
	// InsecureSkipVerify turns certificate verification off. Never in
	// production; the bridge logs a warning at start.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// KafkaSASL authenticates the bridge to the brokers: bridge.yaml's
// kafka.sasl, mapped to [kafkaconn.SASL].
type KafkaSASL struct {
	// Mechanism is empty (no SASL), plain, scram-sha-256, scram-sha-512,
	// oauthbearer or aws-msk-iam (case-insensitive; stored lower-case: the
	// values of [kafkaconn.SASLPlain] and the others).
	Mechanism string `yaml:"mechanism"`
	// Username with Password or PasswordFile: plain and scram-*.
	Username     string        `yaml:"username"`
	Password     secret.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	// TokenFile or TokenCommand (argv, no shell): oauthbearer.
	TokenFile    string   `yaml:"token_file"`
	TokenCommand []string `yaml:"token_command"`
	// AWS: aws-msk-iam.
	AWS KafkaAWS `yaml:"aws"`
}

// KafkaAWS holds the credentials of aws-msk-iam, mapped to
// [kafkaconn.AWS]. All empty: the standard AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN variables.
type KafkaAWS struct {
	AccessKeyID     string        `yaml:"access_key_id"`
	SecretAccessKey secret.Secret `yaml:"secret_access_key"`
	SessionToken    secret.Secret `yaml:"session_token"`
	// CredentialsCommand (argv, no shell) prints AWS credential_process
	// JSON, e.g. [aws, configure, export-credentials, --format, process].
	CredentialsCommand []string `yaml:"credentials_command"`
}

// SecurityWarnings lists settings that work but weaken security, for the
// log at start: the Kafka connection's and the schema registry's.
// Each begins with the section it concerns ("kafka: ", "schema_registry: ").
func (c *Config) SecurityWarnings() []string {
	var out []string
	for _, w := range c.Kafka.SecurityWarnings() {
		out = append(out, "kafka: "+w)
	}
	return append(out, c.SchemaRegistry.securityWarnings()...)
}

// SecurityWarnings lists settings that work but weaken security, for the
// commands to log at start. They never contain a secret.
func (k Kafka) SecurityWarnings() []string {
	var out []string
	if k.TLS.Enabled && k.TLS.InsecureSkipVerify {
		out = append(out, "kafka.tls.insecure_skip_verify is true: the brokers' certificates are NOT verified; anyone on the network path can impersonate them and read the credentials")
	}
	if !k.TLS.Enabled && (k.SASL.Mechanism == kafkaconn.SASLPlain || k.SASL.Mechanism == kafkaconn.SASLOAuthBearer) {
		out = append(out, "kafka.sasl."+k.SASL.Mechanism+" without kafka.tls: the credentials cross the network in clear text")
	}
	return out
}

// validateKafkaSecurity checks kafka.tls and kafka.sasl, resolves their
// file paths against the configuration's folder and reads every file once,
// so that a missing or malformed file is a load error, not a failure at
// the first connection. File contents are never echoed.
func (c *Config) validateKafkaSecurity(w *walker) {
	t := &c.Kafka.TLS
	p := "kafka.tls"
	if !t.Enabled {
		for key, v := range map[string]bool{
			"ca_file": t.CAFile != "", "cert_file": t.CertFile != "", "key_file": t.KeyFile != "",
			"server_name": t.ServerName != "", "insecure_skip_verify": t.InsecureSkipVerify,
		} {
			if v {
				w.add(p+"."+key, "is set but kafka.tls.enabled is false; set enabled: true to use TLS")
			}
		}
	}
	if t.MinVersion != kafkaconn.TLSVersion12 && t.MinVersion != kafkaconn.TLSVersion13 {
		w.add(p+".min_version", "must be 1.2 or 1.3; got %s", w.quote(p+".min_version", t.MinVersion))
	}
	if t.CAFile != "" {
		c.caFile(w, p+".ca_file", &t.CAFile)
	}
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		w.add(p, "set both cert_file and key_file, or neither")
	case t.CertFile != "":
		t.CertFile, t.KeyFile = c.resolve(t.CertFile), c.resolve(t.KeyFile)
		cert, okc := c.readFile(w, p+".cert_file", t.CertFile, false)
		key, okk := c.readFile(w, p+".key_file", t.KeyFile, true)
		if okc && okk {
			if why := keyPairProblem(cert, key); why != "" {
				w.add(p+".cert_file", "with key_file: %s", why)
			}
		}
	}
	c.validateSASL(w)
}

func (c *Config) validateSASL(w *walker) {
	s := &c.Kafka.SASL
	p := "kafka.sasl"
	skip := w.opts.skipCredentials
	userPass := s.Username != "" || s.Password != "" || s.PasswordFile != ""
	token := s.TokenFile != "" || len(s.TokenCommand) > 0
	aws := s.AWS.AccessKeyID != "" || s.AWS.SecretAccessKey != "" || s.AWS.SessionToken != "" || len(s.AWS.CredentialsCommand) > 0
	notFor := func(set bool, keys string) {
		if set {
			w.add(p, "%s are not used by mechanism %s; remove them", keys, w.show(p+".mechanism", s.Mechanism))
		}
	}
	switch s.Mechanism {
	case "":
		if userPass || token || aws {
			w.add(p+".mechanism", "is required when other kafka.sasl keys are set: plain, scram-sha-256, scram-sha-512, oauthbearer or aws-msk-iam")
		}
	case kafkaconn.SASLPlain, kafkaconn.SASLScram256, kafkaconn.SASLScram512:
		notFor(token, "token_file and token_command")
		notFor(aws, "the aws keys")
		if s.Username == "" && !skip {
			w.add(p+".username", "is required for %s", w.show(p+".mechanism", s.Mechanism))
		}
		switch {
		case s.Password != "" && s.PasswordFile != "":
			w.add(p+".password_file", "set either password or password_file, not both")
		case s.PasswordFile != "":
			s.PasswordFile = c.resolve(s.PasswordFile)
			if data, ok := c.readFile(w, p+".password_file", s.PasswordFile, true); ok && strings.TrimRight(string(data), "\r\n") == "" {
				w.add(p+".password_file", "is empty")
			}
		case s.Password == "" && !skip:
			w.add(p+".password", "is required for %s (or set kafka.sasl.password_file)", w.show(p+".mechanism", s.Mechanism))
		}
	case kafkaconn.SASLOAuthBearer:
		notFor(userPass, "username and password")
		notFor(aws, "the aws keys")
		switch {
		case s.TokenFile != "" && len(s.TokenCommand) > 0:
			w.add(p+".token_file", "set either token_file or token_command, not both")
		case s.TokenFile != "":
			s.TokenFile = c.resolve(s.TokenFile)
			c.readFile(w, p+".token_file", s.TokenFile, true)
		case len(s.TokenCommand) > 0:
			checkCommand(w, p+".token_command", s.TokenCommand)
		default:
			w.add(p, "oauthbearer needs a token source: set token_file or token_command")
		}
	case kafkaconn.SASLAWSMSKIAM:
		notFor(userPass, "username and password")
		notFor(token, "token_file and token_command")
		a := &s.AWS
		if !c.Kafka.TLS.Enabled {
			w.add(p+".mechanism", "aws-msk-iam needs TLS (MSK's IAM listener is TLS only): set kafka.tls.enabled: true")
		}
		static := a.AccessKeyID != "" || a.SecretAccessKey != "" || a.SessionToken != ""
		switch {
		case len(a.CredentialsCommand) > 0 && static:
			w.add(p+".aws.credentials_command", "set either credentials_command or the access keys, not both")
		case len(a.CredentialsCommand) > 0:
			checkCommand(w, p+".aws.credentials_command", a.CredentialsCommand)
		case static:
			if a.AccessKeyID == "" && !skip {
				w.add(p+".aws.access_key_id", "is required with secret_access_key")
			}
			if a.SecretAccessKey == "" && !skip {
				w.add(p+".aws.secret_access_key", "is required with access_key_id")
			}
		case !skip:
			id, _ := w.opts.lookupEnv(kafkaconn.EnvAWSAccessKeyID)
			key, _ := w.opts.lookupEnv(kafkaconn.EnvAWSSecretAccessKey)
			if id == "" || key == "" {
				w.add(p+".aws", "no credentials: set credentials_command, access_key_id and secret_access_key, or the environment variables %s and %s", kafkaconn.EnvAWSAccessKeyID, kafkaconn.EnvAWSSecretAccessKey)
			}
		}
	default:
		w.add(p+".mechanism", "must be plain, scram-sha-256, scram-sha-512, oauthbearer or aws-msk-iam; got %s", w.quote(p+".mechanism", s.Mechanism))
	}
}

// checkCommand reports an empty program name in an argv list.
func checkCommand(w *walker, path string, argv []string) {
	if strings.TrimSpace(argv[0]) == "" {
		w.add(path, "the first element must name the program to run")
	}
}

// readFile reads a file named by the configuration, reporting a problem at
// path when it cannot. A secret file that cannot be read is not a problem
// under [WithoutCredentials]. Problems name the file, never its content.
func (c *Config) readFile(w *walker, path, file string, isSecret bool) ([]byte, bool) {
	data, err := os.ReadFile(file)
	if err != nil {
		if !(isSecret && w.opts.skipCredentials) {
			w.add(path, "%s", fileProblem(err, w.show(path, file)))
		}
		return nil, false
	}
	return data, true
}

// keyPairProblem says why cert and key (PEM) are not a matching pair, in
// words of its own or crypto/tls's fixed messages: never a part of the
// files. (tls.X509KeyPair lists the PEM block types it skipped, and
// x509's errors may quote a certificate's names.)
func keyPairProblem(cert, key []byte) string {
	var haveCert, haveKey, keyHasCert, keyHasPEM bool
	for rest := cert; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		haveCert = haveCert || b.Type == "CERTIFICATE"
	}
	for rest := key; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		keyHasPEM = true
		haveKey = haveKey || b.Type == "PRIVATE KEY" || strings.HasSuffix(b.Type, " PRIVATE KEY")
		keyHasCert = keyHasCert || b.Type == "CERTIFICATE"
	}
	switch {
	case !haveCert:
		return "no PEM certificate in cert_file"
	case !haveKey && keyHasCert:
		return "tls: found a certificate rather than a key in the PEM for the private key"
	case !keyHasPEM:
		return "tls: failed to find any PEM data in key input"
	case !haveKey:
		return "no PEM private key in key_file"
	}
	_, err := tls.X509KeyPair(cert, key)
	switch {
	case err == nil:
		return ""
	case strings.HasPrefix(err.Error(), "tls: "):
		return err.Error() // fixed texts: key does not match, cannot be parsed
	}
	return "cert_file holds a certificate that cannot be parsed"
}
