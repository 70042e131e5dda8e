package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/dlq"
	"github.com/cxone-bridge/bridge/dlqtool"
	"github.com/cxone-bridge/bridge/kafkaconn"
	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/registry"
	"github.com/cxone-bridge/bridge/termsafe"
)

// dlqNotes is what inspect and replay have in common in their help.
const dlqNotes = `
Like run and check, it warns on standard error about
kafka.tls.insecure_skip_verify and about SASL PLAIN or OAUTHBEARER without
TLS. Text read from records is printed with control characters escaped
(\xNN, \uNNNN).
`

const inspectExitStatus = dlqNotes + `
Exit status: 0 when every record read was fine; 1 when records were
malformed (missing or garbled envelope), or when the command failed or was
interrupted (the message says which); 2 on bad flags or configuration.`

const replayExitStatus = dlqNotes + `
Exit status: 0 when every record read was replayed or skipped by a filter;
1 when records were refused or malformed (missing or garbled envelope), or
when the command failed or was interrupted (the message says which); 2 on
bad flags or configuration.`

func newDLQCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "Inspect and replay dead-letter topics",
		Long: `dlq works on the dead-letter topics the bridge writes (envelope: docs/dlq.md).
The operator runbook is docs/runbook.md.`,
	}
	cmd.AddCommand(newDLQInspectCmd(), newDLQReplayCmd())
	return cmd
}

// dlqConfig loads the configuration (no CXone credentials needed), prints
// its Kafka security warnings to stderr (once, as check does: the DLQ
// tools open Kafka clients with the same settings as run) and picks the
// DLQ topics: the flag's, or those of the routes.
func dlqConfig(stderr io.Writer, path string, topics []string) (*config.Config, []string, error) {
	cfg, err := config.Load(path, config.WithoutCredentials())
	if err != nil {
		return nil, nil, &exitError{code: 2, err: err}
	}
	for _, w := range cfg.SecurityWarnings() {
		fmt.Fprintf(stderr, "WARN %s\n", termsafe.String(w))
	}
	if len(topics) == 0 {
		topics = dlqtool.DLQTopics(cfg)
	}
	if len(topics) == 0 {
		return nil, nil, &exitError{code: 2, err: errors.New("no DLQ topic: the configuration has only pattern routes; name one with --topic")}
	}
	return cfg, topics, nil
}

func checkOutput(output string) error {
	if output != "text" && output != "json" {
		return &exitError{code: 2, err: fmt.Errorf("--output %q: want text or json", output)}
	}
	return nil
}

func newDLQInspectCmd() *cobra.Command {
	var (
		cfgPath string
		topics  []string
		show    int
		output  string
	)
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Summarise a DLQ topic: counts by class, reason, source topic; first and last failure",
		Long: `inspect reads a dead-letter topic from its start to its current end
(read_committed) and prints counts by error class, by reason (with an
example message), by source topic and by replay count, and the first and
last failure time. --show N also prints the first N records: envelope
decoded, key, value excerpt, original headers. It joins no consumer group
and commits nothing. Records whose envelope is missing or garbled are
counted and listed as malformed.

The DLQ topics are those of the configuration's routes (dlq.topic), or
--topic.
` + inspectExitStatus,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if show < 0 {
				return &exitError{code: 2, err: errors.New("--show must not be negative")}
			}
			cfg, topics, err := dlqConfig(cmd.ErrOrStderr(), cfgPath, topics)
			if err != nil {
				return err
			}
			kopts, err := dlqtool.KafkaOpts(cfg)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			opts := dlqtool.InspectOptions{KafkaOpts: kopts, Show: show}
			if show > 0 && cfg.UsesRegistry() {
				// Values in a schema registry format are shown decoded too.
				tr, dec, err := pipeline.NewTransformer(cfg)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				opts.DecodeValue = func(ctx context.Context, topic string, v []byte) ([]byte, error) {
					f := tr.ValueFormat(topic)
					if f == registry.FormatJSON {
						return nil, nil
					}
					j, _, err := dec.Decode(ctx, f, v)
					return j, err
				}
			}
			var reports []*dlqtool.InspectReport
			malformed := int64(0)
			for _, t := range topics {
				opts.Topic = t
				rep, err := dlqtool.Inspect(cmd.Context(), opts)
				if err != nil {
					return &exitError{code: 1, err: fmt.Errorf("inspect %s: %w", t, kafkaconn.Explain(cfg.Kafka.ConnConfig(), err))}
				}
				reports = append(reports, rep)
				malformed += rep.Malformed
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				err = dlqtool.WriteJSON(out, map[string]any{"topics": reports})
			} else {
				for i, rep := range reports {
					if i > 0 {
						fmt.Fprintln(out)
					}
					if err = rep.WriteText(out); err != nil {
						break
					}
				}
			}
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			if malformed > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d malformed records (envelope missing or garbled)", malformed)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "bridge.yaml", "configuration file")
	f.StringSliceVar(&topics, "topic", nil, "DLQ topic to inspect (repeatable; default: the DLQ topics of the routes)")
	f.IntVar(&show, "show", 0, "also print the first N records in full")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func newDLQReplayCmd() *cobra.Command {
	var (
		cfgPath        string
		topic          string
		o              dlqtool.ReplayOptions
		since, until   string
		offsets        []string
		output         string
		progressEvery  time.Duration
		noProgress     bool
		sessionTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Replay DLQ records to their source topic, exactly once, in Kafka transactions",
		Long: `replay copies the records of a dead-letter topic back to the source topic
named in each record's envelope (or to --to TOPIC), from the position of
its own consumer group (--group, default "<dlq topic>.replay") up to the
end of the DLQ topic as of the start.

Without --to, a record goes back only to a topic the configuration routes
(a route's topic, or a topic its topic_pattern matches) that is not a
dead-letter topic: anyone who can write the DLQ topic can write its
envelope, and the replay writes with your credentials. A record naming
another topic is refused and listed, and nothing is written for it. --to
may name any existing topic except a dead-letter topic.

Each batch of records is produced and the group's offsets are committed in
one Kafka transaction, so an interrupted replay (Ctrl-C, SIGTERM, even
SIGKILL) resumes where it stopped when run again, and no record is replayed
twice. Run one replay per group at a time.

A replayed record keeps the key (and so the partition: the default
partitioner places it by key), the value and the original headers; the
envelope headers are removed except cxone-bridge.replay.count, which is
incremented. Records replayed --max-replays times already are refused, so a
record that keeps failing cannot loop forever (a replay count that is not a
number from 0 to 1000 is forged or garbled, and read as 0).

Filters (all must hold): --class, --reason (substring of the reason code or
message), --source-topic, --since/--until (failure time: RFC 3339, a date,
or an age such as 90m or 2d), --offsets (DLQ offsets: 100-200, 100-, -200,
150, optionally prefixed with PARTITION:). Records a filter skips, refused
and malformed records are committed past: a later replay with other filters
needs another --group.

--dry-run reads from the group's position without joining it and prints
what would be replayed, with samples; it writes and commits nothing.
` + replayExitStatus,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			bad := func(err error) error { return &exitError{code: 2, err: err} }
			if o.Rate < 0 || o.Max < 0 || o.MaxReplays < 1 || o.MaxReplays > dlq.MaxReplayCount || o.Samples < 0 {
				return bad(fmt.Errorf("--rate, --max and --samples must not be negative, --max-replays from 1 to %d", dlq.MaxReplayCount))
			}
			if o.Samples == 0 {
				o.Samples = dlqtool.NoSamples // --samples 0: none, not the default
			}
			var topics []string
			if topic != "" {
				topics = []string{topic}
			}
			cfg, topics, err := dlqConfig(cmd.ErrOrStderr(), cfgPath, topics)
			if err != nil {
				return err
			}
			if len(topics) != 1 {
				return bad(fmt.Errorf("the configuration names %d DLQ topics %v: choose one with --topic", len(topics), topics))
			}
			o.Topic = topics[0]
			o.CorrelationHeaders = cfg.TransformConfig().Correlation.WithDefaults().Headers
			if o.Routes, err = dlqtool.NewRoutes(cfg); err != nil {
				return bad(err)
			}
			if o.To != "" {
				if err := o.Routes.CheckTo(o.To, o.Topic); err != nil {
					return bad(err)
				}
			}
			now := time.Now()
			if since != "" {
				if o.Filter.FailedFrom, err = dlqtool.ParseTime(since, now); err != nil {
					return bad(fmt.Errorf("--since: %w", err))
				}
			}
			if until != "" {
				if o.Filter.FailedUntil, err = dlqtool.ParseTime(until, now); err != nil {
					return bad(fmt.Errorf("--until: %w", err))
				}
			}
			for _, s := range offsets {
				r, err := dlqtool.ParseOffsetRange(s)
				if err != nil {
					return bad(fmt.Errorf("--offsets: %w", err))
				}
				o.Filter.Offsets = append(o.Filter.Offsets, r)
			}
			if err := o.Filter.Validate(); err != nil {
				return bad(err)
			}
			if o.KafkaOpts, err = dlqtool.KafkaOpts(cfg); err != nil {
				return &exitError{code: 2, err: err}
			}
			o.SessionTimeout = sessionTimeout
			if !noProgress {
				o.Progress = cmd.ErrOrStderr()
				o.ProgressInterval = progressEvery
			}
			// Refused and malformed records are listed once, in the summary
			// (the progress line counts them meanwhile); not also on stderr.
			sum, runErr := dlqtool.Replay(cmd.Context(), o)
			if sum != nil {
				out := cmd.OutOrStdout()
				var werr error
				if output == "json" {
					werr = dlqtool.WriteJSON(out, sum)
				} else {
					werr = sum.WriteText(out)
				}
				if werr != nil && runErr == nil {
					runErr = werr
				}
			}
			switch {
			case runErr != nil:
				return &exitError{code: 1, err: kafkaconn.Explain(cfg.Kafka.ConnConfig(), runErr)}
			case sum.Failed():
				return &exitError{code: 1, err: fmt.Errorf("%d records refused, %d malformed: see the list above", sum.Refused, sum.Malformed)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "bridge.yaml", "configuration file")
	f.StringVar(&topic, "topic", "", "DLQ topic to replay (default: the DLQ topic of the configuration's route)")
	f.StringVar(&o.To, "to", "", "produce every record to this topic instead of its source topic (not a DLQ topic)")
	f.StringSliceVar(&o.Filter.Classes, "class", nil, "only records of this error class: invalid, rejected (repeatable)")
	f.StringArrayVar(&o.Filter.Reasons, "reason", nil, "only records whose reason code or message contains this (case-insensitive; repeatable: any of them)")
	f.StringSliceVar(&o.Filter.SourceTopics, "source-topic", nil, "only records from this source topic (repeatable)")
	f.StringVar(&since, "since", "", "only records that failed at or after this time (RFC 3339, date, or age like 2h)")
	f.StringVar(&until, "until", "", "only records that failed before this time (RFC 3339, date, or age like 30m)")
	f.StringSliceVar(&offsets, "offsets", nil, "only records at these DLQ offsets: FROM-TO, FROM-, -TO, N, optionally PARTITION: first (repeatable)")
	f.BoolVar(&o.DryRun, "dry-run", false, "show what would be replayed; write and commit nothing")
	f.IntVar(&o.Samples, "samples", 5, "records a dry run shows in full")
	f.Float64Var(&o.Rate, "rate", 0, "at most this many records per second (0: no limit)")
	f.Int64Var(&o.Max, "max", 0, "stop after replaying this many records (0: no limit)")
	f.IntVar(&o.MaxReplays, "max-replays", dlqtool.DefaultMaxReplays, "refuse records replayed this many times already (1 to 1000)")
	f.StringVar(&o.Group, "group", "", `the replay's consumer group (default "<dlq topic>.replay")`)
	f.StringVar(&o.TransactionalID, "transactional-id", "", "the producer's transactional id (default: the group)")
	f.DurationVar(&sessionTimeout, "session-timeout", 10*time.Second, "group session timeout; a rerun after a crash waits up to this long")
	f.StringVarP(&output, "output", "o", "text", "summary format: text or json")
	f.DurationVar(&progressEvery, "progress-interval", 0, "progress update interval (default 200ms on a terminal, 5s otherwise)")
	f.BoolVar(&noProgress, "no-progress", false, "no progress output")
	return cmd
}
