package testcontainers_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/cxone-bridge/bridge/testcontainers"
)

// TestSecurityListeners: with Security, one node serves SASL_SSL (TLS
// verified against CAFile, SCRAM-SHA-256 and -512 users made at format
// time) and SASL_PLAINTEXT OAUTHBEARER (unsecured JWT), beside PLAINTEXT.
// A record written through each is read back; a wrong SCRAM password is
// answered SASL_AUTHENTICATION_FAILED; TLS with another CA fails.
func TestSecurityListeners(t *testing.T) {
	start := time.Now()
	k := testcontainers.StartKafka(t, testcontainers.Security(testcontainers.SCRAMUser{Name: "bridge", Password: "bridge-pw-1"}))
	t.Logf("secured 1-node cluster ready in %s", time.Since(start).Round(10*time.Millisecond))
	topic := testcontainers.UniqueName("secure")
	k.CreateTopic(t, topic, 1, 1, nil)

	caPEM, err := os.ReadFile(k.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	tlsCfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	unsecuredJWT := func(sub string) string {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(`{"alg":"none"}`)) + "." + enc(fmt.Appendf(nil, `{"sub":%q,"iat":%d,"exp":%d}`, sub, time.Now().Unix(), time.Now().Add(time.Hour).Unix())) + "."
	}
	cases := []struct {
		name  string
		addrs []string
		opts  []kgo.Opt
	}{
		{"SCRAM-SHA-512 over TLS", k.SecureBrokers(), []kgo.Opt{kgo.DialTLSConfig(tlsCfg), kgo.SASL(scram.Auth{User: "bridge", Pass: "bridge-pw-1"}.AsSha512Mechanism())}},
		{"SCRAM-SHA-256 over TLS", k.SecureBrokers(), []kgo.Opt{kgo.DialTLSConfig(tlsCfg), kgo.SASL(scram.Auth{User: "bridge", Pass: "bridge-pw-1"}.AsSha256Mechanism())}},
		{"OAUTHBEARER", k.OAuthBrokers(), []kgo.Opt{kgo.SASL(oauth.Auth{Token: unsecuredJWT("bridge")}.AsMechanism())}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.addrs...), kgo.DefaultProduceTopic(topic),
				kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, c.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			want := "via " + c.name
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(want)}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			for found := false; !found; {
				fs := cl.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					t.Fatalf("%s not read back: %v", want, err)
				}
				fs.EachRecord(func(r *kgo.Record) { found = found || string(r.Value) == want })
			}
		})
	}

	refused := func(name string, opts ...kgo.Opt) error {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.SecureBrokers()...)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		t0 := time.Now()
		err = cl.Ping(ctx)
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		t.Logf("%s: refused in %s: %v", name, time.Since(t0).Round(time.Millisecond), err)
		return err
	}
	for _, m := range []sasl.Mechanism{
		scram.Auth{User: "bridge", Pass: "wrong"}.AsSha512Mechanism(),
		scram.Auth{User: "nobody", Pass: "bridge-pw-1"}.AsSha256Mechanism(),
	} {
		if err := refused(m.Name(), kgo.DialTLSConfig(tlsCfg), kgo.SASL(m)); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s with bad credentials: %v, want SASL_AUTHENTICATION_FAILED", m.Name(), err)
		}
	}
	var uae x509.UnknownAuthorityError
	if err := refused("system roots", kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: "bridge", Pass: "bridge-pw-1"}.AsSha512Mechanism())); !errors.As(err, &uae) {
		t.Errorf("TLS without the test CA: %v, want an unknown-authority error", err)
	}
}
