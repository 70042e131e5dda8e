package cxonetest

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Events request checks, steps 5 and 6 of the package doc: headers, body
// size, a JSON object, the EventBridge shape.

type validBody struct {
	raw       json.RawMessage
	eventType string
}

// readValid applies the content checks (headers, size, JSON, shape).
func (h *Handler) readValid(r *http.Request) (validBody, answer, bool) {
	var raw []byte // once read, echoed by a hostile answer
	bad := func(status int, code, msg string, fields ...fieldError) (validBody, answer, bool) {
		b := map[string]any{"error": code, "message": msg}
		if len(fields) > 0 {
			b["errors"] = fields
		}
		return validBody{}, answer{status: status, body: b, reqBody: raw}, false
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return bad(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	}
	var missing []fieldError
	for _, name := range []string{"X-Idempotency-Key", "X-Correlation-Id"} {
		if strings.TrimSpace(r.Header.Get(name)) == "" {
			missing = append(missing, fieldError{Field: name, Message: "header is required"})
		}
	}
	if len(missing) > 0 {
		return bad(http.StatusBadRequest, "missing_header", "required headers are missing", missing...)
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, h.maxBody+1))
	if err != nil {
		return bad(http.StatusBadRequest, "invalid_request", "could not read body")
	}
	if int64(len(raw)) > h.maxBody {
		return bad(http.StatusRequestEntityTooLarge, "payload_too_large", "body exceeds "+strconv.FormatInt(h.maxBody, 10)+" bytes")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return bad(http.StatusBadRequest, "invalid_json", "body must be a JSON object")
	}
	fields := checkShape(top, r.Header.Get("X-Correlation-Id"))
	if len(fields) > 0 {
		return bad(http.StatusUnprocessableEntity, "validation_failed", "the event does not match the EventBridge contract", fields...)
	}
	var et string
	json.Unmarshal(top["eventType"], &et)
	return validBody{raw: json.RawMessage(raw), eventType: et}, answer{}, true
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// checkShape checks {"eventType", "attributes": {..., "_correlationId",
// "_publishedAt"}, "timestamp"} and returns every violation.
func checkShape(top map[string]json.RawMessage, correlationHeader string) []fieldError {
	var errs []fieldError
	add := func(f, m string) { errs = append(errs, fieldError{Field: f, Message: m}) }

	extra := make([]string, 0)
	for k := range top {
		if k != "eventType" && k != "attributes" && k != "timestamp" {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		add(k, "unknown member")
	}

	if s, ok := jsonString(top["eventType"]); !ok {
		add("eventType", "required, must be a string")
	} else if strings.TrimSpace(s) == "" {
		add("eventType", "must not be empty")
	}
	if s, ok := jsonString(top["timestamp"]); !ok {
		add("timestamp", "required, must be an RFC 3339 date-time string")
	} else if !isRFC3339(s) {
		add("timestamp", "must be an RFC 3339 date-time")
	}
	var attrs map[string]json.RawMessage
	if raw, ok := top["attributes"]; !ok || json.Unmarshal(raw, &attrs) != nil || attrs == nil {
		add("attributes", "required, must be an object")
		return errs
	}
	if s, ok := jsonString(attrs["_correlationId"]); !ok || s == "" {
		add("attributes._correlationId", "required, must be a non-empty string")
	} else if s != correlationHeader {
		add("attributes._correlationId", "must equal the X-Correlation-Id header")
	}
	if s, ok := jsonString(attrs["_publishedAt"]); !ok {
		add("attributes._publishedAt", "required, must be an RFC 3339 date-time string")
	} else if !isRFC3339(s) {
		add("attributes._publishedAt", "must be an RFC 3339 date-time")
	}
	return errs
}

func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func isRFC3339(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}
