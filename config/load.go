package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a configuration, at one key.
type Problem struct {
	Path string // dotted key path, e.g. "routes[1].schema"; empty for the file as a whole
	Msg  string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// Error lists every problem found in a configuration. [Load], [Parse] and
// [New] return it (test with errors.As) when the file parsed but is not
// valid.
type Error struct {
	// File is the file the configuration came from; empty for [New].
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File == "" {
		fmt.Fprintf(&b, "config: %d problem", len(e.Problems))
	} else {
		fmt.Fprintf(&b, "config %s: %d problem", e.File, len(e.Problems))
	}
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Option changes how [Load], [Parse] and [New] treat a configuration.
type Option func(*loadOptions)

type loadOptions struct {
	lookupEnv       func(string) (string, bool)
	skipCredentials bool
	registryURLs    []string
}

// WithLookupEnv makes [Load] resolve ${VAR} with fn instead of
// [os.LookupEnv]. The check that aws-msk-iam finds credentials in the
// environment uses it too ([New] as well).
func WithLookupEnv(fn func(string) (string, bool)) Option {
	return func(o *loadOptions) { o.lookupEnv = fn }
}

// WithoutCredentials makes [Load] accept a file whose CXone or Kafka
// credentials are missing or refer to unset environment variables, and
// whose secret files are not readable. Commands that never
// contact CXone (dry-run) use it so that operators need no secrets to test
// their mappings.
func WithoutCredentials() Option {
	return func(o *loadOptions) { o.skipCredentials = true }
}

// WithSchemaRegistry replaces schema_registry.urls with urls (bridge
// dry-run --registry); the section's other keys stay as the file sets them.
func WithSchemaRegistry(urls ...string) Option {
	return func(o *loadOptions) { o.registryURLs = urls }
}

// credentialPaths are the keys [WithoutCredentials] relaxes.
var credentialPaths = map[string]bool{
	"cxone.auth.client_id":              true,
	"cxone.auth.client_secret":          true,
	"cxone.auth.client_secret_file":     true,
	"cxone.auth.access_key_id":          true,
	"cxone.auth.access_key_secret":      true,
	"cxone.auth.access_key_secret_file": true,
	// Kafka credentials: dry-run does not contact Kafka either.
	"kafka.sasl.username":              true,
	"kafka.sasl.password":              true,
	"kafka.sasl.aws.access_key_id":     true,
	"kafka.sasl.aws.secret_access_key": true,
	"kafka.sasl.aws.session_token":     true,
	// The tenant is looked up only to discover the endpoints.
	"cxone.tenant_id": true,
}

// Load reads, expands, decodes, defaults and validates the configuration in
// path. On success the returned [Config] is complete: every optional field
// holds its default and every relative path is resolved. Otherwise the error
// is an [*Error] listing every problem found, or a plain error when the file
// cannot be read or is not YAML at all.
func Load(path string, opts ...Option) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data, filepath.Dir(abs), opts...)
	if err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = path
		}
		return nil, err
	}
	cfg.Path = abs
	return cfg, nil
}

// Parse is [Load] on bytes already read; dir is the folder relative paths
// are resolved against.
func Parse(data []byte, dir string, opts ...Option) (*Config, error) {
	o := loadOptions{lookupEnv: os.LookupEnv}
	for _, opt := range opts {
		opt(&o)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{File: "bridge.yaml", Problems: []Problem{{Msg: "not valid YAML: " + syntaxError(data, err)}}}
	}
	w := newWalker(&o)
	cfg := &Config{Dir: dir}
	if len(doc.Content) == 0 {
		w.add("", "file is empty")
	} else {
		root := doc.Content[0]
		w.walk(root, reflect.TypeOf(*cfg), "")
		if err := root.Decode(cfg); err != nil {
			w.typeErrors(err)
		}
	}
	if len(w.problems) > 0 && len(doc.Content) > 0 {
		// Keys of the wrong type or unknown keys do not hide the other
		// problems: the rest is validated too, without the follow-on
		// problems of keys already reported (left at their defaults).
		first := append([]Problem(nil), w.problems...)
		reported := map[string]bool{}
		for _, p := range first {
			reported[p.Path] = true
		}
		cfg.complete(w)
		for _, p := range w.problems[len(first):] {
			if !reported[p.Path] {
				first = append(first, p)
			}
		}
		return nil, &Error{File: "bridge.yaml", Problems: first}
	}
	if len(w.problems) > 0 {
		return nil, &Error{File: "bridge.yaml", Problems: w.problems}
	}
	if cfg.complete(w); len(w.problems) > 0 {
		return nil, &Error{File: "bridge.yaml", Problems: w.problems}
	}
	return cfg, nil
}

// New completes a configuration built from values in code, for programs
// that would otherwise write bridge.yaml text to load it (the demo, the
// benchmark, tests): it applies the defaults to the zero fields, resolves
// relative paths against dir, reads the files named (secret files, CA
// bundles, schemas) and validates the result, exactly as [Load] does after
// decoding a file. Every problem is reported at once in an [*Error] (with
// an empty File), each at its key path as in bridge.yaml
// ("routes[0].business_key").
//
// c is not modified: the result is a copy, its slices too. c holds the
// settings as they would be written, not a configuration Load returned
// (whose secrets hold what its secret files held, so that setting a
// secret and its file both is refused). Values are taken as they are:
// ${NAME} references are not expanded. The options are
// [Load]'s: [WithoutCredentials] relaxes the same keys, and
// [WithLookupEnv] serves the check that aws-msk-iam finds credentials in
// the environment.
func New(c Config, dir string, opts ...Option) (*Config, error) {
	o := loadOptions{lookupEnv: os.LookupEnv}
	for _, opt := range opts {
		opt(&o)
	}
	cfg := c
	cfg.Path, cfg.Dir = "", dir
	cfg.Kafka.Brokers = slices.Clone(c.Kafka.Brokers)
	cfg.Kafka.SASL.TokenCommand = slices.Clone(c.Kafka.SASL.TokenCommand)
	cfg.Kafka.SASL.AWS.CredentialsCommand = slices.Clone(c.Kafka.SASL.AWS.CredentialsCommand)
	cfg.CXone.AllowedHosts = slices.Clone(c.CXone.AllowedHosts)
	cfg.Correlation.Headers = slices.Clone(c.Correlation.Headers)
	cfg.Routes = slices.Clone(c.Routes)
	w := newWalker(&o)
	if cfg.complete(w); len(w.problems) > 0 {
		return nil, &Error{Problems: w.problems}
	}
	return &cfg, nil
}

// complete applies the defaults to a decoded configuration and validates
// it, recording every problem in w: what [Parse] and [New] share.
func (c *Config) complete(w *walker) {
	if len(w.opts.registryURLs) > 0 {
		c.SchemaRegistry.URLs = append([]string(nil), w.opts.registryURLs...)
	}
	c.applyDefaults()
	// A default computed from a value of the environment is shown as such.
	w.inherit("consumer.max_buffered", "consumer.max_in_flight")
	w.inherit("consumer.revoke_drain_timeout", "kafka.rebalance_timeout")
	w.inherit("cxone.auth.token_url", "cxone.base_url")
	c.validate(w)
}

// walker checks a YAML tree against the Config type before it is decoded:
// it expands ${VAR} references in scalar values, reports keys the type does
// not have, and notes the key path of every line so that the decoder's
// "line N: ..." errors can be reported by path.
//
// It also records where each value came from. A value expanded from the
// environment or read from a file is never formatted into a problem, not
// even quoted: problems show what the file says instead (the reference
// ${NAME} as written, or the file's path). Such a value may be a secret
// that landed under the wrong key, and redacting it from a message
// afterwards cannot work: %q, JSON or YAML quoting escape a secret holding
// a quote, a backslash, a newline or non-ASCII text, and the escaped form
// no longer matches. Every problem that shows a value therefore takes it
// through quote, show or addErr, which know the value's key path.
type walker struct {
	opts     *loadOptions
	problems []Problem
	lines    map[int]string
	// present holds the key path of every non-empty value the file sets.
	present map[string]bool
	// hidden maps the key path of every value that is not written in the
	// file as such (expanded from the environment, read from a file, or a
	// default derived from one of those) to what problems show instead.
	hidden map[string]string
	// hiddenLines are the lines holding such values: the decoder's errors
	// name a line, not a key, and may quote the value.
	hiddenLines map[int]bool
}

// lineOf is the line of the file where the key at path is written, 0 when
// it is not (a configuration built with New).
func (w *walker) lineOf(path string) int {
	for line, p := range w.lines {
		if p == path {
			return line
		}
	}
	return 0
}

func newWalker(o *loadOptions) *walker {
	return &walker{opts: o, lines: map[int]string{}, present: map[string]bool{}, hidden: map[string]string{}, hiddenLines: map[int]bool{}}
}

// add records a problem. Its arguments must never hold a value of the
// configuration taken as is: format values with quote or show.
func (w *walker) add(path, format string, args ...any) {
	w.problems = append(w.problems, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// hide records that the value at path did not come from the file, and
// what problems show instead of it.
func (w *walker) hide(path string, line int, shown string) {
	w.hidden[path] = shown
	if line > 0 {
		w.hiddenLines[line] = true
	}
}

// quote is how a problem shows the text v of the key at path: Go-quoted,
// or, when it came from the environment or a file, what the file says
// instead (e.g. ${NAME}).
func (w *walker) quote(path, v string) string {
	if s, ok := w.hidden[path]; ok {
		return s
	}
	return strconv.Quote(v)
}

// show is quote for any value, unquoted: numbers, durations, sizes, names.
func (w *walker) show(path string, v any) string {
	if s, ok := w.hidden[path]; ok {
		return s
	}
	return fmt.Sprint(v)
}

// addErr reports err, which a parser returned for the value at path and
// which may quote that value. For a value from the environment or a file
// it reports what instead, with what the file says.
func (w *walker) addErr(path string, err error, what string) {
	if s, ok := w.hidden[path]; ok {
		w.add(path, "%s; got %s", what, s)
		return
	}
	w.add(path, "%v", err)
}

// inherit hides the default of dst when it is computed from a hidden src.
func (w *walker) inherit(dst, src string) {
	if s, ok := w.hidden[src]; ok && !w.present[dst] {
		w.hidden[dst] = "the default derived from " + s
	}
}

var (
	byteSizeType = reflect.TypeOf(ByteSize(0))
	durationType = reflect.TypeOf(time.Duration(0))
)

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if _, ok := w.lines[n.Line]; !ok {
		w.lines[n.Line] = path
	}
	if n.Kind == yaml.AliasNode {
		w.add(path, "YAML aliases are not supported")
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an explicit empty value: the default applies
	}
	w.present[path] = true
	switch {
	case t == durationType:
		w.expand(n, path)
		if _, err := time.ParseDuration(n.Value); err != nil {
			w.add(path, "want a duration such as 500ms, 30s or 2m; got %s", w.quote(path, n.Value))
		} else {
			n.Tag = "!!str"
		}
	case t == byteSizeType:
		w.expand(n, path)
		if _, why := parseByteSize(n.Value); why != "" {
			w.add(path, "invalid size %s: %s", w.quote(path, n.Value), why)
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.add(path, "want a mapping of keys, got %s", kindName(n))
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			kp := join(path, k.Value)
			w.lines[k.Line] = kp
			f, ok := fields[k.Value]
			if !ok {
				w.add(kp, "unknown key (valid keys here: %s)", strings.Join(sortedKeys(fields), ", "))
				continue
			}
			w.walk(v, f.Type, kp)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.add(path, "want a list, got %s", kindName(n))
			return
		}
		for i, item := range n.Content {
			w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			w.add(path, "want a single value, got %s", kindName(n))
			return
		}
		w.expand(n, path)
		switch t.Kind() {
		case reflect.Int, reflect.Int32, reflect.Int64:
			if _, err := strconv.ParseInt(n.Value, 10, 64); err != nil {
				w.add(path, "want a whole number, got %s", w.quote(path, n.Value))
			} else {
				n.Tag = "!!int"
			}
		case reflect.Float32, reflect.Float64:
			// Checked here, as the others: the decoder's own error would
			// quote the value. Written back in a form YAML reads as a float.
			if f, err := strconv.ParseFloat(n.Value, 64); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				w.add(path, "want a number, got %s", w.quote(path, n.Value))
			} else {
				n.Value, n.Tag = strconv.FormatFloat(f, 'g', -1, 64), "!!float"
			}
		case reflect.Bool:
			if b, err := strconv.ParseBool(n.Value); err != nil {
				w.add(path, "want true or false, got %s", w.quote(path, n.Value))
			} else {
				n.Value, n.Tag = strconv.FormatBool(b), "!!bool"
			}
		case reflect.String:
			// A value such as 123 or true is still meant as text here.
			n.Tag = "!!str"
		}
	}
}

// envRef matches ${NAME} and ${NAME:-default}; $${ is a literal "${".
var envRef = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// expand replaces environment references in a scalar value in place. A
// value holding a reference is hidden from problems from then on, whether
// the variable was set or its default applied: problems show the value as
// the file writes it (${NAME}, or the whole text quoted when the reference
// is part of it).
func (w *walker) expand(n *yaml.Node, path string) {
	if !strings.Contains(n.Value, "${") {
		return
	}
	raw := n.Value
	refs := 0
	var unset []string
	out := envRef.ReplaceAllStringFunc(raw, func(m string) string {
		if m == "$${" {
			return "${"
		}
		refs++
		sub := envRef.FindStringSubmatch(m)
		if v, ok := w.opts.lookupEnv(sub[1]); ok && v != "" {
			return v
		}
		if strings.Contains(m, ":-") {
			return sub[2]
		}
		unset = append(unset, sub[1])
		return ""
	})
	if refs > 0 {
		shown := strconv.Quote(raw)
		if loc := envRef.FindStringIndex(raw); loc[0] == 0 && loc[1] == len(raw) {
			shown = raw // the value is one reference: ${NAME}
		}
		w.hide(path, n.Line, shown)
	}
	if hasBadRef(raw) {
		w.add(path, "malformed environment reference: use ${NAME} or ${NAME:-default}")
	}
	for _, name := range unset {
		if w.opts.skipCredentials && credentialPaths[path] {
			continue
		}
		w.add(path, "environment variable %s is not set", name)
	}
	n.Value = out
}

// hasBadRef reports a "${" that does not start a well-formed reference.
func hasBadRef(s string) bool {
	rest := envRef.ReplaceAllString(s, "")
	return strings.Contains(rest, "${")
}

// lineRef matches the "line N: " prefix of yaml.v3 decoding errors.
var lineRef = regexp.MustCompile(`^line (\d+): (.*)$`)

// typeErrors turns a decoder error into problems at key paths. The
// decoder quotes values (the first characters of a long one): on a line
// holding a value from the environment or a file its message is replaced.
func (w *walker) typeErrors(err error) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		if len(w.hiddenLines) > 0 {
			w.add("", "the file could not be decoded (the message is not shown: it may quote a value from the environment or a file)")
			return
		}
		w.add("", "%v", err)
		return
	}
	reported := map[string]bool{}
	for _, p := range w.problems {
		reported[p.Path] = true
	}
	for _, msg := range te.Errors {
		m := lineRef.FindStringSubmatch(msg)
		if m == nil {
			if len(w.hiddenLines) > 0 {
				w.add("", "a value could not be decoded (the message is not shown: it may quote a value from the environment or a file)")
			} else {
				w.add("", "%s", msg)
			}
			continue
		}
		line, _ := strconv.Atoi(m[1])
		path, ok := w.lines[line]
		if !ok {
			path = "line " + m[1]
		}
		switch {
		case reported[path]: // the walk already said what is wrong there
		case w.hiddenLines[line]:
			if s, ok := w.hidden[path]; ok {
				w.add(path, "not a valid value for this key; got %s", s)
			} else {
				w.add(path, "line %d holds a value that is not valid for its key (not shown: it came from the environment or a file)", line)
			}
		default:
			w.add(path, "%s", m[2])
		}
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return "a single value"
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps the YAML keys of struct type t to their fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := make(map[string]reflect.StructField, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		m[name] = f
	}
	return m
}

func sortedKeys(m map[string]reflect.StructField) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// syntaxError says where a YAML syntax error is. The decoder names the
// line where the enclosing block starts rather than the line at fault (an
// over-indented key on line 3 under a mapping that starts on line 1 is
// "line 1: did not find expected key"), so the line is found again: it is
// the first line at which the file, cut after it, fails with the same
// message. A cut that fails otherwise (inside a flow sequence or a quoted
// value that spans lines) does not count, and when no cut matches the
// decoder's own line is kept.
func syntaxError(data []byte, err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	m := lineRef.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	what := m[2]
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > 5000 {
		return msg // not a configuration written by hand: keep the decoder's line
	}
	var prefix []byte
	for i, l := range lines {
		prefix = append(prefix, l...)
		var n yaml.Node
		perr := yaml.Unmarshal(prefix, &n)
		if perr == nil {
			continue
		}
		pm := lineRef.FindStringSubmatch(strings.TrimPrefix(perr.Error(), "yaml: "))
		if pm == nil || pm[2] != what {
			continue
		}
		msg = fmt.Sprintf("line %d: %s", i+1, what)
		switch {
		case bytes.HasPrefix(bytes.TrimLeft(l, " "), []byte("\t")):
			msg += " (YAML indents with spaces, not tabs)"
		case (what == "did not find expected key" || what == "mapping values are not allowed in this context") &&
			i > 0 && indent(l) > indent(lines[i-1]):
			msg += " (is this line indented more than the key above it?)"
		}
		break
	}
	return msg
}

// indent is the number of spaces a line starts with.
func indent(l []byte) int { return len(l) - len(bytes.TrimLeft(l, " ")) }
