package wire

import "encoding/binary"

// MAC is a 48-bit IEEE 802 MAC address.
type MAC [6]byte

// BroadcastMAC is ff:ff:ff:ff:ff:ff.
var BroadcastMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// IsMulticast reports the group bit (also set for broadcast).
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// String formats m as aa:bb:cc:dd:ee:ff.
func (m MAC) String() string {
	const hex = "0123456789abcdef"
	var b [17]byte
	for i, x := range m {
		if i > 0 {
			b[i*3-1] = ':'
		}
		b[i*3] = hex[x>>4]
		b[i*3+1] = hex[x&0xf]
	}
	return string(b[:])
}

// EtherTypes sluice distinguishes (IEEE 802.3 / IANA).
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeVLAN = 0x8100 // IEEE 802.1Q C-tag
	EtherTypeQinQ = 0x88a8 // IEEE 802.1ad S-tag (not decapsulated)
	EtherTypeIPv6 = 0x86dd
)

const (
	EthernetHeaderLen = 14 // dst, src, EtherType
	VLANTagLen        = 4  // TPID 0x8100 + TCI
)

// Ethernet is an Ethernet II frame viewed in place. Accessors assume
// len(e) >= EthernetHeaderLen (check with ParseEthernet).
type Ethernet []byte

func (e Ethernet) Dst() (m MAC)            { copy(m[:], e[0:6]); return }
func (e Ethernet) Src() (m MAC)            { copy(m[:], e[6:12]); return }
func (e Ethernet) SetDst(m MAC)            { copy(e[0:6], m[:]) }
func (e Ethernet) SetSrc(m MAC)            { copy(e[6:12], m[:]) }
func (e Ethernet) TypeOrTPID() uint16      { return binary.BigEndian.Uint16(e[12:]) }
func (e Ethernet) HasVLAN() bool           { return e.TypeOrTPID() == EtherTypeVLAN }
func (e Ethernet) setType(t uint16, o int) { binary.BigEndian.PutUint16(e[o:], t) }

// EthernetHeader is a decoded Ethernet II header with at most one 802.1Q tag.
type EthernetHeader struct {
	Dst, Src  MAC
	HasVLAN   bool
	VLAN      uint16 // the 802.1Q TCI: PCP(3) DEI(1) VID(12)
	EtherType uint16 // of the payload, after the tag if any
}

// VID is the 12-bit VLAN identifier of the tag.
func (h *EthernetHeader) VID() uint16 { return h.VLAN & 0x0fff }

// Len is the encoded header length: 14, or 18 with a VLAN tag.
func (h *EthernetHeader) Len() int {
	if h.HasVLAN {
		return EthernetHeaderLen + VLANTagLen
	}
	return EthernetHeaderLen
}

// ParseEthernet decodes the header at the start of b and returns its length
// (where the payload starts). One 802.1Q tag is decoded; a second tag
// (QinQ) is left as the EtherType for the caller to reject.
func ParseEthernet(b []byte, h *EthernetHeader) (int, error) {
	if len(b) < EthernetHeaderLen {
		return 0, DropTruncated
	}
	copy(h.Dst[:], b[0:6])
	copy(h.Src[:], b[6:12])
	t := binary.BigEndian.Uint16(b[12:])
	if t != EtherTypeVLAN {
		h.HasVLAN, h.VLAN, h.EtherType = false, 0, t
		return EthernetHeaderLen, nil
	}
	if len(b) < EthernetHeaderLen+VLANTagLen {
		return 0, DropTruncated
	}
	h.HasVLAN = true
	h.VLAN = binary.BigEndian.Uint16(b[14:])
	h.EtherType = binary.BigEndian.Uint16(b[16:])
	return EthernetHeaderLen + VLANTagLen, nil
}

// PutEthernet writes h at the start of b and returns h.Len(), or 0 if b is
// shorter than that.
func PutEthernet(b []byte, h *EthernetHeader) int {
	n := h.Len()
	if len(b) < n {
		return 0
	}
	e := Ethernet(b)
	e.SetDst(h.Dst)
	e.SetSrc(h.Src)
	if h.HasVLAN {
		e.setType(EtherTypeVLAN, 12)
		binary.BigEndian.PutUint16(b[14:], h.VLAN)
		e.setType(h.EtherType, 16)
	} else {
		e.setType(h.EtherType, 12)
	}
	return n
}
