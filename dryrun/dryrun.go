// Package dryrun shows what the bridge would do with records, without Kafka
// and without CXone: for each record, the exact request it would send or the
// DLQ outcome. Operators use it to check mappings before going live.
package dryrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/cxone-bridge/bridge/termsafe"
	"github.com/cxone-bridge/bridge/transform"
)

// Input is one line of dry-run input:
//
//	{"topic": "orders", "key": "k1", "value": <string or JSON>,
//	 "headers": {"x-correlation-id": "..."}, "partition": 0, "offset": 0}
//
// A string value is taken as the record's bytes; any other JSON value as its
// JSON text; null or absent is a tombstone. value_base64 (or value_b64) and
// key_base64 give bytes that JSON cannot carry (invalid UTF-8, Avro or
// Protobuf in a schema registry's wire format). timestamp is RFC 3339,
// default now.
type Input struct {
	Topic       string            `json:"topic"`
	Key         *string           `json:"key"`
	Value       json.RawMessage   `json:"value"`
	ValueBase64 *string           `json:"value_base64"`
	ValueB64    *string           `json:"value_b64"` // the same as value_base64
	KeyBase64   *string           `json:"key_base64"`
	Headers     map[string]string `json:"headers"`
	Partition   int32             `json:"partition"`
	Offset      int64             `json:"offset"`
	Timestamp   *time.Time        `json:"timestamp"`
}

// ParseRecord decodes one input line into a record. It rejects unknown
// fields (a misspelt "hedaers" must not silently drop headers) and lines
// without a topic.
func ParseRecord(line []byte, now time.Time) (*transform.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var in Input
	if err := dec.Decode(&in); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, fmt.Errorf(`not JSON: unexpected text at byte %d; each line is one record, such as {"topic":"orders","value":{…}}`, se.Offset)
		case errors.As(err, &te) && strings.HasPrefix(te.Field, "headers"):
			return nil, fmt.Errorf(`"headers" must map header names to strings, got a JSON %s`, te.Value)
		case errors.As(err, &te) && te.Field != "":
			return nil, fmt.Errorf("%q must be a %s, got a JSON %s", te.Field, jsonKind(te.Type.String()), te.Value)
		case errors.As(err, &te):
			return nil, fmt.Errorf(`a line must be a JSON object, such as {"topic":"orders","value":{…}}; got a JSON %s`, te.Value)
		}
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, unknownField(line, field)
		}
		return nil, fmt.Errorf("not a record object: %w", err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after the record object")
	}
	if in.Topic == "" {
		return nil, errors.New(`"topic" is required`)
	}
	rec := &transform.Record{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset, Timestamp: now}
	if in.Timestamp != nil {
		rec.Timestamp = *in.Timestamp
	}
	if in.Key != nil && in.KeyBase64 != nil {
		return nil, errors.New(`set "key" or "key_base64", not both`)
	}
	if in.Key != nil {
		rec.Key = []byte(*in.Key)
	}
	if in.KeyBase64 != nil {
		b, err := base64.StdEncoding.DecodeString(*in.KeyBase64)
		if err != nil {
			return nil, fmt.Errorf(`"key_base64": %w`, err)
		}
		rec.Key = b
	}
	if in.ValueB64 != nil {
		if in.ValueBase64 != nil {
			return nil, errors.New(`set "value_base64" or "value_b64", not both`)
		}
		in.ValueBase64 = in.ValueB64
	}
	switch {
	case in.ValueBase64 != nil:
		if len(in.Value) > 0 && string(in.Value) != "null" {
			return nil, errors.New(`set "value" or "value_base64", not both`)
		}
		b, err := base64.StdEncoding.DecodeString(*in.ValueBase64)
		if err != nil {
			return nil, fmt.Errorf(`"value_base64": %w`, err)
		}
		rec.Value = b
	case len(in.Value) == 0 || string(in.Value) == "null":
		// tombstone: Value stays nil
	case in.Value[0] == '"':
		var s string
		if err := json.Unmarshal(in.Value, &s); err != nil {
			return nil, fmt.Errorf(`"value": %w`, err)
		}
		rec.Value = []byte(s)
	default:
		rec.Value = append([]byte(nil), in.Value...)
	}
	for k, v := range in.Headers {
		rec.Headers = append(rec.Headers, transform.Header{Key: k, Value: []byte(v)})
	}
	return rec, nil
}

// recordExample is the shape of an input line, for error messages.
const recordExample = `{"topic":"orders","key":"…","value":{…},"headers":{…}}`

// unknownField explains a line with a field Input does not have (field is
// quoted, as encoding/json quotes it). A line none of whose fields is a
// record's is most likely a message value on its own, such as
// {"orderId":"x"}: it is told where the value goes. Otherwise a field is
// misspelt: it is told the fields there are.
func unknownField(line []byte, field string) error {
	var fields map[string]json.RawMessage
	if json.Unmarshal(line, &fields) == nil {
		known := false
		for name := range fields {
			if inputFields[name] {
				known = true
				break
			}
		}
		if !known {
			return fmt.Errorf(`not a record object: unknown field %s; each line is one record with the message under "value", such as %s`, field, recordExample)
		}
	}
	return fmt.Errorf(`not a record object: unknown field %s; a record has the fields topic, key (or key_base64), value (or value_base64), headers, partition, offset and timestamp, such as %s`, field, recordExample)
}

// inputFields are the JSON names of Input's fields.
var inputFields = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[Input]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		m[name] = true
	}
	return m
}()

// Outcomes of a record.
const (
	OutcomePublish = "publish"
	OutcomeDLQ     = "dlq"
	OutcomeSkip    = "skip"
	OutcomeBadLine = "bad_input"
)

// Result is what happens to one input record.
type Result struct {
	Line      int    `json:"line"`
	Topic     string `json:"topic,omitempty"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Outcome   string `json:"outcome"`
	// Route is the route that took the record (its filter held, if it
	// has one), for a published record.
	Route string `json:"route,omitempty"`
	// Explain is each expression's result (Options.Explain).
	Explain []transform.Explanation `json:"explain,omitempty"`

	Request *Request `json:"request,omitempty"`

	DLQTopic      string `json:"dlq_topic,omitempty"`
	Class         string `json:"class,omitempty"`
	Reason        string `json:"reason,omitempty"`
	Detail        string `json:"detail,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
	Note          string `json:"note,omitempty"`
}

// Request is the HTTP request the sink would send, without the token.
type Request struct {
	Method  string          `json:"method"`
	URL     string          `json:"url"`
	Headers [][2]string     `json:"headers"`
	Body    json.RawMessage `json:"body"`
}

// Summary counts outcomes.
type Summary struct {
	Records, Publish, DLQ, Skip, BadInput int
}

// Options configure Run.
type Options struct {
	Transformer *transform.Transformer
	EventsURL   string
	DLQTopic    func(source string) string
	// Headers returns the request headers the sink sends for ev, in order,
	// without the Authorization header.
	Headers func(ev *transform.Event) [][2]string
	JSON    bool // JSON lines instead of text
	// Explain adds each route expression's result to every record's
	// result: the filters tried, and the taking route's other expressions.
	Explain bool
	Now     func() time.Time
	// MaxLine bounds one input line; longer lines are reported as bad input.
	MaxLine int
}

// Run reads JSON lines from in and writes one result per line to out.
func Run(in io.Reader, out io.Writer, o Options) (Summary, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxLine <= 0 {
		o.MaxLine = 128 << 20
	}
	var sum Summary
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriter(out)
	defer w.Flush()
	for lineNo := 1; ; lineNo++ {
		line, tooLong, err := readLine(r, o.MaxLine)
		if err == io.EOF && len(line) == 0 && !tooLong {
			break
		}
		if err != nil && err != io.EOF {
			return sum, fmt.Errorf("read input: %w", err)
		}
		if len(bytes.TrimSpace(line)) == 0 && !tooLong {
			if err == io.EOF {
				break
			}
			continue
		}
		res := Result{Line: lineNo}
		if tooLong {
			res.Outcome, res.Detail = OutcomeBadLine, fmt.Sprintf("line longer than %d bytes", o.MaxLine)
		} else {
			res = evaluate(lineNo, line, &o)
		}
		sum.Records++
		switch res.Outcome {
		case OutcomePublish:
			sum.Publish++
		case OutcomeDLQ:
			sum.DLQ++
		case OutcomeSkip:
			sum.Skip++
		default:
			sum.BadInput++
		}
		if err := write(w, &res, o.JSON); err != nil {
			return sum, err
		}
		if err == io.EOF {
			break
		}
	}
	return sum, w.Flush()
}

func evaluate(lineNo int, line []byte, o *Options) Result {
	res := Result{Line: lineNo}
	rec, err := ParseRecord(line, o.Now())
	if err != nil {
		res.Outcome, res.Detail = OutcomeBadLine, err.Error()
		return res
	}
	res.Topic, res.Partition, res.Offset = rec.Topic, rec.Partition, rec.Offset
	if o.Explain {
		res.Explain = o.Transformer.Explain(context.Background(), rec)
	}
	ev, err := o.Transformer.Transform(rec)
	var ie *transform.InvalidError
	var skip *transform.SkipError
	switch {
	case err == nil:
		res.Outcome, res.Route = OutcomePublish, ev.Route
		res.CorrelationID, res.Note = ev.CorrelationID, ev.CorrelationNote
		res.Request = &Request{Method: "POST", URL: o.EventsURL, Headers: o.Headers(ev), Body: ev.Body}
	case errors.As(err, &skip) && skip.Reason == transform.ReasonFiltered:
		res.Outcome, res.Reason, res.Detail = OutcomeSkip, transform.ReasonFiltered, "no route of the topic takes it (every filter is false): committed without publishing"
	case errors.Is(err, transform.ErrSkip):
		res.Outcome, res.Reason, res.Detail = OutcomeSkip, transform.ReasonTombstone, "tombstone (null value); route policy is skip: committed without publishing"
	case errors.As(err, &ie):
		res.Outcome, res.Class, res.Reason, res.Detail = OutcomeDLQ, "invalid", ie.Reason, ie.Detail
		res.CorrelationID = ie.CorrelationID
		res.DLQTopic = o.DLQTopic(rec.Topic)
	default:
		res.Outcome, res.Detail = OutcomeBadLine, err.Error()
	}
	return res
}

// readLine reads one line without its newline. A line over max is consumed
// and discarded, and reported with tooLong.
func readLine(r *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		frag, err := r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(frag) > max+1 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, frag...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimRight(buf, "\r\n"), tooLong, err
	}
}

// write prints one result. Everything in it can come from the input
// record (topic, headers, values in the body, error details quoting the
// record): the text output passes every string through termsafe.String
// and the body, JSON, through termsafe.JSON (the same JSON, with control,
// bidi and other non-printable characters as \u escapes); the JSON lines
// pass through termsafe.JSON too.
func write(w *bufio.Writer, res *Result, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		_, err = w.Write(append(termsafe.JSON(b), '\n'))
		return err
	}
	s := termsafe.String
	fmt.Fprintf(w, "--- line %d", res.Line)
	if res.Topic != "" {
		fmt.Fprintf(w, ": %s[%d]@%d", s(res.Topic), res.Partition, res.Offset)
	}
	// The expressions' results (--explain), each on a line of its own,
	// then the outcome on a line of its own.
	if len(res.Explain) > 0 {
		fmt.Fprintln(w)
		for _, e := range res.Explain {
			if e.Error != "" {
				fmt.Fprintf(w, "# %s.%s failed: %s\n", s(e.Route), s(e.Key), s(e.Error))
				continue
			}
			fmt.Fprintf(w, "# %s.%s = %s\n", s(e.Route), s(e.Key), s(e.Result))
		}
	}
	switch res.Outcome {
	case OutcomePublish:
		fmt.Fprintf(w, " → publish (%s)\n%s %s\n", s(res.Route), s(res.Request.Method), s(res.Request.URL))
		for _, h := range res.Request.Headers {
			fmt.Fprintf(w, "%s: %s\n", s(h[0]), s(h[1]))
		}
		if res.Note != "" {
			fmt.Fprintf(w, "# note: %s\n", s(res.Note))
		}
		fmt.Fprintf(w, "\n%s\n", termsafe.JSON(res.Request.Body))
	case OutcomeDLQ:
		fmt.Fprintf(w, " → DLQ %s\nclass: %s\nreason: %s\ndetail: %s\ncorrelation id: %s\n",
			s(res.DLQTopic), s(res.Class), s(res.Reason), s(res.Detail), s(res.CorrelationID))
	case OutcomeSkip:
		fmt.Fprintf(w, " → skip\n%s\n", s(res.Detail))
	default:
		fmt.Fprintf(w, " → bad input line\n%s\n", s(res.Detail))
	}
	return w.WriteByte('\n')
}

// jsonKind names a Go type of Input as the JSON a line must hold.
func jsonKind(goType string) string {
	switch {
	case strings.Contains(goType, "string"):
		return "string"
	case strings.Contains(goType, "int"):
		return "whole number"
	case strings.Contains(goType, "map"):
		return "JSON object"
	case strings.Contains(goType, "Time"):
		return "RFC 3339 date-time string"
	}
	return goType
}
