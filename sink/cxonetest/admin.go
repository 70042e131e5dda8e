package cxonetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
)

// serveAdmin implements the /_sim/ admin API (see the package doc).
func (h *Handler) serveAdmin(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /_sim/stats":
		writeJSON(w, http.StatusOK, h.Stats())
	case "GET /_sim/events":
		if key := r.URL.Query().Get("key"); key != "" {
			var out []Event
			for _, e := range h.Events() {
				if e.IdempotencyKey == key {
					out = append(out, e)
				}
			}
			writeJSON(w, http.StatusOK, nonNil(out))
			return
		}
		writeJSON(w, http.StatusOK, nonNil(h.Events()))
	case "GET /_sim/arrivals":
		writeJSON(w, http.StatusOK, nonNil(h.Arrivals(r.URL.Query().Get("key"))))
	case "GET /_sim/rate-limits":
		writeJSON(w, http.StatusOK, nonNil(h.RateLimits()))
	case "GET /_sim/faults":
		writeJSON(w, http.StatusOK, h.Faults())
	case "POST /_sim/faults", "PUT /_sim/faults":
		raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errBody("invalid_request", "could not read body"))
			return
		}
		// Merge: members present in the JSON replace the current values.
		// A targets list replaces the current list as a whole: decoding into
		// the current elements would merge each new target into the old
		// one at its index, so they are decoded into a fresh list.
		f := h.Faults()
		oldTargets := f.Targets
		f.Targets = nil
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeJSON(w, http.StatusBadRequest, errBody("invalid_faults", err.Error()))
			return
		}
		var present struct {
			Targets json.RawMessage `json:"targets"` // nil if absent; "null" if null
		}
		json.NewDecoder(bytes.NewReader(raw)).Decode(&present) // the value decoded above: no error
		if present.Targets == nil {
			f.Targets = oldTargets
		}
		if err := h.SetFaults(f); err != nil {
			writeJSON(w, http.StatusBadRequest, errBody("invalid_faults", err.Error()))
			return
		}
		h.log.Info("faults changed", "faults", string(raw))
		writeJSON(w, http.StatusOK, h.Faults())
	case "POST /_sim/revoke":
		h.RevokeTokens()
		h.log.Info("tokens revoked")
		writeJSON(w, http.StatusOK, map[string]bool{"revoked": true})
	case "POST /_sim/credentials":
		h.serveCredentials(w, r)
	case "POST /_sim/reset":
		h.Reset()
		h.log.Info("state reset")
		writeJSON(w, http.StatusOK, map[string]bool{"reset": true})
	default:
		writeJSON(w, http.StatusNotFound, errBody("not_found", "no such admin endpoint: "+route))
	}
}

// serveCredentials implements POST /_sim/credentials (rotation).
func (h *Handler) serveCredentials(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ClientID        string `json:"client_id"`
		ClientSecret    string `json:"client_secret"`
		AccessKeyID     string `json:"access_key_id"`
		AccessKeySecret string `json:"access_key_secret"`
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, errBody("invalid_request", "want {client_id, client_secret} and/or {access_key_id, access_key_secret}"))
		return
	}
	changed := 0
	if in.ClientID != "" {
		if in.ClientSecret == "" || !h.SetClientSecret(in.ClientID, in.ClientSecret) {
			writeJSON(w, http.StatusNotFound, errBody("not_found", "unknown client, or empty secret"))
			return
		}
		changed++
	}
	if in.AccessKeyID != "" {
		if in.AccessKeySecret == "" || !h.SetAccessKeySecret(in.AccessKeyID, in.AccessKeySecret) {
			writeJSON(w, http.StatusNotFound, errBody("not_found", "unknown access key, or empty secret"))
			return
		}
		changed++
	}
	h.log.Info("credentials rotated", "count", changed)
	writeJSON(w, http.StatusOK, map[string]int{"rotated": changed})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
