package bench

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/schemas"
	"github.com/cxone-bridge/bridge/secret"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// runDir is a run's folder: the schema and the client secret the
// configurations name.
func runDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string][]byte{schemaFile: schemas.Order, secretFile: []byte(cxonetest.DefaultClientSecret)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// roundTrip writes c with writeConfigFile, loads the file with
// config.Load, and checks that the result is what config.New makes of c.
func roundTrip(t *testing.T, dir string, c config.Config) *config.Config {
	t.Helper()
	want, err := config.New(c, dir)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "bridge.yaml")
	if err := writeConfigFile(file, c); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(file)
	got, err := config.Load(file, config.WithLookupEnv(func(string) (string, bool) { return "", false }))
	if err != nil {
		t.Fatalf("the written file does not load: %v\n%s", err, text)
	}
	if got.Path != file {
		t.Errorf("Path %q, want %q", got.Path, file)
	}
	got.Path = ""
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loaded back:\n%+v\nwant (config.New):\n%+v\nfile:\n%s", *got, *want, text)
	}
	return got
}

// TestBridgeConfigRoundTrip: the file a measured bridge loads is the
// configuration the bench built (and the harness uses), key for key. The
// configuration is a value: a key renamed in package config breaks the
// build here, not a measurement.
func TestBridgeConfigRoundTrip(t *testing.T) {
	dir := runDir(t)
	for _, o := range []Options{
		{Ordering: "key", MaxInFlight: 256},
		{Ordering: "none", MaxInFlight: 3, CPUProfile: "cpu.pprof"},
	} {
		got := roundTrip(t, dir, bridgeConfig([]string{"127.0.0.1:9092", "127.0.0.1:9093"}, "http://127.0.0.1:8089", "bench-orders-1", o, ""))
		if string(got.CXone.Auth.ClientSecret) != cxonetest.DefaultClientSecret {
			t.Error("the client secret file was not read")
		}
		if got.Consumer.MaxInFlight != o.MaxInFlight || got.Consumer.Ordering != o.Ordering || got.Metrics.Pprof != (o.CPUProfile != "") {
			t.Errorf("options %+v not in the configuration: %+v, %+v", o, got.Consumer, got.Metrics)
		}
		if got.DLQTopic("bench-orders-1") != "bench-orders-1.dlq" {
			t.Errorf("DLQ topic %q: the bench creates bench-orders-1.dlq", got.DLQTopic("bench-orders-1"))
		}
	}
}

// TestWriteConfigFileTypes: every kind of value of a configuration
// survives the file: durations, sizes, numbers, booleans, lists, nested
// keys, several routes, and texts that YAML or the loader would read
// otherwise ("${", a colon, a leading zero).
func TestWriteConfigFileTypes(t *testing.T) {
	dir := runDir(t)
	c := config.Config{
		Kafka: config.Kafka{Brokers: []string{"127.0.0.1:9092"}, GroupID: "g${NOT_AN_ENV}", InstanceID: "007",
			SessionTimeout: 7 * time.Second, FetchMaxBytes: 3 << 20, FetchMaxPartitionBytes: 1500, FetchMaxWait: 250 * time.Millisecond},
		Consumer: config.Consumer{Ordering: "partition", MaxInFlight: 9, MaxInFlightBytes: 5 << 20, MaxRecordsAhead: 1 << 40,
			CommitInterval: 1500 * time.Millisecond, RetryBackoffMax: 3 * time.Minute},
		CXone: config.CXone{BaseURL: "http://127.0.0.1:8089", AllowInsecureHTTP: true, EventsPath: "/a: b",
			Auth:         config.Auth{ClientID: "true", ClientSecretFile: secretFile, Scope: "x y"},
			Retry:        config.Retry{MaxAttempts: 4, MaxElapsed: time.Hour + time.Nanosecond},
			RateLimit:    config.RateLimit{EventsPerSecond: 12.5, Burst: 3},
			Breaker:      config.Breaker{OpenTimeout: 2 * time.Second},
			AllowedHosts: []string{".example.com", "127.0.0.1"}},
		Correlation: config.Correlation{Headers: []string{"traceparent", "x-id"}, MaxLength: 64},
		DLQ:         config.DLQ{Topic: "dead.{topic}", IncludeResponse: true},
		Routes: []config.Route{
			{Topic: "orders", EventType: "OrderCreated", Schema: schemaFile, BusinessKey: "/orderId", MaxValueBytes: 2048, Tombstones: config.TombstonesDLQ},
			{TopicPattern: "^refunds-.*$", EventTypeField: "/type", BusinessKey: "/id", IdempotencyKey: "{eventType}:{businessKey}:{topic}", MaxDepth: 8},
		},
		Metrics: config.Metrics{Listen: "off", StallTimeout: time.Minute},
		Log:     config.Log{Level: "debug", Format: "text"},
	}
	got := roundTrip(t, dir, c)
	if got.Kafka.GroupID != "g${NOT_AN_ENV}" {
		t.Errorf("group %q: a \"${\" was expanded", got.Kafka.GroupID)
	}
}

// TestWriteConfigFileNoSecret: a secret is never written into the file.
func TestWriteConfigFileNoSecret(t *testing.T) {
	c := bridgeConfig([]string{"127.0.0.1:9092"}, "http://127.0.0.1:8089", "t", Options{}, "")
	c.Routes = append(c.Routes, config.Route{Topic: "u"})
	c.Kafka.SASL.Password = secret.Secret("hunter2")
	err := writeConfigFile(filepath.Join(t.TempDir(), "bridge.yaml"), c)
	if err == nil || !strings.Contains(err.Error(), "kafka.sasl.password holds a secret") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("err = %v, want a refusal naming kafka.sasl.password", err)
	}
}

// TestWriteConfigFileOnlySetKeys: the file holds the keys the bench sets,
// not every key with its zero value (an older bridge, Options.Binary,
// refuses keys it does not know).
func TestWriteConfigFileOnlySetKeys(t *testing.T) {
	b, err := configYAML(bridgeConfig([]string{"127.0.0.1:9092"}, "http://127.0.0.1:8089", "t", Options{Ordering: "key", MaxInFlight: 4}, ""))
	if err != nil {
		t.Fatal(err)
	}
	want := `kafka:
    brokers:
        - 127.0.0.1:9092
    group_id: t.bridge
    client_id: cxone-bridge-bench
consumer:
    ordering: key
    max_in_flight: 4
    commit_interval: 1s
cxone:
    base_url: http://127.0.0.1:8089
    allow_insecure_http: true
    auth:
        client_id: CLIENT_ID
        client_secret_file: client_secret
dlq:
    topic: '{topic}.dlq'
routes:
    - topic: t
      event_type: OrderCreated
      schema: order.json
      business_key: /orderId
log:
    level: info
    format: json
metrics:
    listen: 127.0.0.1:0
`
	want = strings.Replace(want, "CLIENT_ID", cxonetest.DefaultClientID, 1)
	if string(b) != want {
		t.Errorf("file:\n%s\nwant:\n%s", b, want)
	}
}
