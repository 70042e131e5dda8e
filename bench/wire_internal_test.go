package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The requests file bench-wire maps gives back every request byte for
// byte, and a truncated file is refused rather than read short.
func TestRequestsFileRoundTrip(t *testing.T) {
	reqs := []request{
		{key: "k1", corr: "c1", body: []byte(`{"a":1}`)},
		{key: "", corr: "", body: nil},
		{key: strings.Repeat("k", 300), corr: "é-ü", body: bytes.Repeat([]byte("x"), 70000)},
	}
	path := filepath.Join(t.TempDir(), "reqs")
	if err := writeRequests(path, reqs); err != nil {
		t.Fatal(err)
	}
	m, err := mapRequests(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	if m.len() != len(reqs) {
		t.Fatalf("%d requests mapped, want %d", m.len(), len(reqs))
	}
	for i, want := range reqs {
		got := m.at(i)
		if got.key != want.key || got.corr != want.corr || !bytes.Equal(got.body, want.body) {
			t.Errorf("request %d: got %q %q %d bytes, want %q %q %d bytes", i, got.key, got.corr, len(got.body), want.key, want.corr, len(want.body))
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	if m, err := mapRequests(path); err == nil {
		m.close()
		t.Fatal("a truncated requests file was mapped without an error")
	}
}
