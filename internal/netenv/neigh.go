package netenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// NeighState is a kernel neighbour entry's NUD state (include/uapi/linux/
// neighbour.h), as `ip neigh` shows it.
type NeighState uint16

// The NUD states.
const (
	NeighNone       NeighState = netlink.NUD_NONE
	NeighIncomplete NeighState = netlink.NUD_INCOMPLETE
	NeighReachable  NeighState = netlink.NUD_REACHABLE
	NeighStale      NeighState = netlink.NUD_STALE
	NeighDelay      NeighState = netlink.NUD_DELAY
	NeighProbe      NeighState = netlink.NUD_PROBE
	NeighFailed     NeighState = netlink.NUD_FAILED
	NeighNoARP      NeighState = netlink.NUD_NOARP
	NeighPermanent  NeighState = netlink.NUD_PERMANENT
)

// Valid reports whether the entry holds a usable MAC (NUD_VALID): the
// kernel itself transmits to STALE, DELAY and PROBE entries while it
// re-confirms them (RFC 4861 §7.3.3).
func (s NeighState) Valid() bool {
	return s&(NeighReachable|NeighStale|NeighDelay|NeighProbe|NeighNoARP|NeighPermanent) != 0
}

func (s NeighState) String() string {
	names := []struct {
		s NeighState
		n string
	}{
		{NeighIncomplete, "INCOMPLETE"}, {NeighReachable, "REACHABLE"}, {NeighStale, "STALE"},
		{NeighDelay, "DELAY"}, {NeighProbe, "PROBE"}, {NeighFailed, "FAILED"},
		{NeighNoARP, "NOARP"}, {NeighPermanent, "PERMANENT"},
	}
	var parts []string
	for _, x := range names {
		if s&x.s != 0 {
			parts = append(parts, x.n)
		}
	}
	if len(parts) == 0 {
		return "NONE"
	}
	return strings.Join(parts, "|")
}

// DefaultResolveTimeout bounds Resolve when its context has no deadline.
// The kernel itself gives up (FAILED) after mcast_solicit probes one
// retrans_time apart, 3 x 1 s by default, which Resolve also honours.
const DefaultResolveTimeout = 5 * time.Second

// Resolve finds the next hop for an active open to dst and its MAC, in the
// calling thread's network namespace: Route, then the kernel's neighbour
// entry for the next hop (DESIGN: active opens resolve through the kernel's
// neighbour table). When the entry is missing or not valid it asks the
// kernel to resolve (RTM_NEWNEIGH with NTF_USE, the netlink equivalent of
// the kernel wanting to transmit; without CAP_NET_ADMIN a throwaway UDP
// datagram to the discard port of the next hop does the same) and waits,
// woken by neighbour notifications (RTNLGRP_NEIGH), until the entry is
// valid, the kernel marks it FAILED, or ctx ends (DefaultResolveTimeout
// when ctx has no deadline). A STALE entry is returned at once, and the
// kernel is asked to re-confirm it in the background, since sluice's own
// traffic never confirms the kernel's entries.
//
// All sockets are made and used on the calling goroutine; call it from the
// network namespace the interface lives in (e.g. a locked thread there).
//
// Passive opens need none of this: a reply goes to the MAC the flow's
// frames came from (DESIGN: Neighbour resolution), so a server never
// consults the neighbour table.
func Resolve(ctx context.Context, dst netip.Addr, o RouteOptions) (NextHop, error) {
	h, err := Route(dst, o)
	if err != nil {
		return NextHop{}, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultResolveTimeout)
		defer cancel()
	}
	target := h.Target()

	// Subscribe before looking, so an update between the look and the wait
	// is not lost. Without a subscription, poll.
	sub, serr := nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_NEIGH)
	if serr == nil {
		defer sub.Close()
	}

	n, err := getNeigh(h.Ifindex, target)
	if err != nil {
		return NextHop{}, err
	}
	if n.state.Valid() {
		if n.state&NeighStale != 0 {
			triggerResolution(h.Ifindex, target) // background re-confirmation
		}
		return withMAC(h, n), nil
	}
	if err := triggerResolution(h.Ifindex, target); err != nil {
		return NextHop{}, fmt.Errorf("sluice: start resolving %s on %s: %w", target, h.Ifname, err)
	}
	last := n.state
	for {
		if err := ctx.Err(); err != nil {
			return NextHop{}, unreachable(h, last, err)
		}
		n, err := getNeigh(h.Ifindex, target)
		if err != nil {
			return NextHop{}, err
		}
		last = n.state
		if n.state.Valid() {
			return withMAC(h, n), nil
		}
		if n.state&NeighFailed != 0 {
			// The kernel sent its probes and gave up.
			return NextHop{}, unreachable(h, last, nil)
		}
		wait(ctx, sub)
	}
}

// wait sleeps until a neighbour notification arrives, 100 ms pass, or
// ctx ends, whichever is first. Notifications are only wake-ups: the next
// look reads the entry itself.
func wait(ctx context.Context, sub *nl.NetlinkSocket) {
	d := 100 * time.Millisecond
	if dl, ok := ctx.Deadline(); ok {
		if r := time.Until(dl); r < d {
			d = r
		}
	}
	if d <= 0 {
		return
	}
	if sub == nil {
		t := time.NewTimer(min(d, 10*time.Millisecond))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return
	}
	tv := unix.NsecToTimeval(d.Nanoseconds())
	sub.SetReceiveTimeout(&tv)
	sub.Receive() // EAGAIN on timeout, ENOBUFS on overflow: both mean "look again"
}

func withMAC(h NextHop, n neighEntry) NextHop {
	h.MAC = n.mac
	h.State = n.state
	return h
}

func unreachable(h NextHop, last NeighState, cause error) error {
	proto := "ARP"
	if h.Target().Is6() {
		proto = "ND (Neighbour Advertisement)"
	}
	who := h.Target().String()
	if h.Gateway.IsValid() {
		who = "gateway " + who + " (next hop to " + h.Dst.String() + ")"
	}
	return newError(ErrNeighbourUnreachable, cause, fmt.Sprintf(
		"no %s reply from %s on dev %s (kernel neighbour entry %s): check that the host is up and on that link (\"ip neigh show dev %s\")",
		proto, who, h.Ifname, last, h.Ifname))
}

type neighEntry struct {
	state NeighState
	mac   net.HardwareAddr
}

// getNeigh reads one neighbour entry (RTM_GETNEIGH with NDA_DST, Linux
// >= 5.0), NONE when the kernel has none. Older kernels refuse the single
// get; then the link's table is dumped and searched.
func getNeigh(ifindex int, ip netip.Addr) (neighEntry, error) {
	fam := unix.AF_INET
	if ip.Is6() {
		fam = unix.AF_INET6
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETNEIGH, 0)
	req.AddData(&netlink.Ndmsg{Family: uint8(fam), Index: uint32(ifindex)})
	req.AddData(nl.NewRtAttr(netlink.NDA_DST, ip.WithZone("").AsSlice()))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWNEIGH)
	switch {
	case errors.Is(err, unix.ENOENT):
		return neighEntry{}, nil
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP):
		ns, derr := netlink.NeighList(ifindex, fam)
		if derr != nil {
			return neighEntry{}, fmt.Errorf("sluice: neighbour table of ifindex %d: %w", ifindex, derr)
		}
		for _, n := range ns {
			if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == ip.WithZone("") {
				return neighEntry{NeighState(n.State), n.HardwareAddr}, nil
			}
		}
		return neighEntry{}, nil
	case err != nil:
		return neighEntry{}, fmt.Errorf("sluice: neighbour lookup of %s: %w", ip, err)
	}
	for _, m := range msgs {
		n, err := netlink.NeighDeserialize(m)
		if err != nil || n.LinkIndex != ifindex {
			continue
		}
		return neighEntry{NeighState(n.State), n.HardwareAddr}, nil
	}
	return neighEntry{}, nil
}

// triggerResolution makes the kernel start (or restart, from FAILED)
// resolving ip on ifindex. RTM_NEWNEIGH with NTF_USE runs
// neigh_event_send() on the entry, creating it if needed, exactly as if
// the kernel had a packet to send to it (net/core/neighbour.c, neigh_add);
// it needs CAP_NET_ADMIN. Without it, sending a datagram does the same
// through the kernel's own output path.
func triggerResolution(ifindex int, ip netip.Addr) error {
	err := neighUse(ifindex, ip)
	if err == nil {
		return nil
	}
	if uerr := pokeUDP(ifindex, ip); uerr != nil {
		return errors.Join(err, uerr)
	}
	return nil
}

// neighUse is RTM_NEWNEIGH (create or replace) with NTF_USE for ip on
// ifindex; the kernel ignores the state given and runs neigh_event_send.
func neighUse(ifindex int, ip netip.Addr) error {
	return netlink.NeighSet(&netlink.Neigh{
		LinkIndex: ifindex,
		IP:        ip.WithZone("").AsSlice(),
		Flags:     netlink.NTF_USE,
	})
}

// pokeUDP sends an empty UDP datagram to ip's discard port (RFC 863) out
// of ifindex (IP_PKTINFO / IPV6_PKTINFO, or the scope of a link-local
// address), which makes the kernel resolve ip. The peer at most answers
// with an ICMP port unreachable, which the kernel consumes.
func pokeUDP(ifindex int, ip netip.Addr) error {
	fam := unix.AF_INET
	if ip.Is6() {
		fam = unix.AF_INET6
	}
	fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	const discard = 9
	if ip.Is4() {
		oob := unix.PktInfo4(&unix.Inet4Pktinfo{Ifindex: int32(ifindex)})
		return unix.Sendmsg(fd, nil, oob, &unix.SockaddrInet4{Port: discard, Addr: ip.As4()}, 0)
	}
	sa := &unix.SockaddrInet6{Port: discard, Addr: ip.As16()}
	if ip.IsLinkLocalUnicast() {
		sa.ZoneId = uint32(ifindex)
	}
	oob := unix.PktInfo6(&unix.Inet6Pktinfo{Ifindex: uint32(ifindex)})
	return unix.Sendmsg(fd, nil, oob, sa, 0)
}
