package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cxone-bridge/bridge/pipeline"
	"github.com/cxone-bridge/bridge/sink/cxonetest"
	"github.com/cxone-bridge/bridge/transform"
)

// generator makes tutorial-shaped orders; record i of a phase has the
// orderId ORD-<phase digit><i, 9 digits>, the key CUST-<i mod keys> and
// the correlation id <tag>-<i>.
// With a registry, the orders are Avro in its wire format.
type generator struct {
	keys int
	reg  *schemaRegistry
}

func newGenerator(keys int, reg *schemaRegistry) *generator { return &generator{keys: keys, reg: reg} }

var currencies = []string{"USD", "EUR", "GBP", "CAD"}

func phaseDigit(tag byte) int {
	switch tag {
	case tagThroughput:
		return 1
	case tagLatency:
		return 2
	default:
		return 3
	}
}

func (g *generator) record(topic string, tag byte, i int) *kgo.Record {
	if g.reg != nil {
		return g.avroRecord(topic, tag, i)
	}
	var b []byte
	b = append(b, `{"orderId":"ORD-`...)
	b = strconv.AppendInt(b, int64(phaseDigit(tag)), 10)
	b = appendPadded(b, i, 9)
	b = append(b, `","customerId":"CUST-`...)
	b = strconv.AppendInt(b, int64(i%g.keys), 10)
	b = append(b, `","totalAmount":`...)
	b = strconv.AppendFloat(b, float64(1000+i%90000)/100, 'f', 2, 64)
	b = append(b, `,"currency":"`...)
	b = append(b, currencies[i%len(currencies)]...)
	b = append(b, `","timestamp":"2026-11-27T16:00:00.000Z","metadata":{"source":"checkout-api","channel":"web","items":3}}`...)
	r := g.shell(topic, tag, i)
	r.Value = b
	return r
}

// shell is record i without its value: topic, key and headers.
func (g *generator) shell(topic string, tag byte, i int) *kgo.Record {
	return &kgo.Record{
		Topic:   topic,
		Key:     []byte("CUST-" + strconv.Itoa(i%g.keys)),
		Headers: []kgo.RecordHeader{{Key: "x-correlation-id", Value: []byte(string(tag) + "-" + strconv.Itoa(i))}},
	}
}

func appendPadded(b []byte, v, width int) []byte {
	s := strconv.Itoa(v)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// avroRecord is record i in Avro: the same order, the same key and
// headers.
func (g *generator) avroRecord(topic string, tag byte, i int) *kgo.Record {
	o := &avroOrder{
		OrderID:     fmt.Sprintf("ORD-%d%09d", phaseDigit(tag), i),
		CustomerID:  "CUST-" + strconv.Itoa(i%g.keys),
		TotalAmount: float64(1000+i%90000) / 100,
		Currency:    currencies[i%len(currencies)],
		Timestamp:   "2026-11-27T16:00:00.000Z",
		Metadata:    avroMetadata{Source: "checkout-api", Channel: "web", Items: 3},
	}
	r := g.shell(topic, tag, i)
	r.Value = g.reg.encode(o)
	return r
}

func (g *generator) records(topic string, tag byte, n int) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = g.record(topic, tag, i)
	}
	return recs
}

// request is one pre-built events request.
type request struct {
	key, corr string
	body      []byte
}

// prebuild runs the bridge's own transform over recs, so the baselines
// send byte for byte what the bridge sends.
func prebuild(tr *transform.Transformer, recs []*kgo.Record) ([]request, error) {
	reqs := make([]request, len(recs))
	for i, r := range recs {
		tr2 := pipeline.Record(r)
		ev, err := tr.Transform(&tr2)
		if err != nil {
			return nil, fmt.Errorf("bench: the generated record %d does not pass the route: %w", i, err)
		}
		reqs[i] = request{key: ev.IdempotencyKey, corr: ev.CorrelationID, body: ev.Body}
	}
	return reqs, nil
}

// reqAt indexes reqs, for wireLoop.
func reqAt(reqs []request) func(int) request { return func(i int) request { return reqs[i] } }

// fetchToken gets a bearer token from the test server for the baselines.
func fetchToken(ctx context.Context, base string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {cxonetest.WriteScope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+cxonetest.TokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(cxonetest.DefaultClientID, cxonetest.DefaultClientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token endpoint answered %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("token endpoint answer has no access_token (%v)", err)
	}
	return tok.AccessToken, nil
}

// post sends one pre-built request and checks for 202.
func post(ctx context.Context, hc *http.Client, eventsURL, token string, r request) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, eventsURL, bytes.NewReader(r.body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Idempotency-Key", r.key)
	req.Header.Set("X-Correlation-Id", r.corr)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("events endpoint answered %d", resp.StatusCode)
	}
	return nil
}

// wireLoop posts the requests at(0) … at(n-1) with concurrency workers over a bare
// net/http client (a keep-alive pool as large as the concurrency): the wire
// ceiling. It returns the first failure.
func wireLoop(ctx context.Context, eventsURL, token string, n int, at func(int) request, concurrency int) error {
	tr := &http.Transport{MaxIdleConns: concurrency + 8, MaxIdleConnsPerHost: concurrency, IdleConnTimeout: 90 * time.Second}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(concurrency, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := post(ctx, hc, eventsURL, token, at(i)); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// tutorialLoop is the tutorial's approach: for each order in turn, validate
// and build the event, POST it and await the answer, for d. It returns the
// events accepted and the time taken.
func tutorialLoop(ctx context.Context, eventsURL, token string, tr *transform.Transformer, g *generator, topic string, d time.Duration) (int, time.Duration, error) {
	hc := &http.Client{Timeout: time.Minute}
	defer hc.CloseIdleConnections()
	start := time.Now()
	n := 0
	for i := 0; time.Since(start) < d && i < maxIndex; i++ {
		if err := ctx.Err(); err != nil {
			return n, time.Since(start), err
		}
		rec := pipeline.Record(g.record(topic, tagTutorial, i))
		ev, err := tr.Transform(&rec)
		if err != nil {
			return n, time.Since(start), err
		}
		if err := post(ctx, hc, eventsURL, token, request{key: ev.IdempotencyKey, corr: ev.CorrelationID, body: ev.Body}); err != nil {
			return n, time.Since(start), err
		}
		n++
	}
	return n, time.Since(start), nil
}
