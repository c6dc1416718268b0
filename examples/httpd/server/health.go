package server

import "sync/atomic"

// HealthPath is the resource a load balancer's health check asks for:
// 200 "ok" while the server takes new work, 503 from the moment Shutdown
// begins (so the balancer stops sending new connections during the drain
// delay, while everything still arriving is served).
const HealthPath = "/healthz"

var (
	msgHealthy  = []byte("ok\n")
	msgDraining = []byte("shutting down\n")
)

// Health is the state HealthPath reports; one is shared by every
// connection of a server.
type Health struct{ down atomic.Bool }

// Down reports whether the server has begun to shut down.
func (h *Health) Down() bool { return h.down.Load() }

// SetDown makes HealthPath answer 503 from now on.
func (h *Health) SetDown() { h.down.Store(true) }

// answer is the status and text HealthPath answers with now.
func (h *Health) answer() (int, []byte) {
	if h.Down() {
		return 503, msgDraining
	}
	return 200, msgHealthy
}
