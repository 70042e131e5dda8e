package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/kafkaconn"
	"github.com/cxone-bridge/bridge/sink"
)

// TestNewMatchesLoad: a configuration built from values and completed by
// New is the one Load makes of the same settings written in YAML.
func TestNewMatchesLoad(t *testing.T) {
	dir := dirWithSchema(t)
	fromYAML, err := config.Parse([]byte(minimal), dir, goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	in := minimalValues()
	in.Routes[0].Schema = "schemas/order.json"
	fromValues, err := config.New(in, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromYAML, fromValues) {
		t.Errorf("New and Parse differ:\nParse %+v\nNew   %+v", *fromYAML, *fromValues)
	}
	if !filepath.IsAbs(fromValues.Routes[0].SchemaPath) || !strings.HasPrefix(fromValues.Routes[0].SchemaPath, dir) {
		t.Errorf("schema not resolved against dir: %q", fromValues.Routes[0].SchemaPath)
	}
	// The input is not changed: the result is a copy, slices too.
	if in.Routes[0].TimestampField != "" || in.Consumer.MaxInFlight != 0 || in.Routes[0].SchemaPath != "" || in.Dir != "" {
		t.Errorf("New changed its argument: %+v", in)
	}
	fromValues.Kafka.Brokers[0] = "changed:1"
	if in.Kafka.Brokers[0] != "localhost:9092" {
		t.Error("the result shares the argument's slices")
	}
}

// TestNewProblems: New reports every problem at once, at the paths of
// bridge.yaml, in a *config.Error without a file name; and the options
// work as for Load.
func TestNewProblems(t *testing.T) {
	in := minimalValues()
	in.Kafka.Brokers = nil
	in.Consumer.Ordering = "random"
	in.Routes[0].BusinessKey = ""
	in.CXone.Auth.ClientSecret = ""
	_, err := config.New(in, t.TempDir())
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *config.Error", err)
	}
	var paths []string
	for _, p := range ce.Problems {
		paths = append(paths, p.Path)
	}
	for _, want := range []string{"kafka.brokers", "consumer.ordering", "routes[0].business_key", "cxone.auth.client_secret"} {
		if !strings.Contains(strings.Join(paths, " "), want) {
			t.Errorf("no problem at %s in %v", want, err)
		}
	}
	if ce.File != "" || !strings.HasPrefix(err.Error(), "config: 4 problems\n") {
		t.Errorf("error text: %v", err)
	}
	// WithoutCredentials relaxes the credentials, as for Load.
	in = minimalValues()
	in.CXone.Auth.ClientSecret = ""
	if _, err := config.New(in, t.TempDir(), config.WithoutCredentials()); err != nil {
		t.Errorf("WithoutCredentials: %v", err)
	}
	// Files are read as by Load: a secret file fills the secret.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in.CXone.Auth.ClientSecretFile = "secret"
	cfg, err := config.New(in, dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(cfg.CXone.Auth.ClientSecret) != "from-file" || cfg.CXone.Auth.ClientSecretFile != filepath.Join(dir, "secret") {
		t.Errorf("secret file: %q %q", cfg.CXone.Auth.ClientSecret, cfg.CXone.Auth.ClientSecretFile)
	}
}

// TestComponentZeroValues: a component built directly, with only what
// bridge.yaml requires, runs with the values the bridge runs with: the
// zero values of the components' configurations mean what the absent keys
// of bridge.yaml mean.
func TestComponentZeroValues(t *testing.T) {
	for name, tc := range map[string]struct {
		yaml string
		sink sink.Config // what the sink needs besides defaults
	}{
		"minimal": {minimalYAML, sink.Config{ClientID: "client-1", ClientSecret: secret}},
		"access key, discovered": {withCXone(accessKeyDiscover), sink.Config{DiscoverAPIEndpoint: true, TenantID: "11111111-2222-3333-4444-555555555555",
			AuthMode: sink.AuthAccessKey, ClientID: "client-1", ClientSecret: secret, AccessKeyID: "AK-1", AccessKeySecret: keySecret}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := parse(t, tc.yaml, keyEnv)
			if err != nil {
				t.Fatal(err)
			}
			// consumer
			mapped := cfg.ConsumerConfig()
			direct := consumer.Config{Topics: mapped.Topics, Regex: mapped.Regex}.WithDefaults()
			mapped = mapped.WithDefaults()
			mapped.DLQTopic, mapped.Logger, direct.Logger = nil, nil, nil
			if !reflect.DeepEqual(mapped, direct) {
				t.Errorf("consumer:\nfrom bridge.yaml %+v\nzero values      %+v", mapped, direct)
			}
			// sink
			got := cfg.SinkConfig().WithDefaults()
			want := tc.sink.WithDefaults()
			got.Logger, want.Logger = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("sink:\nfrom bridge.yaml %#v\nzero values      %#v", fields(got), fields(want))
			}
		})
	}
	// kafkaconn: the client id and the TLS version.
	cfg, err := parse(t, minimalYAML, goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]kafkaconn.Config{"from bridge.yaml": cfg.Kafka.ConnConfig(), "zero": {Brokers: cfg.Kafka.Brokers}} {
		opts, err := kafkaconn.Options(k)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		if got := cl.OptValue(kgo.ClientID); got != kafkaconn.DefaultClientID {
			t.Errorf("%s: client id %v", name, got)
		}
		cl.Close()
		k.TLS.Enabled = true
		tc, err := kafkaconn.TLSConfig(k.TLS)
		if err != nil || tc.MinVersion != 0x0303 { // TLS 1.2
			t.Errorf("%s: TLS min version %x, %v", name, tc.MinVersion, err)
		}
	}
	// The sink sizes its pool for the consumer's in-flight limit.
	if sink.DefaultMaxInFlight != consumer.DefaultMaxInFlight {
		t.Errorf("sink.DefaultMaxInFlight %d, consumer.DefaultMaxInFlight %d: a Publisher built directly would size its pool for another limit than the bridge's",
			sink.DefaultMaxInFlight, consumer.DefaultMaxInFlight)
	}
}

// fields shows a sink.Config field by field (its String shows a summary).
func fields(c sink.Config) map[string]any {
	m := map[string]any{}
	v := reflect.ValueOf(c)
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.Kind() != reflect.Func && f.Kind() != reflect.Pointer && f.Kind() != reflect.Interface {
			m[v.Type().Field(i).Name] = f.Interface()
		}
	}
	return m
}

// TestMappingComplete: every key of bridge.yaml that a component takes
// reaches it. Each leaf key is set alone on an empty configuration, and
// some field of some component's configuration must change. A key added
// to a section without a field of that name (or a map tag) in the
// component fails here.
func TestMappingComplete(t *testing.T) {
	components := func(c *config.Config) []any {
		cc := c.ConsumerConfig()
		cc.DLQTopic = nil // a func: never DeepEqual
		rc, _ := c.RegistryConfig()
		return []any{cc, c.Kafka.ConnConfig(), c.SinkConfig(), c.TransformConfig(), rc}
	}
	base := config.Config{Routes: []config.Route{{}}}
	baseline := components(&base)
	sections := map[string]func(c *config.Config) reflect.Value{
		"kafka":           func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.Kafka).Elem() },
		"consumer":        func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.Consumer).Elem() },
		"cxone":           func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.CXone).Elem() },
		"correlation":     func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.Correlation).Elem() },
		"routes[0]":       func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.Routes[0]).Elem() },
		"schema_registry": func(c *config.Config) reflect.Value { return reflect.ValueOf(&c.SchemaRegistry).Elem() },
	}
	n := 0
	for section, get := range sections {
		for _, path := range leaves(get(&base).Type(), nil) {
			c := config.Config{Routes: []config.Route{{}}}
			f := get(&c).FieldByIndex(path)
			if tag := get(&c).Type().FieldByIndex(path).Tag.Get("map"); tag == "-" {
				continue
			}
			fill(f)
			n++
			if reflect.DeepEqual(components(&c), baseline) {
				t.Errorf("%s: %s reaches no component", section, get(&c).Type().FieldByIndex(path).Name)
			}
		}
	}
	if n < 60 {
		t.Errorf("only %d keys tried", n)
	}
}

// leaves lists the index paths of the exported non-struct fields of t,
// descending into structs.
func leaves(t reflect.Type, prefix []int) [][]int {
	var out [][]int
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		p := append(slices.Clone(prefix), i)
		if f.Type.Kind() == reflect.Struct {
			out = append(out, leaves(f.Type, p)...)
			continue
		}
		out = append(out, p)
	}
	return out
}

// fill sets every field of v to a value that is not zero.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(int64(7 * time.Millisecond))
	case reflect.Uint, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float64:
		v.SetFloat(7)
	case reflect.Slice:
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e)
		v.Set(reflect.Append(reflect.MakeSlice(v.Type(), 0, 1), e))
	}
}
