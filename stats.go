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
