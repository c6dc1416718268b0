package tcp_test

import (
	"net/netip"
	"testing"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/chunk"
	"github.com/sluicenet/sluice/tcp/syncookie"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

func peerID(i int) tcp.ID {
	id := DefaultID()
	id.RemotePort = uint16(50000 + i)
	return id
}

// A Listener hands out one TCB per connection: SYN → child in
// SYN-RECEIVED (SYN queue), ACK → ESTABLISHED (accept queue), Accept.
func TestListenerAccept(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	l := h.Listener()
	h.In(Seg{Flags: SYN, Seq: irs})
	h.Out(Seg{Flags: SYN | ACK, Seq: ISS, Ack: irs + 1})
	h.State(tcp.SynReceived)
	if s, a := l.Pending(); s != 1 || a != 0 {
		t.Fatalf("pending %d/%d", s, a)
	}
	if l.Accept() != nil {
		t.Fatal("accepted a half-open connection")
	}
	h.In(Seg{Flags: ACK, Seq: irs + 1, Ack: ISS + 1})
	h.State(tcp.Established)
	if s, a := l.Pending(); s != 0 || a != 1 {
		t.Fatalf("pending %d/%d", s, a)
	}
	if c := l.Accept(); c != h.TCB {
		t.Fatal("Accept returned", c)
	}
}

// RST in SYN-RECEIVED frees the half-open entry; the listener stays in
// LISTEN and takes the next SYN (RFC 9293 §3.10.7.4).
func TestListenerRSTInSynReceived(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	l := h.Listener()
	h.In(Seg{Flags: SYN, Seq: irs})
	h.Take()
	h.In(Seg{Flags: RST, Seq: irs + 1})
	h.State(tcp.Closed)
	if s, _ := l.Pending(); s != 0 {
		t.Fatalf("SYN queue %d after RST", s)
	}
	h.In(Seg{Flags: SYN, Seq: 7000})
	h.Out(Seg{Flags: SYN | ACK, Seq: ISS, Ack: 7001})
	h.State(tcp.SynReceived)
}

// A SYN with a new ISN inside the window of a half-open connection
// resets it and returns it to LISTEN (§3.10.7.4 fourth check), as
// Linux's request sockets do: RST|ACK to the SYN, the SYN queue empty,
// the peer's ACK then reset by the listener.
func TestListenerSynInWindowInSynReceived(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	l := h.Listener()
	h.In(Seg{Flags: SYN, Seq: irs})
	h.Take()
	h.In(Seg{Flags: SYN, Seq: irs + 100})
	h.Out(Seg{Flags: RST | ACK, Seq: 0, Ack: irs + 101})
	h.State(tcp.Closed)
	if s, _ := l.Pending(); s != 0 {
		t.Fatalf("SYN queue %d after the reset", s)
	}
}

// Old duplicate SYN (§3.5 Figure 9): the ACK from the peer does not match
// our SYN,ACK → RST with SEQ=SEG.ACK; the entry stays for the real SYN.
func TestListenerOldDuplicateSYN(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Listener()
	h.In(Seg{Flags: SYN, Seq: 90}) // old duplicate
	h.Out(Seg{Flags: SYN | ACK, Seq: ISS, Ack: 91})
	h.In(Seg{Flags: ACK, Seq: 401, Ack: 4040}) // the peer's ACK of something else
	h.Out(Seg{Flags: RST, Seq: 4040})
	h.State(tcp.SynReceived)
	h.In(Seg{Flags: RST, Seq: 91}) // the peer resets the duplicate
	h.State(tcp.Closed)
}

// ACK or SYN,ACK to a listener with no connection → RST (§3.10.7.2).
func TestListenerStrayACK(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Listener()
	h.In(Seg{Flags: ACK, Seq: 1, Ack: 99})
	h.Out(Seg{Flags: RST, Seq: 99})
	h.In(Seg{Flags: RST, Seq: 1})
	h.NoOut()
}

// SYN+FIN to a listener is dropped and counted, as Linux does: no
// SYN-ACK, no half-open connection; a plain SYN after it is served.
func TestListenerSynFin(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	l := h.Listener()
	h.In(Seg{Flags: SYN | FIN, Seq: irs})
	h.NoOut()
	if s, _ := l.Pending(); s != 0 || l.Drops != 1 {
		t.Fatalf("syn queue %d drops %d, want 0 and 1", s, l.Drops)
	}
	h.In(Seg{Flags: SYN, Seq: irs})
	h.Out(Seg{Flags: SYN | ACK, Seq: ISS, Ack: irs + 1})
}

// The SYN queue is bounded: without cookies, extra SYNs are dropped
// (silently, as Linux; the peer retries).
func TestListenerSynBacklog(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.SynBacklog = 2
	h := New(t, cfg)
	l := h.Listener()
	for i := range 3 {
		h.InFrom(peerID(i), Seg{Flags: SYN, Seq: irs})
	}
	if n := len(h.Take()); n != 2 {
		t.Fatalf("%d SYN,ACKs, want 2", n)
	}
	if s, _ := l.Pending(); s != 2 || l.Drops != 1 {
		t.Fatalf("syn queue %d drops %d", s, l.Drops)
	}
}

// The accept queue is bounded: when it is full the final ACK is dropped
// and the child stays in SYN-RECEIVED (Linux).
func TestListenerAcceptBacklog(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.AcceptBacklog = 1
	h := New(t, cfg)
	l := h.Listener()
	for i := range 2 {
		h.InFrom(peerID(i), Seg{Flags: SYN, Seq: irs})
		h.InFrom(peerID(i), Seg{Flags: ACK, Seq: irs + 1, Ack: ISS + 1})
	}
	if s, a := l.Pending(); s != 1 || a != 1 {
		t.Fatalf("pending %d/%d", s, a)
	}
	if st := h.Children[peerID(1)].State(); st != tcp.SynReceived {
		t.Fatalf("second child %v", st)
	}
	l.Accept()
	h.InFrom(peerID(1), Seg{Flags: ACK, Seq: irs + 1, Ack: ISS + 1})
	if st := h.Children[peerID(1)].State(); st != tcp.Established {
		t.Fatalf("second child %v after accept", st)
	}
}

// Listener children retransmit SYN,ACK with backoff and are freed after
// SynAckRetries.
func TestListenerSynAckGiveUp(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.SynAckRetries = 2
	h := New(t, cfg)
	l := h.Listener()
	h.In(Seg{Flags: SYN, Seq: irs})
	h.Take()
	h.Advance(cfg.InitialRTO)
	h.Out(Seg{Flags: SYN | ACK, Seq: ISS, Ack: irs + 1})
	h.Advance(2 * cfg.InitialRTO)
	h.Out(Seg{Flags: SYN | ACK, Seq: ISS, Ack: irs + 1})
	h.Advance(4 * cfg.InitialRTO)
	h.NoOut()
	h.State(tcp.Closed)
	if s, _ := l.Pending(); s != 0 {
		t.Fatalf("SYN queue %d", s)
	}
}

// SYN cookies (RFC 4987): with the SYN queue full, a SYN gets a stateless
// SYN,ACK; the ACK carrying a valid cookie creates an ESTABLISHED TCB with
// the encoded MSS and the options carried in the timestamp; a forged one
// gets a RST.
func TestListenerSynCookies(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.SynBacklog = 1
	cfg.SynCookies = true
	cfg.Cookies = syncookie.New([32]byte{1, 2, 3})
	h := New(t, cfg)
	l := h.Listener()
	h.InFrom(peerID(0), Seg{Flags: SYN, Seq: irs})
	h.Take()
	id := peerID(1)
	h.InFrom(id, Seg{Flags: SYN, Seq: irs, Opts: tcp.Options{MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTS: true, TSVal: 99}})
	got := h.Take()
	if len(got) != 1 || got[0].Seg.Flags != SYN|ACK || got[0].Seg.Ack != irs+1 || l.CookiesSent != 1 {
		t.Fatalf("cookie SYN,ACK %v", got)
	}
	if len(h.Children) != 1 {
		t.Fatal("state kept for a cookie SYN")
	}
	cookie := got[0].Seg.Seq
	ts := got[0].Seg.Options
	if !ts.HasTS || !ts.HasWScale || !ts.SACKPermitted || ts.TSEcr != 99 {
		t.Fatalf("cookie SYN,ACK options %+v", ts)
	}
	// Forged cookie.
	h.InFrom(id, Seg{Flags: ACK, Seq: irs + 1, Ack: cookie + 2})
	h.Out(Seg{Flags: RST, Seq: cookie + 2})
	// Valid cookie, with data.
	h.InFrom(id, Seg{Flags: ACK | PSH, Seq: irs + 1, Ack: cookie + 1, Win: 100,
		Opts: tcp.Options{HasTS: true, TSVal: 100, TSEcr: ts.TSVal}, Data: []byte("GET /")})
	c := h.Children[id]
	if c == nil || c.State() != tcp.Established || l.CookiesAccepted != 1 {
		t.Fatalf("cookie connection %v", c)
	}
	v := c.Vars()
	if v.SndMSS != 1460-12 || !v.TS || !v.SACK || v.SndWScale != 7 || v.SndWnd != 100<<7 || v.RcvNxt != irs+6 {
		t.Fatalf("cookie connection vars %+v", v)
	}
	if l.Accept() != c || c.Buffered() != 5 {
		t.Fatal("cookie connection not accepted with its data")
	}
}

// RFC 9293 §3.10.7.1 for a connection that does not exist: a SYN to a
// port nobody listens on gets RST,ACK (the owner calls ResetReply).
func TestSynToClosedPort(t *testing.T) {
	var out tcp.Segment
	in := tcp.Segment{Flags: SYN, Seq: 41}
	if !tcp.ResetReply(&in, &out) || out.Flags != RST|ACK || out.Ack != 42 || out.Seq != 0 {
		t.Fatalf("%+v", out)
	}
	_ = netip.Addr{}
}

// Under memory pressure a cookie's SYN,ACK offers the window a child in
// the SYN queue offers (what one chunk can store), not the whole buffer.
func TestListenerSynCookieWindowUnderPressure(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.SynBacklog = 1
	cfg.SynCookies = true
	cfg.Cookies = syncookie.New([32]byte{1, 2, 3})
	cfg.Pool = chunk.NewPool(chunk.NewBudget(4 * chunk.Size))
	opts := tcp.Options{MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTS: true, TSVal: 99}
	h := New(t, cfg)
	l := h.Listener()
	synack := func(id tcp.ID) tcp.Segment {
		t.Helper()
		h.InFrom(id, Seg{Flags: SYN, Seq: irs, Opts: opts})
		got := h.Take()
		if len(got) != 1 || got[0].Seg.Flags != SYN|ACK {
			t.Fatalf("SYN,ACK %v", got)
		}
		return got[0].Seg
	}
	full := synack(peerID(0)).Window // fills the SYN queue
	if w := synack(peerID(1)).Window; w != full || l.CookiesSent != 1 {
		t.Fatalf("without pressure: cookie window %d, queued child's %d (%d cookies)", w, full, l.CookiesSent)
	}
	for range 4 {
		cfg.Pool.Get(true)
	}
	if !cfg.Pool.UnderPressure() {
		t.Fatal("no memory pressure")
	}
	h.InFrom(peerID(0), Seg{Flags: RST, Seq: irs + 1}) // frees the SYN queue
	child := synack(peerID(2)).Window
	seg := synack(peerID(3))
	if seg.Window != child || child >= full || int(child) > chunk.Size || l.CookiesSent != 2 {
		t.Fatalf("under pressure: cookie window %d, queued child's %d, unbounded %d", seg.Window, child, full)
	}
	// The ACK with the cookie makes a connection whose right edge is the
	// one offered: its first window update does not move it.
	id := peerID(3)
	h.InFrom(id, Seg{Flags: ACK, Seq: irs + 1, Ack: seg.Seq + 1, Win: 100, Opts: tcp.Options{HasTS: true, TSVal: 100, TSEcr: seg.Options.TSVal}})
	c := h.Children[id]
	if c == nil || c.State() != tcp.Established {
		t.Fatalf("cookie connection %v", c)
	}
	if v := c.Vars(); v.RcvNxt.Add(v.RcvWnd) != irs+1+tcp.Seq(child) {
		t.Fatalf("cookie connection's right edge %v, offered %v", v.RcvNxt.Add(v.RcvWnd), irs+1+tcp.Seq(child))
	}
}
