package rss

import (
	"encoding/binary"
	"net/netip"
)

// Hash is the Toeplitz hash of input under key: for each set bit of
// input, from the first octet's most significant bit on, the 32 key bits
// starting at that bit position are XORed in. key must be at least
// len(input)+4 octets; bits past its end count as zero.
func Hash(key, input []byte) uint32 {
	var h uint32
	for i, b := range input {
		if b == 0 {
			continue
		}
		w := window(key, 8*i)
		for bit := 7; bit >= 0; bit-- {
			if b&(1<<bit) != 0 {
				h ^= uint32(w >> 32)
			}
			w <<= 1
		}
	}
	return h
}

// window is the 64 key bits starting at bit pos (zeros past the end).
func window(key []byte, pos int) uint64 {
	var buf [9]byte
	copy(buf[:], key[min(pos/8, len(key)):])
	return binary.BigEndian.Uint64(buf[:8])<<(pos%8) | uint64(buf[8])>>(8-pos%8)
}

// Fields are the parts of a TCP/IP header a device hashes, as ethtool's
// RXH_* bits (ETHTOOL_GRXFH).
type Fields uint64

const (
	IPSrc  Fields = 1 << 4 // RXH_IP_SRC
	IPDst  Fields = 1 << 5 // RXH_IP_DST
	L4Src  Fields = 1 << 6 // RXH_L4_B_0_1: the source port
	L4Dst  Fields = 1 << 7 // RXH_L4_B_2_3: the destination port
	Tuple4        = IPSrc | IPDst | L4Src | L4Dst
)

// Input appends the hash input of a frame from src to dst with fields
// f to b: source address, destination address, source port, destination
// port, in that order, each only if hashed (the specification's layout).
// It also returns where the destination port sits in the input (-1 when
// it is not hashed).
func Input(b []byte, f Fields, src, dst netip.AddrPort) ([]byte, int) {
	if f&IPSrc != 0 {
		b = appendAddr(b, src.Addr())
	}
	if f&IPDst != 0 {
		b = appendAddr(b, dst.Addr())
	}
	if f&L4Src != 0 {
		b = binary.BigEndian.AppendUint16(b, src.Port())
	}
	at := -1
	if f&L4Dst != 0 {
		at = len(b)
		b = binary.BigEndian.AppendUint16(b, dst.Port())
	}
	return b, at
}

func appendAddr(b []byte, a netip.Addr) []byte {
	if a = a.Unmap(); a.Is4() {
		a4 := a.As4()
		return append(b, a4[:]...)
	}
	a16 := a.As16()
	return append(b, a16[:]...)
}
