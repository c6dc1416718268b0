package sched

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

// refTimer is the reference model's view of one armed timer.
type refTimer struct {
	id       TimerID
	deadline int64
	exp      int64 // deadline in ticks, rounded up
	pos      int   // index in wheelChecker.liveList
	version  int   // bumped by Reset: older heap items are stale
}

// refItem is a heap entry of the reference; stale once its timer is gone or
// was reset (lazy deletion keeps the reference O(log n) per operation).
type refItem struct {
	exp     int64
	conn    uint32
	version int
}

type refHeap []refItem

func (h refHeap) Len() int           { return len(h) }
func (h refHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h refHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *refHeap) Push(x any)        { *h = append(*h, x.(refItem)) }
func (h *refHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// refWheel is the obviously-correct model: a map scanned in full. A timer
// fires in the Advance whose floor(now) tick reaches its rounded-up deadline,
// or in the first Advance after it was armed if its tick was already
// processed (overdue).
type refWheel struct {
	origin int64
	cur    int64 // next tick to process
	live   map[uint32]*refTimer
}

func ceilTicks(d int64) int64 {
	t := d / TimerTick
	if d%TimerTick > 0 {
		t++
	}
	return t
}

func floorTicks(d int64) int64 {
	t := d / TimerTick
	if d%TimerTick < 0 {
		t--
	}
	return t
}

type wheelChecker struct {
	t        *testing.T
	w        *TimerWheel
	ref      refWheel
	nextConn uint32
	ids      []TimerID // every handle ever issued, live or stale
	byID     map[TimerID]uint32
	liveList []uint32 // conns of live timers, for picking one at random
	heap     refHeap
	now      int64
}

func newWheelChecker(t *testing.T, start int64) *wheelChecker {
	return &wheelChecker{
		t:    t,
		w:    NewTimerWheel(start, 0),
		ref:  refWheel{origin: start, live: map[uint32]*refTimer{}},
		byID: map[TimerID]uint32{},
		now:  start,
	}
}

func (c *wheelChecker) add(deadline int64) {
	c.nextConn++
	p := TimerPayload{Conn: c.nextConn, Tag: TimerTag(c.nextConn % 7)}
	id := c.w.Add(deadline, p)
	if id == 0 {
		c.t.Fatal("Add returned the zero TimerID")
	}
	if _, dup := c.byID[id]; dup {
		c.t.Fatalf("Add returned handle %#x of a live timer", id)
	}
	r := &refTimer{id: id, deadline: deadline, exp: ceilTicks(deadline - c.ref.origin), pos: len(c.liveList)}
	c.ref.live[p.Conn] = r
	heap.Push(&c.heap, refItem{exp: r.exp, conn: p.Conn, version: r.version})
	c.liveList = append(c.liveList, p.Conn)
	c.byID[id] = p.Conn
	c.ids = append(c.ids, id)
}

func (c *wheelChecker) findID(id TimerID) (uint32, *refTimer) {
	conn, ok := c.byID[id]
	if !ok {
		return 0, nil
	}
	return conn, c.ref.live[conn]
}

// forget drops a timer from the reference once it fired or was cancelled.
func (c *wheelChecker) forget(conn uint32) {
	r := c.ref.live[conn]
	last := c.liveList[len(c.liveList)-1]
	c.liveList[r.pos] = last
	c.ref.live[last].pos = r.pos
	c.liveList = c.liveList[:len(c.liveList)-1]
	delete(c.byID, r.id)
	delete(c.ref.live, conn)
}

func (c *wheelChecker) cancel(id TimerID) {
	conn, r := c.findID(id)
	got := c.w.Cancel(id)
	if got != (r != nil) {
		c.t.Fatalf("Cancel(%#x) = %v, reference live = %v", id, got, r != nil)
	}
	if r != nil {
		c.forget(conn)
	}
}

func (c *wheelChecker) reset(id TimerID, deadline int64) {
	_, r := c.findID(id)
	got := c.w.Reset(id, deadline)
	if got != (r != nil) {
		c.t.Fatalf("Reset(%#x) = %v, reference live = %v", id, got, r != nil)
	}
	if r != nil {
		r.deadline = deadline
		r.exp = ceilTicks(deadline - c.ref.origin)
		r.version++
		heap.Push(&c.heap, refItem{exp: r.exp, conn: c.byID[id], version: r.version})
	}
}

func (c *wheelChecker) advance(now int64) {
	c.t.Helper()
	if now > c.now {
		c.now = now
	}
	target := floorTicks(now - c.ref.origin)
	limit := max(target, c.ref.cur-1)
	want := map[uint32]bool{}
	for len(c.heap) > 0 && c.heap[0].exp <= limit {
		it := heap.Pop(&c.heap).(refItem)
		if r := c.ref.live[it.conn]; r != nil && r.version == it.version {
			want[it.conn] = true
		}
	}
	curBefore := c.ref.cur
	lastExp := int64(math.MinInt64)
	sawOnTime := false
	n := c.w.Advance(now, func(p TimerPayload) {
		r := c.ref.live[p.Conn]
		if r == nil || !want[p.Conn] {
			c.t.Fatalf("Advance(%d): fired conn %d not due (ref %+v)", now, p.Conn, r)
		}
		if p.Tag != TimerTag(p.Conn%7) {
			c.t.Fatalf("payload tag %v for conn %d", p.Tag, p.Conn)
		}
		if r.deadline > c.now { // c.now: the latest time seen (now may go back)
			c.t.Fatalf("fired early: deadline %d > now %d", r.deadline, c.now)
		}
		if r.exp >= curBefore {
			// On-time timers come after overdue ones, in tick order.
			if r.exp < lastExp {
				c.t.Fatalf("fired out of order: tick %d after %d", r.exp, lastExp)
			}
			lastExp = r.exp
			sawOnTime = true
		} else if sawOnTime {
			c.t.Fatalf("overdue timer (tick %d) fired after on-time ones", r.exp)
		}
		delete(want, p.Conn)
		c.forget(p.Conn)
	})
	if len(want) != 0 {
		c.t.Fatalf("Advance(%d) missed %d due timers", now, len(want))
	}
	_ = n
	c.ref.cur = max(c.ref.cur, target+1)
	if c.w.Len() != len(c.ref.live) {
		c.t.Fatalf("Len = %d, reference %d", c.w.Len(), len(c.ref.live))
	}
}

// checkDeadlines asserts NextDeadline is no later than the earliest pending
// expiry and that every pending timer is at most one tick from being due
// (nothing is left pending more than a tick past its deadline).
func (c *wheelChecker) checkDeadlines() {
	c.t.Helper()
	nd, ok := c.w.NextDeadline()
	if ok != (len(c.ref.live) > 0) {
		c.t.Fatalf("NextDeadline ok=%v with %d pending", ok, len(c.ref.live))
	}
	earliest := int64(math.MaxInt64)
	for _, r := range c.ref.live {
		if r.deadline <= c.now-TimerTick && r.exp >= c.ref.cur {
			c.t.Fatalf("timer with deadline %d still pending at %d", r.deadline, c.now)
		}
		// An overdue timer's tick was already processed: the wheel reports
		// the last processed tick, a time already reached.
		earliest = min(earliest, c.ref.origin+max(r.exp, c.ref.cur-1)*TimerTick)
	}
	if ok && nd > earliest {
		c.t.Fatalf("NextDeadline %d later than earliest expiry %d", nd, earliest)
	}
}

func (c *wheelChecker) randomID(rng *rand.Rand) TimerID {
	switch {
	case len(c.ids) == 0 || rng.IntN(20) == 0:
		return TimerID(rng.Uint64()) // garbage handle
	case len(c.liveList) > 0 && rng.IntN(2) == 0:
		return c.ref.live[c.liveList[rng.IntN(len(c.liveList))]].id
	default:
		return c.ids[rng.IntN(len(c.ids))] // often stale
	}
}

// randomDeadline spreads deadlines over every wheel level, including the
// past and beyond the top level's horizon.
func randomDeadline(rng *rand.Rand, now int64) int64 {
	switch rng.IntN(10) {
	case 0:
		return now - rng.Int64N(20*ms) // already due
	case 1, 2, 3:
		return now + rng.Int64N(70*ms)
	case 4, 5:
		return now + rng.Int64N(5*int64(time.Second))
	case 6:
		return now + rng.Int64N(10*int64(time.Minute))
	case 7:
		return now + rng.Int64N(6*int64(time.Hour))
	case 8:
		return now + rng.Int64N(30*24*int64(time.Hour))
	default:
		if rng.IntN(50) == 0 {
			return now + 900*24*int64(time.Hour) + rng.Int64N(int64(time.Hour)) // past the horizon
		}
		return now + rng.Int64N(3*ms)
	}
}

// randomStep mostly moves time like a busy loop does, with rare long sleeps
// so that the population builds up to thousands of timers on every level.
func randomStep(rng *rand.Rand) int64 {
	switch r := rng.IntN(100000); {
	case r < 8000:
		return 0
	case r < 16000:
		return -rng.Int64N(5 * ms) // time going backwards must be harmless
	case r < 80000:
		return rng.Int64N(3 * ms)
	case r < 95000:
		return rng.Int64N(200 * ms)
	case r < 99000:
		return rng.Int64N(5 * int64(time.Second))
	case r < 99900:
		return rng.Int64N(int64(time.Minute))
	case r < 99990:
		return rng.Int64N(3 * int64(time.Hour))
	default:
		return rng.Int64N(10 * 24 * int64(time.Hour))
	}
}

func TestTimerWheelAgainstReference(t *testing.T) {
	ops := 200_000
	if testing.Short() {
		ops = 30_000
	}
	for _, seed := range []uint64{1, 2, 3} {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		// A non-zero, odd origin checks the rounding against it.
		c := newWheelChecker(t, int64(rng.Uint32())*7+12345)
		now := c.now
		for range 5000 { // start with every level populated
			c.add(randomDeadline(rng, now))
		}
		maxLive := 0
		for i := range ops {
			maxLive = max(maxLive, c.w.Len())
			switch op := rng.IntN(100); {
			case op < 45:
				c.add(randomDeadline(rng, now))
			case op < 55:
				c.cancel(c.randomID(rng))
			case op < 70:
				c.reset(c.randomID(rng), randomDeadline(rng, now))
			default:
				now += randomStep(rng)
				c.advance(now)
			}
			if i%500 == 0 {
				c.checkDeadlines()
			}
		}
		// Drain: everything fires, nothing is lost.
		for c.w.Len() > 0 {
			nd, _ := c.w.NextDeadline()
			if nd > now {
				now = nd
			}
			c.advance(now)
		}
		if len(c.ref.live) != 0 {
			t.Fatalf("seed %d: reference still holds %d timers", seed, len(c.ref.live))
		}
		t.Logf("seed %d: %d timers armed, up to %d at once", seed, len(c.ids), maxLive)
	}
}

// TestTimerWheelNextDeadlineIsTight: nothing fires before NextDeadline, and
// walking from one NextDeadline to the next fires every timer.
func TestTimerWheelNextDeadlineIsTight(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	c := newWheelChecker(t, 0)
	for range 5000 {
		c.add(randomDeadline(rng, 0))
	}
	c.advance(0) // flush the ones armed in the past
	for wakeups := 0; c.w.Len() > 0; wakeups++ {
		nd, ok := c.w.NextDeadline()
		if !ok {
			t.Fatal("no deadline with timers pending")
		}
		if nd-1 > c.now {
			if n := c.w.Advance(nd-1, func(TimerPayload) {}); n != 0 {
				t.Fatalf("%d timers fired before NextDeadline %d", n, nd)
			}
		}
		c.advance(nd)
		if wakeups > 6*5000+1000 {
			t.Fatal("too many wakeups: NextDeadline is not making progress")
		}
	}
}

func TestTimerWheelManyInOneSlot(t *testing.T) {
	w := NewTimerWheel(0, 0)
	const n = 10_000
	ids := make([]TimerID, n)
	for i := range ids {
		ids[i] = w.Add(5*ms+1+int64(i%3), TimerPayload{Conn: uint32(i)})
	}
	for i := 0; i < n; i += 2 {
		if !w.Cancel(ids[i]) {
			t.Fatalf("Cancel(%d) failed", i)
		}
	}
	if got := w.Advance(5*ms, func(TimerPayload) {}); got != 0 {
		t.Fatalf("%d fired at 5ms, deadlines are up to 2ns later and round up to 6ms", got)
	}
	fired := make([]bool, n)
	w.Advance(6*ms, func(p TimerPayload) {
		if fired[p.Conn] {
			t.Fatalf("conn %d fired twice", p.Conn)
		}
		fired[p.Conn] = true
	})
	for i := range fired {
		if fired[i] != (i%2 == 1) {
			t.Fatalf("timer %d fired=%v", i, fired[i])
		}
	}
	if w.Len() != 0 {
		t.Fatalf("Len = %d", w.Len())
	}
}

func TestTimerWheelExactTickBoundaries(t *testing.T) {
	w := NewTimerWheel(0, 0)
	w.Add(5*ms, TimerPayload{Conn: 1})   // exactly on a tick
	w.Add(5*ms+1, TimerPayload{Conn: 2}) // 1ns past: rounds up to 6ms
	var got []uint32
	fire := func(p TimerPayload) { got = append(got, p.Conn) }
	w.Advance(5*ms-1, fire)
	if len(got) != 0 {
		t.Fatalf("fired early: %v", got)
	}
	w.Advance(5*ms, fire)
	if len(got) != 1 || got[0] != 1 {
		t.Fatalf("at 5ms fired %v, want [1]", got)
	}
	w.Advance(6*ms-1, fire)
	if len(got) != 1 {
		t.Fatalf("fired early: %v", got)
	}
	w.Advance(6*ms, fire)
	if len(got) != 2 || got[1] != 2 {
		t.Fatalf("at 6ms fired %v, want [1 2]", got)
	}
}

func TestTimerWheelLargeDeadlines(t *testing.T) {
	w := NewTimerWheel(0, 0)
	hours := []int64{1, 2, 5, 24, 24 * 30, 24 * 800, 24 * 365 * 5}
	for i, h := range hours {
		w.Add(h*int64(time.Hour), TimerPayload{Conn: uint32(i)})
	}
	w.Add(math.MaxInt64, TimerPayload{Conn: 99}) // never, effectively
	for i, h := range hours {
		d := h * int64(time.Hour)
		if n := w.Advance(d-1, func(p TimerPayload) { t.Fatalf("timer %d fired early", p.Conn) }); n != 0 {
			t.Fatal(n)
		}
		var got []uint32
		w.Advance(d, func(p TimerPayload) { got = append(got, p.Conn) })
		if len(got) != 1 || got[0] != uint32(i) {
			t.Fatalf("at %dh fired %v, want [%d]", h, got, i)
		}
	}
	if w.Len() != 1 {
		t.Fatalf("Len = %d, want the MaxInt64 timer only", w.Len())
	}
}

func TestTimerWheelResetEarlierAndLater(t *testing.T) {
	w := NewTimerWheel(0, 0)
	var got []uint32
	fire := func(p TimerPayload) { got = append(got, p.Conn) }
	a := w.Add(int64(time.Hour), TimerPayload{Conn: 1})
	b := w.Add(10*ms, TimerPayload{Conn: 2})
	if !w.Reset(a, 3*ms) || !w.Reset(b, int64(time.Minute)) {
		t.Fatal("Reset of armed timers failed")
	}
	if d, ok := w.Deadline(a); !ok || d != 3*ms {
		t.Fatalf("Deadline(a) = %d,%v", d, ok)
	}
	w.Advance(30*ms, fire)
	if len(got) != 1 || got[0] != 1 {
		t.Fatalf("fired %v, want [1]", got)
	}
	w.Advance(int64(time.Minute)-1, fire)
	if len(got) != 1 {
		t.Fatalf("b fired early: %v", got)
	}
	// Reset to the past: due at the next Advance, even without time moving.
	if !w.Reset(b, 0) {
		t.Fatal("Reset(b) failed")
	}
	if nd, ok := w.NextDeadline(); !ok || nd > int64(time.Minute)-1 {
		t.Fatalf("NextDeadline = %d,%v, want a time already reached", nd, ok)
	}
	w.Advance(int64(time.Minute)-1, fire)
	if len(got) != 2 || got[1] != 2 {
		t.Fatalf("fired %v, want [1 2]", got)
	}
}

func TestTimerWheelStaleHandles(t *testing.T) {
	w := NewTimerWheel(0, 0)
	a := w.Add(ms, TimerPayload{Conn: 1})
	w.Advance(ms, func(TimerPayload) {})
	// a fired; its slab entry is reused by b.
	b := w.Add(5*ms, TimerPayload{Conn: 2})
	if uint32(a) != uint32(b) {
		t.Fatalf("expected slab reuse (a=%#x b=%#x)", a, b)
	}
	if w.Cancel(a) || w.Reset(a, 100*ms) {
		t.Fatal("stale handle of a fired timer acted on its slot's new timer")
	}
	if _, ok := w.Deadline(a); ok {
		t.Fatal("Deadline of a stale handle")
	}
	if !w.Cancel(b) || w.Cancel(b) {
		t.Fatal("Cancel(b) should succeed once")
	}
	for _, bad := range []TimerID{0, 1, TimerID(numSentinels - 1), TimerID(1<<32 | expiringList), TimerID(1<<32 | 1<<31), ^TimerID(0)} {
		if w.Cancel(bad) || w.Reset(bad, 0) {
			t.Fatalf("garbage handle %#x accepted", bad)
		}
	}
	if w.Len() != 0 {
		t.Fatalf("Len = %d", w.Len())
	}
	// Rearm: stale handle is replaced, armed handle is moved.
	var id TimerID
	w.Rearm(&id, 10*ms, TimerPayload{Conn: 3, Tag: TagDelayedACK})
	first := id
	w.Rearm(&id, 20*ms, TimerPayload{Conn: 3, Tag: TagDelayedACK})
	if id != first || w.Len() != 1 {
		t.Fatalf("Rearm of an armed timer changed handle or count")
	}
}

// TestTimerWheelCallbacksMutate: fire may cancel a timer due in the same
// tick, and a timer armed from fire for 64 ticks later (same slot) must not
// fire now.
func TestTimerWheelCallbacksMutate(t *testing.T) {
	w := NewTimerWheel(0, 0)
	a := w.Add(10*ms, TimerPayload{Conn: 1})
	b := w.Add(10*ms, TimerPayload{Conn: 2})
	_ = a
	var got []uint32
	var again TimerID
	w.Advance(10*ms, func(p TimerPayload) {
		got = append(got, p.Conn)
		if p.Conn == 1 {
			if !w.Cancel(b) {
				t.Error("cancel of a timer due in the same tick failed")
			}
			again = w.Add(10*ms+64*ms, TimerPayload{Conn: 3})
			w.Add(5*ms, TimerPayload{Conn: 4}) // already due: fires in this Advance
			if w.Advance(1<<40, nil) != 0 {
				t.Error("re-entrant Advance did something")
			}
		}
	})
	if len(got) != 2 || got[0] != 1 || got[1] != 4 {
		t.Fatalf("fired %v, want [1 4]", got)
	}
	if d, ok := w.Deadline(again); !ok || d != 74*ms {
		t.Fatalf("timer armed from a callback: %d,%v", d, ok)
	}
}

func TestTimerWheelIdleSkip(t *testing.T) {
	// A loop asleep for a day advances in one call; only occupied slots
	// cost anything. (This asserts the call terminates with the right
	// result, not its speed.)
	w := NewTimerWheel(0, 0)
	w.Add(int64(24*time.Hour), TimerPayload{Conn: 1})
	if n := w.Advance(int64(24*time.Hour), func(TimerPayload) {}); n != 1 {
		t.Fatalf("fired %d", n)
	}
	if _, ok := w.NextDeadline(); ok {
		t.Fatal("deadline with no timers")
	}
	if w.Now() != int64(24*time.Hour)+ms {
		t.Fatalf("Now = %d", w.Now())
	}
}

func TestTimerEntryIsPointerFree(t *testing.T) {
	// 24 bytes per timer and no pointers: the GC never scans the slab.
	typ := reflect.TypeFor[timerEntry]()
	for i := range typ.NumField() {
		switch typ.Field(i).Type.Kind() {
		case reflect.Int64, reflect.Uint32:
		default:
			t.Fatalf("field %s may hold a pointer", typ.Field(i).Name)
		}
	}
	if s := typ.Size(); s != 24 {
		t.Fatalf("timerEntry is %d bytes", s)
	}
}

// benchWheel returns a wheel holding n timers spread from 1 ms to 2 hours,
// and their handles.
func benchWheel(n int) (*TimerWheel, []TimerID, *rand.Rand) {
	rng := rand.New(rand.NewPCG(1, 2))
	w := NewTimerWheel(0, n+8192)
	ids := make([]TimerID, n)
	for i := range ids {
		ids[i] = w.Add(ms+rng.Int64N(int64(2*time.Hour)), TimerPayload{Conn: uint32(i), Tag: TagRetransmit})
	}
	return w, ids, rng
}

const benchTimers = 1 << 20

func BenchmarkTimerAdd1M(b *testing.B) {
	w, _, rng := benchWheel(benchTimers)
	const chunk = 4096
	var batch [chunk]TimerID
	deadlines := make([]int64, chunk)
	for i := range deadlines {
		deadlines[i] = ms + rng.Int64N(int64(2*time.Hour))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		n := min(chunk, b.N-i)
		for j := range n {
			batch[j] = w.Add(deadlines[j], TimerPayload{Conn: uint32(j)})
		}
		b.StopTimer()
		for j := range n {
			w.Cancel(batch[j])
		}
		b.StartTimer()
		i += n
	}
}

func BenchmarkTimerCancel1M(b *testing.B) {
	w, ids, rng := benchWheel(benchTimers)
	const chunk = 4096
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		n := min(chunk, b.N-i)
		base := rng.IntN(len(ids) - chunk)
		for j := range n {
			if !w.Cancel(ids[base+j]) {
				b.Fatal("cancel failed")
			}
		}
		b.StopTimer()
		for j := range n {
			ids[base+j] = w.Add(ms+rng.Int64N(int64(2*time.Hour)), TimerPayload{})
		}
		b.StartTimer()
		i += n
	}
}

func BenchmarkTimerReset1M(b *testing.B) {
	w, ids, rng := benchWheel(benchTimers)
	idx := make([]int32, 1<<16)
	dl := make([]int64, 1<<16)
	for i := range idx {
		idx[i] = int32(rng.IntN(len(ids)))
		dl[i] = ms + rng.Int64N(int64(2*time.Hour))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := i & (1<<16 - 1)
		if !w.Reset(ids[idx[k]], dl[k]) {
			b.Fatal("reset failed")
		}
	}
}

// BenchmarkTimerAdvance1M: one loop iteration per millisecond with 1M
// timers pending (RTO-like deadlines, so a few hundred fire per tick).
func BenchmarkTimerAdvance1M(b *testing.B) {
	w, _, _ := benchWheel(benchTimers)
	now := int64(0)
	fired := 0
	fire := func(p TimerPayload) {
		fired++
		w.Add(now+int64(2*time.Hour), p) // keep the population steady
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		now += ms
		w.Advance(now, fire)
	}
	b.ReportMetric(float64(fired)/float64(b.N), "fired/op")
}

// BenchmarkTimerWheelMemory reports heap bytes per pending timer with 1M
// timers armed (the slab is sized by the hint, so this is the entry size
// plus the sentinels, amortised).
func BenchmarkTimerWheelMemory(b *testing.B) {
	var before, after runtime.MemStats
	for range b.N {
		runtime.GC()
		runtime.ReadMemStats(&before)
		w, _, _ := benchWheel(benchTimers) // the handle slice is garbage by the GC below
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(w.Len()), "B/timer")
		runtime.KeepAlive(w)
	}
}
