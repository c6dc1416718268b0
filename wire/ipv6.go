package wire

import (
	"encoding/binary"
	"net/netip"
)

// IPv6 next-header values for extension headers (RFC 8200 §4, IANA).
const (
	ProtoHopByHop = 0
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoESP      = 50
	ProtoAH       = 51
	ProtoNoNext   = 59
	ProtoDstOpts  = 60
	ProtoMobility = 135
	ProtoHIP      = 139
	ProtoShim6    = 140

	IPv6HeaderLen = 40
	// MaxIPv6ExtHeaders bounds the extension-header walk: a hostile chain
	// of tiny headers must not cost more than a handful of steps.
	MaxIPv6ExtHeaders = 8
)

// IPv6 is an IPv6 packet viewed in place (RFC 8200 §3). Accessors assume
// the view came from ParseIPv6 (or PutIPv6): 40 header octets present and
// the slice ends at the Payload Length.
type IPv6 []byte

func (p IPv6) Version() uint8        { return p[0] >> 4 }
func (p IPv6) TrafficClass() uint8   { return uint8(binary.BigEndian.Uint16(p[0:]) >> 4) }
func (p IPv6) FlowLabel() uint32     { return binary.BigEndian.Uint32(p[0:]) & 0xfffff }
func (p IPv6) PayloadLength() uint16 { return binary.BigEndian.Uint16(p[4:]) }
func (p IPv6) NextHeader() uint8     { return p[6] }
func (p IPv6) HopLimit() uint8       { return p[7] }
func (p IPv6) SrcBytes() []byte      { return p[8:24] }
func (p IPv6) DstBytes() []byte      { return p[24:40] }
func (p IPv6) Src() netip.Addr       { return netip.AddrFrom16([16]byte(p[8:24])) }
func (p IPv6) Dst() netip.Addr       { return netip.AddrFrom16([16]byte(p[24:40])) }
func (p IPv6) Payload() []byte       { return p[IPv6HeaderLen:] }

// ParseIPv6 validates the fixed header and Payload Length and returns the
// packet trimmed to 40 + Payload Length. Jumbograms (Payload Length 0 with
// a Jumbo option, RFC 2675) are rejected: no link sluice drives has them.
func ParseIPv6(b []byte) (IPv6, error) {
	if len(b) < IPv6HeaderLen {
		return nil, DropTruncated
	}
	if b[0]>>4 != 6 {
		return nil, DropBadIPVersion
	}
	pl := int(binary.BigEndian.Uint16(b[4:]))
	if pl == 0 && b[6] == ProtoHopByHop {
		return nil, DropBadLength
	}
	if IPv6HeaderLen+pl > len(b) {
		return nil, DropTruncated
	}
	return IPv6(b[:IPv6HeaderLen+pl]), nil
}

// IPv6Ext is the result of walking a packet's extension headers.
type IPv6Ext struct {
	Proto  uint8 // upper-layer protocol (ProtoNoNext if none)
	Offset int   // where the upper-layer header starts, from the IPv6 header
	NumExt int   // extension headers walked

	// Fragment header fields, when one is present (RFC 8200 §4.5).
	HasFragment   bool
	FragOffset    int // octets
	MoreFragments bool
	FragID        uint32
}

// Fragmented reports a real fragment. A Fragment header with offset 0 and
// M = 0 is an "atomic fragment" and carries the whole datagram (RFC 6946).
func (x *IPv6Ext) Fragmented() bool { return x.HasFragment && (x.FragOffset != 0 || x.MoreFragments) }

// WalkIPv6Ext follows the Next Header chain of p through hop-by-hop,
// routing, fragment, destination options, AH, Mobility, HIP and Shim6
// headers, at most MaxIPv6ExtHeaders of them, and reports the upper-layer
// protocol and its offset. Errors: DropTruncated for a header running past
// the packet, DropBadIPHeader for hop-by-hop not first (RFC 8200 §4.1) or a
// routing header with Segments Left > 0 (this node is not the final
// destination; §4.4), DropTooManyExtHeaders for a longer chain.
// The walk stops at a non-first fragment, whose upper-layer header is in
// another fragment: Proto is then the fragment's Next Header.
func WalkIPv6Ext(p IPv6, x *IPv6Ext) error {
	*x = IPv6Ext{}
	nh := p.NextHeader()
	off := IPv6HeaderLen
	for {
		var l int
		switch nh {
		case ProtoHopByHop, ProtoRouting, ProtoDstOpts, ProtoMobility, ProtoHIP, ProtoShim6:
			if nh == ProtoHopByHop && x.NumExt != 0 {
				return DropBadIPHeader
			}
			if off+8 > len(p) {
				return DropTruncated
			}
			l = (int(p[off+1]) + 1) * 8
			if nh == ProtoRouting && p[off+3] != 0 {
				return DropBadIPHeader
			}
		case ProtoFragment:
			if off+8 > len(p) {
				return DropTruncated
			}
			l = 8
			fo := binary.BigEndian.Uint16(p[off+2:])
			x.HasFragment = true
			x.FragOffset = int(fo &^ 7) // the 13-bit offset in 8-octet units, pre-shifted
			x.MoreFragments = fo&1 != 0
			x.FragID = binary.BigEndian.Uint32(p[off+4:])
		case ProtoAH: // RFC 4302 §2.2: length in 4-octet units, minus 2
			if off+8 > len(p) {
				return DropTruncated
			}
			l = (int(p[off+1]) + 2) * 4
		default:
			x.Proto, x.Offset = nh, off
			return nil
		}
		if off+l > len(p) {
			return DropTruncated
		}
		if x.NumExt++; x.NumExt > MaxIPv6ExtHeaders {
			return DropTooManyExtHeaders
		}
		nh = p[off]
		off += l
		if x.HasFragment && x.FragOffset != 0 {
			x.Proto, x.Offset = nh, off
			return nil
		}
	}
}

// IPv6Header describes a header for PutIPv6 (no extension headers: sluice
// sends none).
type IPv6Header struct {
	TrafficClass  uint8
	FlowLabel     uint32
	PayloadLength uint16
	NextHeader    uint8
	HopLimit      uint8
	Src, Dst      netip.Addr // IPv6 (IPv4-mapped allowed, it is 16 octets)
}

// PutIPv6 writes h at the start of b and returns IPv6HeaderLen, or 0 if b is
// too short or an address is not 16 octets.
func PutIPv6(b []byte, h *IPv6Header) int {
	if len(b) < IPv6HeaderLen || !h.Src.Is6() || !h.Dst.Is6() {
		return 0
	}
	binary.BigEndian.PutUint32(b[0:], 6<<28|uint32(h.TrafficClass)<<20|h.FlowLabel&0xfffff)
	binary.BigEndian.PutUint16(b[4:], h.PayloadLength)
	b[6] = h.NextHeader
	b[7] = h.HopLimit
	s, d := h.Src.As16(), h.Dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
	return IPv6HeaderLen
}
