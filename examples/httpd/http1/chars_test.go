package http1

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// TestValidFieldValueMatchesTable checks the word-at-a-time path against
// the byte table, with every byte value at every position of a 17-byte
// value (two words and a tail).
func TestValidFieldValueMatchesTable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 17)
	for pos := range b {
		for c := 0; c < 256; c++ {
			for i := range b {
				b[i] = byte(0x20 + r.IntN(0x5f)) // printable filler
				if r.IntN(4) == 0 {
					b[i] = byte(0x80 + r.IntN(0x80))
				}
			}
			b[pos] = byte(c)
			want := true
			for _, x := range b {
				want = want && isFieldChar[x]
			}
			if got := validFieldValue(b); got != want {
				t.Fatalf("%q: got %v want %v", b, got, want)
			}
		}
	}
}

// TestValidIPv6MatchesNetip checks validIPv6 against net/netip on text
// forms, valid and not, including those from the fuzzer.
func TestValidIPv6MatchesNetip(t *testing.T) {
	for _, s := range []string{"::", "::1", "1::", "2001:2::1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
		"1:2:3:4:5:6:1.2.3.4", "::ffff:198.18.0.1", "::1.2.3.4", "0", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9",
		"1::2::3", ":1::", "1::2:", "12345::", "::1.2.3", "::1.2.3.256", "::01.2.3.4", "1:2:3:4:5:6:7:1.2.3.4",
		"::1.2.3.4:5", ":::", "1:", ":", "", "g::", "::1.2.3.4.5", "1:2:3:4:5:6:7:8::", "::0:0:0:0:0:0:0"} {
		_, err := netip.ParseAddr(s)
		want := err == nil && !strings.Contains(s, "%")
		if got := validIPv6([]byte(s)); got != want && s != "" {
			t.Errorf("validIPv6(%q) = %v, netip says %v", s, got, want)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	const alphabet = "0123456789abcdef:."
	for range 200000 {
		b := make([]byte, 1+r.IntN(20))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		a, err := netip.ParseAddr(string(b))
		want := err == nil && a.Is6()
		if got := validIPv6(b); got != want {
			t.Fatalf("validIPv6(%q) = %v, netip says %v", b, got, want)
		}
	}
}
