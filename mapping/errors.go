package mapping

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrCompile matches (with errors.Is) every *CompileError: the expression
// does not parse, does not type-check, or has a result of the wrong type.
// It is a configuration error, reported once at start-up.
var ErrCompile = errors.New("mapping expression does not compile")

// ErrEval matches (with errors.Is) every *EvalError: the expression failed
// on one record. The record is dead-lettered (reason "mapping_error").
var ErrEval = errors.New("mapping expression failed")

// ErrCostLimit matches (with errors.Is) the *EvalError of an evaluation
// stopped because it exceeded the expression's cost limit; that error also
// matches ErrEval.
var ErrCostLimit = errors.New("mapping expression exceeded its cost limit")

// CompileError is the first error found in an expression, with its
// position. Line and Column are 1-based and count within the expression
// text itself (Column in characters, that is Unicode code points, not
// bytes); a caller that read the expression from a YAML block scalar adds
// the scalar's own position.
type CompileError struct {
	Line, Column int
	// Message is CEL's message, on one line, for example
	// "undeclared reference to 'vaule'".
	Message string
	// Detail is CEL's full report: every error found, each with the
	// offending source line and a caret under the position. It spans
	// several lines; show it to a person, never in a single-line log field.
	Detail string
}

func (e *CompileError) Error() string {
	if e.Line <= 0 {
		return e.Message
	}
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Message)
}

// Is makes errors.Is(err, ErrCompile) true.
func (e *CompileError) Is(target error) bool { return target == ErrCompile }

// maxMessageBytes bounds an EvalError's message: CEL messages may quote
// map keys or values taken from the record, and error text must never
// carry more than a bounded excerpt of a record.
const maxMessageBytes = 256

// EvalError is the failure of one evaluation: a CEL run-time error (for
// example "no such key: customer", "division by zero", "no such overload"),
// the cost limit exceeded, or a result of the wrong type or without a JSON
// form. Message is at most a few hundred bytes long.
type EvalError struct {
	Message string

	costLimit bool
}

func (e *EvalError) Error() string { return e.Message }

// Is makes errors.Is(err, ErrEval) true, and errors.Is(err, ErrCostLimit)
// true when the cost limit stopped the evaluation.
func (e *EvalError) Is(target error) bool {
	return target == ErrEval || target == ErrCostLimit && e.costLimit
}

// evalErrorf returns an *EvalError with a bounded message.
func evalErrorf(format string, args ...any) *EvalError {
	return &EvalError{Message: truncate(fmt.Sprintf(format, args...), maxMessageBytes)}
}

// truncate returns s cut to at most n bytes at a rune boundary, with "…"
// appended when it was cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
