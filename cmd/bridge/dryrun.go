package main

import (
	"bufio"
	"bytes"
	"encoding/json"
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

The lines of bridge dlq inspect --output jsonl are read as they are: their
"dlq" member (the dead letter's place and envelope) is ignored, the rest is
the original record, so that

  bridge dlq inspect --config bridge.yaml --reason schema --output jsonl | bridge dry-run --config bridge.yaml

shows what this configuration makes of dead-lettered records.

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
			sum, err := dryrun.Run(withoutDLQMember(in), cmd.OutOrStdout(), dryrun.Options{
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

// maxDLQLine bounds the lines withoutDLQMember looks into, as dry-run
// bounds its lines; a longer line passes as it is (and dry-run reports it
// as too long).
const maxDLQLine = 128 << 20

// withoutDLQMember passes dry-run's input through, but for the member
// "dlq" of each line that is a JSON object: the dead letter that `bridge
// dlq inspect --output jsonl` writes beside the original record, whose
// fields dry-run reads (and whose unknown fields it refuses). Every other
// byte of a line is kept as it is.
func withoutDLQMember(in io.Reader) io.Reader {
	return &dlqMemberReader{r: bufio.NewReaderSize(in, 64<<10), max: maxDLQLine}
}

type dlqMemberReader struct {
	r       *bufio.Reader
	max     int // longest line looked into
	pending []byte
	long    bool // within a line longer than max: passed as it is
	err     error
}

func (d *dlqMemberReader) Read(p []byte) (int, error) {
	for len(d.pending) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		d.fill()
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}

// fill reads the next line (or, within a line too long, the next piece of
// it) into pending.
func (d *dlqMemberReader) fill() {
	var line []byte
	for {
		frag, err := d.r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			d.err = err
		}
		switch {
		case d.long || len(line)+len(frag) > d.max:
			d.pending = append(line, frag...)
			d.long = err == bufio.ErrBufferFull
			return
		case err == bufio.ErrBufferFull:
			line = append(line, frag...)
			continue
		}
		d.pending = dropMember(append(line, frag...), "dlq")
		return
	}
}

// dropMember returns line without the first top-level member name of the
// JSON object it holds (with its comma), or line as it is when it holds
// none, or is not a JSON object (dry-run then reports it as it is).
func dropMember(line []byte, name string) []byte {
	if !bytes.Contains(line, []byte(`"`+name+`"`)) || !json.Valid(line) {
		return line
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return line
	}
	prevEnd, first := dec.InputOffset(), true
	for dec.More() {
		start := prevEnd // before the comma that separates the member
		k, err := dec.Token()
		if err != nil {
			return line
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return line
		}
		end := dec.InputOffset()
		if k == name {
			if first { // drop the comma after it instead
				rest := line[end:]
				i := len(rest) - len(bytes.TrimLeft(rest, " \t\r\n"))
				if i < len(rest) && rest[i] == ',' {
					end += int64(i) + 1
				}
			}
			return append(append([]byte(nil), line[:start]...), line[end:]...)
		}
		prevEnd, first = end, false
	}
	return line
}
