package pipeline

import (
	"errors"
	"testing"
)

// TestConsumerErrorPrefixOnce: an error of the consumer says "consumer: "
// once, whether the consumer wrote the prefix or not.
func TestConsumerErrorPrefixOnce(t *testing.T) {
	closed := errors.New("consumer: client closed")
	commit := errors.New("commit orders[0]: NOT_COORDINATOR")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{closed, "consumer: client closed"},
		{commit, "consumer: commit orders[0]: NOT_COORDINATOR"},
	} {
		got := consumerError(tc.err)
		if got.Error() != tc.want {
			t.Errorf("consumerError(%q) = %q, want %q", tc.err, got, tc.want)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("consumerError(%q) does not wrap it", tc.err)
		}
	}
}

// TestNilLoggerBuiltOnce: a Handler without a Logger does not build a
// logger per line.
func TestNilLoggerBuiltOnce(t *testing.T) {
	h := &Handler{}
	if a, b := h.log(), h.log(); a != b || a != discard {
		t.Error("a nil Logger builds a new discard logger per call")
	}
}
