package config_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/config"
)

// docRow is one key of a table of docs/config.md: key | default | meaning.
type docRow struct {
	key, def string
	line     int
}

// docRows reads the tables of docs/config.md. A cell may name several keys
// (`kafka.tls.cert_file`, `kafka.tls.key_file`); the keys of the routes
// table are relative to a route and get the prefix "routes.".
func docRows(t *testing.T) map[string]docRow {
	t.Helper()
	data, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]docRow{}
	section := ""
	heading := regexp.MustCompile("^## `([a-z_]+)`")
	code := regexp.MustCompile("`([^`]+)`")
	for i, line := range strings.Split(string(data), "\n") {
		if m := heading.FindStringSubmatch(line); m != nil {
			section = m[1]
			continue
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.SplitN(strings.TrimPrefix(line, "|"), "|", 3)
		if len(cells) < 3 {
			t.Fatalf("docs/config.md:%d: not a key | default | meaning row: %s", i+1, line)
		}
		for _, m := range code.FindAllStringSubmatch(cells[0], -1) {
			k := m[1]
			if !strings.HasPrefix(k, section+".") {
				k = section + "." + k
			}
			if prev, dup := rows[k]; dup {
				t.Errorf("docs/config.md:%d: %s is documented twice (also line %d)", i+1, k, prev.line)
			}
			rows[k] = docRow{key: k, def: strings.TrimSpace(cells[1]), line: i + 1}
		}
	}
	if len(rows) < 80 {
		t.Fatalf("found only %d keys in docs/config.md's tables", len(rows))
	}
	return rows
}

// configKey is a leaf key of config.Config, found by its yaml tags.
type configKey struct {
	path  string       // "kafka.tls.ca_file"; "routes.topic" for a route's key
	field []int        // index path from config.Config, routes[0] for a route's key
	typ   reflect.Type // the field's type
}

// configKeys walks t's yaml tags; a list of structs (routes) contributes
// its element's keys.
func configKeys(t reflect.Type, prefix string, index []int) []configKey {
	var out []configKey
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		p, idx := name, append(slices.Clone(index), i)
		if prefix != "" {
			p = prefix + "." + name
		}
		switch ft := f.Type; {
		case ft.Kind() == reflect.Struct:
			out = append(out, configKeys(ft, p, idx)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, configKeys(ft.Elem(), p, append(idx, -1))...)
		default:
			out = append(out, configKey{path: p, field: idx, typ: ft})
		}
	}
	return out
}

// value returns the key's value in cfg (of its first route for a route's key).
func (k configKey) value(cfg *config.Config) reflect.Value {
	v := reflect.ValueOf(cfg).Elem()
	for _, i := range k.field {
		if i == -1 {
			v = v.Index(0)
		} else {
			v = v.Field(i)
		}
	}
	return v
}

var (
	literalCell = regexp.MustCompile("^`([^`]*)`(?: \\([^)]*\\))?$")
	codeSpan    = regexp.MustCompile("`([^`]+)`")
)

// parseLiteral reads a default as docs/config.md writes it (30s, 1MiB,
// [a, b], true, 256) into a value of typ.
func parseLiteral(s string, typ reflect.Type) (reflect.Value, error) {
	v := reflect.New(typ).Elem()
	switch {
	case typ == durationType:
		d, err := time.ParseDuration(s)
		v.SetInt(int64(d))
		return v, err
	case typ == byteSizeType:
		b, err := config.ParseByteSize(s)
		v.SetInt(int64(b))
		return v, err
	}
	switch typ.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		v.SetBool(b)
		return v, err
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		v.SetInt(n)
		return v, err
	case reflect.Uint, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, 64)
		v.SetUint(n)
		return v, err
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		v.SetFloat(f)
		return v, err
	case reflect.Slice:
		inner, ok := strings.CutPrefix(s, "[")
		if inner, ok = strings.CutSuffix(inner, "]"); !ok {
			return v, fmt.Errorf("want a list [a, b], got %s", s)
		}
		for _, e := range strings.Split(inner, ",") {
			v = reflect.Append(v, reflect.ValueOf(strings.TrimSpace(e)).Convert(typ.Elem()))
		}
	default:
		return v, fmt.Errorf("no reading of %s for a %s", s, typ)
	}
	return v, nil
}

// render shows a value the way docs/config.md writes defaults.
func render(v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		d := time.Duration(v.Int())
		switch {
		case d != 0 && d%time.Minute == 0:
			return fmt.Sprintf("%dm", d/time.Minute)
		case d != 0 && d%time.Second == 0:
			return fmt.Sprintf("%ds", d/time.Second)
		}
		return d.String()
	case v.Kind() == reflect.Slice:
		var parts []string
		for i := 0; i < v.Len(); i++ {
			parts = append(parts, fmt.Sprint(v.Index(i).Interface()))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}

// minimalValues is the least a configuration must set, as values: what
// minimalYAML writes.
func minimalValues() config.Config {
	return config.Config{
		Kafka:  config.Kafka{Brokers: []string{"localhost:9092"}},
		CXone:  config.CXone{Auth: config.Auth{ClientID: "client-1", ClientSecret: secret}},
		Routes: []config.Route{{Topic: "orders", EventType: "OrderCreated", BusinessKey: "/orderId"}},
	}
}

const minimalYAML = `
kafka:
  brokers: [localhost:9092]
cxone:
  auth:
    client_id: ${CXONE_CLIENT_ID}
    client_secret: ${CXONE_CLIENT_SECRET}
routes:
  - topic: orders
    event_type: OrderCreated
    business_key: /orderId
`

// variant returns the configuration minimalValues gives once change has
// changed it, or the problems found.
func variant(t *testing.T, change func(*config.Config)) (*config.Config, []config.Problem) {
	t.Helper()
	c := minimalValues()
	change(&c)
	cfg, err := config.New(c, t.TempDir(), env(map[string]string{}))
	var ce *config.Error
	switch {
	case err == nil:
		return cfg, nil
	case errors.As(err, &ce):
		return nil, ce.Problems
	}
	t.Fatalf("New: %v", err)
	return nil, nil
}

// docRule checks a key whose default docs/config.md describes in words.
// doc is the default column exactly as the document writes it: when the
// document changes, the rule must be looked at again.
type docRule struct {
	doc   string
	check func(t *testing.T, k configKey, loaded reflect.Value, first string) string
}

// firstCode is the first `code span` of a default cell.
func firstCode(cell string) string {
	if m := codeSpan.FindStringSubmatch(cell); m != nil {
		return m[1]
	}
	return ""
}

// noValue are the default cells that mean "not set unless the file sets
// it": the key's loaded value must be its zero value.
var noValue = map[string]bool{"": true, "none": true, "none (any host)": true,
	"system roots": true, "each broker's host": true, "see below": true, "the whole value": true}

// required checks that a configuration without the key (change clears
// it) has a problem at path.
func required(path string, change func(*config.Config)) func(*testing.T, configKey, reflect.Value, string) string {
	return func(t *testing.T, k configKey, _ reflect.Value, _ string) string {
		_, problems := variant(t, change)
		for _, p := range problems {
			if p.Path == path {
				return ""
			}
		}
		return fmt.Sprintf("documented as required, but a configuration without it has no problem at %s (problems: %v)", path, problems)
	}
}

// unsetUnless checks that the key is unset in the minimal configuration,
// and that the configuration change makes is refused at path without it.
func unsetUnless(path string, change func(*config.Config)) func(*testing.T, configKey, reflect.Value, string) string {
	return func(t *testing.T, k configKey, loaded reflect.Value, first string) string {
		if !loaded.IsZero() {
			return fmt.Sprintf("loaded %s, want unset", render(loaded))
		}
		return required(path, change)(t, k, loaded, first)
	}
}

// docRules are the keys whose default column is not one literal value.
var docRules = map[string]docRule{
	"kafka.brokers":                 {"required", required("kafka.brokers", func(c *config.Config) { c.Kafka.Brokers = nil })},
	"cxone.auth.client_id":          {"required", required("cxone.auth.client_id", func(c *config.Config) { c.CXone.Auth.ClientID = "" })},
	"cxone.auth.client_secret":      {"required unless `client_secret_file`", required("cxone.auth.client_secret", func(c *config.Config) { c.CXone.Auth.ClientSecret = "" })},
	"routes.business_key":           {"required", required("routes[0].business_key", func(c *config.Config) { c.Routes[0].BusinessKey = "" })},
	"routes.topic":                  {"one of `topic`, `topic_pattern`", required("routes[0]", func(c *config.Config) { c.Routes[0].Topic = "" })},
	"routes.event_type":             {"one of the three", required("routes[0]", func(c *config.Config) { c.Routes[0].EventType = "" })},
	"kafka.sasl.username":           {"required for `plain`, `scram-*`", unsetUnless("kafka.sasl.username", func(c *config.Config) { c.Kafka.SASL.Mechanism, c.Kafka.SASL.Password = "plain", "p" })},
	"kafka.sasl.password":           {"required for `plain`, `scram-*` unless `password_file`", unsetUnless("kafka.sasl.password", func(c *config.Config) { c.Kafka.SASL.Mechanism, c.Kafka.SASL.Username = "scram-sha-512", "u" })},
	"kafka.sasl.token_file":         {"one of the two for `oauthbearer`", unsetUnless("kafka.sasl", func(c *config.Config) { c.Kafka.SASL.Mechanism = "oauthbearer" })},
	"cxone.auth.access_key_id":      {"required in `access_key` mode", unsetUnless("cxone.auth.access_key_id", func(c *config.Config) { c.CXone.Auth.Mode, c.CXone.Auth.AccessKeySecret = "access_key", "k" })},
	"cxone.auth.access_key_secret":  {"required in `access_key` mode unless `access_key_secret_file`", unsetUnless("cxone.auth.access_key_secret", func(c *config.Config) { c.CXone.Auth.Mode, c.CXone.Auth.AccessKeyID = "access_key", "k" })},
	"consumer.max_buffered":         {"`4 × max_in_flight`", derived(func(c *config.Config) any { return 4 * c.Consumer.MaxInFlight }, func(c *config.Config) { c.Consumer.MaxInFlight = 10 })},
	"consumer.revoke_drain_timeout": {"half of `kafka.rebalance_timeout`, at most `20s`", derived(func(c *config.Config) any { return min(c.Kafka.RebalanceTimeout/2, 20*time.Second) }, func(c *config.Config) { c.Kafka.RebalanceTimeout = 30 * time.Second })},
	"cxone.rate_limit.burst":        {"`ceil(events_per_second)`", derived(func(c *config.Config) any { return int(math.Ceil(c.CXone.RateLimit.EventsPerSecond)) })},
	"cxone.auth.token_url":          {"`{base_url}/oauth/token`, or discovered from `issuer`", tokenURLRule},
	"cxone.auth.issuer":             {"`https://cxone.niceincontact.com` in `access_key` mode when `token_url` is unset or `base_url` is `discover`; else none", issuerRule},
	"cxone.auth.scope":              {"`eventbridge:events:write` in `client_credentials` mode; none in `access_key` mode", scopeRule},
	"metrics.pprof_listen":          {"`127.0.0.1:6060` with `pprof: true`", pprofListenRule},
}

// derived checks a default computed from other keys, in the minimal
// configuration and in each variant.
func derived(want func(*config.Config) any, variants ...func(*config.Config)) func(*testing.T, configKey, reflect.Value, string) string {
	return func(t *testing.T, k configKey, _ reflect.Value, _ string) string {
		for i, change := range append([]func(*config.Config){func(*config.Config) {}}, variants...) {
			cfg, problems := variant(t, change)
			if problems != nil {
				return fmt.Sprintf("variant %d does not load: %v", i, problems)
			}
			got := k.value(cfg)
			if w := reflect.ValueOf(want(cfg)).Convert(got.Type()); !reflect.DeepEqual(got.Interface(), w.Interface()) {
				return fmt.Sprintf("variant %d: loaded %s, the documented rule gives %s", i, render(got), render(w))
			}
		}
		return ""
	}
}

func tokenURLRule(t *testing.T, k configKey, loaded reflect.Value, first string) string {
	cfg, _ := variant(t, func(*config.Config) {})
	if want := strings.ReplaceAll(first, "{base_url}", cfg.CXone.BaseURL); loaded.String() != want {
		return fmt.Sprintf("loaded %q, want %q", loaded.String(), want)
	}
	if ak, p := variant(t, func(c *config.Config) {
		c.CXone.Auth.Mode, c.CXone.Auth.AccessKeyID, c.CXone.Auth.AccessKeySecret = "access_key", "k", "s"
	}); p != nil || ak.CXone.Auth.TokenURL != "" {
		return fmt.Sprintf("with an issuer (access_key mode) the token URL is discovered; loaded %+v, %v", ak, p)
	}
	return ""
}

func issuerRule(t *testing.T, k configKey, loaded reflect.Value, first string) string {
	if loaded.String() != "" {
		return fmt.Sprintf("client_credentials mode: loaded %q, want none", loaded.String())
	}
	accessKey := func(c *config.Config) {
		c.CXone.Auth.Mode, c.CXone.Auth.AccessKeyID, c.CXone.Auth.AccessKeySecret = "access_key", "k", "s"
	}
	for name, tc := range map[string]struct {
		change func(*config.Config)
		want   string
	}{
		"access_key":                {accessKey, first},
		"access_key, token_url set": {func(c *config.Config) { accessKey(c); c.CXone.Auth.TokenURL = "https://t.example/token" }, ""},
		"access_key, base_url discover": {func(c *config.Config) {
			accessKey(c)
			c.CXone.BaseURL, c.CXone.TenantID, c.CXone.Auth.TokenURL = "discover", "t1", "https://t.example/token"
		}, first},
	} {
		cfg, p := variant(t, tc.change)
		if p != nil || cfg.CXone.Auth.Issuer != tc.want {
			return fmt.Sprintf("%s: issuer %q (problems %v), want %q", name, cfg.CXone.Auth.Issuer, p, tc.want)
		}
	}
	return ""
}

func scopeRule(t *testing.T, k configKey, loaded reflect.Value, first string) string {
	if loaded.String() != first {
		return fmt.Sprintf("client_credentials mode: loaded %q, want %q", loaded.String(), first)
	}
	cfg, p := variant(t, func(c *config.Config) {
		c.CXone.Auth.Mode, c.CXone.Auth.AccessKeyID, c.CXone.Auth.AccessKeySecret = "access_key", "k", "s"
	})
	if p != nil || cfg.CXone.Auth.Scope != "" {
		return fmt.Sprintf("access_key mode: scope %q (problems %v), want none", cfg.CXone.Auth.Scope, p)
	}
	return ""
}

func pprofListenRule(t *testing.T, k configKey, loaded reflect.Value, first string) string {
	if loaded.String() != "" {
		return fmt.Sprintf("without pprof: loaded %q, want unset", loaded.String())
	}
	cfg, p := variant(t, func(c *config.Config) { c.Metrics.Pprof = true })
	if p != nil || cfg.Metrics.PprofListen != first {
		return fmt.Sprintf("with pprof: %q (problems %v), want %q", cfg.Metrics.PprofListen, p, first)
	}
	return ""
}

// TestDocumentedDefaults compares the default column of docs/config.md with
// what the loader produces for a minimal bridge.yaml, key by key, and the
// keys of the document with those of config.Config (found by their yaml
// tags): a key missing on either side fails, so does a default that
// differs. Literal defaults (`30s`, `1MiB`, `[a, b]`) are read as the
// key's type; defaults in words are checked by docRules.
func TestDocumentedDefaults(t *testing.T) {
	rows := docRows(t)
	keys := configKeys(reflect.TypeOf(config.Config{}), "", nil)
	cfg, err := parse(t, minimalYAML, goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	inStruct := map[string]bool{}
	for _, k := range keys {
		inStruct[k.path] = true
		row, ok := rows[k.path]
		if !ok {
			t.Errorf("%s (config.Config) is not documented in docs/config.md", k.path)
			continue
		}
		loaded := k.value(cfg)
		rule, hasRule := docRules[k.path]
		switch {
		case hasRule && rule.doc != row.def:
			t.Errorf("docs/config.md:%d: %s: the default reads %q; the test's rule was written for %q: check the rule", row.line, k.path, row.def, rule.doc)
		case hasRule && rule.check != nil:
			if msg := rule.check(t, k, loaded, firstCode(row.def)); msg != "" {
				t.Errorf("docs/config.md:%d: %s (documented %s): %s", row.line, k.path, row.def, msg)
			}
		case noValue[row.def]:
			if !loaded.IsZero() {
				t.Errorf("docs/config.md:%d: %s: documented %q, but loaded %s", row.line, k.path, row.def, render(loaded))
			}
		case literalCell.MatchString(row.def):
			lit := literalCell.FindStringSubmatch(row.def)[1]
			want, err := parseLiteral(lit, k.typ)
			if err != nil {
				t.Errorf("docs/config.md:%d: %s: the default %s is not a %s: %v", row.line, k.path, row.def, k.typ, err)
				continue
			}
			if !reflect.DeepEqual(loaded.Interface(), want.Interface()) {
				t.Errorf("docs/config.md:%d: %s: documented default %s, loaded %s", row.line, k.path, row.def, render(loaded))
			}
		default:
			t.Errorf("docs/config.md:%d: %s: the default %q is neither one value nor a rule of this test: add a rule", row.line, k.path, row.def)
		}
	}
	var extra []string
	for k := range rows {
		if !inStruct[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		t.Errorf("docs/config.md:%d: %s is documented but config.Config has no such key", rows[k].line, k)
	}
	for k := range docRules {
		if !inStruct[k] {
			t.Errorf("docRules has a rule for %s, which config.Config does not have", k)
		}
	}
}
