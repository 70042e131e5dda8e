package secret_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/cxone-bridge/bridge/secret"
)

const value = "s3cr3t-Value-42"

// TestNeverPrinted: no way of printing a Secret, alone or inside a struct,
// shows its value.
func TestNeverPrinted(t *testing.T) {
	s := secret.Secret(value)
	holder := struct {
		Name     string
		Password secret.Secret
		Ptr      *secret.Secret
	}{"user", s, &s}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%-10v"} {
		out = append(out, fmt.Sprintf(verb, s), fmt.Sprintf(verb, holder))
	}
	out = append(out, fmt.Sprint(s), fmt.Sprintln(s), s.String(), s.GoString())
	j, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(j))
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		slog.New(h).Info("x", "secret", s, "holder", holder, slog.Any("ptr", &s))
	}
	out = append(out, logs.String())
	for _, o := range out {
		if strings.Contains(o, value) || strings.Contains(o, fmt.Sprintf("%x", value)) {
			t.Errorf("the secret leaked: %s", o)
		}
	}
	if got := fmt.Sprint(s); got != secret.Redacted {
		t.Errorf("Sprint = %q, want %q", got, secret.Redacted)
	}
	if got := fmt.Sprintf("%q", s); got != `"[redacted]"` {
		t.Errorf("%%q = %s", got)
	}
	if string(j) != `{"Name":"user","Password":"[redacted]","Ptr":"[redacted]"}` {
		t.Errorf("JSON = %s", j)
	}
	if string(s) != value {
		t.Error("string(s) must give the value")
	}
}

// TestEmpty: an empty Secret prints as nothing, so that an unset secret
// is not mistaken for a set one.
func TestEmpty(t *testing.T) {
	var s secret.Secret
	if got := fmt.Sprintf("%v|%s|%q|%#v", s, s, s, s); got != `||""|` {
		t.Errorf("empty secret printed %s", got)
	}
	j, _ := json.Marshal(s)
	if string(j) != `""` {
		t.Errorf("JSON = %s", j)
	}
}
