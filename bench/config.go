package bench

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/secret"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// Files of the run's folder that the children's configurations name.
const (
	schemaFile = "order.json"
	// secretFile holds the test server's client secret (a secret is never
	// written into a configuration file: see [writeConfigFile]).
	secretFile = "client_secret"
)

// commitInterval is the child's consumer.commit_interval.
const commitInterval = time.Second

// bridgeConfig is the configuration of the bridge measured on topic, as
// its bridge.yaml says it: its own consumer group, the test server at
// baseURL (its client secret in [secretFile]), the shipped route for
// orders, the operations listener (and, with pprof, pprof's) on a free
// loopback port, and JSON logs, which [child] reads.
// With Format avro, the route reads Avro with the registry at registryURL.
func bridgeConfig(brokers []string, baseURL, topic string, o Options, registryURL string) config.Config {
	c := config.Config{
		Kafka: config.Kafka{
			Brokers:  brokers,
			GroupID:  topic + ".bridge",
			ClientID: "cxone-bridge-bench",
		},
		Consumer: config.Consumer{
			Ordering:       o.Ordering,
			MaxInFlight:    o.MaxInFlight,
			CommitInterval: commitInterval,
		},
		CXone: config.CXone{
			BaseURL:           baseURL,
			AllowInsecureHTTP: true,
			Auth: config.Auth{
				ClientID:         cxonetest.DefaultClientID,
				ClientSecretFile: secretFile,
			},
		},
		DLQ: config.DLQ{Topic: "{topic}.dlq"},
		Routes: []config.Route{{
			Topic:       topic,
			EventType:   "OrderCreated",
			Schema:      schemaFile,
			BusinessKey: "/orderId",
		}},
		Metrics: config.Metrics{Listen: "127.0.0.1:0"},
		Log:     config.Log{Level: "info", Format: "json"},
	}
	if o.Format == FormatAvro {
		c.Routes[0].Format = config.FormatAvro
		c.SchemaRegistry.URLs = []string{registryURL}
	}
	if o.CPUProfile != "" || o.HeapProfile != "" {
		// On a loopback listener of its own: the bridge never serves
		// pprof on the metrics port.
		c.Metrics.Pprof, c.Metrics.PprofListen = true, "127.0.0.1:0"
	}
	return c
}

// writeConfigFile writes c to file as bridge.yaml, which [config.Load]
// reads back as [config.New] completes c. It is the one place the bench
// writes a configuration: every key is written under the name package
// config gives it (its yaml tags), so that renaming a key cannot leave
// the bench writing the old one, and only the keys c sets are written
// (the zero value of a key means its default, in a file as in a value), so
// that an older bridge (Options.Binary) reads the file as long as it knows
// those keys. Durations are written as 1s and 250ms, sizes in bytes; a
// "${" in a text is escaped ("$${"): config.New takes values as they are,
// Load would expand it. c must hold no secret: a secret goes in a file
// named by the matching *_file key, never in bridge.yaml.
func writeConfigFile(file string, c config.Config) error {
	b, err := configYAML(c)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o600)
}

// configYAML is c as written by writeConfigFile.
func configYAML(c config.Config) ([]byte, error) {
	v := reflect.ValueOf(c)
	if path := setSecret(v, ""); path != "" {
		return nil, fmt.Errorf("bench: configuration: %s holds a secret; name a file holding it (the matching _file key) instead", path)
	}
	var doc yaml.Node
	if err := doc.Encode(c); err != nil {
		return nil, fmt.Errorf("bench: configuration: %w", err)
	}
	if err := prune(&doc, v, ""); err != nil {
		return nil, fmt.Errorf("bench: configuration: %w", err)
	}
	return yaml.Marshal(&doc)
}

var secretType = reflect.TypeFor[secret.Secret]()

// setSecret returns the key path of the first non-empty [secret.Secret]
// in v (a struct, a slice or a value), or "".
func setSecret(v reflect.Value, path string) string {
	switch {
	case v.Type() == secretType:
		if v.String() != "" {
			return path
		}
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			if name := yamlName(v.Type().Field(i)); name != "" {
				if p := setSecret(v.Field(i), join(path, name)); p != "" {
					return p
				}
			}
		}
	case v.Kind() == reflect.Slice:
		for i := range v.Len() {
			if p := setSecret(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	}
	return ""
}

// prune removes from n, the YAML encoding of v, the keys whose value in v
// is the zero value, and escapes "${" in the texts kept.
func prune(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind == yaml.DocumentNode {
		return prune(n.Content[0], v, path)
	}
	switch {
	case n.Kind == yaml.ScalarNode:
		n.Value = strings.ReplaceAll(n.Value, "${", "$${")
	case n.Kind == yaml.MappingNode && v.Kind() == reflect.Struct:
		fields := map[string]reflect.Value{}
		for i := range v.NumField() {
			if name := yamlName(v.Type().Field(i)); name != "" {
				fields[name] = v.Field(i)
			}
		}
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("%s: no field of %s is key %q", path, v.Type(), k.Value)
			}
			if f.IsZero() {
				continue
			}
			if err := prune(val, f, join(path, k.Value)); err != nil {
				return err
			}
			if val.Kind == yaml.MappingNode && len(val.Content) == 0 {
				continue // set only where bridge.yaml has no key (yaml:"-")
			}
			kept = append(kept, k, val)
		}
		n.Content = kept
	case n.Kind == yaml.SequenceNode && v.Kind() == reflect.Slice && len(n.Content) == v.Len():
		for i, item := range n.Content {
			if err := prune(item, v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	default:
		return errors.New(path + ": not encoded as its type says")
	}
	return nil
}

// yamlName is the key of a struct field in YAML, "" for a field that is
// not one (yaml:"-", unexported).
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return ""
	case "":
		return strings.ToLower(f.Name)
	}
	return name
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
