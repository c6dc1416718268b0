package afxdp

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/sluicenet/sluice/testbed"
)

func TestSwapFrame(t *testing.T) {
	a := &testbed.Host{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, IPv4: testbed.ServerIPv4}
	b := &testbed.Host{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, IPv4: testbed.PeerIPv4}
	f := buildUDP(t, a, b, 1111, 2222, []byte("payload"))
	if !swapFrame(f) {
		t.Fatal("UDP frame not swapped")
	}
	ip, udp, err := decodeUDP(f)
	if err != nil {
		t.Fatal(err)
	}
	if !ip.SrcIP.Equal(b.IPv4.AsSlice()) || udp.SrcPort != 2222 || udp.DstPort != 1111 {
		t.Fatalf("swapped to %v:%d -> %v:%d", ip.SrcIP, udp.SrcPort, ip.DstIP, udp.DstPort)
	}
	// The checksums still verify: recompute and compare.
	want := buildUDP(t, b, a, 2222, 1111, []byte("payload"))
	if !bytes.Equal(f, want) {
		t.Fatalf("swapped frame differs from one built reversed:\n%x\n%x", f, want)
	}
	for _, bad := range [][]byte{
		nil,
		make([]byte, 13),
		append([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x06}, make([]byte, 28)...),       // ARP
		append([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x00, 0x45}, make([]byte, 10)...), // truncated IPv4
	} {
		orig := append([]byte(nil), bad...)
		if swapFrame(bad) || !bytes.Equal(bad, orig) {
			t.Errorf("swapFrame(%x) accepted or changed it", orig)
		}
	}
	icmp := buildUDP(t, a, b, 1, 2, nil)
	icmp[14+9] = byte(layers.IPProtocolICMPv4)
	orig := append([]byte(nil), icmp...)
	if swapFrame(icmp) || !bytes.Equal(icmp, orig) {
		t.Error("ICMP frame swapped or changed")
	}
}

// TestReflect: datagrams from a kernel UDP socket in the peer come back
// from the server's address and port with the same payload, which means
// the swapped frames carried valid checksums.
func TestReflect(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	u, s := newUmemSocket(t, b.Server, 0, UmemConfig{FrameSize: 2048, FrameCount: 256, FillSize: 128, CompletionSize: 128})
	xsks := udpRedirect(t, b.Server, testPort, 1)
	if err := xsks.Put(uint32(0), uint32(s.Fd())); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan ReflectStats, 1)
	r := NewReflector(s, u.NewPool(0, 256)) // the fill ring is full before the first datagram
	go func() {
		st, err := r.Run(stop)
		if err != nil {
			t.Error(err)
		}
		done <- st
	}()
	// The reflector must stop before the socket's cleanup unmaps its
	// rings, also when the test fails early (cleanups run last-in first).
	var halted ReflectStats
	halt := sync.OnceFunc(func() { close(stop); halted = <-done })
	t.Cleanup(halt)
	var c *net.UDPConn
	if err := b.Peer.Do(func() (err error) {
		c, err = net.DialUDP("udp4", &net.UDPAddr{IP: b.Peer.IPv4.AsSlice(), Port: 40002},
			&net.UDPAddr{IP: b.Server.IPv4.AsSlice(), Port: testPort})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 50
	buf := make([]byte, 2048)
	for i := range n {
		msg := []byte(fmt.Sprintf("reflect me %d", i))
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, err := c.Read(buf) // a connected socket only accepts server:9999
		if err != nil {
			ks, _ := s.Stats()
			halt()
			t.Fatalf("reply %d: %v; stats %+v reflect %+v", i, err, ks, halted)
		}
		if !bytes.Equal(buf[:k], msg) {
			t.Fatalf("reply %d = %q, want %q", i, buf[:k], msg)
		}
	}
	halt()
	st := halted
	if st.Packets != n {
		t.Fatalf("reflected %d, want %d (dropped %d)", st.Packets, n, st.Dropped)
	}
}

func BenchmarkSwapFrame(b *testing.B) {
	f := make([]byte, 64)
	copy(f[12:], []byte{0x08, 0x00, 0x45})
	f[14+9] = 17
	b.ReportAllocs()
	for b.Loop() {
		swapFrame(f)
	}
}
