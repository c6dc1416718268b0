package isn

import (
	"net/netip"
	"testing"
)

// vectors are the 64 SipHash-2-4 outputs of the reference implementation
// (Aumasson and Bernstein, SipHash paper appendix / vectors.h): key
// 00 01 .. 0f, message 00 01 .. (n-1) for n = 0..63, read as little-endian
// 64-bit words.
var vectors = [64]uint64{
	0x726fdb47dd0e0e31, 0x74f839c593dc67fd, 0x0d6c8009d9a94f5a, 0x85676696d7fb7e2d,
	0xcf2794e0277187b7, 0x18765564cd99a68d, 0xcbc9466e58fee3ce, 0xab0200f58b01d137,
	0x93f5f5799a932462, 0x9e0082df0ba9e4b0, 0x7a5dbbc594ddb9f3, 0xf4b32f46226bada7,
	0x751e8fbc860ee5fb, 0x14ea5627c0843d90, 0xf723ca908e7af2ee, 0xa129ca6149be45e5,
	0x3f2acc7f57c29bdb, 0x699ae9f52cbe4794, 0x4bc1b3f0968dd39c, 0xbb6dc91da77961bd,
	0xbed65cf21aa2ee98, 0xd0f2cbb02e3b67c7, 0x93536795e3a33e88, 0xa80c038ccd5ccec8,
	0xb8ad50c6f649af94, 0xbce192de8a85b8ea, 0x17d835b85bbb15f3, 0x2f2e6163076bcfad,
	0xde4daaaca71dc9a5, 0xa6a2506687956571, 0xad87a3535c49ef28, 0x32d892fad841c342,
	0x7127512f72f27cce, 0xa7f32346f95978e3, 0x12e0b01abb051238, 0x15e034d40fa197ae,
	0x314dffbe0815a3b4, 0x027990f029623981, 0xcadcd4e59ef40c4d, 0x9abfd8766a33735c,
	0x0e3ea96b5304a7d0, 0xad0c42d6fc585992, 0x187306c89bc215a9, 0xd4a60abcf3792b95,
	0xf935451de4f21df2, 0xa9538f0419755787, 0xdb9acddff56ca510, 0xd06c98cd5c0975eb,
	0xe612a3cb9ecba951, 0xc766e62cfcadaf96, 0xee64435a9752fe72, 0xa192d576b245165a,
	0x0a8787bf8ecb74b2, 0x81b3e73d20b49b6f, 0x7fa8220ba3b2ecea, 0x245731c13ca42499,
	0xb78dbfaf3a8d83bd, 0xea1ad565322a1a0b, 0x60e61c23a3795013, 0x6606d7e446282b93,
	0x6ca4ecb15c5f91e1, 0x9f626da15c9625f3, 0xe51b38608ef25f57, 0x958a324ceb064572,
}

func refKey() (k [16]byte) {
	for i := range k {
		k[i] = byte(i)
	}
	return
}

func TestSipHashVectors(t *testing.T) {
	key := refKey()
	var msg [64]byte
	for i := range msg {
		msg[i] = byte(i)
	}
	for n, want := range vectors {
		if got := SipHash(key, msg[:n]); got != want {
			t.Errorf("SipHash(len %d) = %#016x, want %#016x", n, got, want)
		}
	}
}

func TestTupleMatchesBytes(t *testing.T) {
	k := NewKey(refKey())
	cases := []struct {
		l, r         string
		lport, rport uint16
	}{
		{"198.18.0.1", "198.18.0.2", 80, 40000},
		{"2001:2::1", "2001:2::2", 443, 1},
		{"0.0.0.0", "255.255.255.255", 0, 65535},
	}
	for _, c := range cases {
		l, r := netip.MustParseAddr(c.l), netip.MustParseAddr(c.r)
		var want uint64
		if l.Is4() {
			var b [Tuple4Len]byte
			PutTuple4(&b, l, r, c.lport, c.rport)
			want = k.Sum64(b[:])
		} else {
			var b [TupleLen]byte
			PutTuple(&b, l, r, c.lport, c.rport)
			want = k.Sum64(b[:])
		}
		if got := k.Tuple(l, r, c.lport, c.rport); got != want {
			t.Errorf("%v: Tuple %#x != Sum64 %#x", c, got, want)
		}
		// Port order and address order matter: the tuple is directional.
		if k.Tuple(r, l, c.lport, c.rport) == want || k.Tuple(l, r, c.rport, c.lport) == want && c.lport != c.rport {
			t.Errorf("%v: swapped tuple hashes the same", c)
		}
	}
	// An IPv4 address and its v4-mapped IPv6 form name the same flow.
	a := netip.MustParseAddr("198.18.0.1")
	m := netip.AddrFrom16(a.As16())
	if k.Tuple(a, a, 1, 2) != k.Tuple(m, m, 1, 2) {
		t.Error("v4 and v4-mapped tuples hash differently")
	}
}

// TestTuple4Fields: the IPv4 fast path lays every field where
// PutTuple4 does, so each octet of each field changes the hash (a
// misplaced or dropped field would leave some change unseen).
func TestTuple4Fields(t *testing.T) {
	k := NewKey(refKey())
	l, r := [4]byte{198, 18, 0, 1}, [4]byte{198, 19, 2, 3}
	base := k.Tuple(netip.AddrFrom4(l), netip.AddrFrom4(r), 0x1234, 0x5678)
	for i := range 4 {
		l2, r2 := l, r
		l2[i] ^= 0x80
		r2[i] ^= 0x01
		if k.Tuple(netip.AddrFrom4(l2), netip.AddrFrom4(r), 0x1234, 0x5678) == base {
			t.Errorf("local address octet %d not hashed", i)
		}
		if k.Tuple(netip.AddrFrom4(l), netip.AddrFrom4(r2), 0x1234, 0x5678) == base {
			t.Errorf("remote address octet %d not hashed", i)
		}
	}
	for _, d := range []uint16{1, 0x100, 0x8000} {
		if k.Tuple(netip.AddrFrom4(l), netip.AddrFrom4(r), 0x1234^d, 0x5678) == base {
			t.Errorf("local port bit %#x not hashed", d)
		}
		if k.Tuple(netip.AddrFrom4(l), netip.AddrFrom4(r), 0x1234, 0x5678^d) == base {
			t.Errorf("remote port bit %#x not hashed", d)
		}
	}
	// The two forms are different messages: an IPv6 tuple whose 36
	// octets begin with the 12 of an IPv4 one does not hash the same.
	var b [TupleLen]byte
	copy(b[:], []byte{198, 18, 0, 1, 198, 19, 2, 3, 0x12, 0x34, 0x56, 0x78})
	if k.Sum64(b[:]) == base || k.Sum64(b[:Tuple4Len]) != base {
		t.Error("the IPv4 form is not SipHash of its 12 octets alone")
	}
}

func TestSipHashNoAlloc(t *testing.T) {
	k := NewKey(refKey())
	l, r := netip.MustParseAddr("2001:2::1"), netip.MustParseAddr("2001:2::2")
	if n := testing.AllocsPerRun(100, func() { _ = k.Tuple(l, r, 1, 2) }); n != 0 {
		t.Fatalf("Tuple allocates %v times", n)
	}
}

// BenchmarkSipHashTuple: Key.Tuple of an IPv4 tuple (12 octets) and an
// IPv6 one (36).
func BenchmarkSipHashTuple(b *testing.B) {
	k := NewKey(refKey())
	for _, c := range []struct{ name, l, r string }{
		{"4", "198.18.0.1", "198.18.0.2"},
		{"6", "2001:2::1", "2001:2::2"},
	} {
		l, r := netip.MustParseAddr(c.l), netip.MustParseAddr(c.r)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var s uint64
			for i := 0; b.Loop(); i++ {
				s += k.Tuple(l, r, 80, uint16(i))
			}
			_ = s
		})
	}
}

func BenchmarkSipHash64B(b *testing.B) {
	k := NewKey(refKey())
	var msg [64]byte
	b.ReportAllocs()
	b.SetBytes(64)
	for b.Loop() {
		_ = k.Sum64(msg[:])
	}
}
