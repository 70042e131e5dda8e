package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"time"

	"github.com/cxone-bridge/bridge/cafile"
	"github.com/cxone-bridge/bridge/registry"
	"github.com/cxone-bridge/bridge/secret"
)

// SchemaRegistry is the Confluent-compatible schema registry that routes
// with a registry format (routes[].format avro, protobuf, jsonschema or
// auto) read their schemas from.
type SchemaRegistry struct {
	// URLs are the registry's base URLs, tried in turn.
	URLs []string `yaml:"urls"`
	// Username and Password (or PasswordFile) are HTTP basic credentials;
	// BearerToken (or BearerTokenFile) a bearer token. At most one kind.
	Username string `yaml:"username"`
	// The files are read once, at load.
	Password        secret.Secret `yaml:"password"`
	PasswordFile    string        `yaml:"password_file" map:"-"`
	BearerToken     secret.Secret `yaml:"bearer_token"`
	BearerTokenFile string        `yaml:"bearer_token_file" map:"-"`
	// CAFile is a PEM bundle trusted in addition to the system's
	// authorities for https URLs.
	CAFile string `yaml:"ca_file" map:"-"`
	// Timeout bounds one request to the registry.
	Timeout time.Duration `yaml:"timeout"`
}

// UsesRegistry reports whether some route reads a schema registry format,
// so that the bridge needs the schema_registry section's registry.
func (c *Config) UsesRegistry() bool { return c.usesRegistry() }

// RegistryConfig maps the schema_registry section to package registry's
// configuration, with the CA file (if any) loaded into its TLS settings;
// an error means the file changed or vanished since the configuration was
// loaded.
func (c *Config) RegistryConfig() (registry.Config, error) {
	var rc registry.Config
	toComponent(&rc, c.SchemaRegistry)
	// Dead letters name the subject of the schema: one more request per
	// schema id, once.
	rc.LookupSubject = true
	if f := c.SchemaRegistry.CAFile; f != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pool, err = cafile.Load(f, pool)
		if err != nil {
			return rc, fmt.Errorf("schema_registry.ca_file: %w", err)
		}
		rc.TLS = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	return rc, nil
}

// Values of routes[].format and routes[].key_format.
const (
	FormatJSON       = "json"
	FormatAvro       = "avro"
	FormatProtobuf   = "protobuf"
	FormatJSONSchema = "jsonschema"
	FormatAuto       = "auto"
)

// usesRegistry reports whether some route reads a registry format.
func (c *Config) usesRegistry() bool {
	for _, r := range c.Routes {
		if r.Format != FormatJSON || r.KeyFormat != FormatJSON {
			return true
		}
	}
	return false
}

// validateRegistry checks the schema_registry section: required when a
// route reads a registry format, its URLs, one kind of credentials, files.
func (c *Config) validateRegistry(w *walker) {
	s := &c.SchemaRegistry
	if len(s.URLs) == 0 {
		if c.usesRegistry() {
			w.add("schema_registry.urls", "is required: a route reads a schema registry format (routes[].format or key_format other than json)")
		}
		return
	}
	for i, raw := range s.URLs {
		p := indexPath("schema_registry.urls", i)
		u, err := url.Parse(raw)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			w.add(p, "must be an absolute http or https URL such as https://schema-registry.example.com:8081; got %s", w.quote(p, raw))
		case u.User != nil:
			w.add(p, "must not contain credentials; use schema_registry.username and password")
		case u.RawQuery != "" || u.Fragment != "":
			w.add(p, "must not have a query or fragment")
		}
	}
	c.secretFile(w, "schema_registry.password", &s.Password, &s.PasswordFile)
	c.secretFile(w, "schema_registry.bearer_token", &s.BearerToken, &s.BearerTokenFile)
	if s.Password != "" && s.Username == "" {
		w.add("schema_registry.username", "is required with schema_registry.password")
	}
	if s.BearerToken != "" && (s.Username != "" || s.Password != "") {
		w.add("schema_registry.bearer_token", "set either username and password or bearer_token, not both")
	}
	if s.CAFile != "" {
		c.caFile(w, "schema_registry.ca_file", &s.CAFile)
	}
	if s.Timeout < 100*time.Millisecond || s.Timeout > 5*time.Minute {
		w.add("schema_registry.timeout", "must be between 100ms and 5m, got %s", w.show("schema_registry.timeout", s.Timeout))
	}
}

// validateFormat checks routes[i].format or key_format.
func validateFormat(w *walker, path, f string) {
	switch f {
	case FormatJSON, FormatAvro, FormatProtobuf, FormatJSONSchema, FormatAuto:
	default:
		w.add(path, "must be one of json, avro, protobuf, jsonschema, auto; got %s", w.quote(path, f))
	}
}

// securityWarnings lists schema_registry settings that work but weaken
// security.
func (s SchemaRegistry) securityWarnings() []string {
	var out []string
	if s.Username == "" && s.BearerToken == "" {
		return nil
	}
	for _, raw := range s.URLs {
		if u, err := url.Parse(raw); err == nil && u.Scheme == "http" {
			out = append(out, "schema_registry: credentials are sent over plain http to "+u.Host+"; use https")
		}
	}
	return out
}
