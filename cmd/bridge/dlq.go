package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
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

// checkOutput refuses an --output that is not one of want.
func checkOutput(output string, want ...string) error {
	if !slices.Contains(want, output) {
		return &exitError{code: 2, err: fmt.Errorf("--output %q: want %s or %s", output, strings.Join(want[:len(want)-1], ", "), want[len(want)-1])}
	}
	return nil
}

// filterFlags are the record filters inspect and replay share: the same
// flags, read the same way.
type filterFlags struct {
	classes, reasons, sourceTopics, offsets []string
	since, until, match                     string
}

func (ff *filterFlags) register(cmd *cobra.Command, verb string) {
	f := cmd.Flags()
	f.StringSliceVar(&ff.classes, "class", nil, verb+" records of this error class: invalid, rejected (repeatable: any of them)")
	f.StringArrayVar(&ff.reasons, "reason", nil, verb+" records whose reason code or message contains this (case-insensitive; repeatable: any of them)")
	f.StringSliceVar(&ff.sourceTopics, "source-topic", nil, verb+" records from this source topic (repeatable: any of them)")
	f.StringVar(&ff.match, "match", "", verb+" records whose message matches this regular expression (Go syntax, unanchored; (?i) ignores case)")
	f.StringVar(&ff.since, "since", "", verb+" records that failed at or after this time (RFC 3339, a date, or an age such as 2h or 3d)")
	f.StringVar(&ff.until, "until", "", verb+" records that failed before this time (RFC 3339, a date, or an age such as 30m)")
	f.StringSliceVar(&ff.offsets, "offsets", nil, verb+" records at these DLQ offsets: FROM-TO, FROM-, -TO, N, optionally PARTITION: first (repeatable)")
}

// filter reads the flags into a filter; an error names the flag at fault,
// and is a usage error (exit status 2).
func (ff *filterFlags) filter(now time.Time) (dlqtool.Filter, error) {
	bad := func(err error) (dlqtool.Filter, error) { return dlqtool.Filter{}, &exitError{code: 2, err: err} }
	var f dlqtool.Filter
	for _, c := range ff.classes {
		if !dlq.KnownClass(c) {
			return bad(fmt.Errorf("--class %q: want %s or %s", c, dlq.ClassInvalid, dlq.ClassRejected))
		}
		f.Classes = append(f.Classes, c)
	}
	for _, r := range ff.reasons {
		if strings.TrimSpace(r) == "" {
			return bad(errors.New("--reason: empty; want a reason code (schema, http_422) or a part of the message"))
		}
		f.Reasons = append(f.Reasons, r)
	}
	for _, t := range ff.sourceTopics {
		if !dlq.ValidTopic(t) {
			return bad(fmt.Errorf("--source-topic %q: not a valid Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')", t))
		}
		f.SourceTopics = append(f.SourceTopics, t)
	}
	if ff.match != "" {
		re, err := regexp.Compile(ff.match)
		if err != nil {
			return bad(fmt.Errorf("--match %q: not a regular expression: %w", ff.match, err))
		}
		f.Message = re
	}
	var err error
	if ff.since != "" {
		if f.FailedFrom, err = dlqtool.ParseTime(ff.since, now); err != nil {
			return bad(fmt.Errorf("--since: %w", err))
		}
	}
	if ff.until != "" {
		if f.FailedUntil, err = dlqtool.ParseTime(ff.until, now); err != nil {
			return bad(fmt.Errorf("--until: %w", err))
		}
	}
	if !f.FailedFrom.IsZero() && !f.FailedUntil.IsZero() && !f.FailedFrom.Before(f.FailedUntil) {
		return bad(fmt.Errorf("--since %s is not before --until %s: no failure time is in that range",
			f.FailedFrom.UTC().Format(time.RFC3339), f.FailedUntil.UTC().Format(time.RFC3339)))
	}
	for _, s := range ff.offsets {
		r, err := dlqtool.ParseOffsetRange(s)
		if err != nil {
			return bad(fmt.Errorf("--offsets: %w", err))
		}
		f.Offsets = append(f.Offsets, r)
	}
	if err := f.Validate(); err != nil {
		return bad(err)
	}
	return f, nil
}

const inspectHelp = `inspect reads a dead-letter topic from its start to its current end
(read_committed) and prints counts by error class, by reason, by source
topic and by replay count, and the first and last failure time. It joins
no consumer group and commits nothing. The DLQ topics are those of the
configuration's routes (dlq.topic), or --topic.

Each class and reason lists its distinct messages with their counts, most
frequent first: the first --top N (default 10; 0 lists every one), then
"… and K more distinct messages". Messages that differ only by a value
they quote are distinct.

Filters (all must hold; a flag repeated means any of its values):
  --class invalid|rejected
  --reason TEXT        the reason code or the message contains TEXT (any case)
  --source-topic T     the source topic named in the envelope
  --match REGEXP       the message matches REGEXP (Go syntax, unanchored)
  --since, --until     failure time (cxone-bridge.failed.at): RFC 3339, a
                       date, or an age such as 2h or 3d ("that long ago")
  --offsets RANGE      DLQ offsets: 100-200, 100-, -200, 150, optionally
                       prefixed with PARTITION:
The counts, the failure times and the records shown are those of the
selected records. Records whose envelope is missing or garbled are counted
and listed as malformed whatever the filters.

--show N prints the first N selected records: envelope decoded, key, value
(cut at 256 bytes; --full shows values, keys and headers whole), original
headers; Avro and Protobuf values are also shown decoded.

--output json prints the report as JSON (records with --show), every value
as the record holds it, escaped only as JSON requires.
--output jsonl prints one JSON line per selected record (the first --show N;
all of them by default) instead of the report, each the original record
in the fields bridge dry-run reads (topic, partition, offset, key, value
whole, headers) and the dead letter under "dlq" (its DLQ partition, offset
and timestamp, and its envelope), so that

  bridge dlq inspect --config bridge.yaml --reason schema --output jsonl | bridge dry-run --config bridge.yaml

shows what the configuration makes of them now. Records stored without
their value, and malformed ones, are left out (standard error counts them).

--replayed adds, for each consumer group with committed offsets on the DLQ
topic (the replay groups, "<dlq topic>.replay" by default), its position
per partition and how many of the selected records lie behind it (replayed,
or passed over by its filter or as refused) and ahead of it.
` + dlqNotes + `
Exit status: 0 when every record read was fine; 1 when records were
malformed (missing or garbled envelope), or when the command failed or was
interrupted (the message says which); 2 on bad flags or configuration.`

func newDLQInspectCmd() *cobra.Command {
	var (
		cfgPath  string
		topics   []string
		ff       filterFlags
		show     int
		full     bool
		top      int
		output   string
		replayed bool
	)
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Summarise a DLQ topic: counts by class, reason and message, source topic; filters; records as dry-run input",
		Long:  inspectHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "text", "json", "jsonl"); err != nil {
				return err
			}
			bad := func(err error) error { return &exitError{code: 2, err: err} }
			if show < 0 {
				return bad(fmt.Errorf("--show: want 0 or more, got %d", show))
			}
			if top < 0 {
				return bad(fmt.Errorf("--top: want 0 (every message) or more, got %d", top))
			}
			filter, err := ff.filter(time.Now())
			if err != nil {
				return err
			}
			cfg, topics, err := dlqConfig(cmd.ErrOrStderr(), cfgPath, topics)
			if err != nil {
				return err
			}
			kopts, err := dlqtool.KafkaOpts(cfg)
			if err != nil {
				return bad(err)
			}
			opts := dlqtool.InspectOptions{KafkaOpts: kopts, Filter: filter, Show: show, Full: full, Top: top, Replayed: replayed}
			if top == 0 {
				opts.Top = -1 // every message
			}
			out := cmd.OutOrStdout()
			var lines *bufio.Writer
			if output == "jsonl" {
				lines = bufio.NewWriter(out)
				opts.Lines = lines
				if !cmd.Flags().Changed("show") {
					opts.Show = dlqtool.ShowAll
				}
			}
			if opts.Show != 0 && opts.Lines == nil && cfg.UsesRegistry() {
				// Values in a schema registry format are shown decoded too.
				tr, dec, err := pipeline.NewTransformer(cfg)
				if err != nil {
					return bad(err)
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
				if lines != nil {
					if ferr := lines.Flush(); err == nil && ferr != nil {
						err = fmt.Errorf("write: %w", ferr)
					}
				}
				if err != nil {
					return &exitError{code: 1, err: fmt.Errorf("inspect %s: %w", t, kafkaconn.Explain(cfg.Kafka.ConnConfig(), err))}
				}
				if lines != nil {
					writeLinesSummary(cmd.ErrOrStderr(), rep)
				}
				reports = append(reports, rep)
				malformed += rep.Malformed
			}
			switch output {
			case "json":
				err = dlqtool.WriteJSON(out, map[string]any{"topics": reports})
			case "text":
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
	ff.register(cmd, "only")
	f.IntVar(&top, "top", dlqtool.DefaultTop, "distinct messages listed per class and reason, most frequent first (0: every one)")
	f.IntVar(&show, "show", 0, "also print the first N selected records in full (--output jsonl: default all)")
	f.BoolVar(&full, "full", false, "with --show, print values, keys and headers whole (default: values cut at 256 bytes)")
	f.StringVarP(&output, "output", "o", "text", "output format: text, json, or jsonl (one line per selected record, as bridge dry-run reads them)")
	f.BoolVar(&replayed, "replayed", false, "also show how far each consumer group with offsets on the DLQ topic (a replay's) has read it")
	return cmd
}

// writeLinesSummary says on stderr what inspect --output jsonl wrote, and
// what it left out.
func writeLinesSummary(w io.Writer, rep *dlqtool.InspectReport) {
	fmt.Fprintf(w, "inspect: %s: %s written (%d selected of %d records read)",
		termsafe.String(rep.Topic), plural(int(rep.Written), "line"), rep.Selected, rep.Records)
	var out []string
	if rep.LeftOut > 0 {
		out = append(out, fmt.Sprintf("%d without their value in the DLQ (read them at the source offset)", rep.LeftOut))
	}
	if rep.Malformed > 0 {
		out = append(out, fmt.Sprintf("%d malformed", rep.Malformed))
	}
	if len(out) > 0 {
		fmt.Fprintf(w, "; left out: %s", strings.Join(out, ", "))
	}
	fmt.Fprintln(w)
}

func newDLQReplayCmd() *cobra.Command {
	var (
		cfgPath        string
		topic          string
		o              dlqtool.ReplayOptions
		ff             filterFlags
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

Filters (all must hold; a flag repeated means any of its values): --class,
--reason (substring of the reason code or message, any case),
--source-topic, --match (regular expression on the message),
--since/--until (failure time: RFC 3339, a date, or an age such as 90m or
2d), --offsets (DLQ offsets: 100-200, 100-, -200, 150, optionally prefixed
with PARTITION:); the same as bridge dlq inspect's, so that inspect shows
what a replay with the same filters selects. Records a filter skips,
refused and malformed records are committed past: a later replay with
other filters needs another --group.

--dry-run reads from the group's position without joining it and prints
what would be replayed, with samples; it writes and commits nothing.
` + replayExitStatus,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			bad := func(err error) error { return &exitError{code: 2, err: err} }
			filter, err := ff.filter(time.Now())
			if err != nil {
				return err
			}
			o.Filter = filter
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
	ff.register(cmd, "only")
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
