package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
)

// Kind is what an expression is for, and so the type its result must have.
type Kind int

// The kinds of expression. The zero Kind is invalid.
const (
	// KindBool is a filter: the result is a bool.
	KindBool Kind = iota + 1
	// KindMap is an attributes expression: the result is a map with string
	// keys, which Eval returns as JSON bytes.
	KindMap
	// KindString is an event type or business key: the result is a string.
	// Whether it may be empty, and its format, are the caller's to check.
	KindString
	// KindTimestamp is an event timestamp: the result is a CEL timestamp,
	// or a string in RFC 3339, which Eval returns as a time.Time.
	KindTimestamp
)

func (k Kind) String() string {
	switch k {
	case KindBool:
		return "bool"
	case KindMap:
		return "map"
	case KindString:
		return "string"
	case KindTimestamp:
		return "timestamp"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// DefaultCostLimit is the cost limit of an evaluation unless WithCostLimit
// sets another. CEL's cost is an abstract count of operations: about one
// per variable access, field selection, comparison or arithmetic
// operation, one per ten bytes of strings compared, searched or joined,
// and one or more per element of the lists and maps built or traversed.
// The filter and attributes of the tutorial cost about 80 together;
// mapping each of 2,000 items of an array into a new map costs about
// 90,000. One unit takes 15 to 50 ns of CPU, so the default stops a
// runaway expression (nested comprehensions over a large list) after
// some 20 to 50 ms.
const DefaultCostLimit = 1_000_000

// maxResultDepth bounds the nesting of a KindMap result (a Go value handed
// in as Activation.Value might even be cyclic).
const maxResultDepth = 1000

// Option configures Compile.
type Option func(*options)

type options struct {
	costLimit uint64
}

// WithCostLimit sets the cost limit of each evaluation (see
// DefaultCostLimit); 0 means DefaultCostLimit. An evaluation that exceeds
// it stops with an *EvalError matching ErrCostLimit.
func WithCostLimit(n uint64) Option {
	return func(o *options) {
		if n > 0 {
			o.costLimit = n
		}
	}
}

// Names of the variables of every expression.
const (
	varValue        = "value"
	varKey          = "key"
	varHeaders      = "headers"
	varHeaderValues = "header_values"
	varTopic        = "topic"
	varPartition    = "partition"
	varOffset       = "offset"
	varTimestamp    = "timestamp"
)

// env is the one CEL environment of every expression: the variables, the
// standard library and the extension libraries of doc.go. Building it
// takes milliseconds, so it is built once; a *cel.Env is safe for
// concurrent use.
var env = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable(varValue, cel.DynType),
		cel.Variable(varKey, cel.StringType),
		cel.Variable(varHeaders, cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable(varHeaderValues, cel.MapType(cel.StringType, cel.ListType(cel.StringType))),
		cel.Variable(varTopic, cel.StringType),
		cel.Variable(varPartition, cel.IntType),
		cel.Variable(varOffset, cel.IntType),
		cel.Variable(varTimestamp, cel.TimestampType),

		// JSON numbers are doubles: let value.total > 100 compare a
		// double with an int instead of failing with "no such overload".
		cel.CrossTypeNumericComparisons(true),
		// getHours() and the like read UTC unless given a time zone.
		cel.DefaultUTCTimeZone(true),
		// Literal arguments of duration(), timestamp() and matches() are
		// checked at compile time, with their position.
		cel.ASTValidators(
			cel.ValidateDurationLiterals(),
			cel.ValidateTimestampLiterals(),
			cel.ValidateRegexLiterals(),
		),

		cel.OptionalTypes(),
		ext.Strings(),
		ext.Encoders(),
		ext.Math(),
		ext.Lists(),
		ext.Bindings(),
		ext.TwoVarComprehensions(),
	)
})

// compilations counts the calls of Compile, for the test that proves that
// Eval compiles nothing.
var compilations atomic.Int64

// Expr is a compiled expression. It is safe for concurrent use: each
// goroutine evaluates it with an Activation of its own.
type Expr struct {
	src       string
	kind      Kind
	prog      cel.Program
	costLimit uint64
	vars      []string
}

// Compile parses, type-checks and plans src, once, for expressions of kind
// kind. Every error is a *CompileError (matching ErrCompile) with the
// position of the first problem, except an invalid kind. A result type the
// checker proves wrong is a compile error (a filter that is a string
// literal, attributes that are a list); a result of type dyn (anything
// read from value) is checked by each evaluation.
func Compile(src string, kind Kind, opts ...Option) (*Expr, error) {
	compilations.Add(1)
	if kind < KindBool || kind > KindTimestamp {
		return nil, fmt.Errorf("mapping: invalid expression kind %d", int(kind))
	}
	o := options{costLimit: DefaultCostLimit}
	for _, opt := range opts {
		opt(&o)
	}
	e, err := env()
	if err != nil {
		return nil, fmt.Errorf("mapping: building the CEL environment: %w", err)
	}
	ast, iss := e.Compile(src)
	if iss.Err() != nil {
		return nil, compileError(iss)
	}
	if msg := checkResultType(ast.OutputType(), kind); msg != "" {
		line, col := startOf(src)
		return nil, &CompileError{Line: line, Column: col, Message: msg,
			Detail: fmt.Sprintf("line %d, column %d: %s", line, col, msg)}
	}
	// The run-time cost tracker about doubles the time of a cheap
	// expression. An expression whose worst case, every value as large as
	// a record may be, stays within the limit cannot exceed it: it runs
	// without the tracker. The others are tracked and stopped at the limit.
	popts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if est, err := e.EstimateCost(ast, inputSizes{}); err != nil || est.Max > o.costLimit {
		popts = append(popts, cel.CostLimit(o.costLimit))
	}
	prog, err := e.Program(ast, popts...)
	if err != nil {
		// The validators above catch the constant arguments that fail
		// planning (bad regular expressions); what is left has no position.
		return nil, &CompileError{Message: err.Error(), Detail: err.Error()}
	}
	return &Expr{src: src, kind: kind, prog: prog, costLimit: o.costLimit, vars: referencedVars(ast)}, nil
}

// compileError turns CEL's issues into a *CompileError on the error that
// comes first in the text.
func compileError(iss *cel.Issues) *CompileError {
	ce := &CompileError{Detail: iss.String()}
	var first *cel.Error
	for _, e := range iss.Errors() {
		if first == nil || before(e.Location, first.Location) {
			first = e
		}
	}
	if first == nil {
		ce.Message = iss.Err().Error()
		return ce
	}
	// The environment has no container: the suffix says nothing.
	ce.Message = strings.TrimSuffix(first.Message, " (in container '')")
	if loc := first.Location; loc != nil && loc.Line() > 0 {
		ce.Line, ce.Column = loc.Line(), loc.Column()+1
	}
	return ce
}

// before reports whether location a comes before b in the text; an error
// without a location comes after those with one.
func before(a, b common.Location) bool {
	switch {
	case a == nil || a.Line() <= 0:
		return false
	case b == nil || b.Line() <= 0:
		return true
	case a.Line() != b.Line():
		return a.Line() < b.Line()
	}
	return a.Column() < b.Column()
}

// checkResultType returns why an expression whose result has static type
// t cannot serve as kind, or "" when it can, or may (dyn).
func checkResultType(t *cel.Type, kind Kind) string {
	switch t.Kind() {
	case types.DynKind, types.AnyKind:
		return ""
	}
	var ok bool
	want := ""
	switch kind {
	case KindBool:
		ok, want = t.Kind() == types.BoolKind, "bool"
	case KindString:
		ok, want = t.Kind() == types.StringKind, "string"
	case KindTimestamp:
		ok, want = t.Kind() == types.TimestampKind || t.Kind() == types.StringKind, "timestamp or RFC 3339 string"
	case KindMap:
		want = "map with string keys"
		if t.Kind() == types.MapKind {
			switch t.Parameters()[0].Kind() {
			case types.StringKind, types.DynKind, types.AnyKind:
				ok = true
			}
		}
	}
	if ok {
		return ""
	}
	return fmt.Sprintf("result has type %s, want %s", t, want)
}

// startOf returns the 1-based line and column (in characters) of the
// first character of src that is neither blank nor in a comment: where the
// expression starts.
func startOf(src string) (line, col int) {
	line, col = 1, 1
	comment := false
	for _, r := range src {
		switch {
		case r == '\n':
			line, col, comment = line+1, 1, false
			continue
		case comment || r == ' ' || r == '\t' || r == '\r' || r == '\f':
		case r == '/':
			// The start of a "//" comment: an expression that parsed
			// cannot start with a '/'.
			comment = true
		default:
			return line, col
		}
		col++
	}
	return 1, 1
}

// referencedVars returns the names of the variables the checked ast reads,
// sorted. The checker's reference map also names comprehension variables,
// so one that shadows a variable counts as a read of it: the list may be a
// superset, never a subset.
func referencedVars(ast *cel.Ast) []string {
	var vars []string
	for _, r := range ast.NativeRep().ReferenceMap() {
		if len(r.OverloadIDs) > 0 || r.Value != nil {
			continue
		}
		switch r.Name {
		case varValue, varKey, varHeaders, varHeaderValues, varTopic, varPartition, varOffset, varTimestamp:
			if !slices.Contains(vars, r.Name) {
				vars = append(vars, r.Name)
			}
		}
	}
	slices.Sort(vars)
	return vars
}

// Source returns the expression text as given to Compile.
func (x *Expr) Source() string { return x.src }

// Kind returns the kind the expression was compiled for.
func (x *Expr) Kind() Kind { return x.kind }

// Vars returns the names of the variables the expression reads, sorted:
// a subset of "header_values", "headers", "key", "offset", "partition",
// "timestamp", "topic" and "value" (a comprehension variable of the same
// name counts as a read). A caller may skip preparing what no expression
// of a route reads (decoding the key, for one).
func (x *Expr) Vars() []string { return slices.Clone(x.vars) }

// Eval evaluates the expression over the record in act and returns its
// result: a bool for KindBool, a string for KindString, a time.Time (UTC)
// for KindTimestamp, and for KindMap the JSON object as new []byte, keys
// sorted (doc.go lists the JSON rules). act nil is a record with every
// field zero. Every error is an *EvalError (matching ErrEval); Eval never
// panics. Eval compiles nothing.
func (x *Expr) Eval(act *Activation) (any, error) {
	if act == nil {
		act = new(Activation)
	}
	if x.kind == KindMap {
		// Written into the activation's buffer, then copied once at its
		// final size.
		b, err := x.AppendJSON(act.jsonWriter.buf[:0], act)
		if err != nil {
			return nil, err
		}
		act.jsonWriter.buf = b[:0]
		return bytes.Clone(b), nil
	}
	val, err := x.eval(act)
	if err != nil {
		return nil, err
	}
	switch x.kind {
	case KindBool:
		if b, ok := val.(types.Bool); ok {
			return bool(b), nil
		}
	case KindString:
		if s, ok := val.(types.String); ok {
			return string(s), nil
		}
	case KindTimestamp:
		switch v := val.(type) {
		case types.Timestamp:
			return v.Time.UTC(), nil
		case types.String:
			// The same parser as the bridge's timestamp_field.
			t, err := time.Parse(time.RFC3339Nano, string(v))
			if err != nil {
				return nil, evalErrorf("result is not an RFC 3339 date-time: %q", truncate(string(v), 64))
			}
			return t.UTC(), nil
		}
	}
	return nil, wrongResult(val, x.kind)
}

// AppendJSON evaluates a KindMap expression over the record in act and
// appends the resulting JSON object to dst, keys sorted (doc.go lists the
// JSON rules), for a caller that writes it straight into a request body.
// On error it returns dst unchanged and an *EvalError (matching ErrEval).
// act nil is a record with every field zero. It never panics.
func (x *Expr) AppendJSON(dst []byte, act *Activation) (out []byte, err error) {
	if x.kind != KindMap {
		return dst, evalErrorf("AppendJSON on a %s expression, want map", x.kind)
	}
	if act == nil {
		act = new(Activation)
	}
	val, err := x.eval(act)
	if err != nil {
		return dst, err
	}
	m, ok := val.(traits.Mapper)
	if !ok {
		return dst, wrongResult(val, x.kind)
	}
	defer func() {
		// The conversion only reads CEL values, but those values run
		// cel-go's code (iterators, Get on maps of any kind): a panic in
		// there is the record's failure, not the bridge's.
		if r := recover(); r != nil {
			out, err = dst, evalErrorf("internal error converting the result to JSON: %v", r)
		}
	}()
	w := act.writer()
	n := len(dst)
	out, jerr := w.appendMap(dst, m, 0)
	if jerr != nil {
		return dst[:n], evalErrorf("result has no JSON form: %s", jerr)
	}
	return out, nil
}

// eval runs the program, turning every failure into an *EvalError.
func (x *Expr) eval(act *Activation) (val ref.Val, err error) {
	defer func() {
		// cel.Program.Eval recovers its own panics, but the activation's
		// code and the type adapter run inside it on arbitrary Go values,
		// and cel-go has had panics on odd inputs before: a panic here is
		// this record's failure, never the process's.
		if r := recover(); r != nil {
			val, err = nil, evalErrorf("internal error evaluating the expression: %v", r)
		}
	}()
	act.begin()
	val, _, err = x.prog.Eval(act)
	if err != nil {
		var cancelled interpreter.EvalCancelledError
		if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
			return nil, &EvalError{Message: fmt.Sprintf("cost limit %d exceeded", x.costLimit), costLimit: true}
		}
		return nil, evalErrorf("%s", err.Error())
	}
	return val, nil
}

// wrongResult is the error of a result of another type than kind needs.
func wrongResult(val ref.Val, kind Kind) *EvalError {
	want := kind.String()
	switch kind {
	case KindTimestamp:
		want = "timestamp or RFC 3339 string"
	case KindMap:
		want = "map with string keys"
	}
	return evalErrorf("result has type %s, want %s", typeName(val), want)
}

// typeName returns the CEL type name of v.
func typeName(v ref.Val) string {
	if v == nil {
		return "<nil>"
	}
	return v.Type().TypeName()
}

// maxInputBytes bounds the size of anything an expression reads: no record
// value is larger than the largest routes[].max_value_bytes (64 MiB).
const maxInputBytes = 64 << 20

// inputSizes is the cost estimator of [Compile]: every value may be as
// large as a record can be; calls cost what CEL's own model says.
type inputSizes struct{}

func (inputSizes) EstimateSize(cost.AstNode) *cost.SizeEstimate {
	return &cost.SizeEstimate{Min: 0, Max: maxInputBytes}
}

func (inputSizes) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}
