package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/cxone-bridge/bridge/config"
	"github.com/cxone-bridge/bridge/dryrun"
	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/transform"
)

func newDryRunCmd() *cobra.Command {
	var (
		cfgPath  string
		asJSON   bool
		allowDLQ bool
		registry []string
		explain  bool
	)
	cmd := &cobra.Command{
		Use:   "dry-run [FILE|-]",
		Short: "Show the CXone request or DLQ outcome of each record, without Kafka or CXone",
		Long: `dry-run reads records as JSON lines, one per line:

  {"topic": "orders", "key": "k1", "value": <string or JSON>,
   "headers": {"x-correlation-id": "abc"}, "partition": 0, "offset": 0}

and prints for each the exact request the bridge would send (method, URL,
headers without the token, body) or its DLQ outcome (class, reason). A string
value is the record's bytes, other JSON its text, null a tombstone;
"value_base64" (or "value_b64") and "key_base64" carry bytes JSON cannot,
such as Avro or Protobuf records in a schema registry's wire format, which
routes with such a format decode with the configured registry (or the one
--registry names). Input is FILE, or standard input when FILE is "-" or
absent. CXone credentials are not needed.

Exit status: 0 when every record would be published or skipped, 1 when any
would go to the DLQ (0 with --allow-dlq), 2 on bad configuration or bad
input lines.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(cfgPath, config.WithoutCredentials(), config.WithSchemaRegistry(registry...))
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			tr, _, err := pipeline.NewTransformer(cfg)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			var in io.Reader = cmd.InOrStdin()
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				defer f.Close()
				in = f
			}
			sum, err := dryrun.Run(in, cmd.OutOrStdout(), dryrun.Options{
				Transformer: tr,
				EventsURL:   cfg.CXone.EventsURL(),
				DLQTopic:    cfg.DLQTopic,
				Headers:     requestHeaders,
				JSON:        asJSON,
				Explain:     explain,
			})
			fmt.Fprintf(cmd.ErrOrStderr(), "dry-run: %s: %d publish, %d dlq, %d skip, %s\n",
				plural(sum.Records, "record"), sum.Publish, sum.DLQ, sum.Skip, plural(sum.BadInput, "bad input line"))
			switch {
			case err != nil:
				return &exitError{code: 2, err: err}
			case sum.BadInput > 0:
				return &exitError{code: 2, err: errors.New(plural(sum.BadInput, "bad input line"))}
			case sum.DLQ > 0 && !allowDLQ:
				return &exitError{code: 1, err: fmt.Errorf("%s would go to the DLQ", plural(sum.DLQ, "record"))}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "bridge.yaml", "configuration file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per record instead of text")
	cmd.Flags().BoolVar(&allowDLQ, "allow-dlq", false, "exit 0 even when records would go to the DLQ")
	cmd.Flags().StringSliceVar(&registry, "registry", nil, "schema registry URL(s), instead of schema_registry.urls")
	cmd.Flags().BoolVar(&explain, "explain", false, "show each route expression's result: the filters tried, the attributes, event type, business key and timestamp")
	return cmd
}

// requestHeaders lists the headers the sink sends with ev, token omitted.
func requestHeaders(ev *transform.Event) [][2]string {
	h := [][2]string{
		{"Authorization", "Bearer <token omitted>"},
		{"Content-Type", "application/json"},
		{"X-Idempotency-Key", ev.IdempotencyKey},
		{"X-Correlation-Id", ev.CorrelationID},
	}
	if ev.Traceparent != "" {
		h = append(h, [2]string{"traceparent", ev.Traceparent})
	}
	return h
}

// plural is n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
