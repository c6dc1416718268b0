package metrics

import (
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/sluicenet/sluice/sched"
)

// ConnInfo is one connection as `ss -tan` shows it.
type ConnInfo struct {
	Queue  int    `json:"queue"`
	State  string `json:"state"`
	Local  string `json:"local"`
	Remote string `json:"remote"`
	// RecvQ is received text not yet consumed, SendQ text written but not
	// yet acknowledged (queued in the TCB plus what Write holds back).
	RecvQ int `json:"recv_q"`
	SendQ int `json:"send_q"`
	// RTO is the retransmission timeout in milliseconds (RFC 6298).
	RTOms int64 `json:"rto_ms"`
}

// Tracker wraps a sched.Handler to remember each loop's open connections
// (from OnOpen to OnClose), so a snapshot can list them the way `ss -tan`
// does. It costs one map entry per open connection (tens of octets), so it
// is opt-in; counts by state need no Tracker. Connections still in
// SYN-RECEIVED (no OnOpen yet) are counted in the states, not listed.
type Tracker struct {
	sched.Handler
	loops sync.Map // queue -> *loopConns
}

// loopConns is touched only on its loop's thread (callbacks and posted
// functions of one loop run one at a time), so it needs no lock.
type loopConns struct {
	refs map[sched.ConnRef]struct{}
}

// Track wraps h.
func Track(h sched.Handler) *Tracker { return &Tracker{Handler: h} }

func (t *Tracker) of(q int) *loopConns {
	if v, ok := t.loops.Load(q); ok {
		return v.(*loopConns)
	}
	v, _ := t.loops.LoadOrStore(q, &loopConns{refs: map[sched.ConnRef]struct{}{}})
	return v.(*loopConns)
}

// OnOpen records c, then calls the wrapped handler.
func (t *Tracker) OnOpen(c *sched.Conn) {
	t.of(c.Loop().Queue()).refs[c.Ref()] = struct{}{}
	t.Handler.OnOpen(c)
}

// OnClose forgets c, then calls the wrapped handler.
func (t *Tracker) OnClose(c *sched.Conn, err error) {
	delete(t.of(c.Loop().Queue()).refs, c.Ref())
	t.Handler.OnClose(c, err)
}

// OnWritable forwards to the wrapped handler when it has one.
func (t *Tracker) OnWritable(c *sched.Conn) {
	if w, ok := t.Handler.(sched.WritableHandler); ok {
		w.OnWritable(c)
	}
}

// Conns lists up to limit connections of g's loops (limit <= 0: all),
// sorted by queue, then local and remote address. Each loop is read on its
// own thread.
func (t *Tracker) Conns(g *sched.Group, limit int) ([]ConnInfo, error) {
	var out []ConnInfo
	for _, l := range g.Loops() {
		if limit > 0 && len(out) >= limit {
			break
		}
		room := 0
		if limit > 0 {
			room = limit - len(out)
		}
		ch := make(chan []ConnInfo, 1)
		if err := l.Post(func() { ch <- t.list(l, room) }); err != nil {
			if errors.Is(err, sched.ErrLoopClosed) {
				continue
			}
			return out, err
		}
		select {
		case cs := <-ch:
			out = append(out, cs...)
		case <-l.Done():
		case <-time.After(5 * time.Second):
			return out, errors.New("metrics: loop did not answer the connection listing in time")
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if a.Queue != b.Queue {
			return a.Queue < b.Queue
		}
		if a.Local != b.Local {
			return a.Local < b.Local
		}
		return a.Remote < b.Remote
	})
	return out, nil
}

// list runs on l's thread.
func (t *Tracker) list(l *sched.Loop, limit int) []ConnInfo {
	lc := t.of(l.Queue())
	var out []ConnInfo
	for ref := range lc.refs {
		if limit > 0 && len(out) >= limit {
			break
		}
		c := l.Conn(ref)
		if c == nil {
			delete(lc.refs, ref) // freed without an OnClose we saw
			continue
		}
		v := c.TCB().Vars()
		out = append(out, ConnInfo{
			Queue: l.Queue(), State: c.State().String(),
			Local: c.LocalAddr().String(), Remote: c.RemoteAddr().String(),
			RecvQ: v.RecvQueued, SendQ: v.SendQueued + c.Buffered(),
			RTOms: v.RTO.Milliseconds(),
		})
	}
	return out
}
