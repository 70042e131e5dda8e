package kafkaconn_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

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
func produceConsume(t *testing.T, k kafkaconn.Config) {
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
	for _, mech := range []string{kafkaconn.SASLPlain, kafkaconn.SASLScram256, kafkaconn.SASLScram512} {
		t.Run(mech, func(t *testing.T) {
			k := kafkaconn.Config{
				Brokers: c.ListenAddrs(), ClientID: "test",
				TLS:  kafkaconn.TLS{Enabled: true, CAFile: pki.CAFile, MinVersion: "1.2"},
				SASL: kafkaconn.SASL{Mechanism: mech, Username: user, Password: password},
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
	k := kafkaconn.Config{Brokers: c.ListenAddrs(), ClientID: "test",
		TLS:  kafkaconn.TLS{Enabled: true, CAFile: other.CAFile, MinVersion: "1.2"},
		SASL: kafkaconn.SASL{Mechanism: kafkaconn.SASLScram512, Username: user, Password: password}}
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
	k := kafkaconn.Config{Brokers: c.ListenAddrs(), ClientID: "test",
		TLS:  kafkaconn.TLS{Enabled: true, CAFile: pki.CAFile, MinVersion: "1.2"},
		SASL: kafkaconn.SASL{Mechanism: kafkaconn.SASLScram512, Username: user, PasswordFile: pwFile}}
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
	k := kafkaconn.Config{Brokers: c.ListenAddrs(), ClientID: "test",
		TLS:  kafkaconn.TLS{Enabled: true, CAFile: pki.CAFile, MinVersion: "1.2", CertFile: certFile, KeyFile: keyFile},
		SASL: kafkaconn.SASL{Mechanism: kafkaconn.SASLScram256, Username: user, Password: password}}
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
	k := kafkaconn.Config{Brokers: c.ListenAddrs(), ClientID: "test",
		TLS:  kafkaconn.TLS{Enabled: true, CAFile: pki.CAFile, MinVersion: "1.2"},
		SASL: kafkaconn.SASL{Mechanism: kafkaconn.SASLOAuthBearer, TokenFile: tok}}
	err := kafkaconn.Probe(context.Background(), k)
	if !kafkaconn.IsFatal(err) || !strings.Contains(err.Error(), "does not offer SASL OAUTHBEARER") {
		t.Fatalf("err = %v", err)
	}
}

// TestCAFileChecked: the CA bundle is checked as the configuration loader
// checks it (package cafile): a bundle with a certificate that does not
// parse is refused even next to a good one, and the error names the file
// without quoting it.
func TestCAFileChecked(t *testing.T) {
	pki, err := tc.NewPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	const leak = "TOP-SECRET-where-a-certificate-should-be"
	bad := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, bad, string(good)+"-----BEGIN CERTIFICATE-----\n"+base64.StdEncoding.EncodeToString([]byte(leak))+"\n-----END CERTIFICATE-----\n")
	_, err = kafkaconn.TLSConfig(kafkaconn.TLS{Enabled: true, CAFile: bad})
	if err == nil || !strings.Contains(err.Error(), "kafka.tls.ca_file: CA file "+bad+": certificate 2 is not a valid X.509 certificate") || strings.Contains(err.Error(), leak) {
		t.Errorf("TLSConfig with a bad certificate: %v", err)
	}
	if _, err := kafkaconn.TLSConfig(kafkaconn.TLS{Enabled: true, CAFile: pki.CAFile}); err != nil {
		t.Errorf("TLSConfig with a good bundle: %v", err)
	}
}

// TestDefaults: a Config's zero values take the documented defaults.
func TestDefaults(t *testing.T) {
	opts, err := kafkaconn.Options(kafkaconn.Config{Brokers: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if got := cl.OptValue(kgo.ClientID); got != kafkaconn.DefaultClientID {
		t.Errorf("client id %v, want %s", got, kafkaconn.DefaultClientID)
	}
	for v, want := range map[string]uint16{"": tls.VersionTLS12, kafkaconn.TLSVersion12: tls.VersionTLS12, kafkaconn.TLSVersion13: tls.VersionTLS13} {
		c, err := kafkaconn.TLSConfig(kafkaconn.TLS{Enabled: true, MinVersion: v})
		if err != nil || c.MinVersion != want {
			t.Errorf("MinVersion %q: %x, %v; want %x", v, c.MinVersion, err, want)
		}
	}
}

// Transactional producers refresh metadata soon after an error: the
// client's default, one refresh per 5s, stalled back-to-back transactions.
func TestTransactionalRefreshesMetadataSoon(t *testing.T) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}, kafkaconn.Transactional()...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got, ok := cl.OptValue(kgo.MetadataMinAge).(time.Duration)
	if !ok || got != kafkaconn.TransactionalMetadataMinAge || got > 250*time.Millisecond {
		t.Errorf("MetadataMinAge = %v, want %v (at most 250ms)", cl.OptValue(kgo.MetadataMinAge), kafkaconn.TransactionalMetadataMinAge)
	}
}
