package sluice

import (
	"net"
	"net/netip"
	"time"

	"github.com/sluicenet/sluice/sched"
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
	// Bind is the AF_XDP bind mode the kernel reports for the loops'
	// sockets: "zero-copy", "copy", or "mixed" when they differ.
	Bind       string
	FrameSize  int
	FrameCount int
	// TimeWaitMax is the server's bound on TIME-WAIT entries
	// (Config.TimeWaitMax: each loop's share times the loops).
	TimeWaitMax int
	Listen      []netip.AddrPort
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
	// TimeWaitOverflow counts connections closed without TIME-WAIT
	// because their loop held its share of Config.TimeWaitMax (Linux's
	// TCPTimeWaitOverflow): the loops' TimeWaitTable.RefusedFull summed.
	TimeWaitOverflow uint64
}

// MemoryStats is the server's buffer memory (Config.MemoryLimit): the
// budget's levels and use, the loops' chunk pools summed, and the
// connections' memory counters summed over every connection, open or
// closed (Linux's tcp_mem, sockstat's "mem" and nstat's TCPRcvQDrop and
// OfoPruned). Stats.Memory builds it.
type MemoryStats struct {
	// Limit, Pressure and Low are the budget's levels in octets (tcp_mem's
	// high, pressure and low; all 0 when there is no limit); Used is what
	// the loops have reserved from it now (chunks in use plus each loop's
	// reserve ahead), Peak the most ever.
	Limit, Pressure, Low, Used, Peak int64
	// UnderPressure: Used passed Pressure and has not fallen below Low
	// since; PressureEntered counts the times it did.
	UnderPressure   bool
	PressureEntered uint64
	// Refused counts the budget's reservations refused at Limit; Forced
	// those granted past it (a connection's first chunk each way, or text
	// already accepted).
	Refused, Forced uint64
	// Chunks (4 KiB each) held by connections' queues, cached for reuse,
	// consumed and awaiting reuse, and reserved from the budget unused;
	// ChunksAllocated counts those taken from the Go heap.
	ChunksInUse, ChunksCached, ChunksRetired, ChunksReserved int
	ChunksAllocated                                          uint64
	// ChunksRefused counts chunk requests the budget refused (a buffer
	// stopped growing), ChunksForced those granted past the limit.
	ChunksRefused, ChunksForced uint64
	// MemDropped counts arriving segments (or their tails) not stored
	// because a chunk was refused; OOOPruned counts octets of
	// out-of-order text dropped to make room for in-order text.
	MemDropped, OOOPruned uint64
}

// Memory sums the loops' memory counters and adds the budget's.
func (s *Stats) Memory() MemoryStats {
	b := &s.Budget
	m := MemoryStats{
		Limit: b.High, Pressure: b.Pressure, Low: b.Low, Used: b.Used, Peak: b.Peak,
		UnderPressure: b.UnderPressure, PressureEntered: b.PressureEntered,
		Refused: b.Refused, Forced: b.Forced,
	}
	for i := range s.Loops {
		l := &s.Loops[i]
		p := &l.Pool
		m.ChunksInUse += p.InUse
		m.ChunksCached += p.Cached
		m.ChunksRetired += p.Retired
		m.ChunksReserved += p.Reserved
		m.ChunksAllocated += p.Allocated
		m.ChunksRefused += p.Refused
		m.ChunksForced += p.Forced
		m.MemDropped += l.TCP.MemDropped
		m.OOOPruned += l.TCP.OOOPruned
	}
	return m
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
func (s *Server) Stats() (Stats, error) { return s.stats(true) }

// counters is Stats without the walk over every connection (Stats.TCP
// then holds only what freed connections left): for the periodic drop
// check, whose reasons are all loop counters.
func (s *Server) counters() (Stats, error) { return s.stats(false) }

func (s *Server) stats(walk bool) (Stats, error) {
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
	read := g.Stats
	if !walk {
		read = g.Counters
	}
	gs, err := read()
	st.GroupStats = gs
	for i := range gs.Loops {
		st.TimeWaitOverflow += gs.Loops[i].TimeWaitTable.RefusedFull
	}
	return st, err
}

// ConnInfo describes one open connection, as `ss -tin` would. It has
// sched.ConnInfo's fields (the loops fill that in), so one converts to the
// other.
type ConnInfo struct {
	Loop   int            `json:"loop"` // the loop (and NIC queue) that owns it
	State  string         `json:"state"`
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`
	// RecvQ is received data not yet delivered; SendQ data written and
	// not yet acknowledged (in the TCP send buffer plus what Write holds
	// beyond it).
	RecvQ       int           `json:"recv_q"`
	SendQ       int           `json:"send_q"`
	RTO         time.Duration `json:"rto"`  // RFC 6298
	SRTT        time.Duration `json:"srtt"` // 0 before the first sample
	Cwnd        uint32        `json:"cwnd"` // congestion window, octets
	Retransmits uint64        `json:"retransmits"`
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
	list, err := g.ListConns(limit)
	out := make([]ConnInfo, len(list))
	for i := range list {
		out[i] = ConnInfo(list[i])
	}
	return out, err
}
