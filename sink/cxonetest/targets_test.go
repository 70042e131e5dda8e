package cxonetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxone-bridge/bridge/poll"
)

// ---- helpers for targeted faults: any transport, and requests in flight ----

// eventBody is a valid event of type eventType whose orderId is orderID.
func eventBody(corr, eventType, orderID string) string {
	return fmt.Sprintf(`{"eventType":%q,"attributes":{"orderId":%q,"_correlationId":%q,"_publishedAt":"2026-01-02T03:04:05.678Z"},"timestamp":"2026-01-02T03:04:05Z"}`,
		eventType, orderID, corr)
}

// clientFor returns an HTTP client of its own for s (trusting its CA for
// NewTLSServer, which it then reaches over HTTP/2).
func clientFor(t *testing.T, s *Server) *http.Client {
	t.Helper()
	tr := &http.Transport{ForceAttemptHTTP2: true}
	if s.CACert != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(s.CACert) {
			t.Fatal("CACert is not PEM")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func tokenVia(t *testing.T, hc *http.Client, s *Server) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {WriteScope}}
	req, _ := http.NewRequest(http.MethodPost, s.URL+TokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(DefaultClientID, DefaultClientSecret)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("token: %d %v %v", resp.StatusCode, m, err)
	}
	return m["access_token"].(string)
}

// result is the outcome of an events request sent by postAsync.
type result struct {
	status int
	header http.Header
	close  bool // the server asked to close the connection
	proto  int
	body   map[string]any
	err    error
}

// postAsync sends an event on a goroutine of its own; the outcome arrives on
// the channel (buffered: the goroutine never blocks on it).
func postAsync(ctx context.Context, hc *http.Client, s *Server, tok, key, corr, body string) <-chan result {
	c := make(chan result, 1)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+EventsPath, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Idempotency-Key", key)
	req.Header.Set("X-Correlation-Id", corr)
	go func() {
		resp, err := hc.Do(req)
		if err != nil {
			c <- result{err: err}
			return
		}
		defer resp.Body.Close()
		r := result{status: resp.StatusCode, header: resp.Header, close: resp.Close, proto: resp.ProtoMajor}
		b, err := io.ReadAll(resp.Body)
		if err == nil {
			err = json.Unmarshal(b, &r.body)
		}
		r.err = err
		c <- r
	}()
	return c
}

// await returns the outcome of a postAsync, failing the test if it takes long.
func await(t *testing.T, c <-chan result) result {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no answer")
		return result{}
	}
}

// post sends an event and waits for its answer.
func post(t *testing.T, hc *http.Client, s *Server, tok, key, corr, body string) result {
	t.Helper()
	r := await(t, postAsync(context.Background(), hc, s, tok, key, corr, body))
	if r.err != nil {
		t.Fatalf("%s: %v", key, r.err)
	}
	return r
}

// stillHeld fails the test if the held request has been answered.
func stillHeld(t *testing.T, c <-chan result, when string) {
	t.Helper()
	select {
	case r := <-c:
		t.Fatalf("%s: the held request was answered: %+v", when, r)
	default:
	}
}

// ---- status targets ----

// TestTargetStatus: a status target answers only the events it matches; the
// others are accepted; a matched event is not ingested.
func TestTargetStatus(t *testing.T) {
	type ev struct {
		key, eventType, orderID string
		want                    int
	}
	tests := []struct {
		name    string
		targets []Target
		events  []ev
	}{
		{"body substring, default 503", []Target{{BodyContains: `"orderId":"POISON"`}}, []ev{
			{"k1", "OrderCreated", "ORD-1", 202},
			{"k2", "OrderCreated", "POISON", 503},
			{"k3", "OrderCreated", "POISONED", 202}, // the quote closes the match
			{"k4", "OrderUpdated", "ORD-4", 202},
		}},
		{"event type, exactly", []Target{{EventType: "OrderCancelled", Status: 500}}, []ev{
			{"k1", "OrderCreated", "ORD-1", 202},
			{"k2", "OrderCancelled", "ORD-2", 500},
			{"k3", "OrderCancelledLate", "ORD-3", 202},
			{"k4", "OrderCancelled", "ORD-4", 500},
		}},
		{"idempotency key, exactly", []Target{{IdempotencyKey: "k2", Status: 400}}, []ev{
			{"k1", "OrderCreated", "ORD-1", 202},
			{"k2", "OrderCreated", "ORD-2", 400},
			{"k22", "OrderCreated", "ORD-2", 202},
		}},
		{"every matcher set must match", []Target{{EventType: "OrderCreated", BodyContains: "POISON", Status: 502}}, []ev{
			{"k1", "OrderCreated", "GOOD", 202},
			{"k2", "OrderUpdated", "POISON", 202},
			{"k3", "OrderCreated", "POISON", 502},
		}},
		{"the first matching target applies", []Target{
			{BodyContains: "POISON", Status: 500},
			{EventType: "OrderUpdated", Status: 502},
		}, []ev{
			{"k1", "OrderUpdated", "POISON", 500},
			{"k2", "OrderUpdated", "ORD-2", 502},
			{"k3", "OrderCreated", "ORD-3", 202},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, WithFaults(Faults{Targets: tt.targets}))
			hc := clientFor(t, s)
			tok := tokenVia(t, hc, s)
			var accepted, failed []string
			for _, e := range tt.events {
				r := post(t, hc, s, tok, e.key, "c-"+e.key, eventBody("c-"+e.key, e.eventType, e.orderID))
				if r.status != e.want {
					t.Fatalf("%s: status %d, want %d: %v", e.key, r.status, e.want, r.body)
				}
				arr := s.Arrivals(e.key)
				if len(arr) != 1 || arr[0].Status != e.want || arr[0].Hung {
					t.Errorf("%s: arrivals %+v", e.key, arr)
				}
				if e.want == 202 {
					accepted = append(accepted, e.key)
					continue
				}
				failed = append(failed, e.key)
				if r.body["error"] != statusCode(e.want) || r.body["message"] != "fault injected (target)" {
					t.Errorf("%s: body %v", e.key, r.body)
				}
				if ra := r.header.Get("Retry-After"); ra != "" {
					t.Errorf("%s: Retry-After %q without Faults.RetryAfter", e.key, ra)
				}
			}
			n := int64(len(failed))
			if st := s.Stats(); st.Requests != int64(len(tt.events)) || st.Accepted != int64(len(accepted)) ||
				st.Faults != n || st.Targeted != n || st.Hung != 0 || st.Duplicates != 0 {
				t.Errorf("stats %+v", st)
			}
			var recorded []string
			for _, e := range s.Events() {
				recorded = append(recorded, e.IdempotencyKey)
			}
			if !slices.Equal(recorded, accepted) {
				t.Errorf("recorded %v, want %v", recorded, accepted)
			}
			// The failed keys were not marked as ingested: without the
			// targets they are accepted, not answered as duplicates.
			if err := s.SetFaults(Faults{}); err != nil {
				t.Fatal(err)
			}
			for _, e := range tt.events {
				if e.want == 202 {
					continue
				}
				if r := post(t, hc, s, tok, e.key, "c-"+e.key, eventBody("c-"+e.key, e.eventType, e.orderID)); r.status != 202 {
					t.Errorf("%s after the targets were lifted: %d %v", e.key, r.status, r.body)
				}
			}
		})
	}
}

// TestTargetRetryAfter: 429 and 503 targets carry Retry-After as the other
// injected faults do, and a 429 target opens the client's 429 window.
func TestTargetRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter time.Duration
		wantHeader string
		wantWindow bool // a 429 window is recorded
		nextStatus int  // the answer to the client's next (unmatched) request; 0: not checked
	}{
		{"429 with RetryAfter", 429, 30 * time.Second, "30", true, 429},
		{"429 default 1s", 429, 0, "1", true, 0}, // the window may end before the next request
		{"429 without header", 429, -time.Second, "", false, 202},
		{"503 with RetryAfter", 503, 3 * time.Second, "3", false, 202},
		{"503 without RetryAfter", 503, 0, "", false, 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t, WithEarlyGrace(time.Hour), WithFaults(Faults{
				RetryAfter: Duration(tt.retryAfter),
				Targets:    []Target{{IdempotencyKey: "k-bad", Status: tt.status}},
			}))
			hc := clientFor(t, s)
			tok := tokenVia(t, hc, s)
			r := post(t, hc, s, tok, "k-bad", "c1", validBodyFor("c1"))
			if r.status != tt.status || r.header.Get("Retry-After") != tt.wantHeader {
				t.Fatalf("status %d Retry-After %q, want %d %q", r.status, r.header.Get("Retry-After"), tt.status, tt.wantHeader)
			}
			if rls := s.RateLimits(); tt.wantWindow != (len(rls) == 1) || tt.wantWindow && rls[0].ClientID != DefaultClientID {
				t.Errorf("rate limits %+v", rls)
			}
			if tt.nextStatus != 0 {
				if next := post(t, hc, s, tok, "k-good", "c2", validBodyFor("c2")); next.status != tt.nextStatus {
					t.Errorf("next request of the client: %d, want %d", next.status, tt.nextStatus)
				}
			}
			st := s.Stats()
			if st.Targeted != 1 || (tt.status == 429) != (st.RateLimited > 0) || (tt.status == 503) != (st.Faults == 1) {
				t.Errorf("stats %+v", st)
			}
			if tt.nextStatus == 429 {
				// Another process (token) of the client is not bound by it.
				other := tokenVia(t, hc, s)
				if r := post(t, hc, s, other, "k-good", "c2", validBodyFor("c2")); r.status != 202 {
					t.Errorf("another token: %d", r.status)
				}
			}
		})
	}
}

func TestTargetValidation(t *testing.T) {
	tests := []struct {
		name    string
		targets []Target
		want    []string // substrings of the error; none: valid
	}{
		{"valid", []Target{{BodyContains: "x"}, {EventType: "T", Status: 429}, {IdempotencyKey: "k", Hang: true}}, nil},
		{"no matcher", []Target{{EventType: "T"}, {Status: 500}}, []string{"targets[1]", "no matcher"}},
		{"hang only", []Target{{Hang: true}}, []string{"targets[0]", "no matcher"}},
		{"status too low", []Target{{EventType: "T", Status: 99}}, []string{"targets[0]", "bad status 99"}},
		{"status too high", []Target{{EventType: "T", Status: 600}}, []string{"targets[0]", "bad status 600"}},
		{"negative status", []Target{{EventType: "T", Status: -1}}, []string{"targets[0]", "bad status -1"}},
		{"hang and status", []Target{{BodyContains: "x"}, {BodyContains: "x"}, {EventType: "T", Hang: true, Status: 503}},
			[]string{"targets[2]", "hang and status"}},
		{"several", []Target{{}, {EventType: "T", Status: 1000, Hang: true}},
			[]string{"targets[0]: no matcher", "targets[1]: bad status 1000", "targets[1]: hang and status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHandler()
			err := h.SetFaults(Faults{Targets: tt.targets})
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if got := h.Faults().Targets; !slices.Equal(got, tt.targets) {
					t.Errorf("targets %+v", got)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if got := h.Faults().Targets; got != nil {
				t.Errorf("rejected targets were set: %+v", got)
			}
		})
	}
}

// TestTargetAdminAPI: PUT/POST /_sim/faults take a targets list that
// replaces the current one ([] and null clear it); GET shows it.
func TestTargetAdminAPI(t *testing.T) {
	s := newTestServer(t)
	hc := clientFor(t, s)
	tok := tokenVia(t, hc, s)
	send := func(method, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+"/_sim/faults", strings.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	get := func() (Faults, string) {
		t.Helper()
		st, body := send(http.MethodGet, "")
		var f Faults
		if err := json.Unmarshal([]byte(body), &f); st != 200 || err != nil {
			t.Fatalf("GET: %d %s %v", st, body, err)
		}
		return f, body
	}

	const two = `{"targets":[{"body_contains":"POISON","status":500},{"idempotency_key":"k-stuck","hang":true}]}`
	if st, body := send(http.MethodPut, two); st != 200 {
		t.Fatalf("PUT: %d %s", st, body)
	}
	want := []Target{{BodyContains: "POISON", Status: 500}, {IdempotencyKey: "k-stuck", Hang: true}}
	f, body := get()
	if !slices.Equal(f.Targets, want) || !strings.Contains(body, two[1:len(two)-1]) {
		t.Errorf("GET after PUT: %s", body)
	}
	if r := post(t, hc, s, tok, "k1", "c1", eventBody("c1", "OrderCreated", "POISON")); r.status != 500 {
		t.Errorf("poison event: %d", r.status)
	}
	if r := post(t, hc, s, tok, "k2", "c2", eventBody("c2", "OrderCreated", "ORD-2")); r.status != 202 {
		t.Errorf("healthy event: %d", r.status)
	}

	// Other members leave the targets as they are.
	if st, body := send(http.MethodPost, `{"latency":"1ms"}`); st != 200 {
		t.Fatalf("POST: %d %s", st, body)
	}
	if f, body := get(); !slices.Equal(f.Targets, want) || f.Latency != Duration(time.Millisecond) {
		t.Errorf("GET after merging latency: %s", body)
	}

	// A list replaces the list as a whole: nothing of the old first target
	// (its status) is merged into the new one.
	if st, body := send(http.MethodPut, `{"targets":[{"event_type":"OrderUpdated"}]}`); st != 200 {
		t.Fatalf("PUT: %d %s", st, body)
	}
	if f, body := get(); !slices.Equal(f.Targets, []Target{{EventType: "OrderUpdated"}}) {
		t.Errorf("GET after replacing: %s", body)
	}

	// Invalid targets are refused, naming the target; the faults stay.
	for _, bad := range []string{
		`{"targets":[{"event_type":"X"},{"status":503}]}`,
		`{"targets":[{"event_type":"X","status":503,"hang":true}]}`,
		`{"targets":[{"event_type":"X","stauts":503}]}`,
		`{"targets":{"event_type":"X"}}`,
	} {
		st, body := send(http.MethodPut, bad)
		if st != 400 || !strings.Contains(body, "invalid_faults") {
			t.Errorf("%s: %d %s", bad, st, body)
		}
		if strings.Contains(bad, `"status":503`) && !strings.Contains(body, "targets[") {
			t.Errorf("%s: the error does not name the target: %s", bad, body)
		}
	}
	if f, body := get(); !slices.Equal(f.Targets, []Target{{EventType: "OrderUpdated"}}) {
		t.Errorf("GET after refusals: %s", body)
	}

	// [] and null clear the list.
	for _, clear := range []string{`{"targets":[]}`, `{"targets":null}`} {
		if st, body := send(http.MethodPut, two); st != 200 {
			t.Fatalf("PUT: %d %s", st, body)
		}
		if st, body := send(http.MethodPut, clear); st != 200 {
			t.Fatalf("PUT %s: %d %s", clear, st, body)
		}
		if f, body := get(); f.Targets != nil || strings.Contains(body, "targets") || s.Faults().Targets != nil {
			t.Errorf("GET after %s: %s", clear, body)
		}
	}
	if r := post(t, hc, s, tok, "k3", "c3", eventBody("c3", "OrderCreated", "POISON")); r.status != 202 {
		t.Errorf("event after clearing: %d", r.status)
	}

	// The stats and the arrivals show targeted answers.
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/_sim/stats", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var stats map[string]int64
	json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	if v, ok := stats["targeted"]; !ok || v != 1 {
		t.Errorf("stats %v", stats)
	}
	if _, ok := stats["hung"]; !ok {
		t.Errorf("stats lack hung: %v", stats)
	}
	req, _ = http.NewRequest(http.MethodGet, s.URL+"/_sim/arrivals?key=k1", nil)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"status":500`) {
		t.Errorf("arrivals %s", b)
	}
}

// ---- Hang ----

func stuckFaults() Faults {
	return Faults{Targets: []Target{{IdempotencyKey: "k-stuck", Hang: true}}}
}

// TestTargetHangReleased: a held request is not answered while the others
// are, and the change of targets that lifts it releases it at once; it is
// then processed as usual (dedupe, latency), or answered by the target that
// now matches.
func TestTargetHangReleased(t *testing.T) {
	t.Run("accepted when lifted", func(t *testing.T) {
		var mu sync.Mutex
		var acceptedCorr []string
		s := newTestServer(t, WithFaults(stuckFaults()), WithOnAccepted(func(corr string, _ time.Time) {
			mu.Lock()
			acceptedCorr = append(acceptedCorr, corr)
			mu.Unlock()
		}))
		hc := clientFor(t, s)
		tok := tokenVia(t, hc, s)
		held := postAsync(context.Background(), hc, s, tok, "k-stuck", "c-stuck", validBodyFor("c-stuck"))
		poll.Until(t, 20*time.Second, "the request to be held", func() bool { return s.Stats().Hung == 1 })

		// The others are accepted meanwhile.
		if r := post(t, hc, s, tok, "k-ok", "c-ok", validBodyFor("c-ok")); r.status != 202 {
			t.Fatalf("healthy event while one is held: %d %v", r.status, r.body)
		}
		stillHeld(t, held, "after a healthy event")
		// A change that still matches keeps it held.
		f := stuckFaults()
		f.Targets = append([]Target{{BodyContains: "nothing like this"}}, f.Targets...)
		if err := s.SetFaults(f); err != nil {
			t.Fatal(err)
		}
		if r := post(t, hc, s, tok, "k-ok2", "c-ok2", validBodyFor("c-ok2")); r.status != 202 {
			t.Fatalf("healthy event: %d", r.status)
		}
		stillHeld(t, held, "after a change of targets that still matches")
		if st := s.Stats(); st.Hung != 1 || st.Targeted != 0 || st.Accepted != 2 {
			t.Fatalf("stats while held %+v", st)
		}

		// Lifting the fault releases it; the latency applies after the hold.
		const latency = 50 * time.Millisecond
		released := time.Now()
		if err := s.SetFaults(Faults{Latency: Duration(latency)}); err != nil {
			t.Fatal(err)
		}
		r := await(t, held)
		if r.err != nil || r.status != 202 {
			t.Fatalf("released: %d %v %v", r.status, r.body, r.err)
		}
		if el := time.Since(released); el < latency {
			t.Errorf("answered %v after the release, before the latency", el)
		}
		id, _ := r.body["id"].(string)
		if arr := s.Arrivals("k-stuck"); len(arr) != 1 || arr[0].Status != 202 || !arr[0].Hung || arr[0].ID != id || id == "" {
			t.Errorf("arrivals %+v", arr)
		}
		if st := s.Stats(); st.Hung != 0 || st.Targeted != 1 || st.Accepted != 3 || st.Faults != 0 {
			t.Errorf("stats %+v", st)
		}
		if ev := s.Events(); len(ev) != 3 || ev[2].IdempotencyKey != "k-stuck" {
			t.Errorf("events %+v", ev)
		}
		mu.Lock()
		if !slices.Contains(acceptedCorr, "c-stuck") {
			t.Errorf("OnAccepted not called for the released event: %v", acceptedCorr)
		}
		mu.Unlock()
		// It was ingested: a retry is a duplicate.
		if r := post(t, hc, s, tok, "k-stuck", "c-stuck", validBodyFor("c-stuck")); r.status != 200 || r.body["id"] != id {
			t.Errorf("retry of the released event: %d %v", r.status, r.body)
		}
	})

	t.Run("answered by the status target that now matches", func(t *testing.T) {
		s := newTestServer(t, WithFaults(stuckFaults()))
		hc := clientFor(t, s)
		tok := tokenVia(t, hc, s)
		held := postAsync(context.Background(), hc, s, tok, "k-stuck", "c-stuck", validBodyFor("c-stuck"))
		poll.Until(t, 20*time.Second, "the request to be held", func() bool { return s.Stats().Hung == 1 })
		if err := s.SetFaults(Faults{Targets: []Target{{IdempotencyKey: "k-stuck", Status: 500}}}); err != nil {
			t.Fatal(err)
		}
		r := await(t, held)
		if r.err != nil || r.status != 500 || r.body["message"] != "fault injected (target)" {
			t.Fatalf("released: %d %v %v", r.status, r.body, r.err)
		}
		if st := s.Stats(); st.Hung != 0 || st.Targeted != 1 || st.Faults != 1 || st.Accepted != 0 {
			t.Errorf("stats %+v (the request counts once in Targeted)", st)
		}
		if arr := s.Arrivals("k-stuck"); len(arr) != 1 || arr[0].Status != 500 || !arr[0].Hung {
			t.Errorf("arrivals %+v", arr)
		}
	})
}

// hangServers are the transports the hang tests run on.
var hangServers = []struct {
	name  string
	start func(...Option) *Server
	proto int
}{
	{"HTTP/1.1", NewServer, 1},
	{"HTTP/2", NewTLSServer, 2},
}

// TestTargetHangClientGone: a held request ends when its client gives up:
// the handler returns, nothing is accepted or ingested, the arrival is
// recorded without an answer.
func TestTargetHangClientGone(t *testing.T) {
	for _, srv := range hangServers {
		t.Run(srv.name, func(t *testing.T) {
			var mu sync.Mutex
			var acceptedCorr []string
			s := srv.start(WithFaults(stuckFaults()), WithOnAccepted(func(corr string, _ time.Time) {
				mu.Lock()
				acceptedCorr = append(acceptedCorr, corr)
				mu.Unlock()
			}))
			t.Cleanup(s.Close)
			hc := clientFor(t, s)
			tok := tokenVia(t, hc, s)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			held := postAsync(ctx, hc, s, tok, "k-stuck", "c-stuck", validBodyFor("c-stuck"))
			poll.Until(t, 20*time.Second, "the request to be held", func() bool { return s.Stats().Hung == 1 })
			cancel()
			if r := await(t, held); !errors.Is(r.err, context.Canceled) {
				t.Fatalf("client: %+v", r)
			}
			// The handler notices and returns (its last act is to count the hold).
			poll.Until(t, 20*time.Second, "the handler to end the hold", func() bool {
				st := s.Stats()
				return st.Hung == 0 && st.Targeted == 1
			})
			if st := s.Stats(); st.Accepted != 0 || st.Faults != 0 || st.Requests != 1 {
				t.Errorf("stats %+v", st)
			}
			if arr := s.Arrivals("k-stuck"); len(arr) != 1 || arr[0].Status != 0 || !arr[0].Hung {
				t.Errorf("arrivals %+v", arr)
			}
			mu.Lock()
			if len(acceptedCorr) != 0 {
				t.Errorf("OnAccepted called: %v", acceptedCorr)
			}
			mu.Unlock()
			// Not ingested: accepted once the fault is lifted.
			if err := s.SetFaults(Faults{}); err != nil {
				t.Fatal(err)
			}
			if r := post(t, hc, s, tok, "k-stuck", "c-stuck", validBodyFor("c-stuck")); r.status != 202 || r.proto != srv.proto {
				t.Errorf("after lifting: %d over HTTP/%d", r.status, r.proto)
			}
		})
	}
}

// TestTargetHangServerClose: Server.Close with a held request returns at once
// and the held request's handler ends.
func TestTargetHangServerClose(t *testing.T) {
	for _, srv := range hangServers {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.start(WithFaults(stuckFaults()))
			t.Cleanup(s.Close)
			hc := clientFor(t, s)
			tok := tokenVia(t, hc, s)
			held := postAsync(context.Background(), hc, s, tok, "k-stuck", "c-stuck", validBodyFor("c-stuck"))
			poll.Until(t, 20*time.Second, "the request to be held", func() bool { return s.Stats().Hung == 1 })
			closed := make(chan struct{})
			go func() { s.Close(); close(closed) }()
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("Server.Close blocked by a held request")
			}
			if r := await(t, held); r.err == nil {
				t.Errorf("the held request was answered: %+v", r)
			}
			poll.Until(t, 20*time.Second, "the handler to end the hold", func() bool {
				st := s.Stats()
				return st.Hung == 0 && st.Targeted == 1
			})
			if st := s.Stats(); st.Accepted != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestTargetHangShutdown: a graceful http.Server.Shutdown does not wait for
// held requests: they are answered 503 with Connection: close.
func TestTargetHangShutdown(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[useTLS]
		t.Run(name, func(t *testing.T) {
			// Built as NewServer/NewTLSServer do, to shut it down gracefully.
			var s *Server
			if useTLS {
				s = NewTLSServer(WithFaults(stuckFaults()))
			} else {
				s = newServer(WithFaults(stuckFaults()))
				go s.srv.Serve(s.Listener)
			}
			t.Cleanup(s.Close)
			hc := clientFor(t, s)
			tok := tokenVia(t, hc, s)
			held := postAsync(context.Background(), hc, s, tok, "k-stuck", "c-stuck", validBodyFor("c-stuck"))
			poll.Until(t, 20*time.Second, "the request to be held", func() bool { return s.Stats().Hung == 1 })

			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := s.srv.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v (waited for the held request)", err)
			}
			r := await(t, held)
			if r.err != nil || r.status != 503 || r.body["error"] != "service_unavailable" {
				t.Fatalf("held request: %+v", r)
			}
			if !useTLS && !r.close {
				t.Error("no Connection: close")
			}
			if st := s.Stats(); st.Hung != 0 || st.Targeted != 1 || st.Faults != 1 || st.Accepted != 0 {
				t.Errorf("stats %+v", st)
			}
			if arr := s.Arrivals("k-stuck"); len(arr) != 1 || arr[0].Status != 503 || !arr[0].Hung {
				t.Errorf("arrivals %+v", arr)
			}
		})
	}
}

// TestTargetHangReset: Reset forgets the counters but not the held requests.
func TestTargetHangReset(t *testing.T) {
	s := newTestServer(t, WithFaults(stuckFaults()))
	hc := clientFor(t, s)
	tok := tokenVia(t, hc, s)
	held := postAsync(context.Background(), hc, s, tok, "k-stuck", "c-stuck", validBodyFor("c-stuck"))
	poll.Until(t, 20*time.Second, "the request to be held", func() bool { return s.Stats().Hung == 1 })
	s.Reset()
	if st := s.Stats(); st != (Stats{Hung: 1}) {
		t.Errorf("stats after reset %+v", st)
	}
	s.SetFaults(Faults{})
	if r := await(t, held); r.status != 202 {
		t.Errorf("released: %+v", r)
	}
	if st := s.Stats(); st.Hung != 0 || st.Targeted != 1 || st.Accepted != 1 {
		t.Errorf("stats %+v", st)
	}
}
