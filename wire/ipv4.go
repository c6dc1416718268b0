package wire

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers (IANA) used here.
const (
	ProtoICMP        = 1
	ProtoTCP         = 6
	ProtoUDP         = 17
	ProtoICMPv6      = 58
	IPv4MinHeaderLen = 20
	IPv4MaxHeaderLen = 60
)

// IPv4 is an IPv4 packet viewed in place (RFC 791 §3.1). Accessors assume
// the view came from ParseIPv4 (or was built with PutIPv4): the header is
// complete and the slice ends at Total Length.
type IPv4 []byte

func (p IPv4) Version() uint8          { return p[0] >> 4 }
func (p IPv4) HeaderLen() int          { return int(p[0]&0xf) * 4 }
func (p IPv4) TOS() uint8              { return p[1] }
func (p IPv4) TotalLength() uint16     { return binary.BigEndian.Uint16(p[2:]) }
func (p IPv4) ID() uint16              { return binary.BigEndian.Uint16(p[4:]) }
func (p IPv4) DontFragment() bool      { return p[6]&0x40 != 0 }
func (p IPv4) MoreFragments() bool     { return p[6]&0x20 != 0 }
func (p IPv4) TTL() uint8              { return p[8] }
func (p IPv4) Protocol() uint8         { return p[9] }
func (p IPv4) Checksum() uint16        { return binary.BigEndian.Uint16(p[10:]) }
func (p IPv4) SrcBytes() []byte        { return p[12:16] }
func (p IPv4) DstBytes() []byte        { return p[16:20] }
func (p IPv4) Src() netip.Addr         { return netip.AddrFrom4([4]byte(p[12:16])) }
func (p IPv4) Dst() netip.Addr         { return netip.AddrFrom4([4]byte(p[16:20])) }
func (p IPv4) Options() []byte         { return p[IPv4MinHeaderLen:p.HeaderLen()] }
func (p IPv4) Payload() []byte         { return p[p.HeaderLen():] }
func (p IPv4) SetTotalLength(n uint16) { binary.BigEndian.PutUint16(p[2:], n) }
func (p IPv4) SetChecksum(c uint16)    { binary.BigEndian.PutUint16(p[10:], c) }

// FragmentOffset is the offset of this fragment's data in octets (the
// field counts 8-octet units).
func (p IPv4) FragmentOffset() int { return int(binary.BigEndian.Uint16(p[6:])&0x1fff) * 8 }

// IsFragment reports a fragment of a larger datagram: MF set or a non-zero
// offset. sluice does no reassembly; TCP with PMTUD never needs it.
func (p IPv4) IsFragment() bool { return binary.BigEndian.Uint16(p[6:])&0x3fff != 0 }

// ChecksumValid verifies the header checksum: the ones' complement sum of
// the header including the checksum field is all ones (RFC 1071 §1).
func (p IPv4) ChecksumValid() bool { return fold64(sumWords32(p[:p.HeaderLen()])) == 0xffff }

// UpdateChecksum recomputes the header checksum.
func (p IPv4) UpdateChecksum() {
	p.SetChecksum(0)
	p.SetChecksum(^Checksum(p[:p.HeaderLen()], 0))
}

// DecTTL decrements the TTL and patches the checksum incrementally
// (RFC 1624 §4): the TTL shares a 16-bit word with the protocol.
func (p IPv4) DecTTL() {
	old := binary.BigEndian.Uint16(p[8:])
	p[8]--
	p.SetChecksum(ChecksumUpdate16(p.Checksum(), old, binary.BigEndian.Uint16(p[8:])))
}

// ParseIPv4 validates the fixed header, IHL, Total Length and the option
// list's framing, and returns the packet trimmed to Total Length (Ethernet
// pads short frames to 60 octets). It does not verify the checksum
// (ChecksumValid) nor reject fragments (IsFragment).
func ParseIPv4(b []byte) (IPv4, error) {
	if len(b) < IPv4MinHeaderLen {
		return nil, DropTruncated
	}
	if b[0]>>4 != 4 {
		return nil, DropBadIPVersion
	}
	hl := int(b[0]&0xf) * 4
	if hl < IPv4MinHeaderLen {
		return nil, DropBadIPHeader
	}
	if len(b) < hl {
		return nil, DropTruncated
	}
	total := int(binary.BigEndian.Uint16(b[2:]))
	if total < hl {
		return nil, DropBadLength
	}
	if total > len(b) {
		return nil, DropTruncated
	}
	if !validIPv4Options(b[IPv4MinHeaderLen:hl]) {
		return nil, DropBadIPHeader
	}
	return IPv4(b[:total]), nil
}

// validIPv4Options checks the framing of an option list (RFC 791 §3.1):
// EOL ends it, NOP is one octet, every other option has a length octet
// >= 2 that stays inside the header. Contents are not interpreted.
func validIPv4Options(o []byte) bool {
	for i := 0; i < len(o); {
		switch o[i] {
		case 0: // End of Option List
			return true
		case 1: // No Operation
			i++
			continue
		}
		if i+1 >= len(o) {
			return false
		}
		l := int(o[i+1])
		if l < 2 || i+l > len(o) {
			return false
		}
		i += l
	}
	return true
}

// IPv4Header describes a header for PutIPv4.
type IPv4Header struct {
	TOS            uint8
	TotalLength    uint16 // header + payload
	ID             uint16
	DontFragment   bool
	MoreFragments  bool
	FragmentOffset int // octets, a multiple of 8
	TTL            uint8
	Protocol       uint8
	Src, Dst       netip.Addr // IPv4
	Options        []byte     // raw, already padded to a multiple of 4, at most 40 octets
}

// Len is the header length PutIPv4 writes.
func (h *IPv4Header) Len() int { return IPv4MinHeaderLen + len(h.Options) }

// PutIPv4 writes h with a computed checksum at the start of b and returns
// the header length, or 0 when b is too short, the addresses are not IPv4,
// or the options are not a multiple of 4 up to 40 octets.
func PutIPv4(b []byte, h *IPv4Header) int {
	hl := h.Len()
	if len(b) < hl || len(h.Options)%4 != 0 || hl > IPv4MaxHeaderLen || !h.Src.Is4() || !h.Dst.Is4() {
		return 0
	}
	b[0] = 0x40 | byte(hl/4)
	b[1] = h.TOS
	binary.BigEndian.PutUint16(b[2:], h.TotalLength)
	binary.BigEndian.PutUint16(b[4:], h.ID)
	ff := uint16(h.FragmentOffset/8) & 0x1fff
	if h.DontFragment {
		ff |= 0x4000
	}
	if h.MoreFragments {
		ff |= 0x2000
	}
	binary.BigEndian.PutUint16(b[6:], ff)
	b[8] = h.TTL
	b[9] = h.Protocol
	s, d := h.Src.As4(), h.Dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	copy(b[20:hl], h.Options)
	IPv4(b[:hl]).UpdateChecksum()
	return hl
}
