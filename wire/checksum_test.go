package wire

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 §3: the sum of 0001 f203 f4f5 f6f7 is ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Checksum(b, 0); got != 0xddf2 {
		t.Fatalf("sum = %#04x, want 0xddf2", got)
	}
	// A well-known IPv4 header whose checksum field is b861.
	h := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	if got := ^Checksum(h, 0); got != 0xb861 {
		t.Fatalf("checksum = %#04x, want 0xb861", got)
	}
}

func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1600)
	for i := range 3000 {
		n := r.IntN(len(buf))
		b := buf[:n]
		switch i % 3 {
		case 0:
			for j := range b {
				b[j] = byte(r.Uint32())
			}
		case 1: // all ones: the carry chain on every word
			for j := range b {
				b[j] = 0xff
			}
		case 2:
			for j := range b {
				b[j] = byte(r.Uint32()) | 0xf0
			}
		}
		// Also start mid-buffer to exercise unaligned loads.
		off := r.IntN(8)
		if off > n {
			off = n
		}
		b = b[off:]
		if got, want := ^Checksum(b, 0), refChecksum(b); got != want {
			t.Fatalf("len %d: %#04x, want %#04x", len(b), got, want)
		}
		// Chaining through initial (even split) equals one pass.
		split := r.IntN(len(b)+1) &^ 1
		if got, want := ^Checksum(b[split:], Checksum(b[:split], 0)), refChecksum(b); got != want {
			t.Fatalf("chained len %d split %d: %#04x, want %#04x", len(b), split, got, want)
		}
		if got, want := ^ChecksumCombine(Checksum(b[:split], 0), Checksum(b[split:], 0)), refChecksum(b); got != want {
			t.Fatalf("combined: %#04x, want %#04x", got, want)
		}
	}
}

// CopyChecksum copies exactly src and sums it as Checksum does, at every
// length around the 32-octet blocks and every misalignment of either side.
func TestCopyChecksum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	src, dst := make([]byte, 400), make([]byte, 420)
	for n := range 300 {
		for _, fill := range []func() byte{func() byte { return byte(r.Uint32()) }, func() byte { return 0xff }} {
			so, do := r.IntN(8), r.IntN(8)
			s := src[so : so+n]
			for i := range s {
				s[i] = fill()
			}
			for i := range dst {
				dst[i] = 0xa5
			}
			init := uint16(r.Uint32())
			if got, want := CopyChecksum(dst[do:], s, init), Checksum(s, init); got != want {
				t.Fatalf("len %d: %#04x, want %#04x", n, got, want)
			}
			if !bytes.Equal(dst[do:do+n], s) {
				t.Fatalf("len %d: copy differs", n)
			}
			if dst[do+n] != 0xa5 || (do > 0 && dst[do-1] != 0xa5) {
				t.Fatalf("len %d: wrote outside the destination", n)
			}
		}
	}
}

func TestPseudoHeaderSum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		var s16, d16 [16]byte
		for i := range s16 {
			s16[i], d16[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		l := r.IntN(70000)
		// IPv6: 32-bit length (RFC 8200 §8.1).
		want := refChecksum(s16[:], d16[:], []byte{byte(l >> 24), byte(l >> 16), byte(l >> 8), byte(l), 0, 0, 0, ProtoTCP})
		if got := ^PseudoHeaderSum(ProtoTCP, s16[:], d16[:], uint32(l)); got != want {
			t.Fatalf("v6 raw: %#04x want %#04x", got, want)
		}
		if got := ^PseudoHeaderSumAddr(ProtoTCP, netip.AddrFrom16(s16), netip.AddrFrom16(d16), uint32(l)); got != want {
			t.Fatalf("v6 addr: %#04x want %#04x", got, want)
		}
		l &= 0xffff
		want = refChecksum(refPseudo(s16[:4], d16[:4], l))
		if got := ^PseudoHeaderSum(ProtoTCP, s16[:4], d16[:4], uint32(l)); got != want {
			t.Fatalf("v4 raw: %#04x want %#04x", got, want)
		}
		a, b := netip.AddrFrom4([4]byte(s16[:4])), netip.AddrFrom4([4]byte(d16[:4]))
		if got := ^PseudoHeaderSumAddr(ProtoTCP, a, b, uint32(l)); got != want {
			t.Fatalf("v4 addr: %#04x want %#04x", got, want)
		}
	}
}

// TestChecksumUpdate: patching a 16- or 32-bit field incrementally
// (RFC 1624) gives a checksum that verifies, equal to a full recompute.
func TestChecksumUpdate(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	b := make([]byte, 64)
	for range 5000 {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		binary.BigEndian.PutUint16(b[0:], 0)
		binary.BigEndian.PutUint16(b[0:], refChecksum(b))
		hc := binary.BigEndian.Uint16(b[0:])
		off := 2 + 2*r.IntN(15)
		if r.IntN(2) == 0 {
			old := binary.BigEndian.Uint16(b[off:])
			nw := uint16(r.Uint32())
			binary.BigEndian.PutUint16(b[off:], nw)
			hc = ChecksumUpdate16(hc, old, nw)
		} else {
			old := binary.BigEndian.Uint32(b[off:])
			nw := r.Uint32()
			binary.BigEndian.PutUint32(b[off:], nw)
			hc = ChecksumUpdate32(hc, old, nw)
		}
		binary.BigEndian.PutUint16(b[0:], 0)
		want := refChecksum(b)
		if hc != want {
			t.Fatalf("incremental %#04x, full %#04x", hc, want)
		}
	}
}

func TestIPv4DecTTL(t *testing.T) {
	b := unhex(t, goldSynV4)
	p, err := ParseIPv4(b[14:])
	if err != nil {
		t.Fatal(err)
	}
	for range 70 {
		p.DecTTL()
		if !p.ChecksumValid() || refChecksum(p[:20]) != 0 {
			t.Fatalf("TTL %d: checksum no longer valid", p.TTL())
		}
	}
}

// TestChecksumAccCarry: an accumulator near 2^64 must not lose the carry
// out of the long-input path.
func TestChecksumAccCarry(t *testing.T) {
	b := make([]byte, 200)
	for i := range b {
		b[i] = 0xff
	}
	for _, acc := range []uint64{^uint64(0), ^uint64(0) - 5, 1 << 63} {
		if got, want := checksumAcc(b, acc), ChecksumCombine(fold64(acc), Checksum(b, 0)); got != want {
			t.Errorf("acc %#x: %#04x, want %#04x", acc, got, want)
		}
	}
}

// CopyChecksumAt over a split at every point (odd first parts
// included) equals Checksum of the whole, and copies both parts: random
// lengths, splits, fills and initial values.
func TestCopyChecksumAt(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	src, dst := make([]byte, 300), make([]byte, 320)
	for range 20000 {
		n := r.IntN(len(src) + 1)
		for i := range src[:n] {
			src[i] = byte(r.Uint32())
			if r.IntN(4) == 0 {
				src[i] = 0xff
			}
		}
		checkSplit(t, dst, src[:n], r.IntN(n+1), uint16(r.Uint32()))
	}
}

// checkSplit copies s split at k with CopyChecksum and CopyChecksumAt
// and compares the sum with Checksum of s whole and the copy with s.
func checkSplit(t *testing.T, dst, s []byte, k int, init uint16) {
	t.Helper()
	for i := range dst {
		dst[i] = 0xa5
	}
	sum := CopyChecksum(dst, s[:k], init)
	sum = CopyChecksumAt(dst[k:], s[k:], sum, k)
	if want := Checksum(s, init); sum != want {
		t.Fatalf("len %d split %d init %#x: %#04x, want %#04x", len(s), k, init, sum, want)
	}
	if !bytes.Equal(dst[:len(s)], s) || dst[len(s)] != 0xa5 {
		t.Fatalf("len %d split %d: copy differs", len(s), k)
	}
}
