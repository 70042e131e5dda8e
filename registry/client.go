package registry

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/cxone-bridge/bridge/secret"
)

// Config says how to reach the Schema Registry and bounds the decoding.
type Config struct {
	// URLs of the registry (at least one); a request that cannot be sent
	// to one is tried on the next. "host:port" means http://host:port.
	// Credentials do not belong in a URL: use Username and Password.
	URLs []string

	// Basic authentication (Confluent Cloud API key and secret), or a
	// bearer token; at most one of the two. The secrets never print
	// themselves ([secret.Secret]).
	Username    string
	Password    secret.Secret
	BearerToken secret.Secret

	// HTTPClient, if set, sends the requests (its Transport carries TLS
	// and proxies). Otherwise a client is built with TLS (nil: the
	// system's roots). At most one of HTTPClient and TLS.
	HTTPClient *http.Client
	TLS        *tls.Config

	// Timeout bounds each schema fetch (all its requests, references
	// included). 0 means 10s.
	Timeout time.Duration

	// NotFoundTTL is how long the answer "no such schema id" (a registry
	// 404) is remembered, so that a stream of records with a bad id does
	// not turn into a stream of registry requests. 0 means 10s; a negative
	// value remembers nothing.
	NotFoundTTL time.Duration

	// OutageHold is how long a failed fetch of an id (the registry could
	// not answer: ErrUnavailable) is answered from memory, so that the
	// records waiting for that id, each retried by its consumer, do not
	// each send a request while the registry is down: at most one request
	// per id per OutageHold. 0 means 1s; a negative value remembers
	// nothing. A caller whose own context ended is not an outage.
	OutageHold time.Duration

	// LookupSubject makes the first fetch of a schema id also ask the
	// registry for the subjects it is registered under (one more request
	// per id, GET /schemas/ids/{id}/subjects), so that Info.Subject and
	// Error.Subject can name it. Off, the subject is left empty.
	LookupSubject bool

	// MaxJSONBytes bounds the JSON a single value may decode into; a value
	// that would exceed it is a decode error. 0 means 16 MiB.
	MaxJSONBytes int
}

// Defaults of [Config], which [New] applies to zero fields (and
// [Config.WithDefaults] shows).
const (
	DefaultTimeout      = 10 * time.Second
	DefaultNotFoundTTL  = 10 * time.Second
	DefaultOutageHold   = time.Second
	DefaultMaxJSONBytes = 16 << 20

	// Bounds on what one schema may pull in through references.
	maxReferences     = 256
	maxReferenceDepth = 32
)

// WithDefaults returns cfg with its zero fields set to their defaults
// ([DefaultTimeout], [DefaultNotFoundTTL], [DefaultOutageHold],
// [DefaultMaxJSONBytes]); a
// negative Timeout or MaxJSONBytes counts as zero.
func (cfg Config) WithDefaults() Config {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.NotFoundTTL == 0 {
		cfg.NotFoundTTL = DefaultNotFoundTTL
	}
	if cfg.OutageHold == 0 {
		cfg.OutageHold = DefaultOutageHold
	}
	if cfg.MaxJSONBytes <= 0 {
		cfg.MaxJSONBytes = DefaultMaxJSONBytes
	}
	return cfg
}

// Decoder turns Schema Registry–framed record values into JSON. It is safe
// for concurrent use. Build it with New.
//
// Schemas are fetched by id once and kept for the life of the Decoder
// (registry ids are immutable), together with their compiled decoders;
// concurrent first uses of one id share one fetch.
type Decoder struct {
	client        *sr.Client
	timeout       time.Duration
	notFoundTTL   time.Duration
	outageHold    time.Duration
	maxJSON       int
	lookupSubject bool
	now           func() time.Time

	ready sync.Map // schema id -> *schema, compiled

	mu      sync.Mutex
	pending map[int]*fetch               // fetches in flight, and remembered failures
	sweepAt int                          // size of pending that triggers a sweep
	refs    map[refKey]*sr.SubjectSchema // referenced schemas, by subject and version

	avroPool sync.Pool // *avroDecoder
	pbPool   sync.Pool // *pbDecoder
}

// schema is a fetched and compiled schema.
type schema struct {
	id      int
	subject string
	format  Format // FormatAvro, FormatProtobuf or FormatJSONSchema
	name    string // Avro: the root type's full name
	avro    *avroNode
	pb      *pbSchema
}

// fetch is one fetch of a schema id. done is closed when s or err is set.
// A failed fetch stays in Decoder.pending while it is remembered: until
// expires, or for good when permanent (a schema that does not compile
// never will).
type fetch struct {
	done      chan struct{}
	s         *schema
	err       error
	expires   time.Time
	permanent bool
}

type refKey struct {
	subject string
	version int
}

// New returns a Decoder for the registry cfg describes. opts are passed to
// the franz-go registry client after the options New derives from cfg (for
// example sr.UserAgent or sr.DefaultSchemaContext). New sends no request.
func New(cfg Config, opts ...sr.ClientOpt) (*Decoder, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("registry: no URL")
	}
	urls := make([]string, len(cfg.URLs))
	for i, raw := range cfg.URLs {
		s := strings.TrimSpace(raw)
		if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
			s = "http://" + s
		}
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("registry: URL %d is not an http(s) URL", i+1)
		}
		if u.User != nil {
			return nil, fmt.Errorf("registry: URL %d carries credentials; use Username and Password", i+1)
		}
		urls[i] = s
	}
	if cfg.BearerToken != "" && (cfg.Username != "" || cfg.Password != "") {
		return nil, errors.New("registry: both basic authentication and a bearer token are set")
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("registry: password without a username")
	}
	if cfg.HTTPClient != nil && cfg.TLS != nil {
		return nil, errors.New("registry: both HTTPClient and TLS are set; put the TLS config in the client's transport")
	}
	d := &Decoder{
		timeout:       cfg.Timeout,
		notFoundTTL:   cfg.NotFoundTTL,
		maxJSON:       cfg.MaxJSONBytes,
		lookupSubject: cfg.LookupSubject,
		now:           time.Now,
		pending:       map[int]*fetch{},
		refs:          map[refKey]*sr.SubjectSchema{},
	}
	cfg = cfg.WithDefaults()
	d.timeout, d.notFoundTTL, d.outageHold, d.maxJSON = cfg.Timeout, cfg.NotFoundTTL, cfg.OutageHold, cfg.MaxJSONBytes
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.TLS != nil {
			tr.TLSClientConfig = cfg.TLS.Clone()
		}
		hc = &http.Client{Transport: tr, Timeout: d.timeout}
	}
	all := []sr.ClientOpt{sr.URLs(urls...), sr.HTTPClient(hc), sr.UserAgent("cxone-bridge")}
	if cfg.Username != "" {
		all = append(all, sr.BasicAuth(cfg.Username, string(cfg.Password)))
	}
	if cfg.BearerToken != "" {
		all = append(all, sr.BearerToken(string(cfg.BearerToken)))
	}
	cl, err := sr.NewClient(append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	d.client = cl
	return d, nil
}

// schema returns the compiled schema of id, fetching it on first use.
// Concurrent callers for one id share one fetch; a caller whose ctx ends
// stops waiting (ErrUnavailable wrapping ctx.Err()) while the fetch goes on
// for the others, bounded by the Decoder's timeout.
func (d *Decoder) schema(ctx context.Context, id int) (*schema, error) {
	if v, ok := d.ready.Load(id); ok {
		return v.(*schema), nil
	}
	if id > math.MaxInt32 {
		// Registry ids are Java ints: this header cannot name a schema.
		return nil, newError(ReasonUnknownSchema, id, nil, "schema ids are 31-bit; this one is not")
	}
	d.mu.Lock()
	f := d.pending[id]
	if f != nil {
		select {
		case <-f.done:
			switch {
			case f.s != nil:
				d.mu.Unlock()
				return f.s, nil
			case f.permanent || d.now().Before(f.expires):
				d.mu.Unlock()
				return nil, f.err
			}
			f = nil // a remembered 404 or outage that expired: ask again
		default:
		}
	}
	if f == nil {
		f = &fetch{done: make(chan struct{})}
		d.pending[id] = f
		d.sweepLocked()
		go d.run(context.WithoutCancel(ctx), id, f)
	}
	d.mu.Unlock()
	select {
	case <-f.done:
		if f.s != nil {
			return f.s, nil
		}
		return nil, f.err
	case <-ctx.Done():
		return nil, newError(ReasonUnavailable, id, ctx.Err(), "gave up waiting for the schema")
	}
}

// sweepLocked drops expired remembered failures once the table grows, so
// that a stream of random ids cannot grow it without bound. Sweeps happen
// each time the table has doubled since the last one: amortised O(1).
func (d *Decoder) sweepLocked() {
	if len(d.pending) < max(d.sweepAt, 1024) {
		return
	}
	defer func() { d.sweepAt = 2 * len(d.pending) }()
	now := d.now()
	for id, f := range d.pending {
		select {
		case <-f.done:
			if !f.permanent && !now.Before(f.expires) {
				delete(d.pending, id)
			}
		default:
		}
	}
}

// run performs one fetch and publishes its outcome.
func (d *Decoder) run(ctx context.Context, id int, f *fetch) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	s, err := d.load(ctx, id)
	cancel()

	d.mu.Lock()
	defer d.mu.Unlock()
	f.s, f.err = s, err
	var e *Error
	switch {
	case err == nil:
		d.ready.Store(id, s)
		delete(d.pending, id)
	case errors.As(err, &e) && e.Reason == ReasonUnknownSchema && errors.Is(err, errNotFound):
		// A 404 is remembered briefly (NotFoundTTL): ids are never reused,
		// but a lagging registry replica may not know a new id yet.
		if d.notFoundTTL > 0 {
			f.expires = d.now().Add(d.notFoundTTL)
		} else {
			delete(d.pending, id)
		}
	case errors.As(err, &e) && e.Reason == ReasonUnknownSchema:
		// The schema text of an id never changes: if it does not compile
		// now, it never will.
		f.permanent = true
	case d.outageHold > 0:
		// An outage: answered from memory for OutageHold, then asked
		// again.
		f.expires = d.now().Add(d.outageHold)
	default:
		delete(d.pending, id)
	}
	close(f.done)
}

// errNotFound marks (as a cause) the unknown-schema errors that come from a
// registry 404, which are remembered for NotFoundTTL only.
var errNotFound = errors.New("not found in the registry")

// byIDResponse is the body of GET /schemas/ids/{id}. It is decoded here
// rather than by sr.Client.SchemaByID so that an unknown schema type is an
// unknown schema, not a failed request.
type byIDResponse struct {
	Schema     *string              `json:"schema"`
	SchemaType string               `json:"schemaType"`
	References []sr.SchemaReference `json:"references"`
}

// load fetches schema id, its references and (with LookupSubject) its
// subject, and compiles it.
func (d *Decoder) load(ctx context.Context, id int) (*schema, error) {
	var raw []byte
	if err := d.client.Do(ctx, http.MethodGet, "/schemas/ids/"+strconv.Itoa(id), nil, &raw); err != nil {
		return nil, classify(err, id, "schema")
	}
	var resp byIDResponse
	if err := json.Unmarshal(raw, &resp); err != nil || resp.Schema == nil {
		return nil, newError(ReasonUnavailable, id, nil, "the registry answered with something that is not a schema: %s", excerpt(string(raw), 120))
	}
	s := &schema{id: id}
	if d.lookupSubject {
		subjects, err := d.client.SubjectsByID(ctx, id)
		var re *sr.ResponseError
		switch {
		case err == nil && len(subjects) > 0:
			s.subject = subjects[0]
		case err == nil, errors.As(err, &re) && re.StatusCode == http.StatusNotFound:
			// no subject listed (or the endpoint is missing): leave it empty
		default:
			return nil, classify(err, id, "subjects of the schema")
		}
	}
	fail := func(format string, args ...any) error {
		e := newError(ReasonUnknownSchema, id, nil, format, args...)
		e.Subject = s.subject
		return e
	}
	switch strings.ToUpper(resp.SchemaType) {
	case "", "AVRO":
		s.format = FormatAvro
		refs, err := d.avroReferences(ctx, id, resp.References)
		if err != nil {
			return nil, withSubject(err, s.subject)
		}
		node, name, err := compileAvro(*resp.Schema, refs)
		if err != nil {
			return nil, fail("Avro schema does not parse: %s", excerpt(err.Error(), 300))
		}
		s.avro, s.name = node, name
	case "PROTOBUF":
		s.format = FormatProtobuf
		imports := map[string]string{}
		if err := d.protoReferences(ctx, id, resp.References, imports, 0); err != nil {
			return nil, withSubject(err, s.subject)
		}
		ps, err := compileProtobufSafe(ctx, id, *resp.Schema, imports)
		if err != nil {
			if ctx.Err() != nil {
				return nil, newError(ReasonUnavailable, id, ctx.Err(), "compiling the schema")
			}
			form := ""
			switch {
			case parseDescriptor(*resp.Schema) != nil:
				form = " (a serialized FileDescriptorProto)"
			case isBase64ish(*resp.Schema):
				form = " (neither .proto text nor a serialized FileDescriptorProto)"
			}
			return nil, fail("Protobuf schema%s does not compile: %s", form, excerpt(err.Error(), 300))
		}
		s.pb = ps
	case "JSON":
		s.format = FormatJSONSchema
	default:
		return nil, fail("schema type %q is not supported", excerpt(resp.SchemaType, 40))
	}
	return s, nil
}

// compileProtobufSafe is compileProtobuf behind a last line of defence:
// protocompile parses untrusted schema text, and a panic in it must not
// take the bridge down.
func compileProtobufSafe(ctx context.Context, id int, text string, imports map[string]string) (ps *pbSchema, err error) {
	defer func() {
		if r := recover(); r != nil {
			ps, err = nil, fmt.Errorf("protobuf compiler panicked: %v", r)
		}
	}()
	return compileProtobuf(ctx, id, text, imports)
}

// reference fetches a referenced schema by subject and version, once.
func (d *Decoder) reference(ctx context.Context, id int, ref sr.SchemaReference) (*sr.SubjectSchema, error) {
	key := refKey{ref.Subject, ref.Version}
	d.mu.Lock()
	ss := d.refs[key]
	d.mu.Unlock()
	if ss != nil {
		return ss, nil
	}
	got, err := d.client.SchemaByVersion(ctx, ref.Subject, ref.Version)
	if err != nil {
		return nil, classify(err, id, fmt.Sprintf("referenced schema %q (subject %q version %d)", ref.Name, ref.Subject, ref.Version))
	}
	if ref.Version > 0 { // "latest" (-1) may change; anything else never does
		d.mu.Lock()
		d.refs[key] = &got
		d.mu.Unlock()
	}
	return &got, nil
}

// avroReferences returns the texts of the schemas refs reference, directly
// or not, each after those it depends on, each once.
func (d *Decoder) avroReferences(ctx context.Context, id int, refs []sr.SchemaReference) ([]string, error) {
	var out []string
	seen := map[refKey]bool{}
	var walk func(refs []sr.SchemaReference, depth int) error
	walk = func(refs []sr.SchemaReference, depth int) error {
		if depth > maxReferenceDepth {
			return newError(ReasonUnknownSchema, id, nil, "references nested deeper than %d", maxReferenceDepth)
		}
		for _, r := range refs {
			key := refKey{r.Subject, r.Version}
			if seen[key] {
				continue
			}
			seen[key] = true
			if len(seen) > maxReferences {
				return newError(ReasonUnknownSchema, id, nil, "more than %d referenced schemas", maxReferences)
			}
			ss, err := d.reference(ctx, id, r)
			if err != nil {
				return err
			}
			if err := walk(ss.References, depth+1); err != nil {
				return err
			}
			out = append(out, ss.Schema.Schema)
		}
		return nil
	}
	return out, walk(refs, 0)
}

// protoReferences fills imports with import path (reference name) -> .proto
// text for refs and, recursively, their references.
func (d *Decoder) protoReferences(ctx context.Context, id int, refs []sr.SchemaReference, imports map[string]string, depth int) error {
	if depth > maxReferenceDepth {
		return newError(ReasonUnknownSchema, id, nil, "references nested deeper than %d", maxReferenceDepth)
	}
	for _, r := range refs {
		if _, done := imports[r.Name]; done {
			continue
		}
		if len(imports) >= maxReferences {
			return newError(ReasonUnknownSchema, id, nil, "more than %d referenced schemas", maxReferences)
		}
		ss, err := d.reference(ctx, id, r)
		if err != nil {
			return err
		}
		imports[r.Name] = ss.Schema.Schema
		if err := d.protoReferences(ctx, id, ss.References, imports, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// classify turns a registry client error into ErrUnknownSchema (a 404 the
// registry itself signed with a 404xx error code) or ErrUnavailable
// (everything else: a 404 without one is a wrong URL, not a missing
// schema; a 401 or 403 also matches ErrAuthentication).
func classify(err error, id int, what string) error {
	var re *sr.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound && re.ErrorCode/100 == 404 {
		return &Error{Reason: ReasonUnknownSchema, SchemaID: id,
			Detail: fmt.Sprintf("%s: registry answered 404 (error code %d: %s)", what, re.ErrorCode, responseMessage(re)),
			Err:    errNotFound}
	}
	return unavailable(err, id, what)
}

// unavailable is the ErrUnavailable for a request (described by what) that
// failed with err. A 401 or 403 says that authentication failed and wraps
// ErrAuthentication; it quotes nothing of the answer, which might echo the
// credentials.
func unavailable(err error, id int, what string) error {
	var re *sr.ResponseError
	switch {
	case errors.As(err, &re) && re.StatusCode == http.StatusUnauthorized:
		return newError(ReasonUnavailable, id, ErrAuthentication,
			"%s: registry answered HTTP 401 Unauthorized (error code %d): authentication failed; check the configured registry credentials",
			what, re.ErrorCode)
	case errors.As(err, &re) && re.StatusCode == http.StatusForbidden:
		return newError(ReasonUnavailable, id, ErrAuthentication,
			"%s: registry answered HTTP 403 Forbidden (error code %d): authentication failed or access is forbidden; check the registry credentials and their permissions",
			what, re.ErrorCode)
	case errors.As(err, &re):
		return newError(ReasonUnavailable, id, nil, "%s: registry answered HTTP %d (error code %d: %s)", what, re.StatusCode, re.ErrorCode, responseMessage(re))
	}
	return newError(ReasonUnavailable, id, err, "%s: request failed", what)
}

// responseMessage is the bounded message of a registry error answer.
func responseMessage(re *sr.ResponseError) string {
	if msg := excerpt(strings.TrimSpace(re.Message), 200); msg != "" {
		return msg
	}
	return excerpt(strings.TrimSpace(string(re.Raw)), 200)
}

// Check proves that the registry is reachable and accepts the configured
// credentials, with one request (GET /subjects, listing the subjects),
// bounded by ctx and Config.Timeout. It returns nil when the registry
// answered with a subject list. Otherwise the error matches ErrUnavailable:
// unreachable, timed out, an answer other than 2xx, or a 2xx answer that is
// not a subject list (something other than a registry at that URL). When
// the registry refused the credentials (HTTP 401 or 403) the error also
// matches ErrAuthentication and its text says so; no error quotes a
// credential.
func (d *Decoder) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	var raw []byte
	if err := d.client.Do(ctx, http.MethodGet, "/subjects", nil, &raw); err != nil {
		return d.requestError(ctx, err, "GET /subjects")
	}
	var subjects []string
	if err := json.Unmarshal(raw, &subjects); err != nil {
		return newError(ReasonUnavailable, 0, nil, "GET /subjects: the answer is not a subject list (is the URL the registry's?): %s", excerpt(string(raw), 120))
	}
	return nil
}

// SubjectExists reports whether the registry holds subject with at least
// one version that is not deleted, with one request (GET
// /subjects/{subject}/versions) bounded by ctx and Config.Timeout. A 404 the
// registry signed with a 404xx error code (40401, subject not found) is
// false and no error. Any other failure is an error matching
// ErrUnavailable, and ErrAuthentication too for a 401 or 403, as for Check.
func (d *Decoder) SubjectExists(ctx context.Context, subject string) (bool, error) {
	if subject == "" {
		return false, newError(ReasonUnavailable, 0, nil, "no subject name")
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	what := fmt.Sprintf("versions of subject %q", excerpt(subject, 200))
	versions, err := d.client.SubjectVersions(ctx, subject)
	var re *sr.ResponseError
	switch {
	case err == nil:
		return len(versions) > 0, nil
	case errors.As(err, &re) && re.StatusCode == http.StatusNotFound && re.ErrorCode/100 == 404:
		return false, nil
	}
	return false, d.requestError(ctx, err, what)
}

// requestError classifies the failure of a request that is not a schema
// fetch, naming a deadline passed as a timeout.
func (d *Decoder) requestError(ctx context.Context, err error, what string) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return newError(ReasonUnavailable, 0, err, "%s: timed out: no answer from the registry in time (Config.Timeout is %s)", what, d.timeout)
	}
	return unavailable(err, 0, what)
}
