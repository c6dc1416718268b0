package netenv

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// diagMsg builds a struct inet_diag_msg with an optional SKV6ONLY attribute.
func diagMsg(fam uint8, addr netip.Addr, port uint16, ifindex, inode uint32, v6only int) []byte {
	m := make([]byte, sizeofInetDiagMsg)
	m[0], m[1] = fam, tcpListen
	binary.BigEndian.PutUint16(m[4:6], port)
	copy(m[8:24], addr.AsSlice())
	nl.NativeEndian().PutUint32(m[40:44], ifindex)
	nl.NativeEndian().PutUint32(m[68:72], inode)
	if v6only >= 0 {
		a := make([]byte, 8)
		nl.NativeEndian().PutUint16(a[0:2], 5)
		nl.NativeEndian().PutUint16(a[2:4], inetDiagSKV6Only)
		a[4] = byte(v6only)
		m = append(m, a...)
	}
	return m
}

func TestParseInetDiagMsg(t *testing.T) {
	kl, ok := parseInetDiagMsg(diagMsg(unix.AF_INET6, netip.IPv6Unspecified(), 443, 3, 77, 1))
	if !ok || kl.Local != netip.MustParseAddrPort("[::]:443") || !kl.V6Only || kl.Ifindex != 3 || kl.Inode != 77 {
		t.Errorf("parsed %+v %v", kl, ok)
	}
	kl, ok = parseInetDiagMsg(diagMsg(unix.AF_INET, netip.MustParseAddr("198.18.0.1"), 80, 0, 1, -1))
	if !ok || kl.Local != netip.MustParseAddrPort("198.18.0.1:80") || kl.V6Only {
		t.Errorf("parsed %+v %v", kl, ok)
	}
	// Short, unknown-family and garbage-attribute messages never panic.
	good := diagMsg(unix.AF_INET6, netip.IPv6Loopback(), 1, 0, 0, 0)
	for n := 0; n < len(good); n++ {
		if _, ok := parseInetDiagMsg(good[:n]); ok && n < sizeofInetDiagMsg {
			t.Errorf("accepted a %d-byte message", n)
		}
	}
	bad := diagMsg(99, netip.IPv6Loopback(), 1, 0, 0, -1)
	if _, ok := parseInetDiagMsg(bad); ok {
		t.Error("accepted family 99")
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 10000; i++ {
		b := make([]byte, r.IntN(200))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		if len(b) > 0 {
			b[0] = []byte{unix.AF_INET, unix.AF_INET6}[i%2]
		}
		parseInetDiagMsg(b)
	}
}

// TestTakes: the conflict rule on its own, including SO_BINDTODEVICE.
func TestTakes(t *testing.T) {
	v4 := netip.MustParseAddr("198.18.0.1")
	kl := KernelListener{Local: netip.MustParseAddrPort("0.0.0.0:80"), Ifindex: 7}
	if kl.takes(v4, 80, 2, nil) {
		t.Error("a listener bound to another device conflicts")
	}
	if !kl.takes(v4, 80, 7, nil) {
		t.Error("a listener bound to our device does not conflict")
	}
	mapped := KernelListener{Local: netip.AddrPortFrom(netip.AddrFrom16(v4.As16()), 80)}
	if !mapped.takes(v4, 80, 2, nil) || mapped.takes(netip.MustParseAddr("2001:2::1"), 80, 2, nil) {
		t.Error("v4-mapped IPv6 bind")
	}
}
