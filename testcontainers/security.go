package testcontainers

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// SCRAMUser is a user created, at storage-format time, under both
// SCRAM-SHA-256 and SCRAM-SHA-512. Name and Password must not contain
// ',', '[', ']' or '=' (the StorageTool's --add-scram syntax).
type SCRAMUser struct {
	Name, Password string
}

type security struct {
	users []SCRAMUser
	pki   *PKI
	// keystore is the broker's private key and certificate chain (PEM),
	// shared by every node.
	keystore string
}

// Security makes every local node also listen with
//
//   - SASL_SSL: TLS with a certificate for 127.0.0.1 and localhost,
//     signed by a throwaway CA (Kafka.CAFile), and SASL SCRAM-SHA-256 and
//     SCRAM-SHA-512 for users (Kafka.SecureBrokers);
//   - SASL_PLAINTEXT with OAUTHBEARER, validating unsecured JWTs
//     ({"alg":"none"}, a "sub" and a future "exp"; Kafka's default
//     OAuthBearerUnsecuredValidatorCallbackHandler) (Kafka.OAuthBrokers).
//
// PLAINTEXT stays for the controllers, between brokers and for the test's
// admin client (Kafka.Brokers, Kafka.Admin). The certificate is made in Go
// and given to Kafka as a PEM keystore; users are created by the storage
// format (--add-scram), so the cluster starts no slower. An external
// cluster (BRIDGE_TEST_KAFKA) has none of this: the accessors skip.
func Security(users ...SCRAMUser) Option {
	return func(o *options) { o.security = &security{users: users} }
}

// setupSecurity makes the CA and the broker's keystore (once per cluster).
func (k *Kafka) setupSecurity() error {
	s := k.opts.security
	if s == nil || s.pki != nil {
		return nil
	}
	for _, u := range s.users {
		if u.Name == "" || u.Password == "" || strings.ContainsAny(u.Name+u.Password, ",[]=") {
			return fmt.Errorf("testcontainers: SCRAM user %q: name and password must be non-empty, without , [ ] =", u.Name)
		}
	}
	dir := filepath.Join(k.dir, "pki")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pki, err := NewPKI(dir)
	if err != nil {
		return err
	}
	cert, key, err := pki.IssuePEM("kafka-broker", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	s.pki, s.keystore = pki, filepath.Join(dir, "broker-keystore.pem")
	return os.WriteFile(s.keystore, append(key, cert...), 0o600)
}

// securityProperties adds the SASL_SSL and SASL_PLAINTEXT listeners to p.
func (k *Kafka) securityProperties(nd *node, p map[string]string) {
	s := k.opts.security
	if s == nil {
		return
	}
	extra := fmt.Sprintf("SASL_SSL://127.0.0.1:%d,SASL_PLAINTEXT://127.0.0.1:%d", nd.securePort, nd.oauthPort)
	p["listeners"] += "," + extra
	p["advertised.listeners"] += "," + extra
	p["listener.security.protocol.map"] += ",SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT"
	p["sasl.enabled.mechanisms"] = "SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER"
	p["listener.name.sasl_ssl.sasl.enabled.mechanisms"] = "SCRAM-SHA-256,SCRAM-SHA-512"
	p["listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config"] = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
	p["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"] = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
	p["listener.name.sasl_ssl.ssl.keystore.type"] = "PEM"
	p["listener.name.sasl_ssl.ssl.keystore.location"] = s.keystore
	p["listener.name.sasl_plaintext.sasl.enabled.mechanisms"] = "OAUTHBEARER"
	p["listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config"] = `org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";`
}

// scramFormatArgs are the StorageTool arguments creating the SCRAM users.
func (k *Kafka) scramFormatArgs() []string {
	s := k.opts.security
	if s == nil {
		return nil
	}
	var args []string
	for _, u := range s.users {
		for _, m := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
			args = append(args, "--add-scram", m+"=[name="+u.Name+",password="+u.Password+"]")
		}
	}
	return args
}

func (k *Kafka) requireSecurity(what string) *security {
	k.tb.Helper()
	if k.external {
		k.tb.Skipf("testcontainers: %s: the external cluster %s=%s has no test security listeners; this test needs the local cluster", what, EnvKafka, strings.Join(k.brokers, ","))
	}
	if k.opts.security == nil {
		k.tb.Fatalf("testcontainers: %s: start the cluster with testcontainers.Security()", what)
	}
	return k.opts.security
}

// SecureBrokers are the SASL_SSL (TLS + SCRAM) addresses of every node.
func (k *Kafka) SecureBrokers() []string {
	k.tb.Helper()
	k.requireSecurity("SecureBrokers")
	return k.addresses(func(n *node) int { return n.securePort })
}

// OAuthBrokers are the SASL_PLAINTEXT (OAUTHBEARER, unsecured JWT)
// addresses of every node.
func (k *Kafka) OAuthBrokers() []string {
	k.tb.Helper()
	k.requireSecurity("OAuthBrokers")
	return k.addresses(func(n *node) int { return n.oauthPort })
}

// addresses lists the loopback address of every node at port(node).
func (k *Kafka) addresses(port func(*node) int) []string {
	out := make([]string, len(k.nodes))
	for i, n := range k.nodes {
		out[i] = "127.0.0.1:" + strconv.Itoa(port(n))
	}
	return out
}

// CAFile is the PEM file of the CA that signed the brokers' certificate.
func (k *Kafka) CAFile() string {
	k.tb.Helper()
	return k.requireSecurity("CAFile").pki.CAFile
}

// PKI is the cluster's throwaway CA, e.g. to issue client certificates.
func (k *Kafka) PKI() *PKI {
	k.tb.Helper()
	return k.requireSecurity("PKI").pki
}
