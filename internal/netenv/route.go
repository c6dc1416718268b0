package netenv

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NextHop is where an active open's frames go: the kernel's routing
// decision for a destination, and (after Resolve) the next hop's MAC.
type NextHop struct {
	Dst     netip.Addr       // the destination asked for
	Src     netip.Addr       // the source address the kernel picked (RTA_PREFSRC)
	Gateway netip.Addr       // the router to go through; invalid when on-link
	Ifindex int              // output interface
	Ifname  string           // its name
	SrcMAC  net.HardwareAddr // the output interface's MAC (Ethernet source)
	MAC     net.HardwareAddr // the next hop's MAC (Ethernet destination); set by Resolve
	State   NeighState       // the kernel neighbour entry's state when MAC was read
}

// OnLink reports whether Dst is reached directly (no gateway).
func (h NextHop) OnLink() bool { return !h.Gateway.IsValid() }

// Target is the address whose MAC the frames carry: the gateway, or Dst
// itself when on-link.
func (h NextHop) Target() netip.Addr {
	if h.Gateway.IsValid() {
		return h.Gateway
	}
	return h.Dst
}

// RouteOptions constrain a lookup.
type RouteOptions struct {
	// Ifname, when set, is the interface sluice runs on: a route leaving
	// through another interface is an ErrNoRoute error, because sluice can
	// send only on the device its AF_XDP sockets are bound to. The lookup
	// itself is not constrained to it (with an output interface forced, the
	// kernel assumes any destination is on-link when no route matches,
	// which would hide a missing route).
	Ifname string
	// Src, when valid, is the source address to route from (policy
	// routing by source); the kernel's choice otherwise.
	Src netip.Addr
}

// Route asks the kernel (RTM_GETROUTE, as `ip route get`) how it would
// reach dst from the calling thread's network namespace: output interface,
// source address, gateway or on-link. It does not resolve the MAC.
func Route(dst netip.Addr, o RouteOptions) (NextHop, error) {
	dst = dst.Unmap()
	if !dst.IsValid() || dst.IsUnspecified() || dst.IsMulticast() {
		return NextHop{}, newError(ErrNoRoute, nil, fmt.Sprintf("cannot dial %v: not a unicast address", dst))
	}
	var ro netlink.RouteGetOptions
	if o.Src.IsValid() {
		ro.SrcAddr = o.Src.Unmap().AsSlice()
	}
	rs, err := netlink.RouteGetWithOptions(dst.WithZone("").AsSlice(), &ro)
	if err != nil {
		if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) ||
			errors.Is(err, unix.EACCES) || errors.Is(err, unix.EINVAL) {
			return NextHop{}, newError(ErrNoRoute, err, fmt.Sprintf(
				"no route to %s: add one (\"ip route add %s via GATEWAY dev IF\") or check \"ip route get %s\"", dst, dst, dst))
		}
		return NextHop{}, fmt.Errorf("sluice: route lookup for %s: %w", dst, err)
	}
	if len(rs) == 0 {
		return NextHop{}, newError(ErrNoRoute, nil, fmt.Sprintf("no route to %s: the kernel returned none", dst))
	}
	r := rs[0]
	switch r.Type {
	case unix.RTN_UNICAST:
	case unix.RTN_LOCAL:
		return NextHop{}, newError(ErrNoRoute, nil, fmt.Sprintf(
			"%s is an address of this host: sluice sends on the wire and cannot dial itself; use the kernel's loopback", dst))
	default:
		return NextHop{}, newError(ErrNoRoute, nil, fmt.Sprintf(
			"the route to %s is of type %d (not unicast: blackhole, unreachable, prohibit, broadcast...): check \"ip route get %s\"", dst, r.Type, dst))
	}
	l, err := netlink.LinkByIndex(r.LinkIndex)
	if err != nil {
		return NextHop{}, fmt.Errorf("sluice: route to %s leaves through ifindex %d: %w", dst, r.LinkIndex, err)
	}
	h := NextHop{Dst: dst, Ifindex: r.LinkIndex, Ifname: l.Attrs().Name, SrcMAC: l.Attrs().HardwareAddr}
	if o.Ifname != "" && o.Ifname != h.Ifname {
		return NextHop{}, newError(ErrNoRoute, nil, fmt.Sprintf(
			"the route to %s leaves through %s, not %s where sluice runs: add a route through %s (\"ip route add %s dev %s ...\") or run sluice on %s",
			dst, h.Ifname, o.Ifname, o.Ifname, dst, o.Ifname, h.Ifname))
	}
	if a, ok := netip.AddrFromSlice(r.Src); ok {
		h.Src = a.Unmap()
	}
	if a, ok := netip.AddrFromSlice(r.Gw); ok && !a.IsUnspecified() {
		h.Gateway = a.Unmap()
	} else if v, ok := r.Via.(*netlink.Via); ok && v != nil {
		// RFC 5549 / RTA_VIA: an IPv4 route through an IPv6 gateway.
		if a, ok := netip.AddrFromSlice(v.Addr); ok {
			h.Gateway = a.Unmap()
		}
	}
	if h.Gateway.IsValid() && h.Gateway.Is6() && h.Gateway.IsLinkLocalUnicast() {
		h.Gateway = h.Gateway.WithZone(h.Ifname)
	}
	if len(h.SrcMAC) != 6 {
		return NextHop{}, newError(ErrNoRoute, nil, fmt.Sprintf(
			"the route to %s leaves through %s, which is not an Ethernet device: sluice needs Ethernet framing", dst, h.Ifname))
	}
	return h, nil
}
