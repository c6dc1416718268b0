// Package live starts a sluice group on a testbed for the system tests of
// metrics, capture, sluicectl and systest: an echo service that also
// answers an HTTP GET (so curl is a legitimate client). Tests read it
// through metrics.Group(s.Group).
package live

import (
	"bytes"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/testbed"
)

// Port is the port the server listens on (IPv4 and IPv6).
const Port = 7000

// HTTPReply is what the handler answers to a text starting "GET ".
const HTTPReply = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"

// Options shape Start.
type Options struct {
	Queues int
	Loop   sched.LoopConfig // TCP nil: TCPConfig()
	Bed    testbed.Options  // Queues is taken from Queues
	// CloseAfterEcho makes the server close each connection after echoing
	// its first text (the server closes first, so it takes TIME-WAIT).
	CloseAfterEcho bool
}

// Server is a running group on its own testbed.
type Server struct {
	Bed     *testbed.Bed
	Group   *sched.Group
	Handler *Echo
	Addr    netip.AddrPort // IPv4 listen address
	Addr6   netip.AddrPort
}

// TCPConfig is tcp.DefaultConfig with sched's keys (SYN cookies on) and a
// short MSL, so TIME-WAIT ends within a test.
func TCPConfig(tb testing.TB) *tcp.Config {
	c, err := sched.DefaultTCPConfig()
	if err != nil {
		tb.Fatal(err)
	}
	c.MSL = 500 * time.Millisecond
	return c
}

// Start builds a testbed and a group serving Echo on it; both are closed
// by tb's cleanup.
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	if o.Queues <= 0 {
		o.Queues = 1
	}
	o.Bed.Queues = o.Queues
	b := testbed.New(tb, o.Bed)
	if o.Loop.TCP == nil {
		o.Loop.TCP = TCPConfig(tb)
	}
	h := &Echo{CloseAfterEcho: o.CloseAfterEcho}
	s := &Server{Bed: b, Handler: h,
		Addr: netip.AddrPortFrom(b.Server.IPv4, Port), Addr6: netip.AddrPortFrom(b.Server.IPv6, Port)}
	g, err := sched.Start(sched.GroupConfig{
		Ifindex: b.Server.Ifindex,
		Queues:  o.Queues,
		Listen:  []netip.AddrPort{s.Addr, s.Addr6},
		Handler: h,
		Loop:    o.Loop,
		Setup:   b.Server.Do,
	})
	if err != nil {
		tb.Fatalf("sched.Start: %v", err)
	}
	tb.Cleanup(func() {
		if err := g.Close(); err != nil {
			tb.Errorf("Group.Close: %v", err)
		}
	})
	s.Group = g
	return s
}

// Stats is Group.Stats or a test failure.
func (s *Server) Stats(tb testing.TB) sched.GroupStats {
	tb.Helper()
	gs, err := s.Group.Stats()
	if err != nil {
		tb.Fatalf("Group.Stats: %v", err)
	}
	return gs
}

// Total sums the loops' stats of the fields tests compare.
func Total(gs sched.GroupStats) sched.Stats {
	var t sched.Stats
	for i := range gs.Loops {
		l := &gs.Loops[i]
		t.RxFrames += l.RxFrames
		t.RxSegments += l.RxSegments
		for r := range l.Drops {
			t.Drops[r] += l.Drops[r]
		}
		t.TxFrames += l.TxFrames
		t.Created += l.Created
		t.Established += l.Established
		t.Closed += l.Closed
		t.Freed += l.Freed
		t.Conns += l.Conns
		for st := range l.ByState {
			t.ByState[st] += l.ByState[st]
		}
		t.SynQueue += l.SynQueue
		t.AcceptQueue += l.AcceptQueue
		t.ListenerDrops += l.ListenerDrops
		t.SynCookiesSent += l.SynCookiesSent
		t.SynCookiesValidated += l.SynCookiesValidated
		t.LimitDrops += l.LimitDrops
		t.Retransmits += l.Retransmits
		t.Open += l.Open
		t.NoConn += l.NoConn
		t.TimeWait += l.TimeWait
		t.TimeWaitTable.Inserted += l.TimeWaitTable.Inserted
		t.TimeWaitTable.RefusedFull += l.TimeWaitTable.RefusedFull
		t.TimeWaitTable.Expired += l.TimeWaitTable.Expired
		t.TimeWaitTable.Removed += l.TimeWaitTable.Removed
		t.TimeWaitTable.Reopened += l.TimeWaitTable.Reopened
		t.TimeWaitFreed += l.TimeWaitFreed
		t.XSK.RxRingFull += l.XSK.RxRingFull
		t.XSK.RxFillRingEmptyDescs += l.XSK.RxFillRingEmptyDescs
		t.XSK.RxDropped += l.XSK.RxDropped
	}
	return t
}

// DialPeer opens a kernel TCP connection from the peer namespace to ap.
func (s *Server) DialPeer(tb testing.TB, ap netip.AddrPort) *net.TCPConn {
	tb.Helper()
	var c net.Conn
	if err := s.Bed.Peer.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", ap.String(), 10*time.Second)
		return err
	}); err != nil {
		tb.Fatalf("dial %v from the peer: %v", ap, err)
	}
	return c.(*net.TCPConn)
}

// Echo is the handler: it echoes text, answers a text starting "GET "
// with HTTPReply and closes, and closes when the peer does.
type Echo struct {
	CloseAfterEcho      bool
	Opened, Closed, EOF atomic.Int64
	RxText              atomic.Int64
	last                atomic.Pointer[ConnHandle]
}

// ConnHandle names a connection from outside its loop.
type ConnHandle struct {
	Loop *sched.Loop
	Ref  sched.ConnRef
}

// Last is the most recently opened connection.
func (h *Echo) Last() *ConnHandle { return h.last.Load() }

func (h *Echo) OnOpen(c *sched.Conn) {
	h.Opened.Add(1)
	h.last.Store(&ConnHandle{Loop: c.Loop(), Ref: c.Ref()})
}

// Vars reads the connection's TCB variables and state on its loop; ok is
// false once the connection is gone.
func (ch *ConnHandle) Vars() (tcp.Vars, tcp.State, bool) {
	type result struct {
		v  tcp.Vars
		st tcp.State
		ok bool
	}
	res := make(chan result, 1)
	if ch.Loop.Post(func() {
		var r result
		if c := ch.Loop.Conn(ch.Ref); c != nil {
			r = result{c.TCB().Vars(), c.State(), true}
		}
		res <- r
	}) != nil {
		return tcp.Vars{}, tcp.Closed, false
	}
	select {
	case r := <-res:
		return r.v, r.st, r.ok
	case <-time.After(5 * time.Second):
		return tcp.Vars{}, tcp.Closed, false
	}
}

func (h *Echo) OnData(c *sched.Conn, data []byte) {
	h.RxText.Add(int64(len(data)))
	if bytes.HasPrefix(data, []byte("GET ")) {
		c.Write([]byte(HTTPReply))
		c.Close()
		return
	}
	c.Write(data)
	if h.CloseAfterEcho {
		c.Close()
	}
}

func (h *Echo) OnEOF(c *sched.Conn) { h.EOF.Add(1); c.Close() }

func (h *Echo) OnClose(c *sched.Conn, err error) { h.Closed.Add(1) }

// TimersOf sums the loops' armed timers.
func TimersOf(gs sched.GroupStats) int {
	n := 0
	for i := range gs.Loops {
		n += gs.Loops[i].Timers
	}
	return n
}
