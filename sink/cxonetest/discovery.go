package cxonetest

import "net/http"

// Discovery documents: GET OpenIDConfigPath and CXoneConfigPath.

// baseURL is the server's base URL as this request reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// discoveryRequest counts a discovery request and reports whether it is a
// GET; it answers any other method with 405.
func (h *Handler) discoveryRequest(w http.ResponseWriter, r *http.Request) bool {
	h.mu.Lock()
	h.stats.DiscoveryRequests++
	h.mu.Unlock()
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, errBody("invalid_request", "GET required"))
		return false
	}
	return true
}

func (h *Handler) serveOpenIDConfig(w http.ResponseWriter, r *http.Request) {
	if !h.discoveryRequest(w, r) {
		return
	}
	h.mu.Lock()
	iss := h.issuer
	h.mu.Unlock()
	base := baseURL(r)
	if iss == "" {
		iss = base
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"token_endpoint":                        base + AuthTokenPath,
		"grant_types_supported":                 []string{grantPassword, grantClientCredentials},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
		"response_types_supported":              []string{"token"},
		"scopes_supported":                      []string{WriteScope},
	})
}

func (h *Handler) serveCXoneConfig(w http.ResponseWriter, r *http.Request) {
	if !h.discoveryRequest(w, r) {
		return
	}
	id := r.URL.Query().Get("tenantId")
	if id == "" {
		writeJSON(w, http.StatusBadRequest, errBody("invalid_request", "tenantId is required"))
		return
	}
	h.mu.Lock()
	api, ok := h.tenants[id]
	h.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, errBody("tenant_not_found", "no such tenant"))
		return
	}
	base := baseURL(r)
	if api == "" {
		api = base
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenantId":      id,
		"private":       false,
		"area":          "na1",
		"cluster":       "T01",
		"api_endpoint":  api,
		"ui_endpoint":   base,
		"auth_endpoint": base,
	})
}
