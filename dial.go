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
	"github.com/sluicenet/sluice/tcp"
)

// dialWait is how a Dial learns its outcome from the loop: nil once
// OnOpen ran, the close reason otherwise. Buffered: the loop never waits.
type dialWait chan error

// dialing is a blocking Dial's connection until it opens: the loop's
// Context for it (then c), so the Conn itself holds no field only a
// dialed connection needs.
type dialing struct {
	c    *Conn
	wait dialWait
}

// Dial opens a connection from one of the server's loops to addr
// ("host:port"; a host name is resolved with net.DefaultResolver) and
// returns it as a net.Conn (a *NetConn) once established. network is
// "tcp", "tcp4" or "tcp6". The source address is the one the kernel's
// route picks, the next hop's MAC comes from the kernel's neighbour
// table, and the source port is reserved from the kernel for the
// connection's lifetime (see DialHandler for how it is chosen). Errors
// are *net.OpError with Op "dial"; a refused connection matches
// ErrRefused and syscall.ECONNREFUSED, one that got no answer in time
// ErrTimeout (or ctx's error when ctx ended). Dial waits for the
// handshake, so it may not be called from a callback (it returns an
// error there): use DialHandler.
func (s *Server) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := s.dial(ctx, network, addr, nil, nil)
	if err != nil {
		return nil, err
	}
	return (*NetConn)(c.b.h.(*loopSide)), nil
}

// DialHandler opens a connection as Dial does, as a callback connection
// whose callbacks go to h on the loop that owns it.
//
// From any goroutine other than the server's loops it waits for the
// handshake: h gets OnOpen before DialHandler returns; if the open fails,
// h gets no callback and DialHandler returns the reason.
//
// From a callback (on one of the server's loops) it never waits for the
// peer: the connection is opened from that same loop, so both
// connections of a proxied pair live on one loop, and DialHandler
// returns at once with the Conn in SYN-SENT. The outcome then comes
// through h, exactly once: OnOpen when established, or OnClose without
// OnOpen with the reason (ErrRefused; ErrTimeout after ctx's deadline
// or the SYN retries; ErrAborted after Close or Abort, or Shutdown
// without a ShutdownHandler; ErrServerClosed). ctx bounds the call, and
// its deadline the handshake; ending ctx after the call changes nothing
// (as a net.Dialer's after it connected): Abort drops a pending dial. Until OnOpen,
// Write queues text for after the handshake (RFC 9293 §3.10.2). An error
// returned means h gets no callback. The route and neighbour look-up
// (kept for a second per destination) and the port reservation are
// system calls made in the call, a fraction of a millisecond (an
// unresolved next hop makes the loop wait for ARP/ND, bounded by ctx),
// and addr should be an IP address (a name is resolved in the call).
// A pending dial counts as a connection (Stats.Conns, MaxConns), and
// Shutdown waits for it.
//
// The source port is picked among the kernel's ephemeral ports
// (ip_local_port_range, skipping ip_local_reserved_ports) so that, on a
// device with RSS (a Toeplitz key and indirection table read with
// ETHTOOL_GRSSH), the NIC hashes the replies to the dialing loop's queue;
// on a device without (veth) the kernel picks it. opts can fix the port
// or restrict the choice.
func (s *Server) DialHandler(ctx context.Context, network, addr string, h Handler, opts ...DialOption) (*Conn, error) {
	if h == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("sluice: DialHandler needs a Handler")}
	}
	return s.dial(ctx, network, addr, h, opts)
}

// DialOption shapes one DialHandler.
type DialOption func(*sched.DialOptions)

// LocalPort dials from port (reserved from the kernel as given:
// EADDRINUSE if a kernel socket or another connection holds it).
func LocalPort(port uint16) DialOption {
	return func(o *sched.DialOptions) { o.Local = netip.AddrPortFrom(o.Local.Addr(), port) }
}

// PortFilter restricts the ephemeral source port to those ok accepts
// (besides the RSS choice); ok runs in the call, on the caller's
// goroutine. A dial finding no free port that ok accepts fails with
// EADDRINUSE.
func PortFilter(ok func(port uint16) bool) DialOption {
	return func(o *sched.DialOptions) { o.PortFilter = ok }
}

// AnyQueue leaves the source port out of RSS steering: replies may land
// on any queue and are forwarded to the owning loop.
func AnyQueue() DialOption {
	return func(o *sched.DialOptions) { o.AnyQueue = true }
}

func (s *Server) dial(ctx context.Context, network, addr string, h Handler, opts []DialOption) (*Conn, error) {
	fail := func(remote net.Addr, err error) (*Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: remote, Err: err}
	}
	s.mu.Lock()
	g, state := s.g, s.state
	s.mu.Unlock()
	if state != stateRunning || s.draining.Load() {
		return fail(nil, net.ErrClosed)
	}
	loop := g.CallerLoop()
	if loop != nil && h == nil {
		return fail(nil, errors.New("sluice: Dial from a callback would block its loop; use DialHandler"))
	}
	remote, err := resolve(ctx, network, addr)
	if err != nil {
		return fail(nil, err)
	}
	raddr := net.TCPAddrFromAddrPort(remote)
	c := &Conn{b: &binding{srv: s, h: h}}
	if h == nil {
		newNetConn(s, c, nil)
	}
	o := sched.DialOptions{Context: c}
	for _, opt := range opts {
		opt(&o)
	}
	if dl, ok := ctx.Deadline(); ok {
		o.Timeout = max(time.Until(dl), time.Millisecond)
	}
	if loop != nil {
		if err := s.dialOnLoop(ctx, g, loop, remote, c, o); err != nil {
			return fail(raddr, dialError(err))
		}
		return c, nil
	}
	wait := make(dialWait, 1)
	o.Context = &dialing{c: c, wait: wait}
	d, err := g.Dial(ctx, remote, o)
	if err != nil {
		return fail(raddr, dialError(err))
	}
	s.logSteer(d)
	select {
	case err := <-wait:
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
		if err := <-wait; err == nil {
			// It opened just as ctx ended: close it, the caller has gone.
			c.Abort()
		}
		return fail(raddr, ctx.Err())
	}
}

// dialOnLoop is DialHandler from a callback on loop l: the connection is
// opened from l and returned in SYN-SENT; loopDial reports its outcome to
// c's handler. It counts as open from here (Shutdown waits for it), so
// loopDial's OnOpen takes back the count opened adds.
func (s *Server) dialOnLoop(ctx context.Context, g *sched.Group, l *sched.Loop, remote netip.AddrPort, c *Conn, o sched.DialOptions) error {
	ld := &loopDial{loopHandler: loopHandler{s}}
	o.Loop, o.Handler = l, ld
	s.conns.Add(1)
	d, err := g.Dial(ctx, remote, o)
	if err != nil {
		s.conns.Add(-1)
		return err
	}
	s.logSteer(d)
	// No callback of the new connection runs before this callback returns
	// (the loop settles it afterwards), so c is complete before any.
	c.loop, c.sc = l, l.Conn(d.Ref)
	c.key = sched.MakeConnKey(d.Local, d.Remote)
	return nil
}

// loopDial is the loops' handler for a connection DialHandler opened
// from a callback: the public callbacks as for every connection, with a
// handshake that ends before ESTABLISHED reported to the Conn's handler
// (OnClose without OnOpen) instead of to a waiting caller.
type loopDial struct{ loopHandler }

func (d *loopDial) OnOpen(sc *sched.Conn) {
	d.s.conns.Add(-1)
	d.loopHandler.OnOpen(sc)
}

func (d *loopDial) OnClose(sc *sched.Conn, err error) {
	if err == nil && !sc.Opened() {
		// Closed in SYN-SENT: the TCB was deleted (RFC 9293 §3.10.4).
		err = tcp.ErrAborted
	}
	d.loopHandler.OnClose(sc, err)
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

// logSteer states, once and whenever it changes, how dials choose their
// source ports (RSS steering, or why the kernel picks them).
func (s *Server) logSteer(d sched.Dialed) {
	if d.Steering != "" {
		s.log.Info("sluice: " + d.Steering)
	}
}
