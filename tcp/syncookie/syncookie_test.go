package syncookie

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

var (
	srv  = netip.MustParseAddr("198.18.0.1")
	peer = netip.MustParseAddr("198.18.0.2")
	srv6 = netip.MustParseAddr("2001:2::1")
	pr6  = netip.MustParseAddr("2001:2::2")
)

func testJar() *Jar {
	var k [32]byte
	for i := range k {
		k[i] = byte(i * 7)
	}
	return New(k)
}

// RFC 4987 §3.6 / Linux MAX_SYNCOOKIE_AGE: a cookie is accepted in the
// period it was made and in the next one, and rejected after that (and
// before it was made).
func TestCookieAge(t *testing.T) {
	j := testJar()
	const p = int64(PeriodNanos)
	for _, phase := range []int64{0, 1, p / 2, p - 1} {
		made := 1000*p + phase
		c, mss := j.Make(srv, peer, 80, 40000, 0xdeadbeef, 1460, made)
		if mss != 1460 {
			t.Fatalf("encoded MSS %d, want 1460", mss)
		}
		check := func(now int64, want bool) {
			t.Helper()
			got, ok := j.Check(srv, peer, 80, 40000, 0xdeadbeef, c, now)
			if ok != want || (ok && got != 1460) {
				t.Errorf("phase %d, now-made %d ns: Check = %d, %v; want ok=%v", phase, now-made, got, ok, want)
			}
		}
		start := made - phase
		check(made, true)
		check(start+p-1, true)   // end of the same period
		check(start+p, true)     // previous period
		check(start+2*p-1, true) // last instant of acceptance
		check(start+2*p, false)  // expired
		check(start+100*p, false)
		check(start-1, false) // made "in the future"
	}
}

// RFC 4987 §3.6: the cookie binds the 4-tuple and the peer's ISN.
func TestCookieBinding(t *testing.T) {
	j := testJar()
	now := int64(77e9)
	isnPeer := uint32(12345)
	c, _ := j.Make(srv, peer, 80, 40000, isnPeer, 1460, now)
	other := netip.MustParseAddr("198.18.0.3")
	cases := []struct {
		name         string
		l, r         netip.Addr
		lport, rport uint16
		peerISN      uint32
		cookie       uint32
	}{
		{"local addr", other, peer, 80, 40000, isnPeer, c},
		{"remote addr", srv, other, 80, 40000, isnPeer, c},
		{"local port", srv, peer, 81, 40000, isnPeer, c},
		{"remote port", srv, peer, 80, 40001, isnPeer, c},
		{"peer ISN", srv, peer, 80, 40000, isnPeer + 1, c},
		{"swapped direction", peer, srv, 40000, 80, isnPeer, c},
		{"other jar", srv, peer, 80, 40000, isnPeer, 0},
	}
	for _, tc := range cases {
		jar := j
		if tc.name == "other jar" {
			jar, _ = NewRandom()
			tc.cookie = c
		}
		if _, ok := jar.Check(tc.l, tc.r, tc.lport, tc.rport, tc.peerISN, tc.cookie, now); ok {
			t.Errorf("%s changed: cookie still accepted", tc.name)
		}
	}
	for bit := range 32 {
		if _, ok := j.Check(srv, peer, 80, 40000, isnPeer, c^1<<bit, now); ok {
			t.Errorf("cookie with bit %d flipped accepted", bit)
		}
	}
	if _, ok := j.Check(srv, peer, 80, 40000, isnPeer, c, now); !ok {
		t.Fatal("the genuine cookie is rejected")
	}
}

// A blind attacker guessing cookies for a 4-tuple succeeds with probability
// about 2/256 * 4/2^24 per guess; Linux's design bound is 2^-24-ish. Over
// 100k guesses the expected count is far below 1; allow a loose 20.
func TestForgeryRate(t *testing.T) {
	j := testJar()
	r := rand.New(rand.NewPCG(1, 2))
	now := int64(5e12)
	accepted := 0
	for range 100_000 {
		if _, ok := j.Check(srv, peer, 80, uint16(r.Uint32()), r.Uint32(), r.Uint32(), now); ok {
			accepted++
		}
	}
	// Forgeries that know a genuine cookie for one ISN and try it against
	// others (a replayed ACK with a different SEG.SEQ).
	c, _ := j.Make(srv, peer, 80, 40000, 1, 1460, now)
	for range 100_000 {
		if _, ok := j.Check(srv, peer, 80, 40000, r.Uint32()|2, c, now); ok {
			accepted++
		}
	}
	if accepted >= 20 {
		t.Fatalf("%d of 200000 forged cookies accepted", accepted)
	}
	t.Logf("%d of 200000 forged cookies accepted", accepted)
}

// The MSS round-trips as the largest table value not above the offer
// (Linux msstab semantics), for both address families.
func TestMSSRoundTrip(t *testing.T) {
	j := testJar()
	now := int64(1e15)
	for _, fam := range []struct {
		l, r netip.Addr
		tab  [4]uint16
	}{{srv, peer, MSS4}, {srv6, pr6, MSS6}} {
		for mss := 0; mss <= 65535; mss += 7 {
			want := fam.tab[0]
			for _, v := range fam.tab {
				if v <= uint16(mss) {
					want = v
				}
			}
			for _, m := range []uint16{uint16(mss), want} {
				c, enc := j.Make(fam.l, fam.r, 443, 5555, uint32(mss)*2654435761, m, now)
				if enc != want {
					t.Fatalf("%v mss %d: encoded %d, want %d", fam.r, m, enc, want)
				}
				got, ok := j.Check(fam.l, fam.r, 443, 5555, uint32(mss)*2654435761, c, now+PeriodNanos)
				if !ok || got != want {
					t.Fatalf("%v mss %d: Check = %d, %v; want %d", fam.r, m, got, ok, want)
				}
			}
		}
	}
}

func TestCookieNoAlloc(t *testing.T) {
	j := testJar()
	if n := testing.AllocsPerRun(100, func() {
		c, _ := j.Make(srv6, pr6, 80, 1, 2, 1440, 3)
		_, _ = j.Check(srv6, pr6, 80, 1, 2, c, 3)
	}); n != 0 {
		t.Fatalf("allocates %v times", n)
	}
}

func BenchmarkMake(b *testing.B) {
	j := testJar()
	b.ReportAllocs()
	var s uint32
	for i := 0; b.Loop(); i++ {
		c, _ := j.Make(srv, peer, 80, uint16(i), uint32(i), 1460, int64(i))
		s += c
	}
	_ = s
}

func BenchmarkCheck(b *testing.B) {
	j := testJar()
	c, _ := j.Make(srv, peer, 80, 40000, 9, 1460, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := j.Check(srv, peer, 80, 40000, 9, c, 0); !ok {
			b.Fatal("rejected")
		}
	}
}

// The Spread property the package doc relies on: no two MSS codes differ by
// ± a power of two modulo 2^24, so a one-bit error in the cookie's low 24
// bits cannot turn one valid code into another.
func TestSpread(t *testing.T) {
	for a := range uint32(4) {
		for b := range uint32(4) {
			if a == b {
				continue
			}
			d := (a*Spread - b*Spread) & dataMask
			for k := range dataBits {
				if d == 1<<k || d == (dataMask+1-1<<k)&dataMask {
					t.Fatalf("codes %d and %d differ by ±2^%d", a, b, k)
				}
			}
		}
	}
}
