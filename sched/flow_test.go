package sched

import (
	"net/netip"
	"testing"
)

// ConnKey.ID reads a key as Local and Remote do: IPv4 unmapped, IPv6 as
// it is.
func TestConnKeyID(t *testing.T) {
	for _, c := range [][2]string{
		{"198.18.0.1:80", "198.18.0.2:40000"},
		{"[2001:2::1]:443", "[2001:2::2]:1"},
	} {
		lo, re := netip.MustParseAddrPort(c[0]), netip.MustParseAddrPort(c[1])
		k := MakeConnKey(lo, re)
		id := k.ID()
		if got := netip.AddrPortFrom(id.LocalAddr, id.LocalPort); got != k.Local() || got != lo {
			t.Errorf("%v: local %v, want %v", c, got, lo)
		}
		if got := netip.AddrPortFrom(id.RemoteAddr, id.RemotePort); got != k.Remote() || got != re {
			t.Errorf("%v: remote %v, want %v", c, got, re)
		}
	}
}
