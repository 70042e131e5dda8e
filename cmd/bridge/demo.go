package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cxone-bridge/bridge/demo"
)

// newDemoCmd returns `bridge demo`: the bridge's main job, run end to end
// on a setup the demo builds itself (package demo), ending with a report
// and a verdict.
func newDemoCmd() *cobra.Command {
	o := demo.DefaultOptions()
	var (
		ext               demo.ExternalCXone
		logLevel, logFile string
		noProgress        bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the bridge end to end on an in-process Kafka and CXone test server",
		Long: `demo runs the bridge's real pipeline (consumer → transform → sink) end to end
on a setup it builds itself, with nothing to install but Go:

  - an in-process Kafka with the topics "orders" (--partitions) and "orders.dlq",
  - the CXone-compatible test server (latency --latency to --latency-max), or an
    external CXone-compatible endpoint (--cxone-base-url and credentials),
  - a sample stream of --records tutorial-shaped orders over --keys customers
    (the Kafka key), with a share of invalid records (--invalid), duplicates
    (--duplicates: the same order produced again later) and, from 2 records
    on, one tombstone.

It shows live progress, then reports what was delivered, dead-lettered and
deduplicated, the end-to-end latency and throughput, and a verdict checked
against what CXone recorded, the DLQ topic holds and the group committed:
every valid order reached CXone exactly once in effect, per key in offset
order; every invalid record is in the DLQ with class invalid; committed
offsets equal end offsets. Against an external endpoint the checks that need
the server's records are reported as not checked.

The bridge's own logs go to a file in the temporary folder (its path is
printed when it holds anything) or to --log-file ("-" for standard error).

Exit status: 0 when the verdict passes, 1 when it does not (or the demo could
not run), 2 on bad flags.`,
		Example: `  go run ./cmd/bridge demo
  go run ./cmd/bridge demo --records 20000 --latency 0 --latency-max 20ms
  CXONE_CLIENT_SECRET=... go run ./cmd/bridge demo --records 100 \
      --cxone-base-url https://sandbox.example.com --client-id my-app`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Checked as given: a zero would silently mean the default
			// in demo.Run.
			if err := o.Check(); err != nil {
				return &exitError{code: 2, err: demoFlagError(err)}
			}
			if ext.BaseURL != "" {
				if ext.ClientID == "" {
					ext.ClientID = os.Getenv("CXONE_CLIENT_ID")
				}
				if ext.ClientSecret == "" {
					ext.ClientSecret = os.Getenv("CXONE_CLIENT_SECRET")
				}
				if ext.ClientID == "" || ext.ClientSecret == "" {
					return &exitError{code: 2, err: errors.New("--cxone-base-url needs --client-id and --client-secret (or CXONE_CLIENT_ID and CXONE_CLIENT_SECRET)")}
				}
				o.External = &ext
			} else if ext.TokenURL != "" || ext.ClientID != "" || ext.ClientSecret != "" {
				return &exitError{code: 2, err: errors.New("--token-url, --client-id and --client-secret go with --cxone-base-url")}
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return &exitError{code: 2, err: fmt.Errorf("--log-level: %w", err)}
			}
			logOut, closeLog, err := openDemoLog(logFile, cmd.ErrOrStderr())
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			o.Logger = slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
			o.Out = cmd.OutOrStdout()
			o.Progress = !noProgress

			rep, err := demo.Run(cmd.Context(), o)
			if note := closeLog(); note != "" {
				fmt.Fprintln(o.Out, note)
			}
			switch {
			case errors.Is(err, demo.ErrBadOptions):
				return &exitError{code: 2, err: demoFlagError(err)}
			case rep == nil:
				return &exitError{code: 1, err: err}
			case err != nil:
				return &exitError{code: 1, err: err}
			case !rep.Passed:
				return &exitError{code: 1, err: fmt.Errorf("verdict FAIL: %s failed", plural(len(rep.Failed()), "check"))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Records, "records", o.Records, fmt.Sprintf("records to produce in all (valid, duplicate, invalid, one tombstone), 1 to %d", demo.MaxRecords))
	f.IntVar(&o.Partitions, "partitions", o.Partitions, fmt.Sprintf("partitions of the orders topic, 1 to %d", demo.MaxPartitions))
	f.IntVar(&o.Keys, "keys", o.Keys, "distinct Kafka keys (customer ids), at least 1")
	f.Float64Var(&o.InvalidShare, "invalid", o.InvalidShare, "share of invalid records, 0 to 0.9")
	f.Float64Var(&o.DuplicateShare, "duplicates", o.DuplicateShare, "share of duplicates: an earlier order produced again under the same key; 0 to 0.9, and with --invalid at most 0.9")
	f.DurationVar(&o.LatencyMin, "latency", o.LatencyMin, "test server latency, lower bound")
	f.DurationVar(&o.LatencyMax, "latency-max", o.LatencyMax, "test server latency, upper bound (uniform in between)")
	f.IntVar(&o.MaxInFlight, "max-in-flight", o.MaxInFlight, fmt.Sprintf("consumer.max_in_flight: records in flight at once, 1 to %d", demo.MaxMaxInFlight))
	f.StringVar(&o.Ordering, "ordering", o.Ordering, "consumer.ordering: key, partition or none")
	f.StringVar(&o.Format, "format", "json", "how the orders are written: json, or avro (schema registry wire format, with an in-process registry)")
	f.Uint64Var(&o.Seed, "seed", 0, "seed of the sample stream (0: random)")
	f.DurationVar(&o.StallTimeout, "stall-timeout", o.StallTimeout, "give up when no record finished for this long")
	f.BoolVar(&noProgress, "no-progress", false, "do not show live progress")
	f.StringVar(&ext.BaseURL, "cxone-base-url", "", "external CXone-compatible endpoint instead of the built-in test server")
	f.StringVar(&ext.TokenURL, "token-url", "", "OAuth2 token URL of the external endpoint (default {base}/oauth/token)")
	f.StringVar(&ext.ClientID, "client-id", "", "client id for the external endpoint (default $CXONE_CLIENT_ID)")
	f.StringVar(&ext.ClientSecret, "client-secret", "", "client secret for the external endpoint (default $CXONE_CLIENT_SECRET; prefer the variable)")
	f.StringVar(&logLevel, "log-level", "warn", "level of the bridge's logs: debug, info, warn, error")
	f.StringVar(&logFile, "log-file", "", `file for the bridge's logs ("-": standard error; default: a file in the temporary folder)`)
	return cmd
}

// openDemoLog opens where the bridge's logs go, so that they do not drown
// the progress line. closeLog closes it and returns a note for the user
// (the log's path when it holds anything).
func openDemoLog(path string, stderr io.Writer) (w io.Writer, closeLog func() string, err error) {
	switch path {
	case "-":
		return stderr, func() string { return "" }, nil
	case "":
		f, err := os.CreateTemp("", "bridge-demo-*.log")
		if err != nil {
			return nil, nil, fmt.Errorf("bridge log: %w", err)
		}
		return f, func() string {
			st, err := f.Stat()
			f.Close()
			if err == nil && st.Size() == 0 {
				os.Remove(f.Name())
				return ""
			}
			return "bridge log: " + f.Name()
		}, nil
	default:
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("--log-file: %w", err)
		}
		return f, func() string {
			f.Close()
			return "bridge log: " + f.Name()
		}, nil
	}
}

// demoFlagError words the errors of [demo.Options.Check] as flags: every
// [demo.OptionError] as "--records must be between 1 and 5000000, got -5",
// one after the other, with any other problem as it is. An error without
// an OptionError is returned unchanged.
func demoFlagError(err error) error {
	var oe *demo.OptionError
	if !errors.As(err, &oe) {
		return err
	}
	var msgs []string
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case *demo.OptionError:
			msgs = append(msgs, x.Message("--"))
		case interface{ Unwrap() []error }:
			for _, c := range x.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			if errors.As(e, &oe) {
				walk(x.Unwrap()) // "demo: …" around the options' errors
			} else {
				msgs = append(msgs, e.Error())
			}
		default:
			if e != demo.ErrBadOptions {
				msgs = append(msgs, e.Error())
			}
		}
	}
	walk(err)
	return errors.New(strings.Join(msgs, "; "))
}
