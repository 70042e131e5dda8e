package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/dlqtool"
	"github.com/cxone-bridge/bridge/kafkaconn"
	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/registry"
	"github.com/cxone-bridge/bridge/sink"
	"github.com/cxone-bridge/bridge/termsafe"
)

func newCheckCmd() *cobra.Command {
	var (
		cfgPath string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and check connectivity to Kafka and CXone",
		Long: `check validates bridge.yaml and its schemas, then checks what run needs:
the brokers are reachable, every routed topic exists, every dead-letter topic
exists or can be created (a validate-only CreateTopics request), the CXone
endpoints configured for discovery are discovered (a "discovery" line naming
them), and a CXone token is obtainable in the configured auth mode (one token
request; secrets are never printed).

It prints one line per item: PASS, FAIL or SKIP (not checked because an
earlier item failed), then a summary.

Exit status: 0 when every item passed, 1 otherwise.`,
		Example: `  bridge check --config bridge.yaml
  bridge check -c bridge.yaml --timeout 5s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !runCheck(cmd.Context(), cmd.OutOrStdout(), cfgPath, timeout) {
				return &exitError{code: 1, err: errors.New("check failed")}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "bridge.yaml", "configuration file")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "time allowed for the Kafka checks and for the token request, each")
	return cmd
}

// checker prints PASS/FAIL/SKIP lines and counts them.
type checker struct {
	w                io.Writer
	pass, fail, skip int
}

func (c *checker) report(ok bool, item, format string, args ...any) {
	status := "PASS"
	if ok {
		c.pass++
	} else {
		status = "FAIL"
		c.fail++
	}
	fmt.Fprintf(c.w, "%s %s: %s\n", status, termsafe.String(item), oneLine(fmt.Sprintf(format, args...)))
}

func (c *checker) skipped(item, why string) {
	c.skip++
	fmt.Fprintf(c.w, "SKIP %s: %s\n", termsafe.String(item), oneLine(why))
}

// oneLine keeps a message on one line and bounded (300 bytes of the
// message, cut on a character boundary), with every control character
// escaped: it can carry outside text (a broker's or CXone's error).
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		n := 300
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return termsafe.String(s)
}

// failed reports item failed with err; a [*config.Error]'s problems are
// listed one a line under the FAIL line that counts them.
func (c *checker) failed(item string, err error) {
	var ce *config.Error
	if !errors.As(err, &ce) {
		c.report(false, item, "%v", err)
		return
	}
	c.report(false, item, "%s: %s", ce.File, plural(len(ce.Problems), "problem"))
	for _, p := range ce.Problems {
		fmt.Fprintf(c.w, "  %s\n", oneLine(p.String()))
	}
}

// runCheck runs every check and reports whether all passed.
func runCheck(ctx context.Context, w io.Writer, path string, timeout time.Duration) bool {
	c := &checker{w: w}
	defer func() {
		fmt.Fprintf(w, "check: %d passed, %d failed, %d skipped\n", c.pass, c.fail, c.skip)
	}()
	cfg, err := config.Load(path)
	if err != nil {
		c.failed("config", err)
		for _, item := range []string{"schemas", "brokers", "topics", "dlq topics", "token"} {
			c.skipped(item, "configuration invalid")
		}
		return false
	}
	c.report(true, "config", "%s", path)
	for _, w := range cfg.SecurityWarnings() {
		fmt.Fprintf(c.w, "WARN %s\n", termsafe.String(w)) // not counted: the setting works
	}
	_, dec, err := pipeline.NewTransformer(cfg)
	if err != nil {
		c.failed("schemas", err)
	} else {
		c.report(true, "schemas", "%d route(s) compiled", len(cfg.Routes))
	}
	checkRegistry(ctx, c, cfg, dec, timeout)
	checkKafka(ctx, c, cfg, timeout)
	checkToken(ctx, c, cfg, timeout)
	return c.fail == 0 && c.skip == 0
}

// checkRegistry checks the schema registry of routes with a registry
// format: reachable with the credentials (one request), and the subject
// <topic>-value of each exact topic (and <topic>-key with a key_format)
// registered. Without such routes there is nothing to check.
func checkRegistry(ctx context.Context, c *checker, cfg *config.Config, dec *registry.Decoder, timeout time.Duration) {
	if !cfg.UsesRegistry() {
		return
	}
	if dec == nil {
		c.skipped("schema registry", "routes did not compile")
		return
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	urls := strings.Join(cfg.SchemaRegistry.URLs, ",")
	if err := dec.Check(rctx); err != nil {
		c.report(false, "schema registry", "%s: %v", urls, err)
		return
	}
	c.report(true, "schema registry", "%s reachable, credentials accepted", urls)
	for _, r := range cfg.Routes {
		if r.TopicPattern != "" {
			continue // subjects of topics not known yet
		}
		for _, s := range []struct{ format, suffix string }{{r.Format, "-value"}, {r.KeyFormat, "-key"}} {
			if s.format == config.FormatJSON || s.format == config.FormatAuto {
				continue // auto: plain JSON records need no subject
			}
			subject := r.Topic + s.suffix
			ok, err := dec.SubjectExists(rctx, subject)
			switch {
			case err != nil:
				c.report(false, "subject "+subject, "%v", err)
			case !ok:
				c.report(false, "subject "+subject, "not registered (the topic's producers register it with their first record; records of unregistered schemas are dead-lettered as unknown_schema)")
			default:
				c.report(true, "subject "+subject, "registered")
			}
		}
	}
}

func checkKafka(ctx context.Context, c *checker, cfg *config.Config, timeout time.Duration) {
	// The connection options only (brokers, TLS, SASL): check must not
	// join the group.
	opts, err := kafkaconn.Options(cfg.Kafka.ConnConfig())
	if err != nil {
		c.report(false, "brokers", "%v", err)
		c.skipped("topics", "no Kafka client")
		return
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		c.report(false, "brokers", "%v", err)
		c.skipped("topics", "no Kafka client")
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	kctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	md, err := adm.BrokerMetadata(kctx)
	if err != nil {
		if err = kafkaconn.Explain(cfg.Kafka.ConnConfig(), err); kafkaconn.IsFatal(err) {
			c.report(false, "brokers", "%s: %v", strings.Join(cfg.Kafka.Brokers, ","), err)
		} else {
			c.report(false, "brokers", "%s unreachable: %v", strings.Join(cfg.Kafka.Brokers, ","), err)
		}
		c.skipped("topics", "brokers unreachable")
		return
	}
	c.report(true, "brokers", "%d broker(s) reachable via %s%s", len(md.Brokers), strings.Join(cfg.Kafka.Brokers, ","), securityNote(cfg.Kafka))
	if cfg.Kafka.GroupProtocol == string(consumer.ProtocolConsumer) {
		switch ok, err := consumer.NextGenSupported(kctx, cl); {
		case err != nil:
			c.report(false, "group protocol", "cannot ask the brokers which group protocols they serve: %v", err)
		case ok:
			c.report(true, "group protocol", "the brokers serve kafka.group_protocol: consumer (KIP-848)")
		default:
			c.report(false, "group protocol", "the brokers do not serve kafka.group_protocol: consumer (KIP-848 needs Kafka 4.0+ with the consumer protocol enabled); the bridge would fall back to the classic protocol with the eager sticky balancer: set classic")
		}
	}

	all, err := adm.ListTopics(kctx)
	if err != nil {
		c.report(false, "topics", "cannot list topics: %v", err)
		return
	}
	// Pattern routes must not count dead-letter topics as sources; the
	// definition is the one replay uses (dlqtool.Routes.IsDLQ).
	routes, err := dlqtool.NewRoutes(cfg)
	if err != nil {
		c.report(false, "topics", "%v", err)
		return
	}
	var sources []string
	for _, r := range cfg.Routes {
		if r.TopicPattern == "" {
			item := "topic " + r.Topic
			if d, ok := all[r.Topic]; ok && d.Err == nil {
				c.report(true, item, "exists, %d partition(s)", len(d.Partitions))
				sources = append(sources, r.Topic)
			} else {
				c.report(false, item, "missing")
			}
			continue
		}
		re, err := regexp.Compile(r.TopicPattern)
		item := "topic pattern " + r.TopicPattern
		if err != nil {
			c.report(false, item, "%v", err)
			continue
		}
		var matched []string
		for name := range all {
			if re.MatchString(name) && !routes.IsDLQ(name) {
				matched = append(matched, name)
			}
		}
		sort.Strings(matched)
		if len(matched) == 0 {
			c.report(false, item, "matches no topic")
			continue
		}
		c.report(true, item, "matches %s", strings.Join(matched, ", "))
		sources = append(sources, matched...)
	}

	seen := map[string]bool{}
	for _, src := range sources {
		dt := cfg.DLQTopic(src)
		if seen[dt] {
			continue
		}
		seen[dt] = true
		item := "dlq topic " + dt
		if d, ok := all[dt]; ok && d.Err == nil {
			c.report(true, item, "exists, %d partition(s)", len(d.Partitions))
			continue
		}
		parts := int32(-1)
		if d, ok := all[src]; ok {
			parts = int32(len(d.Partitions))
		}
		resp, err := adm.ValidateCreateTopics(kctx, parts, -1, nil, dt)
		if err == nil {
			var r kadm.CreateTopicResponse
			if r, err = resp.On(dt, nil); err == nil {
				err = r.Err
			}
		}
		if err != nil {
			c.report(false, item, "missing, and cannot be created: %v", err)
		} else {
			c.report(true, item, "missing, can be created (validate-only request accepted)")
		}
	}
	if cfg.DLQ.Delivery == string(consumer.DLQExactlyOnce) {
		if err := consumer.CheckTransactions(kctx, cl, cfg.Kafka.GroupID); err != nil {
			c.report(false, "dlq transactions", "%v", err)
		} else {
			c.report(true, "dlq transactions", "transactional ids %s* allowed (dlq.delivery: exactly_once)", consumer.TransactionalIDPrefix(cfg.Kafka.GroupID))
		}
	}
}

// checkToken resolves the CXone endpoints (printing a "discovery" line when
// any is discovered from the issuer) and makes one token request, in
// whichever auth mode is configured. No secret is ever printed.
func checkToken(ctx context.Context, c *checker, cfg *config.Config, timeout time.Duration) {
	sc := cfg.SinkConfig()
	sc.Logger = discardLogger()
	pub, err := sink.New(sc)
	if err != nil {
		c.report(false, "token", "%v", err)
		return
	}
	defer pub.Close()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ep, err := pub.Endpoints(tctx)
	if ep.TokenDiscovered || ep.APIDiscovered {
		if err != nil {
			c.report(false, "discovery", "%v", err)
			c.skipped("token", "endpoints not discovered")
			return
		}
		var found []string
		if ep.TokenDiscovered {
			found = append(found, "token endpoint "+ep.TokenURL+" from "+sc.Issuer)
		}
		if ep.APIDiscovered {
			found = append(found, "events URL "+ep.EventsURL+" for tenant "+sc.TenantID)
		}
		c.report(true, "discovery", "%s", strings.Join(found, "; "))
	}
	url := ep.TokenURL
	who, keys := "client "+sc.ClientID, "client_id and client_secret"
	if sc.AuthMode == sink.AuthAccessKey {
		who += " with access key " + sc.AccessKeyID
		keys = "client_id, client_secret, access_key_id and access_key_secret"
	}
	err = pub.FetchToken(tctx)
	var se *sink.Error
	switch {
	case err == nil:
		c.report(true, "token", "obtained from %s for %s", url, who)
	case errors.As(err, &se) && (se.Status == 401 || se.Status == 400 || se.Status == 403):
		hint := ""
		if h := basicEncodingHint(cfg, err); h != "" {
			hint = "; " + h
		}
		c.report(false, "token", "%s refused %s with HTTP %d: check cxone.auth %s%s", url, who, se.Status, keys, hint)
	case errors.As(err, &se) && se.Status != 0:
		c.report(false, "token", "%s answered HTTP %d", url, se.Status)
	default:
		c.report(false, "token", "%s: %v", url, err)
	}
}

// basicEncodingHint is what to try when the token endpoint refused the
// client (HTTP 401, or invalid_client) and the client id and secret are
// written differently in the two forms of the Basic header: the form that
// was used and the other one. It is empty for other errors, and when the
// two forms are the same (the form cannot be the cause). The secret of a
// file was read at load.
func basicEncodingHint(cfg *config.Config, err error) string {
	var (
		se *sink.Error
		te *sink.TokenError
	)
	if !errors.As(err, &se) || !(se.Status == 401 || errors.As(err, &te) && te.Code == "invalid_client") {
		return ""
	}
	sc := cfg.SinkConfig()
	secret := string(cfg.CXone.Auth.ClientSecret)
	if secret != "" && !sink.BasicFormsDiffer(sc.ClientID, secret) {
		return ""
	}
	used, other, expects := sink.BasicRaw, sink.BasicRFC6749, "RFC 6749 encoding"
	if sc.BasicEncoding == sink.BasicRFC6749 {
		used, other, expects = sink.BasicRFC6749, sink.BasicRaw, "the raw form (as the reference producer sends it)"
	}
	return fmt.Sprintf("cxone.auth.basic_encoding: %s was used; if the tenant expects %s set %s", used, expects, other)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// securityNote says how the brokers were reached, e.g. " (TLS, SASL
// SCRAM-SHA-512 as bridge)"; empty for a plaintext connection.
func securityNote(k config.Kafka) string {
	var parts []string
	if k.TLS.Enabled {
		parts = append(parts, "TLS")
	}
	if k.SASL.Mechanism != "" {
		s := "SASL " + strings.ToUpper(k.SASL.Mechanism)
		if k.SASL.Username != "" {
			s += " as " + k.SASL.Username
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
