package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cxone-bridge/bridge/config"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

const kafkaPassword = "Kafka-Pa55word-9"

// secDir is a folder with the order schema, a CA, a client certificate
// pair, a password file, a token file and a file that is not PEM.
func secDir(t *testing.T) string {
	t.Helper()
	dir := dirWithSchema(t)
	pki, err := tc.NewPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := pki.Issue("client", "bridge", nil, []net.IP{net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pki.Issue("other", "other", nil, nil); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"password.txt": kafkaPassword + "\n",
		"empty.txt":    "\n",
		"token.txt":    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJicmlkZ2UifQ.\n",
		"notpem.txt":   "hello\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// withKafka is the minimal configuration with extra lines under kafka:.
func withKafka(extra string) string {
	return strings.Replace(minimal, "  brokers: [localhost:9092]\n", "  brokers: [localhost:9092]\n"+extra, 1)
}

var secEnv = env(map[string]string{"CXONE_CLIENT_ID": "client-1", "CXONE_CLIENT_SECRET": secret, "KAFKA_PASSWORD": kafkaPassword})

func TestKafkaSecurityValid(t *testing.T) {
	dir := secDir(t)
	for name, tc := range map[string]struct {
		yaml  string
		check func(*testing.T, config.Kafka)
	}{
		"none": {"", func(t *testing.T, k config.Kafka) {
			if k.TLS.Enabled || k.SASL.Mechanism != "" || k.TLS.MinVersion != "1.2" {
				t.Errorf("defaults: %+v", k)
			}
		}},
		"scram+tls, env password": {`  tls: {enabled: true, ca_file: ca.pem, server_name: kafka.internal, min_version: "1.3"}
  sasl: {mechanism: SCRAM-SHA-512, username: bridge, password: "${KAFKA_PASSWORD}"}
`, func(t *testing.T, k config.Kafka) {
			if k.SASL.Mechanism != "scram-sha-512" || string(k.SASL.Password) != kafkaPassword || !filepath.IsAbs(k.TLS.CAFile) || k.TLS.MinVersion != "1.3" {
				t.Errorf("%+v", k)
			}
		}},
		"plain, password file, mTLS": {`  tls: {enabled: true, cert_file: client.crt.pem, key_file: client.key.pem}
  sasl: {mechanism: plain, username: bridge, password_file: password.txt}
`, func(t *testing.T, k config.Kafka) {
			if k.SASL.PasswordFile != filepath.Join(dir, "password.txt") || k.TLS.KeyFile != filepath.Join(dir, "client.key.pem") {
				t.Errorf("%+v", k)
			}
		}},
		"oauth token file": {"  sasl: {mechanism: oauthbearer, token_file: token.txt}\n", nil},
		"oauth command":    {"  sasl: {mechanism: oauthbearer, token_command: [get-token, --audience, kafka]}\n", nil},
		"msk command": {"  tls: {enabled: true}\n  sasl: {mechanism: aws-msk-iam, aws: {credentials_command: [aws, configure, export-credentials, --format, process]}}\n", func(t *testing.T, k config.Kafka) {
			if !slices.Equal(k.SASL.AWS.CredentialsCommand, []string{"aws", "configure", "export-credentials", "--format", "process"}) {
				t.Errorf("%+v", k.SASL.AWS)
			}
		}},
		"msk keys": {"  tls: {enabled: true}\n  sasl: {mechanism: aws-msk-iam, aws: {access_key_id: AKIAX, secret_access_key: \"${KAFKA_PASSWORD}\"}}\n", nil},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(withKafka(tc.yaml)), dir, secEnv)
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, cfg.Kafka)
			}
		})
	}
}

// TestKafkaSecurityProblems: each mistake is reported at its key path, and
// no problem shows the password.
func TestKafkaSecurityProblems(t *testing.T) {
	dir := secDir(t)
	noAWS := env(map[string]string{"CXONE_CLIENT_ID": "c", "CXONE_CLIENT_SECRET": secret, "KAFKA_PASSWORD": kafkaPassword})
	for name, tc := range map[string]struct {
		yaml string
		want []string // "path: part of message"
	}{
		"unknown mechanism":  {"  sasl: {mechanism: gssapi, username: u, password: p}\n", []string{`kafka.sasl.mechanism: must be plain, scram-sha-256, scram-sha-512, oauthbearer or aws-msk-iam; got "gssapi"`}},
		"no mechanism":       {"  sasl: {username: u, password: \"${KAFKA_PASSWORD}\"}\n", []string{"kafka.sasl.mechanism: is required"}},
		"missing user, pass": {"  sasl: {mechanism: scram-sha-256}\n", []string{"kafka.sasl.username: is required", "kafka.sasl.password: is required"}},
		"both passwords":     {"  sasl: {mechanism: plain, username: u, password: \"${KAFKA_PASSWORD}\", password_file: password.txt}\n", []string{"kafka.sasl.password_file: set either password or password_file"}},
		"missing file":       {"  sasl: {mechanism: plain, username: u, password_file: nope.txt}\n", []string{"kafka.sasl.password_file: file not found"}},
		"empty file":         {"  sasl: {mechanism: plain, username: u, password_file: empty.txt}\n", []string{"kafka.sasl.password_file: is empty"}},
		"token with scram":   {"  sasl: {mechanism: scram-sha-512, username: u, password: p, token_file: token.txt}\n", []string{"kafka.sasl: token_file and token_command are not used by mechanism scram-sha-512"}},
		"oauth no source":    {"  sasl: {mechanism: oauthbearer}\n", []string{"kafka.sasl: oauthbearer needs a token source"}},
		"oauth two sources":  {"  sasl: {mechanism: oauthbearer, token_file: token.txt, token_command: [x]}\n", []string{"kafka.sasl.token_file: set either"}},
		"oauth empty argv":   {"  sasl: {mechanism: oauthbearer, token_command: [\"\"]}\n", []string{"kafka.sasl.token_command: the first element"}},
		"oauth with user":    {"  sasl: {mechanism: oauthbearer, token_file: token.txt, username: u}\n", []string{"kafka.sasl: username and password are not used"}},
		"msk without tls":    {"  sasl: {mechanism: aws-msk-iam, aws: {credentials_command: [aws]}}\n", []string{"kafka.sasl.mechanism: aws-msk-iam needs TLS"}},
		"msk no creds":       {"  tls: {enabled: true}\n  sasl: {mechanism: aws-msk-iam}\n", []string{"kafka.sasl.aws: no credentials"}},
		"msk half keys":      {"  tls: {enabled: true}\n  sasl: {mechanism: aws-msk-iam, aws: {access_key_id: AKIA}}\n", []string{"kafka.sasl.aws.secret_access_key: is required"}},
		"msk both":           {"  tls: {enabled: true}\n  sasl: {mechanism: aws-msk-iam, aws: {access_key_id: AKIA, secret_access_key: x, credentials_command: [aws]}}\n", []string{"kafka.sasl.aws.credentials_command: set either"}},
		"tls off with files": {"  tls: {ca_file: ca.pem, insecure_skip_verify: true}\n", []string{"kafka.tls.ca_file: is set but kafka.tls.enabled is false", "kafka.tls.insecure_skip_verify: is set but"}},
		"bad version":        {"  tls: {enabled: true, min_version: \"1.1\"}\n", []string{`kafka.tls.min_version: must be 1.2 or 1.3; got "1.1"`}},
		"ca not pem":         {"  tls: {enabled: true, ca_file: notpem.txt}\n", []string{"kafka.tls.ca_file: no PEM certificate found"}},
		"ca missing":         {"  tls: {enabled: true, ca_file: nope.pem}\n", []string{"kafka.tls.ca_file: file not found"}},
		"cert without key":   {"  tls: {enabled: true, cert_file: client.crt.pem}\n", []string{"kafka.tls: set both cert_file and key_file"}},
		"key mismatch":       {"  tls: {enabled: true, cert_file: client.crt.pem, key_file: other.key.pem}\n", []string{"kafka.tls.cert_file: with key_file: tls: private key does not match public key"}},
		"key not pem":        {"  tls: {enabled: true, cert_file: client.crt.pem, key_file: notpem.txt}\n", []string{"kafka.tls.cert_file: with key_file: tls: failed to find any PEM data in key input"}},
		"unknown key":        {"  tls: {enabled: true, ca: ca.pem}\n", []string{"kafka.tls.ca: unknown key"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Parse([]byte(withKafka(tc.yaml)), dir, noAWS)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *config.Error", err)
			}
			var got []string
			for _, p := range ce.Problems {
				got = append(got, p.String())
			}
			for _, w := range tc.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
					t.Errorf("missing problem %q; got:\n  %s", w, strings.Join(got, "\n  "))
				}
			}
			if strings.Contains(err.Error(), kafkaPassword) {
				t.Errorf("password in the error: %v", err)
			}
		})
	}
}

// TestKafkaSecurityEnvAndWarnings: aws-msk-iam accepts the standard AWS
// environment variables; dry-run (WithoutCredentials) accepts unset Kafka
// credentials; SecurityWarnings flags insecure settings; nothing prints
// the Kafka password or AWS secret.
func TestKafkaSecurityEnvAndWarnings(t *testing.T) {
	dir := secDir(t)
	awsEnv := env(map[string]string{"CXONE_CLIENT_ID": "c", "CXONE_CLIENT_SECRET": secret, "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "aws-Secret-Key-1"})
	if _, err := config.Parse([]byte(withKafka("  tls: {enabled: true}\n  sasl: {mechanism: aws-msk-iam}\n")), dir, awsEnv); err != nil {
		t.Errorf("msk from env: %v", err)
	}
	if _, err := config.Parse([]byte(withKafka("  sasl: {mechanism: scram-sha-512, username: \"${KAFKA_USER}\", password: \"${KAFKA_PASSWORD}\"}\n")), dir,
		config.WithoutCredentials(), env(nil)); err != nil {
		t.Errorf("WithoutCredentials: %v", err)
	}
	cfg, err := config.Parse([]byte(withKafka("  tls: {enabled: true, insecure_skip_verify: true}\n  sasl: {mechanism: plain, username: u, password: \"${KAFKA_PASSWORD}\"}\n")), dir, secEnv)
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Kafka.SecurityWarnings(); len(w) != 1 || !strings.Contains(w[0], "insecure_skip_verify") {
		t.Errorf("warnings %q", w)
	}
	cfg.Kafka.TLS.Enabled = false
	if w := cfg.Kafka.SecurityWarnings(); len(w) != 1 || !strings.Contains(w[0], "clear text") {
		t.Errorf("warnings %q", w)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v %#v", cfg, cfg.Kafka, cfg.Kafka.SASL)
	j, _ := json.Marshal(cfg)
	out.Write(j)
	if strings.Contains(out.String(), kafkaPassword) {
		t.Errorf("password printed:\n%s", out.String())
	}
	if string(cfg.Kafka.SASL.Password) != kafkaPassword {
		t.Error("password not loaded")
	}
}
