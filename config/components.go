package config

import (
	"regexp"
	"slices"

	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/kafkaconn"
	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/transform"
)

// The mapping from bridge.yaml to the components' own configurations, in
// one direction: the components know nothing of YAML, and the wiring
// (package pipeline, the commands) adds only what is not configuration
// (loggers, observers, callbacks). A loaded Config holds every default, so
// the fields mapped here are complete; a component applies its own
// defaults only to the fields bridge.yaml has no key for.

// ConsumerConfig maps the kafka section's group and fetch settings, the
// consumer section, the routes' topics and the dead-letter topic template
// to the consumer's configuration. The caller sets Logger and Observer.
func (c *Config) ConsumerConfig() consumer.Config {
	k, cs := c.Kafka, c.Consumer
	topics, regex := c.consumeTopics()
	return consumer.Config{
		Topics:                 topics,
		Regex:                  regex,
		GroupID:                k.GroupID,
		InstanceID:             k.InstanceID,
		SessionTimeout:         k.SessionTimeout,
		RebalanceTimeout:       k.RebalanceTimeout,
		StartOffset:            consumer.StartOffset(k.StartOffset),
		FetchMaxBytes:          int32(k.FetchMaxBytes),
		FetchMaxPartitionBytes: int32(k.FetchMaxPartitionBytes),
		FetchMaxWait:           k.FetchMaxWait,
		Ordering:               consumer.Ordering(cs.Ordering),
		MaxInFlight:            cs.MaxInFlight,
		MaxBuffered:            cs.MaxBuffered,
		MaxInFlightBytes:       int64(cs.MaxInFlightBytes),
		MaxRecordsAhead:        cs.MaxRecordsAhead,
		CommitInterval:         cs.CommitInterval,
		CommitTimeout:          cs.CommitTimeout,
		RevokeDrainTimeout:     cs.RevokeDrainTimeout,
		DrainTimeout:           cs.DrainTimeout,
		RetryBackoff:           cs.RetryBackoff,
		RetryBackoffMax:        cs.RetryBackoffMax,
		DLQTopic:               c.DLQTopic,
	}
}

// consumeTopics lists what to consume: exact topics as is; with any
// pattern route, everything as anchored regular expressions.
func (c *Config) consumeTopics() (topics []string, regex bool) {
	for _, r := range c.Routes {
		if r.TopicPattern != "" {
			regex = true
		}
	}
	for _, r := range c.Routes {
		switch {
		case !regex:
			topics = append(topics, r.Topic)
		case r.TopicPattern != "":
			topics = append(topics, r.TopicPattern)
		default:
			topics = append(topics, "^"+regexp.QuoteMeta(r.Topic)+"$")
		}
	}
	return topics, regex
}

// ConnConfig maps the kafka section's connection settings (brokers, client
// id, tls, sasl) to package kafkaconn's configuration, with which every
// Kafka client of the bridge connects ([kafkaconn.Options]).
func (k Kafka) ConnConfig() kafkaconn.Config {
	t, s := k.TLS, k.SASL
	return kafkaconn.Config{
		Brokers:  slices.Clone(k.Brokers),
		ClientID: k.ClientID,
		TLS: kafkaconn.TLS{
			Enabled:            t.Enabled,
			CAFile:             t.CAFile,
			CertFile:           t.CertFile,
			KeyFile:            t.KeyFile,
			ServerName:         t.ServerName,
			MinVersion:         t.MinVersion,
			InsecureSkipVerify: t.InsecureSkipVerify,
		},
		SASL: kafkaconn.SASL{
			Mechanism:    s.Mechanism,
			Username:     s.Username,
			Password:     s.Password,
			PasswordFile: s.PasswordFile,
			TokenFile:    s.TokenFile,
			TokenCommand: slices.Clone(s.TokenCommand),
			AWS: kafkaconn.AWS{
				AccessKeyID:        s.AWS.AccessKeyID,
				SecretAccessKey:    s.AWS.SecretAccessKey,
				SessionToken:       s.AWS.SessionToken,
				CredentialsCommand: slices.Clone(s.AWS.CredentialsCommand),
			},
		},
	}
}

// SinkConfig maps the cxone section (and consumer.max_in_flight, which
// sizes the connection pool) to the sink's configuration. The caller sets
// Logger, Observer and OnBreakerState.
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
		AllowedHosts: slices.Clone(x.AllowedHosts),
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

// TransformConfig maps the routes and correlation settings to the
// transform package's configuration.
func (c *Config) TransformConfig() transform.Config {
	tc := transform.Config{
		Correlation: transform.Correlation{
			Headers:   slices.Clone(c.Correlation.Headers),
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
