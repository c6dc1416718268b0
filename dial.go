package sluice

import (
	"context"
	"errors"
	"net"
)

// dialWait is how a Dial learns its outcome from the loop: nil once
// OnOpen ran, the close reason otherwise. Buffered: the loop never waits.
type dialWait chan error

// errNoDial: the loops cannot open connections yet.
var errNoDial = errors.New("sluice: Dial is not available yet: the event loops cannot open connections (sched has no active open)")

// Dial opens a connection from one of the server's loops to addr and
// returns it as a net.Conn (a *NetConn) once established.
func (s *Server) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return nil, &net.OpError{Op: "dial", Net: network, Err: errNoDial}
}

// DialHandler opens a connection as Dial does, as a callback connection.
func (s *Server) DialHandler(ctx context.Context, network, addr string, h Handler) (*Conn, error) {
	return nil, &net.OpError{Op: "dial", Net: network, Err: errNoDial}
}
