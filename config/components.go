package config

import (
	"regexp"

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
	var cc consumer.Config
	toComponent(&cc, c.Kafka)
	toComponent(&cc, c.Consumer)
	toComponent(&cc, c.DLQ)
	cc.Topics, cc.Regex = c.consumeTopics()
	cc.DLQTopic = c.DLQTopic
	return cc
}

// consumeTopics lists what to consume: exact topics as is; with any
// pattern route, everything as anchored regular expressions.
func (c *Config) consumeTopics() (topics []string, regex bool) {
	for _, r := range c.Routes {
		if r.TopicPattern != "" {
			regex = true
		}
	}
	seen := map[string]bool{} // routes with filters share topics
	for _, r := range c.Routes {
		var t string
		switch {
		case !regex:
			t = r.Topic
		case r.TopicPattern != "":
			t = r.TopicPattern
		default:
			t = "^" + regexp.QuoteMeta(r.Topic) + "$"
		}
		if !seen[t] {
			seen[t] = true
			topics = append(topics, t)
		}
	}
	return topics, regex
}

// ConnConfig maps the kafka section's connection settings (brokers, client
// id, tls, sasl) to package kafkaconn's configuration, with which every
// Kafka client of the bridge connects ([kafkaconn.Options]).
func (k Kafka) ConnConfig() kafkaconn.Config {
	var kc kafkaconn.Config
	toComponent(&kc, k)
	return kc
}

// SinkConfig maps the cxone section (and consumer.max_in_flight, which
// sizes the connection pool) to the sink's configuration. The caller sets
// Logger, Observer and OnBreakerState.
func (c *Config) SinkConfig() sink.Config {
	var sc sink.Config
	toComponent(&sc, c.CXone)
	sc.MaxInFlight = c.Consumer.MaxInFlight
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
	var tc transform.Config
	toComponent(&tc.Correlation, c.Correlation)
	for i, r := range c.Routes {
		tr := transform.Route{Name: indexPath("routes", i), TombstonesToDLQ: r.Tombstones == TombstonesDLQ,
			ValidateAttributes: r.Validate == ValidateAttributes}
		toComponent(&tr, r)
		tc.Routes = append(tc.Routes, tr)
	}
	return tc
}
