package dlqtool

import (
	"cmp"
	"fmt"
	"regexp"
	"strings"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/dlq"
)

// Routes says where a replay may write a record without --to: only to a
// topic the configuration routes (docs/dlq.md, "Where a replay writes").
// The source topic in an envelope is only a header, which anyone who can
// write the DLQ topic can set; the replay writes with the operator's
// credentials, in transactions, so it must not become a way to write into
// any topic of the cluster (a forged record naming "payments").
//
// A topic is routed when a route names it (topic) or its pattern
// (topic_pattern) matches it, as the bridge matches records to routes
// (unanchored regular expressions, first match wins). A dead-letter topic
// is never routed, even when a pattern matches it: a topic is a
// dead-letter topic when it is the dlq.topic of a routed topic (dlq.topic
// with {topic} expanded to a topic a route names or matches), dlq.topic
// itself when it has no {topic}, or the DLQ topic being replayed.
type Routes struct {
	exact    map[string]bool
	patterns []*regexp.Regexp
	dlqTmpl  string
}

// topicMarker is the placeholder of dlq.topic.
const topicMarker = "{topic}"

// NewRoutes compiles the routes of cfg. The error is a route pattern's
// (config.Load has already checked them).
func NewRoutes(cfg *config.Config) (*Routes, error) {
	r := &Routes{exact: map[string]bool{}, dlqTmpl: cmp.Or(cfg.DLQ.Topic, config.DefaultDLQTopic)}
	for i, rt := range cfg.Routes {
		switch {
		case rt.Topic != "":
			r.exact[rt.Topic] = true
		case rt.TopicPattern != "":
			re, err := regexp.Compile(rt.TopicPattern)
			if err != nil {
				return nil, fmt.Errorf("routes[%d].topic_pattern: %w", i, err)
			}
			r.patterns = append(r.patterns, re)
		}
	}
	return r, nil
}

// matches reports whether a route names topic or matches it.
func (r *Routes) matches(topic string) bool {
	if r.exact[topic] {
		return true
	}
	for _, re := range r.patterns {
		if re.MatchString(topic) {
			return true
		}
	}
	return false
}

// IsDLQ reports whether topic is a dead-letter topic of the configuration:
// dlq.topic expanded for a topic the routes name or match, or dlq.topic
// itself when it has no {topic}.
func (r *Routes) IsDLQ(topic string) bool {
	k := strings.Count(r.dlqTmpl, topicMarker)
	if k == 0 {
		return topic == r.dlqTmpl
	}
	// topic = template with each {topic} replaced by the same source S:
	// the fixed parts take len(template) - k*len(marker) bytes, S the
	// rest, k times; S starts where the first marker is.
	fixed := len(r.dlqTmpl) - k*len(topicMarker)
	n := len(topic) - fixed
	if n <= 0 || n%k != 0 {
		return false
	}
	i := strings.Index(r.dlqTmpl, topicMarker)
	src := topic[i : i+n/k]
	return strings.ReplaceAll(r.dlqTmpl, topicMarker, src) == topic && r.matches(src)
}

// Check returns nil when a replay of the DLQ topic dlqTopic may write to
// topic without --to, else why not.
func (r *Routes) Check(topic, dlqTopic string) error {
	switch {
	case r == nil:
		return fmt.Errorf("source topic %s: no routes to check it against (use --to)", topic)
	case topic == dlqTopic || r.IsDLQ(topic):
		return fmt.Errorf("source topic %s is a dead-letter topic of this configuration: not replayed", topic)
	case !r.matches(topic):
		return fmt.Errorf("source topic %s is not routed by this configuration (no route's topic or topic_pattern): not replayed", topic)
	}
	return nil
}

// CheckTo returns nil when --to may name topic for a replay of dlqTopic:
// a valid topic name that is not a dead-letter topic of the configuration
// (nor dlqTopic). --to need not be routed: it is the operator's explicit
// choice (a staging topic, a topic of another bridge).
func (r *Routes) CheckTo(topic, dlqTopic string) error {
	switch {
	case !dlq.ValidTopic(topic):
		return fmt.Errorf("--to %q is not a valid Kafka topic name", topic)
	case topic == dlqTopic:
		return fmt.Errorf("--to %s is the DLQ topic being replayed", topic)
	case r != nil && r.IsDLQ(topic):
		return fmt.Errorf("--to %s is a dead-letter topic of this configuration (dlq.topic); replaying into a DLQ is not supported", topic)
	}
	return nil
}
