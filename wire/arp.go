package wire

import (
	"encoding/binary"
	"net/netip"
)

// ARP for IPv4 over Ethernet (RFC 826). sluice passes ARP to the kernel
// (DESIGN: neighbour resolution); this codec serves tests and tools.
const (
	ARPLen           = 28
	ARPRequest       = 1
	ARPReply         = 2
	arpHTypeEthernet = 1
)

// ARP is an Ethernet/IPv4 ARP packet viewed in place; accessors assume
// the view came from ParseARP or PutARP.
type ARP []byte

func (a ARP) Op() uint16           { return binary.BigEndian.Uint16(a[6:]) }
func (a ARP) SenderMAC() (m MAC)   { copy(m[:], a[8:14]); return }
func (a ARP) SenderIP() netip.Addr { return netip.AddrFrom4([4]byte(a[14:18])) }
func (a ARP) TargetMAC() (m MAC)   { copy(m[:], a[18:24]); return }
func (a ARP) TargetIP() netip.Addr { return netip.AddrFrom4([4]byte(a[24:28])) }

// ParseARP checks that b starts with an ARP packet for Ethernet hardware
// addresses and IPv4 protocol addresses (htype 1, ptype 0x0800, hlen 6,
// plen 4) and returns the 28-octet view.
func ParseARP(b []byte) (ARP, error) {
	if len(b) < ARPLen {
		return nil, DropTruncated
	}
	if binary.BigEndian.Uint16(b[0:]) != arpHTypeEthernet ||
		binary.BigEndian.Uint16(b[2:]) != EtherTypeIPv4 || b[4] != 6 || b[5] != 4 {
		return nil, DropBadARP
	}
	return ARP(b[:ARPLen]), nil
}

// PutARP writes an Ethernet/IPv4 ARP packet and returns ARPLen, or 0 if b
// is too short or an address is not IPv4.
func PutARP(b []byte, op uint16, sha MAC, spa netip.Addr, tha MAC, tpa netip.Addr) int {
	if len(b) < ARPLen || !spa.Is4() || !tpa.Is4() {
		return 0
	}
	binary.BigEndian.PutUint16(b[0:], arpHTypeEthernet)
	binary.BigEndian.PutUint16(b[2:], EtherTypeIPv4)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], op)
	s, t := spa.As4(), tpa.As4()
	copy(b[8:14], sha[:])
	copy(b[14:18], s[:])
	copy(b[18:24], tha[:])
	copy(b[24:28], t[:])
	return ARPLen
}
