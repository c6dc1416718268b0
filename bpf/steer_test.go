//go:build linux

package bpf

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/sluicenet/sluice/testbed"
)

// rig is a testbed with the program attached to the Server end and a
// minimal AF_XDP socket registered for queue 0.
type rig struct {
	bed *testbed.Bed
	p   *Program
	xsk *testXSK
}

func newRig(t *testing.T, o Options) *rig {
	t.Helper()
	r := &rig{bed: testbed.New(t, testbed.Options{})}
	o.Ifindex = r.bed.Server.Ifindex
	err := r.bed.Server.Do(func() error {
		var err error
		if r.p, err = Load(o); err != nil {
			return err
		}
		if r.xsk, err = newTestXSK(r.bed.Server.Ifindex, 0); err != nil {
			return err
		}
		return r.p.SetSocket(0, r.xsk.fd)
	})
	// Registered before the bed's cleanup, so it runs after: detach and
	// close while the namespace still exists.
	t.Cleanup(func() {
		if r.p != nil {
			if err := r.p.Close(); err != nil {
				t.Errorf("Program.Close: %v", err)
			}
		}
		if r.xsk != nil {
			r.xsk.Close()
		}
	})
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	t.Logf("attached in %s mode", r.p.Mode())
	return r
}

// listen opens a kernel TCP listener in h's namespace; it echoes what each
// connection sends.
func listen(t *testing.T, h *testbed.Host, a netip.AddrPort) net.Listener {
	t.Helper()
	ln := h.ListenTCP(t, a.String())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln
}

// dial connects from h's namespace (optionally from a fixed local
// address), sends a message and reads the echo back.
func dial(ctx context.Context, h *testbed.Host, laddr netip.AddrPort, raddr netip.AddrPort) error {
	return h.Do(func() error {
		d := net.Dialer{}
		if laddr.IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(laddr)
		}
		c, err := d.DialContext(ctx, "tcp", raddr.String())
		if err != nil {
			return err
		}
		defer c.Close()
		msg := []byte("sluice steering test")
		if _, err := c.Write(msg); err != nil {
			return err
		}
		got := make([]byte, len(msg))
		if dl, ok := ctx.Deadline(); ok {
			c.SetDeadline(dl)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if string(got) != string(msg) {
			return errors.New("echo mismatch")
		}
		return nil
	})
}

// tcpDst returns the TCP destination port and flags of an untagged
// Ethernet/IPv4 or IPv6 (no extension headers) frame.
func tcpDst(f []byte) (port uint16, flags byte, ok bool) {
	if len(f) < 14 {
		return 0, 0, false
	}
	var l4 []byte
	switch binary.BigEndian.Uint16(f[12:]) {
	case etherIPv4:
		ip := f[14:]
		if len(ip) < 20 || ip[9] != protoTCP {
			return 0, 0, false
		}
		l4 = ip[int(ip[0]&0xf)*4:]
	case etherIPv6:
		ip := f[14:]
		if len(ip) < 40 || ip[6] != protoTCP {
			return 0, 0, false
		}
		l4 = ip[40:]
	}
	if len(l4) < 20 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(l4[2:]), l4[13], true
}

// steeredSYN dials raddr from the peer (from laddr if valid) and waits for
// the SYN to arrive on the AF_XDP socket instead of the kernel; it returns
// the dial's error, which must not be nil: the kernel never saw the SYN.
func (r *rig) steeredSYN(t *testing.T, laddr, raddr netip.AddrPort) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dialErr := make(chan error, 1)
	go func() { dialErr <- dial(ctx, r.bed.Peer, laddr, raddr) }()
	found := false
	for i := 0; i < 500 && !found; i++ {
		for _, f := range r.xsk.Receive() {
			if p, fl, ok := tcpDst(f); ok && p == raddr.Port() && fl&0x02 != 0 {
				found = true
			}
		}
		if !found {
			time.Sleep(10 * time.Millisecond)
		}
	}
	cancel()
	err := <-dialErr
	if !found {
		t.Errorf("no SYN to %s arrived on the AF_XDP socket", raddr)
	}
	if err == nil {
		t.Errorf("dial %s succeeded: the kernel got the SYN the program should have redirected", raddr)
	}
}

func counters(t *testing.T, p *Program) Counters {
	t.Helper()
	c, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testSteering(t *testing.T, v6 bool, mode Mode) {
	r := newRig(t, Options{Mode: mode})
	srv, peer := r.bed.Server.IPv4, r.bed.Peer.IPv4
	if v6 {
		srv, peer = r.bed.Server.IPv6, r.bed.Peer.IPv6
	}
	steeredAP, kernelAP := ap(srv, 7000), ap(srv, 7001)
	if err := r.p.AddListen(steeredAP); err != nil {
		t.Fatal(err)
	}
	// A kernel socket on the steered port too: it must never see a SYN.
	steeredLn := listen(t, r.bed.Server, steeredAP)
	listen(t, r.bed.Server, kernelAP)

	// ping (ICMP/ICMPv6; ARP or neighbour discovery before it).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := r.bed.Peer.Exec(ctx, "ping", "-c", "2", "-W", "5", srv.String()); err != nil {
		t.Errorf("ping %s: %v\n%s", srv, err, out)
	}
	// A kernel TCP server on another port of the same namespace.
	if err := dial(ctx, r.bed.Peer, netip.AddrPort{}, kernelAP); err != nil {
		t.Errorf("kernel TCP server %s unreachable with the program attached: %v", kernelAP, err)
	}
	// The listened port: SYNs land on the AF_XDP socket.
	r.steeredSYN(t, netip.AddrPort{}, steeredAP)
	steeredLn.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond))
	if c, err := steeredLn.Accept(); err == nil {
		c.Close()
		t.Errorf("kernel listener on the steered port %s accepted a connection", steeredAP)
	}
	// And kernel TCP still works afterwards.
	if err := dial(ctx, r.bed.Peer, netip.AddrPort{}, kernelAP); err != nil {
		t.Errorf("kernel TCP server %s after steering: %v", kernelAP, err)
	}

	c := counters(t, r.p)
	t.Logf("counters: %+v", c)
	if c.Redirected == 0 {
		t.Error("Redirected = 0")
	}
	if c.RedirectNoSocket != 0 {
		t.Errorf("RedirectNoSocket = %d with a socket registered", c.RedirectNoSocket)
	}
	if !v6 && c.PassedNotIP == 0 {
		t.Error("PassedNotIP = 0: ARP did not go through the program")
	}
	if c.PassedNotTCP == 0 {
		t.Error("PassedNotTCP = 0: ICMP did not go through the program")
	}
	if c.PassedNotListened == 0 {
		t.Error("PassedNotListened = 0: kernel TCP did not go through the program")
	}

	// With a socket in the XSKMAP the program's verdict is XDP_REDIRECT
	// (BPF_PROG_TEST_RUN: verdict only, the frame goes nowhere).
	var frame []byte
	if v6 {
		frame = tcp6(ap(peer, 1234), steeredAP, protoTCP, nil)
	} else {
		frame = tcp4(ap(peer, 1234), steeredAP)
	}
	ret, err := r.p.objs.SluiceSteer.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatal(err)
	}
	if ret != xdpRedirect {
		t.Errorf("test run of a listened frame: verdict %d, want XDP_REDIRECT", ret)
	}
}

func TestSteeringIPv4(t *testing.T) { testSteering(t, false, ModeNone) }
func TestSteeringIPv6(t *testing.T) { testSteering(t, true, ModeNone) }

// Generic (skb) mode is the fallback for devices without native XDP.
func TestSteeringGenericMode(t *testing.T) { testSteering(t, false, ModeGeneric) }

// TestDialedFlow: a flow entry takes exactly its 4-tuple, oriented as the
// incoming segment (source = remote peer): the same destination from
// another source port still reaches the kernel.
func TestDialedFlow(t *testing.T) {
	r := newRig(t, Options{})
	for _, v6 := range []bool{false, true} {
		srv, peer := r.bed.Server.IPv4, r.bed.Peer.IPv4
		if v6 {
			srv, peer = r.bed.Server.IPv6, r.bed.Peer.IPv6
		}
		local := ap(srv, 7100)
		remote, other := ap(peer, 41000), ap(peer, 41001)
		listen(t, r.bed.Server, local)
		if err := r.p.AddFlow(remote, local, AnySlot); err != nil {
			t.Fatal(err)
		}
		before := counters(t, r.p)
		r.steeredSYN(t, remote, local)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := dial(ctx, r.bed.Peer, other, local); err != nil {
			t.Errorf("%s -> %s (not the flow) should reach the kernel: %v", other, local, err)
		}
		cancel()
		after := counters(t, r.p)
		if after.Redirected == before.Redirected {
			t.Errorf("v6=%v: Redirected did not move", v6)
		}
		// Removing the flow gives the 4-tuple back to the kernel.
		if err := r.p.RemoveFlow(remote, local); err != nil {
			t.Fatal(err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		// The port is free again: a socket closed in SYN-SENT leaves no
		// TIME-WAIT behind (RFC 9293 §3.10.7.3 and Linux alike).
		if err := dial(ctx, r.bed.Peer, remote, local); err != nil {
			t.Errorf("after RemoveFlow: %v", err)
		}
		cancel()
	}
}
