package sluice

import (
	"context"
	"errors"
	"net"
)

// errNoDial: the loops cannot open connections yet.
var errNoDial = errors.New("sluice: Dial is not available yet: the event loops cannot open connections (sched has no active open)")

// Dial opens a connection from one of the server's loops to addr
// ("host:port", an IP address: host names are not resolved) and returns
// it as a net.Conn (a *NetConn) once established. network is "tcp",
// "tcp4" or "tcp6". The next hop's MAC comes from the kernel's neighbour
// table; the source address is the interface's (the kernel's route
// choice). Errors are *net.OpError with Op "dial"; a refused connection
// matches ErrRefused and syscall.ECONNREFUSED.
func (s *Server) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	// TODO(sched): Group.Dial (active open, flow registered in the XDP
	// program, source port chosen for the loop's queue).
	return nil, &net.OpError{Op: "dial", Net: network, Err: errNoDial}
}

// DialHandler opens a connection as Dial does, but as a callback
// connection: h gets its OnOpen (before DialHandler returns it) and every
// later callback, on the loop that owns it.
func (s *Server) DialHandler(ctx context.Context, network, addr string, h Handler) (*Conn, error) {
	return nil, &net.OpError{Op: "dial", Net: network, Err: errNoDial}
}
