package testbed

import (
	"context"
	"net"
	"net/http"
	"time"
)

// HTTPClient is an http.Client that dials from h's namespace and keeps at
// most conns connections to a host at once, so a test knows how many
// connections its requests may have open. (Not how many it dials in all:
// the Transport may replace a connection on its own, see MaxWriteWait and
// HTTPClientLog.) Its 30 s timeout bounds a hung request.
func (h *Host) HTTPClient(conns int) *http.Client { return h.HTTPClientLog(conns, nil) }

// HTTPClientLog is HTTPClient with every connection it dials recorded in
// log (if not nil); make its requests with log.Do.
func (h *Host) HTTPClientLog(conns int, log *ConnLog) *http.Client {
	dial := h.DialContext
	if log != nil {
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := h.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return log.Wrap(c), nil
		}
	}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         dial,
			MaxConnsPerHost:     conns,
			MaxIdleConnsPerHost: conns,
		},
	}
}
