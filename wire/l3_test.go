package wire

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// v6WithExt builds an IPv6 packet with the given extension headers (each
// a next-header-less body; the chain is linked here) ending in proto.
func v6WithExt(kinds []uint8, bodies [][]byte, proto uint8, tail []byte) IPv6 {
	b := make([]byte, IPv6HeaderLen)
	b[0] = 0x60
	nh := proto
	if len(kinds) > 0 {
		nh = kinds[0]
	}
	b[6] = nh
	for i, body := range bodies {
		next := proto
		if i+1 < len(kinds) {
			next = kinds[i+1]
		}
		h := append([]byte{next}, body...)
		b = append(b, h...)
	}
	b = append(b, tail...)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-IPv6HeaderLen))
	return IPv6(b)
}

func TestWalkIPv6Ext(t *testing.T) {
	opt8 := []byte{0, 1, 4, 0, 0, 0, 0}                       // len 0 → 8 octets
	rt := []byte{0, 4, 0, 0, 0, 0, 0}                         // type 4 (SRH), segments left 0
	rtLeft := []byte{0, 4, 1, 0, 0, 0, 0}                     // segments left 1
	ah := []byte{1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0} // len 1 → 12 octets... padded below
	ah = ah[:15]                                              // 16-octet AH: (2+2)*4
	ah[0] = 2
	frag := []byte{0, 0, 0, 0, 0, 0, 9}
	fragLater := []byte{0, 0, 0x10, 0, 0, 0, 9} // offset 16 octets (2 units), M=0
	tail := make([]byte, 20)
	tests := []struct {
		name   string
		kinds  []uint8
		bodies [][]byte
		proto  uint8
		err    error
		off    int
		frag   bool
	}{
		{"none", nil, nil, ProtoTCP, nil, 40, false},
		{"hbh dst", []uint8{ProtoHopByHop, ProtoDstOpts}, [][]byte{opt8, opt8}, ProtoTCP, nil, 56, false},
		{"routing sl0", []uint8{ProtoRouting}, [][]byte{rt}, ProtoTCP, nil, 48, false},
		{"routing sl1", []uint8{ProtoRouting}, [][]byte{rtLeft}, ProtoTCP, DropBadIPHeader, 0, false},
		{"ah", []uint8{ProtoAH}, [][]byte{ah}, ProtoTCP, nil, 56, false},
		{"atomic fragment", []uint8{ProtoFragment}, [][]byte{frag}, ProtoTCP, nil, 48, false},
		{"later fragment", []uint8{ProtoFragment}, [][]byte{fragLater}, ProtoTCP, nil, 48, true},
		{"hbh second", []uint8{ProtoDstOpts, ProtoHopByHop}, [][]byte{opt8, opt8}, ProtoTCP, DropBadIPHeader, 0, false},
		{"8 headers", []uint8{60, 60, 60, 60, 60, 60, 60, 60}, [][]byte{opt8, opt8, opt8, opt8, opt8, opt8, opt8, opt8}, ProtoUDP, nil, 104, false},
		{"9 headers", []uint8{60, 60, 60, 60, 60, 60, 60, 60, 60}, [][]byte{opt8, opt8, opt8, opt8, opt8, opt8, opt8, opt8, opt8}, ProtoTCP, DropTooManyExtHeaders, 0, false},
		{"esp stops", []uint8{ProtoESP}, [][]byte{opt8}, ProtoTCP, nil, 40, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := v6WithExt(tc.kinds, tc.bodies, tc.proto, tail)
			var x IPv6Ext
			err := WalkIPv6Ext(p, &x)
			if err != tc.err {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			wantProto := tc.proto
			if tc.name == "esp stops" {
				wantProto = ProtoESP
			}
			if x.Proto != wantProto || x.Offset != tc.off || x.Fragmented() != tc.frag {
				t.Fatalf("got %+v (fragmented %v)", x, x.Fragmented())
			}
			// Every prefix that cuts into the chain is DropTruncated.
			for n := IPv6HeaderLen; n < tc.off; n++ {
				if err := WalkIPv6Ext(p[:n], &x); err != DropTruncated {
					t.Fatalf("prefix %d: %v", n, err)
				}
			}
		})
	}
}

func TestICMPQuotedTCP(t *testing.T) {
	// ICMPv4 frag-needed quoting our SYN (IP header + all of TCP).
	syn := unhex(t, goldSynV4)[14:]
	m := make([]byte, ICMPHeaderLen, 200)
	m[0], m[1] = ICMPv4DestUnreach, ICMPv4CodeFragNeeded
	binary.BigEndian.PutUint16(m[6:], 1400)
	m = append(m, syn[:28]...) // RFC 792 minimum: header + 8 octets
	ICMPv4(m).UpdateChecksum()
	if refChecksum(m) != 0 || !ICMPv4(m).ChecksumValid() {
		t.Fatal("ICMPv4 checksum")
	}
	c := ICMPv4(m)
	if !c.IsError() || c.NextHopMTU() != 1400 || c.Type() != 3 || c.Code() != 4 {
		t.Fatalf("type %d code %d mtu %d", c.Type(), c.Code(), c.NextHopMTU())
	}
	var q QuotedTCP
	if err := ParseQuotedTCP(c.Quoted(), false, &q); err != nil {
		t.Fatal(err)
	}
	want := QuotedTCP{netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.1"), 40000, 80, 0x01020304}
	if q != want {
		t.Fatalf("got %+v", q)
	}
	if err := ParseQuotedTCP(c.Quoted()[:27], false, &q); err != DropTruncated {
		t.Fatalf("short quote: %v", err)
	}

	// ICMPv6 packet too big quoting a packet with extension headers.
	v6 := unhex(t, goldFinV6Ext)[14:]
	m6 := make([]byte, ICMPHeaderLen)
	m6[0] = ICMPv6PacketTooBig
	binary.BigEndian.PutUint32(m6[4:], 1280)
	m6 = append(m6, v6[:64+8]...)
	src, dst := netip.MustParseAddr("2001:2::fe"), netip.MustParseAddr("2001:2::2")
	ICMPv6(m6).UpdateChecksum(src, dst)
	if !ICMPv6(m6).ChecksumValid(src, dst) {
		t.Fatal("ICMPv6 checksum")
	}
	s16, d16 := src.As16(), dst.As16()
	l := len(m6)
	if refChecksum(s16[:], d16[:], []byte{0, 0, byte(l >> 8), byte(l), 0, 0, 0, ProtoICMPv6}, m6) != 0 {
		t.Fatal("ICMPv6 checksum disagrees with reference")
	}
	if !ICMPv6(m6).IsError() || ICMPv6(m6).MTU() != 1280 {
		t.Fatal("PTB fields")
	}
	if err := ParseQuotedTCP(ICMPv6(m6).Quoted(), true, &q); err != nil {
		t.Fatal(err)
	}
	if q.SrcPort != 1 || q.DstPort != 2 || q.Seq != 3 || q.Src != netip.MustParseAddr("2001:2::2") {
		t.Fatalf("got %+v", q)
	}
}

func TestARPRoundTrip(t *testing.T) {
	b := make([]byte, 64)
	sha := MAC{2, 0, 0, 0, 0, 9}
	spa, tpa := netip.MustParseAddr("198.18.0.9"), netip.MustParseAddr("198.18.0.1")
	if PutARP(b, ARPRequest, sha, spa, MAC{}, tpa) != ARPLen {
		t.Fatal("PutARP")
	}
	a, err := ParseARP(b)
	if err != nil {
		t.Fatal(err)
	}
	if a.Op() != ARPRequest || a.SenderMAC() != sha || a.SenderIP() != spa || a.TargetIP() != tpa || a.TargetMAC() != (MAC{}) {
		t.Fatal("fields")
	}
	if _, err := ParseARP(b[:27]); err != DropTruncated {
		t.Fatal(err)
	}
	b[5] = 16
	if _, err := ParseARP(b); err != DropBadARP {
		t.Fatalf("plen 16: %v", err)
	}
	if PutARP(b, ARPReply, sha, netip.MustParseAddr("2001:2::1"), sha, tpa) != 0 {
		t.Fatal("IPv6 ARP accepted")
	}
}

func TestEthernetRoundTrip(t *testing.T) {
	for _, h := range []EthernetHeader{
		{Dst: BroadcastMAC, Src: MAC{2, 1, 2, 3, 4, 5}, EtherType: EtherTypeARP},
		{Dst: MAC{1, 0, 0x5e, 0, 0, 1}, Src: MAC{2}, HasVLAN: true, VLAN: 0xe00a, EtherType: EtherTypeIPv6},
	} {
		b := make([]byte, 18)
		n := PutEthernet(b, &h)
		var g EthernetHeader
		if m, err := ParseEthernet(b[:n], &g); err != nil || m != n || g != h {
			t.Fatalf("round trip %+v -> %+v (%d, %v)", h, g, m, err)
		}
		if PutEthernet(b[:n-1], &h) != 0 {
			t.Fatal("short buffer")
		}
	}
	if s := (MAC{0xde, 0xad, 0xbe, 0xef, 0, 0x0a}).String(); s != "de:ad:be:ef:00:0a" {
		t.Fatal(s)
	}
	if !BroadcastMAC.IsMulticast() || (MAC{2}).IsMulticast() {
		t.Fatal("IsMulticast")
	}
}

func TestPutIPv4Options(t *testing.T) {
	h := IPv4Header{TotalLength: 24, TTL: 1, Protocol: ProtoTCP, Src: netip.MustParseAddr("198.18.0.1"),
		Dst: netip.MustParseAddr("198.18.0.2"), Options: []byte{0x94, 4, 0, 0}, MoreFragments: true, FragmentOffset: 1480}
	b := make([]byte, 24)
	if PutIPv4(b, &h) != 24 {
		t.Fatal("PutIPv4")
	}
	p, err := ParseIPv4(b)
	if err != nil || refChecksum(b) != 0 {
		t.Fatal(err)
	}
	if p.HeaderLen() != 24 || !p.IsFragment() || !p.MoreFragments() || p.FragmentOffset() != 1480 || p.DontFragment() {
		t.Fatal("fields")
	}
	h.Options = []byte{1, 1}
	if PutIPv4(b, &h) != 0 {
		t.Fatal("unaligned options accepted")
	}
}

// TestICMPErrorFrame: an ICMP error is not TCP, but ParseFrame still says
// where it is, so the loop can look at what it quotes (PMTUD, RFC 1191).
func TestICMPErrorFrame(t *testing.T) {
	syn := unhex(t, goldSynV4)
	frame := append([]byte(nil), syn[:34]...) // Ethernet + IPv4 header, reused
	copy(frame[0:6], syn[6:12])
	copy(frame[6:12], syn[0:6])
	frame[23] = ProtoICMP
	copy(frame[26:30], []byte{198, 18, 0, 254}) // a router
	copy(frame[30:34], syn[26:30])
	m := make([]byte, ICMPHeaderLen)
	m[0], m[1] = ICMPv4DestUnreach, ICMPv4CodeFragNeeded
	binary.BigEndian.PutUint16(m[6:], 1280)
	m = append(m, syn[14:14+28]...)
	ICMPv4(m).UpdateChecksum()
	frame = append(frame, m...)
	binary.BigEndian.PutUint16(frame[16:], uint16(len(frame)-14))
	IPv4(frame[14:]).UpdateChecksum()

	var f Frame
	if err := ParseFrame(frame, &f); err != DropNotTCP {
		t.Fatalf("err %v", err)
	}
	if f.Proto != ProtoICMP || f.L4Off != 34 || f.L4Len != len(m) {
		t.Fatalf("proto %d at %d len %d", f.Proto, f.L4Off, f.L4Len)
	}
	c, err := ParseICMP(frame[f.L4Off : f.L4Off+f.L4Len])
	if err != nil || !ICMPv4(c).ChecksumValid() || ICMPv4(c).NextHopMTU() != 1280 {
		t.Fatalf("icmp %v", err)
	}
	var q QuotedTCP
	if err := ParseQuotedTCP(ICMPv4(c).Quoted(), false, &q); err != nil || q.Seq != 0x01020304 || q.DstPort != 80 {
		t.Fatalf("quoted %+v %v", q, err)
	}
}

func TestPutICMP(t *testing.T) {
	b := make([]byte, 64)
	n := PutICMPv4(b, ICMPv4Echo, 0, 0x00010002, []byte("ping"))
	if n != 12 || refChecksum(b[:n]) != 0 || ICMPv4(b[:n]).Rest() != 0x00010002 || ICMPv4(b[:n]).IsError() {
		t.Fatalf("v4 echo %x", b[:n])
	}
	src, dst := netip.MustParseAddr("2001:2::1"), netip.MustParseAddr("2001:2::2")
	n = PutICMPv6(b, ICMPv6EchoRequest, 0, 7, []byte("odd"), src, dst)
	s16, d16 := src.As16(), dst.As16()
	if n != 11 || refChecksum(s16[:], d16[:], []byte{0, 0, 0, byte(n), 0, 0, 0, ProtoICMPv6}, b[:n]) != 0 || ICMPv6(b[:n]).IsError() {
		t.Fatalf("v6 echo %x", b[:n])
	}
	if PutICMPv4(b[:11], 0, 0, 0, []byte("ping")) != 0 || PutICMPv6(b[:10], 0, 0, 0, []byte("odd"), src, dst) != 0 {
		t.Fatal("short buffer")
	}
}
