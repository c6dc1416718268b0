package sluice

import (
	"errors"
	"net"
	"sync"
)

// listener is Server.Listener: accepted connections wait in a bounded
// queue for Accept.
type listener struct {
	s      *Server
	ch     chan *NetConn
	once   sync.Once
	closed chan struct{}
}

// acceptQueue bounds connections handed to the adapter but not yet
// Accepted; beyond it a new connection is reset (the listener backlog
// of a kernel socket, counted in Stats.LimitResets).
const acceptQueue = 4096

func newListener(s *Server) *listener {
	return &listener{s: s, ch: make(chan *NetConn, acceptQueue), closed: make(chan struct{})}
}

// Listener returns a net.Listener whose Accept yields the server's
// connections as net.Conns, so code written for net (http.Serve(l, mux))
// runs on sluice unchanged. It serves the server made with a nil Handler;
// with a Handler, every connection goes to the Handler and Accept fails.
//
// The Conns it returns are *sluice.NetConn: blocking Read and Write with
// deadlines (SetDeadline, ...), CloseWrite as *net.TCPConn has, and
// bounded buffering in both directions. Closing the listener stops
// Accept (net.ErrClosed); the server keeps running until Shutdown or
// Close.
func (s *Server) Listener() net.Listener {
	if s.lis == nil {
		return errListener{s}
	}
	return s.lis
}

// Accept waits for the next connection. After Close it returns an error
// matching net.ErrClosed.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case nc := <-l.ch:
		return nc, nil
	case <-l.closed:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
}

// Close stops Accept; connections queued but not accepted are reset.
func (l *listener) Close() error {
	first := false
	l.once.Do(func() {
		first = true
		close(l.closed)
	})
	if !first {
		return nil
	}
	for {
		select {
		case nc := <-l.ch:
			nc.c.Abort()
		default:
			return nil
		}
	}
}

// Addr is the first listen address (its port is the one to dial).
func (l *listener) Addr() net.Addr { return listenAddr(l.s) }

// offer queues nc for Accept (loop thread): false when the queue is full
// or the listener closed.
func (l *listener) offer(nc *NetConn) bool {
	select {
	case <-l.closed:
		return false
	default:
	}
	select {
	case l.ch <- nc:
		return true
	default:
		return false
	}
}

func listenAddr(s *Server) net.Addr {
	if len(s.listen) == 0 {
		return &net.TCPAddr{}
	}
	return net.TCPAddrFromAddrPort(s.listen[0])
}

// errListener is Listener of a server with a Handler.
type errListener struct{ s *Server }

var errHasHandler = errors.New("sluice: the server was made with a Handler, which gets every connection: make it with a nil Handler to use Listener")

func (l errListener) Accept() (net.Conn, error) {
	return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: errHasHandler}
}
func (l errListener) Close() error   { return nil }
func (l errListener) Addr() net.Addr { return listenAddr(l.s) }
