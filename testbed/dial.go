package testbed

import (
	"net"
	"testing"
	"time"
)

// Dial opens a kernel TCP connection from h's namespace to addr (a
// sluice server on the other end, in most tests), failing tb if it cannot
// within 10 s; the connection is closed at tb's cleanup.
func (h *Host) Dial(tb testing.TB, addr string) *net.TCPConn {
	tb.Helper()
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 10*time.Second)
		return err
	})
	if err != nil {
		tb.Fatalf("dial %s from %s: %v", addr, h.Name, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// ListenTCP opens a kernel TCP listener on addr in h's namespace (a
// peer server or an upstream, in most tests), failing tb if it cannot;
// the listener is closed at tb's cleanup.
func (h *Host) ListenTCP(tb testing.TB, addr string) net.Listener {
	tb.Helper()
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		tb.Fatalf("listen on %s in %s: %v", addr, h.Name, err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln
}
