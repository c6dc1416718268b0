package testbed

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sluicenet/sluice/wire"
	"golang.org/x/sys/unix"
)

// Addresses of a RawPeer: inside the Bed's subnets (so the Server's
// kernel routes to them over its veth and its reverse-path filter passes
// them) but configured nowhere, with a MAC no interface has.
var (
	RawIPv4 = netip.MustParseAddr("198.18.0.99")
	RawIPv6 = netip.MustParseAddr("2001:2::99")
	RawMAC  = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x99}
)

// RawPeer is a TCP endpoint made of raw frames on the Peer's veth: it
// sends with an AF_PACKET socket and captures what the Server sends to
// its addresses. The Peer's kernel never answers for it: frames to
// RawMAC reach the Peer's stack as PACKET_OTHERHOST, which IP drops
// before any TCP or ICMP reply, while the capture socket still sees them.
// The Server's kernel reaches it through permanent neighbour entries
// (RawIPv4, RawIPv6 -> RawMAC) that NewRawPeer adds in the Server's
// namespace; sluice answers the MAC a flow came from.
type RawPeer struct {
	bed  *Bed
	fd   int
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	flows map[uint16]chan []byte // by the RawPeer's port
}

// NewRawPeer starts a RawPeer on b, closed at tb's cleanup.
func NewRawPeer(tb testing.TB, b *Bed) *RawPeer {
	tb.Helper()
	r, err := b.newRawPeer()
	if err != nil {
		tb.Fatalf("raw peer: %v", err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

func (b *Bed) newRawPeer() (*RawPeer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, a := range []netip.Addr{RawIPv4, RawIPv6} {
		if _, err := b.Server.Exec(ctx, "ip", "neigh", "replace", a.String(),
			"lladdr", RawMAC.String(), "dev", b.Server.Link, "nud", "permanent"); err != nil {
			return nil, err
		}
	}
	r := &RawPeer{bed: b, fd: -1, stop: make(chan struct{}), done: make(chan struct{}),
		flows: make(map[uint16]chan []byte)}
	err := b.Peer.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		r.fd = fd
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: b.Peer.Ifindex}); err != nil {
			return fmt.Errorf("bind to %s: %w", b.Peer.Link, err)
		}
		// A bounded wait, so the reader notices Close.
		tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		if r.fd >= 0 {
			unix.Close(r.fd)
		}
		return nil, err
	}
	go r.read()
	return r, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// read hands each captured TCP frame addressed to the RawPeer to the
// flow registered for its destination port; others are dropped.
func (r *RawPeer) read() {
	defer close(r.done)
	buf := make([]byte, 1<<16)
	var f wire.Frame
	for {
		select {
		case <-r.stop:
			return
		default:
		}
		n, from, err := unix.Recvfrom(r.fd, buf, 0)
		if err != nil {
			continue // EAGAIN at the timeout, EINTR
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if wire.ParseFrame(buf[:n], &f) != nil || (f.Dst != RawIPv4 && f.Dst != RawIPv6) {
			continue
		}
		r.mu.Lock()
		c := r.flows[f.DstPort]
		r.mu.Unlock()
		if c == nil {
			continue
		}
		select {
		case c <- append([]byte(nil), buf[:n]...):
		default: // a flow that does not read loses frames, not the reader
		}
	}
}

// Flow registers port (the RawPeer's side) and returns the frames the
// Server sends to it, whole Ethernet frames with valid checksums.
func (r *RawPeer) Flow(port uint16) <-chan []byte {
	c := make(chan []byte, 256)
	r.mu.Lock()
	r.flows[port] = c
	r.mu.Unlock()
	return c
}

// Unflow forgets port.
func (r *RawPeer) Unflow(port uint16) {
	r.mu.Lock()
	delete(r.flows, port)
	r.mu.Unlock()
}

// Send transmits one frame on the Peer's veth as it is.
func (r *RawPeer) Send(frame []byte) error {
	if _, err := unix.Write(r.fd, frame); err != nil { // to the bound device
		return fmt.Errorf("raw peer send: %w", err)
	}
	return nil
}

// Close stops the capture and closes the socket.
func (r *RawPeer) Close() error {
	if r.fd < 0 {
		return nil
	}
	close(r.stop)
	<-r.done
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}

// ServerMAC is the MAC frames to the Server go to.
func (r *RawPeer) ServerMAC() net.HardwareAddr { return r.bed.Server.MAC }
