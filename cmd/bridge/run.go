package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/consumer"
	"github.com/cxone-bridge/bridge/kafkaconn"
	"github.com/cxone-bridge/bridge/metrics"
	"github.com/cxone-bridge/bridge/pipeline"
)

// newRunCmd returns `bridge run`. The first SIGTERM or SIGINT ends the
// command's context ([signals] sees to it), which drains the bridge; run
// watches sig ([signals.watch]) to log that signal and to exit at once
// (130) on the next.
func newRunCmd(sig *signals) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Consume from Kafka and publish to CXone until stopped",
		Long: `run joins the consumer group of bridge.yaml and publishes every routed record
to CXone, committing offsets only behind records that were accepted or
dead-lettered.

SIGTERM or SIGINT: stop fetching, let in-flight records finish within
consumer.drain_timeout, commit, leave the group. A second signal exits at once.

With kafka.tls or kafka.sasl configured, run first connects to one broker:
credentials the broker refuses, or a certificate that does not verify, end
the process at once (exit 1) with an error naming the cause.

Exit status: 0 after a clean shutdown, 1 when the bridge failed while
running (or could not authenticate to Kafka), 2 on bad configuration, 130
on a second signal.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			log := newLogger(cfg.Log, cmd.ErrOrStderr())
			gc := tuneGC()
			ctx := cmd.Context()
			stopWatching := sig.watch(func(s os.Signal, n int) { onSignal(log, s, n) })
			defer stopWatching()
			for _, w := range cfg.SecurityWarnings() {
				log.Warn(w)
			}
			if err := probeKafka(ctx, cfg.Kafka, log); err != nil {
				return &exitError{code: 1, err: err}
			}
			m := metrics.New(buildVersion())
			b, err := pipeline.New(cfg, log, m.Options())
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			m.Attach(b)
			stopListeners := startListeners(cfg.Metrics, m, b, log)
			defer stopListeners()
			log.Info("bridge starting", "group", cfg.Kafka.GroupID, "group_protocol", cfg.Kafka.GroupProtocol, "brokers", cfg.Kafka.Brokers, "topics", b.Topics(), "cxone", cfg.CXone.EventsURL(),
				"auth", cfg.CXone.Auth.Mode, "token_url", cfg.CXone.Auth.TokenURL, "start_offset", cfg.Kafka.StartOffset,
				"gogc", gc.GOGC, "memory_limit", gc.MemoryLimit)
			wctx, stopWatch := context.WithCancel(ctx)
			defer stopWatch()
			go watchKafka(wctx, b, cfg.Kafka.Brokers, cfg.Kafka.GroupID, cfg.Kafka.GroupProtocol == string(consumer.ProtocolConsumer), log)
			go watchToken(wctx, b.Publisher(), cfg.CXone.Auth.TokenURL, func(err error) string { return basicEncodingHint(cfg, err) }, log)
			if err := b.Run(ctx); err != nil {
				return &exitError{code: 1, err: err}
			}
			log.Info("bridge stopped cleanly")
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "bridge.yaml", "configuration file")
	return cmd
}

// startListeners starts the operations listener (metrics, probes) and,
// with metrics.pprof, pprof's own listener, and returns what stops them. A
// listener that cannot be bound is logged, not fatal: the bridge keeps its
// delivery guarantees without it, and for the operations listener a
// failing liveness probe makes the problem loud.
func startListeners(c config.Metrics, m *metrics.Metrics, p metrics.Probes, log *slog.Logger) (stop func()) {
	var open []*metrics.Server
	if c.Listen != "off" {
		srv, err := metrics.Listen(c.Listen, metrics.Handler(m, p, metrics.ServerConfig{StallTimeout: c.StallTimeout}), metrics.OpsLimits(), log)
		if err != nil {
			log.Error("operations listener not started: no metrics or probes", "addr", c.Listen, "err", err)
		} else {
			open = append(open, srv)
			log.Info("operations listener started", "addr", srv.Addr(), "pprof", c.Pprof)
		}
	}
	if c.Pprof {
		srv, err := metrics.ListenPprof(c.PprofListen, log)
		if err != nil {
			log.Error("pprof listener not started", "addr", c.PprofListen, "err", err)
		} else {
			open = append(open, srv)
			attrs := []any{"addr", srv.Addr(), "max_profile_seconds", metrics.MaxProfileSeconds}
			if host, _, _ := net.SplitHostPort(srv.Addr()); net.ParseIP(host).IsLoopback() {
				log.Info("pprof listener started", attrs...)
			} else {
				// Reachable from other hosts: whoever reaches it can
				// profile the process and read its command line.
				log.Warn("pprof listener started", append(attrs, "warning", "not loopback: reachable from other hosts")...)
			}
		}
	}
	return func() {
		for _, srv := range open {
			srv.Close()
		}
	}
}

// version is set at build time (-ldflags "-X main.version=..."); see the
// Dockerfile.
var version string

// buildVersion returns [version], else the module version of the build.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}

// onSignal is how run answers the n-th SIGTERM/SIGINT: the first starts
// the graceful shutdown (the command's context ends: [signals] sees to
// it), a later one exits the process at once with 130.
func onSignal(log *slog.Logger, s os.Signal, n int) {
	if n == 1 {
		log.Info("signal received: draining; send it again to exit at once", "signal", s.String())
		return
	}
	log.Warn("second signal: exiting without draining", "signal", s.String())
	os.Exit(130)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// kafkaProbeTimeout bounds the connection probe of run.
const kafkaProbeTimeout = 15 * time.Second

// probeKafka fails fast on a secured cluster that refuses the bridge: it
// returns an error only for a fatal problem ([kafkaconn.IsFatal]: refused
// credentials, an unverifiable certificate). Unreachable brokers are only
// logged: the consumer keeps trying, as it does without security. Plain
// connections are not probed.
func probeKafka(ctx context.Context, k config.Kafka, log *slog.Logger) error {
	if !k.TLS.Enabled && k.SASL.Mechanism == "" {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, kafkaProbeTimeout)
	defer cancel()
	start := time.Now()
	err := kafkaconn.Probe(pctx, k.ConnConfig())
	switch {
	case err == nil:
		log.Info("kafka connection verified", "tls", k.TLS.Enabled, "sasl", k.SASL.Mechanism, "took", time.Since(start).Round(time.Millisecond).String())
		return nil
	case kafkaconn.IsFatal(err):
		return err
	}
	log.Warn("kafka connection probe failed; starting anyway, the consumer keeps retrying", "err", err)
	return nil
}
