package sluice

import (
	"errors"
	"net"
	"net/netip"
	"sort"
	"time"
)

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
