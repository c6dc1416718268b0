package sluice

import (
	"errors"
	"net"
	"net/netip"
	"sort"
	"time"
)

// Info is what Start chose, also logged at start-up.
type Info struct {
	Interface string
	Ifindex   int
	Driver    string // e.g. "veth", "ice"
	MTU       int
	MSS       int    // the MSS advertised in SYN-ACKs
	Queues    int    // RX queues of the device
	Loops     int    // event loops, one per queue 0..Loops-1
	Cores     []int  // the CPU each loop is pinned to (-1: unpinned)
	XDPMode   string // "driver" or "generic"
	// Bind is the AF_XDP bind mode: "zero-copy", "copy", or "auto"
	// when the kernel chose and did not say.
	Bind       string
	FrameSize  int
	FrameCount int
	Listen     []netip.AddrPort
}

// Stats is a snapshot of the server: every loop's counters and the XDP
// program's (sched.GroupStats), and the API's own.
type Stats struct {
	sched.GroupStats
	// Conns is the number of open connections.
	Conns int64
	// LimitResets counts connections reset because Config.MaxConns was
	// reached server-wide (the loops' own drops at their share are
	// Loops[i].LimitDrops); ShutdownLate those whose handshake completed
	// during Shutdown (closed at once).
	LimitResets, ShutdownLate uint64
}

// Info reports what Start chose (zero before Start).
func (s *Server) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.info
	i.Cores = append([]int(nil), i.Cores...)
	i.Listen = append([]netip.AddrPort(nil), i.Listen...)
	return i
}

// Stats snapshots every loop (posted to each, so it waits for them) and
// the program counters.
func (s *Server) Stats() (Stats, error) {
	s.mu.Lock()
	g := s.g
	if s.state != stateRunning {
		g = nil
	}
	s.mu.Unlock()
	st := Stats{Conns: s.conns.Load(), LimitResets: s.limitDrops.Load(), ShutdownLate: s.drainLate.Load()}
	if g == nil {
		return st, net.ErrClosed
	}
	gs, err := g.Stats()
	st.GroupStats = gs
	return st, err
}

// ConnInfo describes one open connection, as `ss -tin` would.
type ConnInfo struct {
	Loop   int // the loop (and NIC queue) that owns it
	State  string
	Local  netip.AddrPort
	Remote netip.AddrPort
	// RecvQ is received data not yet delivered; SendQ data written and
	// not yet acknowledged (in the TCP send buffer plus what Write holds
	// beyond it).
	RecvQ, SendQ int
	RTO          time.Duration // RFC 6298
	SRTT         time.Duration // 0 before the first sample
	Cwnd         uint32        // congestion window, octets
	Retransmits  uint64
}

// Conns lists up to limit (0: all) of the server's open connections,
// ordered by loop, local and remote address. Each loop makes its part of
// the list on its own thread, between iterations.
func (s *Server) Conns(limit int) ([]ConnInfo, error) {
	s.mu.Lock()
	g, state := s.g, s.state
	s.mu.Unlock()
	if state != stateRunning {
		return nil, net.ErrClosed
	}
	var out []ConnInfo
	for i, l := range g.Loops() {
		ls := s.loops[i]
		ch := make(chan []ConnInfo, 1)
		err := postRetry(l, func() {
			var part []ConnInfo
			for _, c := range ls.conns {
				if c.sc == nil || c.sc.TCB() == nil {
					continue
				}
				t := c.sc.TCB()
				v := t.Vars()
				cg := t.Congestion()
				part = append(part, ConnInfo{
					Loop: l.Queue(), State: c.sc.State().String(),
					Local: c.local, Remote: c.remote,
					RecvQ: v.RecvQueued, SendQ: v.SendQueued + c.sc.Buffered(),
					RTO: v.RTO, SRTT: time.Duration(cg.SRTT), Cwnd: cg.Cwnd,
					Retransmits: t.Stats().Retransmits,
				})
			}
			ch <- part
		})
		if errors.Is(err, net.ErrClosed) {
			continue
		}
		if err != nil {
			return out, err
		}
		select {
		case part := <-ch:
			out = append(out, part...)
		case <-l.Done():
		case <-time.After(5 * time.Second):
			return out, errors.New("sluice: a loop did not answer the connection listing in 5s")
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.Loop != b.Loop {
			return a.Loop < b.Loop
		}
		if c := a.Local.Compare(b.Local); c != 0 {
			return c < 0
		}
		return a.Remote.Compare(b.Remote) < 0
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
