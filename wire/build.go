package wire

import (
	"encoding/binary"
	"net/netip"
)

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
	// Fields are written directly rather than through the Put* helpers:
	// this runs once per transmitted segment.
	var l TCPLayout
	v4, src, dst, ok := s.v4()
	if !ok {
		return l, DropBadAddress
	}
	optLen := TCPOptionsLen(&s.Options)
	tcpLen := TCPMinHeaderLen + optLen + payloadLen
	ipLen := IPv6HeaderLen
	if v4 {
		ipLen = IPv4MinHeaderLen
	}
	if payloadLen < 0 || tcpLen > 0xffff || (v4 && tcpLen+ipLen > 0xffff) {
		return l, DropBadLength
	}
	l.L3Off = EthernetHeaderLen
	if s.HasVLAN {
		l.L3Off += VLANTagLen
	}
	l.L4Off = l.L3Off + ipLen
	l.PayloadOff = l.L4Off + TCPMinHeaderLen + optLen
	l.Len = l.L4Off + tcpLen
	if len(b) < l.Len {
		return TCPLayout{}, DropNoRoom
	}

	// Ethernet II, optional 802.1Q tag.
	copy(b[0:6], s.DstMAC[:])
	copy(b[6:12], s.SrcMAC[:])
	et := uint16(EtherTypeIPv6)
	if v4 {
		et = EtherTypeIPv4
	}
	if s.HasVLAN {
		binary.BigEndian.PutUint16(b[12:], EtherTypeVLAN)
		binary.BigEndian.PutUint16(b[14:], s.VLAN)
	}
	binary.BigEndian.PutUint16(b[l.L3Off-2:], et)

	ttl := s.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	// The checksums are summed from the words as formed in registers, not
	// read back from b: b is usually a cold UMEM frame, and a load of a
	// word just stored in pieces waits for the stores to reach the cache.
	// Any word size and order give the same sum (RFC 1071 §2(B)).
	var pseudo uint64
	ip := b[l.L3Off:l.L4Off]
	if v4 { // RFC 791 §3.1
		w0 := 0x45<<24 | uint32(s.TOS)<<16 | uint32(ipLen+tcpLen)
		w1 := uint32(s.IPID)<<16 | 0x4000 // DF
		if s.AllowFragment {
			w1 = uint32(s.IPID) << 16
		}
		w2 := uint32(ttl)<<24 | ProtoTCP<<16 // checksum 0
		sa, da := src.As4(), dst.As4()
		a := uint64(binary.BigEndian.Uint32(sa[:])) + uint64(binary.BigEndian.Uint32(da[:]))
		binary.BigEndian.PutUint32(ip[0:], w0)
		binary.BigEndian.PutUint32(ip[4:], w1)
		binary.BigEndian.PutUint32(ip[8:], w2|uint32(^fold64(uint64(w0)+uint64(w1)+uint64(w2)+a)))
		copy(ip[12:16], sa[:])
		copy(ip[16:20], da[:])
		pseudo = a + ProtoTCP + uint64(tcpLen)
	} else { // RFC 8200 §3
		binary.BigEndian.PutUint32(ip[0:], 6<<28|uint32(s.TOS)<<20|s.FlowLabel&0xfffff)
		binary.BigEndian.PutUint16(ip[4:], uint16(tcpLen))
		ip[6], ip[7] = ProtoTCP, ttl
		sa, da := src.As16(), dst.As16()
		copy(ip[8:24], sa[:])
		copy(ip[24:40], da[:])
		pseudo = pseudoAcc(ProtoTCP, sa[:], da[:], uint32(tcpLen))
	}

	// RFC 9293 §3.1; the checksum field holds 0 while summed.
	t := b[l.L4Off:l.PayloadOff]
	w0 := uint32(s.SrcPort)<<16 | uint32(s.DstPort)
	w3 := uint32((TCPMinHeaderLen+optLen)/4)<<28 | uint32(s.Flags)<<16 | uint32(s.Window)
	binary.BigEndian.PutUint32(t[0:], w0)
	binary.BigEndian.PutUint32(t[4:], s.Seq)
	binary.BigEndian.PutUint32(t[8:], s.Ack)
	binary.BigEndian.PutUint32(t[12:], w3)
	sum := pseudo + uint64(w0) + uint64(s.Seq) + uint64(s.Ack) + uint64(w3) + uint64(s.Urgent)
	if optLen > 0 {
		_, o := putTCPOptions(t[TCPMinHeaderLen:], &s.Options)
		sum += o
	}
	// The header length is a multiple of 4, so the payload sum chains on.
	binary.BigEndian.PutUint32(t[16:], uint32(fold64(sum))<<16|uint32(s.Urgent))
	return l, nil
}

// FinishTCP completes the TCP checksum of a frame laid out by PutTCPHeaders
// once the payload is in place.
func FinishTCP(b []byte, l TCPLayout) {
	t := TCP(b[l.L4Off:])
	t.SetChecksum(^Checksum(b[l.PayloadOff:l.Len], t.Checksum()))
}

// BuildTCP writes a complete frame for payload into b and returns its
// length: PutTCPHeaders, then CopyFinishTCP.
func BuildTCP(b []byte, s *TCPFrameSpec, payload []byte) (int, error) {
	l, err := PutTCPHeaders(b, s, len(payload))
	if err != nil {
		return 0, err
	}
	CopyFinishTCP(b, l, payload)
	return l.Len, nil
}

// CopyFinishTCP copies payload into the frame PutTCPHeaders laid out and
// completes the TCP checksum as FinishTCP does, summing the text while it
// is copied (CopyChecksum). payload must be the length given to
// PutTCPHeaders.
func CopyFinishTCP(b []byte, l TCPLayout, payload []byte) {
	t := TCP(b[l.L4Off:])
	t.SetChecksum(^CopyChecksum(b[l.PayloadOff:l.Len], payload, t.Checksum()))
}

// CopyFinishTCP2 is CopyFinishTCP for a payload in two runs, p then q
// (text that crosses a send-buffer chunk), each copied once straight
// into the frame and summed in the same pass. len(p)+len(q) must be the
// length given to PutTCPHeaders.
func CopyFinishTCP2(b []byte, l TCPLayout, p, q []byte) {
	t := TCP(b[l.L4Off:])
	dst := b[l.PayloadOff:l.Len]
	sum := CopyChecksum(dst, p, t.Checksum())
	t.SetChecksum(^CopyChecksumAt(dst[len(p):], q, sum, len(p)))
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
