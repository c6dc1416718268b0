// Package isn chooses initial sequence numbers as RFC 6528 specifies and
// per-connection TCP timestamp offsets (RFC 7323 §5.4), and exports the
// keyed hash both use (SipHash-2-4) for other tables to seed with.
//
// The package reads no clock and starts no goroutine: the caller passes its
// monotonic now in nanoseconds. It does not import package tcp (tcp imports
// it), so it speaks in netip.Addr, uint16 ports and uint32 sequence numbers.
package isn

import (
	"crypto/rand"
	"fmt"
	"net/netip"
)

// TickNanos is the period of M, the ISN clock of RFC 6528 §3: "a timer
// that is incremented every 4 microseconds" (RFC 9293 §3.4.1), so a busy
// 4-tuple's sequence space cycles in about 4.55 hours.
const TickNanos = 4000

// Generator computes ISNs and timestamp offsets under one secret key.
// Its methods do not allocate and are safe for concurrent use (the state
// is read-only after construction).
type Generator struct {
	isnKey Key // F of RFC 6528
	tsKey  Key // timestamp offsets: a different key, so the two outputs are independent
}

// New returns a Generator keyed by key. RFC 6528 §3 asks for a key of at
// least 128 bits that is hard to guess; use NewRandom unless the key must
// be shared (tests, or several loops that must agree).
func New(key [16]byte) *Generator {
	k := NewKey(key)
	// Domain separation: the timestamp key is derived from the ISN key by
	// the PRF itself, so knowing offsets reveals nothing about F.
	ts := Key{k.Sum64([]byte("sluice tsoffset k0")), k.Sum64([]byte("sluice tsoffset k1"))}
	return &Generator{isnKey: k, tsKey: ts}
}

// NewRandom returns a Generator with a key from crypto/rand.
func NewRandom() (*Generator, error) {
	var key [16]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("isn: reading a random key: %w", err)
	}
	return New(key), nil
}

// ISN returns the initial send sequence number for the connection
// (laddr, lport) <-> (raddr, rport) at nowNanos on the caller's monotonic
// clock: ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
// (RFC 6528 §3). F separates the sequence spaces of different 4-tuples so an
// off-path attacker cannot predict ours; M keeps a reused 4-tuple's ISNs
// increasing, which keeps old duplicates out of a new incarnation and lets a
// TIME-WAIT end accept the new SYN (RFC 6191).
func (g *Generator) ISN(laddr, raddr netip.Addr, lport, rport uint16, nowNanos int64) uint32 {
	m := uint32(uint64(nowNanos) / TickNanos)
	return m + uint32(g.isnKey.Tuple(laddr, raddr, lport, rport))
}

// TSOffset returns the random offset added to our TCP timestamp clock for
// this connection (RFC 7323 §5.4, Linux's tsoffset), so TSvals reveal
// neither our uptime nor a clock shared between connections. It is a pure
// function of the 4-tuple, so a new incarnation of the same 4-tuple gets
// the same offset and its TSvals keep increasing past the old TS.Recent —
// what a TIME-WAIT end checks to accept it (RFC 6191 §2).
func (g *Generator) TSOffset(laddr, raddr netip.Addr, lport, rport uint16) uint32 {
	return uint32(g.tsKey.Tuple(laddr, raddr, lport, rport))
}
