package tcptest

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/tcpcheck"
)

// Link joins two engines by an in-memory wire that can drop, duplicate,
// delay and reorder segments, driven by a seeded RNG on a virtual clock.
// A is the client (active open), B the server (a Listener's child).
type Link struct {
	Now  tcp.Instant
	Rand *rand.Rand

	// Per-segment probabilities, and the one-way delay: Delay plus a
	// uniform extra of up to Jitter (which reorders segments).
	Drop, Dup     float64
	Delay, Jitter time.Duration

	A, B *tcp.TCB
	L    *tcp.Listener
	idA  tcp.ID

	q   []inflight
	seq uint64

	// Filter, when set, sees every segment sent (toB: from A to B)
	// before the random drop: it may drop it or delay it further, for
	// scripted losses and reordering.
	Filter func(toB bool, seg *tcp.Segment) (drop bool, extra time.Duration)

	// Rate, when set, is each direction's bottleneck in octets per second
	// (a segment counts its text plus 40 octets of headers): segments
	// leave one after another, queueing behind each other; QueueLimit
	// bounds that queue in octets (drop-tail, counted in QueueDrops; 0 is
	// unbounded).
	Rate       int64
	QueueLimit int
	busy       [2]tcp.Instant

	Sent, Dropped, Duplicated, QueueDrops int

	// Check sees every segment either end sends (tcp/tcpcheck).
	Check *tcpcheck.Checker
	tb    testing.TB
}

type inflight struct {
	at  tcp.Instant
	n   uint64 // tie-break: FIFO among equal times
	toB bool
	seg tcp.Segment
}

type linkEnd struct {
	l   *Link
	toB bool
}

// Emit hands the link a flattened copy (Flatten), so Filter sees the
// whole text in Payload.
func (e linkEnd) Emit(id *tcp.ID, seg *tcp.Segment) {
	checkOut(e.l.Check, id, seg, e.l.Now)
	c := Flatten(seg)
	e.l.send(e.toB, &c)
}

// TakesTail: the ends are tcp.TailSinks, as the loop is.
func (linkEnd) TakesTail() {}

// NewLink makes a link whose ends share cfg and opens A towards B; the
// output checker reports to tb.
func NewLink(tb testing.TB, cfg *tcp.Config, seed uint64) *Link {
	l := &Link{Now: Start, Rand: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		Delay: time.Millisecond, Check: NewChecker(tb, cfg), tb: tb}
	l.L = tcp.NewListener(cfg, linkEnd{l, false})
	l.idA = tcp.ID{LocalAddr: Remote.Addr(), RemoteAddr: Local.Addr(), LocalPort: Remote.Port(), RemotePort: Local.Port()}
	l.A = tcp.Open(cfg, l.idA, linkEnd{l, true}, l.Now)
	return l
}

// NewLinkSimultaneous makes a link whose two ends both open actively at
// the same instant, so their SYNs cross (RFC 9293 §3.5 Figure 8).
func NewLinkSimultaneous(tb testing.TB, cfg *tcp.Config, seed uint64) *Link {
	l := NewLink(tb, cfg, seed)
	idB := tcp.ID{LocalAddr: l.idA.RemoteAddr, RemoteAddr: l.idA.LocalAddr, LocalPort: l.idA.RemotePort, RemotePort: l.idA.LocalPort}
	l.B = tcp.Open(cfg, idB, linkEnd{l, false}, l.Now)
	return l
}

func (l *Link) send(toB bool, seg *tcp.Segment) {
	l.Sent++
	var extra time.Duration
	if l.Filter != nil {
		var drop bool
		if drop, extra = l.Filter(toB, seg); drop {
			l.Dropped++
			return
		}
	}
	if l.Rand.Float64() < l.Drop {
		l.Dropped++
		return
	}
	var depart tcp.Instant
	if l.Rate > 0 {
		dir := 0
		if toB {
			dir = 1
		}
		start := max(l.Now, l.busy[dir])
		queued := int64(start-l.Now) * l.Rate / 1e9
		if l.QueueLimit > 0 && queued > int64(l.QueueLimit) {
			l.QueueDrops++
			l.Dropped++
			return
		}
		l.busy[dir] = start + tcp.Instant(int64(len(seg.Payload)+40)*1e9/l.Rate)
		depart = l.busy[dir] - l.Now
	}
	copies := 1
	if l.Rand.Float64() < l.Dup {
		l.Duplicated++
		copies = 2
	}
	for i := range copies {
		c := *seg // Emit's flattened copy, owned
		if i > 0 {
			c.Payload = bytes.Clone(seg.Payload)
		}
		d := l.Delay + extra + time.Duration(depart)
		if l.Jitter > 0 {
			d += time.Duration(l.Rand.Int64N(int64(l.Jitter)))
		}
		l.seq++
		l.q = append(l.q, inflight{at: l.Now.Add(d), n: l.seq, toB: toB, seg: c})
	}
}

// Step moves the clock to the next event (a delivery or a timer) no later
// than limit and processes everything due then. It returns false when
// nothing is left to happen before limit.
func (l *Link) Step(limit tcp.Instant) bool {
	next := tcp.Never
	for _, p := range l.q {
		next = min(next, p.at)
	}
	next = min(next, l.A.Deadline())
	if l.B != nil {
		next = min(next, l.B.Deadline())
	}
	if next > limit {
		return false
	}
	l.Now = max(l.Now, next)
	slices.SortFunc(l.q, func(a, b inflight) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return int(a.n - b.n)
	})
	k := 0
	for k < len(l.q) && l.q[k].at <= l.Now {
		k++
	}
	due := slices.Clone(l.q[:k])
	l.q = slices.Delete(l.q, 0, k)
	for i := range due {
		p := &due[i]
		if p.toB {
			idB := tcp.ID{LocalAddr: l.idA.RemoteAddr, RemoteAddr: l.idA.LocalAddr, LocalPort: l.idA.RemotePort, RemotePort: l.idA.LocalPort}
			if l.B != nil && l.B.State() != tcp.Closed {
				l.B.Input(&p.seg, l.Now)
			} else if l.B == nil {
				if c := l.L.Input(&idB, &p.seg, l.Now); c != nil {
					l.B = c
				}
			}
		} else {
			l.A.Input(&p.seg, l.Now)
		}
	}
	if l.A.Deadline() <= l.Now {
		l.A.OnTimer(l.Now)
	}
	if l.B != nil && l.B.Deadline() <= l.Now {
		l.B.OnTimer(l.Now)
	}
	CheckVars(l.tb, l.A)
	CheckVars(l.tb, l.B)
	return true
}
