package netenv

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// KernelListener is a kernel TCP socket in LISTEN state.
type KernelListener struct {
	Local   netip.AddrPort // the bound address (:: or 0.0.0.0 for a wildcard)
	V6Only  bool           // IPV6_V6ONLY: an IPv6 wildcard that takes no IPv4
	Ifindex int            // SO_BINDTODEVICE, 0 when not bound to a device
	Inode   uint32
	Owner   string // "pid N (comm)" when /proc tells, else ""
}

// Kernel constants not in x/sys (include/uapi/linux/inet_diag.h).
const (
	inetDiagSKV6Only  = 11 // INET_DIAG_SKV6ONLY
	sizeofInetDiagReq = 56 // struct inet_diag_req_v2
	sizeofInetDiagMsg = 72 // struct inet_diag_msg
	tcpListen         = 10 // TCP_LISTEN in the kernel's tcp_states.h
)

// inetDiagReq is struct inet_diag_req_v2 asking for every socket of one
// family in the states in the bitmask; the socket id stays zero (a dump
// without a bytecode filter ignores it).
type inetDiagReq struct {
	family uint8
	states uint32
}

func (r *inetDiagReq) Len() int { return sizeofInetDiagReq }

func (r *inetDiagReq) Serialize() []byte {
	b := make([]byte, sizeofInetDiagReq)
	b[0] = r.family
	b[1] = unix.IPPROTO_TCP
	nl.NativeEndian().PutUint32(b[4:8], r.states)
	return b
}

// KernelListeners lists the kernel's listening TCP sockets of both
// families in the calling thread's network namespace, through
// NETLINK_SOCK_DIAG (SOCK_DIAG_BY_FAMILY, states = LISTEN only, so a host
// with a million connections answers with its few listeners).
func KernelListeners() ([]KernelListener, error) {
	var out []KernelListener
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		req := nl.NewNetlinkRequest(unix.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP)
		req.AddData(&inetDiagReq{family: fam, states: 1 << tcpListen})
		msgs, err := req.Execute(unix.NETLINK_INET_DIAG, unix.SOCK_DIAG_BY_FAMILY)
		if err != nil {
			if fam == unix.AF_INET6 && err == unix.ENOENT {
				continue // kernel without IPv6: no IPv6 listeners
			}
			return nil, fmt.Errorf("sluice: sock_diag dump of TCP listeners: %w", err)
		}
		for _, m := range msgs {
			if kl, ok := parseInetDiagMsg(m); ok {
				out = append(out, kl)
			}
		}
	}
	return out, nil
}

// parseInetDiagMsg decodes struct inet_diag_msg and its attributes. Ports
// and addresses are in network order, the rest in host order.
func parseInetDiagMsg(m []byte) (KernelListener, bool) {
	if len(m) < sizeofInetDiagMsg {
		return KernelListener{}, false
	}
	ne := nl.NativeEndian()
	fam := m[0]
	// id starts at 4: sport(2) dport(2) src(16) dst(16) if(4) cookie(8)
	sport := binary.BigEndian.Uint16(m[4:6])
	var addr netip.Addr
	switch fam {
	case unix.AF_INET:
		addr = netip.AddrFrom4([4]byte(m[8:12]))
	case unix.AF_INET6:
		addr = netip.AddrFrom16([16]byte(m[8:24]))
	default:
		return KernelListener{}, false
	}
	kl := KernelListener{
		Local:   netip.AddrPortFrom(addr, sport),
		Ifindex: int(ne.Uint32(m[40:44])),
		Inode:   ne.Uint32(m[68:72]),
	}
	kl.V6Only = v6Only(m[sizeofInetDiagMsg:])
	return kl, true
}

// v6Only finds INET_DIAG_SKV6ONLY among the attributes that follow the
// message. It walks them itself, checking every length against the
// buffer: nl.ParseRouteAttr panics on a truncated attribute.
func v6Only(b []byte) bool {
	ne := nl.NativeEndian()
	for len(b) >= 4 {
		l := int(ne.Uint16(b[0:2]))
		typ := ne.Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < 4 || l > len(b) {
			return false
		}
		if typ == inetDiagSKV6Only && l >= 5 {
			return b[4] != 0
		}
		l = (l + 3) &^ 3 // NLA_ALIGN
		if l >= len(b) {
			return false
		}
		b = b[l:]
	}
	return false
}

// takes reports whether a kernel listener would receive segments for
// (addr, port) arriving on ifindex, i.e. whether XDP steering that
// port away starves it. addr may be unspecified (sluice serving every
// address of its family); then every kernel listener on the port of that
// family conflicts except one bound to an address sluice does not serve,
// which ifAddrs tells.
func (kl KernelListener) takes(addr netip.Addr, port uint16, ifindex int, ifAddrs []netip.Addr) bool {
	if kl.Local.Port() != port {
		return false
	}
	if kl.Ifindex != 0 && ifindex != 0 && kl.Ifindex != ifindex {
		return false
	}
	kAddr := kl.Local.Addr()
	v4 := addr.Unmap().Is4()
	// Which family does the kernel socket accept?
	switch {
	case kAddr.Is4():
		if !v4 {
			return false
		}
	case kAddr.IsUnspecified(): // [::]: IPv6, and IPv4 too unless V6ONLY
		if v4 && kl.V6Only {
			return false
		}
		kAddr = netip.Addr{}
	case kAddr.Is4In6(): // bound to ::ffff:a.b.c.d: IPv4 only
		if !v4 {
			return false
		}
		kAddr = kAddr.Unmap()
	default:
		if v4 {
			return false
		}
	}
	if !kAddr.IsValid() || kAddr.IsUnspecified() {
		return true // kernel wildcard: takes whatever sluice serves
	}
	a := addr.Unmap().WithZone("")
	if !a.IsUnspecified() {
		return kAddr == a
	}
	for _, ia := range ifAddrs {
		if ia.Unmap() == kAddr {
			return true
		}
	}
	return false
}

// CheckKernelListener reports a kernel TCP socket listening on what sluice
// is to serve: (addr, port) on ifname, in the calling thread's network
// namespace. Such a socket would never see a segment again once XDP
// steers the port (its SYNs go to sluice), so it is almost always a
// mistake: a second copy of the server, or the old net/http server.
// Wildcard binds match on both sides; an IPv6 wildcard without
// IPV6_V6ONLY matches IPv4 too. The message names the owning process when
// /proc shows it.
func CheckKernelListener(ifname string, addr netip.Addr, port uint16) error {
	l, err := link(ifname)
	if err != nil {
		return err
	}
	var ifAddrs []netip.Addr
	if addr.IsUnspecified() {
		as, err := addrList(l)
		if err != nil {
			return err
		}
		for _, a := range as {
			ifAddrs = append(ifAddrs, a.prefix.Addr())
		}
	}
	kls, err := KernelListeners()
	if err != nil {
		return err
	}
	for _, kl := range kls {
		if !kl.takes(addr, port, l.Attrs().Index, ifAddrs) {
			continue
		}
		kl.Owner = socketOwner(kl.Inode)
		who := ""
		if kl.Owner != "" {
			who = " held by " + kl.Owner
		}
		ours := netip.AddrPortFrom(addr.WithZone(""), port)
		return newError(ErrKernelListener, nil, fmt.Sprintf(
			"a kernel TCP socket already listens on %s%s, which covers %s on %s: once XDP steers the port it would never see traffic; stop it or serve on another port",
			kl.Local, who, ours, ifname))
	}
	return nil
}

// socketOwner finds a process holding the socket inode by scanning
// /proc/PID/fd (as ss -p does); "" when none is visible (another user's
// process without CAP_SYS_PTRACE, or another PID namespace). Bounded by the
// number of processes; it runs only on the error path.
func socketOwner(inode uint32) string {
	if inode == 0 {
		return ""
	}
	want := "socket:[" + strconv.FormatUint(uint64(inode), 10) + "]"
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return ""
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		dir := "/proc/" + p.Name() + "/fd/"
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if t, err := os.Readlink(dir + fd.Name()); err == nil && t == want {
				comm, _ := os.ReadFile("/proc/" + p.Name() + "/comm")
				return fmt.Sprintf("pid %d (%s)", pid, strings.TrimSpace(string(comm)))
			}
		}
	}
	return ""
}
