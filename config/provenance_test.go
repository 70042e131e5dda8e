package config_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cxone-bridge/bridge/config"
)

// evilFragments make up evilSecret. Each is plain ASCII letters and digits
// or plain non-ASCII letters, so that it survives every escaping: a
// fragment absent from an error means the secret is absent in every
// encoding (raw, Go-quoted, JSON-quoted, YAML-quoted, truncated).
var evilFragments = []string{"QZXV7", "KJWP3", "YVRB9", "MXQP5", "ünïcødé"}

// evilSecret holds what defeats redaction by substring: a double quote, a
// backslash, a newline, a tab, a control character and non-ASCII text.
var evilSecret = evilFragments[0] + `"` + evilFragments[1] + `\` + evilFragments[2] + "\n" + evilFragments[3] + "\t\x01-" + evilFragments[4] + "-é—🔑"

// numericSecret is a secret a number-typed key parses.
const numericSecret = "4815162342"

var evilEnv = env(map[string]string{
	"CXONE_CLIENT_ID": "client-1", "CXONE_CLIENT_SECRET": secret,
	"LEAK": evilSecret, "NUM": numericSecret, "DUR": "7s", "MECH": "scram-sha-512",
	"KAFKA_PASSWORD": kafkaPassword,
})

// leaks reports which forms of a secret out holds.
func leaks(out string, secrets ...string) []string {
	var found []string
	for _, s := range secrets {
		j, _ := json.Marshal(s)
		y, _ := yaml.Marshal(s)
		for name, form := range map[string]string{
			"raw": s, "Go-quoted": strconv.Quote(s), "Go-quoted ASCII": strconv.QuoteToASCII(s),
			"JSON": string(j), "YAML": strings.TrimSpace(string(y)),
		} {
			if strings.Contains(out, form) || strings.Contains(out, strings.Trim(form, `"`)) {
				found = append(found, name+" form of "+strconv.Quote(s))
			}
		}
	}
	for _, f := range evilFragments {
		if strings.Contains(out, f) || strings.Contains(out, strings.Trim(strconv.QuoteToASCII(f), `"`)) {
			found = append(found, "fragment "+f)
		}
	}
	return found
}

// errorText is every way an error can be printed or serialised.
func errorText(err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v\n%+v\n%#v\n%q\n%s\n", err, err, err, err, err)
	var ce *config.Error
	if errors.As(err, &ce) {
		j, _ := json.Marshal(ce)
		b.Write(j)
		y, _ := yaml.Marshal(ce)
		b.Write(y)
		for _, p := range ce.Problems {
			fmt.Fprintf(&b, "%v %+v %q\n", p, p, p.Msg)
		}
	}
	return b.String()
}

// checkNoLeak parses yaml, requires the problems want (each "path: text",
// matched as a prefix of a problem) and no form of the secrets anywhere.
func checkNoLeak(t *testing.T, yamlText, dir string, want []string, secrets ...string) {
	t.Helper()
	_, err := config.Parse([]byte(yamlText), dir, evilEnv)
	if err == nil {
		t.Fatalf("no error; the case checks nothing:\n%s", yamlText)
	}
	out := errorText(err)
	if l := leaks(out, secrets...); len(l) > 0 {
		t.Errorf("the error shows %s:\n%v", strings.Join(l, ", "), err)
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *config.Error", err)
	}
	for _, w := range want {
		found := false
		for _, p := range ce.Problems {
			found = found || strings.HasPrefix(p.String(), w)
		}
		if !found {
			t.Errorf("missing problem %q in:\n%v", w, err)
		}
	}
}

// TestEnvValuesNeverInErrors: a secret from the environment, put where it
// does not belong, never appears in a problem in any encoding; problems
// show the reference instead. One case per problem that shows a value.
func TestEnvValuesNeverInErrors(t *testing.T) {
	dir := secDir(t)
	cx := func(extra string) string { return strings.Replace(minimal, "cxone:\n", "cxone:\n"+extra, 1) }
	route := func(extra string) string { return minimal + extra }
	extra := map[string][]string{ // secrets besides evilSecret and numericSecret
		"derived default":                   {"19260649368"},
		"duration in another key's problem": {"7s"},
		"fetch wait":                        {"47s"},
		"stall timeout":                     {"500ms"},
		"sasl mechanism elsewhere":          {"scram-sha-512"},
		"duplicate topic":                   {"client-1x"},
	}
	for name, tc := range map[string]struct {
		yaml string
		want []string
	}{
		// Type errors of the first pass.
		"duration":  {withKafka("  session_timeout: ${LEAK}\n"), []string{"kafka.session_timeout: want a duration such as 500ms, 30s or 2m; got ${LEAK}"}},
		"size":      {withKafka("  fetch_max_bytes: ${LEAK}\n"), []string{"kafka.fetch_max_bytes: invalid size ${LEAK}: want"}},
		"int":       {minimal + "correlation:\n  max_length: ${LEAK}\n", []string{"correlation.max_length: want a whole number, got ${LEAK}"}},
		"int64":     {minimal + "consumer:\n  max_records_ahead: ${LEAK}\n", []string{"consumer.max_records_ahead: want a whole number, got ${LEAK}"}},
		"float":     {cx("  rate_limit: {events_per_second: \"${LEAK}\"}\n"), []string{"cxone.rate_limit.events_per_second: want a number, got ${LEAK}"}},
		"bool":      {cx("  allow_insecure_http: ${LEAK}\n"), []string{"cxone.allow_insecure_http: want true or false, got ${LEAK}"}},
		"in text":   {minimal + "log:\n  level: \"x-${LEAK}-y\"\n", []string{`log.level: must be one of debug, info, warn, error; got "x-${LEAK}-y"`}},
		"flow line": {minimal + "consumer: {ordering: key, max_in_flight: \"${LEAK}\", commit_interval: 1s}\n", []string{"consumer.max_in_flight: want a whole number, got ${LEAK}"}},
		"alias to another key": {minimal + "log: {level: &a \"${LEAK}\"}\ncorrelation: {max_length: *a}\n",
			[]string{"correlation.max_length: YAML aliases are not supported"}},
		// Values out of range or not among the allowed ones.
		"number out of range": {minimal + "consumer:\n  max_in_flight: ${NUM}\n", []string{"consumer.max_in_flight: must be between 1 and 100000, got ${NUM}"}},
		"number in another key's problem": {minimal + "consumer:\n  max_in_flight: ${NUM}\n  max_buffered: 7\n",
			[]string{"consumer.max_buffered: must be between max_in_flight (${NUM}) and 1000000, got 7"}},
		"derived default": {minimal + "consumer:\n  max_in_flight: ${NUM}\n", []string{"consumer.max_buffered: must be between max_in_flight (${NUM}) and 1000000, got the default derived from ${NUM}"}},
		"duration in another key's problem": {withKafka("  rebalance_timeout: ${DUR}\n") + "consumer:\n  revoke_drain_timeout: 30s\n",
			[]string{"consumer.revoke_drain_timeout: must be below kafka.rebalance_timeout (${DUR})"}},
		"size out of range":  {withKafka("  fetch_max_bytes: ${NUM}\n"), []string{"kafka.fetch_max_bytes: must be between 1KiB and 1GiB, got ${NUM}"}},
		"fetch wait":         {withKafka("  fetch_max_wait: 4${DUR}\n"), []string{`kafka.fetch_max_wait: must be between 1ms and 30s, got "4${DUR}"`}},
		"stall timeout":      {minimal + "metrics:\n  stall_timeout: ${UNSET_X:-500}ms\n", []string{`metrics.stall_timeout: must be at least 1s; got "${UNSET_X:-500}ms"`}},
		"start offset":       {withKafka("  start_offset: ${LEAK}\n"), []string{"kafka.start_offset: must be earliest or latest; got ${LEAK}"}},
		"ordering":           {minimal + "consumer:\n  ordering: ${LEAK}\n", []string{"consumer.ordering: must be key, partition or none; got ${LEAK}"}},
		"log level":          {minimal + "log:\n  level: ${LEAK}\n", []string{"log.level: must be one of debug, info, warn, error; got ${LEAK}"}},
		"log format":         {minimal + "log:\n  format: ${LEAK}\n", []string{"log.format: must be json or text; got ${LEAK}"}},
		"metrics listen":     {minimal + "metrics:\n  listen: ${LEAK}\n", []string{"metrics.listen: must be host:port, :port or off; got ${LEAK}"}},
		"pprof listen":       {minimal + "metrics:\n  pprof: true\n  pprof_listen: ${LEAK}\n", []string{"metrics.pprof_listen: must be host:port or :port; got ${LEAK}"}},
		"min attempts":       {cx("  poison: {min_attempts: \"-${NUM}\"}\n"), []string{`cxone.poison.min_attempts: must be -1 (never give up on an event) or at least 1, got "-${NUM}"`}},
		"correlation length": {minimal + "correlation:\n  max_length: ${NUM}\n", []string{"correlation.max_length: must be between 16 and 1024, got ${NUM}"}},
		"header name":        {minimal + "correlation:\n  headers: [x-ok, \"${LEAK}\"]\n", []string{"correlation.headers[1]: ${LEAK} is not a valid header name"}},
		"auth mode":          {withCXone("  auth: {mode: \"${LEAK}\", client_id: a, client_secret: b}\n"), []string{"cxone.auth.mode: must be client_credentials or access_key; got ${LEAK}"}},
		"broker":             {strings.Replace(minimal, "[localhost:9092]", `["${LEAK}"]`, 1), []string{"kafka.brokers[0]: want host:port, got ${LEAK}"}},
		"broker port":        {strings.Replace(minimal, "[localhost:9092]", `["kafka:${LEAK}"]`, 1), []string{`kafka.brokers[0]: port must be 1-65535, in "kafka:${LEAK}"`}},
		"dlq placeholder":    {minimal + "dlq:\n  topic: \"{${LEAK}}\"\n", []string{`dlq.topic: only the placeholder {topic} is allowed; got "{${LEAK}}"`}},
		"dlq topic":          {minimal + "dlq:\n  topic: \"{topic}.${LEAK}\"\n", []string{`dlq.topic: "{topic}.${LEAK}" does not make a valid Kafka topic name`}},
		"tls version":        {withKafka("  tls: {enabled: true, min_version: \"${LEAK}\"}\n"), []string{"kafka.tls.min_version: must be 1.2 or 1.3; got ${LEAK}"}},
		"sasl mechanism":     {withKafka("  sasl: {mechanism: \"${LEAK}\", username: u, password: p}\n"), []string{"kafka.sasl.mechanism: must be plain, scram-sha-256, scram-sha-512, oauthbearer or aws-msk-iam; got ${LEAK}"}},
		"sasl mechanism elsewhere": {withKafka("  sasl: {mechanism: \"${MECH}\", token_file: token.txt}\n"),
			[]string{"kafka.sasl: token_file and token_command are not used by mechanism ${MECH}", "kafka.sasl.username: is required for ${MECH}", "kafka.sasl.password: is required for ${MECH}"}},
		// Routes.
		"topic": {route("  - topic: \"${LEAK}\"\n    event_type: A\n    business_key: /a\n"), []string{"routes[1].topic: ${LEAK} is not a valid Kafka topic name"}},
		"duplicate topic": {route("  - topic: client-1x\n    event_type: A\n    business_key: /a\n  - topic: \"${CXONE_CLIENT_ID}x\"\n    event_type: A\n    business_key: /a\n"),
			[]string{`routes[2].topic: topic "${CXONE_CLIENT_ID}x" is already routed by routes[1]`}},
		"topic pattern":   {route("  - topic_pattern: \"(${LEAK}\"\n    event_type: A\n    business_key: /a\n"), []string{`routes[1].topic_pattern: invalid regular expression; got "(${LEAK}"`}},
		"event type":      {route("  - topic: b\n    event_type: \"${LEAK}\"\n    business_key: /a\n"), []string{"routes[1].event_type: must be 1 to 128 of A-Z a-z 0-9 _ . : -; got ${LEAK}"}},
		"event header":    {route("  - topic: b\n    event_type_header: \"${LEAK}\"\n    business_key: /a\n"), []string{"routes[1].event_type_header: ${LEAK} is not a valid header name"}},
		"event field":     {route("  - topic: b\n    event_type_field: \"${LEAK}\"\n    business_key: /a\n"), []string{"routes[1].event_type_field: must be a JSON pointer starting with /, such as /orderId (~ escaped as ~0, / as ~1); got ${LEAK}"}},
		"business key":    {route("  - topic: b\n    event_type: A\n    business_key: \"/a~${LEAK}\"\n"), []string{`routes[1].business_key: must be a JSON pointer starting with /`}},
		"timestamp field": {route("  - topic: b\n    event_type: A\n    business_key: /a\n    timestamp_field: \"${LEAK}\"\n"), []string{"routes[1].timestamp_field: must be a JSON pointer"}},
		"key template":    {route("  - topic: b\n    event_type: A\n    business_key: /a\n    idempotency_key: \"{${LEAK}\"\n"), []string{`routes[1].idempotency_key: must be a key template such as {eventType}:{businessKey}`}},
		"value bytes":     {route("  - topic: b\n    event_type: A\n    business_key: /a\n    max_value_bytes: ${NUM}\n"), []string{"routes[1].max_value_bytes: must be between 2B and 64MiB, got ${NUM}"}},
		"depth":           {route("  - topic: b\n    event_type: A\n    business_key: /a\n    max_depth: ${NUM}\n"), []string{"routes[1].max_depth: must be between 1 and 10000, got ${NUM}"}},
		"tombstones":      {route("  - topic: b\n    event_type: A\n    business_key: /a\n    tombstones: \"${LEAK}\"\n"), []string{"routes[1].tombstones: must be skip or dlq; got ${LEAK}"}},
		// File names from the environment: problems name the reference.
		"schema":              {route("  - topic: b\n    event_type: A\n    business_key: /a\n    schema: \"${LEAK}\"\n"), []string{"routes[1].schema: file not found: ${LEAK}"}},
		"schema folder":       {route("  - topic: b\n    event_type: A\n    business_key: /a\n    schema: \"${UNSET_Y:-schemas}\"\n"), []string{"routes[1].schema: is a folder, want a file: ${UNSET_Y:-schemas}"}},
		"client secret file":  {withCXone("  auth: {client_id: a, client_secret_file: \"${LEAK}\"}\n"), []string{"cxone.auth.client_secret_file: file not found: ${LEAK}"}},
		"cxone ca file":       {cx("  ca_file: \"${LEAK}\"\n"), []string{"cxone.ca_file: file not found: ${LEAK}"}},
		"discovery cache":     {withCXone("  base_url: discover\n  tenant_id: t1\n  discovery_cache: \"${LEAK}/d.json\"\n  auth: {mode: access_key, client_id: a, client_secret: b, access_key_id: k, access_key_secret: s}\n"), []string{`cxone.discovery_cache: its folder does not exist: "${LEAK}/d.json"`}},
		"kafka ca file":       {withKafka("  tls: {enabled: true, ca_file: \"${LEAK}\"}\n"), []string{"kafka.tls.ca_file: file not found: ${LEAK}"}},
		"kafka key file":      {withKafka("  tls: {enabled: true, cert_file: client.crt.pem, key_file: \"${LEAK}\"}\n"), []string{"kafka.tls.key_file: file not found: ${LEAK}"}},
		"kafka password file": {withKafka("  sasl: {mechanism: plain, username: u, password_file: \"${LEAK}\"}\n"), []string{"kafka.sasl.password_file: file not found: ${LEAK}"}},
		"kafka token file":    {withKafka("  sasl: {mechanism: oauthbearer, token_file: \"${LEAK}\"}\n"), []string{"kafka.sasl.token_file: file not found: ${LEAK}"}},
		// Keys whose problems never show the value at all.
		"url":                   {cx("  base_url: \"https://u:${LEAK}@cxone.example/?q\"\n"), []string{"cxone.base_url: must be an absolute https URL"}},
		"url, printable secret": {cx("  base_url: \"https://u:${NUM}@cxone.example/?q\"\n"), []string{"cxone.base_url: must not contain credentials", "cxone.base_url: must not have a query"}},
		"tenant":                {withCXone("  base_url: discover\n  tenant_id: \"${LEAK}\"\n  auth: {mode: access_key, client_id: a, client_secret: b, access_key_id: k, access_key_secret: s}\n"), []string{"cxone.tenant_id: must be 1 to 128 of"}},
		"allowed host":          {cx("  allowed_hosts: [\"${LEAK}\"]\n"), []string{"cxone.allowed_hosts[0]: must be a host name"}},
		"unknown key":           {minimal + "log:\n  lvl: ${LEAK}\n", []string{"log.lvl: unknown key"}},
	} {
		t.Run(name, func(t *testing.T) {
			checkNoLeak(t, tc.yaml, dir, tc.want, append([]string{evilSecret, numericSecret}, extra[name]...)...)
		})
	}
}

// TestEveryKeyHidesEnvValues sets each key of the configuration in turn to
// the secret from the environment (the whole value, and the secret inside
// a value) and checks that no problem shows it, whatever the key's type
// and checks. It walks the Config type, so a key added later is covered.
func TestEveryKeyHidesEnvValues(t *testing.T) {
	dir := secDir(t)
	var base map[string]any
	if err := yaml.Unmarshal([]byte(minimal), &base); err != nil {
		t.Fatal(err)
	}
	keys := leafKeys(reflect.TypeOf(config.Config{}), nil)
	if len(keys) < 80 {
		t.Fatalf("found only %d keys in config.Config", len(keys))
	}
	errorsSeen := 0
	for _, k := range keys {
		for _, value := range []string{"${LEAK}", "x${LEAK}", "${NUM}"} {
			doc := deepCopy(base).(map[string]any)
			setKey(doc, k.path, value, k.list)
			data, err := yaml.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			_, err = config.Parse(data, dir, evilEnv)
			if err == nil {
				continue
			}
			errorsSeen++
			if l := leaks(errorText(err), evilSecret, numericSecret); len(l) > 0 {
				t.Errorf("%s: %s: the error shows %s:\n%v", strings.Join(k.path, "."), value, strings.Join(l, ", "), err)
			}
		}
	}
	// Most keys reject most of the three values (244 of 273 loads when
	// written); far fewer means the loads stop before the checks.
	if errorsSeen < 2*len(keys) {
		t.Errorf("only %d of %d loads failed: the test reaches too few problems", errorsSeen, 3*len(keys))
	}
}

// TestFileContentsNeverInErrors: what a file holds never appears in a
// problem, whatever is wrong with it; problems name the file.
func TestFileContentsNeverInErrors(t *testing.T) {
	dir := secDir(t)
	pemOf := func(typ string) string {
		return "-----BEGIN " + typ + "-----\nAAAA\n-----END " + typ + "-----\n"
	}
	files := map[string]string{
		"evil.txt": evilSecret + "\n",
		// A PEM block whose type is the secret: crypto/tls lists the types
		// of the blocks it skipped.
		"evil-type.pem": pemOf(evilFragments[0] + " " + evilFragments[1] + " " + evilFragments[2] + " " + evilFragments[3]),
		// A CERTIFICATE block that is no certificate: x509's parse error.
		"evil-cert.pem": pemOf("CERTIFICATE"),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cx := func(extra string) string { return strings.Replace(minimal, "cxone:\n", "cxone:\n"+extra, 1) }
	for name, tc := range map[string]struct {
		yaml string
		want []string
	}{
		"key file not PEM":      {withKafka("  tls: {enabled: true, cert_file: client.crt.pem, key_file: evil.txt}\n"), []string{"kafka.tls.cert_file: with key_file: tls: failed to find any PEM data in key input"}},
		"key file of odd PEM":   {withKafka("  tls: {enabled: true, cert_file: client.crt.pem, key_file: evil-type.pem}\n"), []string{"kafka.tls.cert_file: with key_file: no PEM private key in key_file"}},
		"cert file of odd PEM":  {withKafka("  tls: {enabled: true, cert_file: evil-type.pem, key_file: client.key.pem}\n"), []string{"kafka.tls.cert_file: with key_file: no PEM certificate in cert_file"}},
		"CA file not PEM":       {withKafka("  tls: {enabled: true, ca_file: evil.txt}\n"), []string{"kafka.tls.ca_file: no PEM certificate found in"}},
		"CA file bad cert":      {withKafka("  tls: {enabled: true, ca_file: evil-cert.pem}\n"), []string{"kafka.tls.ca_file: certificate 1 is not a valid X.509 certificate in evil-cert.pem"}},
		"cxone CA file":         {cx("  ca_file: evil.txt\n"), []string{"cxone.ca_file: no PEM certificate found in evil.txt"}},
		"password file, 2 ways": {withKafka("  sasl: {mechanism: plain, password: x, password_file: evil.txt}\n"), []string{"kafka.sasl.password_file: set either", "kafka.sasl.username: is required"}},
		"token file, 2 ways":    {withKafka("  sasl: {mechanism: oauthbearer, token_file: evil.txt, token_command: [x], username: u}\n"), []string{"kafka.sasl.token_file: set either"}},
		"client secret file":    {withCXone("  events_path: nope\n  auth: {client_id: a, client_secret: x, client_secret_file: evil.txt}\n"), []string{"cxone.auth.client_secret_file: set either", "cxone.events_path: must start with /"}},
		"access key secret file": {withCXone("  tenant_id: t\n  auth: {mode: access_key, client_id: a, client_secret: b, access_key_id: k, access_key_secret_file: evil.txt}\n"),
			[]string{"cxone.tenant_id: is used only with"}},
		"secret file at a wrong key": {withCXone("  auth: {client_id: a, client_secret_file: evil.txt, access_key_secret_file: evil.txt}\n"), []string{"cxone.auth.access_key_secret_file: is used only with"}},
	} {
		t.Run(name, func(t *testing.T) {
			checkNoLeak(t, tc.yaml, dir, tc.want, evilSecret)
		})
	}
}

// key is one leaf key of the configuration: its path (a list's first
// element for lists of structs) and whether it is a list of values.
type key struct {
	path []string
	list bool
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	byteSizeType = reflect.TypeOf(config.ByteSize(0))
)

func leafKeys(t reflect.Type, prefix []string) []key {
	var out []key
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		p := append(append([]string(nil), prefix...), name)
		ft := f.Type
		switch {
		case ft == durationType || ft == byteSizeType:
			out = append(out, key{path: p})
		case ft.Kind() == reflect.Struct:
			out = append(out, leafKeys(ft, p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, leafKeys(ft.Elem(), append(p, "0"))...)
		case ft.Kind() == reflect.Slice:
			out = append(out, key{path: p, list: true})
		default:
			out = append(out, key{path: p})
		}
	}
	return out
}

// setKey sets path in doc (maps, and "0" for the first element of a list)
// to value, or to a list holding it.
func setKey(doc map[string]any, path []string, value string, list bool) {
	var cur any = doc
	for i, k := range path {
		last := i == len(path)-1
		var v any = value
		if list {
			v = []any{"a:1", value}
		}
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[k] = v
				return
			}
			next, ok := c[k]
			if !ok {
				if path[i+1] == "0" {
					next = []any{map[string]any{}}
				} else {
					next = map[string]any{}
				}
				c[k] = next
			}
			cur = next
		case []any:
			cur = c[0]
		}
	}
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}
