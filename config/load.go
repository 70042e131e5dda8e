package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
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

// Error lists every problem found in a configuration file. Load returns it
// (test with errors.As) when the file parsed but is not valid.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config %s: %d problem", e.File, len(e.Problems))
	if len(e.Problems) != 1 {
		b.WriteString("s")
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Option changes how Load treats a file.
type Option func(*loadOptions)

type loadOptions struct {
	lookupEnv       func(string) (string, bool)
	skipCredentials bool
}

// WithLookupEnv makes Load resolve ${VAR} with fn instead of os.LookupEnv.
func WithLookupEnv(fn func(string) (string, bool)) Option {
	return func(o *loadOptions) { o.lookupEnv = fn }
}

// WithoutCredentials makes Load accept a file whose CXone or Kafka
// credentials are missing or refer to unset environment variables, and
// whose secret files are not readable. Commands that never
// contact CXone (dry-run) use it so that operators need no secrets to test
// their mappings.
func WithoutCredentials() Option {
	return func(o *loadOptions) { o.skipCredentials = true }
}

// credentialPaths are the keys WithoutCredentials relaxes.
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
}

// Load reads, expands, decodes, defaults and validates the configuration in
// path. On success the returned Config is complete: every optional field
// holds its default and every relative path is resolved. Otherwise the error
// is an *Error listing every problem found, or a plain error when the file
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

// Parse is Load on bytes already read; dir is the folder relative paths
// are resolved against.
func Parse(data []byte, dir string, opts ...Option) (*Config, error) {
	o := loadOptions{lookupEnv: os.LookupEnv}
	for _, opt := range opts {
		opt(&o)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{File: "bridge.yaml", Problems: []Problem{{Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	w := walker{opts: &o, lines: map[int]string{}}
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
	if len(w.problems) > 0 {
		return nil, &Error{File: "bridge.yaml", Problems: w.problems}
	}
	cfg.applyDefaults()
	cfg.validate(&w)
	if len(w.problems) > 0 {
		return nil, &Error{File: "bridge.yaml", Problems: w.problems}
	}
	return cfg, nil
}

// walker checks a YAML tree against the Config type before it is decoded:
// it expands ${VAR} references in scalar values, reports keys the type does
// not have, and notes the key path of every line so that the decoder's
// "line N: ..." errors can be reported by path.
type walker struct {
	opts     *loadOptions
	problems []Problem
	lines    map[int]string
	// envValues maps each value taken from the environment to its
	// variable's name. Problems never show such a value, only the name: it
	// may be a secret that landed in the wrong key.
	envValues map[string]string
}

func (w *walker) add(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for v, name := range w.envValues {
		msg = strings.ReplaceAll(msg, v, "${"+name+"}")
	}
	w.problems = append(w.problems, Problem{Path: path, Msg: msg})
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
	switch {
	case t == durationType:
		w.expand(n, path)
		if _, err := time.ParseDuration(n.Value); err != nil {
			w.add(path, "want a duration such as 500ms, 30s or 2m; got %q", n.Value)
		} else {
			n.Tag = "!!str"
		}
	case t == byteSizeType:
		w.expand(n, path)
		if _, err := ParseByteSize(n.Value); err != nil {
			w.add(path, "%v", err)
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
				w.add(path, "want a whole number, got %q", n.Value)
			} else {
				n.Tag = "!!int"
			}
		case reflect.Bool:
			if b, err := strconv.ParseBool(n.Value); err != nil {
				w.add(path, "want true or false, got %q", n.Value)
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

// expand replaces environment references in a scalar value in place.
func (w *walker) expand(n *yaml.Node, path string) {
	if !strings.Contains(n.Value, "${") {
		return
	}
	var unset []string
	out := envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
		if m == "$${" {
			return "${"
		}
		sub := envRef.FindStringSubmatch(m)
		if v, ok := w.opts.lookupEnv(sub[1]); ok && v != "" {
			if w.envValues == nil {
				w.envValues = map[string]string{}
			}
			if len(v) >= 4 { // shorter values are no secrets, and too common to replace
				w.envValues[v] = sub[1]
			}
			return v
		}
		if strings.Contains(m, ":-") {
			return sub[2]
		}
		unset = append(unset, sub[1])
		return ""
	})
	if hasBadRef(n.Value) {
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

// typeErrors turns a decoder error into problems at key paths.
func (w *walker) typeErrors(err error) {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
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
			w.add("", "%s", msg)
			continue
		}
		line, _ := strconv.Atoi(m[1])
		path, ok := w.lines[line]
		if !ok {
			path = "line " + m[1]
		}
		if !reported[path] { // the walk already said what is wrong there
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
