package sluice

import (
	"time"

	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/wire"
)

// FixableDrop counts frames or connections dropped for a reason the user
// can remove, and says how. The server logs each (Warn) when its count
// first grows, then at most once per dropWarnEvery; sluicectl drops lists
// them.
type FixableDrop struct {
	Reason string `json:"reason"` // e.g. "partial TCP checksum"
	Count  uint64 `json:"count"`
	Fix    string `json:"fix"` // what to run or change
}

// fixable is one reason: how to count it in Stats and what fixes it.
type fixable struct {
	reason, fix string
	count       func(st *Stats) uint64
}

// fixables are the drop reasons a user can fix. Other drops (bad
// checksums, malformed headers, segments to no connection) are what the
// network sends and are only counted.
var fixables = []fixable{
	{"partial TCP checksum",
		"a peer sends TCP checksums left partial for its device to finish (TX checksum offload on a virtual device, accepted only on veth): on the sending side run `ethtool -K <device> tx off`",
		loopSum(func(l *sched.Stats) uint64 { return l.Drops[wire.DropPartialChecksum] })},
	{"connection limit",
		"new connections were dropped or reset at Config.MaxConns: raise it",
		func(st *Stats) uint64 {
			return st.LimitResets + loopSum(func(l *sched.Stats) uint64 { return l.LimitDrops })(st)
		}},
	{"listen queue full",
		"a listener's SYN or accept queue overflowed: raise Config.SynBacklog or Config.Backlog (or leave SYN cookies on)",
		loopSum(func(l *sched.Stats) uint64 { return l.ListenerDrops })},
	{"no free UMEM frame",
		"segments were lost for want of a free UMEM frame: raise Config.FrameCount",
		loopSum(func(l *sched.Stats) uint64 { return l.TxNoFrame })},
	{"AF_XDP RX ring full",
		"the kernel dropped frames because a loop's RX ring was full: raise Config.FrameCount, or spread the load over more queues and loops (`ethtool -L <device> combined N`, Config.Loops)",
		loopSum(func(l *sched.Stats) uint64 { return l.XSK.RxRingFull })},
	// The kernel counts a frame longer than a UMEM frame in the
	// socket's rx_dropped: in generic XDP mode a peer's GSO super-frame
	// reaches the socket whole.
	{"AF_XDP socket dropped oversized frames",
		"use XDP driver mode, or `ethtool -K <peer> tso off gso off` on the peer",
		loopSum(func(l *sched.Stats) uint64 { return l.XSK.RxDropped })},
}

func loopSum(f func(l *sched.Stats) uint64) func(st *Stats) uint64 {
	return func(st *Stats) uint64 {
		var n uint64
		for i := range st.Loops {
			n += f(&st.Loops[i])
		}
		return n
	}
}

// FixableDrops lists the fixable drop reasons with a non-zero count.
func (st *Stats) FixableDrops() []FixableDrop {
	var out []FixableDrop
	for _, f := range fixables {
		if n := f.count(st); n > 0 {
			out = append(out, FixableDrop{Reason: f.reason, Count: n, Fix: f.fix})
		}
	}
	return out
}

// How often the server looks at its drop counters, and how often at most
// it repeats a warning for one reason.
var (
	dropCheckEvery = 5 * time.Second
	dropWarnEvery  = 10 * time.Minute
)

// dropWatch remembers, per fixable reason, the count last seen and when
// it was last said.
type dropWatch struct {
	seen   map[string]uint64
	warned map[string]time.Time
}

// check returns the reasons whose count grew since the last check and
// that were not said within dropWarnEvery.
func (w *dropWatch) check(st *Stats, now time.Time) []FixableDrop {
	if w.seen == nil {
		w.seen, w.warned = map[string]uint64{}, map[string]time.Time{}
	}
	var out []FixableDrop
	for _, d := range st.FixableDrops() {
		grew := d.Count > w.seen[d.Reason]
		w.seen[d.Reason] = d.Count
		if last, ok := w.warned[d.Reason]; !grew || ok && now.Sub(last) < dropWarnEvery {
			continue
		}
		w.warned[d.Reason] = now
		out = append(out, d)
	}
	return out
}

// watchDrops says in the log what is dropped for a reason the user can
// fix, until the server stops.
func (s *Server) watchDrops() {
	var w dropWatch
	t := time.NewTicker(dropCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case <-t.C:
		}
		st, err := s.counters()
		if err != nil {
			continue
		}
		for _, d := range w.check(&st, time.Now()) {
			s.log.Warn("sluice: dropping: "+d.Reason, "count", d.Count, "fix", d.Fix)
		}
	}
}
