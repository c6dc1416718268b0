package isn

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF",
// INDOCRYPT 2012): a keyed 64-bit PRF that is fast on inputs of a few
// dozen octets, the size of a 4-tuple. It is the F of RFC 6528 here (as in
// Linux's secure_tcp_seq), the cookie hash of tcp/syncookie, and a seeded
// flow hash for tables a peer can fill (hash flooding needs the key).

// Key is a SipHash key split into its two little-endian 64-bit halves, so
// hashing does not re-read the key bytes.
type Key struct{ k0, k1 uint64 }

// NewKey returns the Key for 16 key octets (k0 = first eight, little endian,
// as in the reference implementation).
func NewKey(b [16]byte) Key {
	return Key{binary.LittleEndian.Uint64(b[0:8]), binary.LittleEndian.Uint64(b[8:16])}
}

// SipHash returns SipHash-2-4 of data under key.
func SipHash(key [16]byte, data []byte) uint64 { return NewKey(key).Sum64(data) }

// TupleLen is the length of the 4-tuple encoding hashed by Key.Tuple
// when an address is IPv6.
const TupleLen = 36

// Tuple4Len is the length of the encoding Key.Tuple hashes when both
// addresses are IPv4 (PutTuple4).
const Tuple4Len = 12

// PutTuple writes the canonical 4-tuple encoding: local address (16
// octets, IPv4 as v4-mapped IPv6, so 192.0.2.1 and ::ffff:192.0.2.1 name
// the same flow), remote address (16), local port, remote port (big
// endian). Zones are ignored. Key.Tuple hashes it for IPv6 tuples.
func PutTuple(b *[TupleLen]byte, laddr, raddr netip.Addr, lport, rport uint16) {
	a := laddr.As16()
	copy(b[0:16], a[:])
	a = raddr.As16()
	copy(b[16:32], a[:])
	binary.BigEndian.PutUint16(b[32:34], lport)
	binary.BigEndian.PutUint16(b[34:36], rport)
}

// PutTuple4 writes the 12-octet encoding of an IPv4 (or v4-mapped)
// 4-tuple that Key.Tuple hashes: local address, remote address, local
// port, remote port, big endian, as Linux's secure_tcp_seq hashes
// (saddr, daddr, sport<<16|dport).
func PutTuple4(b *[Tuple4Len]byte, laddr, raddr netip.Addr, lport, rport uint16) {
	l, r := laddr.As4(), raddr.As4()
	copy(b[0:4], l[:])
	copy(b[4:8], r[:])
	binary.BigEndian.PutUint16(b[8:10], lport)
	binary.BigEndian.PutUint16(b[10:12], rport)
}

// Tuple returns SipHash-2-4 of the 4-tuple: of PutTuple4's 12 octets
// when both addresses are IPv4 or v4-mapped, else of PutTuple's 36. It
// does not allocate; it is the seeded flow hash for connection tables and
// the F of the ISN. The IPv4 form is a third of the input and 8 SipRounds
// instead of 14 (the length, hashed into the last block, keeps the two
// forms' messages apart); it runs once per SYN.
func (k Key) Tuple(laddr, raddr netip.Addr, lport, rport uint16) uint64 {
	if laddr.Unmap().Is4() && raddr.Unmap().Is4() {
		l, r := laddr.As4(), raddr.As4()
		m := uint64(binary.LittleEndian.Uint32(l[:])) | uint64(binary.LittleEndian.Uint32(r[:]))<<32
		// The last block: the ports as PutTuple4 lays them out, and the
		// length.
		last := uint64(lport>>8) | uint64(lport&0xff)<<8 | uint64(rport>>8)<<16 | uint64(rport&0xff)<<24 | Tuple4Len<<56
		return k.sum1(m, last)
	}
	var b [TupleLen]byte
	PutTuple(&b, laddr, raddr, lport, rport)
	return k.Sum64(b[:])
}

// sum1 is Sum64 of a message of one full block m and a last block last
// (its 0-7 remaining octets with the length on top), without a loop.
func (k Key) sum1(m, last uint64) uint64 {
	v0, v1, v2, v3 := k.start()
	v0, v1, v2, v3 = compress(v0, v1, v2, v3, m)
	v0, v1, v2, v3 = compress(v0, v1, v2, v3, last)
	return finish(v0, v1, v2, v3)
}

// Sum64 returns SipHash-2-4 of data under k.
func (k Key) Sum64(data []byte) uint64 {
	v0, v1, v2, v3 := k.start()
	n := len(data)
	for len(data) >= 8 {
		v0, v1, v2, v3 = compress(v0, v1, v2, v3, binary.LittleEndian.Uint64(data))
		data = data[8:]
	}
	// Last block: the remaining 0-7 octets, the length mod 256 on top.
	b := uint64(n) << 56
	for i := len(data) - 1; i >= 0; i-- {
		b |= uint64(data[i]) << (8 * uint(i))
	}
	v0, v1, v2, v3 = compress(v0, v1, v2, v3, b)
	return finish(v0, v1, v2, v3)
}

// start is the initialization: the key xored with
// "somepseudorandomlygeneratedbytes".
func (k Key) start() (v0, v1, v2, v3 uint64) {
	return k.k0 ^ 0x736f6d6570736575, k.k1 ^ 0x646f72616e646f6d,
		k.k0 ^ 0x6c7967656e657261, k.k1 ^ 0x7465646279746573
}

// compress absorbs the 8-octet block m: two SipRounds (the 2 of 2-4).
func compress(v0, v1, v2, v3, m uint64) (uint64, uint64, uint64, uint64) {
	v3 ^= m
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	return v0 ^ m, v1, v2, v3
}

// finish is the finalization: four SipRounds (the 4 of 2-4).
func finish(v0, v1, v2, v3 uint64) uint64 {
	v2 ^= 0xff
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

// round is one SipRound.
func round(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}
