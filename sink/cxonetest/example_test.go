package cxonetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/cxone-bridge/bridge/sink/cxonetest"
)

// A test starts a server, gets a token with the client-credentials grant
// (here through golang.org/x/oauth2, whose client sends it as the Bearer
// header), posts an event, and reads what the server recorded with
// [cxonetest.Handler.Stats] and [cxonetest.Handler.Events].
func ExampleNewServer() {
	s := cxonetest.NewServer()
	defer s.Close()

	cc := clientcredentials.Config{
		ClientID:     cxonetest.DefaultClientID,
		ClientSecret: cxonetest.DefaultClientSecret,
		TokenURL:     s.URL + cxonetest.TokenPath,
		Scopes:       []string{cxonetest.WriteScope},
	}
	client := cc.Client(context.Background())

	// The body has exactly eventType, attributes (with _correlationId equal
	// to the X-Correlation-Id header, and _publishedAt) and timestamp.
	body := `{"eventType":"order.created",` +
		`"attributes":{"orderId":"o-1","_correlationId":"corr-1","_publishedAt":"2026-01-02T03:04:05Z"},` +
		`"timestamp":"2026-01-02T03:04:05Z"}`
	post := func() (status int, id string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+cxonetest.EventsPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Idempotency-Key", "key-1")
		req.Header.Set("X-Correlation-Id", "corr-1")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var answer struct{ ID string }
		json.NewDecoder(resp.Body).Decode(&answer)
		return resp.StatusCode, answer.ID
	}

	status, id := post()
	fmt.Println("posted:", status)
	// The same idempotency key again is a duplicate: 200 and the first id.
	status, again := post()
	fmt.Println("posted again:", status, again == id)

	st := s.Stats()
	fmt.Println("tokens issued:", st.TokensIssued)
	fmt.Println("requests:", st.Requests, "accepted:", st.Accepted, "duplicates:", st.Duplicates)
	for _, e := range s.Events() {
		fmt.Println("event:", e.EventType, e.IdempotencyKey, e.CorrelationID, e.ClientID, e.ID == id)
	}
	// Output:
	// posted: 202
	// posted again: 200 true
	// tokens issued: 1
	// requests: 2 accepted: 1 duplicates: 1
	// event: order.created key-1 corr-1 your-client-id true
}

// A [cxonetest.Target] injects a fault for the matching events only: here
// order.cancelled events are answered 503 with a Retry-After, while other
// events are accepted. A targeted event is not ingested, so once the test
// lifts the fault, a retry with the same idempotency key is accepted.
func ExampleHandler_SetFaults() {
	s := cxonetest.NewServer()
	defer s.Close()

	// A token with the client-credentials grant, in plain net/http.
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {cxonetest.WriteScope}}
	req, _ := http.NewRequest(http.MethodPost, s.URL+cxonetest.TokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(cxonetest.DefaultClientID, cxonetest.DefaultClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	var token struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&token)
	resp.Body.Close()

	post := func(key, eventType string) {
		body := fmt.Sprintf(`{"eventType":%q,`+
			`"attributes":{"_correlationId":%q,"_publishedAt":"2026-01-02T03:04:05Z"},`+
			`"timestamp":"2026-01-02T03:04:05Z"}`, eventType, "corr-"+key)
		req, _ := http.NewRequest(http.MethodPost, s.URL+cxonetest.EventsPath, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Idempotency-Key", key)
		req.Header.Set("X-Correlation-Id", "corr-"+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Print(eventType, ": ", resp.StatusCode)
		if resp.StatusCode >= 400 {
			fmt.Print(" Retry-After: ", resp.Header.Get("Retry-After"), " ", strings.TrimSpace(string(b)))
		}
		fmt.Println()
	}

	err = s.SetFaults(cxonetest.Faults{
		Targets:    []cxonetest.Target{{EventType: "order.cancelled", Status: http.StatusServiceUnavailable}},
		RetryAfter: cxonetest.Duration(2 * time.Second),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	post("key-a", "order.created")
	post("key-b", "order.cancelled")

	s.SetFaults(cxonetest.Faults{}) // lift the fault
	post("key-b", "order.cancelled")

	st := s.Stats()
	fmt.Println("targeted:", st.Targeted, "faults:", st.Faults, "accepted:", st.Accepted)
	// Output:
	// order.created: 202
	// order.cancelled: 503 Retry-After: 2 {"error":"service_unavailable","message":"fault injected (target)"}
	// order.cancelled: 202
	// targeted: 1 faults: 1 accepted: 2
}
