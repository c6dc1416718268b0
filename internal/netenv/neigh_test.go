package netenv

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
	"github.com/vishvananda/netlink"
)

// flushNeigh empties the calling namespace's neighbour table for ifindex
// (both families) and checks that ip has no valid entry left, so that a
// following Resolve has to make the kernel resolve.
func flushNeigh(ifindex int, ip netip.Addr) error {
	ns, err := netlink.NeighList(ifindex, netlink.FAMILY_ALL)
	if err != nil {
		return err
	}
	for _, n := range ns {
		if n.State&netlink.NUD_PERMANENT == 0 {
			n := n
			netlink.NeighDel(&n)
		}
	}
	e, err := getNeigh(ifindex, ip)
	if err != nil {
		return err
	}
	if e.state.Valid() {
		return fmt.Errorf("entry for %s still %s after the flush", ip, e.state)
	}
	return nil
}

// TestResolveOnLink: from an empty table, Resolve makes the kernel resolve
// the peer (ARP for IPv4, Neighbour Solicitation for IPv6) and returns the
// peer's MAC.
func TestResolveOnLink(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	srv, peer := bed.Server, bed.Peer
	for _, c := range []struct {
		dst, src netip.Addr
	}{{peer.IPv4, srv.IPv4}, {peer.IPv6, srv.IPv6}} {
		t.Run(c.dst.String(), func(t *testing.T) {
			err := srv.Do(func() error {
				if err := flushNeigh(srv.Ifindex, c.dst); err != nil {
					return err
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				h, err := Resolve(ctx, c.dst, RouteOptions{Ifname: srv.Link})
				if err != nil {
					return err
				}
				t.Logf("%+v", h)
				if h.MAC.String() != peer.MAC.String() || !h.OnLink() || h.Src != c.src || h.Ifname != srv.Link ||
					h.Ifindex != srv.Ifindex || h.SrcMAC.String() != srv.MAC.String() || !h.State.Valid() || h.Target() != c.dst {
					t.Errorf("Resolve(%s) = %+v; want MAC %s on-link from %s on %s", c.dst, h, peer.MAC, c.src, srv.Link)
				}
				// The entry is now in the kernel's table: a second Resolve
				// answers from it.
				h2, err := Resolve(ctx, c.dst, RouteOptions{})
				if err != nil || h2.MAC.String() != peer.MAC.String() {
					t.Errorf("second Resolve = %+v, %v", h2, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestResolveGateway: a destination behind a router resolves the router's
// MAC, not the destination's.
func TestResolveGateway(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	srv, peer := bed.Server, bed.Peer
	// The peer's link-local address, the usual IPv6 gateway (RFC 4861 §8).
	var peerLL netip.Addr
	if err := peer.Do(func() error {
		l, err := netlink.LinkByName(peer.Link)
		if err != nil {
			return err
		}
		as, err := netlink.AddrList(l, netlink.FAMILY_V6)
		if err != nil {
			return err
		}
		for _, a := range as {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.IsLinkLocalUnicast() {
				peerLL = ip
			}
		}
		return nil
	}); err != nil || !peerLL.IsValid() {
		t.Fatalf("peer link-local address: %v %v", peerLL, err)
	}
	for _, c := range []struct {
		prefix string
		dst    netip.Addr
		gw     netip.Addr
	}{
		{"198.19.5.0/24", netip.MustParseAddr("198.19.5.7"), peer.IPv4},
		{"2001:2:0:5::/64", netip.MustParseAddr("2001:2:0:5::7"), peer.IPv6},
		{"2001:2:0:6::/64", netip.MustParseAddr("2001:2:0:6::7"), peerLL},
	} {
		err := srv.Do(func() error {
			_, dstNet, _ := net.ParseCIDR(c.prefix)
			r := &netlink.Route{LinkIndex: srv.Ifindex, Dst: dstNet, Gw: c.gw.AsSlice()}
			if err := netlink.RouteAdd(r); err != nil {
				return fmt.Errorf("route add %s via %s: %w", c.prefix, c.gw, err)
			}
			defer netlink.RouteDel(r)
			if err := flushNeigh(srv.Ifindex, c.gw); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			h, err := Resolve(ctx, c.dst, RouteOptions{Ifname: srv.Link})
			if err != nil {
				return err
			}
			t.Logf("%+v", h)
			wantGw := c.gw
			if wantGw.IsLinkLocalUnicast() {
				wantGw = wantGw.WithZone(srv.Link)
			}
			if h.Gateway != wantGw || h.OnLink() || h.Dst != c.dst || h.Target() != wantGw || h.MAC.String() != peer.MAC.String() {
				t.Errorf("Resolve(%s) = %+v; want gateway %s with MAC %s", c.dst, h, c.gw, peer.MAC)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestResolveNoReply: an unused on-link address gets no ARP/ND reply;
// Resolve gives up within its context (or when the kernel marks the entry
// FAILED) with ErrNeighbourUnreachable.
func TestResolveNoReply(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	srv := bed.Server
	for _, c := range []struct {
		dst   string
		proto string
	}{{"198.18.0.99", "no ARP reply"}, {"2001:2::99", "no ND (Neighbour Advertisement) reply"}} {
		err := srv.Do(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			defer cancel()
			h, err := Resolve(ctx, netip.MustParseAddr(c.dst), RouteOptions{Ifname: srv.Link})
			if err == nil {
				return fmt.Errorf("Resolve(%s) = %+v, want an error", c.dst, h)
			}
			wantErr(t, err, ErrNeighbourUnreachable, c.proto+" from "+c.dst+" on dev "+srv.Link)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestTriggers: each way of starting resolution works on its own: the
// netlink NTF_USE request, and the unprivileged fallback (a datagram to the
// discard port).
func TestTriggers(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	srv, peer := bed.Server, bed.Peer
	for _, trig := range []struct {
		name string
		fn   func(int, netip.Addr) error
	}{{"NTF_USE", neighUse}, {"UDP", pokeUDP}} {
		for _, dst := range []netip.Addr{peer.IPv4, peer.IPv6} {
			t.Run(trig.name+" "+dst.String(), func(t *testing.T) {
				if err := srv.Do(func() error { return trigger(t, srv.Ifindex, dst, peer.MAC, trig.fn) }); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func trigger(t *testing.T, ifindex int, dst netip.Addr, want net.HardwareAddr, fn func(int, netip.Addr) error) error {
	if err := flushNeigh(ifindex, dst); err != nil {
		return err
	}
	if err := fn(ifindex, dst); err != nil {
		return fmt.Errorf("trigger %s: %w", dst, err)
	}
	for i := 0; i < 500; i++ { // bounded: at most about 5 s
		e, err := getNeigh(ifindex, dst)
		if err != nil {
			return err
		}
		if e.state.Valid() {
			if e.mac.String() != want.String() {
				t.Errorf("%s resolved to %s, want %s", dst, e.mac, want)
			}
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%s not resolved after the trigger", dst)
}

// TestRouteErrors: destinations sluice cannot dial say why.
func TestRouteErrors(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	srv := bed.Server
	err := srv.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := Resolve(ctx, netip.MustParseAddr("198.51.100.1"), RouteOptions{})
		wantErr(t, err, ErrNoRoute, "no route to 198.51.100.1", "ip route")
		_, err = Resolve(ctx, srv.IPv4, RouteOptions{})
		wantErr(t, err, ErrNoRoute, "198.18.0.1 is an address of this host")
		_, err = Resolve(ctx, netip.MustParseAddr("224.0.0.1"), RouteOptions{})
		wantErr(t, err, ErrNoRoute, "not a unicast address")

		// A route through another interface than sluice's.
		l, err := addLink("sl-other")
		if err != nil {
			return err
		}
		a, _ := netlink.ParseAddr("198.19.9.1/24")
		if err := netlink.AddrAdd(l, a); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return err
		}
		_, err = Route(netip.MustParseAddr("198.19.9.5"), RouteOptions{Ifname: srv.Link})
		wantErr(t, err, ErrNoRoute, "leaves through sl-other, not "+srv.Link)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNeighStateValid: the states the kernel transmits to.
func TestNeighStateValid(t *testing.T) {
	for s, want := range map[NeighState]bool{
		NeighNone: false, NeighIncomplete: false, NeighFailed: false,
		NeighReachable: true, NeighStale: true, NeighDelay: true, NeighProbe: true, NeighPermanent: true, NeighNoARP: true,
	} {
		if s.Valid() != want {
			t.Errorf("%v.Valid() = %v", s, !want)
		}
	}
	if got := (NeighReachable | NeighStale).String(); got != "REACHABLE|STALE" {
		t.Errorf("String = %q", got)
	}
}

// TestResolveStale: a STALE entry is used at once (the kernel itself
// transmits to it, RFC 4861 §7.3.3) and the kernel is asked to re-confirm it.
func TestResolveStale(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	srv, peer := bed.Server, bed.Peer
	err := srv.Do(func() error {
		if err := flushNeigh(srv.Ifindex, peer.IPv4); err != nil {
			return err
		}
		n := &netlink.Neigh{LinkIndex: srv.Ifindex, IP: peer.IPv4.AsSlice(), HardwareAddr: peer.MAC, State: netlink.NUD_STALE}
		if err := netlink.NeighSet(n); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h, err := Resolve(ctx, peer.IPv4, RouteOptions{})
		if err != nil {
			return err
		}
		if h.State != NeighStale || h.MAC.String() != peer.MAC.String() {
			t.Errorf("Resolve = %+v, want the STALE entry's MAC %s", h, peer.MAC)
		}
		// The re-confirmation moved the entry on from STALE (DELAY, PROBE,
		// or already REACHABLE).
		e, err := getNeigh(srv.Ifindex, peer.IPv4)
		if err != nil {
			return err
		}
		if e.state == NeighStale {
			t.Errorf("entry still STALE after Resolve: no re-confirmation started")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
