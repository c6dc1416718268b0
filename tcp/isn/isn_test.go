package isn

import (
	"net/netip"
	"testing"
)

var (
	srv  = netip.MustParseAddr("198.18.0.1")
	peer = netip.MustParseAddr("198.18.0.2")
	srv6 = netip.MustParseAddr("2001:2::1")
	pr6  = netip.MustParseAddr("2001:2::2")
)

// RFC 6528 §3: ISN = M + F(...); M ticks every 4 µs. For a fixed 4-tuple the
// ISN must therefore advance by exactly one per 4 µs of the caller's clock.
func TestISNClock(t *testing.T) {
	g := New(refKey())
	base := int64(1_000_000_007)
	i0 := g.ISN(srv, peer, 80, 40000, base)
	for _, d := range []int64{0, 3999, 4000, 8000, 4_000_000, 60e9, 4 * (1 << 32) * 1000 / 1000} {
		got := g.ISN(srv, peer, 80, 40000, base+d) - i0
		want := uint32(uint64(base+d)/TickNanos - uint64(base)/TickNanos)
		if got != want {
			t.Errorf("after %d ns: ISN advanced by %d, want %d", d, got, want)
		}
	}
}

// RFC 6528 §3: F must give different 4-tuples unrelated sequence spaces and
// depend on the secret key.
func TestISNSeparatesTuplesAndKeys(t *testing.T) {
	g := New(refKey())
	var k2 [16]byte
	k2[0] = 1
	h := New(k2)
	now := int64(123456789)
	seen := map[uint32]bool{}
	for p := uint16(1024); p < 1024+4096; p++ {
		s := g.ISN(srv, peer, 80, p, now)
		if seen[s] {
			t.Fatalf("ISN collision across ports at port %d", p)
		}
		seen[s] = true
		if s == h.ISN(srv, peer, 80, p, now) {
			t.Fatalf("two keys give the same ISN for port %d", p)
		}
	}
	if g.ISN(srv6, pr6, 80, 1, now) == g.ISN(pr6, srv6, 80, 1, now) {
		t.Error("direction of the 4-tuple does not change F")
	}
}

// RFC 7323 §5.4: the offset is per connection, independent of time, and not
// the ISN's F (different domain).
func TestTSOffset(t *testing.T) {
	g := New(refKey())
	a := g.TSOffset(srv, peer, 80, 40000)
	if a != g.TSOffset(srv, peer, 80, 40000) {
		t.Fatal("TSOffset not deterministic")
	}
	if a == g.TSOffset(srv, peer, 80, 40001) {
		t.Error("TSOffset equal for different ports")
	}
	if a == g.ISN(srv, peer, 80, 40000, 0) {
		t.Error("TSOffset equals F of the ISN: domains not separated")
	}
}

func TestNewRandom(t *testing.T) {
	g, err := NewRandom()
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewRandom()
	if err != nil {
		t.Fatal(err)
	}
	if g.ISN(srv, peer, 1, 2, 0) == h.ISN(srv, peer, 1, 2, 0) && g.TSOffset(srv, peer, 1, 2) == h.TSOffset(srv, peer, 1, 2) {
		t.Error("two random generators agree")
	}
}

func TestISNNoAlloc(t *testing.T) {
	g := New(refKey())
	if n := testing.AllocsPerRun(100, func() {
		_ = g.ISN(srv6, pr6, 80, 1, 5)
		_ = g.TSOffset(srv6, pr6, 80, 1)
	}); n != 0 {
		t.Fatalf("allocates %v times", n)
	}
}

func BenchmarkISN(b *testing.B) {
	g := New(refKey())
	b.ReportAllocs()
	var s uint32
	for i := 0; b.Loop(); i++ {
		s += g.ISN(srv, peer, 80, uint16(i), int64(i))
	}
	_ = s
}

func BenchmarkTSOffset(b *testing.B) {
	g := New(refKey())
	b.ReportAllocs()
	var s uint32
	for i := 0; b.Loop(); i++ {
		s += g.TSOffset(srv6, pr6, 80, uint16(i))
	}
	_ = s
}
