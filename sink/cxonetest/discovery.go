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

func (h *Handler) serveOpenIDConfig(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.stats.DiscoveryRequests++
	iss := h.issuer
	h.mu.Unlock()
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, errBody("invalid_request", "GET required"))
		return
	}
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
	h.mu.Lock()
	h.stats.DiscoveryRequests++
	h.mu.Unlock()
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, errBody("invalid_request", "GET required"))
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
