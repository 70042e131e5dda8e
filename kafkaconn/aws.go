package kafkaconn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// awsRefreshGap: credentials from credentials_command are fetched again
// this long before their Expiration.
const awsRefreshGap = 5 * time.Minute

// AWSCredentials are the credentials of one MSK IAM authentication.
type AWSCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Expiration is zero for credentials that do not expire.
	Expiration time.Time
}

// String never shows the secret parts.
func (c AWSCredentials) String() string {
	return fmt.Sprintf("AWS credentials %s (secret [redacted])", c.AccessKeyID)
}

// ParseCredentialProcess parses the output of an AWS credential_process
// command (`aws configure export-credentials --format process` prints it):
//
//	{"Version": 1, "AccessKeyId": "...", "SecretAccessKey": "...",
//	 "SessionToken": "...", "Expiration": "2026-11-27T20:00:00Z"}
//
// Version must be 1, AccessKeyId and SecretAccessKey non-empty;
// SessionToken and Expiration (RFC 3339) are optional. Unknown fields are
// ignored, as the AWS SDKs do. Errors never quote the input.
func ParseCredentialProcess(data []byte) (AWSCredentials, error) {
	var v struct {
		Version         *int    `json:"Version"`
		AccessKeyID     *string `json:"AccessKeyId"`
		SecretAccessKey *string `json:"SecretAccessKey"`
		SessionToken    *string `json:"SessionToken"`
		Expiration      *string `json:"Expiration"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return AWSCredentials{}, fmt.Errorf("credential_process output is not valid JSON (byte %d)", se.Offset)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return AWSCredentials{}, errors.New("credential_process output is not valid JSON (truncated)")
		case errors.As(err, &te):
			return AWSCredentials{}, fmt.Errorf("credential_process output: field %s has the wrong type (want %s)", te.Field, te.Type)
		default:
			return AWSCredentials{}, errors.New("credential_process output is not a JSON object")
		}
	}
	if dec.More() {
		return AWSCredentials{}, errors.New("credential_process output: more than one JSON value")
	}
	var c AWSCredentials
	var problems []error
	if v.Version == nil || *v.Version != 1 {
		problems = append(problems, errors.New("Version must be 1"))
	}
	if v.AccessKeyID == nil || *v.AccessKeyID == "" {
		problems = append(problems, errors.New("AccessKeyId is missing"))
	} else {
		c.AccessKeyID = *v.AccessKeyID
	}
	if v.SecretAccessKey == nil || *v.SecretAccessKey == "" {
		problems = append(problems, errors.New("SecretAccessKey is missing"))
	} else {
		c.SecretAccessKey = *v.SecretAccessKey
	}
	if v.SessionToken != nil {
		c.SessionToken = *v.SessionToken
	}
	if v.Expiration != nil && *v.Expiration != "" {
		t, err := time.Parse(time.RFC3339, *v.Expiration)
		if err != nil {
			problems = append(problems, errors.New("Expiration is not an RFC 3339 time"))
		}
		c.Expiration = t
	}
	if len(problems) > 0 {
		return AWSCredentials{}, fmt.Errorf("credential_process output: %w", errors.Join(problems...))
	}
	return c, nil
}

// awsProvider returns the credentials of aws-msk-iam: static ones from
// the configuration or the environment, or those of credentials_command,
// fetched again before they expire.
type awsProvider struct {
	static *AWSCredentials
	env    func(string) (string, bool)
	argv   []string
	now    func() time.Time
	run    func(ctx context.Context, what string, argv []string) ([]byte, error)

	mu     sync.Mutex
	cached *AWSCredentials
}

func newAWSProvider(a AWS, env func(string) (string, bool)) *awsProvider {
	p := &awsProvider{env: env, argv: a.CredentialsCommand, now: time.Now, run: runCommand}
	if a.AccessKeyID != "" {
		p.static = &AWSCredentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: string(a.SecretAccessKey), SessionToken: string(a.SessionToken)}
	}
	return p
}

func (p *awsProvider) credentials(ctx context.Context) (AWSCredentials, error) {
	if p.static != nil {
		return *p.static, nil
	}
	if len(p.argv) == 0 {
		// The environment is read at every authentication: a process
		// supervisor may not change it, but tests and wrappers can.
		id, _ := p.env(EnvAWSAccessKeyID)
		key, _ := p.env(EnvAWSSecretAccessKey)
		tok, _ := p.env(EnvAWSSessionToken)
		if id == "" || key == "" {
			return AWSCredentials{}, fmt.Errorf("aws-msk-iam: %s and %s are not set", EnvAWSAccessKeyID, EnvAWSSecretAccessKey)
		}
		return AWSCredentials{AccessKeyID: id, SecretAccessKey: key, SessionToken: tok}, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if c := p.cached; c != nil && (c.Expiration.IsZero() || now.Before(c.Expiration.Add(-awsRefreshGap))) {
		return *c, nil
	}
	out, err := p.run(ctx, "kafka.sasl.aws.credentials_command", p.argv)
	if err != nil {
		return AWSCredentials{}, err
	}
	c, err := ParseCredentialProcess(out)
	if err != nil {
		return AWSCredentials{}, fmt.Errorf("kafka.sasl.aws.credentials_command %s: %w", p.argv[0], err)
	}
	if !c.Expiration.IsZero() && !now.Before(c.Expiration) {
		return AWSCredentials{}, fmt.Errorf("kafka.sasl.aws.credentials_command %s: the credentials expired at %s", p.argv[0], c.Expiration.Format(time.RFC3339))
	}
	p.cached = &c
	return c, nil
}
