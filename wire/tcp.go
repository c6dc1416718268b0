package wire

import "encoding/binary"

// TCP control bits as they sit in octet 13 of the header (RFC 9293 §3.1,
// RFC 3168 §23.2 for ECE/CWR). The values equal tcp.Flags, so
// tcp.Flags(f.Flags) converts without a table.
const (
	TCPFlagFIN = 1 << iota
	TCPFlagSYN
	TCPFlagRST
	TCPFlagPSH
	TCPFlagACK
	TCPFlagURG
	TCPFlagECE
	TCPFlagCWR
)

const (
	TCPMinHeaderLen  = 20
	TCPMaxHeaderLen  = 60
	TCPMaxOptionsLen = TCPMaxHeaderLen - TCPMinHeaderLen
)

// TCP is a TCP segment viewed in place. Accessors assume the view came
// from ParseTCP (or PutTCPHeader): the header, including options, is
// present.
type TCP []byte

func (t TCP) SrcPort() uint16 { return binary.BigEndian.Uint16(t[0:]) }
func (t TCP) DstPort() uint16 { return binary.BigEndian.Uint16(t[2:]) }
func (t TCP) Seq() uint32     { return binary.BigEndian.Uint32(t[4:]) }
func (t TCP) Ack() uint32     { return binary.BigEndian.Uint32(t[8:]) }

// DataOffset is the header length in octets (the field counts 32-bit words).
func (t TCP) DataOffset() int      { return int(t[12]>>4) * 4 }
func (t TCP) Flags() uint8         { return t[13] }
func (t TCP) Window() uint16       { return binary.BigEndian.Uint16(t[14:]) }
func (t TCP) Checksum() uint16     { return binary.BigEndian.Uint16(t[16:]) }
func (t TCP) Urgent() uint16       { return binary.BigEndian.Uint16(t[18:]) }
func (t TCP) Options() []byte      { return t[TCPMinHeaderLen:t.DataOffset()] }
func (t TCP) Payload() []byte      { return t[t.DataOffset():] }
func (t TCP) SetSrcPort(v uint16)  { binary.BigEndian.PutUint16(t[0:], v) }
func (t TCP) SetDstPort(v uint16)  { binary.BigEndian.PutUint16(t[2:], v) }
func (t TCP) SetSeq(v uint32)      { binary.BigEndian.PutUint32(t[4:], v) }
func (t TCP) SetAck(v uint32)      { binary.BigEndian.PutUint32(t[8:], v) }
func (t TCP) SetFlags(v uint8)     { t[13] = v }
func (t TCP) SetWindow(v uint16)   { binary.BigEndian.PutUint16(t[14:], v) }
func (t TCP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(t[16:], v) }
func (t TCP) SetUrgent(v uint16)   { binary.BigEndian.PutUint16(t[18:], v) }

// ChecksumValid verifies the checksum over the whole segment given the
// pseudo-header sum (PseudoHeaderSum with length len(t)).
func (t TCP) ChecksumValid(pseudo uint16) bool { return Checksum(t, pseudo) == 0xffff }

// UpdateChecksum recomputes the checksum over the whole segment.
func (t TCP) UpdateChecksum(pseudo uint16) {
	t.SetChecksum(0)
	t.SetChecksum(^Checksum(t, pseudo))
}

// ParseTCP checks that b holds a TCP header whose data offset is at least
// 5 words and within b, and returns the view.
func ParseTCP(b []byte) (TCP, error) {
	if len(b) < TCPMinHeaderLen {
		return nil, DropTruncated
	}
	off := int(b[12]>>4) * 4
	if off < TCPMinHeaderLen || off > len(b) {
		return nil, DropBadTCPHeader
	}
	return TCP(b), nil
}

// TCPHeader is the fixed part of a TCP header, in host order.
type TCPHeader struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	Window           uint16
	Urgent           uint16
}

// PutTCPHeader writes h and the options o at the start of b with a zero
// checksum and returns the header length, or 0 if b is too short.
func PutTCPHeader(b []byte, h *TCPHeader, o *TCPOptions) int {
	ol := TCPOptionsLen(o)
	hl := TCPMinHeaderLen + ol
	if len(b) < hl {
		return 0
	}
	t := TCP(b)
	t.SetSrcPort(h.SrcPort)
	t.SetDstPort(h.DstPort)
	t.SetSeq(h.Seq)
	t.SetAck(h.Ack)
	b[12] = byte(hl/4) << 4
	b[13] = h.Flags
	t.SetWindow(h.Window)
	t.SetChecksum(0)
	t.SetUrgent(h.Urgent)
	PutTCPOptions(b[TCPMinHeaderLen:hl], o)
	return hl
}
