package testbed

import (
	"net/http"
	"time"
)

// HTTPClient is an http.Client that dials from h's namespace and keeps at
// most conns connections to a host, so a test knows how many connections
// its requests may open. Its 30 s timeout bounds a hung request.
func (h *Host) HTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         h.DialContext,
			MaxConnsPerHost:     conns,
			MaxIdleConnsPerHost: conns,
		},
	}
}
