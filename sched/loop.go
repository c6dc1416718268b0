package sched

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/afxdp"
	"github.com/sluicenet/sluice/bpf"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/isn"
	"github.com/sluicenet/sluice/tcp/syncookie"
	"github.com/sluicenet/sluice/tcp/timewait"
	"github.com/sluicenet/sluice/wire"
)

// Loop is one per-core event loop: it owns one NIC queue's AF_XDP socket,
// its UMEM and frame pool, a connection table, a slab of connections, a
// timer wheel driving every TCB's Deadline, its listeners and an MPSC ring
// of work posted from other goroutines. Everything but the MPSC ring and
// the stop flag is touched by the loop's thread alone, so nothing on the
// per-frame path takes a lock or an atomic read-modify-write.
type Loop struct {
	cfg     LoopConfig
	tcpCfg  *tcp.Config // IPv4 connections
	tcpCfg6 *tcp.Config // IPv6 connections: the MSS fits the larger header
	handler Handler
	queue   int

	umem       *afxdp.Umem
	pool       *afxdp.FramePool
	sock       *afxdp.Socket // nil: no device (benchmarks and unit tests)
	frameSize  uint32
	fillSpare  int // frames the fill ring leaves in the pool for TX
	txq        []afxdp.Desc
	tapped     int // staged frames at the front of txq the tap has seen
	txSince    int // octets staged since the last flush (txBurstBytes)
	fds        [2]unix.PollFd
	compBudget uint32

	conns     *ConnTable
	tw        *timewait.Table // nil: TCBs serve TIME-WAIT themselves
	slab      *Slab[Conn]
	wheel     *TimerWheel
	listeners []listenEntry
	dirty     []uint32
	open      int          // connections whose OnClose has not run (Stats.Open)
	openPub   atomic.Int64 // open, published for Group.Conns
	refusing  bool         // StopAccepting: listeners answer with RST
	tcbFree   []*tcp.TCB   // closed TCBs for the listeners to reuse
	nextGen   uint32
	fire      func(TimerPayload) // l.onTimer, bound once (no allocation per Advance)
	ticker    TickHandler        // the handler's, when it wants ticks (apptimer.go)

	post     *MPSC[func()]
	posted   [64]func()
	stop     atomic.Bool
	running  atomic.Bool
	launched atomic.Bool // a Group is about to Run it (Stats must post, not read)
	finished atomic.Bool
	done     chan struct{}
	err      error

	now   tcp.Instant
	cur   *Conn       // connection whose TCB is being driven (reply addressing)
	rx    *wire.Frame // frame being demultiplexed without a connection
	frame wire.Frame
	batch rxScratch
	seg   tcp.Segment
	id    tcp.ID
	rst   tcp.Segment
	spec  wire.TCPFrameSpec

	st       counters
	tcpDone  tcp.Stats // engine counters of freed TCBs (Stats.TCP adds the live ones)
	postFull atomic.Uint64
	tid      atomic.Int32   // the loop thread's id, for Thread (read from /proc)
	own      atomic.Uintptr // Owner() of the goroutine in Run (0 before and after), for onThread

	// peers are the loops of the group (this one at index), for
	// segments that arrive on the wrong queue; fwdHops is how many loops
	// the frame being processed has already been through.
	peers   []*Loop
	index   int
	fwdHops int

	// tapp points at the group's tap (or ownTap for a lone loop).
	tapp   *atomic.Pointer[tapRef]
	ownTap atomic.Pointer[tapRef]

	// prog is the group's steering program (nil for a lone loop);
	// twDials are dialed 4-tuples in the compact TIME-WAIT table, oldest
	// first, whose port and flow entry wait for the entry to expire.
	prog    *bpf.Program
	twDials []twDial
	// variants are per-connection option Configs (sockopt.go).
	variants map[optKey]*tcp.Config

	lossRand *rand.Rand // cfg.loss
	// loopback, without a device, sees every transmitted frame before it
	// returns to the pool (tests and benchmarks play the peer with it).
	loopback func(frame []byte)
}

type listenEntry struct {
	ap  netip.AddrPort
	lst *tcp.Listener
}

// clockBase is the origin of every loop's clock: loops share it so
// Instants from different loops compare.
var clockBase = time.Now()

// Now is the loops' monotonic clock as a tcp.Instant.
func Now() tcp.Instant { return tcp.Instant(time.Since(clockBase)) + tcp.Instant(time.Second) }

// DefaultTCPConfig is tcp.DefaultConfig with what Linux also does by
// default: RFC 6528 ISNs under a secret random key, and SYN cookies (RFC
// 4987) once a listener's SYN queue is full (tcp_syncookies=1). The keys
// are read-only after creation, so loops may share one Config.
func DefaultTCPConfig() (*tcp.Config, error) {
	c := tcp.DefaultConfig()
	g, err := isn.NewRandom()
	if err != nil {
		return nil, err
	}
	c.UseGenerator(g)
	if c.Cookies, err = syncookie.NewRandom(); err != nil {
		return nil, err
	}
	c.SynCookies = true
	return &c, nil
}

// NewLoop makes a loop for queue over umem and sock. sock may be nil: the
// loop then has no device, Input feeds it frames and transmitted frames go
// straight back to the pool (benchmarks, unit tests). umem is required:
// segments are built in its frames.
func NewLoop(cfg LoopConfig, h Handler, queue int, umem *afxdp.Umem, sock *afxdp.Socket) (*Loop, error) {
	if h == nil {
		return nil, errors.New("sched: NewLoop needs a Handler")
	}
	if umem == nil {
		return nil, errors.New("sched: NewLoop needs a UMEM")
	}
	if cfg.TCP == nil {
		c, err := DefaultTCPConfig()
		if err != nil {
			return nil, err
		}
		cfg.TCP = c
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if f := umem.FrameSize(); int(cfg.TCP.MSS)+tcpFrameOverhead > int(f) {
		return nil, fmt.Errorf("sched: MSS %d does not fit a %d-byte UMEM frame with headers", cfg.TCP.MSS, f)
	}
	post, err := NewMPSC[func()](cfg.PostQueue)
	if err != nil {
		return nil, fmt.Errorf("sched: post ring: %w", err)
	}
	now := Now()
	l := &Loop{
		cfg: cfg, tcpCfg: cfg.TCP, handler: h, queue: queue,
		umem: umem, sock: sock, frameSize: umem.FrameSize(),
		pool:       umem.NewPool(0, umem.FrameCount()),
		txq:        make([]afxdp.Desc, 0, 4*maxBatch),
		compBudget: 4 * maxBatch,
		slab:       NewSlab[Conn](),
		wheel:      NewTimerWheel(int64(now), cfg.SizeHint),
		dirty:      make([]uint32, 0, 64),
		post:       post,
		done:       make(chan struct{}),
		now:        now,
	}
	// The table keeps no keys: each Conn holds its own (newConn inserts
	// after setting it, free deletes before the slab zeroes it).
	l.conns = NewConnTableKeyOf(cfg.SizeHint, l.connKey)
	if cfg.TimeWaitMax >= 0 {
		if l.tw, err = timewait.New(timewait.Config{MSL: cfg.TCP.MSL, Max: cfg.TimeWaitMax}); err != nil {
			post.Close()
			return nil, fmt.Errorf("sched: TIME-WAIT table: %w", err)
		}
	}
	if cfg.loss > 0 {
		l.lossRand = rand.New(rand.NewPCG(uint64(queue), 0x5eed))
	}
	l.tapp = &l.ownTap
	l.tcpCfg6 = familyConfig(cfg.TCP, cfg.MTU, true)
	l.tcpCfg = familyConfig(cfg.TCP, cfg.MTU, false)
	l.fillSpare = int(umem.FrameCount()) / 4
	l.fire = l.onTimer
	l.armTick()
	l.fds[1] = unix.PollFd{Fd: int32(post.Fd()), Events: unix.POLLIN}
	if sock != nil {
		l.fds[0] = unix.PollFd{Fd: int32(sock.Fd()), Events: unix.POLLIN}
	}
	// Fill now, not in Run: a frame the program steers before the loop's
	// thread starts must find a buffer, or the kernel drops it (a lost SYN
	// costs the client a 1 s retransmission).
	l.refill()
	return l, nil
}

// connKey is the connection table's KeyOf: the key of the Conn at slab
// index v.
func (l *Loop) connKey(v uint32) *ConnKey {
	if c := l.slab.Get(v); c != nil {
		return &c.key
	}
	return nil
}

// lost reports whether the loss hook takes this frame.
func (l *Loop) lost() bool {
	if l.lossRand == nil || l.lossRand.Float64() >= l.cfg.loss {
		return false
	}
	l.st.Lost++
	return true
}

// Thread is the loop's OS thread id (0 before Run), e.g. to read its CPU
// time or affinity from /proc.
func (l *Loop) Thread() int { return int(l.tid.Load()) }

// Core is the CPU the loop's thread is pinned to (-1: not pinned).
func (l *Loop) Core() int { return l.cfg.Core }

// Queue is the NIC queue the loop serves.
func (l *Loop) Queue() int { return l.queue }

// Listen makes the loop accept connections to ap (an unspecified address
// matches every local address of its family; the zero Addr matches both,
// as one listener per family, each with its family's MSS). Call it before
// Run, or from the loop's thread.
func (l *Loop) Listen(ap netip.AddrPort) {
	if !ap.Addr().IsValid() {
		l.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port()))
		l.Listen(netip.AddrPortFrom(netip.IPv6Unspecified(), ap.Port()))
		return
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	for _, e := range l.listeners {
		if e.ap == ap {
			return
		}
	}
	lst := tcp.NewListener(l.configFor(ap.Addr()), l)
	lst.Pool = l.takeTCB
	l.listeners = append(l.listeners, listenEntry{ap, lst})
}

// takeTCB hands a listener a recycled TCB (nil: allocate).
func (l *Loop) takeTCB() *tcp.TCB {
	n := len(l.tcbFree)
	if n == 0 {
		return nil
	}
	t := l.tcbFree[n-1]
	l.tcbFree[n-1] = nil
	l.tcbFree = l.tcbFree[:n-1]
	return t
}

// listener returns the listener for a segment to dst:port: an exact
// address first, then the family's wildcard, then the any-family one.
func (l *Loop) listener(dst netip.Addr, port uint16) *tcp.Listener {
	var wild *tcp.Listener
	for i := range l.listeners {
		e := &l.listeners[i]
		if e.ap.Port() != port {
			continue
		}
		a := e.ap.Addr()
		switch {
		case a == dst:
			return e.lst
		case !a.IsValid(), a.IsUnspecified() && a.Is4() == dst.Is4():
			wild = e.lst
		}
	}
	return wild
}

// Post runs fn on the loop's thread at its next iteration (it wakes a
// sleeping loop). It fails with ErrPostFull when the ring is full (counted)
// and ErrLoopClosed once the loop is stopping. Safe from any goroutine.
func (l *Loop) Post(fn func()) error {
	if l.stop.Load() {
		return ErrLoopClosed
	}
	if !l.post.TryPush(fn) {
		if l.stop.Load() {
			return ErrLoopClosed
		}
		l.postFull.Add(1)
		return ErrPostFull
	}
	return nil
}

// ErrPostFull: the loop's MPSC ring has no room; retry later.
var ErrPostFull = errors.New("sched: loop's post queue is full")

// Conn returns the live connection ref names, or nil. Loop thread only
// (from a callback or a posted function).
func (l *Loop) Conn(ref ConnRef) *Conn {
	c := l.slab.Get(ref.Idx)
	if c == nil || c.gen != ref.Gen {
		return nil
	}
	return c
}

// Stop asks the loop to stop; Run then aborts the remaining connections
// (OnClose with ErrLoopClosed, a RST to each peer) and returns. Safe from
// any goroutine; idempotent.
func (l *Loop) Stop() {
	if l.stop.Swap(true) {
		return
	}
	// An empty item wakes a sleeping loop; if the ring is full the loop
	// is busy and sees the flag anyway.
	l.post.TryPush(func() {})
}

// Done is closed when Run has returned.
func (l *Loop) Done() <-chan struct{} { return l.done }

// Run is the loop. It locks the calling goroutine to its OS thread, pins
// the thread to cfg.Core, and iterates until Stop. The thread is never
// unlocked: a pinned thread must not go back to the Go scheduler's pool,
// so it exits with the goroutine.
func (l *Loop) Run() error {
	if l.running.Swap(true) {
		return errors.New("sched: Loop.Run called twice")
	}
	defer func() {
		l.own.Store(0) // the token may name another goroutine once this one exits
		l.finished.Store(true)
		close(l.done)
	}()
	runtime.LockOSThread()
	l.tid.Store(int32(unix.Gettid()))
	l.own.Store(owner())
	if c := l.cfg.Core; c >= 0 {
		var set unix.CPUSet
		set.Set(c)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			l.err = fmt.Errorf("sched: pin loop %d to CPU %d: %w", l.queue, c, err)
			l.stop.Store(true)
			l.shutdown()
			return l.err
		}
	}
	l.now = Now()
	l.refill()
	lastBusy := l.now
	sp := spinner{score: 1}
	for !l.stop.Load() {
		prev := l.now
		l.now = Now()
		gap := l.now.Sub(prev) > spinGap
		busy, err := l.iterate()
		if err != nil {
			l.err = err
			break
		}
		if busy {
			sp.found(gap || l.now.Sub(lastBusy) > spinQuick)
			lastBusy = l.now
			continue
		}
		if gap {
			sp.preempted()
		}
		if l.now.Sub(lastBusy) < l.cfg.BusyPoll && sp.spin() {
			continue
		}
		sp.slept()
		if err := l.sleep(); err != nil {
			l.err = err
			break
		}
		lastBusy = Now()
		l.now = lastBusy
	}
	l.shutdown()
	return l.err
}

// spinner decides whether an idle loop busy-polls (up to
// LoopConfig.BusyPoll) or sleeps at once. A spin's time is the loop's
// CPU, so it pays only when it saves a sleep and a wake-up for less than
// they cost: when the next frames come within spinQuick. On the bench's
// fair rig (keep-alive, 64 connections, the server's NAPI thread on the
// loop's core) they came tens of µs apart: the 50 µs spin found them,
// but ran about 100 idle iterations per frame and cost 9 µs of CPU per
// request, 60% more than sleeping at once (0.1 sleeps per request). A
// spin that was preempted (a gap of spinGap between iterations: the
// receive work shares the core, and the spin delays it) does not pay
// either. So a spin that finds frames quickly and unpreempted keeps
// spinning on; a slow, preempted or fruitless one counts against it,
// and at zero the loop sleeps at once, trying a spin again every
// spinProbe idle periods in case the traffic has changed.
type spinner struct {
	score   int8 // > 0: spin; hits raise it (to spinMax), misses lower it
	spun    bool // this idle period has spun
	gap     bool // ... and was preempted during it
	skipped uint16
}

const (
	spinGap   = 5 * time.Microsecond // an idle iteration takes well under 1 µs
	spinQuick = 5 * time.Microsecond // the order of a sleep and wake-up: two context switches and a poll(2)
	spinMax   = 4
	spinProbe = 64
)

// spin reports whether the idle loop keeps polling.
func (s *spinner) spin() bool {
	if s.score <= 0 && !s.spun {
		if s.skipped++; s.skipped < spinProbe {
			return false
		}
		s.skipped, s.score = 0, 1
	}
	s.spun = true
	return true
}

func (s *spinner) preempted() { s.gap = s.gap || s.spun }

// found ends an idle period with work: a hit when the spin saw it
// quickly and without being preempted (slow: the work came after
// spinQuick, or the iteration that found it followed a gap).
func (s *spinner) found(slow bool) {
	if s.spun {
		if slow || s.gap {
			s.score--
		} else {
			s.score = min(s.score+1, spinMax)
		}
	}
	s.spun, s.gap = false, false
}

// slept ends an idle period in sleep: a spin that found nothing missed.
func (s *spinner) slept() {
	if s.spun {
		s.score--
	}
	s.spun, s.gap = false, false
}

// iterate is one round: reap TX completions, a batch of RX, posted work,
// due timers, then one TX flush and the fill ring topped up. It reports
// whether anything happened.
func (l *Loop) iterate() (bool, error) {
	l.st.Iterations++
	n := l.reap()
	n += l.rxBatch()
	n += l.runPosted()
	n += l.fireTimers()
	l.pushDirty()
	if err := l.flush(); err != nil {
		return false, err
	}
	l.refill()
	if l.sock != nil {
		if err := l.sock.WakeupFill(); err != nil {
			return false, err
		}
		if l.sock.Tx().Pending() > 0 {
			n++ // the kernel still has frames to take: keep kicking
		}
		// With preferred busy polling the queue's NAPI poll runs in
		// the loop's own syscalls (the interrupt path stays deferred
		// while they come): one per iteration, the TX kick's if it
		// made one, else a recvfrom. Frames it brought in are the
		// next iteration's work.
		if l.sock.BusyPolling() {
			rx, err := l.sock.BusyPoll()
			if err != nil {
				return false, err
			}
			if rx {
				n++
			}
		}
	}
	return n > 0, nil
}

// sleep waits in poll(2) on the XSK fd (RX, and the fill-ring wakeup) and
// the MPSC eventfd, for at most the time to the next timer.
func (l *Loop) sleep() error {
	if !l.post.PrepareSleep() {
		return nil
	}
	next := tcp.Never
	if d, ok := l.wheel.NextDeadline(); ok {
		next = tcp.Instant(d)
	}
	if l.tw != nil && l.tw.Len() > 0 {
		next = min(next, l.tw.NextDeadline())
	}
	if len(l.twDials) > 0 {
		next = min(next, l.twDials[0].until)
	}
	timeout := -1
	if next != tcp.Never {
		ms := (int64(next) - int64(Now()) + int64(time.Millisecond) - 1) / int64(time.Millisecond)
		timeout = int(max(0, min(ms, 1<<30)))
	}
	fds := l.fds[:]
	if l.sock == nil {
		fds = l.fds[1:]
	}
	l.st.Sleeps++
	var err error
	for {
		_, err = unix.Poll(fds, timeout)
		if err != unix.EINTR {
			break
		}
	}
	l.post.EndSleep()
	if l.fds[1].Revents&unix.POLLIN != 0 {
		l.post.DrainWakeups()
	}
	if err != nil {
		return fmt.Errorf("sched: poll: %w", err)
	}
	return nil
}

// runPosted runs work other goroutines posted.
func (l *Loop) runPosted() int {
	n := l.post.PopBatch(l.posted[:])
	for i := range n {
		fn := l.posted[i]
		l.posted[i] = nil
		fn()
		l.settle()
	}
	l.st.Posted += uint64(n)
	return n
}

// shutdown ends every connection still in the table: OnClose with
// ErrLoopClosed for the application, a RST for the peer (RFC 9293
// §3.10.5), then frees it; the RSTs are flushed once.
func (l *Loop) shutdown() {
	var idxs []uint32
	l.conns.Range(func(_ ConnKey, v uint32) bool { idxs = append(idxs, v); return true })
	l.now = Now()
	for _, i := range idxs {
		c := l.slab.Get(i)
		if c == nil {
			continue
		}
		l.finish(c, ErrLoopClosed)
		prev := l.enter(c)
		c.tcb.Abort(l.now)
		l.leave(prev)
		c.tcb.Events()
		l.free(c)
	}
	l.dirty = l.dirty[:0]
	for _, d := range l.twDials {
		l.releaseDial(d.res)
	}
	l.twDials = nil
	l.flush()
	for range 8 { // give the kernel a few kicks for the RSTs
		if l.sock == nil || l.sock.Tx().Pending() == 0 {
			break
		}
		l.sock.WakeupTx()
	}
	l.post.Close()
	// Work posted before the ring closed is dropped: its goroutines were
	// told (Post returns ErrLoopClosed from now on).
	for {
		if _, ok := l.post.Pop(); !ok {
			break
		}
	}
}

func (l *Loop) enter(c *Conn) *Conn { prev := l.cur; l.cur = c; return prev }
func (l *Loop) leave(prev *Conn)    { l.cur = prev }

// configFor is the TCP configuration for connections of a's family.
func (l *Loop) configFor(a netip.Addr) *tcp.Config {
	if a.Unmap().Is4() {
		return l.tcpCfg
	}
	return l.tcpCfg6
}
