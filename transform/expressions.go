package transform

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/cxone-bridge/bridge/mapping"
	"github.com/cxone-bridge/bridge/registry"
)

// ReasonMapping is the reason of an InvalidError for a record on which a
// route's expression failed: a missing field, a wrong type, a division by
// zero, the cost limit, or a result of the wrong kind (attributes that are
// not a map, a business key that is not a non-empty string, an event type
// that is not a valid name).
const ReasonMapping = "mapping_error"

// ReasonFiltered is the reason of a SkipError for a record whose topic
// has routes but none whose filter holds.
const ReasonFiltered = "filtered"

// exprs are a route's compiled expressions; nil where the route has none.
type exprs struct {
	filter, attributes, eventType, businessKey, timestamp *mapping.Expr
	headers                                               bool // some expression reads the headers
}

func (x *exprs) any() bool {
	return x.filter != nil || x.attributes != nil || x.eventType != nil || x.businessKey != nil || x.timestamp != nil
}

// compileExprs compiles the route's expressions once, at start. An error
// names the route and the key, and (a *mapping.CompileError) the line and
// column within the expression.
func (r *route) compileExprs(name string) error {
	var errs []error
	compile := func(key, src string, kind mapping.Kind) *mapping.Expr {
		if src == "" {
			return nil
		}
		x, err := mapping.Compile(src, kind, mapping.WithCostLimit(r.CostLimit))
		if err != nil {
			errs = append(errs, &ExprError{Route: name, Key: key, Err: err})
			return nil
		}
		return x
	}
	r.x.filter = compile("filter", r.Filter, mapping.KindBool)
	r.x.attributes = compile("attributes", r.Attributes, mapping.KindMap)
	r.x.eventType = compile("event_type_expr", r.EventTypeExpr, mapping.KindString)
	r.x.businessKey = compile("business_key_expr", r.BusinessKeyExpr, mapping.KindString)
	r.x.timestamp = compile("timestamp_expr", r.TimestampExpr, mapping.KindTimestamp)
	for _, x := range []*mapping.Expr{r.x.filter, r.x.attributes, r.x.eventType, r.x.businessKey, r.x.timestamp} {
		if x != nil {
			for _, v := range x.Vars() {
				r.x.headers = r.x.headers || v == "headers" || v == "header_values"
			}
		}
	}
	return errors.Join(errs...)
}

// ExprError is an expression of a route that does not compile. Err is
// the *mapping.CompileError, with the line and column in the expression.
type ExprError struct {
	Route, Key string
	Err        error
}

func (e *ExprError) Error() string { return e.Route + "." + e.Key + ": " + e.Err.Error() }
func (e *ExprError) Unwrap() error { return e.Err }

// activations are reused across records: an Activation keeps the buffers
// of its key and header strings and of its JSON writer.
var activations = sync.Pool{New: func() any { return new(mapping.Activation) }}

// activation fills act for rec and its decoded value (the tree of the
// route's jsonDoc); the headers only when an expression of the route
// reads them. Its buffers stay.
func activation(act *mapping.Activation, rec *Record, value any, headers bool) {
	act.Value, act.Key, act.Topic, act.Partition, act.Offset, act.Timestamp = value, rec.Key, rec.Topic, rec.Partition, rec.Offset, rec.Timestamp
	act.Headers = act.Headers[:0]
	if headers {
		for _, h := range rec.Headers {
			act.Headers = append(act.Headers, mapping.Header{Key: h.Key, Value: h.Value})
		}
	}
}

// mappingError is the InvalidError of an expression that failed on a
// record.
func mappingError(route, key string, err error) *InvalidError {
	return invalid(ReasonMapping, "%s.%s: %v", route, key, err)
}

// evalString evaluates a string expression: a non-empty string, else the
// record's fault.
func evalString(x *mapping.Expr, act *mapping.Activation, route, key string) (string, *InvalidError) {
	v, err := x.Eval(act)
	if err != nil {
		return "", mappingError(route, key, err)
	}
	s, _ := v.(string)
	if s == "" {
		return "", invalid(ReasonMapping, "%s.%s: the expression gave an empty string", route, key)
	}
	return s, nil
}

// evalTimestamp evaluates a timestamp expression: the instant the body's
// timestamp names.
func evalTimestamp(x *mapping.Expr, act *mapping.Activation, route string) (time.Time, *InvalidError) {
	v, err := x.Eval(act)
	if err != nil {
		return time.Time{}, mappingError(route, "timestamp_expr", err)
	}
	ts, ok := v.(time.Time)
	if !ok {
		return time.Time{}, invalid(ReasonMapping, "%s.timestamp_expr: not a timestamp", route)
	}
	return ts, nil
}

// filterHolds evaluates the route's filter; a route without one matches
// every record of its topics.
func (r *route) filterHolds(act *mapping.Activation) (bool, *InvalidError) {
	if r.x.filter == nil {
		return true, nil
	}
	v, err := r.x.filter.Eval(act)
	if err != nil {
		return false, mappingError(r.name, "filter", err)
	}
	b, _ := v.(bool)
	return b, nil
}

// Explanation is one expression of a route evaluated on a record, for
// bridge dry-run --explain: Result is its value as text (a map as JSON, a
// string quoted), or Error why it failed.
type Explanation struct {
	Route  string `json:"route"`
	Key    string `json:"key"`
	Result string `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Explain evaluates the expressions of rec's routes as TransformContext
// would: each route's filter in order until one holds, then that route's
// other expressions, and reports every result. It builds no event; a
// record that is not valid JSON (or a tombstone) explains nothing.
func (t *Transformer) Explain(ctx context.Context, rec *Record) []Explanation {
	var out []Explanation
	if rec.Value == nil {
		return nil
	}
	act := new(mapping.Activation)
	doc := getDoc()
	defer doc.release()
	for _, r := range t.routesFor(rec.Topic) {
		in := rec
		if r.format != registry.FormatJSON || r.keyFormat != registry.FormatJSON {
			decoded, ierr, err := t.decode(ctx, r, rec)
			if ierr != nil || err != nil {
				return out
			}
			in = decoded
		}
		p, ierr := r.prepare(in, doc)
		if ierr != nil {
			return out
		}
		activation(act, in, p.doc.value(0), r.x.headers)
		explain := func(key string, x *mapping.Expr) (any, bool) {
			if x == nil {
				return nil, false
			}
			v, err := x.Eval(act)
			e := Explanation{Route: r.name, Key: key}
			switch res := v.(type) {
			case nil:
			case []byte:
				e.Result = string(res)
			case string:
				e.Result = strconv.Quote(res)
			case time.Time:
				e.Result = formatISO(res)
			default:
				e.Result = fmt.Sprint(res)
			}
			if err != nil {
				e.Error = err.Error()
			}
			out = append(out, e)
			return v, err == nil
		}
		if v, ok := explain("filter", r.x.filter); r.x.filter != nil && (!ok || v != true) {
			continue
		}
		explain("attributes", r.x.attributes)
		explain("event_type_expr", r.x.eventType)
		explain("business_key_expr", r.x.businessKey)
		explain("timestamp_expr", r.x.timestamp)
		break
	}
	return out
}
