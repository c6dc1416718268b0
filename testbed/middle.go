package testbed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Middle is the namespace between Server and Peer in a Bed made with
// Options.Middle. It holds two links, each the other end of a veth pair:
// ServerSide faces Server.Link, PeerSide faces Peer.Link. It has no
// addresses, IPv6 is off in it (no link-local chatter of its own), and the
// kernel does not forward between the links: a frame crosses only when a
// user-space forwarder (testbed/impair) reads it from one link and writes it
// to the other.
type Middle struct {
	Name       string // named netns
	ServerSide Port   // faces Server.Link
	PeerSide   Port   // faces Peer.Link
	MTU        int
	ns         netns.NsHandle
}

// Port is one link of the middle namespace.
type Port struct {
	Link    string
	Ifindex int // inside the middle namespace
	MAC     net.HardwareAddr
}

// Link names inside the middle namespace.
const (
	midServerLink = "sl-mid-srv"
	midPeerLink   = "sl-mid-peer"
)

// Do runs fn on a locked OS thread inside the middle namespace (see
// Host.Do): AF_PACKET sockets opened there stay bound to its links.
func (m *Middle) Do(fn func() error) error { return doIn(m.ns, m.Name, fn) }

// Command returns a command that runs inside the middle namespace.
func (m *Middle) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return commandIn(ctx, m.Name, name, args...)
}

// Exec runs a command inside the middle namespace and returns its combined
// output.
func (m *Middle) Exec(ctx context.Context, name string, args ...string) (string, error) {
	return execIn(ctx, m.Name, name, args...)
}

// wireMiddle makes the middle namespace and the two veth pairs
// Server.Link–ServerSide and Peer.Link–PeerSide, configures all four ends
// and waits until they are up.
func (b *Bed) wireMiddle(o Options, name string) error {
	m := &Middle{Name: name, MTU: o.MTU, ns: -1}
	b.Middle = m
	var err error
	if m.ns, err = newNamed(name); err != nil {
		return fmt.Errorf("create netns %s: %w", name, err)
	}
	if err := m.Do(noIPv6); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for _, p := range []struct {
		h   *Host
		mid string
	}{{b.Server, midServerLink}, {b.Peer, midPeerLink}} {
		nh, err := netlink.NewHandleAt(p.h.ns)
		if err != nil {
			return fmt.Errorf("netlink in %s: %w", p.h.Name, err)
		}
		err = nh.LinkAdd(&netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{
				Name: p.h.Link, MTU: o.MTU,
				NumTxQueues: o.Queues, NumRxQueues: o.Queues,
			},
			PeerName:        p.mid,
			PeerNamespace:   netlink.NsFd(m.ns),
			PeerMTU:         uint32(o.MTU),
			PeerNumTxQueues: uint32(o.Queues),
			PeerNumRxQueues: uint32(o.Queues),
		})
		nh.Close()
		if err != nil {
			return fmt.Errorf("create veth pair %s-%s: %w", p.h.Link, p.mid, err)
		}
	}
	for _, h := range []*Host{b.Server, b.Peer} {
		if err := h.configure(); err != nil {
			return err
		}
	}
	nh, err := netlink.NewHandleAt(m.ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", name, err)
	}
	defer nh.Close()
	for _, p := range []*Port{&m.ServerSide, &m.PeerSide} {
		p.Link = midPeerLink
		if p == &m.ServerSide {
			p.Link = midServerLink
		}
		l, err := nh.LinkByName(p.Link)
		if err != nil {
			return fmt.Errorf("%s: find %s: %w", name, p.Link, err)
		}
		p.Ifindex, p.MAC = l.Attrs().Index, l.Attrs().HardwareAddr
		// The forwarder must see the frames the ends sent, one by one
		// and MTU-sized, and send them on as they are: no GRO merging
		// on the way in, no segmentation or checksum offload on the
		// way out (DESIGN: test rig).
		if err := m.Do(func() error { return offloadsOff(p.Link, unix.ETHTOOL_SGRO) }); err != nil {
			return fmt.Errorf("%s: offloads off: %w", name, err)
		}
		if err := nh.LinkSetUp(l); err != nil {
			return fmt.Errorf("%s: %s up: %w", name, p.Link, err)
		}
	}
	for _, h := range []*Host{b.Server, b.Peer} {
		if err := h.waitReady(5 * time.Second); err != nil {
			return err
		}
	}
	for _, l := range []string{midServerLink, midPeerLink} {
		if err := waitLinkReady(m.ns, name, l, 5*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// noIPv6 turns IPv6 off in the calling thread's namespace, for links made
// later too: the middle namespace is part of the wire, and its kernel must
// not add router solicitations or MLD reports of its own to the traffic.
func noIPv6() error {
	for _, conf := range []string{"all", "default"} {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+conf+"/disable_ipv6", []byte("1"), 0o644); err != nil {
			return fmt.Errorf("disable IPv6: %w", err)
		}
	}
	return nil
}

func (m *Middle) close() error {
	if m == nil {
		return nil
	}
	if m.ns >= 0 {
		m.ns.Close()
		m.ns = -1
	}
	if err := netns.DeleteNamed(m.Name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete netns %s: %w", m.Name, err)
	}
	return nil
}
