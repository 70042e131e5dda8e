package kafkaconn_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/kafkaconn"
	tc "github.com/cxone-bridge/bridge/testcontainers"
)

const (
	user     = "bridge"
	password = "Corr3ct-Horse-Battery"
	wrongPW  = "Wr0ng-Password-Staple"
)

// securedCluster is a kfake cluster that requires TLS (certificate from a
// throwaway CA) and SASL, with user/password known under PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512. With clientCAs, it also requires a
// client certificate signed by them.
func securedCluster(t *testing.T, clientCAs *x509.CertPool) (*kfake.Cluster, *tc.PKI) {
	t.Helper()
	pki, err := tc.NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := pki.IssuePEM("kfake", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srvTLS := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAs != nil {
		srvTLS.ClientCAs, srvTLS.ClientAuth = clientCAs, tls.RequireAndVerifyClientCert
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.TLS(srvTLS),
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", user, password),
		kfake.Superuser("SCRAM-SHA-256", user, password),
		kfake.Superuser("SCRAM-SHA-512", user, password),
		kfake.SeedTopics(1, "orders"),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, pki
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// produceConsume writes one record through a client built from k and
// reads it back, proving the connection options work end to end.
func produceConsume(t *testing.T, k config.Kafka) {
	t.Helper()
	opts, err := kafkaconn.Options(k)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic("orders"), kgo.ConsumeTopics("orders"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v-" + k.SASL.Mechanism)}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		found := false
		fs.EachRecord(func(r *kgo.Record) { found = found || string(r.Value) == "v-"+k.SASL.Mechanism })
		if found {
			return
		}
	}
}

// TestMechanismsOverTLS: PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 over TLS
// against kfake produce and consume; a wrong password fails the probe,
// without the password in the error.
func TestMechanismsOverTLS(t *testing.T) {
	c, pki := securedCluster(t, nil)
	for _, mech := range []string{config.SASLPlain, config.SASLScram256, config.SASLScram512} {
		t.Run(mech, func(t *testing.T) {
			k := config.Kafka{
				Brokers: c.ListenAddrs(), ClientID: "test",
				TLS:  config.KafkaTLS{Enabled: true, CAFile: pki.CAFile, MinVersion: "1.2"},
				SASL: config.KafkaSASL{Mechanism: mech, Username: user, Password: password},
			}
			if err := kafkaconn.Probe(context.Background(), k); err != nil {
				t.Fatalf("probe: %v", err)
			}
			produceConsume(t, k)

			// kfake closes the connection on bad credentials, where a real
			// broker answers SASL_AUTHENTICATION_FAILED (which Probe turns
			// into a FatalError: e2e/security_test.go checks that against
			// real Kafka). Here: refused, and no password in the error.
			k.SASL.Password = wrongPW
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := kafkaconn.Probe(ctx, k)
			if err == nil {
				t.Fatal("wrong password accepted")
			}
			if strings.Contains(err.Error(), wrongPW) || strings.Contains(err.Error(), password) {
				t.Fatalf("error shows a password: %v", err)
			}
		})
	}
}

// TestTLSFailures: a CA that did not sign the broker's certificate, and a
// server name the certificate lacks, are fatal, with messages naming the
// keys to fix.
func TestTLSFailures(t *testing.T) {
	c, pki := securedCluster(t, nil)
	other, err := tc.NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k := config.Kafka{Brokers: c.ListenAddrs(), ClientID: "test",
		TLS:  config.KafkaTLS{Enabled: true, CAFile: other.CAFile, MinVersion: "1.2"},
		SASL: config.KafkaSASL{Mechanism: config.SASLScram512, Username: user, Password: password}}
	err = kafkaconn.Probe(context.Background(), k)
	if !kafkaconn.IsFatal(err) || !strings.Contains(err.Error(), "kafka.tls.ca_file") {
		t.Errorf("unknown CA: err = %v", err)
	}
	k.TLS.CAFile, k.TLS.ServerName = pki.CAFile, "kafka.example.com"
	err = kafkaconn.Probe(context.Background(), k)
	if !kafkaconn.IsFatal(err) || !strings.Contains(err.Error(), "kafka.tls.server_name") {
		t.Errorf("wrong server name: err = %v", err)
	}
}

// TestPasswordFileRotation: one client whose password_file first holds a
// wrong password is refused; after the file is rewritten, the same client
// authenticates on its next connection, without being rebuilt.
func TestPasswordFileRotation(t *testing.T) {
	c, pki := securedCluster(t, nil)
	pwFile := filepath.Join(t.TempDir(), "password")
	writeFile(t, pwFile, wrongPW+"\n")
	k := config.Kafka{Brokers: c.ListenAddrs(), ClientID: "test",
		TLS:  config.KafkaTLS{Enabled: true, CAFile: pki.CAFile, MinVersion: "1.2"},
		SASL: config.KafkaSASL{Mechanism: config.SASLScram512, Username: user, PasswordFile: pwFile}}
	opts, err := kafkaconn.Options(k)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err == nil {
		t.Fatal("ping with the old password succeeded")
	}
	writeFile(t, pwFile, password+"\n")
	// Same size as before would still be noticed by the modification
	// time; make it certain on file systems with coarse timestamps.
	future := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(pwFile, future, future); err != nil {
		t.Fatal(err)
	}
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("ping after the password file was rotated: %v", err)
	}
}

// TestClientCertificate: a broker requiring mTLS accepts the configured
// client certificate, refuses a client without one, and a rotated
// certificate file is picked up by new connections (the reloader returns
// the new certificate; a half-written file keeps the last good one).
func TestClientCertificate(t *testing.T) {
	clientPKI, err := tc.NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(clientPKI.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(caPEM)
	c, pki := securedCluster(t, pool)
	certFile, keyFile, err := clientPKI.Issue("client", "bridge-client", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := config.Kafka{Brokers: c.ListenAddrs(), ClientID: "test",
		TLS:  config.KafkaTLS{Enabled: true, CAFile: pki.CAFile, MinVersion: "1.2", CertFile: certFile, KeyFile: keyFile},
		SASL: config.KafkaSASL{Mechanism: config.SASLScram256, Username: user, Password: password}}
	if err := kafkaconn.Probe(context.Background(), k); err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	noCert := k
	noCert.TLS.CertFile, noCert.TLS.KeyFile = "", ""
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := kafkaconn.Probe(ctx, noCert); err == nil {
		t.Fatal("a broker requiring a client certificate accepted a client without one")
	}

	// Rotation, observed through the TLS config's callback.
	tlsCfg, err := kafkaconn.TLSConfig(k.TLS)
	if err != nil {
		t.Fatal(err)
	}
	first, err := tlsCfg.GetClientCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := clientPKI.IssuePEM("bridge-client-2", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, certFile, string(certPEM))
	writeFile(t, keyFile, string(keyPEM))
	second, err := tlsCfg.GetClientCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.Leaf == nil || second.Leaf.Subject.CommonName != "bridge-client-2" || first.Leaf.Subject.CommonName != "bridge-client" {
		t.Fatalf("after rotation: got %v then %v", first.Leaf.Subject, second.Leaf.Subject)
	}
	writeFile(t, keyFile, "-----BEGIN PRIVATE KEY-----\ntruncated") // mid-rotation
	third, err := tlsCfg.GetClientCertificate(nil)
	if err != nil || third.Leaf.Subject.CommonName != "bridge-client-2" {
		t.Fatalf("half-written key: got %v, %v; want the last good certificate", third, err)
	}
	// A new client (a restart) has no last good pair: it fails, naming
	// the file, not quoting it.
	if _, err := kafkaconn.Options(k); err == nil || !strings.Contains(err.Error(), certFile) || strings.Contains(err.Error(), "truncated") {
		t.Fatalf("Options with a broken key: %v", err)
	}
}

// TestUnsupportedMechanism: a mechanism the broker does not offer is
// fatal, and the error names it.
func TestUnsupportedMechanism(t *testing.T) {
	c, pki := securedCluster(t, nil)
	tok := filepath.Join(t.TempDir(), "token")
	writeFile(t, tok, "opaque-token\n")
	k := config.Kafka{Brokers: c.ListenAddrs(), ClientID: "test",
		TLS:  config.KafkaTLS{Enabled: true, CAFile: pki.CAFile, MinVersion: "1.2"},
		SASL: config.KafkaSASL{Mechanism: config.SASLOAuthBearer, TokenFile: tok}}
	err := kafkaconn.Probe(context.Background(), k)
	if !kafkaconn.IsFatal(err) || !strings.Contains(err.Error(), "does not offer SASL OAUTHBEARER") {
		t.Fatalf("err = %v", err)
	}
}
