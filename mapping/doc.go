// Package mapping evaluates route expressions written in CEL, the Common
// Expression Language (https://cel.dev), that shape a Kafka record into a
// CXone event: a filter, the event type, the business key, the timestamp
// and the attributes.
//
// Compile parses, type-checks and plans an expression once; Eval runs it
// over one record, described by an Activation, and never compiles. An
// *Expr is safe for concurrent use; an Activation belongs to one goroutine
// and is reused from record to record.
//
// # Variables
//
// Every expression sees the same variables:
//
//   - value (dyn): the decoded record value, as transform's JSON decoder
//     produces it: objects are maps with string keys, arrays lists, and
//     numbers doubles (see Numbers below).
//   - key (string): the record key, "" when there is none.
//   - headers (map(string, string)): the record headers, names exactly as
//     written (case-sensitive, unlike the bridge's own header lookups); a
//     name that occurs more than once has its FIRST value.
//   - header_values (map(string, list(string))): every value of each
//     header name, in record order.
//   - topic (string), partition (int), offset (int).
//   - timestamp (google.protobuf.Timestamp, CEL's timestamp): the record's
//     timestamp.
//
// The key and header values are strings: byte sequences that are not
// valid UTF-8 are replaced by U+FFFD. Only the variables an expression
// reads are prepared for it (Expr.Vars lists them).
//
// # Kinds
//
// Each expression is compiled for a Kind, which fixes the type of its
// result: KindBool (filter) a bool; KindString (event type, business key)
// a string, which the caller checks for emptiness and format; KindTimestamp
// a timestamp, or a string in RFC 3339 (parsed as the bridge parses
// timestamp_field); KindMap (attributes) a map with string keys, returned
// as JSON. A result type the checker proves wrong is a compile error; a
// dyn result (anything read from value) is checked at run time.
//
// # Language
//
// The CEL standard library, macros included (has, all, exists,
// exists_one, map, filter), with these extension libraries of cel-go:
// optional types (value.?customer.?name.orValue("n/a"), and {?"k": v}
// entries that are left out when v is none), strings (lowerAscii, split,
// replace, format, ...), encoders (base64.encode/decode), math
// (math.greatest, math.round, ...), lists (slice, flatten, distinct,
// sort, lists.range), bindings (cel.bind, to name a sub-expression) and
// two-variable comprehensions (transformMap, transformList, all(k, v, ...)).
// The extension libraries are at the latest version of the cel-go release
// in go.mod: updating cel-go may add functions to them. The
// literal arguments of duration(), timestamp() and matches() are checked
// at compile time. Numbers of different types compare with < and >.
//
// # Numbers
//
// Every JSON number is a CEL double: 3 in a record is 3.0. Comparisons mix
// doubles and ints as expected (value.qty == 3, value.total > 100), but
// arithmetic does not: value.total / 100 fails on every record with "no
// such overload" (CEL never converts implicitly; the checker cannot tell,
// value being dyn). Write value.total / 100.0, or int(value.qty) * 2. And
// string() of a double uses the shortest form, with an exponent from 1e21
// and for some large values ("1.23456789e+08"): a numeric id becomes a
// string with string(int(value.id)).
//
// # Errors
//
// Compile returns a *CompileError (errors.Is ErrCompile) with the line and
// column, 1-based within the expression text, of the first problem, for
// example "line 2, column 15: undeclared reference to 'vaule'". Eval
// returns an *EvalError (errors.Is ErrEval) when the expression fails on a
// record: a missing map key ("no such key: customer"), a wrong type ("no
// such overload"), a division by zero, a result of the wrong type or
// without a JSON form, or the cost limit exceeded (then errors.Is
// ErrCostLimit too). The caller dead-letters such a record.
//
// # Cost
//
// Each evaluation tracks CEL's run-time cost and stops past the
// expression's limit, DefaultCostLimit unless WithCostLimit sets another:
// nested comprehensions over a large list, or an expression building huge
// strings or lists, fail on the record instead of stalling the bridge.
//
// # JSON
//
// A KindMap result becomes a JSON object, recursively, by these rules:
//
//   - a map with string keys is an object, keys sorted (byte order), so
//     that the same result always has the same bytes; a key that is not a
//     string is an error;
//   - a list is an array; a string a string (escaped as package jsontext
//     does); a bool a boolean; null null;
//   - a double is a number written as encoding/json writes it (shortest
//     form that reads back the same: 150.75 stays 150.75); NaN and the
//     infinities are errors;
//   - an int or uint is a number when its magnitude is at most 2^53, else
//     a string of its digits, so that no JSON reader rounds it (package
//     registry's rule);
//   - bytes are a string in standard base64, with padding;
//   - a timestamp is an RFC 3339 string in UTC with 3, 6 or 9 fractional
//     digits, the fewest that hold it exactly: "2024-01-02T03:04:05.000Z"
//     (package registry's rule); a year outside 0001–9999 is an error;
//   - a duration is a string as protojson writes it, with 0, 3, 6 or 9
//     fractional digits: "1.500s", "3s", "-0.000000001s";
//   - an optional value, a type, or anything else is an error: use
//     .orValue(x), or a {?"key": ...} entry to leave a key out.
//
// A money amount keeps its exact text when the record has it as a string;
// a double passes through unchanged, as the same shortest form.
package mapping
