package config

import "log/slog"

// Secret is a string that never prints itself. Its String, GoString,
// MarshalJSON, MarshalText and LogValue methods all yield "[redacted]" (or ""
// when empty), so a Secret can sit in structs that are logged or dumped
// without leaking. Use Reveal to get the value where it is really needed.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret value. Call it only where the value is sent to
// the party that needs it (an Authorization header, a SASL handshake).
func (s Secret) Reveal() string { return string(s) }

func (s Secret) mask() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String implements fmt.Stringer; it never returns the value.
func (s Secret) String() string { return s.mask() }

// GoString implements fmt.GoStringer so that %#v does not leak either.
func (s Secret) GoString() string { return `config.Secret("` + s.mask() + `")` }

// MarshalText implements encoding.TextMarshaler (used by JSON and YAML encoders).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.mask()), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.mask()) }
