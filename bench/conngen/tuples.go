package conngen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Client ports: every unprivileged one.
const (
	firstPort = 1024
	numPorts  = 65536 - firstPort
)

// tuples numbers the client side of the 4-tuples the generator owns:
// tuple t is address t/numPorts of the prefix and port firstPort+t%numPorts.
type tuples struct {
	prefix netip.Prefix
	base   [16]byte // the prefix's first address (IPv4 in the first 4 octets)
	v4     bool
	hosts  uint64 // addresses in the prefix (capped at 2^32)
}

// testbedRanges are the only client prefixes allowed: the testbed's
// benchmarking ranges (RFC 2544, RFC 5180).
var testbedRanges = []netip.Prefix{
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("2001:2::/48"),
}

func newTuples(p netip.Prefix) (tuples, error) {
	p = p.Masked()
	inside := false
	for _, r := range testbedRanges {
		if r.Addr().Is4() == p.Addr().Is4() && p.Bits() >= r.Bits() && r.Contains(p.Addr()) {
			inside = true
		}
	}
	if !p.IsValid() || !inside {
		return tuples{}, fmt.Errorf("conngen: client prefix %v is not inside %v", p, testbedRanges)
	}
	t := tuples{prefix: p, v4: p.Addr().Is4()}
	bits := 128 - p.Bits()
	if t.v4 {
		bits = 32 - p.Bits()
		a := p.Addr().As4()
		copy(t.base[:], a[:])
	} else {
		t.base = p.Addr().As16()
	}
	if bits == 0 {
		return tuples{}, errors.New("conngen: client prefix holds a single address; give it a range")
	}
	t.hosts = 1 << min(bits, 32)
	return t, nil
}

// count is how many tuples the prefix holds.
func (ts *tuples) count() uint64 { return ts.hosts * numPorts }

// addr is tuple t's client address and port.
func (ts *tuples) addr(t uint64) (netip.Addr, uint16) {
	h, port := uint32(t/numPorts), uint16(firstPort+t%numPorts)
	if ts.v4 {
		v := binary.BigEndian.Uint32(ts.base[:4]) + h
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], v)
		return netip.AddrFrom4(a), port
	}
	a := ts.base
	binary.BigEndian.PutUint32(a[12:], binary.BigEndian.Uint32(a[12:])+h)
	return netip.AddrFrom16(a), port
}

// tuple maps a client address and port back to its tuple number; ok is
// false for an address or port outside the range.
func (ts *tuples) tuple(a netip.Addr, port uint16) (t uint64, ok bool) {
	if port < firstPort || !ts.prefix.Contains(a) {
		return 0, false
	}
	var h uint32
	if ts.v4 {
		b := a.As4()
		h = binary.BigEndian.Uint32(b[:]) - binary.BigEndian.Uint32(ts.base[:4])
	} else {
		b := a.As16()
		if binary.BigEndian.Uint64(b[:8]) != binary.BigEndian.Uint64(ts.base[:8]) ||
			binary.BigEndian.Uint32(b[8:12]) != binary.BigEndian.Uint32(ts.base[8:12]) {
			return 0, false // beyond the 2^32 addresses used
		}
		h = binary.BigEndian.Uint32(b[12:]) - binary.BigEndian.Uint32(ts.base[12:])
	}
	if uint64(h) >= ts.hosts {
		return 0, false
	}
	return uint64(h)*numPorts + uint64(port-firstPort), true
}

// iss is the client's initial sequence number for tuple t: a keyed hash
// (SplitMix64's finalizer over the tuple and a per-generator key), so a
// SYN-ACK acknowledging anything but iss+1 is told apart from ours
// without remembering what we sent.
func iss(key, t uint64) uint32 {
	z := t + key + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return uint32(z ^ z>>31)
}
