package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cxone-bridge/bridge/cafile"
	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/mapping"
	"github.com/cxone-bridge/bridge/secret"
	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/transform"
)

// Values of cxone.auth.mode: those of [sink.AuthMode]; of
// cxone.auth.basic_encoding: those of [sink.BasicEncoding].
const (
	authClientCredentials = string(sink.AuthClientCredentials)
	authAccessKey         = string(sink.AuthAccessKey)
	basicRaw              = string(sink.BasicRaw)
	basicRFC6749          = string(sink.BasicRFC6749)
)

// validate records every problem of a defaulted configuration in w.
func (c *Config) validate(w *walker) {
	if len(c.Kafka.Brokers) == 0 {
		w.add("kafka.brokers", "at least one broker (host:port) is required")
	}
	// One element may list several brokers separated by commas, so that
	// one environment variable can carry them all:
	// brokers: ["${KAFKA_BROKERS}"] with KAFKA_BROKERS=a:9092,b:9092.
	var brokers []string
	for i, b := range c.Kafka.Brokers {
		for _, part := range strings.Split(b, ",") {
			part = strings.TrimSpace(part)
			checkHostPort(w, indexPath("kafka.brokers", i), part)
			brokers = append(brokers, part)
		}
	}
	c.Kafka.Brokers = brokers
	c.validateKafka(w)
	c.validateKafkaSecurity(w)
	if !strings.HasPrefix(c.CXone.EventsPath, "/") {
		w.add("cxone.events_path", "must start with /")
	}
	c.validateEndpoints(w)
	c.validateAuth(w)

	if c.Correlation.MaxLength < 16 || c.Correlation.MaxLength > 1024 {
		w.add("correlation.max_length", "must be between 16 and 1024, got %s", w.show("correlation.max_length", c.Correlation.MaxLength))
	}
	for i, h := range c.Correlation.Headers {
		if !isToken(h) {
			p := indexPath("correlation.headers", i)
			w.add(p, "%s is not a valid header name", w.quote(p, h))
		}
	}

	checkTopicTemplate(w, "dlq.topic", c.DLQ.Topic)

	if len(c.Routes) == 0 {
		w.add("routes", "at least one route is required")
	}
	seen := map[string]int{}
	for i := range c.Routes {
		c.validateRoute(w, i, seen)
	}
	c.validateRegistry(w)

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		w.add("log.level", "must be one of debug, info, warn, error; got %s", w.quote("log.level", c.Log.Level))
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		w.add("log.format", "must be json or text; got %s", w.quote("log.format", c.Log.Format))
	}
	if l := c.Metrics.Listen; l != "off" {
		if _, port, err := net.SplitHostPort(l); err != nil || port == "" {
			w.add("metrics.listen", "must be host:port, :port or off; got %s", w.quote("metrics.listen", l))
		}
	}
	if l := c.Metrics.PprofListen; l != "" {
		if !c.Metrics.Pprof {
			w.add("metrics.pprof_listen", "is used only with metrics.pprof: true")
		} else if _, port, err := net.SplitHostPort(l); err != nil || port == "" {
			w.add("metrics.pprof_listen", "must be host:port or :port; got %s", w.quote("metrics.pprof_listen", l))
		} else if l == c.Metrics.Listen && port != "0" { // port 0: each gets its own free port
			w.add("metrics.pprof_listen", "must differ from metrics.listen: pprof has a listener of its own")
		}
	}
	if c.Metrics.StallTimeout < time.Second {
		w.add("metrics.stall_timeout", "must be at least 1s; got %s", w.show("metrics.stall_timeout", c.Metrics.StallTimeout))
	}
}

func (c *Config) validateKafka(w *walker) {
	k, cs := &c.Kafka, &c.Consumer
	if d := c.DLQ.Delivery; d != string(consumer.DLQExactlyOnce) && d != string(consumer.DLQAtLeastOnce) {
		w.add("dlq.delivery", "must be exactly_once or at_least_once; got %s", w.quote("dlq.delivery", d))
	}
	if k.GroupProtocol != "classic" && k.GroupProtocol != "consumer" {
		w.add("kafka.group_protocol", "must be classic or consumer; got %s", w.quote("kafka.group_protocol", k.GroupProtocol))
	}
	if k.StartOffset != "earliest" && k.StartOffset != "latest" {
		w.add("kafka.start_offset", "must be earliest or latest; got %s", w.quote("kafka.start_offset", k.StartOffset))
	}
	positive := func(path string, d time.Duration) {
		if d < 0 {
			w.add(path, "must not be negative")
		}
	}
	if k.FetchMaxBytes < 1<<10 || k.FetchMaxBytes > 1<<30 {
		w.add("kafka.fetch_max_bytes", "must be between 1KiB and 1GiB, got %s", w.show("kafka.fetch_max_bytes", k.FetchMaxBytes))
	}
	if k.FetchMaxPartitionBytes < 1<<10 || k.FetchMaxPartitionBytes > k.FetchMaxBytes {
		w.add("kafka.fetch_max_partition_bytes", "must be between 1KiB and kafka.fetch_max_bytes, got %s", w.show("kafka.fetch_max_partition_bytes", k.FetchMaxPartitionBytes))
	}
	if k.FetchMaxWait < time.Millisecond || k.FetchMaxWait > 30*time.Second {
		w.add("kafka.fetch_max_wait", "must be between 1ms and 30s, got %s", w.show("kafka.fetch_max_wait", k.FetchMaxWait))
	}
	positive("kafka.session_timeout", k.SessionTimeout)
	positive("kafka.rebalance_timeout", k.RebalanceTimeout)
	switch cs.Ordering {
	case "key", "partition", "none":
	default:
		w.add("consumer.ordering", "must be key, partition or none; got %s", w.quote("consumer.ordering", cs.Ordering))
	}
	if cs.MaxInFlight < 1 || cs.MaxInFlight > 100000 {
		w.add("consumer.max_in_flight", "must be between 1 and 100000, got %s", w.show("consumer.max_in_flight", cs.MaxInFlight))
	}
	if cs.MaxBuffered < cs.MaxInFlight || cs.MaxBuffered > 1000000 {
		w.add("consumer.max_buffered", "must be between max_in_flight (%s) and 1000000, got %s", w.show("consumer.max_in_flight", cs.MaxInFlight), w.show("consumer.max_buffered", cs.MaxBuffered))
	}
	if cs.MaxInFlightBytes < 1<<10 {
		w.add("consumer.max_in_flight_bytes", "must be at least 1KiB, got %s", w.show("consumer.max_in_flight_bytes", cs.MaxInFlightBytes))
	}
	if cs.MaxRecordsAhead < 1 || cs.MaxRecordsAhead > 1<<40 {
		w.add("consumer.max_records_ahead", "must be between 1 and 2^40, got %s", w.show("consumer.max_records_ahead", cs.MaxRecordsAhead))
	}
	for path, d := range map[string]time.Duration{
		"consumer.commit_interval": cs.CommitInterval, "consumer.drain_timeout": cs.DrainTimeout,
		"consumer.retry_backoff": cs.RetryBackoff, "consumer.retry_backoff_max": cs.RetryBackoffMax,
		"consumer.revoke_drain_timeout": cs.RevokeDrainTimeout, "consumer.commit_timeout": cs.CommitTimeout,
	} {
		positive(path, d)
	}
	if cs.RevokeDrainTimeout >= k.RebalanceTimeout {
		w.add("consumer.revoke_drain_timeout", "must be below kafka.rebalance_timeout (%s), or the group evicts this member while it drains", w.show("kafka.rebalance_timeout", k.RebalanceTimeout))
	}
	x := &c.CXone
	for path, d := range map[string]time.Duration{
		"cxone.connect_timeout": x.ConnectTimeout, "cxone.request_timeout": x.RequestTimeout,
		"cxone.retry.base_delay": x.Retry.BaseDelay, "cxone.retry.max_delay": x.Retry.MaxDelay,
		"cxone.retry.retry_after_max": x.Retry.RetryAfterMax, "cxone.breaker.open_timeout": x.Breaker.OpenTimeout,
	} {
		positive(path, d)
	}
	if x.RateLimit.EventsPerSecond < 0 || x.RateLimit.Burst < 0 {
		w.add("cxone.rate_limit", "events_per_second and burst must not be negative")
	}
	if x.Breaker.FailuresToOpen < 0 || x.Breaker.HalfOpenMaxRequests < 0 {
		w.add("cxone.breaker", "failures_to_open and half_open_max_requests must not be negative")
	}
	for i, h := range x.AllowedHosts {
		if !allowedHost.MatchString(h) {
			w.add(fmt.Sprintf("cxone.allowed_hosts[%d]", i), "must be a host name (api.example.com) or a domain with a leading dot (.example.com), without scheme, port or path")
		}
	}
	if x.Poison.MinAttempts < -1 {
		w.add("cxone.poison.min_attempts", "must be -1 (never give up on an event) or at least 1, got %s", w.show("cxone.poison.min_attempts", x.Poison.MinAttempts))
	}
	positive("cxone.poison.min_duration", x.Poison.MinDuration)
}

// allowedHost is an entry of cxone.allowed_hosts: a lower-case host name,
// or a domain with a leading dot.
var allowedHost = regexp.MustCompile(`^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)

// tenantID bounds a CXone tenant id (a GUID in practice).
var tenantID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// validateEndpoints checks base_url, token_url, issuer, tenant_id,
// discovery_cache and ca_file, and how they combine.
func (c *Config) validateEndpoints(w *walker) {
	x, a := &c.CXone, &c.CXone.Auth
	insecure := x.AllowInsecureHTTP
	discoverAPI := x.BaseURL == BaseURLDiscover
	if !discoverAPI {
		checkURL(w, "cxone.base_url", x.BaseURL, insecure)
	}
	if a.TokenURL != "" {
		checkURL(w, "cxone.auth.token_url", a.TokenURL, insecure)
	}
	if a.Issuer != "" {
		checkURL(w, "cxone.auth.issuer", a.Issuer, insecure)
	}
	if a.TokenURL == "" && a.Issuer == "" {
		w.add("cxone.auth.token_url", "is required when cxone.base_url is discover, unless cxone.auth.issuer is set to discover it")
	}
	switch {
	case discoverAPI && x.TenantID == "":
		w.add("cxone.tenant_id", "is required with cxone.base_url: discover")
	case discoverAPI && a.Issuer == "":
		w.add("cxone.auth.issuer", "is required with cxone.base_url: discover (e.g. %s)", sink.DefaultIssuer)
	case !discoverAPI && x.TenantID != "":
		w.add("cxone.tenant_id", "is used only with cxone.base_url: discover")
	}
	if x.TenantID != "" && !tenantID.MatchString(x.TenantID) {
		w.add("cxone.tenant_id", "must be 1 to 128 of A-Z a-z 0-9 . _ -")
	}
	if x.DiscoveryCache != "" {
		if !discoverAPI && a.TokenURL != "" {
			w.add("cxone.discovery_cache", "nothing is discovered: set cxone.base_url: discover or leave cxone.auth.token_url unset with an issuer")
		}
		x.DiscoveryCache = c.resolve(x.DiscoveryCache)
		// Commands that contact no one (WithoutCredentials: dry-run) do
		// not write the cache either.
		if st, err := os.Stat(filepath.Dir(x.DiscoveryCache)); (err != nil || !st.IsDir()) && !w.opts.skipCredentials {
			w.add("cxone.discovery_cache", "its folder does not exist: %s", w.show("cxone.discovery_cache", filepath.Dir(x.DiscoveryCache)))
		}
	}
	if x.CAFile != "" {
		c.caFile(w, "cxone.ca_file", &x.CAFile)
	}
}

// caFile checks the CA bundle that the key at path names (cxone.ca_file,
// kafka.tls.ca_file) with [cafile.Parse], the check the clients load it
// with, and resolves *file against the configuration's folder. Problems
// name the file as the configuration writes it (or the reference it came
// from), never a part of what it holds.
func (c *Config) caFile(w *walker, path string, file *string) {
	shown := w.show(path, *file)
	raw := *file
	*file = c.resolve(*file)
	data, err := os.ReadFile(*file)
	if err != nil {
		w.add(path, "%s", fileProblem(err, w.showResolved(path, shown, raw, *file)))
		return
	}
	if _, err := cafile.Parse(data); err != nil {
		w.add(path, "%v in %s", err, shown)
	}
}

func (c *Config) validateAuth(w *walker) {
	a := &c.CXone.Auth
	switch a.Mode {
	case authClientCredentials:
		for path, set := range map[string]bool{
			"cxone.auth.access_key_id": a.AccessKeyID != "", "cxone.auth.access_key_secret": a.AccessKeySecret != "",
			"cxone.auth.access_key_secret_file": a.AccessKeySecretFile != "",
		} {
			if set {
				w.add(path, "is used only with cxone.auth.mode: %s", authAccessKey)
			}
		}
	case authAccessKey:
	default:
		w.add("cxone.auth.mode", "must be %s or %s; got %s", authClientCredentials, authAccessKey, w.quote("cxone.auth.mode", a.Mode))
	}
	switch a.BasicEncoding {
	case basicRaw:
		if strings.Contains(a.ClientID, ":") {
			w.add("cxone.auth.client_id", "holds \":\", which cxone.auth.basic_encoding: %s cannot carry (the server would cut the id there); set %s", basicRaw, basicRFC6749)
		}
	case basicRFC6749:
	default:
		w.add("cxone.auth.basic_encoding", "must be %s (client id and secret as they are, as the reference producer sends them) or %s (form-URL-encoded first, RFC 6749 §2.3.1); got %s",
			basicRaw, basicRFC6749, w.quote("cxone.auth.basic_encoding", a.BasicEncoding))
	}
	c.secretFile(w, "cxone.auth.client_secret", &a.ClientSecret, &a.ClientSecretFile)
	if a.Mode == authAccessKey {
		c.secretFile(w, "cxone.auth.access_key_secret", &a.AccessKeySecret, &a.AccessKeySecretFile)
	}
	if w.opts.skipCredentials {
		return
	}
	if a.ClientID == "" {
		w.add("cxone.auth.client_id", "is required")
	}
	if a.ClientSecret == "" && a.ClientSecretFile == "" { // a file not read is reported at its key
		w.add("cxone.auth.client_secret", "is required (or set cxone.auth.client_secret_file)")
	}
	if a.Mode == authAccessKey {
		if a.AccessKeyID == "" {
			w.add("cxone.auth.access_key_id", "is required with cxone.auth.mode: %s", authAccessKey)
		}
		if a.AccessKeySecret == "" && a.AccessKeySecretFile == "" {
			w.add("cxone.auth.access_key_secret", "is required with cxone.auth.mode: %s (or set cxone.auth.access_key_secret_file)", authAccessKey)
		}
	}
}

// secretFile reads the secret file of key path+"_file" into *inline (for
// validation; the sink reads the file again at each token fetch) and
// resolves *file against the configuration's folder.
func (c *Config) secretFile(w *walker, path string, inline *secret.Secret, file *string) {
	if *file == "" {
		return
	}
	if *inline != "" {
		w.add(path+"_file", "set either %s or %s_file, not both", lastKey(path), lastKey(path))
	}
	shown := w.show(path+"_file", *file)
	p := c.resolve(*file)
	data, err := os.ReadFile(p)
	v := strings.TrimRight(string(data), "\r\n")
	switch {
	case err != nil && w.opts.skipCredentials:
	case err != nil:
		w.add(path+"_file", "%s", fileProblem(err, w.showResolved(path+"_file", shown, *file, p)))
	case v == "" && !w.opts.skipCredentials:
		w.add(path+"_file", "is empty: %s", shown)
	default:
		*inline = secret.Secret(v)
		*file = p
		// The value at path came from the file: a problem about it would
		// name the file, never show what it holds.
		w.hide(path, 0, "the content of "+shown)
	}
}

func lastKey(path string) string { return path[strings.LastIndex(path, ".")+1:] }

// Kafka topic names: at most 249 of [a-zA-Z0-9._-].
var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// eventTypeName bounds what a constant event type may be.
var eventTypeName = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

func (c *Config) validateRoute(w *walker, i int, seen map[string]int) {
	r := &c.Routes[i]
	p := indexPath("routes", i)
	switch {
	case r.Topic == "" && r.TopicPattern == "":
		w.add(p, "set topic or topic_pattern")
	case r.Topic != "" && r.TopicPattern != "":
		w.add(p, "set topic or topic_pattern, not both")
	case r.Topic != "":
		if !topicName.MatchString(r.Topic) {
			w.add(p+".topic", "%s is not a valid Kafka topic name", w.quote(p+".topic", r.Topic))
		}
		if j, dup := seen[r.Topic]; dup {
			w.add(p+".topic", "topic %s is already routed by routes[%d], which has no filter: no record of the topic reaches this route", w.quote(p+".topic", r.Topic), j)
		}
		if r.Filter == "" {
			seen[r.Topic] = i // a route with a filter lets later routes of its topic take the rest
		}
	default:
		if _, err := regexp.Compile(r.TopicPattern); err != nil {
			w.addErr(p+".topic_pattern", fmt.Errorf("invalid regular expression: %v", err), "invalid regular expression")
		}
	}

	n := 0
	for _, s := range []string{r.EventType, r.EventTypeHeader, r.EventTypeField, r.EventTypeExpr} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		w.add(p, "set exactly one of event_type, event_type_header, event_type_field, event_type_expr")
	}
	c.validateExprs(w, p, r)
	if r.EventType != "" && !eventTypeName.MatchString(r.EventType) {
		w.add(p+".event_type", "must be 1 to 128 of A-Z a-z 0-9 _ . : -; got %s", w.quote(p+".event_type", r.EventType))
	}
	if r.EventTypeHeader != "" && !isToken(r.EventTypeHeader) {
		w.add(p+".event_type_header", "%s is not a valid header name", w.quote(p+".event_type_header", r.EventTypeHeader))
	}
	checkPointer(w, p+".event_type_field", r.EventTypeField)
	validateFormat(w, p+".format", r.Format)
	validateFormat(w, p+".key_format", r.KeyFormat)

	if r.Schema != "" {
		shown := w.show(p+".schema", r.Schema)
		r.SchemaPath = c.resolve(r.Schema)
		if st, err := os.Stat(r.SchemaPath); err != nil {
			w.add(p+".schema", "%s", fileProblem(err, w.showResolved(p+".schema", shown, r.Schema, r.SchemaPath)))
		} else if st.IsDir() {
			w.add(p+".schema", "is a folder, want a file: %s", shown)
		}
	}
	switch {
	case r.BusinessKey == "" && r.BusinessKeyExpr == "":
		w.add(p+".business_key", "is required: a JSON pointer such as /orderId (or business_key_expr)")
	case r.BusinessKey != "" && r.BusinessKeyExpr != "":
		w.add(p+".business_key_expr", "set either business_key or business_key_expr, not both")
	}
	checkPointer(w, p+".business_key", r.BusinessKey)
	checkPointer(w, p+".timestamp_field", r.TimestampField)
	if _, err := transform.ParseKeyTemplate(r.IdempotencyKey); err != nil {
		w.addErr(p+".idempotency_key", err, "must be a key template such as {eventType}:{businessKey}, containing {businessKey}, {key} or a JSON pointer")
	}
	if r.MaxValueBytes < 2 || r.MaxValueBytes > 64<<20 {
		w.add(p+".max_value_bytes", "must be between 2B and 64MiB, got %s", w.show(p+".max_value_bytes", r.MaxValueBytes))
	}
	if r.MaxDepth < 1 || r.MaxDepth > 10000 {
		w.add(p+".max_depth", "must be between 1 and 10000, got %s", w.show(p+".max_depth", r.MaxDepth))
	}
	if r.Tombstones != TombstonesSkip && r.Tombstones != TombstonesDLQ {
		w.add(p+".tombstones", "must be skip or dlq; got %s", w.quote(p+".tombstones", r.Tombstones))
	}
}

func (c *Config) resolve(p string) string {
	if filepath.IsAbs(p) || c.Dir == "" {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// showResolved adds to shown, a file's path as the configuration writes
// it, the path it resolved to when that differs (a path relative to the
// configuration's folder), unless the path came from the environment or a
// file and is not shown.
func (w *walker) showResolved(path, shown, raw, resolved string) string {
	if _, hidden := w.hidden[path]; hidden || raw == resolved {
		return shown
	}
	return shown + " (resolved to " + resolved + ")"
}

// fileProblem says why a file could not be read, naming it as shown (its
// path as the configuration writes it; ${NAME} when that came from the
// environment). The error's own text is not used: it holds the path.
func fileProblem(err error, shown string) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "file not found: " + shown
	case errors.Is(err, fs.ErrPermission):
		return "permission denied: " + shown
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error() + ": " + shown
	}
	return "cannot be read: " + shown
}

// checkHostPort reports a broker address that is not host:port.
func checkHostPort(w *walker, path, s string) {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		w.add(path, "want host:port, got %s", w.quote(path, s))
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		if _, hidden := w.hidden[path]; hidden {
			w.add(path, "port must be 1-65535, in %s", w.quote(path, s))
		} else {
			w.add(path, "port must be 1-65535, got %s", strconv.Quote(port))
		}
	}
}

// checkURL reports a URL that is not absolute http(s), or plain http
// without allow_insecure_http. URLs are never echoed whole: one could carry
// credentials in its user-info part.
func checkURL(w *walker, path, raw string, allowHTTP bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		w.add(path, "must be an absolute https URL such as %s", sink.DefaultBaseURL)
		return
	}
	if u.User != nil {
		w.add(path, "must not contain credentials; use cxone.auth")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		w.add(path, "must not have a query or fragment")
	}
	if u.Scheme == "http" && !allowHTTP {
		w.add(path, "must be https (set cxone.allow_insecure_http for local testing)")
	}
}

// checkPointer reports a set value that is not an RFC 6901 JSON pointer.
func checkPointer(w *walker, path, ptr string) {
	if ptr == "" {
		return
	}
	if _, err := transform.ParsePointer(ptr); err != nil {
		w.addErr(path, err, "must be a JSON pointer starting with /, such as /orderId (~ escaped as ~0, / as ~1)")
	}
}

func indexPath(p string, i int) string { return p + "[" + strconv.Itoa(i) + "]" }

// isToken reports whether s is a valid HTTP header field name (RFC 9110 token).
func isToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// checkTopicTemplate validates a DLQ topic template.
func checkTopicTemplate(w *walker, path, t string) {
	probe := expandTopic(t, "t")
	if strings.ContainsAny(probe, "{}") {
		w.add(path, "only the placeholder {topic} is allowed; got %s", w.quote(path, t))
		return
	}
	if !topicName.MatchString(probe) {
		w.add(path, "%s does not make a valid Kafka topic name", w.quote(path, t))
	}
}

func expandTopic(t, topic string) string { return strings.ReplaceAll(t, "{topic}", topic) }

// validateExprs compiles the route's CEL expressions, as the bridge will:
// a mistake is reported at its key, with the key's line in the file and
// the line and column within the expression.
func (c *Config) validateExprs(w *walker, p string, r *Route) {
	for _, e := range []struct {
		key, src string
		kind     mapping.Kind
	}{
		{"filter", r.Filter, mapping.KindBool},
		{"attributes", r.Attributes, mapping.KindMap},
		{"event_type_expr", r.EventTypeExpr, mapping.KindString},
		{"business_key_expr", r.BusinessKeyExpr, mapping.KindString},
		{"timestamp_expr", r.TimestampExpr, mapping.KindTimestamp},
	} {
		if e.src == "" {
			continue
		}
		if _, err := mapping.Compile(e.src, e.kind, mapping.WithCostLimit(r.CostLimit)); err != nil {
			path := p + "." + e.key
			at := ""
			if line := w.lineOf(path); line > 0 {
				at = fmt.Sprintf(" (bridge.yaml line %d)", line)
			}
			// CEL's messages quote the expression: an expression that came
			// from the environment or a file is not shown, only where.
			var ce *mapping.CompileError
			if shown, hidden := w.hidden[path]; hidden && errors.As(err, &ce) {
				w.add(path, "does not compile%s: the expression (%s) has an error at line %d, column %d", at, shown, ce.Line, ce.Column)
				continue
			}
			w.add(path, "does not compile%s: expression %v", at, err)
		}
	}
	if r.TimestampExpr != "" && r.TimestampField != "" {
		w.add(p+".timestamp_expr", "set either timestamp_field or timestamp_expr, not both")
	}
	if r.Validate != ValidateValue && r.Validate != ValidateAttributes {
		w.add(p+".validate", "must be value or attributes; got %s", w.quote(p+".validate", r.Validate))
	}
}
