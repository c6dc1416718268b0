package testbed

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
)

// Server is what StartServer runs: a *sluice.Server, or a server built
// on one (examples/httpd's).
type Server interface {
	Start() error
	Close() error
}

// StartServer starts s, which its constructor returned with err, failing
// tb on either error, and closes it at tb's cleanup:
//
//	s, err := sluice.NewServer(cfg, h)
//	s = testbed.StartServer(t, s, err)
func StartServer[S Server](tb testing.TB, s S, err error) S {
	tb.Helper()
	if err != nil {
		tb.Fatalf("new server: %v", err)
	}
	if err := s.Start(); err != nil {
		tb.Fatalf("start: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Listen is the pair of listen addresses for port on h, IPv4 and IPv6
// (a sluice.Config's Listen serving both families of the bed).
func (h *Host) Listen(port int) []string {
	return []string{
		netip.AddrPortFrom(h.IPv4, uint16(port)).String(),
		netip.AddrPortFrom(h.IPv6, uint16(port)).String(),
	}
}

// HostPort is addr:port, bracketed for IPv6.
func HostPort(addr netip.Addr, port int) string {
	return net.JoinHostPort(addr.String(), strconv.Itoa(port))
}

// DialContext dials from h's namespace, for http.Transport.DialContext
// and other net.Dialer callers.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}
