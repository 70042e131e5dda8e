package sink

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadLimited: readLimited reads what io.LimitReader would let
// ReadFrom read, whatever the reader's chunking, and passes its errors on.
func TestReadLimited(t *testing.T) {
	for _, size := range []int{0, 1, 511, 512, 513, 4096, 70000} {
		for _, limit := range []int64{1, 100, 512, 1 << 16, 1 << 20} {
			src := strings.Repeat("x", size)
			var want bytes.Buffer
			wn, werr := want.ReadFrom(io.LimitReader(strings.NewReader(src), limit))
			for name, r := range map[string]io.Reader{
				"plain":   strings.NewReader(src),
				"onebyte": iotest.OneByteReader(strings.NewReader(src)),
				"half":    iotest.HalfReader(strings.NewReader(src)),
			} {
				var got bytes.Buffer
				got.WriteString("prefix")
				n, err := readLimited(&got, r, limit)
				if n != wn || err != werr || got.String() != "prefix"+want.String() {
					t.Fatalf("size %d limit %d %s: n %d err %v (%d bytes), want n %d err %v", size, limit, name, n, err, got.Len(), wn, werr)
				}
			}
		}
	}
	boom := errors.New("boom")
	var got bytes.Buffer
	if _, err := readLimited(&got, iotest.ErrReader(boom), 10); !errors.Is(err, boom) {
		t.Errorf("err %v, want boom", err)
	}
}
