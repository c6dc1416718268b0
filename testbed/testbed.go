// Package testbed builds the network every sluice system test, example and
// benchmark runs on: two network namespaces joined by a veth pair. The Server
// end is where sluice attaches its XDP program and AF_XDP sockets; the Peer
// end is the Linux stack, the real peer (curl, net/http, raw sockets).
//
// With Options.Middle the two ends are joined through a third namespace
// instead, where package testbed/impair forwards frames in user space with
// loss, duplication, reordering, delay and a rate limit: the kernels sluice
// is tested on, CI's included, have no netem qdisc to do it.
//
// Addresses come from the benchmarking ranges 198.18.0.0/15 (RFC 2544) and
// 2001:2::/48 (RFC 5180), and exist only inside the namespaces made here.
// Everything a Bed makes is removed by Close; New ties Close to the test's
// cleanup so it also runs when the test fails or panics.
package testbed

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/internal/ethtool"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Options shape the veth pair.
type Options struct {
	Queues int // RX and TX queues on each end; 0 means 1
	MTU    int // 0 means 1500
	// Middle puts a third namespace between Server and Peer, joined to
	// each by a veth pair of its own, instead of one pair joining them
	// directly. Nothing forwards between the middle namespace's two links
	// until a user-space forwarder does (package testbed/impair, which
	// drops, duplicates, reorders, delays and rate-limits frames: this
	// kernel has no netem). Server and Peer keep their addresses, links
	// and MACs: it is one Ethernet segment with a forwarder in it.
	Middle bool
	// PeerOffloads leaves the Peer's veth at the kernel's default
	// offloads (TX checksum offload, TSO, GSO on), as every container's
	// veth is, instead of turning them off: the Peer's TCP then sends
	// segments whose checksum field holds only the pseudo-header sum
	// (CHECKSUM_PARTIAL), which the veth delivers as they are. Its GSO
	// stops once a native XDP program is on the Server end (veth turns
	// off software GSO towards an XDP peer); with a generic-mode program
	// it does not, and the Peer's TSO super-frames, larger than a UMEM
	// frame, are dropped by the AF_XDP socket (its RxDropped). Not with
	// Middle.
	PeerOffloads bool
}

// Bed is two namespaces joined by a veth pair (or, with Options.Middle, by
// two veth pairs through a third namespace).
type Bed struct {
	Server *Host   // the end sluice runs on
	Peer   *Host   // the Linux peer
	Middle *Middle // between the two; nil unless Options.Middle
	closed bool
}

// Host is one end of the veth pair, inside its own namespace.
type Host struct {
	Name    string // named netns: `ip netns exec Name ...` works
	Link    string // the veth's name inside the namespace
	Ifindex int    // the veth's ifindex inside the namespace
	MAC     net.HardwareAddr
	IPv4    netip.Addr // prefix length 24
	IPv6    netip.Addr // prefix length 64, no duplicate address detection
	MTU     int
	Queues  int
	ns      netns.NsHandle
	// offloads keeps the link's default offloads (Options.PeerOffloads).
	offloads bool
}

// Fixed addresses: each Bed has namespaces of its own, so beds never clash.
var (
	ServerIPv4 = netip.MustParseAddr("198.18.0.1")
	PeerIPv4   = netip.MustParseAddr("198.18.0.2")
	ServerIPv6 = netip.MustParseAddr("2001:2::1")
	PeerIPv6   = netip.MustParseAddr("2001:2::2")
)

// Link names inside the namespaces.
const (
	serverLink = "sl-srv"
	peerLink   = "sl-peer"
)

var seq atomic.Uint32

// nsPrefix names this process's namespaces, so a leak check (and a later run
// cleaning up after a killed one) can tell ours from anyone else's.
func nsPrefix(pid int) string { return fmt.Sprintf("sluice-%d-", pid) }

// New builds a Bed for a test: it calls Require, and registers Close with
// tb.Cleanup so the namespaces go away even if the test fails.
func New(tb testing.TB, o Options) *Bed {
	tb.Helper()
	Require(tb)
	b, err := Create(o)
	if err != nil {
		tb.Fatalf("testbed: %v", err)
	}
	tb.Cleanup(func() {
		if err := b.Close(); err != nil {
			tb.Errorf("testbed close: %v", err)
		}
	})
	return b
}

// Create builds a Bed. The caller must Close it.
func Create(o Options) (b *Bed, err error) {
	if err := Check(); err != nil {
		return nil, err
	}
	if o.Queues <= 0 {
		o.Queues = 1
	}
	if o.MTU <= 0 {
		o.MTU = 1500
	}
	if o.PeerOffloads && o.Middle {
		return nil, errors.New("testbed: Options.PeerOffloads with Middle: the forwarder would get the Peer's GSO super-frames")
	}
	removeStale()
	n := seq.Add(1)
	base := fmt.Sprintf("%s%d", nsPrefix(os.Getpid()), n)
	b = &Bed{
		Server: &Host{Name: base + "-srv", Link: serverLink, IPv4: ServerIPv4, IPv6: ServerIPv6, MTU: o.MTU, Queues: o.Queues, ns: -1},
		Peer:   &Host{Name: base + "-peer", Link: peerLink, IPv4: PeerIPv4, IPv6: PeerIPv6, MTU: o.MTU, Queues: o.Queues, ns: -1, offloads: o.PeerOffloads},
	}
	defer func() {
		if err != nil {
			b.Close()
			b = nil
		}
	}()
	for _, h := range []*Host{b.Server, b.Peer} {
		if h.ns, err = newNamed(h.Name); err != nil {
			return b, fmt.Errorf("create netns %s: %w", h.Name, err)
		}
		if err := h.Do(noDAD); err != nil {
			return b, fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	if o.Middle {
		if err := b.wireMiddle(o, base+"-mid"); err != nil {
			return b, err
		}
		return b, nil
	}
	if err := b.wire(o); err != nil {
		return b, err
	}
	return b, nil
}

// wire makes the veth pair directly inside the two namespaces (it never
// appears in the caller's namespace), addresses it and brings it up.
func (b *Bed) wire(o Options) error {
	hs, err := netlink.NewHandleAt(b.Server.ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", b.Server.Name, err)
	}
	defer hs.Close()
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{
			Name: serverLink, MTU: o.MTU,
			NumTxQueues: o.Queues, NumRxQueues: o.Queues,
		},
		PeerName:        peerLink,
		PeerNamespace:   netlink.NsFd(b.Peer.ns),
		PeerMTU:         uint32(o.MTU),
		PeerNumTxQueues: uint32(o.Queues),
		PeerNumRxQueues: uint32(o.Queues),
	}
	if err := hs.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth pair: %w", err)
	}
	for _, h := range []*Host{b.Server, b.Peer} {
		if err := h.configure(); err != nil {
			return err
		}
	}
	for _, h := range []*Host{b.Server, b.Peer} {
		if err := h.waitReady(5 * time.Second); err != nil {
			return err
		}
	}
	return nil
}

// waitReady waits until the link is operationally up and its qdisc is
// attached. The kernel does both asynchronously after "ip link set up"
// (linkwatch, rate-limited to once a second); until then transmitted frames
// are dropped by the placeholder noop qdisc, and a test's first packet is lost.
func (h *Host) waitReady(limit time.Duration) error {
	return waitLinkReady(h.ns, h.Name, h.Link, limit)
}

func waitLinkReady(ns netns.NsHandle, nsName, link string, limit time.Duration) error {
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer nh.Close()
	deadline := time.Now().Add(limit)
	for {
		l, err := nh.LinkByName(link)
		if err != nil {
			return err
		}
		if l.Attrs().OperState == netlink.OperUp {
			qs, err := nh.QdiscList(l)
			if err != nil {
				return err
			}
			ready := len(qs) > 0
			for _, q := range qs {
				if q.Type() == "noop" {
					ready = false
				}
			}
			if ready {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not up after %v", nsName, link, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *Host) configure() error {
	nh, err := netlink.NewHandleAt(h.ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", h.Name, err)
	}
	defer nh.Close()
	if lo, err := nh.LinkByName("lo"); err == nil {
		if err := nh.LinkSetUp(lo); err != nil {
			return fmt.Errorf("%s: lo up: %w", h.Name, err)
		}
	}
	l, err := nh.LinkByName(h.Link)
	if err != nil {
		return fmt.Errorf("%s: find %s: %w", h.Name, h.Link, err)
	}
	h.Ifindex = l.Attrs().Index
	h.MAC = l.Attrs().HardwareAddr
	for _, a := range []netip.Prefix{netip.PrefixFrom(h.IPv4, 24), netip.PrefixFrom(h.IPv6, 64)} {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())}}
		if a.Addr().Is6() {
			// No duplicate address detection: the address is usable at once
			// instead of after a second of "tentative".
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := nh.AddrAdd(l, addr); err != nil {
			return fmt.Errorf("%s: add %s: %w", h.Name, a, err)
		}
	}
	// A veth wire otherwise carries 64 KiB GSO super-frames with partial
	// checksums; a real wire carries MTU-sized frames with real checksums
	// (DESIGN: test rig). Both ends, so kernel-TCP baselines get no veth-only
	// advantage either. Options.PeerOffloads keeps the Peer's.
	if !h.offloads {
		if err := h.Do(func() error { return offloadsOff(h.Link) }); err != nil {
			return fmt.Errorf("%s: offloads off: %w", h.Name, err)
		}
	}
	if err := nh.LinkSetUp(l); err != nil {
		return fmt.Errorf("%s: %s up: %w", h.Name, h.Link, err)
	}
	return nil
}

// offloadsOff turns off TX checksum offload, TSO and GSO on dev in the
// calling thread's namespace, and any extra switches given (GRO).
func offloadsOff(dev string, extra ...uint32) error {
	for _, cmd := range append([]uint32{unix.ETHTOOL_STSO, unix.ETHTOOL_SGSO, unix.ETHTOOL_STXCSUM}, extra...) {
		if err := ethtool.SetValue(dev, cmd, 0); err != nil {
			return fmt.Errorf("ethtool cmd %#x on %s: %w", cmd, dev, err)
		}
	}
	return nil
}

// noDAD turns off IPv6 duplicate address detection for every interface made
// later in the calling thread's namespace, link-local addresses included:
// nobody else is on this wire, and a tentative address would make the first
// seconds of every test flaky.
func noDAD() error {
	for _, conf := range []string{"all", "default"} {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+conf+"/accept_dad", []byte("0"), 0o644); err != nil {
			return fmt.Errorf("disable DAD: %w", err)
		}
	}
	return nil
}

// Close removes both namespaces; the veth pair, its addresses and any XDP
// program attached to it go with them.
func (b *Bed) Close() error {
	if b == nil || b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	if err := b.Middle.close(); err != nil {
		errs = append(errs, err)
	}
	for _, h := range []*Host{b.Server, b.Peer} {
		if h == nil {
			continue
		}
		if h.ns >= 0 {
			h.ns.Close()
			h.ns = -1
		}
		if err := netns.DeleteNamed(h.Name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete netns %s: %w", h.Name, err))
		}
	}
	return errors.Join(errs...)
}

// newNamed creates a named namespace without moving the calling thread: it
// runs on a throwaway locked thread that is discarded if it cannot return to
// its original namespace.
func newNamed(name string) (netns.NsHandle, error) {
	type result struct {
		h   netns.NsHandle
		err error
	}
	c := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			c <- result{-1, err}
			return
		}
		defer orig.Close()
		h, err := netns.NewNamed(name)
		if serr := netns.Set(orig); serr == nil {
			runtime.UnlockOSThread()
		}
		c <- result{h, err}
	}()
	r := <-c
	return r.h, r.err
}
