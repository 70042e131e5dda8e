// Package config loads and validates bridge.yaml.
//
// Load reads the file, expands ${ENV_VAR} references in values, rejects
// unknown keys, applies defaults and validates the result. Every problem is
// reported at once, each with the path of the key it concerns, for example
//
//	routes[1].schema: file not found: schemas/order.json
//	cxone.base_url: must be https (set cxone.allow_insecure_http for local testing)
//
// Secrets (the CXone client secret) are held as Secret values, which never
// print themselves. No error produced here shows a value that came from the
// environment or from a file: the loader records which values were expanded
// from ${NAME} references or read from files, and problems about them show
// the reference as written (or the file's path) instead, whatever the key.
// (Redacting such a value from a message after formatting cannot work: a
// quoted secret holding a quote, a backslash, a newline or non-ASCII text is
// escaped and no longer matches.)
package config

import (
	"time"

	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/transform"
)

// Secret is a string that never prints itself (fmt, slog and JSON show
// "[redacted]"); it is the sink's type, so the value travels to the
// publisher without ever being a plain string field. Use string(s) where
// the value is really needed.
type Secret = sink.Secret

// Config is the whole of bridge.yaml. Every field is documented in
// docs/config.md; the zero value of an optional field means "use the default".
type Config struct {
	Kafka       Kafka       `yaml:"kafka"`
	Consumer    Consumer    `yaml:"consumer"`
	CXone       CXone       `yaml:"cxone"`
	Correlation Correlation `yaml:"correlation"`
	DLQ         DLQ         `yaml:"dlq"`
	Routes      []Route     `yaml:"routes"`
	Log         Log         `yaml:"log"`
	Metrics     Metrics     `yaml:"metrics"`

	// Path is the file the configuration was loaded from, and Dir its
	// folder, against which relative paths in the file were resolved.
	Path string `yaml:"-"`
	Dir  string `yaml:"-"`
}

// Kafka says which cluster to read and as which consumer group.
type Kafka struct {
	Brokers  []string `yaml:"brokers"`
	GroupID  string   `yaml:"group_id"`
	ClientID string   `yaml:"client_id"`
	// InstanceID enables static membership (KIP-345): a restarted replica
	// with the same id gets its partitions back without a rebalance.
	InstanceID       string        `yaml:"instance_id"`
	SessionTimeout   time.Duration `yaml:"session_timeout"`
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
	// StartOffset is where a group without committed offsets starts.
	StartOffset string `yaml:"start_offset"`
	// FetchMaxBytes and FetchMaxPartitionBytes bound one fetch response,
	// and so the memory franz-go buffers ahead of the worker pool.
	FetchMaxBytes          ByteSize `yaml:"fetch_max_bytes"`
	FetchMaxPartitionBytes ByteSize `yaml:"fetch_max_partition_bytes"`
	// FetchMaxWait is how long a broker may hold a fetch waiting for new
	// records. It also bounds how soon a partition whose fetching resumed
	// (after the fair-share pause) is fetched again, so it is far below
	// franz-go's default of 5s.
	FetchMaxWait time.Duration `yaml:"fetch_max_wait"`
	// TLS and SASL secure the connection to the brokers (kafkasec.go).
	TLS  KafkaTLS  `yaml:"tls"`
	SASL KafkaSASL `yaml:"sasl"`
}

// Consumer tunes dispatch, backpressure, commits and shutdown (docs/design.md §3).
type Consumer struct {
	Ordering           string        `yaml:"ordering"`
	MaxInFlight        int           `yaml:"max_in_flight"`
	MaxBuffered        int           `yaml:"max_buffered"`
	MaxInFlightBytes   ByteSize      `yaml:"max_in_flight_bytes"`
	MaxRecordsAhead    int64         `yaml:"max_records_ahead"`
	CommitInterval     time.Duration `yaml:"commit_interval"`
	CommitTimeout      time.Duration `yaml:"commit_timeout"`
	RevokeDrainTimeout time.Duration `yaml:"revoke_drain_timeout"`
	DrainTimeout       time.Duration `yaml:"drain_timeout"`
	RetryBackoff       time.Duration `yaml:"retry_backoff"`
	RetryBackoffMax    time.Duration `yaml:"retry_backoff_max"`
}

// CXone says where and how events are published.
type CXone struct {
	// BaseURL is the tenant's API base URL, or BaseURLDiscover to ask the
	// issuer for it (with TenantID).
	BaseURL           string `yaml:"base_url"`
	AllowInsecureHTTP bool   `yaml:"allow_insecure_http"`
	EventsPath        string `yaml:"events_path"`
	// TenantID is the tenant whose API base URL is discovered.
	TenantID string `yaml:"tenant_id"`
	// DiscoveryCache is a file keeping discovered endpoints across restarts.
	DiscoveryCache string `yaml:"discovery_cache"`
	// CAFile is a PEM bundle trusted in addition to the system's authorities.
	CAFile string `yaml:"ca_file"`
	Auth   Auth   `yaml:"auth"`

	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	RequestTimeout time.Duration `yaml:"request_timeout"`
	Retry          Retry         `yaml:"retry"`
	RateLimit      RateLimit     `yaml:"rate_limit"`
	Breaker        Breaker       `yaml:"breaker"`
	Poison         Poison        `yaml:"poison"`
	// AllowedHosts, when set, is the only hosts that discovered endpoints
	// (token endpoint, API base) may be on: a name, or ".example.com" for
	// that domain and its subdomains.
	AllowedHosts []string `yaml:"allowed_hosts"`
}

// Retry bounds the retries of transient failures inside one publish.
type Retry struct {
	BaseDelay     time.Duration `yaml:"base_delay"`
	MaxDelay      time.Duration `yaml:"max_delay"`
	MaxAttempts   int           `yaml:"max_attempts"`
	MaxElapsed    time.Duration `yaml:"max_elapsed"`
	RetryAfterMax time.Duration `yaml:"retry_after_max"`
}

// RateLimit is the client-side limit that keeps a tenant under its quota.
type RateLimit struct {
	EventsPerSecond float64 `yaml:"events_per_second"`
	Burst           int     `yaml:"burst"`
}

// Breaker configures the circuit breaker in front of CXone.
type Breaker struct {
	FailuresToOpen      int           `yaml:"failures_to_open"`
	OpenTimeout         time.Duration `yaml:"open_timeout"`
	HalfOpenMaxRequests int           `yaml:"half_open_max_requests"`
}

// Poison bounds the effort spent on one event that CXone keeps failing
// while it accepts others, before it is dead-lettered as a persistent
// failure (docs/reliability.md).
type Poison struct {
	MinAttempts int           `yaml:"min_attempts"`
	MinDuration time.Duration `yaml:"min_duration"`
}

// EventsURL is the full URL events are POSTed to; with base_url: discover
// it is only known once discovered, and EventsURL returns
// "{discovered api_endpoint}" + events_path.
func (c CXone) EventsURL() string {
	if c.BaseURL == BaseURLDiscover {
		return "{discovered api_endpoint}" + c.EventsPath
	}
	return trimSlash(c.BaseURL) + c.EventsPath
}

// Auth holds the OAuth2 client that obtains bearer tokens.
type Auth struct {
	// Mode is AuthClientCredentials (the tutorial's) or AuthAccessKey (real
	// CXone's password grant with an access key).
	Mode string `yaml:"mode"`
	// TokenURL is the token endpoint; empty with an Issuer: discovered.
	TokenURL string `yaml:"token_url"`
	// Issuer is the OpenID issuer whose discovery documents are read.
	Issuer           string `yaml:"issuer"`
	ClientID         string `yaml:"client_id"`
	ClientSecret     Secret `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// Access key (mode access_key): the password grant's username and password.
	AccessKeyID         string `yaml:"access_key_id"`
	AccessKeySecret     Secret `yaml:"access_key_secret"`
	AccessKeySecretFile string `yaml:"access_key_secret_file"`
	Scope               string `yaml:"scope"`
}

// Correlation says where a record's correlation id comes from (docs/design.md §6).
type Correlation struct {
	// Headers are tried in order; the first present, valid one wins. The
	// special name "traceparent" takes the trace id of a W3C traceparent.
	Headers   []string `yaml:"headers"`
	MaxLength int      `yaml:"max_length"`
}

// DLQ names the dead-letter topic of each source topic.
type DLQ struct {
	// Topic is a template; {topic} stands for the source topic.
	Topic string `yaml:"topic"`
	// IncludeResponse keeps an excerpt of CXone's answer (scrubbed of
	// secrets, bounded) in the envelope of rejected records; off by
	// default: an answer may echo the request.
	IncludeResponse bool `yaml:"include_response"`
}

// Route maps the records of one topic (or of every topic matching a pattern)
// to CXone events. Routes are tried in order; the first match wins.
type Route struct {
	Topic        string `yaml:"topic"`
	TopicPattern string `yaml:"topic_pattern"`

	// Exactly one of EventType, EventTypeHeader and EventTypeField is set.
	EventType       string `yaml:"event_type"`
	EventTypeHeader string `yaml:"event_type_header"`
	EventTypeField  string `yaml:"event_type_field"`

	// Schema is a JSON Schema file (Draft 2020-12 unless it says otherwise),
	// relative to the configuration file. Empty: any JSON object passes.
	Schema string `yaml:"schema"`

	BusinessKey    string   `yaml:"business_key"`
	TimestampField string   `yaml:"timestamp_field"`
	IdempotencyKey string   `yaml:"idempotency_key"`
	MaxValueBytes  ByteSize `yaml:"max_value_bytes"`
	MaxDepth       int      `yaml:"max_depth"`
	Tombstones     string   `yaml:"tombstones"`

	// SchemaPath is Schema resolved against the configuration's folder.
	SchemaPath string `yaml:"-"`
}

// Metrics configures the operations HTTP listener: Prometheus metrics,
// the /healthz and /readyz probes and, when enabled, pprof.
type Metrics struct {
	// Listen is the listen address, e.g. ":9090"; "off" disables the listener.
	Listen string `yaml:"listen"`
	// Pprof serves net/http/pprof under /debug/pprof/ on a listener of its
	// own, PprofListen (default DefaultPprofListen, loopback only).
	Pprof       bool   `yaml:"pprof"`
	PprofListen string `yaml:"pprof_listen"`
	// StallTimeout: /healthz fails when the poll loop spent longer than this
	// in one step without waiting for records or for room.
	StallTimeout time.Duration `yaml:"stall_timeout"`
}

// Log configures the process log.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Defaults. They are documented in docs/config.md; keep the two in step.
const (
	DefaultMetricsListen     = ":9090"
	DefaultPprofListen       = "127.0.0.1:6060"
	DefaultStallTimeout      = 30 * time.Second
	DefaultGroupID           = "cxone-bridge"
	DefaultClientID          = "cxone-bridge"
	DefaultBaseURL           = "https://api-us-1.cxone.com"
	DefaultEventsPath        = "/api/v2/eventbridge/events"
	DefaultTokenPath         = "/oauth/token"
	DefaultScope             = "eventbridge:events:write"
	AuthClientCredentials    = "client_credentials"
	AuthAccessKey            = "access_key"
	DefaultIssuer            = "https://cxone.niceincontact.com"
	BaseURLDiscover          = "discover"
	DefaultCorrelationMaxLen = 128
	DefaultDLQTopic          = "{topic}.dlq"
	DefaultTimestampField    = "/timestamp"
	DefaultIdempotencyKey    = "{eventType}:{businessKey}"
	DefaultMaxValueBytes     = ByteSize(1 << 20)
	DefaultMaxDepth          = 64
	TombstonesSkip           = "skip"
	TombstonesDLQ            = "dlq"
)

// DefaultCorrelationHeaders is the default correlation.headers list.
var DefaultCorrelationHeaders = []string{"x-correlation-id", "correlation-id", "correlation_id", "traceparent"}

// applyDefaults fills every unset optional field.
func (c *Config) applyDefaults() {
	setDefault(&c.Kafka.GroupID, DefaultGroupID)
	setDefault(&c.Kafka.ClientID, DefaultClientID)
	setDefault(&c.Kafka.StartOffset, "earliest")
	if c.Kafka.FetchMaxBytes == 0 {
		c.Kafka.FetchMaxBytes = 1 << 20
	}
	if c.Kafka.FetchMaxPartitionBytes == 0 {
		c.Kafka.FetchMaxPartitionBytes = 256 << 10
	}
	setDuration(&c.Kafka.FetchMaxWait, 100*time.Millisecond)
	setDuration(&c.Kafka.SessionTimeout, 45*time.Second)
	setDuration(&c.Kafka.RebalanceTimeout, 60*time.Second)
	c.Kafka.applySecurityDefaults()
	setDefault(&c.Consumer.Ordering, "key")
	if c.Consumer.MaxInFlight == 0 {
		c.Consumer.MaxInFlight = 256
	}
	if c.Consumer.MaxBuffered == 0 {
		c.Consumer.MaxBuffered = 4 * c.Consumer.MaxInFlight
	}
	if c.Consumer.MaxInFlightBytes == 0 {
		c.Consumer.MaxInFlightBytes = 64 << 20
	}
	if c.Consumer.MaxRecordsAhead == 0 {
		c.Consumer.MaxRecordsAhead = consumer.DefaultMaxRecordsAhead
	}
	setDuration(&c.Consumer.CommitInterval, 5*time.Second)
	setDuration(&c.Consumer.CommitTimeout, consumer.DefaultCommitTimeout)
	setDuration(&c.Consumer.RevokeDrainTimeout, min(c.Kafka.RebalanceTimeout/2, 20*time.Second))
	setDuration(&c.Consumer.DrainTimeout, 20*time.Second)
	setDuration(&c.Consumer.RetryBackoff, 500*time.Millisecond)
	setDuration(&c.Consumer.RetryBackoffMax, 30*time.Second)
	if c.CXone.Poison.MinAttempts == 0 {
		c.CXone.Poison.MinAttempts = sink.DefaultConfig().Poison.MinAttempts
	}
	setDuration(&c.CXone.Poison.MinDuration, sink.DefaultConfig().Poison.MinDuration)
	setDefault(&c.CXone.BaseURL, DefaultBaseURL)
	setDefault(&c.CXone.EventsPath, DefaultEventsPath)
	setDefault(&c.CXone.Auth.Mode, AuthClientCredentials)
	if a := &c.CXone.Auth; a.Mode == AuthAccessKey {
		// Real CXone: its issuer, the token endpoint discovered from it, and
		// no scope (the password grant's form has none; the application's are granted).
		if a.Issuer == "" && (a.TokenURL == "" || c.CXone.BaseURL == BaseURLDiscover) {
			a.Issuer = DefaultIssuer
		}
	} else {
		if a.TokenURL == "" && a.Issuer == "" && c.CXone.BaseURL != BaseURLDiscover {
			a.TokenURL = trimSlash(c.CXone.BaseURL) + DefaultTokenPath
		}
		setDefault(&a.Scope, DefaultScope)
	}
	if len(c.Correlation.Headers) == 0 {
		c.Correlation.Headers = append([]string(nil), DefaultCorrelationHeaders...)
	}
	if c.Correlation.MaxLength == 0 {
		c.Correlation.MaxLength = DefaultCorrelationMaxLen
	}
	setDefault(&c.DLQ.Topic, DefaultDLQTopic)
	for i := range c.Routes {
		r := &c.Routes[i]
		setDefault(&r.TimestampField, DefaultTimestampField)
		setDefault(&r.IdempotencyKey, DefaultIdempotencyKey)
		if r.MaxValueBytes == 0 {
			r.MaxValueBytes = DefaultMaxValueBytes
		}
		if r.MaxDepth == 0 {
			r.MaxDepth = DefaultMaxDepth
		}
		setDefault(&r.Tombstones, TombstonesSkip)
	}
	setDefault(&c.Log.Level, "info")
	setDefault(&c.Log.Format, "json")
	setDefault(&c.Metrics.Listen, DefaultMetricsListen)
	if c.Metrics.Pprof {
		setDefault(&c.Metrics.PprofListen, DefaultPprofListen)
	}
	setDuration(&c.Metrics.StallTimeout, DefaultStallTimeout)
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

func setDefault(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// DLQTopic returns the dead-letter topic for records of source topic.
func (c *Config) DLQTopic(source string) string {
	return expandTopic(c.DLQ.Topic, source)
}

// TransformConfig maps the routes and correlation settings to the
// transform package's configuration.
func (c *Config) TransformConfig() transform.Config {
	tc := transform.Config{
		Correlation: transform.Correlation{
			Headers:   append([]string(nil), c.Correlation.Headers...),
			MaxLength: c.Correlation.MaxLength,
		},
	}
	for i, r := range c.Routes {
		tc.Routes = append(tc.Routes, transform.Route{
			Name:            indexPath("routes", i),
			Topic:           r.Topic,
			TopicPattern:    r.TopicPattern,
			EventType:       r.EventType,
			EventTypeHeader: r.EventTypeHeader,
			EventTypeField:  r.EventTypeField,
			SchemaFile:      r.SchemaPath,
			BusinessKey:     r.BusinessKey,
			TimestampField:  r.TimestampField,
			IdempotencyKey:  r.IdempotencyKey,
			MaxValueBytes:   int(r.MaxValueBytes),
			MaxDepth:        r.MaxDepth,
			TombstonesToDLQ: r.Tombstones == TombstonesDLQ,
		})
	}
	return tc
}

// SinkConfig maps the cxone section to the sink's configuration. Zero
// values stay zero: the sink applies its own defaults (docs/config.md lists
// them).
func (c *Config) SinkConfig() sink.Config {
	x := c.CXone
	sc := sink.Config{
		BaseURL:             x.BaseURL,
		EventsPath:          x.EventsPath,
		TokenURL:            x.Auth.TokenURL,
		Issuer:              x.Auth.Issuer,
		TenantID:            x.TenantID,
		DiscoveryCacheFile:  x.DiscoveryCache,
		AllowInsecureHTTP:   x.AllowInsecureHTTP,
		CAFile:              x.CAFile,
		AuthMode:            sink.AuthMode(x.Auth.Mode),
		ClientID:            x.Auth.ClientID,
		ClientSecret:        x.Auth.ClientSecret,
		ClientSecretFile:    x.Auth.ClientSecretFile,
		AccessKeyID:         x.Auth.AccessKeyID,
		AccessKeySecret:     x.Auth.AccessKeySecret,
		AccessKeySecretFile: x.Auth.AccessKeySecretFile,
		Scope:               x.Auth.Scope,
		MaxInFlight:         c.Consumer.MaxInFlight,
		DialTimeout:         x.ConnectTimeout,
		RequestTimeout:      x.RequestTimeout,
		Retry: sink.RetryConfig{
			BaseDelay:     x.Retry.BaseDelay,
			MaxDelay:      x.Retry.MaxDelay,
			MaxAttempts:   x.Retry.MaxAttempts,
			MaxElapsed:    x.Retry.MaxElapsed,
			RetryAfterMax: x.Retry.RetryAfterMax,
		},
		RateLimit: sink.RateLimitConfig{PerSecond: x.RateLimit.EventsPerSecond, Burst: x.RateLimit.Burst},
		Breaker: sink.BreakerConfig{
			FailuresToOpen:      x.Breaker.FailuresToOpen,
			OpenTimeout:         x.Breaker.OpenTimeout,
			HalfOpenMaxRequests: x.Breaker.HalfOpenMaxRequests,
		},
		Poison:       sink.PoisonConfig{MinAttempts: x.Poison.MinAttempts, MinDuration: x.Poison.MinDuration},
		AllowedHosts: append([]string(nil), x.AllowedHosts...),
	}
	if sc.BaseURL == BaseURLDiscover {
		sc.BaseURL, sc.DiscoverAPIEndpoint = "", true
	}
	// A secret file is the source (read again at each token fetch); the
	// value read at load time only served validation.
	if sc.ClientSecretFile != "" {
		sc.ClientSecret = ""
	}
	if sc.AccessKeySecretFile != "" {
		sc.AccessKeySecret = ""
	}
	return sc
}
