package sink

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"
)

// newPostRequest writes the very request http.NewRequestWithContext does,
// and its GetBody gives the body again, whole, after the body was read.
func TestNewPostRequestMatchesNewRequest(t *testing.T) {
	for _, body := range [][]byte{[]byte(`{"eventType":"OrderPlaced","data":{"orderId":"A-1"}}`), nil} {
		raw := "https://api.example.test:8443/incontactapi/services/v33.0/custom-events?x=1"
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{"Content-Type": {"application/json"}, "X-Idempotency-Key": {"k"}}
		got := newPostRequest(context.Background(), u, h, body)
		want, err := http.NewRequestWithContext(context.Background(), http.MethodPost, raw, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		want.Header = h.Clone()
		var gw, ww bytes.Buffer
		if err := got.Write(&gw); err != nil {
			t.Fatal(err)
		}
		if err := want.Write(&ww); err != nil {
			t.Fatal(err)
		}
		if gw.String() != ww.String() {
			t.Fatalf("request differs:\n got %q\nwant %q", gw.String(), ww.String())
		}
		again, err := got.GetBody()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(again)
		if !bytes.Equal(b, body) {
			t.Fatalf("GetBody gave %q, want %q", b, body)
		}
	}
}
