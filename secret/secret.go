// Package secret holds [Secret], a string that never prints itself. The
// bridge's credentials (the CXone client and access key secrets, the Kafka
// SASL password, AWS keys) are held as Secret values from the moment the
// configuration is loaded until the client that sends them, so that no log
// line, error or dump of a configuration can show one by accident.
//
// The package is a leaf: it imports only the standard library, so that the
// CXone client (package sink), the Kafka connection (package kafkaconn) and
// the configuration loader (package config) share the type without
// depending on one another.
package secret

import (
	"fmt"
	"io"
	"log/slog"
)

// Secret is a string that never prints itself: fmt (any verb, %v, %+v, %#v,
// %q, %x …), log/slog and encoding/json show [Redacted] instead, or nothing
// when it is empty. Use string(s) where the value is really needed (an
// HTTP header, a SASL exchange).
type Secret string

// Redacted is what a non-empty Secret prints.
const Redacted = "[redacted]"

// String implements [fmt.Stringer] and returns [Redacted] (or "" when
// empty).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString implements [fmt.GoStringer] for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.String()) }

// Format implements [fmt.Formatter] so that no verb (%d, %x, %q …) leaks
// the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.String())
		return
	}
	io.WriteString(f, s.String())
}

// LogValue implements [slog.LogValuer].
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON implements [encoding/json.Marshaler] and never emits the
// value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(fmt.Sprintf("%q", s.String())), nil }
