package sluice

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/sluicenet/sluice/internal/netenv"
	"github.com/sluicenet/sluice/sched"
)

// dialWait is how a Dial learns its outcome from the loop: nil once
// OnOpen ran, the close reason otherwise. Buffered: the loop never waits.
type dialWait chan error

// Dial opens a connection from one of the server's loops to addr
// ("host:port"; a host name is resolved with net.DefaultResolver) and
// returns it as a net.Conn (a *NetConn) once established. network is
// "tcp", "tcp4" or "tcp6". The source address is the one the kernel's
// route picks, the next hop's MAC comes from the kernel's neighbour
// table, and the source port is reserved from the kernel for the
// connection's lifetime. Errors are *net.OpError with Op "dial"; a
// refused connection matches ErrRefused and syscall.ECONNREFUSED, one
// that got no answer in time ErrTimeout (or ctx's error when ctx ended).
func (s *Server) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := s.dial(ctx, network, addr, nil)
	if err != nil {
		return nil, err
	}
	return (*NetConn)(c.h.(*loopSide)), nil
}

// DialHandler opens a connection as Dial does, as a callback connection:
// h gets its OnOpen (before DialHandler returns) and every later
// callback, on the loop that owns it. If the open fails, h gets no
// callback and DialHandler returns the reason.
func (s *Server) DialHandler(ctx context.Context, network, addr string, h Handler) (*Conn, error) {
	if h == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("sluice: DialHandler needs a Handler")}
	}
	return s.dial(ctx, network, addr, h)
}

func (s *Server) dial(ctx context.Context, network, addr string, h Handler) (*Conn, error) {
	fail := func(remote net.Addr, err error) (*Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: remote, Err: err}
	}
	s.mu.Lock()
	g, state := s.g, s.state
	s.mu.Unlock()
	if state != stateRunning || s.draining.Load() {
		return fail(nil, net.ErrClosed)
	}
	remote, err := resolve(ctx, network, addr)
	if err != nil {
		return fail(nil, err)
	}
	raddr := net.TCPAddrFromAddrPort(remote)
	c := &Conn{srv: s, h: h, dial: make(dialWait, 1)}
	if h == nil {
		c.h = newNetConn(c, nil).handler()
	}
	o := sched.DialOptions{Context: c}
	if dl, ok := ctx.Deadline(); ok {
		o.Timeout = max(time.Until(dl), time.Millisecond)
	}
	d, err := g.Dial(ctx, remote, o)
	if err != nil {
		return fail(raddr, dialError(err))
	}
	select {
	case err := <-c.dial:
		if err != nil {
			return fail(raddr, err)
		}
		return c, nil
	case <-ctx.Done():
		// Drop the half-open connection; its OnClose still comes.
		postRetry(d.Loop, func() {
			if sc := d.Loop.Conn(d.Ref); sc != nil {
				sc.Abort()
			}
		})
		if err := <-c.dial; err == nil {
			// It opened just as ctx ended: close it, the caller has gone.
			c.Abort()
		}
		return fail(raddr, ctx.Err())
	}
}

// dialError says what to do about a failed start of an active open.
func dialError(err error) error {
	switch {
	case errors.Is(err, sched.ErrConnLimit):
		return fmt.Errorf("sluice: at Config.MaxConns: %w", err)
	case errors.Is(err, sched.ErrLoopClosed):
		return net.ErrClosed
	}
	return reason(err)
}

// resolve turns addr into one address of the family network allows.
func resolve(ctx context.Context, network, addr string) (netip.AddrPort, error) {
	fam := "ip"
	switch network {
	case "tcp":
	case "tcp4":
		fam = "ip4"
	case "tcp6":
		fam = "ip6"
	default:
		return netip.AddrPort{}, net.UnknownNetworkError(network)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("sluice: port %q in %q must be a number from 1 to 65535", port, addr)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, fam, host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, &net.AddrError{Err: "no suitable address", Addr: host}
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(p)), nil
}

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
