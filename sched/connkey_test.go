package sched

import (
	"net/netip"
	"testing"
)

// TestConnKeyEqual: Equal is ==, octet by octet: a key differing from
// another in any one of its 36 octets (each address word, each port) is
// not equal to it, and a copy is.
func TestConnKeyEqual(t *testing.T) {
	k := MakeConnKey(netip.MustParseAddrPort("198.18.0.1:80"), netip.MustParseAddrPort("[2001:2::7]:40001"))
	c := k
	if !k.Equal(&c) || !c.Equal(&k) {
		t.Fatal("a copy is not Equal")
	}
	for i := range len(k.b) {
		for _, bit := range []byte{1, 0x80} {
			d := k
			d.b[i] ^= bit
			if k.Equal(&d) || d.Equal(&k) || (k == d) {
				t.Fatalf("keys differing in octet %d (bit %#x) are Equal", i, bit)
			}
		}
	}
}
