package afxdp

// NAPI settings through the kernel's netdev generic netlink family
// (Documentation/netlink/specs/netdev.yaml): napi-get lists a device's
// NAPI instances, napi-set (Linux >= 6.13) sets one instance's
// defer-hard-irqs, gro-flush-timeout and irq-suspend-timeout, the first
// two what
// /sys/class/net/DEV/napi_defer_hard_irqs and gro_flush_timeout set for
// every instance of a device. Preferred busy polling
// (Documentation/networking/napi.rst) needs both non-zero on the queue's
// instance: a busy poll that ends re-arms the instance's timer for
// gro-flush-timeout instead of re-enabling its interrupt, and while the
// application keeps polling within that time the interrupt (on veth: the
// peer's veth_xmit scheduling the NAPI thread) stays off. IRQ suspension
// (same document) is the longer irq-suspend-timeout that an epoll busy
// poll finding events arms instead.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// NAPI is one NAPI instance of a device and its deferral settings.
type NAPI struct {
	ID              uint32
	Ifindex         int
	DeferHardIRQs   uint32        // polls that find no work before the interrupt is re-enabled
	GROFlushTimeout time.Duration // the deferral timer (ns resolution)
	// IRQSuspendTimeout is irq-suspend-timeout: how long the interrupt
	// stays off after an epoll busy poll found events (0: no IRQ
	// suspension). Kernels before 6.13 have no such attribute: it
	// counts only with HasIRQSuspendTimeout, which ListNAPI sets where
	// the kernel reports it and SetNAPI needs to send it. An instance
	// listed with it is written back with it, one built without it
	// leaves the kernel's value alone.
	IRQSuspendTimeout    time.Duration
	HasIRQSuspendTimeout bool
}

// netdev family numbers (include/uapi/linux/netdev.h).
const (
	netdevCmdNAPIGet = 11
	netdevCmdNAPISet = 14

	netdevANAPIIfindex         = 1
	netdevANAPIID              = 2
	netdevANAPIDeferHardIRQs   = 5
	netdevANAPIGROFlushTimeout = 6
	netdevANAPIIRQSuspend      = 7 // Linux >= 6.13
)

// ErrNoNAPISet: the kernel has no netdev napi-set (Linux < 6.13) or no
// netdev family at all (Linux < 6.5).
var ErrNoNAPISet = errors.New("afxdp: the kernel cannot set NAPI deferral per instance (netdev napi-set needs Linux >= 6.13)")

// ListNAPI lists the NAPI instances of the device with ifindex, in the
// calling thread's network namespace. A device whose receive path runs no
// NAPI (veth without GRO or an XDP program) lists none.
func ListNAPI(ifindex int) ([]NAPI, error) {
	fam, err := netdevFamily()
	if err != nil {
		return nil, err
	}
	req := nl.NewNetlinkRequest(int(fam), unix.NLM_F_DUMP)
	req.AddData(genlHeader(netdevCmdNAPIGet))
	req.AddData(nl.NewRtAttr(netdevANAPIIfindex, nl.Uint32Attr(uint32(ifindex))))
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	if err != nil {
		return nil, fmt.Errorf("afxdp: netdev napi-get ifindex %d: %w", ifindex, err)
	}
	var out []NAPI
	for _, m := range msgs {
		if len(m) < nl.SizeofGenlmsg {
			continue
		}
		n, err := parseNAPI(m[nl.SizeofGenlmsg:])
		if err != nil {
			return nil, fmt.Errorf("afxdp: netdev napi-get: %w", err)
		}
		if n.Ifindex == ifindex {
			out = append(out, n)
		}
	}
	return out, nil
}

// parseNAPI reads one napi-get reply's attributes.
func parseNAPI(b []byte) (NAPI, error) {
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return NAPI{}, err
	}
	var n NAPI
	for _, a := range attrs {
		v := nlUint(a.Value)
		switch a.Attr.Type {
		case netdevANAPIIfindex:
			n.Ifindex = int(v)
		case netdevANAPIID:
			n.ID = uint32(v)
		case netdevANAPIDeferHardIRQs:
			n.DeferHardIRQs = uint32(v)
		case netdevANAPIGROFlushTimeout:
			n.GROFlushTimeout = time.Duration(v)
		case netdevANAPIIRQSuspend:
			n.IRQSuspendTimeout, n.HasIRQSuspendTimeout = time.Duration(v), true
		}
	}
	return n, nil
}

// SetNAPI sets the deferral of the NAPI instance n.ID to n's
// DeferHardIRQs and GROFlushTimeout, and its irq-suspend-timeout to
// IRQSuspendTimeout if HasIRQSuspendTimeout, in the calling thread's
// network namespace, with one napi-set. Root only (CAP_NET_ADMIN).
func SetNAPI(n NAPI) error {
	fam, err := netdevFamily()
	if err != nil {
		return err
	}
	req := nl.NewNetlinkRequest(int(fam), unix.NLM_F_ACK)
	req.AddData(genlHeader(netdevCmdNAPISet))
	for _, a := range napiSetAttrs(n) {
		req.AddData(a)
	}
	if _, err := req.Execute(unix.NETLINK_GENERIC, 0); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("%w: napi %d: %v", ErrNoNAPISet, n.ID, err)
		}
		return fmt.Errorf("afxdp: netdev napi-set %d: %w", n.ID, err)
	}
	return nil
}

// napiSetAttrs are napi-set's attributes for n.
func napiSetAttrs(n NAPI) []*nl.RtAttr {
	a := []*nl.RtAttr{
		nl.NewRtAttr(netdevANAPIID, nl.Uint32Attr(n.ID)),
		nl.NewRtAttr(netdevANAPIDeferHardIRQs, nl.Uint32Attr(n.DeferHardIRQs)),
		nl.NewRtAttr(netdevANAPIGROFlushTimeout, nl.Uint64Attr(uint64(n.GROFlushTimeout.Nanoseconds()))),
	}
	if n.HasIRQSuspendTimeout {
		a = append(a, nl.NewRtAttr(netdevANAPIIRQSuspend, nl.Uint64Attr(uint64(n.IRQSuspendTimeout.Nanoseconds()))))
	}
	return a
}

// DeferNAPI gives every instance in list the deferral deferIRQs and
// flush (SetNAPI), in the calling thread's network namespace, in order,
// stopping at the first error; it reports how many it set, so a caller
// can put back exactly those.
func DeferNAPI(list []NAPI, deferIRQs uint32, flush time.Duration) (int, error) {
	for i, x := range list {
		if err := SetNAPI(NAPI{ID: x.ID, DeferHardIRQs: deferIRQs, GROFlushTimeout: flush}); err != nil {
			return i, err
		}
	}
	return len(list), nil
}

func netdevFamily() (uint16, error) {
	f, err := netlink.GenlFamilyGet("netdev")
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNoNAPISet, err)
	}
	for _, op := range f.Ops {
		if op.ID == netdevCmdNAPISet {
			return f.ID, nil
		}
	}
	return 0, ErrNoNAPISet
}

// genlHeader is a genlmsghdr for cmd. nl.Genlmsg serializes 4 octets
// from its 2-octet struct, so its reserved field is whatever follows in
// memory, and the kernel's strict validation refuses a non-zero one
// (EINVAL, "genlmsghdr.reserved field is not 0").
type genlHeader uint8

func (h genlHeader) Len() int          { return nl.SizeofGenlmsg }
func (h genlHeader) Serialize() []byte { return []byte{byte(h), 1, 0, 0} }

// nlUint reads a netlink u32 or u64 (the family's "uint" is either).
func nlUint(b []byte) uint64 {
	switch len(b) {
	case 4:
		return uint64(binary.NativeEndian.Uint32(b))
	case 8:
		return binary.NativeEndian.Uint64(b)
	}
	return 0
}
