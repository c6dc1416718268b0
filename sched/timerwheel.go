package sched

import (
	"math"
	"math/bits"
	"strconv"
	"time"
)

// TimerTag says which of a connection's timers an entry is. The loop keeps a
// few tagged timers per connection and dispatches on the tag when one fires.
type TimerTag uint8

const (
	TagNone TimerTag = iota
	// TagRetransmit is the retransmission timer (RFC 6298 §5, RFC 9293
	// §3.8.1), also used for SYN and SYN-ACK retransmission.
	TagRetransmit
	// TagDelayedACK bounds how long an ACK may be delayed (RFC 9293
	// §3.8.6.3, RFC 1122 §4.2.3.2: under 0.5 s).
	TagDelayedACK
	// TagPersist probes a zero window (RFC 9293 §3.8.6.1).
	TagPersist
	// TagKeepalive sends keep-alive probes (RFC 9293 §3.8.4, RFC 1122
	// §4.2.3.6).
	TagKeepalive
	// TagFinWait2 bounds an orphaned FIN-WAIT-2 (Linux tcp_fin_timeout;
	// RFC 9293 itself has no such timer).
	TagFinWait2
	// TagTimeWait is the 2*MSL TIME-WAIT timer (RFC 9293 §3.6.1).
	TagTimeWait
)

func (t TimerTag) String() string {
	switch t {
	case TagNone:
		return "none"
	case TagRetransmit:
		return "retransmit"
	case TagDelayedACK:
		return "delayed-ack"
	case TagPersist:
		return "persist"
	case TagKeepalive:
		return "keepalive"
	case TagFinWait2:
		return "fin-wait-2"
	case TagTimeWait:
		return "time-wait"
	case TagEngine:
		return "engine"
	case TagApp:
		return "app"
	case TagTick:
		return "tick"
	}
	return "tag(" + strconv.Itoa(int(t)) + ")"
}

// TimerPayload is what a timer carries back to its owner when it fires: the
// connection's slab index and which of its timers this is. It is a value, not
// a pointer, so the wheel holds no Go pointers.
type TimerPayload struct {
	Conn uint32
	Tag  TimerTag
}

// TimerID is a handle to an armed timer: a 24-bit generation and a 32-bit
// index into the wheel's slab. The generation changes every time an entry is
// freed (fired or cancelled), so a handle kept past its timer's life is
// recognised as stale instead of cancelling someone else's timer. The zero
// TimerID is never valid, so a TCB can use 0 for "not armed".
type TimerID uint64

// TimerTick is the wheel's resolution. A timer fires in the first Advance
// whose now has reached its deadline rounded up to a whole tick: never early,
// at most one tick late.
const TimerTick = int64(time.Millisecond)

const (
	wheelBits   = 6
	wheelSlots  = 1 << wheelBits
	wheelMask   = wheelSlots - 1
	wheelLevels = 6
	// maxDelta is the furthest ahead (in ticks) a timer can be placed; 64^6
	// ms is about 795 days. Later deadlines sit in the top level and are
	// re-placed each time that slot cascades, so they still fire on time.
	maxDelta = 1<<(wheelBits*wheelLevels) - 1

	// The first entries of the slab are list sentinels: one per slot, then
	// the overdue list (timers added with a deadline already processed) and
	// the expiring list (a slot's timers while their callbacks run).
	numSlotLists        = wheelLevels * wheelSlots
	overdueList         = numSlotLists
	expiringList        = numSlotLists + 1
	numSentinels        = numSlotLists + 2
	genBits             = 24
	genMask             = 1<<genBits - 1
	noFree       uint32 = 0 // index 0 is a sentinel, never on the free list
)

// timerEntry is one slab element: 24 bytes, no pointers. Lists are circular
// and doubly linked through indices so cancel is an O(1) unlink.
type timerEntry struct {
	expires    int64  // deadline in ticks since the wheel's origin
	next, prev uint32 // list links (next doubles as the free-list link)
	conn       uint32 // TimerPayload.Conn
	meta       uint32 // generation<<8 | tag
}

func (e *timerEntry) gen() uint32 { return e.meta >> 8 }

// TimerWheel is a hierarchical hashed timing wheel (Varghese & Lauck 1987,
// scheme 7; the classic Linux timer wheel with cascading). Level L has 64
// slots of 64^L ticks each. A timer due in delta ticks lives at the level
// whose span covers delta; when the lower levels wrap, the matching slot of
// the next level is "cascaded": its timers are re-placed at finer levels.
// Each timer is cascaded at most five times in its life, and most TCP timers
// are cancelled or reset long before that, so the amortised cost is O(1).
//
// Cascading (rather than Linux ≥4.8's no-cascade wheel with slack) keeps
// expiry exact to the tick, which RTO and delayed-ACK timing want.
//
// A TimerWheel belongs to one loop and is not safe for concurrent use.
type TimerWheel struct {
	e        []timerEntry
	free     uint32 // head of the free list, noFree when empty
	origin   int64  // nanoseconds at tick 0
	cur      int64  // next tick to process: every timer due before it has fired
	count    int
	firing   bool
	occupied [wheelLevels]uint64 // bit s set <=> slot s of that level is non-empty
}

// NewTimerWheel returns an empty wheel whose clock starts at now
// (nanoseconds, any monotonic origin). sizeHint pre-sizes the slab so that
// reaching that many pending timers causes no slice growth (growth copies
// the slab, a pause proportional to its size).
func NewTimerWheel(now int64, sizeHint int) *TimerWheel {
	if sizeHint < 0 {
		sizeHint = 0
	}
	w := &TimerWheel{
		e:      make([]timerEntry, numSentinels, numSentinels+sizeHint),
		origin: now,
	}
	for i := range uint32(numSentinels) {
		w.e[i].next, w.e[i].prev = i, i
	}
	return w
}

// Len reports the number of armed timers.
func (w *TimerWheel) Len() int { return w.count }

// Now reports the start of the next tick the wheel will process, in
// nanoseconds: every timer with a deadline before it has fired.
func (w *TimerWheel) Now() int64 { return w.origin + w.cur*TimerTick }

// ticksCeil converts a deadline to a tick, rounding up so a timer never fires
// before its deadline. It saturates instead of overflowing.
func (w *TimerWheel) ticksCeil(deadline int64) int64 {
	d := deadline - w.origin
	if (deadline > w.origin) != (d > 0) { // overflow
		if deadline > w.origin {
			return math.MaxInt64 / 2
		}
		return math.MinInt64 / 2
	}
	t := d / TimerTick
	if d%TimerTick > 0 {
		t++
	}
	return t
}

// ticksFloor converts now to the last tick it has fully reached.
func (w *TimerWheel) ticksFloor(now int64) int64 {
	d := now - w.origin
	if (now > w.origin) != (d > 0) {
		if now > w.origin {
			return math.MaxInt64 / 2
		}
		return math.MinInt64 / 2
	}
	t := d / TimerTick
	if d%TimerTick < 0 {
		t--
	}
	return t
}

// Add arms a timer that fires at deadline (nanoseconds, same clock as
// Advance) carrying p, and returns its handle. A deadline already passed
// fires in the next Advance. O(1); no allocation unless the slab grows.
func (w *TimerWheel) Add(deadline int64, p TimerPayload) TimerID {
	i := w.alloc()
	e := &w.e[i]
	e.expires = w.ticksCeil(deadline)
	e.conn = p.Conn
	e.meta = e.meta&^0xff | uint32(p.Tag)
	w.place(i)
	w.count++
	return TimerID(uint64(e.gen())<<32 | uint64(i))
}

// Cancel disarms the timer. It reports false, and does nothing, when the
// handle is stale: the timer already fired or was cancelled (its slab entry
// may since hold another timer, which is left alone). O(1).
func (w *TimerWheel) Cancel(id TimerID) bool {
	i, ok := w.lookup(id)
	if !ok {
		return false
	}
	w.unlink(i)
	w.release(i)
	w.count--
	return true
}

// Reset moves an armed timer to a new deadline, keeping its handle and
// payload. It reports false for a stale handle (then the caller Adds). O(1).
func (w *TimerWheel) Reset(id TimerID, deadline int64) bool {
	i, ok := w.lookup(id)
	if !ok {
		return false
	}
	w.unlink(i)
	w.e[i].expires = w.ticksCeil(deadline)
	w.place(i)
	return true
}

// Rearm is the TCB's usual operation: move *id to deadline if it is armed,
// otherwise arm a new timer with p and store its handle in *id.
func (w *TimerWheel) Rearm(id *TimerID, deadline int64, p TimerPayload) {
	if !w.Reset(*id, deadline) {
		*id = w.Add(deadline, p)
	}
}

// Deadline reports when an armed timer will fire (its deadline rounded up to
// the tick), or false for a stale handle.
func (w *TimerWheel) Deadline(id TimerID) (int64, bool) {
	i, ok := w.lookup(id)
	if !ok {
		return 0, false
	}
	return w.origin + w.e[i].expires*TimerTick, true
}

// NextDeadline reports when the loop must next call Advance, so that an idle
// loop can sleep exactly that long; false when no timer is armed. The time is
// never later than the earliest pending deadline (rounded up to the tick). It
// can be earlier: when a coarse slot must be cascaded first, the wheel asks to
// be woken then, and the following NextDeadline is more precise. A timer is
// cascaded at most five times, so those extra wakeups are rare. A result at or
// before the current time means some timer is already due.
func (w *TimerWheel) NextDeadline() (int64, bool) {
	if w.count == 0 {
		return 0, false
	}
	if w.e[overdueList].next != overdueList {
		return w.origin + (w.cur-1)*TimerTick, true
	}
	return w.origin + w.nextEvent()*TimerTick, true
}

// Advance moves the wheel's clock to now and calls fire for every timer whose
// deadline is at or before now (rounded up to the tick), in deadline order
// (timers due in the same tick fire in the order they were placed there). It
// returns the number fired. Each timer's handle is already stale when fire
// runs, so fire may Add, Cancel or Reset freely, including timers due in the
// same tick. Time never goes backwards: a now earlier than a previous one
// only fires overdue timers. Calling Advance from inside fire does nothing.
//
// Empty stretches are skipped with the occupancy bitmaps, so a loop that
// slept for an hour pays for the slots that hold timers, not 3.6 million
// ticks.
func (w *TimerWheel) Advance(now int64, fire func(TimerPayload)) int {
	if w.firing {
		return 0
	}
	w.firing = true
	defer func() { w.firing = false }()
	target := w.ticksFloor(now)
	n := w.fireList(overdueList, fire)
	for w.cur <= target {
		if w.count == 0 {
			w.cur = target + 1
			break
		}
		next := w.nextEvent()
		if next > target {
			w.cur = target + 1
			break
		}
		w.cur = next
		n += w.runTick(fire)
		// Timers that fire added with a deadline already reached are
		// overdue; run them before the next tick so order is kept.
		n += w.fireList(overdueList, fire)
	}
	return n
}

// runTick processes tick w.cur: cascade the coarser slots that start at this
// tick, then expire the level-0 slot.
func (w *TimerWheel) runTick(fire func(TimerPayload)) int {
	t := w.cur
	for l := 1; l < wheelLevels; l++ {
		if t&(1<<(wheelBits*l)-1) != 0 {
			break
		}
		w.cascade(l, int(t>>(wheelBits*l))&wheelMask)
	}
	s := uint32(t & wheelMask)
	w.cur = t + 1 // timers added by fire callbacks are placed after this tick
	return w.fireList(s, fire)
}

// cascade re-places every timer of slot s at level l relative to w.cur. All
// of them are due within this slot's span, which starts at w.cur, so they land
// at finer levels (never back in this slot; the detached walk below would be
// safe even if one did).
func (w *TimerWheel) cascade(l, s int) {
	sent := uint32(l*wheelSlots + s)
	i := w.e[sent].next
	if i == sent {
		return
	}
	w.e[sent].next, w.e[sent].prev = sent, sent
	w.occupied[l] &^= 1 << uint(s)
	for i != sent {
		next := w.e[i].next
		w.place(i)
		i = next
	}
}

// fireList moves list src onto the expiring list and fires its timers one by
// one. Splicing first matters: a callback may arm a timer that hashes to the
// slot being expired (64 ticks later) and must not fire now, and a callback
// may cancel a timer still waiting on the expiring list, which a plain unlink
// handles.
func (w *TimerWheel) fireList(src uint32, fire func(TimerPayload)) int {
	first := w.e[src].next
	if first == src {
		return 0
	}
	last := w.e[src].prev
	w.e[src].next, w.e[src].prev = src, src
	if src < numSlotLists {
		w.occupied[src>>wheelBits] &^= 1 << (src & wheelMask)
	}
	x := uint32(expiringList)
	w.e[x].next, w.e[x].prev = first, last
	w.e[first].prev, w.e[last].next = x, x
	n := 0
	for {
		i := w.e[x].next
		if i == x {
			return n
		}
		w.unlink(i)
		e := &w.e[i]
		if e.expires >= w.cur {
			// Not due: cannot happen by construction, but never fire
			// early if it does.
			w.place(i)
			continue
		}
		p := TimerPayload{Conn: e.conn, Tag: TimerTag(e.meta)}
		w.release(i)
		w.count--
		n++
		fire(p)
	}
}

// nextEvent returns the first tick >= w.cur at which something happens: a
// level-0 slot expires or a coarser slot cascades. The occupancy bitmap of
// each level is rotated so the search starts at the current position.
func (w *TimerWheel) nextEvent() int64 {
	best := int64(math.MaxInt64)
	if occ := w.occupied[0]; occ != 0 {
		r := bits.RotateLeft64(occ, -int(w.cur&wheelMask))
		best = w.cur + int64(bits.TrailingZeros64(r))
	}
	for l := 1; l < wheelLevels; l++ {
		occ := w.occupied[l]
		if occ == 0 {
			continue
		}
		shift := uint(wheelBits * l)
		// b0: the first slot-span of this level starting at or after cur.
		// The span containing cur (if cur is mid-span) already cascaded,
		// so its slot index next comes round 64 spans later.
		b0 := (w.cur + 1<<shift - 1) >> shift
		r := bits.RotateLeft64(occ, -int(b0&wheelMask))
		t := (b0 + int64(bits.TrailingZeros64(r))) << shift
		if t < best {
			best = t
		}
	}
	return best
}

// place links entry i into the list its expiry selects, relative to w.cur.
// Level l holds timers due in [64^l, 64^(l+1)) ticks, in slot
// (expires >> 6l) & 63; that slot next cascades exactly at the start of the
// expiry's span (for delta < 64^(l+1) the slot index cannot come round
// sooner), so no timer is ever seen before its time.
func (w *TimerWheel) place(i uint32) {
	e := &w.e[i]
	exp := e.expires
	delta := exp - w.cur
	var list uint32
	if delta < 0 {
		list = overdueList
	} else {
		if delta > maxDelta {
			delta = maxDelta
			exp = w.cur + maxDelta
		}
		level := (bits.Len64(uint64(delta)) - 1) / wheelBits
		slot := uint32(exp>>(wheelBits*level)) & wheelMask
		list = uint32(level)*wheelSlots + slot
		w.occupied[level] |= 1 << slot
	}
	// Append at the tail: same-tick timers fire in arming order.
	tail := w.e[list].prev
	e.prev, e.next = tail, list
	w.e[tail].next = i
	w.e[list].prev = i
}

// unlink removes entry i from whatever list holds it and clears the slot's
// occupancy bit when the list becomes empty (then its neighbours are both
// the sentinel).
func (w *TimerWheel) unlink(i uint32) {
	e := &w.e[i]
	n, p := e.next, e.prev
	w.e[p].next = n
	w.e[n].prev = p
	if n == p && n < numSlotLists {
		w.occupied[n>>wheelBits] &^= 1 << (n & wheelMask)
	}
}

func (w *TimerWheel) lookup(id TimerID) (uint32, bool) {
	i := uint32(id)
	gen := uint32(id >> 32)
	if i < numSentinels || int(i) >= len(w.e) || gen == 0 || w.e[i].gen() != gen {
		return 0, false
	}
	return i, true
}

func (w *TimerWheel) alloc() uint32 {
	if i := w.free; i != noFree {
		w.free = w.e[i].next
		return i
	}
	if len(w.e) >= math.MaxUint32 {
		panic("sched: timer wheel holds 2^32 timers")
	}
	w.e = append(w.e, timerEntry{meta: 1 << 8})
	return uint32(len(w.e) - 1)
}

// release bumps the entry's generation (so outstanding handles go stale) and
// pushes it on the free list. Generation 0 is skipped: it marks no handle.
func (w *TimerWheel) release(i uint32) {
	e := &w.e[i]
	g := (e.gen() + 1) & genMask
	if g == 0 {
		g = 1
	}
	e.meta = g << 8
	e.next, e.prev = w.free, 0
	w.free = i
}
