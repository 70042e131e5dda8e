package cxonetest

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// MaxErrorBodyBytes bounds [Faults.ErrorBodyBytes].
const MaxErrorBodyBytes = 64 << 20

// maxEchoedBody bounds the request body an error answer echoes.
const maxEchoedBody = 1 << 20

// hostile is the part of the faults that shapes error answers
// (Faults.EchoRequests, ErrorBodyBytes, TokenErrorHTML).
type hostile struct {
	echo bool
	html bool // token endpoint only
	pad  int
}

func (f *Faults) hostile() hostile {
	return hostile{echo: f.EchoRequests, html: f.TokenErrorHTML, pad: f.ErrorBodyBytes}
}

// shapesJSON reports whether a JSON error answer is changed at all.
func (hf hostile) shapesJSON() bool { return hf.echo || hf.pad > 0 }

// hostileEvents writes an error answer shaped by the hostile faults
// (echo, padding) and reports whether it did; with none set it writes
// nothing.
func (h *Handler) hostileEvents(w http.ResponseWriter, r *http.Request, a answer) bool {
	h.mu.Lock()
	hf := h.faults.hostile()
	h.mu.Unlock()
	if !hf.shapesJSON() {
		return false
	}
	var echo *echoedRequest
	if hf.echo {
		body := a.reqBody
		if body == nil {
			body = readEchoBody(r) // answered before the body was read
		}
		echo = echoOf(r, body)
	}
	writeRaw(w, a.status, "application/json", hostileJSON(a.body, echo, hf.pad))
	return true
}

// echoedRequest is a request as an error answer echoes it: everything,
// the credentials included, as a misbehaving gateway would.
type echoedRequest struct {
	Method  string      `json:"method"`
	URL     string      `json:"url"`
	Host    string      `json:"host"`
	Headers http.Header `json:"headers"`
	Body    string      `json:"body"`
}

func echoOf(r *http.Request, body []byte) *echoedRequest {
	return &echoedRequest{Method: r.Method, URL: r.URL.RequestURI(), Host: r.Host, Headers: r.Header.Clone(), Body: string(body)}
}

// readEchoBody reads what is left of r's body, for an echo.
func readEchoBody(r *http.Request) []byte {
	b, _ := io.ReadAll(io.LimitReader(r.Body, maxEchoedBody))
	return b
}

// hostileJSON renders a JSON error answer: the echoed request first (when
// echo is set), then the members of the usual answer body, then padding
// up to pad bytes.
func hostileJSON(body any, echo *echoedRequest, pad int) []byte {
	orig, err := json.Marshal(body)
	if err != nil || len(orig) < 2 || orig[0] != '{' {
		orig = []byte(`{"error":"internal"}`)
	}
	var b bytes.Buffer
	b.WriteByte('{')
	if echo != nil {
		e, _ := json.Marshal(echo)
		b.WriteString(`"request":`)
		b.Write(e)
		if len(orig) > 2 {
			b.WriteByte(',')
		}
	}
	b.Write(orig[1 : len(orig)-1])
	if n := pad - b.Len() - len(`,"padding":""}`) - 1; n > 0 {
		b.WriteString(`,"padding":"`)
		b.Write(bytes.Repeat([]byte("x"), n))
		b.WriteByte('"')
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// hostileHTML renders a gateway's HTML error page for status, showing the
// echoed request (when there is one) as the raw HTTP text, HTML-escaped,
// and padded with a comment up to pad bytes.
func hostileHTML(status int, echo *echoedRequest, pad int) []byte {
	title := strconv.Itoa(status) + " " + http.StatusText(status)
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html><head><title>" + html.EscapeString(title) + "</title></head>\n<body>\n<h1>" +
		html.EscapeString(title) + "</h1>\n<p>The gateway could not complete your request.</p>\n")
	if echo != nil {
		var req strings.Builder
		req.WriteString(echo.Method + " " + echo.URL + " HTTP/1.1\r\nHost: " + echo.Host + "\r\n")
		names := make([]string, 0, len(echo.Headers))
		for k := range echo.Headers {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			for _, v := range echo.Headers[k] {
				req.WriteString(k + ": " + v + "\r\n")
			}
		}
		req.WriteString("\r\n" + echo.Body)
		b.WriteString("<h2>Your request</h2>\n<pre>" + html.EscapeString(req.String()) + "</pre>\n")
	}
	const end = "</body></html>\n"
	if n := pad - b.Len() - len("<!--  -->\n") - len(end); n > 0 {
		b.WriteString("<!-- ")
		b.Write(bytes.Repeat([]byte("x"), n))
		b.WriteString(" -->\n")
	}
	b.WriteString(end)
	return b.Bytes()
}

func writeRaw(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
