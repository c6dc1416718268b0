package sched

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/afxdp"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/chunk"
	"github.com/sluicenet/sluice/tcp/timewait"
	"github.com/sluicenet/sluice/wire"
)

// counters are the loop's own counts: plain fields written by the loop
// thread only (no atomics on the hot path); Stats copies them on that
// thread.
type counters struct {
	Iterations, Sleeps, Posted               uint64
	RxFrames, RxBytes, RxSegments, RxText    uint64
	Drops                                    [wire.NumDropReasons]uint64
	BadDescs                                 uint64
	NoConn                                   uint64
	TxFrames, TxBytes, TxSegments, TxText    uint64
	TxRingFull, TxNoFrame, TxDropped         uint64
	TxNoRoute, TxBuildErrors                 uint64
	TimersFired                              uint64
	Created, Established, Closed, Freed      uint64
	Entered                                  [tcp.TimeWait + 1]uint64
	TimeWaitFreed                            uint64
	TimeWaitMinHeld                          time.Duration
	ForwardedOut, ForwardedIn, ForwardFailed uint64
	Lost                                     uint64
	Refused, LimitDrops                      uint64
	Retransmits, RetransmitText              uint64
	Dialed, DialFailed                       uint64
	FlowErrors                               uint64
}

// Stats is a snapshot of one loop.
type Stats struct {
	Queue int

	Iterations uint64 // loop rounds
	Sleeps     uint64 // times the loop slept in poll(2)
	Posted     uint64 // functions run from the MPSC ring
	PostFull   uint64 // Post calls refused: ring full

	RxFrames, RxBytes uint64 // frames taken off the RX ring
	RxSegments        uint64 // frames that parsed as TCP segments
	RxText            uint64 // octets delivered to the handler
	// Drops counts frames ParseFrame rejected, by wire.DropReason.
	Drops    [wire.NumDropReasons]uint64
	BadDescs uint64 // RX descriptors outside the UMEM
	// PartialChecksums counts TCP segments accepted with a partial
	// checksum (wire.AcceptPartialChecksum: a veth peer's TX checksum
	// offload); on other devices they are Drops[wire.DropPartialChecksum].
	PartialChecksums uint64
	// ForwardedOut counts segments this loop had no connection for and
	// passed to the next loop (a flow that changed queues), ForwardedIn
	// those it got from another loop (not in RxFrames), ForwardFailed
	// those it could not pass on (the next loop's ring was full).
	ForwardedOut, ForwardedIn, ForwardFailed uint64
	NoConn                                   uint64 // segments to no connection and no listener (answered by RST)
	Lost                                     uint64 // frames the test loss hook dropped

	TxFrames, TxBytes uint64 // frames handed to the TX ring
	TxSegments        uint64 // segments built
	TxText            uint64 // octets of segment text sent (retransmissions included)
	TxRingFull        uint64 // flushes that found the TX ring full
	TxNoFrame         uint64 // segments lost for want of a free UMEM frame
	TxDropped         uint64 // segments lost with the TX ring and staging full
	TxNoRoute         uint64 // segments with no flow to address them to (a bug if non-zero)
	TxBuildErrors     uint64 // segments wire could not encode

	TimersFired uint64
	Timers      int // armed wheel timers

	// Connections: Created by listeners, Established (OnOpen), Closed
	// (OnClose) and Freed; Conns is how many are in the table now, by
	// RFC 9293 state in ByState.
	Created, Established, Closed, Freed uint64
	Conns                               int
	ByState                             [tcp.TimeWait + 1]int
	// Entered counts connections seen entering each state (sampled after
	// each engine call, so a state passed through within one call, e.g.
	// FIN-WAIT-1 when the FIN is acknowledged at once, may be missed).
	Entered [tcp.TimeWait + 1]uint64
	// TimeWaitFreed counts TCBs freed at the end of a TIME-WAIT they
	// served themselves (the compact table full or off), and
	// TimeWaitMinHeld is the shortest time one spent there (2*MSL or a
	// little more, never less).
	TimeWaitFreed   uint64
	TimeWaitMinHeld time.Duration
	// TimeWait is how many 4-tuples the compact TIME-WAIT table holds
	// (also counted in ByState[tcp.TimeWait], not in Conns); TimeWaitTable
	// are its counters.
	TimeWait      int
	TimeWaitTable timewait.Stats
	// SynQueue and AcceptQueue sum the listeners' queues.
	SynQueue, AcceptQueue int
	ListenerDrops         uint64
	// SynCookiesSent counts SYN-ACKs carrying a SYN cookie (RFC 4987: the
	// SYN queue was full), SynCookiesValidated the ACKs whose cookie
	// checked and made a connection.
	SynCookiesSent, SynCookiesValidated uint64
	// Open is how many connections have not had their OnClose yet
	// (handshaking, open, closing; not those in TIME-WAIT): what a
	// graceful shutdown waits for (Group.Conns).
	Open int
	// Refused counts segments to a listened address answered with a RST
	// because the loop stopped accepting (Group.StopAccepting);
	// LimitDrops the segments dropped at LoopConfig.MaxConns.
	Refused, LimitDrops uint64
	// Retransmits counts segments sent again over sequence space already
	// sent (RTO, SYN and SYN-ACK retries, fast retransmit), and
	// RetransmitText their text octets (also in TxText).
	Retransmits, RetransmitText uint64
	// Dialed counts active opens started (Group.Dial), DialFailed those
	// that ended before ESTABLISHED (refused, timed out, aborted).
	Dialed, DialFailed uint64
	// FlowErrors counts XDP flow entries the program failed to remove
	// (they stay until the program closes).
	FlowErrors uint64

	// TCP sums the engine's per-connection counters (tcp.Stats: RTO
	// expiries, fast retransmits, SACK recoveries, TLP, undos, D-SACKs,
	// PMTU updates...) over the loop's connections, live and freed.
	// (Retransmits above is measured at the sink and also counts SYN,
	// SYN-ACK and FIN retransmissions; TCP.Retransmits is the engine's.)
	TCP tcp.Stats

	// Pool sums the loop's buffer chunk pools (one per address family,
	// tcp/chunk): chunks held by connections' queues, cached, reserved
	// from the server's budget, and the Gets the budget refused or was
	// forced past. Connections' own memory counters (TCP.MemDropped,
	// TCP.OOOPruned) are in TCP.
	Pool chunk.PoolStats

	// CPUTime is the loop thread's CPU time (CLOCK_THREAD_CPUTIME_ID),
	// when the snapshot ran on the loop's thread (0 otherwise).
	CPUTime time.Duration

	FreeFrames int         // UMEM frames in the loop's pool
	XSK        afxdp.Stats // the socket's kernel counters (zero without a device)
	XSKErr     error       // why XSK could not be read
}

// DroppedFrames returns the sum of Drops.
func (s *Stats) DroppedFrames() uint64 {
	var n uint64
	for _, d := range s.Drops {
		n += d
	}
	return n
}

// snapshot builds Stats on the loop's thread (or after it stopped).
// snapshot reads the loop's counters. walk also visits every connection
// in the table (the engine's counters, summed, and ByState): O(open
// connections), so a periodic reader that needs only the loop's own
// counters (Counters) leaves it out.
func (l *Loop) snapshot(walk bool) Stats {
	c := &l.st
	s := Stats{
		Queue: l.queue, Iterations: c.Iterations, Sleeps: c.Sleeps, Posted: c.Posted,
		PostFull: l.postFull.Load(),
		RxFrames: c.RxFrames, RxBytes: c.RxBytes, RxSegments: c.RxSegments, RxText: c.RxText,
		Drops: c.Drops, BadDescs: c.BadDescs, NoConn: c.NoConn, PartialChecksums: l.batch.partial,
		ForwardedOut: c.ForwardedOut, ForwardedIn: c.ForwardedIn, ForwardFailed: c.ForwardFailed, Lost: c.Lost,
		TxFrames: c.TxFrames, TxBytes: c.TxBytes, TxSegments: c.TxSegments, TxText: c.TxText,
		TxRingFull: c.TxRingFull, TxNoFrame: c.TxNoFrame, TxDropped: c.TxDropped,
		TxNoRoute: c.TxNoRoute, TxBuildErrors: c.TxBuildErrors,
		TimersFired: c.TimersFired, Timers: l.wheel.Len(),
		Created: c.Created, Established: c.Established, Closed: c.Closed, Freed: c.Freed,
		Conns:   l.conns.Len(),
		Entered: c.Entered, TimeWaitFreed: c.TimeWaitFreed, TimeWaitMinHeld: c.TimeWaitMinHeld,
		FreeFrames: l.pool.Len(),
		Open:       l.open,
		Refused:    c.Refused, LimitDrops: c.LimitDrops,
		Retransmits: c.Retransmits, RetransmitText: c.RetransmitText,
		Dialed: c.Dialed, DialFailed: c.DialFailed, FlowErrors: c.FlowErrors,
	}
	s.TCP = l.tcpDone
	s.Pool = l.tcpCfg.Pool.Stats()
	if p := l.tcpCfg6.Pool; p != l.tcpCfg.Pool {
		addPool(&s.Pool, p.Stats())
	}
	if walk {
		l.conns.Range(func(_ ConnKey, v uint32) bool {
			if cn := l.slab.Get(v); cn != nil {
				s.TCP.Add(cn.tcb.Stats())
				if st := cn.tcb.State(); int(st) < len(s.ByState) {
					s.ByState[st]++
				}
			}
			return true
		})
	}
	if l.tw != nil {
		s.TimeWait = l.tw.Len()
		s.ByState[tcp.TimeWait] += s.TimeWait
		s.TimeWaitTable = l.tw.Stats()
	}
	for _, e := range l.listeners {
		syn, acc := e.lst.Pending()
		s.SynQueue += syn
		s.AcceptQueue += acc
		s.ListenerDrops += e.lst.Drops
		s.SynCookiesSent += e.lst.CookiesSent
		s.SynCookiesValidated += e.lst.CookiesAccepted
	}
	if l.running.Load() && !l.finished.Load() && l.onThread() {
		var ts unix.Timespec
		if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) == nil {
			s.CPUTime = time.Duration(ts.Nano())
		}
	}
	if l.sock != nil && !l.finished.Load() {
		s.XSK, s.XSKErr = l.sock.Stats()
	}
	return s
}

// addPool adds o's counts to s.
func addPool(s *chunk.PoolStats, o chunk.PoolStats) {
	s.InUse += o.InUse
	s.Cached += o.Cached
	s.Retired += o.Retired
	s.Reserved += o.Reserved
	s.Allocated += o.Allocated
	s.Refused += o.Refused
	s.Forced += o.Forced
}

// BindMode is how the loop's AF_XDP socket was bound, as the kernel
// reports it (XDP_OPTIONS): zero-copy or copy; afxdp.ModeAuto for a loop
// without a device.
func (l *Loop) BindMode() afxdp.Mode {
	if l.sock == nil {
		return afxdp.ModeAuto
	}
	return l.sock.Mode()
}

// onThread reports whether the caller is the loop itself (a callback or a
// posted function): its goroutine's owner token, recorded by Run, so the
// group operations that ask (Stats, onEach, ListConns, Dial) make no
// system call to tell.
func (l *Loop) onThread() bool { return l.own.Load() == owner() }

// Stats returns a snapshot of the loop's counters, taken on the loop's
// thread (so the loop itself needs no atomics): it posts a request and
// waits for it, up to timeout. On a loop that was never started (not run
// and not launched by a Group, whose goroutine may not have reached Run
// yet) or has stopped it reads the counters directly, and so it does when
// called on the loop's own thread (from a callback). Safe from any
// goroutine.
func (l *Loop) Stats(timeout time.Duration) (Stats, error) { return l.stats(timeout, true) }

// Counters is Stats without the walk over the connections: TCP holds
// only what freed connections left, ByState only the TIME-WAIT table,
// and the cost does not grow with the table. For periodic readers such
// as the drop watcher, which a million idle connections would otherwise
// stall for seconds at a time.
func (l *Loop) Counters(timeout time.Duration) (Stats, error) { return l.stats(timeout, false) }

func (l *Loop) stats(timeout time.Duration, walk bool) (Stats, error) {
	if l.onThread() {
		return l.snapshot(walk), nil // from a callback: waiting on ourselves would deadlock
	}
	if !l.running.Load() && !l.launched.Load() || l.finished.Load() {
		select {
		case <-l.done:
			return l.snapshot(walk), nil
		default:
		}
		if !l.running.Load() && !l.launched.Load() {
			return l.snapshot(walk), nil
		}
	}
	ch := make(chan Stats, 1)
	if err := l.Post(func() { ch <- l.snapshot(walk) }); err != nil {
		if errors.Is(err, ErrLoopClosed) {
			<-l.done
			return l.snapshot(walk), nil
		}
		return Stats{}, err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case s := <-ch:
		return s, nil
	case <-l.done:
		select {
		case s := <-ch:
			return s, nil
		default:
			return l.snapshot(walk), nil
		}
	case <-t.C:
		return Stats{}, errors.New("sched: loop did not answer the stats request in time")
	}
}
