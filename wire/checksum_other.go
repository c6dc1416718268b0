//go:build !amd64

package wire

import (
	"encoding/binary"
	"math/bits"
)

// sumBlocks returns the ones' complement sum of b's whole 32-octet blocks
// as little-endian 64-bit words, carries folded in, not reduced to 16
// bits. Two add-with-carry chains keep two adders busy (the carry flag
// serializes one chain).
func sumBlocks(b []byte) uint64 {
	var s1, s2, c1, c2 uint64
	for len(b) >= 32 {
		s1, c1 = bits.Add64(s1, binary.LittleEndian.Uint64(b), c1)
		s2, c2 = bits.Add64(s2, binary.LittleEndian.Uint64(b[8:]), c2)
		s1, c1 = bits.Add64(s1, binary.LittleEndian.Uint64(b[16:]), c1)
		s2, c2 = bits.Add64(s2, binary.LittleEndian.Uint64(b[24:]), c2)
		b = b[32:]
	}
	s, cs := bits.Add64(s1, s2, 0)
	s, cs = bits.Add64(s, c1+c2, cs)
	return s + cs // with cs = 1, s <= 2: no overflow
}

// copySum copies src's whole 32-octet blocks into dst and returns their
// sum as sumBlocks does. Here it is two passes; amd64 has one.
func copySum(dst, src []byte) uint64 {
	n := len(src) &^ 31
	copy(dst[:n], src[:n])
	return sumBlocks(src[:n])
}
