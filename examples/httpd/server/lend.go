package server

import (
	"bytes"
	"sync"
)

// Lender is a Transport that can send bytes without copying them
// (*sluice.Conn's Lend): the transport refers to p until it calls done,
// and p must not change until then. A Conn lends pieces of large pattern
// bodies, which are immutable (lentSlab), instead of writing copies.
type Lender interface {
	Lend(p []byte, done func()) (int, error)
}

const (
	// lendMin: a body rest shorter than this is written, not lent (the
	// transport would copy it anyway: sluice lends whole 4 KiB pages).
	lendMin = 16 << 10
	// lendPiece bounds one Lend.
	lendPiece = 1 << 20
	// maxLent bounds the octets a connection has lent and not had
	// back: two pieces, so the next is queued before the first is all
	// acknowledged and the stream does not pause between them.
	maxLent = 2 * lendPiece
)

// lentSlab is the pattern repeated over lendPiece octets and a period,
// shared read-only by every connection: lent pieces are sub-slices of it,
// so nothing a transport holds is ever written.
var lentSlab = sync.OnceValue(func() []byte {
	return bytes.Repeat([]byte(patternChars), (lendPiece+len(patternChars))/len(patternChars)+1)
})

// lentAt is lentSlab's piece of the pattern body starting at octet off,
// at most max octets long (and at most lendPiece).
func lentAt(off, max int64) []byte {
	start := off % int64(len(patternChars))
	return lentSlab()[start : start+min(max, lendPiece)]
}

// lendGate counts what one connection has lent and not had back. The
// transport's done functions hold it, so they may run after the Conn
// moved on (Reset detaches it): then they only count.
type lendGate struct {
	out     int          // octets lent, not yet released
	waiting bool         // the Conn stopped at maxLent: wake it on a release
	t       Transport    // nil once the Conn let go of the gate
	wake    func(Lender) // Conn.wake: continue the Conn's output
}

func (g *lendGate) release(n int) {
	g.out -= n
	if g.waiting && g.t != nil && g.out < maxLent {
		g.waiting = false
		if l, ok := g.t.(Lender); ok && g.wake != nil {
			g.wake(l)
		}
	}
}

// lend lends the next piece of r's pattern body to l, or reports blocked
// when maxLent is out (a release wakes the Conn).
func (c *Conn) lend(l Lender, r *response) (blocked bool, err error) {
	g := c.gate
	if g == nil {
		g = &lendGate{t: l.(Transport), wake: c.wake}
		c.gate = g
	}
	if g.out >= maxLent {
		g.waiting = true
		return true, nil
	}
	piece := lentAt(c.sent, r.size-c.sent)
	n := len(piece)
	g.out += n
	if _, err := l.Lend(piece, func() { g.release(n) }); err != nil {
		g.out -= n
		return false, err
	}
	c.sent += int64(n)
	return false, nil
}

// dropGate lets go of the lend gate: done functions still out only count.
func (c *Conn) dropGate() {
	if g := c.gate; g != nil {
		g.t, g.waiting = nil, false
		c.gate = nil
	}
}
