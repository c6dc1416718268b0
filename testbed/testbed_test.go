package testbed

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// TestBedConnectsPeers checks the wire itself: ping both ways, kernel TCP
// over IPv4 and IPv6 from Peer to Server, offloads off on both ends, queue
// count and MTU as asked.
func TestBedConnectsPeers(t *testing.T) {
	b := New(t, Options{Queues: 2, MTU: 1500})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := b.Peer.Exec(ctx, "ping", "-c", "1", "-W", "2", b.Server.IPv4.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Server.Exec(ctx, "ping", "-6", "-c", "1", "-W", "2", b.Peer.IPv6.String()); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []netip.Addr{b.Server.IPv4, b.Server.IPv6} {
		echoOnce(t, b, addr)
	}
	for _, h := range []*Host{b.Server, b.Peer} {
		out, err := h.Exec(ctx, "ethtool", "-k", h.Link)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"tx-checksum-ip-generic: off", "tx-tcp-segmentation: off", "tx-tcp6-segmentation: off", "generic-segmentation-offload: off"} {
			if !strings.Contains(out, f) {
				t.Errorf("%s %s: want %q in ethtool -k:\n%s", h.Name, h.Link, f, out)
			}
		}
		out, err = h.Exec(ctx, "ls", "/sys/class/net/"+h.Link+"/queues")
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(out, "rx-"); n != 2 {
			t.Errorf("%s: %d rx queues, want 2", h.Name, n)
		}
	}
}

// echoOnce serves one TCP echo in Server's namespace and dials it from Peer's.
func echoOnce(t *testing.T, b *Bed, addr netip.Addr) {
	t.Helper()
	var ln net.Listener
	if err := b.Server.Do(func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	var c net.Conn
	if err := b.Peer.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := []byte("over the veth " + addr.String())
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
		t.Fatalf("echo via %s: %q, %v", addr, got, err)
	}
}

// TestCloseRemovesEverything: after Close the namespaces are gone, and
// Close is idempotent.
func TestCloseRemovesEverything(t *testing.T) {
	Require(t)
	b, err := Create(Options{})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{b.Server.Name, b.Peer.Name}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := os.Stat(netnsDir + "/" + n); !os.IsNotExist(err) {
			t.Errorf("netns %s still present after Close (%v)", n, err)
		}
	}
}

// TestDoSurvivesGoexit: fn ending its goroutine (as t.Fatal does) makes Do
// return an error instead of hanging.
func TestDoSurvivesGoexit(t *testing.T) {
	b := New(t, Options{})
	err := b.Server.Do(func() error { runtime.Goexit(); return nil })
	if err == nil || !strings.Contains(err.Error(), "Goexit") {
		t.Fatalf("Do after Goexit: %v", err)
	}
	if err := b.Server.Do(func() error { return nil }); err != nil {
		t.Fatalf("Do after a Goexit: %v", err)
	}
}

// TestMiddleCarriesNothingByItself: with Options.Middle the two ends are
// joined only through the middle namespace, which forwards nothing until a
// user-space forwarder does (testbed/impair tests that part); its links
// have GRO, TSO, GSO and TX checksum offload off; Close removes all three
// namespaces.
func TestMiddleCarriesNothingByItself(t *testing.T) {
	Require(t)
	b, err := Create(Options{Middle: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if b.Server.IPv4 != ServerIPv4 || b.Peer.IPv4 != PeerIPv4 || b.Server.Link != serverLink || b.Peer.Link != peerLink {
		t.Errorf("ends changed with a middle: %+v %+v", b.Server, b.Peer)
	}
	if out, err := b.Peer.Exec(ctx, "ping", "-c", "1", "-W", "1", b.Server.IPv4.String()); err == nil {
		t.Fatalf("ping crossed the middle with no forwarder:\n%s", out)
	}
	for _, p := range []Port{b.Middle.ServerSide, b.Middle.PeerSide} {
		if p.Ifindex == 0 || len(p.MAC) != 6 {
			t.Errorf("middle port %+v", p)
		}
		out, err := b.Middle.Exec(ctx, "ethtool", "-k", p.Link)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"tx-checksum-ip-generic: off", "tx-tcp-segmentation: off", "generic-segmentation-offload: off", "generic-receive-offload: off"} {
			if !strings.Contains(out, f) {
				t.Errorf("%s: want %q in ethtool -k:\n%s", p.Link, f, out)
			}
		}
	}
	if out, err := b.Middle.Exec(ctx, "ip", "-6", "addr"); err != nil || strings.Contains(out, "inet6") {
		t.Errorf("middle namespace has IPv6 addresses (%v):\n%s", err, out)
	}
	names := []string{b.Server.Name, b.Peer.Name, b.Middle.Name}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := os.Stat(netnsDir + "/" + n); !os.IsNotExist(err) {
			t.Errorf("netns %s still present after Close (%v)", n, err)
		}
	}
}
