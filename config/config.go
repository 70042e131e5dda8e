// Package config loads and validates bridge.yaml.
//
// [Load] reads the file, expands ${ENV_VAR} references in values, rejects
// unknown keys, applies defaults and validates the result. Every problem is
// reported at once, each with the path of the key it concerns, for example
//
//	routes[1].schema: file not found: schemas/order.json
//	cxone.base_url: must be https (set cxone.allow_insecure_http for local testing)
//
// Secrets (the CXone client and access key secrets, the Kafka password and
// AWS keys) are held as [secret.Secret] values, which never print
// themselves. No error produced here shows a value that came from the
// environment or from a file: the loader records which values were expanded
// from ${NAME} references or read from files, and problems about them show
// the reference as written (or the file's path) instead, whatever the key.
// (Redacting such a value from a message after formatting cannot work: a
// quoted secret holding a quote, a backslash, a newline or non-ASCII text is
// escaped and no longer matches.)
//
// # Defaults and components
//
// The configuration maps onto the components' own configurations, in one
// direction: [Config.ConsumerConfig] (package consumer),
// [Kafka.ConnConfig] (package kafkaconn), [Config.SinkConfig] (package
// sink) and [Config.TransformConfig] (package transform), all in
// components.go, by field name (mapping.go). A default is declared once,
// by the component that uses it (consumer.Config.WithDefaults,
// sink.DefaultConfig, …), and the loader fills the absent keys with what
// the component's WithDefaults makes of the mapped configuration, so that
// a loaded configuration shows the values in effect, a default that
// depends on another key follows it, and a component built directly runs
// as the bridge does. Keys no component has a default for (log, metrics,
// dlq, routes[].timestamp_field, routes[].tombstones) have theirs in this
// file. docs/config.md lists every key with its default, and a test
// compares that list with what the loader produces.
//
// [Load] and [Parse] read YAML; [New] completes a configuration built from
// values in code, with the same defaults and checks.
package config

import (
	"strings"
	"time"

	"github.com/cxone-bridge/bridge/secret"
)

// Config is the whole of bridge.yaml. Every field is documented in
// docs/config.md; the zero value of an optional field means "use the
// default". [Load], [Parse] and [New] return it complete: every optional
// field holds its default.
type Config struct {
	Kafka       Kafka       `yaml:"kafka"`
	Consumer    Consumer    `yaml:"consumer"`
	CXone       CXone       `yaml:"cxone"`
	Correlation Correlation `yaml:"correlation"`
	DLQ         DLQ         `yaml:"dlq"`
	Routes      []Route     `yaml:"routes"`
	// SchemaRegistry serves the schemas of routes with a registry format.
	SchemaRegistry SchemaRegistry `yaml:"schema_registry"`
	Log            Log            `yaml:"log"`
	Metrics        Metrics        `yaml:"metrics"`

	// Path is the file the configuration was loaded from ([Load]; empty for
	// [Parse] and [New]), and Dir its folder, against which relative paths
	// were resolved.
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
	// GroupProtocol is the consumer group protocol: classic (KIP-429,
	// cooperative-sticky, the client assigns) or consumer (KIP-848, the
	// broker assigns; Kafka 4.0+).
	GroupProtocol string `yaml:"group_protocol"`
	// FetchMaxBytes and FetchMaxPartitionBytes bound one fetch response,
	// and so the memory franz-go buffers ahead of the worker pool.
	FetchMaxBytes          ByteSize `yaml:"fetch_max_bytes"`
	FetchMaxPartitionBytes ByteSize `yaml:"fetch_max_partition_bytes"`
	// FetchMaxWait is how long a broker may hold a fetch waiting for new
	// records. It also bounds how soon a partition whose fetching resumed
	// (after the fair-share pause) is fetched again, so it is far below
	// franz-go's default of 5s.
	FetchMaxWait time.Duration `yaml:"fetch_max_wait"`
	// TLS and SASL secure the connection to the brokers (kafkasec.go);
	// with Brokers and ClientID they are the connection ([Kafka.ConnConfig]),
	// the other keys the consumer's group and fetching.
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
	// BaseURL is the tenant's API base URL, or [BaseURLDiscover] to ask the
	// issuer for it (with TenantID).
	BaseURL           string `yaml:"base_url"`
	AllowInsecureHTTP bool   `yaml:"allow_insecure_http"`
	EventsPath        string `yaml:"events_path"`
	// TenantID is the tenant whose API base URL is discovered.
	TenantID string `yaml:"tenant_id"`
	// DiscoveryCache is a file keeping discovered endpoints across restarts.
	DiscoveryCache string `yaml:"discovery_cache" map:"DiscoveryCacheFile"`
	// CAFile is a PEM bundle trusted in addition to the system's authorities.
	CAFile string `yaml:"ca_file"`
	Auth   Auth   `yaml:"auth" map:",inline"`

	ConnectTimeout time.Duration `yaml:"connect_timeout" map:"DialTimeout"`
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
	EventsPerSecond float64 `yaml:"events_per_second" map:"PerSecond"`
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
	// Mode is [sink.AuthClientCredentials] (the tutorial's) or
	// [sink.AuthAccessKey] (real CXone's password grant with an access key).
	Mode string `yaml:"mode" map:"AuthMode"`
	// TokenURL is the token endpoint; empty with an Issuer: discovered.
	// Default [sink.DefaultTokenURL] of the base URL.
	TokenURL string `yaml:"token_url"`
	// Issuer is the OpenID issuer whose discovery documents are read;
	// default [sink.DefaultIssuerFor] the mode.
	Issuer           string        `yaml:"issuer"`
	ClientID         string        `yaml:"client_id"`
	ClientSecret     secret.Secret `yaml:"client_secret"`
	ClientSecretFile string        `yaml:"client_secret_file"`
	// BasicEncoding is the form of client_id and client_secret in the
	// Basic header of every token request: [sink.BasicRaw] (default, the
	// reference producer's) or [sink.BasicRFC6749].
	BasicEncoding string `yaml:"basic_encoding"`
	// Access key (mode access_key): the password grant's username and password.
	AccessKeyID         string        `yaml:"access_key_id"`
	AccessKeySecret     secret.Secret `yaml:"access_key_secret"`
	AccessKeySecretFile string        `yaml:"access_key_secret_file"`
	Scope               string        `yaml:"scope"`
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
	// Delivery is exactly_once (a dead letter and the commit of its
	// record's offset in one Kafka transaction) or at_least_once.
	Delivery string `yaml:"delivery" map:"DLQDelivery"`
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

	// Format is how values are written: [FormatJSON] (the default),
	// [FormatAvro], [FormatProtobuf], [FormatJSONSchema] (in a schema
	// registry's wire format) or [FormatAuto]; KeyFormat likewise for the
	// record key, used for the {key} placeholder.
	Format    string `yaml:"format"`
	KeyFormat string `yaml:"key_format"`

	// Schema is a JSON Schema file (Draft 2020-12 unless it says otherwise),
	// relative to the configuration file. Empty: any JSON object passes.
	Schema string `yaml:"schema" map:"-"`

	BusinessKey    string   `yaml:"business_key"`
	TimestampField string   `yaml:"timestamp_field"`
	IdempotencyKey string   `yaml:"idempotency_key"`
	MaxValueBytes  ByteSize `yaml:"max_value_bytes"`
	MaxDepth       int      `yaml:"max_depth"`
	Tombstones     string   `yaml:"tombstones" map:"-"`

	// Expressions in CEL (docs/mapping.md): Filter decides whether this
	// route takes a record (several routes may then share a topic: the
	// first whose filter holds wins), Attributes shapes the event's
	// attributes, and EventTypeExpr, BusinessKeyExpr and TimestampExpr
	// are alternatives to event_type / business_key / timestamp_field.
	// CostLimit bounds one evaluation; Validate says whether Schema
	// judges the value (the default) or the attributes.
	Filter          string `yaml:"filter"`
	Attributes      string `yaml:"attributes"`
	EventTypeExpr   string `yaml:"event_type_expr"`
	BusinessKeyExpr string `yaml:"business_key_expr"`
	TimestampExpr   string `yaml:"timestamp_expr"`
	CostLimit       uint64 `yaml:"cost_limit"`
	Validate        string `yaml:"validate" map:"-"`

	// SchemaPath is Schema resolved against the configuration's folder.
	SchemaPath string `yaml:"-" map:"SchemaFile"`
}

// Metrics configures the operations HTTP listener: Prometheus metrics,
// the /healthz and /readyz probes and, when enabled, pprof.
type Metrics struct {
	// Listen is the listen address, e.g. ":9090"; "off" disables the listener.
	Listen string `yaml:"listen"`
	// Pprof serves net/http/pprof under /debug/pprof/ on a listener of its
	// own, PprofListen (default 127.0.0.1:6060, loopback only).
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

// Values of bridge.yaml keys.
const (
	// BaseURLDiscover as cxone.base_url asks the issuer for the tenant's
	// API base URL.
	BaseURLDiscover = "discover"
	// ValidateValue and ValidateAttributes are the values of
	// routes[].validate.
	ValidateValue      = "value"
	ValidateAttributes = "attributes"
	// TombstonesSkip and TombstonesDLQ are the values of routes[].tombstones.
	TombstonesSkip = "skip"
	TombstonesDLQ  = "dlq"
	// DefaultDLQTopic is the default dlq.topic template.
	DefaultDLQTopic = "{topic}.dlq"
)

// Defaults of the keys that no component has a default for (the others
// are the components': see applyDefaults). docs/config.md lists them.
const (
	defaultLogLevel       = "info"
	defaultLogFormat      = "json"
	defaultMetricsListen  = ":9090"
	defaultPprofListen    = "127.0.0.1:6060"
	defaultStallTimeout   = 30 * time.Second
	defaultTimestampField = "/timestamp"
)

// applyDefaults fills every unset optional field with the default of the
// component the key configures: each section is mapped to its component's
// configuration, the component applies its own defaults (those that depend
// on another key included, from the values set), and the results come back
// into the fields still unset (mapping.go). The keys of no component have
// their defaults here.
func (c *Config) applyDefaults() {
	k := &c.Kafka
	k.SASL.Mechanism = strings.ToLower(strings.TrimSpace(k.SASL.Mechanism))
	fillDefaults(k, k.ConnConfig().WithDefaults())
	cc := c.ConsumerConfig().WithDefaults()
	fillDefaults(k, cc)
	fillDefaults(&c.Consumer, cc)
	fillDefaults(&c.DLQ, cc)
	fillDefaults(&c.CXone, c.SinkConfig().WithDefaults())
	rc, _ := c.RegistryConfig()
	fillDefaults(&c.SchemaRegistry, rc.WithDefaults())

	tc := c.TransformConfig()
	fillDefaults(&c.Correlation, tc.Correlation.WithDefaults())
	for i := range c.Routes {
		r := &c.Routes[i]
		if r.TimestampExpr == "" {
			setDefault(&r.TimestampField, defaultTimestampField)
		}
		setDefault(&r.Validate, ValidateValue)
		setDefault(&r.Tombstones, TombstonesSkip)
		fillDefaults(r, tc.Routes[i].WithDefaults())
	}
	setDefault(&c.DLQ.Topic, DefaultDLQTopic)
	setDefault(&c.Log.Level, defaultLogLevel)
	setDefault(&c.Log.Format, defaultLogFormat)
	setDefault(&c.Metrics.Listen, defaultMetricsListen)
	if c.Metrics.Pprof {
		setDefault(&c.Metrics.PprofListen, defaultPprofListen)
	}
	setDefault(&c.Metrics.StallTimeout, defaultStallTimeout)
}

// setDefault sets *p to def when it is the zero value.
func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
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
