package transform

import (
	"context"
	"errors"
	"fmt"

	"github.com/cxone-bridge/bridge/registry"
)

// Decoder turns a record value or key written in a schema registry's wire
// format into JSON text, following one JSON mapping for every format
// (package registry's documentation). [registry.Decoder] implements it.
// Its errors are *registry.Error values: [registry.ErrUnavailable] when
// the registry cannot answer (not the record's fault), any other reason
// when the record is at fault.
type Decoder interface {
	Decode(ctx context.Context, format registry.Format, value []byte) ([]byte, registry.Info, error)
}

// Reasons of an InvalidError for records in a schema registry format;
// the same words as package registry's reasons.
const (
	ReasonUnknownSchema = registry.ReasonUnknownSchema // the registry has no schema of the record's id, or it does not compile
	ReasonBadWireFormat = registry.ReasonBadWireFormat // no valid wire header, or a schema of another type than the route's format
	ReasonDecodeError   = registry.ReasonDecode        // the bytes do not decode against their schema
)

// DefaultFormat is the default [Route.Format] and [Route.KeyFormat].
const DefaultFormat = string(registry.FormatJSON)

// parseFormats reads the route's Format and KeyFormat; a registry format
// needs a Decoder.
func (r *route) parseFormats(name string, dec Decoder) error {
	var err error
	if r.format, err = registry.ParseFormat(r.Format); err != nil {
		return fmt.Errorf("%s.format: %w", name, err)
	}
	if r.keyFormat, err = registry.ParseFormat(r.KeyFormat); err != nil {
		return fmt.Errorf("%s.key_format: %w", name, err)
	}
	if dec == nil && (r.format != registry.FormatJSON || r.keyFormat != registry.FormatJSON) {
		return fmt.Errorf("%s: format %s and key_format %s need a schema registry", name, r.format, r.keyFormat)
	}
	return nil
}

// decode returns a copy of rec whose value (and key) the route's formats
// turned into JSON. The value's size limit applies to the bytes as read,
// before decoding, and again to the JSON they become.
func (t *Transformer) decode(ctx context.Context, r *route, rec *Record) (*Record, *InvalidError, error) {
	out := *rec
	if r.format != registry.FormatJSON {
		if len(rec.Value) > r.maxValue {
			return nil, invalid(ReasonTooLarge, "value is %d bytes, over the limit of %d", len(rec.Value), r.maxValue), nil
		}
		v, ierr, err := t.decodeOne(ctx, r.format, rec.Value, "value")
		if ierr != nil || err != nil {
			return nil, ierr, err
		}
		out.Value = v
	}
	if r.keyFormat != registry.FormatJSON && len(rec.Key) > 0 {
		k, ierr, err := t.decodeOne(ctx, r.keyFormat, rec.Key, "key")
		if ierr != nil || err != nil {
			return nil, ierr, err
		}
		out.Key = keyText(k)
	}
	return &out, nil, nil
}

// decodeOne decodes one value or key, sorting the decoder's errors into
// the record's fault (an InvalidError) and the registry's (err).
func (t *Transformer) decodeOne(ctx context.Context, f registry.Format, b []byte, what string) ([]byte, *InvalidError, error) {
	j, _, err := t.dec.Decode(ctx, f, b)
	if err == nil {
		return j, nil, nil
	}
	var re *registry.Error
	if errors.As(err, &re) && re.Reason != registry.ReasonUnavailable {
		return nil, &InvalidError{Reason: re.Reason, Detail: what + ": " + re.Error()}, nil
	}
	return nil, nil, fmt.Errorf("decode %s: %w", what, err)
}

// keyText is the text a decoded key stands for in the {key} placeholder:
// a JSON string's content, else the JSON text itself (a number's digits,
// an object's compact JSON).
func keyText(j []byte) []byte {
	if len(j) >= 2 && j[0] == '"' {
		if v, err := decodeJSON(j); err == nil {
			if s, ok := v.(string); ok {
				return []byte(s)
			}
		}
	}
	return j
}

// ValueFormat is the value format of the route that topic's records take,
// [registry.FormatJSON] when no route matches.
func (t *Transformer) ValueFormat(topic string) registry.Format {
	if r := t.route(topic); r != noRoute {
		return r.format
	}
	return registry.FormatJSON
}
