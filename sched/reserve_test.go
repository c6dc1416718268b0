package sched

import (
	"errors"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReservePort: the reservation (a bound, never listening kernel
// socket) gets a kernel-chosen port for port 0, keeps every other kernel
// socket off that address and port while it is held (EADDRINUSE), gives
// a requested port as asked, and frees the port when released. Loopback
// only, no privileges: it runs in the test's own namespace.
func TestReservePort(t *testing.T) {
	for _, a := range []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()} {
		r, port, err := reservePort(netip.AddrPortFrom(a, 0))
		if err != nil {
			if a.Is6() && errors.Is(err, unix.EADDRNOTAVAIL) {
				t.Logf("%v: no IPv6 loopback here", a)
				continue
			}
			t.Fatal(err)
		}
		if port == 0 {
			t.Fatalf("%v: reservation without a port", a)
		}
		ap := netip.AddrPortFrom(a, port)
		if r2, _, err := reservePort(ap); !errors.Is(err, unix.EADDRINUSE) {
			if err == nil {
				r2.close()
			}
			t.Errorf("%v: a second bind while reserved: %v, want EADDRINUSE", ap, err)
		}
		r.close()
		r3, got, err := reservePort(ap)
		if err != nil || got != port {
			t.Fatalf("%v after release: port %d, %v", ap, got, err)
		}
		if err := r3.release(); err != nil { // no flow: closes only
			t.Error(err)
		}
		if r3.fd != -1 {
			t.Error("release left the socket open")
		}
	}
}
