package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigMistakes runs the real binary on the configuration mistakes a
// newcomer makes and checks what `bridge run` says of each, whole: every
// problem at once (type errors too), no follow-on problem for a key the
// user never set, the line at fault for a syntax error, schema problems in
// our words with the resolved path, exit status 2.
func TestConfigMistakes(t *testing.T) {
	const base = `kafka:
  brokers: [localhost:9092]
cxone:
  base_url: https://api.example.com
  auth:
    client_id: a
    client_secret: b
routes:
  - topic: orders
    event_type: OrderCreated
    schema: SCHEMA
    business_key: /orderId
`
	order, err := filepath.Abs("../../schemas/order.json")
	if err != nil {
		t.Fatal(err)
	}
	good := strings.Replace(base, "SCHEMA", order, 1)
	for _, tc := range []struct {
		name, yaml string
		files      map[string]string
		want       []string // the problem lines, after the heading
	}{
		{
			name: "type error beside other problems",
			yaml: "consumer:\n  drain_timeout: 20\n  ordering: keys\n  max_in_flight: -5\n" + good,
			want: []string{
				`  consumer.drain_timeout: want a duration such as 500ms, 30s or 2m; got "20"`,
				`  consumer.ordering: must be key, partition or none; got "keys"`,
				`  consumer.max_in_flight: must be between 1 and 100000, got -5`,
			},
		},
		{
			name: "over-indented key",
			yaml: strings.Replace(good, "  brokers: [localhost:9092]\n", "  brokers: [localhost:9092]\n    group_id: trial\n", 1),
			want: []string{`  not valid YAML: line 3: did not find expected key (is this line indented more than the key above it?)`},
		},
		{
			name:  "schema not JSON",
			yaml:  strings.Replace(base, "SCHEMA", "schemas/bad.json", 1),
			files: map[string]string{"schemas/bad.json": `{"type": "object",`},
			want:  []string{`  routes[0].schema: DIR/schemas/bad.json: not JSON: the file ends before its JSON does`},
		},
		{
			name: "schema missing",
			yaml: strings.Replace(base, "SCHEMA", "schemas/none.json", 1),
			want: []string{`  routes[0].schema: file not found: schemas/none.json (resolved to DIR/schemas/none.json)`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tc.files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, "bridge.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, errOut, code := runBridge(t, "", "run", "--config", path)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			noun := "problems"
			if len(tc.want) == 1 {
				noun = "problem"
			}
			want := append([]string{"bridge: config " + path + ": " + itoa(len(tc.want)) + " " + noun}, tc.want...)
			got := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
			for i := range want {
				want[i] = strings.ReplaceAll(want[i], "DIR", dir)
			}
			wantLines(t, got, want)
		})
	}
}

func itoa(n int) string { return string(rune('0' + n)) }
