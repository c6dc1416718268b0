package sched

import (
	"errors"
	"fmt"
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
	RecvQ       int
	SendQ       int
	RTO         time.Duration // RFC 6298
	SRTT        time.Duration // 0 before the first sample
	Cwnd        uint32        // congestion window, octets
	Retransmits uint64
}

// listTimeout bounds how long ListConns waits for one loop: a loop whose
// callback blocks answers no posted work.
const listTimeout = 5 * time.Second

// ListConns lists up to limit (<= 0: all) of the group's open
// connections (OnOpen called, OnClose not yet), ordered by loop, then
// local and remote address (netip order: 10.0.0.9 before 10.0.0.10). Each
// loop makes its part of the list on its own thread, between iterations;
// a stopped loop has none. From a loop's own thread it fails (waiting for
// the other loops could deadlock).
func (g *Group) ListConns(limit int) ([]ConnInfo, error) {
	if g.onLoopThread() {
		return nil, errors.New("sched: ListConns called from a loop")
	}
	var out []ConnInfo
	for _, l := range g.loops {
		ch := make(chan []ConnInfo, 1)
		if err := postRetry(l, func() { ch <- l.listConns() }); err != nil {
			if errors.Is(err, ErrLoopClosed) {
				continue
			}
			return out, fmt.Errorf("sched: loop %d: %w", l.queue, err)
		}
		t := time.NewTimer(listTimeout)
		select {
		case part := <-ch:
			out = append(out, part...)
		case <-l.done:
		case <-t.C:
			return out, fmt.Errorf("sched: loop %d did not answer the connection listing in %v", l.queue, listTimeout)
		}
		t.Stop()
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

// listConns describes the loop's open connections. Loop thread only.
func (l *Loop) listConns() []ConnInfo {
	var out []ConnInfo
	l.eachOpen(func(c *Conn) {
		if !c.opened {
			return // still handshaking: counted in Stats.States, not listed
		}
		t := c.tcb
		v := t.Vars()
		cg := t.Congestion()
		out = append(out, ConnInfo{
			Loop: l.queue, State: c.State().String(),
			Local: c.LocalAddr(), Remote: c.RemoteAddr(),
			RecvQ: v.RecvQueued, SendQ: v.SendQueued + c.Buffered(),
			RTO: v.RTO, SRTT: time.Duration(cg.SRTT), Cwnd: cg.Cwnd,
			Retransmits: t.Stats().Retransmits,
		})
	})
	return out
}
