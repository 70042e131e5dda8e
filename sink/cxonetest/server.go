package cxonetest

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// Server is a [Handler] listening on a loopback address.
type Server struct {
	*Handler
	// URL is the base URL, e.g. http://127.0.0.1:41234 (https:// for
	// NewTLSServer), without trailing slash.
	URL string
	// CACert is the PEM certificate of the authority that signed the
	// server's certificate (NewTLSServer only; nil for plain HTTP).
	CACert []byte
	// Listener is the server's listener.
	Listener net.Listener
	srv      *http.Server
}

// NewServer starts a server on 127.0.0.1 (or [::1]) on a free port. Like
// httptest.NewServer it panics if no loopback port can be had. The caller
// must Close it.
func NewServer(opts ...Option) *Server {
	s := newServer(opts...)
	go s.srv.Serve(s.Listener)
	return s
}

// newServer listens and builds the server without serving yet.
func newServer(opts ...Option) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if ln, err = net.Listen("tcp6", "[::1]:0"); err != nil {
			panic(fmt.Sprintf("cxonetest: failed to listen on a port: %v", err))
		}
	}
	h := NewHandler(opts...)
	s := &Server{
		Handler:  h,
		URL:      "http://" + ln.Addr().String(),
		Listener: ln,
		srv:      &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
	}
	return s
}

// Close closes the listener and every connection at once; requests in flight
// (for example sleeping a latency fault, or held by a Hang target) are
// cancelled.
func (s *Server) Close() { s.srv.Close() }

// URLWithHost returns the server's base URL with host in place of the
// loopback address (the port stays), e.g. https://cxone.test:41234.
func (s *Server) URLWithHost(host string) string {
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	scheme, _, _ := strings.Cut(s.URL, "://")
	return scheme + "://" + net.JoinHostPort(host, port)
}
