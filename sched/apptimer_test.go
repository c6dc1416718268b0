package sched

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
)

// timerHandler arms the application timer in OnOpen (d > 0), re-arms it
// on every OnData when rearm is set, and logs the callbacks in order.
type timerHandler struct {
	d         time.Duration
	rearm     bool
	onTimeout func(c *Conn) // nil: only log
	conn      *Conn
	log       []string
	timeouts  int
}

func (h *timerHandler) OnOpen(c *Conn) {
	h.conn = c
	h.log = append(h.log, "open")
	if h.d > 0 {
		c.SetTimer(c.Loop().Now().Add(h.d))
	}
}

func (h *timerHandler) OnData(c *Conn, data []byte) {
	h.log = append(h.log, "data")
	if h.rearm {
		c.SetTimer(c.Loop().Now().Add(h.d))
	}
}

func (h *timerHandler) OnEOF(c *Conn) { h.log = append(h.log, "eof"); c.Close() }

func (h *timerHandler) OnClose(c *Conn, err error) {
	h.log = append(h.log, "close")
	c.SetTimer(c.Loop().Now()) // must do nothing: the connection is over
}

func (h *timerHandler) OnTimeout(c *Conn) {
	h.timeouts++
	h.log = append(h.log, "timeout")
	if h.onTimeout != nil {
		h.onTimeout(c)
	}
}

var _ TimeoutHandler = (*timerHandler)(nil)

// step advances the virtual clock by d, 1 ms at a time (each a loop
// iteration: timers, then the TX flush), and returns the timeouts seen
// meanwhile.
func (p *pipe) step(h *timerHandler, d time.Duration) int {
	before := h.timeouts
	for range d / time.Millisecond {
		p.advance(time.Millisecond)
		p.l.flush() // what the timers sent (pump flushes only with traffic)
		p.pump()
	}
	return h.timeouts - before
}

func TestAppTimerFires(t *testing.T) {
	h := &timerHandler{d: 100 * time.Millisecond}
	p := newPipe(t, h, nil)
	p.dial()
	armed := h.conn.Timer()
	if armed != p.now.Add(h.d) {
		t.Fatalf("Timer() = %v after SetTimer(now+100ms), want %v", armed, p.now.Add(h.d))
	}
	if n := p.step(h, 99*time.Millisecond); n != 0 {
		t.Fatalf("fired %d times before its instant", n)
	}
	if n := p.step(h, time.Millisecond); n != 1 {
		t.Fatalf("fired %d times at its instant, want 1", n)
	}
	if h.conn.Timer() != 0 {
		t.Errorf("Timer() = %v after firing, want 0", h.conn.Timer())
	}
	if n := p.step(h, time.Second); n != 0 {
		t.Fatalf("fired %d more times without a new SetTimer", n)
	}
	st, _ := p.l.Stats(0)
	if st.Timers != 0 {
		t.Errorf("%d wheel entries left after the timer fired, want 0", st.Timers)
	}
}

func TestAppTimerRearm(t *testing.T) {
	h := &timerHandler{d: 100 * time.Millisecond}
	p := newPipe(t, h, nil)
	p.dial()
	c := h.conn
	// Later: the entry stays at 100 ms and moves itself on without
	// firing.
	p.step(h, 50*time.Millisecond)
	c.SetTimer(p.now.Add(100 * time.Millisecond)) // due at 150 ms
	if n := p.step(h, 99*time.Millisecond); n != 0 {
		t.Fatalf("re-armed later: fired %d times at the old instant", n)
	}
	if n := p.step(h, time.Millisecond); n != 1 {
		t.Fatalf("re-armed later: fired %d times at the new instant, want 1", n)
	}
	// Earlier: the entry moves; the old instant fires nothing.
	c.SetTimer(p.now.Add(time.Second))
	c.SetTimer(p.now.Add(10 * time.Millisecond))
	if n := p.step(h, 10*time.Millisecond); n != 1 {
		t.Fatalf("re-armed earlier: fired %d times at the new instant, want 1", n)
	}
	if n := p.step(h, 2*time.Second); n != 0 {
		t.Fatalf("re-armed earlier: fired %d more times at the old instant", n)
	}
	// Passed instants fire at the next timer run.
	c.SetTimer(p.now.Add(-time.Second))
	if n := p.step(h, time.Millisecond); n != 1 {
		t.Fatalf("instant in the past: fired %d times, want 1", n)
	}
}

func TestAppTimerStop(t *testing.T) {
	h := &timerHandler{d: 100 * time.Millisecond}
	p := newPipe(t, h, nil)
	p.dial()
	c := h.conn
	c.StopTimer()
	if c.Timer() != 0 {
		t.Fatalf("Timer() = %v after StopTimer", c.Timer())
	}
	if n := p.step(h, time.Second); n != 0 {
		t.Fatalf("stopped timer fired %d times", n)
	}
	// Stop, then arm again before the old entry's instant: the new
	// instant counts, once.
	c.SetTimer(p.now.Add(100 * time.Millisecond))
	p.step(h, 20*time.Millisecond)
	c.StopTimer()
	c.SetTimer(p.now.Add(200 * time.Millisecond))
	if n := p.step(h, 199*time.Millisecond); n != 0 {
		t.Fatalf("fired %d times before the instant set after StopTimer", n)
	}
	if n := p.step(h, time.Millisecond); n != 1 {
		t.Fatalf("fired %d times at the instant set after StopTimer, want 1", n)
	}
}

// TestAppTimerRearmedByData: a timeout pushed back by each OnData never
// fires while data keeps coming, and fires once it stops.
func TestAppTimerRearmedByData(t *testing.T) {
	h := &timerHandler{d: 100 * time.Millisecond, rearm: true}
	p := newPipe(t, h, nil)
	p.dial()
	for range 20 {
		if n := p.step(h, 60*time.Millisecond); n != 0 {
			t.Fatalf("fired %d times while data came every 60 ms", n)
		}
		if _, err := p.cli.Write([]byte("x"), p.now); err != nil {
			t.Fatal(err)
		}
		p.pump()
	}
	if n := p.step(h, 100*time.Millisecond); n != 1 {
		t.Fatalf("fired %d times 100 ms after the last data, want 1", n)
	}
	st, _ := p.l.Stats(0)
	// 20 re-arms, all later than the entry: the entry moved itself about
	// once per 100 ms, it was never Reset per OnData.
	if st.TimersFired > 40 {
		t.Errorf("%d wheel expiries for 20 re-arms over 1.3 s", st.TimersFired)
	}
}

// TestAppTimerDataFirst: data that arrives in the iteration where the
// instant passes is delivered first, and its re-arm wins.
func TestAppTimerDataFirst(t *testing.T) {
	h := &timerHandler{d: 100 * time.Millisecond, rearm: true}
	p := newPipe(t, h, nil)
	p.dial()
	// The clock jumps past the instant; the segment is input before the
	// timer run, as Loop.iterate orders them.
	p.now = p.now.Add(150 * time.Millisecond)
	if _, err := p.cli.Write([]byte("late but first"), p.now); err != nil {
		t.Fatal(err)
	}
	p.pump()
	p.l.fireTimers()
	if h.timeouts != 0 {
		t.Fatalf("OnTimeout ran although OnData re-armed in the same iteration: %v", h.log)
	}
	if n := p.step(h, 100*time.Millisecond); n != 1 {
		t.Fatalf("fired %d times at the re-armed instant, want 1", n)
	}
}

// TestAppTimerCloses: OnTimeout closes the connection; the FIN reaches
// the peer and OnClose follows, and nothing fires after it.
func TestAppTimerCloses(t *testing.T) {
	h := &timerHandler{d: 100 * time.Millisecond, onTimeout: func(c *Conn) { c.Close() }}
	p := newPipe(t, h, nil)
	p.dial()
	p.step(h, 100*time.Millisecond)
	if p.cli.State() != tcp.CloseWait {
		t.Fatalf("client in %v after the server's timeout, want CLOSE-WAIT", p.cli.State())
	}
	p.cli.Close(p.now)
	p.pump()
	p.step(h, time.Second)
	if want := []string{"open", "timeout", "close"}; !slices.Equal(h.log, want) {
		t.Fatalf("callbacks %v, want %v", h.log, want)
	}
}

// TestAppTimerNeverAfterClose: a timer armed when the connection ends,
// in each way it can end, never fires.
func TestAppTimerNeverAfterClose(t *testing.T) {
	for _, end := range []string{"peer FIN", "abort", "peer RST", "loop stop"} {
		t.Run(end, func(t *testing.T) {
			h := &timerHandler{d: 100 * time.Millisecond}
			p := newPipe(t, h, nil)
			p.dial()
			switch end {
			case "peer FIN":
				p.cli.Close(p.now) // OnEOF closes; LAST-ACK, then CLOSED
				p.pump()
			case "abort":
				h.conn.Abort()
				p.l.settle()
				p.pump()
			case "peer RST":
				p.cli.Abort(p.now)
				p.pump()
			case "loop stop":
				p.l.shutdown()
			}
			if h.log[len(h.log)-1] != "close" {
				t.Fatalf("%s: callbacks %v, want OnClose last", end, h.log)
			}
			// Freed with its timers: no entry is left to reach a later
			// connection in the same slot.
			if n := p.l.wheel.Len(); n != 0 {
				t.Fatalf("%s: %d wheel entries left after OnClose", end, n)
			}
			if end != "loop stop" {
				p.step(h, time.Second)
			} else {
				p.l.now = p.now.Add(time.Second)
				p.l.fireTimers()
			}
			if h.timeouts != 0 {
				t.Fatalf("%s: OnTimeout after OnClose: %v", end, h.log)
			}
		})
	}
}

// TestAppTimerWhileClosing: a timer keeps running after Close until
// OnClose (a FIN the peer never acknowledges), so it can bound a close.
func TestAppTimerWhileClosing(t *testing.T) {
	h := &timerHandler{d: 100 * time.Millisecond, onTimeout: func(c *Conn) { c.Abort() }}
	p := newPipe(t, h, nil)
	p.dial()
	p.drop = true // the FIN and its retransmissions are lost
	h.conn.Close()
	p.l.settle()
	p.pump()
	p.step(h, 100*time.Millisecond)
	if want := []string{"open", "timeout", "close"}; !slices.Equal(h.log, want) {
		t.Fatalf("callbacks %v, want %v (the timer bounds the close)", h.log, want)
	}
}

// tickHandler counts ticks and ends them after stopAfter.
type tickHandler struct {
	rawEcho
	every     time.Duration
	stopAfter int
	ticks     []tcp.Instant
	loop      *Loop
}

func (h *tickHandler) OnTick(l *Loop) time.Duration {
	h.loop = l
	h.ticks = append(h.ticks, l.Now())
	if len(h.ticks) >= h.stopAfter {
		return 0
	}
	return h.every
}

func TestLoopTick(t *testing.T) {
	h := &tickHandler{every: 10 * time.Millisecond, stopAfter: 5}
	p := newPipe(t, h, nil)
	start := p.now
	p.l.fireTimers()
	if len(h.ticks) != 1 || h.loop != p.l {
		t.Fatalf("first timer run: %d ticks (loop %p, want %p), want 1", len(h.ticks), h.loop, p.l)
	}
	for range 200 {
		p.advance(time.Millisecond)
	}
	if len(h.ticks) != h.stopAfter {
		t.Fatalf("%d ticks in 200 ms, want %d (then stopped)", len(h.ticks), h.stopAfter)
	}
	for i, at := range h.ticks {
		if want := start.Add(time.Duration(i) * h.every); at != want {
			t.Errorf("tick %d at %v, want %v", i, at.Sub(start), want.Sub(start))
		}
	}
	if n := p.l.wheel.Len(); n != 0 {
		t.Errorf("%d wheel entries after the ticks ended", n)
	}
}

// fakeConns puts n connections in l's slab without TCP behind them: the
// application timer needs only the slot, so a million of them can be
// armed without a million handshakes.
func fakeConns(l *Loop, h Handler, n int) []*Conn {
	tcb := new(tcp.TCB)
	cs := make([]*Conn, n)
	for i := range cs {
		idx := l.slab.Alloc()
		c := l.slab.Get(idx)
		l.nextGen++
		*c = Conn{tcb: tcb, loop: l, h: h, idx: idx, gen: l.nextGen, armedAt: tcp.Never, opened: true}
		cs[i] = c
	}
	return cs
}

// countTimeouts records each connection's expiry instants.
type countTimeouts struct {
	rawEcho
	fired map[uint32][]tcp.Instant
}

func (h *countTimeouts) OnTimeout(c *Conn) {
	h.fired[c.idx] = append(h.fired[c.idx], c.loop.now)
}

// TestAppTimerMany arms a timer on each of many connections, re-arms,
// moves earlier and stops some, and checks on the virtual clock that
// each fires once, never before its instant and at most a tick after,
// and that the stopped ones never fire.
func TestAppTimerMany(t *testing.T) {
	const n = 1 << 16
	h := &countTimeouts{fired: map[uint32][]tcp.Instant{}}
	p := newPipe(t, h, nil)
	l := p.l
	cs := fakeConns(l, h, n)
	r := rand.New(rand.NewPCG(3, 4))
	due := make(map[uint32]tcp.Instant, n)
	for _, c := range cs {
		at := l.now.Add(time.Duration(1+r.IntN(2000)) * time.Millisecond)
		c.SetTimer(at)
		due[c.idx] = at
	}
	for _, c := range cs {
		switch r.IntN(4) {
		case 0: // later
			at := due[c.idx].Add(time.Duration(r.IntN(3000)) * time.Millisecond)
			c.SetTimer(at)
			due[c.idx] = at
		case 1: // earlier
			at := l.now.Add(time.Duration(1+r.IntN(int(due[c.idx].Sub(l.now)/time.Millisecond))) * time.Millisecond)
			c.SetTimer(at)
			due[c.idx] = at
		case 2: // stopped
			c.StopTimer()
			delete(due, c.idx)
		}
	}
	for range 5100 {
		p.advance(time.Millisecond)
	}
	for _, c := range cs {
		got := h.fired[c.idx]
		want, armed := due[c.idx]
		switch {
		case !armed && len(got) != 0:
			t.Fatalf("stopped timer of conn %d fired at %v", c.idx, got)
		case armed && len(got) != 1:
			t.Fatalf("conn %d fired %d times, want 1", c.idx, len(got))
		case armed && (got[0] < want || got[0].Sub(want) > time.Duration(TimerTick)):
			t.Fatalf("conn %d due at %v fired at %v", c.idx, want, got[0])
		}
	}
	if l.wheel.Len() != 0 {
		t.Fatalf("%d wheel entries left", l.wheel.Len())
	}
}

// TestAppTimerNoAlloc: re-arming, later or earlier, and stopping
// allocate nothing once the wheel's slab holds the entries.
func TestAppTimerNoAlloc(t *testing.T) {
	h := &countTimeouts{fired: map[uint32][]tcp.Instant{}}
	p := newPipe(t, h, nil)
	cs := fakeConns(p.l, h, 1024)
	now := p.l.now
	for _, c := range cs {
		c.SetTimer(now.Add(time.Second))
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		c := cs[i%len(cs)]
		i++
		c.SetTimer(now.Add(time.Duration(2+i%7) * time.Second)) // later: lazy
		c.SetTimer(now.Add(time.Duration(i%500) * time.Millisecond))
		c.StopTimer()
		c.SetTimer(now.Add(time.Minute))
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per re-arm", allocs)
	}
}

const benchTimerConnCount = 1 << 20

// benchTimerConns: a loop with a million connections, each with its
// application timer armed within the next 10 s.
func benchTimerConns(b *testing.B) (*Loop, []*Conn, *rand.Rand) {
	h := &countTimeouts{fired: map[uint32][]tcp.Instant{}}
	p := newPipe(b, h, nil)
	cs := fakeConns(p.l, h, benchTimerConnCount)
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range cs {
		c.SetTimer(p.l.now.Add(time.Duration(1+r.IntN(10000)) * time.Millisecond))
	}
	return p.l, cs, r
}

// BenchmarkAppTimerRearmLater1M: the usual re-arm (an idle or read
// timeout pushed back as data comes) with a million timers armed.
func BenchmarkAppTimerRearmLater1M(b *testing.B) {
	l, cs, r := benchTimerConns(b)
	idx := make([]int32, 1<<16)
	for i := range idx {
		idx[i] = int32(r.IntN(len(cs)))
	}
	at := l.now.Add(time.Minute)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		at++
		cs[idx[i&(1<<16-1)]].SetTimer(at)
	}
}

// BenchmarkAppTimerRearmEarlier1M: re-arms that move the wheel entry
// (a head timeout after an idle one), with a million timers armed.
func BenchmarkAppTimerRearmEarlier1M(b *testing.B) {
	l, cs, r := benchTimerConns(b)
	idx := make([]int32, 1<<16)
	dl := make([]tcp.Instant, 1<<16)
	for i := range idx {
		idx[i] = int32(r.IntN(len(cs)))
		dl[i] = l.now.Add(time.Duration(r.IntN(10000)) * time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := i & (1<<16 - 1)
		c := cs[idx[k]]
		c.StopTimer()
		c.ext.appArmed = tcp.Never // force the move: measure the wheel Reset
		c.SetTimer(dl[k])
	}
}

// BenchmarkAppTimerMemory reports the heap bytes per armed application
// timer with a million armed: the wheel's entries and each Conn's
// connExt (64 bytes, taken by its first SetTimer).
func BenchmarkAppTimerMemory(b *testing.B) {
	h := &countTimeouts{fired: map[uint32][]tcp.Instant{}}
	for range b.N {
		p := newPipe(b, h, nil)
		cs := fakeConns(p.l, h, benchTimerConnCount)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i, c := range cs {
			c.SetTimer(p.l.now.Add(time.Duration(1+i%10000) * time.Millisecond))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(p.l.wheel.Len()), "B/timer")
		runtime.KeepAlive(cs)
	}
}
