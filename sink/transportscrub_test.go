package sink_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/sink"
)

// A broken gateway that reflects the request's headers into its answer's
// header block, prefixing each with "Echo " (a space in a field name): the
// transport's error quotes the bad line, bearer token included, and that
// text reached the error (and the Warn lines that print it) unscrubbed.
func TestTransportErrorTextIsScrubbed(t *testing.T) {
	const token = "tok-SECRET-abcdefghijklmnop"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				r := bufio.NewReader(c)
				req, err := http.ReadRequest(r)
				if err != nil {
					return
				}
				if req.URL.Path == "/oauth/token" {
					body := `{"access_token":"` + token + `","token_type":"bearer","expires_in":3600}`
					c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
						strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body))
					return
				}
				c.Write([]byte("HTTP/1.1 502 Bad Gateway\r\nEcho-Authorization " + req.Header.Get("Authorization") + "\r\n\r\n"))
			}(c)
		}
	}()
	cfg := testConfig("http://" + ln.Addr().String())
	cfg.AllowInsecureHTTP = true
	cfg.Retry.MaxAttempts = 1
	p := newPublisher(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = p.Publish(ctx, orderEvent(uniqueKey(), "c"))
	if err == nil {
		t.Fatal("published through a broken gateway")
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("the bearer token is in the error text: %v", err)
	}
	if !errors.Is(err, sink.ErrTransient) || !strings.Contains(err.Error(), "malformed MIME header") {
		t.Errorf("error %v: want a transient transport error that still says what broke", err)
	}
}
