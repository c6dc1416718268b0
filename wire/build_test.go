package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

func TestReplyTo(t *testing.T) {
	var f Frame
	if err := ParseFrame(unhex(t, goldDataV6VLAN), &f); err != nil {
		t.Fatal(err)
	}
	var s TCPFrameSpec
	s.ReplyTo(&f)
	s.Seq, s.Ack, s.Flags = f.Ack, f.Seq+uint32(len(f.Payload)), TCPFlagACK
	buf := make([]byte, 256)
	n, err := BuildTCP(buf, &s, nil)
	if err != nil {
		t.Fatal(err)
	}
	var g Frame
	if err := ParseFrame(buf[:n], &g); err != nil {
		t.Fatal(err)
	}
	if g.Src != f.Dst || g.Dst != f.Src || g.SrcPort != f.DstPort || g.DstPort != f.SrcPort ||
		g.Eth.Src != f.Eth.Dst || g.Eth.Dst != f.Eth.Src || g.Eth.VLAN != f.Eth.VLAN || g.Ack != 0xfffffffd {
		t.Fatalf("reply %+v", g)
	}
}

func TestBuildTCPErrors(t *testing.T) {
	buf := make([]byte, 70000)
	s := dataSpec(false)
	s.Dst = netip.MustParseAddr("2001:2::1")
	if _, err := BuildTCP(buf, s, nil); !errors.Is(err, DropBadAddress) {
		t.Fatalf("mixed families: %v", err)
	}
	s = dataSpec(false)
	if _, err := BuildTCP(buf, s, make([]byte, 65535-20-20-11)); !errors.Is(err, DropBadLength) {
		t.Fatalf("oversize v4: %v", err)
	}
	if _, err := BuildTCP(buf, s, make([]byte, 65535-20-20-12)); err != nil {
		t.Fatalf("max v4: %v", err)
	}
	s6 := dataSpec(true) // IPv6 Payload Length excludes the fixed header
	if _, err := BuildTCP(buf, s6, make([]byte, 65535-20-12)); err != nil {
		t.Fatalf("max v6: %v", err)
	}
	if _, err := BuildTCP(buf, s6, make([]byte, 65535-20-11)); !errors.Is(err, DropBadLength) {
		t.Fatalf("oversize v6: %v", err)
	}
	if _, err := PutTCPHeaders(buf, s6, -1); !errors.Is(err, DropBadLength) {
		t.Fatalf("negative: %v", err)
	}
	s.Src, s.Dst = netip.Addr{}, netip.Addr{}
	if _, err := BuildTCP(buf, s, nil); !errors.Is(err, DropBadAddress) {
		t.Fatalf("zero addrs: %v", err)
	}
	// IPv4-mapped addresses are sent as IPv4.
	s = dataSpec(false)
	s.Src = netip.AddrFrom16(s.Src.As16())
	n, err := BuildTCP(buf, s, nil)
	var f Frame
	if err != nil || ParseFrame(buf[:n], &f) != nil || f.IPVersion != 4 {
		t.Fatalf("mapped: %v %+v", err, f)
	}
}

// TestTwoStepBuild: headers first, payload copied in afterwards, then the
// checksum finished, equals BuildTCP.
func TestTwoStepBuild(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		s := dataSpec(v6)
		payload := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n") // odd length
		a := make([]byte, 512)
		n, err := BuildTCP(a, s, payload)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 512)
		l, err := PutTCPHeaders(b, s, len(payload))
		if err != nil || l.Len != n || l.PayloadOff != s.HeaderLen() {
			t.Fatalf("layout %+v n %d err %v", l, n, err)
		}
		copy(b[l.PayloadOff:], payload)
		FinishTCP(b, l)
		if string(a[:n]) != string(b[:n]) {
			t.Fatal("two-step frame differs")
		}
	}
}

// CopyFinishTCP2 with the text split anywhere (odd first runs included)
// builds the frame BuildTCP builds from the text whole.
func TestCopyFinishTCP2(t *testing.T) {
	payload := make([]byte, 1448)
	for i := range payload {
		payload[i] = byte(i*7 + i>>8)
	}
	for _, v6 := range []bool{false, true} {
		s := dataSpec(v6)
		for _, n := range []int{1, 2, 3, 1447, 1448} {
			a := make([]byte, 2048)
			m, err := BuildTCP(a, s, payload[:n])
			if err != nil {
				t.Fatal(err)
			}
			for k := 0; k <= n; k++ {
				b := make([]byte, 2048)
				l, err := PutTCPHeaders(b, s, n)
				if err != nil {
					t.Fatal(err)
				}
				CopyFinishTCP2(b, l, payload[:k], payload[k:n])
				if !bytes.Equal(a[:m], b[:l.Len]) {
					t.Fatalf("v6 %v len %d split %d: frame differs", v6, n, k)
				}
			}
		}
	}
}
