package proxy

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/sluicenet/sluice"
)

// Config is a proxy: where sluice listens, and where to.
type Config struct {
	// Sluice is the transport: interface, listen addresses, loops.
	Sluice sluice.Config
	// Upstream is the "host:port" each connection is relayed to; it is
	// reached through Sluice.Interface (the kernel's route picks the
	// source address, its neighbour table the next hop).
	Upstream string
	// DialTimeout bounds each upstream handshake [DefaultDialTimeout].
	DialTimeout time.Duration
}

// Server is a running proxy.
type Server struct {
	srv *sluice.Server
	h   *Handler
}

// New checks cfg and returns a proxy that Start will run.
func New(cfg Config) (*Server, error) {
	if _, _, err := net.SplitHostPort(cfg.Upstream); err != nil {
		return nil, errors.New("proxy: Upstream must be host:port: " + err.Error())
	}
	h := NewHandler(cfg.Upstream, cfg.DialTimeout)
	srv, err := sluice.NewServer(cfg.Sluice, h)
	if err != nil {
		return nil, err
	}
	h.SetServer(srv)
	return &Server{srv: srv, h: h}, nil
}

// Start starts serving.
func (s *Server) Start() error { return s.srv.Start() }

// Sluice is the transport underneath.
func (s *Server) Sluice() *sluice.Server { return s.srv }

// Stats are the proxy's counters.
func (s *Server) Stats() *Stats { return s.h.Stats() }

// Done is closed when the server has stopped.
func (s *Server) Done() <-chan struct{} { return s.srv.Done() }

// Shutdown stops accepting and lets open pairs finish until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Close stops at once, resetting every connection.
func (s *Server) Close() error { return s.srv.Close() }
