package wire

import "encoding/binary"

// SACKBlock is one block of a SACK option (RFC 2018 §3): octets
// [Left, Right) have been received. Edges are sequence numbers.
type SACKBlock struct{ Left, Right uint32 }

// MaxSACKBlocks is the most blocks one option can carry (4 without
// timestamps, 3 with them; RFC 2018 §3).
const MaxSACKBlocks = 4

// TCPOptions are the TCP options sluice understands, parsed. Absent options
// have their Has* flag false (MSS 0 means absent). Unknown options are
// skipped by length when parsing and never emitted.
type TCPOptions struct {
	MSS           uint16 // RFC 9293 §3.7.1; 0 = absent
	HasWScale     bool   // RFC 7323 §2
	WScale        uint8  // shift count; values above 14 are treated as 14
	SACKPermitted bool   // RFC 2018 §2
	HasTS         bool   // RFC 7323 §3
	TSVal, TSEcr  uint32
	NumSACK       uint8 // number of valid entries in SACK
	SACK          [MaxSACKBlocks]SACKBlock
}

// TCP option kinds (IANA; RFC 9293 §3.2, RFC 7323, RFC 2018).
const (
	TCPOptEOL           = 0
	TCPOptNOP           = 1
	TCPOptMSS           = 2
	TCPOptWScale        = 3
	TCPOptSACKPermitted = 4
	TCPOptSACK          = 5
	TCPOptTimestamps    = 8

	// MaxWScale is the largest shift RFC 7323 §2.3 allows; a larger
	// received value is used as 14.
	MaxWScale = 14
)

// ParseTCPOptions decodes the option list b (the octets between the fixed
// header and the data offset) into o, which it clears first.
//
// RFC 9293 §3.1: EOL ends the list, NOP is one octet, every other option
// has a length octet that counts kind and length. Unknown kinds are
// skipped by length (RFC 9293 §3.2 MUST-6/7). The list is rejected
// (DropBadOptions) when a length is < 2 or runs past the list, or a known
// kind has the wrong length: MSS 4, WS 3, SACK-permitted 2, timestamps 10,
// SACK 2+8n with 1 <= n <= 4. A repeated option overwrites the earlier one.
// On error, o holds the options that came before the malformed one.
func ParseTCPOptions(b []byte, o *TCPOptions) error {
	*o = TCPOptions{}
	for i := 0; i < len(b); {
		kind := b[i]
		switch kind {
		case TCPOptEOL:
			return nil
		case TCPOptNOP:
			i++
			continue
		}
		if i+1 >= len(b) {
			return DropBadOptions
		}
		l := int(b[i+1])
		if l < 2 || i+l > len(b) {
			return DropBadOptions
		}
		v := b[i+2 : i+l]
		switch kind {
		case TCPOptMSS:
			if l != 4 {
				return DropBadOptions
			}
			o.MSS = binary.BigEndian.Uint16(v)
		case TCPOptWScale:
			if l != 3 {
				return DropBadOptions
			}
			o.HasWScale, o.WScale = true, min(v[0], MaxWScale)
		case TCPOptSACKPermitted:
			if l != 2 {
				return DropBadOptions
			}
			o.SACKPermitted = true
		case TCPOptTimestamps:
			if l != 10 {
				return DropBadOptions
			}
			o.HasTS = true
			o.TSVal = binary.BigEndian.Uint32(v)
			o.TSEcr = binary.BigEndian.Uint32(v[4:])
		case TCPOptSACK:
			n := (l - 2) / 8
			if (l-2)%8 != 0 || n < 1 || n > MaxSACKBlocks {
				return DropBadOptions
			}
			o.NumSACK = uint8(n)
			for k := range n {
				o.SACK[k] = SACKBlock{
					Left:  binary.BigEndian.Uint32(v[8*k:]),
					Right: binary.BigEndian.Uint32(v[8*k+4:]),
				}
			}
		}
		i += l
	}
	return nil
}

// tcpOptLayout returns the encoded length of o without SACK blocks and the
// number of SACK blocks that fit in the remaining option space.
func tcpOptLayout(o *TCPOptions) (fixed, nsack int) {
	if o.MSS != 0 {
		fixed += 4
	}
	if o.HasTS {
		fixed += 12 // NOP NOP TS, or SACK-permitted TS
	} else if o.SACKPermitted {
		fixed += 4 // NOP NOP SACK-permitted
	}
	if o.HasWScale {
		fixed += 4 // NOP WS
	}
	nsack = min(int(o.NumSACK), MaxSACKBlocks, (TCPMaxOptionsLen-fixed-4)/8)
	return fixed, max(nsack, 0)
}

// TCPOptionsLen is the number of octets PutTCPOptions writes for o: a
// multiple of 4, at most TCPMaxOptionsLen.
func TCPOptionsLen(o *TCPOptions) int {
	f, n := tcpOptLayout(o)
	if n > 0 {
		f += 4 + 8*n
	}
	return f
}

// PutTCPOptions encodes o into b and returns the length written
// (TCPOptionsLen(o)), or 0 and writes nothing if b is shorter than that.
//
// The layout is Linux's (tcp_options_write), which keeps every multi-octet
// field 4-byte aligned: MSS; then timestamps preceded by SACK-permitted
// (kind 4, length 2) when both are sent, or by NOP NOP; SACK-permitted
// alone as NOP NOP SACK-permitted; NOP WS; NOP NOP SACK blocks. SACK blocks
// that do not fit in 40 octets are dropped from the end (the first block
// reports the most recent segment, RFC 2018 §4, so it is kept). Window
// scale is clamped to 14.
func PutTCPOptions(b []byte, o *TCPOptions) int {
	n, _ := putTCPOptions(b, o)
	return n
}

// putTCPOptions is PutTCPOptions that also returns the sum of the
// big-endian 32-bit words it wrote, unfolded: every field of the layout
// is 4-byte aligned, so the words are formed in registers, stored once,
// and summed without reading the (cold) frame back (RFC 1071 §2(B): the
// ones' complement sum is the same in any word size).
func putTCPOptions(b []byte, o *TCPOptions) (int, uint64) {
	fixed, nsack := tcpOptLayout(o)
	total := fixed
	if nsack > 0 {
		total += 4 + 8*nsack
	}
	if len(b) < total {
		return 0, 0
	}
	i := 0
	var sum uint64
	put := func(w uint32) {
		binary.BigEndian.PutUint32(b[i:], w)
		sum += uint64(w)
		i += 4
	}
	if o.MSS != 0 {
		put(TCPOptMSS<<24 | 4<<16 | uint32(o.MSS))
	}
	if o.HasTS {
		if o.SACKPermitted {
			put(TCPOptSACKPermitted<<24 | 2<<16 | TCPOptTimestamps<<8 | 10)
		} else {
			put(TCPOptNOP<<24 | TCPOptNOP<<16 | TCPOptTimestamps<<8 | 10)
		}
		put(o.TSVal)
		put(o.TSEcr)
	} else if o.SACKPermitted {
		put(TCPOptNOP<<24 | TCPOptNOP<<16 | TCPOptSACKPermitted<<8 | 2)
	}
	if o.HasWScale {
		put(TCPOptNOP<<24 | TCPOptWScale<<16 | 3<<8 | uint32(min(o.WScale, MaxWScale)))
	}
	if nsack > 0 {
		put(TCPOptNOP<<24 | TCPOptNOP<<16 | TCPOptSACK<<8 | uint32(2+8*nsack))
		for k := range nsack {
			put(o.SACK[k].Left)
			put(o.SACK[k].Right)
		}
	}
	return i, sum
}
