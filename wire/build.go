package wire

import "net/netip"

// DefaultTTL is the TTL / hop limit used when a spec leaves it 0 (Linux's
// net.ipv4.ip_default_ttl).
const DefaultTTL = 64

// TCPFrameSpec describes an outgoing Ethernet + IPv4/IPv6 + TCP frame.
// The IP version follows Src and Dst, which must be of one family
// (IPv4-mapped IPv6 addresses are sent as IPv4).
type TCPFrameSpec struct {
	SrcMAC, DstMAC MAC
	HasVLAN        bool
	VLAN           uint16 // 802.1Q TCI

	Src, Dst  netip.Addr
	TTL       uint8 // 0 means DefaultTTL
	TOS       uint8 // IPv4 TOS / IPv6 Traffic Class
	FlowLabel uint32
	IPID      uint16
	// AllowFragment clears DF. By default DF is set: TCP does path MTU
	// discovery (RFC 1191 §3, as Linux does).
	AllowFragment bool

	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8 // TCPFlag*
	Window, Urgent   uint16
	Options          TCPOptions
}

// TCPLayout is where PutTCPHeaders placed things in the buffer.
type TCPLayout struct {
	L3Off, L4Off, PayloadOff int
	Len                      int // whole frame: PayloadOff + payload length
}

func (s *TCPFrameSpec) v4() (v4 bool, src, dst netip.Addr, ok bool) {
	src, dst = s.Src.Unmap(), s.Dst.Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return false, src, dst, false
	}
	return src.Is4(), src, dst, true
}

// HeaderLen is the number of octets PutTCPHeaders writes before the payload.
func (s *TCPFrameSpec) HeaderLen() int {
	n := EthernetHeaderLen + TCPMinHeaderLen + TCPOptionsLen(&s.Options)
	if s.HasVLAN {
		n += VLANTagLen
	}
	if v4, _, _, _ := s.v4(); v4 {
		return n + IPv4MinHeaderLen
	}
	return n + IPv6HeaderLen
}

// PutTCPHeaders writes the Ethernet, IP and TCP headers (with options) for
// a payload of payloadLen octets at the start of b, with the IPv4 header
// checksum final and the TCP checksum field holding the partial sum of the
// pseudo-header and TCP header. The caller then puts the payload at
// b[l.PayloadOff:l.Len] (e.g. copying straight into a UMEM frame) and calls
// FinishTCP. Errors: DropBadAddress (invalid or mixed families),
// DropBadLength (payload too large for one IP datagram), DropNoRoom
// (b shorter than the frame).
func PutTCPHeaders(b []byte, s *TCPFrameSpec, payloadLen int) (TCPLayout, error) {
	var l TCPLayout
	v4, src, dst, ok := s.v4()
	if !ok {
		return l, DropBadAddress
	}
	tcpLen := TCPMinHeaderLen + TCPOptionsLen(&s.Options) + payloadLen
	eth := EthernetHeader{Dst: s.DstMAC, Src: s.SrcMAC, HasVLAN: s.HasVLAN, VLAN: s.VLAN, EtherType: EtherTypeIPv6}
	ipLen := IPv6HeaderLen
	if v4 {
		eth.EtherType, ipLen = EtherTypeIPv4, IPv4MinHeaderLen
	}
	if payloadLen < 0 || tcpLen+ipLen > 0xffff || (!v4 && tcpLen > 0xffff) {
		return l, DropBadLength
	}
	l.L3Off = eth.Len()
	l.L4Off = l.L3Off + ipLen
	l.PayloadOff = l.L4Off + tcpLen - payloadLen
	l.Len = l.L4Off + tcpLen
	if len(b) < l.Len {
		return TCPLayout{}, DropNoRoom
	}
	PutEthernet(b, &eth)
	ttl := s.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if v4 {
		PutIPv4(b[l.L3Off:], &IPv4Header{
			TOS: s.TOS, TotalLength: uint16(ipLen + tcpLen), ID: s.IPID,
			DontFragment: !s.AllowFragment, TTL: ttl, Protocol: ProtoTCP, Src: src, Dst: dst,
		})
	} else {
		PutIPv6(b[l.L3Off:], &IPv6Header{
			TrafficClass: s.TOS, FlowLabel: s.FlowLabel, PayloadLength: uint16(tcpLen),
			NextHeader: ProtoTCP, HopLimit: ttl, Src: src, Dst: dst,
		})
	}
	PutTCPHeader(b[l.L4Off:], &TCPHeader{
		SrcPort: s.SrcPort, DstPort: s.DstPort, Seq: s.Seq, Ack: s.Ack,
		Flags: s.Flags, Window: s.Window, Urgent: s.Urgent,
	}, &s.Options)
	pseudo := PseudoHeaderSumAddr(ProtoTCP, src, dst, uint32(tcpLen))
	// The header length is a multiple of 4, so the payload sum chains on.
	TCP(b[l.L4Off:]).SetChecksum(Checksum(b[l.L4Off:l.PayloadOff], pseudo))
	return l, nil
}

// FinishTCP completes the TCP checksum of a frame laid out by PutTCPHeaders
// once the payload is in place.
func FinishTCP(b []byte, l TCPLayout) {
	t := TCP(b[l.L4Off:])
	t.SetChecksum(^Checksum(b[l.PayloadOff:l.Len], t.Checksum()))
}

// BuildTCP writes a complete frame for payload into b and returns its
// length: PutTCPHeaders, copy, FinishTCP.
func BuildTCP(b []byte, s *TCPFrameSpec, payload []byte) (int, error) {
	l, err := PutTCPHeaders(b, s, len(payload))
	if err != nil {
		return 0, err
	}
	copy(b[l.PayloadOff:l.Len], payload)
	FinishTCP(b, l)
	return l.Len, nil
}

// ReplyTo addresses s as a reply to the received frame f: MACs, addresses
// and ports swapped, the VLAN tag kept. Replies go to the MAC the flow's
// frames came from (DESIGN: neighbour resolution), so no ARP/ND lookup is
// needed on the passive side. TCP fields and options are left to the caller.
func (s *TCPFrameSpec) ReplyTo(f *Frame) {
	s.SrcMAC, s.DstMAC = f.Eth.Dst, f.Eth.Src
	s.HasVLAN, s.VLAN = f.Eth.HasVLAN, f.Eth.VLAN
	s.Src, s.Dst = f.Dst, f.Src
	s.SrcPort, s.DstPort = f.DstPort, f.SrcPort
}
