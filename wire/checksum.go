package wire

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Checksum returns the 16-bit ones' complement sum (RFC 1071) of b, added to
// initial, NOT complemented: the value to feed into further sums. The
// checksum field itself is ^Checksum(...). Sums of consecutive chunks may be
// chained through initial as long as every chunk but the last has even
// length (an odd chunk would shift the byte lanes of the next one).
//
// It accumulates 64-bit words with add-with-carry chains (two in parallel
// for long inputs) and folds at the end: the ones' complement sum is the
// same in any word size because 2^16 ≡ 1 (mod 2^16-1) (RFC 1071 §2(B),
// "parallel summation"). Any length and alignment; no allocation.
func Checksum(b []byte, initial uint16) uint16 { return checksumAcc(b, uint64(initial)) }

// checksumAcc is Checksum starting from an unfolded accumulator, so callers
// can add pseudo-header words without folding twice.
func checksumAcc(b []byte, sum uint64) uint16 {
	var c uint64
	if len(b) >= 64 {
		// Whole 32-octet blocks as little-endian words (sumBlocks): the
		// ones' complement sum of byte-swapped words is the byte-swapped
		// sum (RFC 1071 §2(B)), so swap once at the end. Blocks are 32
		// octets, so the tail stays 16-bit aligned.
		n := len(b) &^ 31
		sum, c = bits.Add64(sum, uint64(blockSum16(sumBlocks(b[:n]))), 0)
		b = b[n:]
	}
	for len(b) >= 32 {
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b), c)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b[8:]), c)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b[16:]), c)
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		sum, c = bits.Add64(sum, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		sum, c = bits.Add64(sum, uint64(binary.BigEndian.Uint32(b)), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		sum, c = bits.Add64(sum, uint64(binary.BigEndian.Uint16(b)), c)
		b = b[2:]
	}
	if len(b) == 1 {
		// An odd trailing octet is padded with a zero octet (RFC 1071 §1).
		sum, c = bits.Add64(sum, uint64(b[0])<<8, c)
	}
	// End-around carry: at most twice (the second add cannot carry again).
	sum, c = bits.Add64(sum, 0, c)
	sum += c
	return fold64(sum)
}

// CopyChecksum copies src into dst and returns Checksum(src, initial), in
// one pass over the octets where the architecture allows (amd64): a frame
// is built and summed while its text is in registers. dst must be at least
// as long as src and must not overlap it.
func CopyChecksum(dst, src []byte, initial uint16) uint16 {
	n := len(src) &^ 31
	acc := uint64(initial)
	if n > 0 {
		acc += uint64(blockSum16(copySum(dst[:n], src[:n])))
	}
	copy(dst[n:len(src)], src[n:])
	return checksumAcc(src[n:], acc)
}

// CopyChecksumAt is CopyChecksum for src that lies at offset off of the
// summed data, after a first part whose sum is initial: with off odd,
// src's octets fall in the other byte lanes, and its sum, taken from an
// even start, is byte-swapped before it is added (RFC 1071 §2(B):
// byte-swapped words sum to the byte-swapped sum). So text in two parts
// of any lengths is summed as one.
func CopyChecksumAt(dst, src []byte, initial uint16, off int) uint16 {
	if off&1 == 0 {
		return CopyChecksum(dst, src, initial)
	}
	return ChecksumCombine(initial, bits.ReverseBytes16(CopyChecksum(dst, src, 0)))
}

// blockSum16 is the 16-bit sum of blocks that sumBlocks or copySum added
// as little-endian words: folded, then byte-swapped, since the ones'
// complement sum of byte-swapped words is the byte-swapped sum (RFC 1071
// §2(B)).
func blockSum16(s uint64) uint16 { return bits.ReverseBytes16(fold64(s)) }

// fold64 folds a 64-bit ones' complement accumulator to 16 bits.
func fold64(s uint64) uint16 {
	t, c := bits.Add32(uint32(s>>32), uint32(s), 0)
	t += c // cannot carry again: with c = 1, t <= 2^32-2
	u := t>>16 + t&0xffff
	u = u>>16 + u&0xffff
	return uint16(u)
}

// ChecksumCombine adds two ones' complement sums.
func ChecksumCombine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}

// PseudoHeaderSum returns the (uncomplemented) sum of the TCP/UDP
// pseudo-header for addresses given as 4 or 16 raw octets: IPv4 per
// RFC 9293 §3.1 (src, dst, zero, protocol, TCP length), IPv6 per RFC 8200
// §8.1 (src, dst, 32-bit upper-layer length, zeros, next header). Both
// reduce to the same ones' complement sum since zero octets add nothing.
func PseudoHeaderSum(proto uint8, src, dst []byte, length uint32) uint16 {
	return fold64(pseudoAcc(proto, src, dst, length))
}

// pseudoAcc is PseudoHeaderSum before folding.
func pseudoAcc(proto uint8, src, dst []byte, length uint32) uint64 {
	s := uint64(proto) + uint64(length>>16) + uint64(length&0xffff)
	if len(src)%4 != 0 || len(dst)%4 != 0 || len(src) > 16 || len(dst) > 16 {
		return s + uint64(Checksum(dst, Checksum(src, 0))) // not an IP address: slow path
	}
	return s + sumWords32(src) + sumWords32(dst)
}

// sumWords32 adds the big-endian 32-bit words of b (a length multiple of
// 4, short enough that the uint64 cannot overflow: < 2^32 words).
func sumWords32(b []byte) uint64 {
	var s uint64
	for ; len(b) >= 4; b = b[4:] {
		s += uint64(binary.BigEndian.Uint32(b))
	}
	return s
}

// PseudoHeaderSumAddr is PseudoHeaderSum for netip addresses (both of the
// same family; an IPv4-mapped IPv6 address counts as IPv6).
func PseudoHeaderSumAddr(proto uint8, src, dst netip.Addr, length uint32) uint16 {
	if src.Is4() {
		s4, d4 := src.As4(), dst.As4()
		return pseudo4(proto, s4, d4, length)
	}
	s16, d16 := src.As16(), dst.As16()
	return PseudoHeaderSum(proto, s16[:], d16[:], length)
}

func pseudo4(proto uint8, src, dst [4]byte, length uint32) uint16 {
	s := uint64(binary.BigEndian.Uint32(src[:])) + uint64(binary.BigEndian.Uint32(dst[:]))
	return fold64(s + uint64(proto) + uint64(length))
}

// ChecksumUpdate16 returns the checksum field hc after one 16-bit word of
// the covered data changed from old to new, per RFC 1624 eqn. 3:
// HC' = ~(~HC + ~m + m'). Eqn. 3 rather than RFC 1141's HC - ~m - m', which
// can produce the wrong zero (0x0000 where 0xFFFF is due; RFC 1624 §3).
func ChecksumUpdate16(hc, old, new uint16) uint16 {
	s := uint32(^hc) + uint32(^old) + uint32(new)
	s = (s >> 16) + (s & 0xffff)
	s = (s >> 16) + (s & 0xffff)
	return ^uint16(s)
}

// ChecksumUpdate32 is ChecksumUpdate16 for an aligned 32-bit field (an IPv4
// address, a sequence number): two 16-bit words changing at once.
func ChecksumUpdate32(hc uint16, old, new uint32) uint16 {
	s := uint64(^hc) + uint64(^uint16(old>>16)) + uint64(^uint16(old)) +
		uint64(new>>16) + uint64(new&0xffff)
	return ^fold64(s)
}
