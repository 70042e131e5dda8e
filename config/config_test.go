package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/transform"
)

const secret = "s3cr3t-Value-42"

func env(m map[string]string) config.Option {
	return config.WithLookupEnv(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
}

var goodEnv = env(map[string]string{"CXONE_CLIENT_ID": "client-1", "CXONE_CLIENT_SECRET": secret})

// dirWithSchema makes a folder holding schemas/order.json and returns it.
func dirWithSchema(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "schemas"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "schemas", "order.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func parse(t *testing.T, yaml string, opts ...config.Option) (*config.Config, error) {
	t.Helper()
	return config.Parse([]byte(yaml), dirWithSchema(t), opts...)
}

const minimal = `
kafka:
  brokers: [localhost:9092]
cxone:
  auth:
    client_id: ${CXONE_CLIENT_ID}
    client_secret: ${CXONE_CLIENT_SECRET}
routes:
  - topic: orders
    event_type: OrderCreated
    schema: schemas/order.json
    business_key: /orderId
`

func TestShippedConfigLoads(t *testing.T) {
	cfg, err := config.Load("../bridge.yaml", goodEnv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	r := cfg.Routes[0]
	if r.Topic != "orders" || r.EventType != "OrderCreated" || r.BusinessKey != "/orderId" || !strings.HasSuffix(r.SchemaPath, "schemas/order.json") {
		t.Errorf("route = %+v", r)
	}
	if cfg.CXone.EventsURL() != "https://api-us-1.cxone.com/api/v2/eventbridge/events" ||
		cfg.CXone.Auth.TokenURL != "https://api-us-1.cxone.com/oauth/token" {
		t.Errorf("urls: %s %s", cfg.CXone.EventsURL(), cfg.CXone.Auth.TokenURL)
	}
	if string(cfg.CXone.Auth.ClientSecret) != secret {
		t.Error("secret not expanded from the environment")
	}
	if _, err := transform.New(cfg.TransformConfig()); err != nil {
		t.Errorf("transform.New: %v", err)
	}
	// Without credentials (dry-run), unset secrets are fine.
	if _, err := config.Load("../bridge.yaml", env(nil), config.WithoutCredentials()); err != nil {
		t.Errorf("Load without credentials: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	cfg, err := parse(t, minimal, goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Routes[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"group_id", cfg.Kafka.GroupID, "cxone-bridge"},
		{"base_url", cfg.CXone.BaseURL, "https://api-us-1.cxone.com"},
		{"events_path", cfg.CXone.EventsPath, "/api/v2/eventbridge/events"},
		{"token_url", cfg.CXone.Auth.TokenURL, "https://api-us-1.cxone.com/oauth/token"},
		{"scope", cfg.CXone.Auth.Scope, "eventbridge:events:write"},
		{"mode", cfg.CXone.Auth.Mode, "client_credentials"},
		{"correlation.headers", strings.Join(cfg.Correlation.Headers, ","), "x-correlation-id,correlation-id,correlation_id,traceparent"},
		{"correlation.max_length", cfg.Correlation.MaxLength, 128},
		{"dlq topic", cfg.DLQTopic("orders"), "orders.dlq"},
		{"timestamp_field", r.TimestampField, "/timestamp"},
		{"idempotency_key", r.IdempotencyKey, "{eventType}:{businessKey}"},
		{"max_value_bytes", r.MaxValueBytes, config.ByteSize(1 << 20)},
		{"max_depth", r.MaxDepth, 64},
		{"tombstones", r.Tombstones, "skip"},
		{"log", cfg.Log.Level + "/" + cfg.Log.Format, "info/json"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestEveryProblemAtOnce: one load reports all problems, each at its path.
func TestEveryProblemAtOnce(t *testing.T) {
	yaml := `
kafka:
  brokers: [localhost, "host:99999"]
  grup_id: typo
  session_timeout: soon
cxone:
  base_url: http://cxone.local
  events_path: api/events
  auth:
    client_id: ""
    client_secret: ""
    mode: magic
correlation:
  headers: ["bad header"]
  max_length: 5
dlq:
  topic: "{topic}.{partition}"
routes:
  - topic: orders
    event_type: OrderCreated
    schema: schemas/order.json
    business_key: /orderId
  - topic: payments
    event_type: Payment Made
    event_type_header: x-type
    schema: schemas/nope.json
    business_key: orderId
    idempotency_key: "{eventType}"
    max_depth: deep
    max_value_bytes: 1XB
    tombstones: keep
    colour: blue
  - topic_pattern: "orders.("
    topic: orders
log:
  level: loud
`
	_, err := parse(t, yaml, goodEnv)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *config.Error", err)
	}
	// The decoding pass (unknown keys, types) reports first; fix those and
	// the validation pass reports the rest. Both passes list every problem
	// they find.
	wantFirst := []string{
		"kafka.grup_id: unknown key (valid keys here: brokers, client_id, fetch_max_bytes,",
		"routes[1].max_depth: want a whole number",
		"routes[1].max_value_bytes: invalid size \"1XB\"",
		"routes[1].colour: unknown key",
		`kafka.session_timeout: want a duration such as 500ms, 30s or 2m; got "soon"`,
	}
	for _, w := range wantFirst {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing problem %q in:\n%v", w, err)
		}
	}
	fixed := strings.NewReplacer("  grup_id: typo\n", "", "  session_timeout: soon\n", "", "    max_depth: deep\n", "", "    max_value_bytes: 1XB\n", "", "    colour: blue\n", "").Replace(yaml)
	_, err = parse(t, fixed, goodEnv)
	want := []string{
		`kafka.brokers[0]: want host:port, got "localhost"`,
		`kafka.brokers[1]: port must be 1-65535, got "99999"`,
		"cxone.base_url: must be https (set cxone.allow_insecure_http for local testing)",
		"cxone.auth.token_url: must be https (set cxone.allow_insecure_http for local testing)",
		"cxone.events_path: must start with /",
		`cxone.auth.mode: must be client_credentials or access_key; got "magic"`,
		"cxone.auth.client_id: is required",
		"cxone.auth.client_secret: is required",
		`correlation.headers[0]: "bad header" is not a valid header name`,
		"correlation.max_length: must be between 16 and 1024, got 5",
		"dlq.topic: only the placeholder {topic} is allowed",
		"routes[1]: set exactly one of event_type, event_type_header, event_type_field",
		"routes[1].event_type: must be 1 to 128 of",
		"routes[1].schema: file not found: schemas/nope.json",
		`routes[1].business_key: must be a JSON pointer starting with /, such as /orderId; got "orderId"`,
		"routes[1].idempotency_key: template \"{eventType}\" must contain {businessKey}",
		`routes[1].tombstones: must be skip or dlq; got "keep"`,
		"routes[2]: set topic or topic_pattern, not both",
		`routes[2]: set exactly one of event_type`,
		"routes[2].business_key: is required",
		`log.level: must be one of debug, info, warn, error; got "loud"`,
	}
	_, err2 := parse(t, minimal+"consumer: {revoke_drain_timeout: 90s, ordering: random}\n", goodEnv)
	for _, w := range []string{"consumer.revoke_drain_timeout: must be below kafka.rebalance_timeout", `consumer.ordering: must be key, partition or none; got "random"`} {
		if err2 == nil || !strings.Contains(err2.Error(), w) {
			t.Errorf("missing problem %q in:\n%v", w, err2)
		}
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing problem %q in:\n%v", w, err)
		}
	}
}

func TestPatternRouteErrors(t *testing.T) {
	yaml := strings.Replace(minimal, "  - topic: orders", "  - topic_pattern: \"orders.(\"", 1)
	_, err := parse(t, yaml, goodEnv)
	if err == nil || !strings.Contains(err.Error(), "routes[0].topic_pattern: invalid regular expression") {
		t.Errorf("err = %v", err)
	}
	dup := minimal + `  - topic: orders
    event_type: OrderUpdated
    business_key: /orderId
`
	_, err = parse(t, dup, goodEnv)
	if err == nil || !strings.Contains(err.Error(), `routes[1].topic: topic "orders" is already routed by routes[0]`) {
		t.Errorf("err = %v", err)
	}
}

func TestEnvExpansion(t *testing.T) {
	e := env(map[string]string{"CXONE_CLIENT_ID": "id", "CXONE_CLIENT_SECRET": secret, "BROKER": "kafka-1:9093", "EMPTY": ""})
	yaml := strings.Replace(minimal, "[localhost:9092]", `["${BROKER}", "${MISSING_BROKER:-kafka-2:9092}", "${EMPTY:-kafka-3:9092}"]`, 1)
	yaml = strings.Replace(yaml, "cxone:\n", "cxone:\n  events_path: /x/$${literal}\n", 1)
	cfg, err := parse(t, yaml, e)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Kafka.Brokers, ","); got != "kafka-1:9093,kafka-2:9092,kafka-3:9092" {
		t.Errorf("brokers = %s", got)
	}
	if cfg.CXone.EventsPath != "/x/${literal}" {
		t.Errorf("events_path = %s", cfg.CXone.EventsPath)
	}
	_, err = parse(t, minimal, env(map[string]string{"CXONE_CLIENT_ID": "id"}))
	if err == nil || !strings.Contains(err.Error(), "cxone.auth.client_secret: environment variable CXONE_CLIENT_SECRET is not set") {
		t.Errorf("unset: err = %v", err)
	}
	bad := strings.Replace(minimal, "group_id", "x", 1)
	bad = strings.Replace(bad, "[localhost:9092]", `["${BROKER"]`, 1)
	_, err = parse(t, bad, e)
	if err == nil || !strings.Contains(err.Error(), "kafka.brokers[0]: malformed environment reference") {
		t.Errorf("malformed: err = %v", err)
	}
}

// TestSecretsNeverPrinted loads configurations holding a secret in every
// way the secret can arrive, breaks them in every way that names the secret
// field, and checks that no error, dump or log line shows it.
func TestSecretsNeverPrinted(t *testing.T) {
	dir := dirWithSchema(t)
	secretFile := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	variants := map[string]string{
		"env":            minimal,
		"inline":         strings.Replace(minimal, "${CXONE_CLIENT_SECRET}", secret, 1),
		"file":           strings.Replace(minimal, "client_secret: ${CXONE_CLIENT_SECRET}", "client_secret_file: secret.txt", 1),
		"both":           strings.Replace(minimal, "client_secret: ${CXONE_CLIENT_SECRET}", "client_secret: "+secret+"\n    client_secret_file: secret.txt", 1),
		"in a map":       strings.Replace(minimal, "${CXONE_CLIENT_SECRET}", "{value: "+secret+"}", 1),
		"env in int key": strings.Replace(minimal, "routes:", "correlation:\n  max_length: ${CXONE_CLIENT_SECRET}\nroutes:", 1),
		"in url":         strings.Replace(minimal, "cxone:\n", "cxone:\n  base_url: https://user:"+secret+"@cxone.example\n", 1),
		"broken":         strings.Replace(minimal, "kafka:", "kafka:\n  bogus: 1", 1),
	}
	for name, yaml := range variants {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(yaml), dir, goodEnv)
			var out bytes.Buffer
			if err != nil {
				fmt.Fprintf(&out, "%v\n%+v\n%#v\n", err, err, err)
			}
			if cfg != nil {
				if string(cfg.CXone.Auth.ClientSecret) != secret {
					t.Errorf("secret not loaded: %q", string(cfg.CXone.Auth.ClientSecret))
				}
				fmt.Fprintf(&out, "%v\n%+v\n%#v\n%s\n", cfg, cfg, cfg, cfg.CXone.Auth.ClientSecret)
				j, _ := json.Marshal(cfg)
				out.Write(j)
				slog.New(slog.NewJSONHandler(&out, nil)).Info("config", "cfg", cfg, "secret", cfg.CXone.Auth.ClientSecret)
				slog.New(slog.NewTextHandler(&out, nil)).Info("config", "auth", cfg.CXone.Auth)
			}
			if out.Len() == 0 {
				t.Fatal("nothing printed: the test checks nothing")
			}
			if strings.Contains(out.String(), secret) {
				t.Errorf("secret leaked:\n%s", out.String())
			}
		})
	}
}

func TestInsecureHTTPAllowed(t *testing.T) {
	yaml := strings.Replace(minimal, "cxone:\n", "cxone:\n  base_url: http://127.0.0.1:8089/\n  allow_insecure_http: true\n", 1)
	cfg, err := parse(t, yaml, goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CXone.EventsURL() != "http://127.0.0.1:8089/api/v2/eventbridge/events" || cfg.CXone.Auth.TokenURL != "http://127.0.0.1:8089/oauth/token" {
		t.Errorf("urls %s %s", cfg.CXone.EventsURL(), cfg.CXone.Auth.TokenURL)
	}
}

func TestNotYAML(t *testing.T) {
	for _, in := range []string{"kafka: [", "", "- a\n- b\n", "kafka:\n  brokers: &b [x]\n  group_id: *b\n", "kafka: {brokers: [a:1]}\nkafka: {}\n"} {
		_, err := config.Parse([]byte(in), t.TempDir(), goodEnv)
		var ce *config.Error
		if !errors.As(err, &ce) || len(ce.Problems) == 0 {
			t.Errorf("Parse(%q) = %v, want problems", in, err)
		}
	}
}

func TestLoadNamesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bridge.yaml")
	if err := os.WriteFile(p, []byte("kafka: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(p, goodEnv)
	if err == nil || !strings.HasPrefix(err.Error(), "config "+p+": ") {
		t.Errorf("err = %v", err)
	}
	if _, err := config.Load(filepath.Join(t.TempDir(), "none.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]config.ByteSize{"1048576": 1 << 20, "1MiB": 1 << 20, "512 KiB": 512 << 10, "2MB": 2e6, "10B": 10, "1GiB": 1 << 30} {
		got, err := config.ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "1 TB", "99999999999999999999"} {
		if _, err := config.ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", in)
		}
	}
}

// FuzzParse: arbitrary bytes never panic the loader, and a secret given in
// the environment never appears in its errors.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("kafka: {brokers: [\"${CXONE_CLIENT_SECRET}\"]}"))
	f.Add([]byte("routes: [{topic: a, max_depth: ${CXONE_CLIENT_SECRET}}]"))
	f.Add([]byte("cxone: {base_url: \"${CXONE_CLIENT_SECRET}\"}"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := config.Parse(data, dir, goodEnv)
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Fatalf("secret in error: %v", err)
		}
	})
}

// TestSyntaxErrorLine: a YAML syntax error names the line at fault, not the
// line where the enclosing block starts (the decoder's own report).
func TestSyntaxErrorLine(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"over-indented key", "kafka:\n  brokers: [localhost:9092]\n    group_id: g\ncxone: {}\n",
			"not valid YAML: line 3: did not find expected key (is this line indented more than the key above it?)"},
		{"over-indented key deeper", "kafka:\n  brokers: [localhost:9092]\ncxone:\n  auth:\n    client_id: a\n      client_secret: b\n",
			"not valid YAML: line 6: mapping values are not allowed in this context (is this line indented more than the key above it?)"},
		{"tab", "kafka:\n  brokers: [localhost:9092]\n\tgroup_id: g\n",
			"not valid YAML: line 3: found character that cannot start any token (YAML indents with spaces, not tabs)"},
		{"flow sequence spanning lines", "kafka:\n  brokers: [a:1,\n    b:2]\n  group_id: x\n   foo: 1\n",
			"not valid YAML: line 5: mapping values are not allowed in this context (is this line indented more than the key above it?)"},
		{"unclosed flow sequence", "kafka:\n  brokers: [a:1, b:2\n  group_id: x\n",
			"not valid YAML: line 2: did not find expected ',' or ']'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.in), t.TempDir(), goodEnv)
			var ce *config.Error
			if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].String() != tc.want {
				t.Errorf("err = %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestFollowOnProblems: a key that is already wrong brings no second
// problem for what depends on it, and one variable may carry several
// brokers.
func TestFollowOnProblems(t *testing.T) {
	dir := dirWithSchema(t)
	in := `
kafka:
  brokers: ["${KAFKA_BROKERS}"]
cxone:
  auth:
    mode: access_key
    client_id: a
    client_secret_file: missing/client_secret
    access_key_id: k
    access_key_secret_file: missing/access_key_secret
routes:
  - topic: orders
    event_type: OrderCreated
    schema: schemas/order.json
    business_key: /orderId
`
	_, err := config.Parse([]byte(in), dir, env(map[string]string{"KAFKA_BROKERS": "b1:9092, b2:9092"}))
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.String())
	}
	want := []string{
		"cxone.auth.client_secret_file: file not found: missing/client_secret (resolved to " + filepath.Join(dir, "missing/client_secret") + ")",
		"cxone.auth.access_key_secret_file: file not found: missing/access_key_secret (resolved to " + filepath.Join(dir, "missing/access_key_secret") + ")",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	cfg, err := config.Parse([]byte(strings.ReplaceAll(in, "missing/", "")), dir, env(map[string]string{"KAFKA_BROKERS": "b1:9092, b2:9092"}),
		config.WithoutCredentials())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Kafka.Brokers, " ") != "b1:9092 b2:9092" {
		t.Errorf("brokers %q", cfg.Kafka.Brokers)
	}
}
