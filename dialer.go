package sluice

import (
	"context"
	"net"
	"sync"

	"github.com/sluicenet/sluice/internal/netenv"
)

// Dialer opens connections through sluice without a server of one's
// own: on first use it starts a client-only Server (no Listen addresses)
// with Config, and keeps it for later dials until Close. Its DialContext
// fits http.Transport.DialContext and net.Dialer's callers.
//
// A Config.Interface left empty is chosen by the kernel's route to the
// first address dialed; Listen is ignored.
type Dialer struct {
	Config Config

	mu  sync.Mutex
	srv *Server
}

// DialContext dials addr as Server.Dial does.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	s, err := d.server(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return s.Dial(ctx, network, addr)
}

// Server returns the client server dials go through (nil before the
// first dial).
func (d *Dialer) Server() *Server {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.srv
}

// Close stops the client server, resetting its open connections (use
// Server().Shutdown for a graceful end).
func (d *Dialer) Close() error {
	d.mu.Lock()
	s := d.srv
	d.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Close()
}

func (d *Dialer) server(ctx context.Context, network, addr string) (*Server, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.srv != nil {
		return d.srv, nil
	}
	cfg := d.Config
	cfg.Listen = nil
	if cfg.Interface == "" {
		remote, err := resolve(ctx, network, addr)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		var hop netenv.NextHop
		err = inNetns(cfg.Netns, func() (err error) {
			hop, err = netenv.Route(remote.Addr(), netenv.RouteOptions{})
			return err
		})
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(remote), Err: err}
		}
		cfg.Interface = hop.Ifname
	}
	s, err := NewServer(cfg, NopHandler{})
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	d.srv = s
	return s, nil
}
