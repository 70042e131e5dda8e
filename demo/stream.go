package demo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// kind is what a produced record is meant to be.
type kind uint8

const (
	kindValid     kind = iota // a new, valid order
	kindDuplicate             // a valid order produced again, later, under the same key
	kindInvalid               // a record the bridge must dead-letter (class invalid)
	kindTombstone             // a null value: skipped
)

// sample is one record of the sample stream, with where it landed.
type sample struct {
	seq     int // position in the stream (production order)
	kind    kind
	key     string // Kafka key: the customer id
	orderID string // the order's id; for invalid records the id it carries, if any
	value   []byte // nil for the tombstone
	corrID  string // x-correlation-id header
	reason  string // invalid: the DLQ reason the bridge must give
	what    string // invalid: what is wrong, for people

	// Set once the broker acknowledged the record.
	partition int32
	offset    int64
	ts        time.Time
	err       error
}

// order is the tutorial's order object.
type order struct {
	OrderID     string         `json:"orderId"`
	CustomerID  string         `json:"customerId"`
	TotalAmount float64        `json:"totalAmount"`
	Currency    string         `json:"currency"`
	Timestamp   string         `json:"timestamp"`
	Metadata    map[string]any `json:"metadata,omitempty"`
}

// isoMillis is JavaScript's Date.prototype.toISOString layout, as the
// tutorial's producer writes timestamps.
const isoMillis = "2006-01-02T15:04:05.000Z07:00"

var (
	currencies = []string{"USD", "EUR", "GBP", "CAD", "AUD", "JPY"}
	sources    = []string{"checkout-api", "mobile-app", "pos", "partner-feed"}
)

// invalidKinds are the bad records the stream carries, in turn, with the
// DLQ reason the bridge must give each (transform's Reason constants).
var invalidKinds = []struct {
	what, reason string
	make         func(o order) []byte
}{
	{"not JSON (truncated)", "not_json", func(o order) []byte {
		b := mustJSON(o)
		return b[:len(b)/2]
	}},
	{"currency not three capital letters", "schema", func(o order) []byte {
		o.Currency = "usd"
		return mustJSON(o)
	}},
	{"required field customerId missing", "schema", func(o order) []byte {
		m := orderMap(o)
		delete(m, "customerId")
		return mustJSON(m)
	}},
	{"impossible date (February 30)", "schema", func(o order) []byte {
		o.Timestamp = "2024-02-30T10:15:00.000Z"
		return mustJSON(o)
	}},
	{"negative totalAmount", "schema", func(o order) []byte {
		o.TotalAmount = -o.TotalAmount - 1
		return mustJSON(o)
	}},
	{"JSON array, not an object", "not_object", func(o order) []byte {
		return mustJSON([]any{o.OrderID, o.CustomerID, o.TotalAmount})
	}},
	{"bad UTF-8 in customerId", "bad_utf8", func(o order) []byte {
		o.CustomerID = "CUST-@@"
		b := mustJSON(o)
		for i := 0; i+1 < len(b); i++ {
			if b[i] == '@' && b[i+1] == '@' {
				b[i], b[i+1] = 0xff, 0xfe
				break
			}
		}
		return b
	}},
	{"orderId does not match ^ORD-[0-9]{10}$", "schema", func(o order) []byte {
		o.OrderID = "ORD-" + o.OrderID[len(o.OrderID)-4:]
		return mustJSON(o)
	}},
	{"unknown field (additionalProperties: false)", "schema", func(o order) []byte {
		m := orderMap(o)
		m["discountCode"] = "SPRING24"
		return mustJSON(m)
	}},
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps, slices and order: cannot fail
	}
	return b
}

func orderMap(o order) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(mustJSON(o), &m); err != nil {
		panic(err)
	}
	return m
}

// counts splits records into the kinds of the stream.
type counts struct {
	valid, duplicates, invalid, tombstones int
}

func splitCounts(records int, invalidShare, duplicateShare float64) counts {
	var c counts
	if records >= 2 {
		c.tombstones = 1
	}
	left := records - c.tombstones - 1 // keep at least one valid order
	c.invalid = min(max(0, int(float64(records)*invalidShare+0.5)), left)
	left -= c.invalid
	c.duplicates = min(max(0, int(float64(records)*duplicateShare+0.5)), left)
	c.valid = records - c.tombstones - c.invalid - c.duplicates
	return c
}

// generate builds the sample stream: valid orders over keys customers,
// invalid records and duplicates spread through it, and one tombstone in
// the middle. Order ids are ORD- and 10 digits, unique per order, from a
// random base so that runs against an external endpoint do not collide.
func generate(o *Options, rng *rand.Rand, now time.Time) []*sample {
	c := splitCounts(o.Records, o.InvalidShare, o.DuplicateShare)
	kinds := make([]kind, 0, o.Records)
	for range c.valid {
		kinds = append(kinds, kindValid)
	}
	for range c.duplicates {
		kinds = append(kinds, kindDuplicate)
	}
	for range c.invalid {
		kinds = append(kinds, kindInvalid)
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	// A duplicate repeats an earlier order: start with a valid one.
	for i, k := range kinds {
		if k == kindValid {
			kinds[0], kinds[i] = kinds[i], kinds[0]
			break
		}
	}
	if c.tombstones > 0 {
		mid := max(1, len(kinds)/2)
		kinds = append(kinds[:mid], append([]kind{kindTombstone}, kinds[mid:]...)...)
	}

	const idSpace = 10_000_000_000
	base := rng.Int64N(idSpace - int64(o.Records) - 1)
	nextID := func() string {
		base++
		return fmt.Sprintf("ORD-%010d", base)
	}
	customer := func() string { return fmt.Sprintf("CUST-%06d", rng.IntN(o.Keys)) }
	newOrder := func(key string) order {
		return order{
			OrderID:     nextID(),
			CustomerID:  key,
			TotalAmount: float64(rng.IntN(500_000)+100) / 100,
			Currency:    currencies[rng.IntN(len(currencies))],
			Timestamp:   now.Add(-time.Duration(rng.IntN(3600)) * time.Second).UTC().Format(isoMillis),
			Metadata: map[string]any{
				"source":  sources[rng.IntN(len(sources))],
				"version": "2.1",
				"items":   rng.IntN(9) + 1,
			},
		}
	}

	out := make([]*sample, 0, len(kinds))
	var valid []*sample
	nInvalid := 0
	for seq, k := range kinds {
		s := &sample{seq: seq, kind: k, corrID: "demo-" + strconv.Itoa(seq)}
		switch k {
		case kindValid:
			s.key = customer()
			ord := newOrder(s.key)
			s.orderID, s.value = ord.OrderID, mustJSON(ord)
			valid = append(valid, s)
		case kindDuplicate:
			first := valid[rng.IntN(len(valid))]
			s.key, s.orderID, s.value = first.key, first.orderID, first.value
		case kindInvalid:
			s.key = customer()
			ord := newOrder(s.key)
			bad := invalidKinds[nInvalid%len(invalidKinds)]
			nInvalid++
			s.orderID, s.value, s.reason, s.what = ord.OrderID, bad.make(ord), bad.reason, bad.what
		case kindTombstone:
			s.key = customer()
		}
		out = append(out, s)
	}
	return out
}
