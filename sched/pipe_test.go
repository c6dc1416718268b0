package sched

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicenet/sluice/afxdp"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/tcpcheck"
	"github.com/sluicenet/sluice/wire"
)

// A loop without a device, and a peer TCB playing the client: frames go
// between them through two in-memory queues, on a virtual clock. This is
// the whole RX/TX path but the AF_XDP rings (parse, demultiplex, engine,
// callbacks, frame build), so it runs without privileges and measures the
// loop's own cost per frame.

var (
	pipeServer = netip.MustParseAddrPort("198.18.0.1:80")
	pipeClient = netip.MustParseAddrPort("198.18.0.2:40000")
	pipeSrvMAC = wire.MAC{2, 0, 0, 0, 0, 1}
	pipeCliMAC = wire.MAC{2, 0, 0, 0, 0, 2}
)

type frameQueue struct {
	buf [][2048]byte
	n   []int
	len int
}

func newFrameQueue(slots int) *frameQueue {
	return &frameQueue{buf: make([][2048]byte, slots), n: make([]int, slots)}
}

func (q *frameQueue) push(tb testing.TB, b []byte) {
	if q.len == len(q.buf) {
		tb.Fatalf("pipe queue overflow")
	}
	q.n[q.len] = copy(q.buf[q.len][:], b)
	q.len++
}

type pipe struct {
	tb       testing.TB
	l        *Loop
	cfg      tcp.Config
	cli      *tcp.TCB
	now      tcp.Instant
	toLoop   *frameQueue
	fromLoop *frameQueue
	spec     wire.TCPFrameSpec
	frame    wire.Frame
	seg      tcp.Segment
	scratch  [2048]byte
	drop     bool    // drop what the loop sends (loss injection)
	target   *Loop   // where the client's frames go (default l)
	group    []*Loop // loops whose posted work pump runs
	check    *tcpcheck.Checker
}

func newPipe(tb testing.TB, h Handler, cfg *tcp.Config) *pipe {
	tb.Helper()
	return newPipeSized(tb, h, cfg, 1024)
}

// newPipeSized: slots bounds the frames in flight each way (and sizes
// the UMEM).
func newPipeSized(tb testing.TB, h Handler, cfg *tcp.Config, slots int) *pipe {
	tb.Helper()
	u, err := afxdp.NewUmem(afxdp.UmemConfig{FrameSize: 2048, FrameCount: uint32(slots), FillSize: 64, CompletionSize: 64})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { u.Close() })
	l, err := NewLoop(LoopConfig{TCP: cfg, Core: -1}, h, 0, u, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if !l.running.Load() {
			l.post.Close()
		}
	})
	l.Listen(pipeServer)
	p := &pipe{tb: tb, l: l, cfg: *l.tcpCfg, now: l.now, toLoop: newFrameQueue(slots), fromLoop: newFrameQueue(slots)}
	// Both ends are sluice engines: the output checker sees every frame
	// either sends (tcp/tcpcheck).
	p.check = &tcpcheck.Checker{MTU: int(p.cfg.MSS) + 40, Fail: func(msg string) { tb.Error(msg) }}
	p.cfg.ISN = nil
	p.spec = wire.TCPFrameSpec{SrcMAC: pipeCliMAC, DstMAC: pipeSrvMAC}
	l.loopback = func(b []byte) { p.fromLoop.push(tb, b) }
	return p
}

// Emit: the client's segments become frames for the loop.
func (p *pipe) Emit(id *tcp.ID, seg *tcp.Segment) {
	s := &p.spec
	s.Src, s.Dst, s.SrcPort, s.DstPort = id.LocalAddr, id.RemoteAddr, id.LocalPort, id.RemotePort
	s.Seq, s.Ack, s.Flags, s.Window, s.Options = uint32(seg.Seq), uint32(seg.Ack), uint8(seg.Flags), seg.Window, seg.Options
	n, err := wire.BuildTCP(p.scratch[:], s, seg.Payload)
	if err != nil {
		p.tb.Fatalf("client frame: %v", err)
	}
	if p.check != nil {
		p.check.Frame(p.scratch[:n], true, int64(p.now))
	}
	p.toLoop.push(p.tb, p.scratch[:n])
}

func (p *pipe) dial() {
	id := tcp.ID{LocalAddr: pipeClient.Addr(), RemoteAddr: pipeServer.Addr(), LocalPort: pipeClient.Port(), RemotePort: pipeServer.Port()}
	p.cli = tcp.Open(&p.cfg, id, p, p.now)
	p.pump()
	if p.cli.State() != tcp.Established {
		p.tb.Fatalf("client in %v after the handshake", p.cli.State())
	}
}

// pump moves frames both ways until both sides are quiet.
func (p *pipe) pump() {
	for range 1000 {
		posted := 0
		for _, l := range p.group {
			posted += l.post.Len()
		}
		if p.toLoop.len == 0 && p.fromLoop.len == 0 && posted == 0 {
			return
		}
		target := p.l
		if p.target != nil {
			target = p.target
		}
		target.now = p.now
		for i := range p.toLoop.len {
			target.Input(p.toLoop.buf[i][:p.toLoop.n[i]])
		}
		p.toLoop.len = 0
		for _, l := range p.group {
			l.now = p.now
			l.runPosted()
			l.flush()
		}
		target.flush()
		p.l.flush()
		q := p.fromLoop
		n := q.len
		q.len = 0
		for i := range n {
			b := q.buf[i][:q.n[i]]
			if p.check != nil {
				p.check.Frame(b, true, int64(p.now))
			}
			if p.drop {
				continue
			}
			if err := wire.ParseFrame(b, &p.frame); err != nil {
				p.tb.Fatalf("loop sent a bad frame: %v", err)
			}
			f := &p.frame
			if f.Eth.Dst != pipeCliMAC || f.Eth.Src != pipeSrvMAC {
				p.tb.Fatalf("loop addressed a frame %v -> %v", f.Eth.Src, f.Eth.Dst)
			}
			if p.cli == nil {
				continue
			}
			s := &p.seg
			s.Seq, s.Ack, s.Flags, s.Window, s.Urgent = tcp.Seq(f.Seq), tcp.Seq(f.Ack), tcp.Flags(f.Flags), f.Window, f.Urgent
			s.Options, s.Payload = f.Options, f.Payload
			p.cli.Input(s, p.now)
		}
	}
	p.tb.Fatalf("pipe does not settle")
}

// advance moves the virtual clock and runs both sides' timers.
func (p *pipe) advance(d time.Duration) {
	p.now = p.now.Add(d)
	p.l.now = p.now
	p.l.fireTimers()
	if p.cli != nil && p.cli.Deadline() <= p.now {
		p.cli.OnTimer(p.now)
	}
	p.pump()
}

// read takes everything the client has received.
func (p *pipe) read() []byte {
	var out []byte
	for {
		a, b := p.cli.Peek()
		if len(a) == 0 {
			return out
		}
		out = append(append(out, a...), b...)
		p.cli.Consume(len(a)+len(b), p.now)
	}
}

// rawEcho echoes every octet and closes on the peer's FIN.
type rawEcho struct{ opens, closes int }

func (h *rawEcho) OnOpen(c *Conn)              { h.opens++ }
func (h *rawEcho) OnData(c *Conn, data []byte) { c.Write(data) }
func (h *rawEcho) OnEOF(c *Conn)               { c.Close() }
func (h *rawEcho) OnClose(c *Conn, err error)  { h.closes++ }

func TestPipeEcho(t *testing.T) {
	h := &rawEcho{}
	cfg := tcp.DefaultConfig()
	cfg.MSL = time.Second
	p := newPipe(t, h, &cfg)
	p.dial()
	if h.opens != 1 {
		t.Fatalf("OnOpen ran %d times", h.opens)
	}
	want := make([]byte, 200<<10) // beyond both send buffers: backpressure
	r := rand.New(rand.NewPCG(1, 2))
	for i := range want {
		want[i] = byte(r.Uint32())
	}
	var got []byte
	for sent, rounds := 0, 0; len(got) < len(want); rounds++ {
		if rounds > 10000 {
			t.Fatalf("echo stalled: sent %d, got %d", sent, len(got))
		}
		if sent < len(want) {
			n, err := p.cli.Write(want[sent:min(sent+8<<10, len(want))], p.now)
			if err != nil {
				t.Fatal(err)
			}
			sent += n
		}
		p.pump()
		got = append(got, p.read()...)
		p.advance(50 * time.Millisecond) // delayed ACKs
	}
	if !bytes.Equal(got, want) {
		t.Fatal("echo differs")
	}
	// The client closes first: the server answers its FIN with its own
	// (LAST-ACK) and frees the connection.
	p.cli.Close(p.now)
	p.pump()
	p.advance(time.Millisecond)
	st, _ := p.l.Stats(0)
	if st.Conns != 0 || st.Timers != 0 || h.closes != 1 || st.RxText != uint64(len(want)) {
		t.Fatalf("after close: conns %d, timers %d, OnClose %d, delivered %d", st.Conns, st.Timers, h.closes, st.RxText)
	}
	if p.cli.State() != tcp.TimeWait {
		t.Fatalf("client in %v, want TIME-WAIT", p.cli.State())
	}
}

// TestPipeRetransmit: a segment the loop sent is lost; the wheel fires
// the TCB's retransmission timer and the text arrives anyway.
func TestPipeRetransmit(t *testing.T) {
	h := &rawEcho{}
	p := newPipe(t, h, nil)
	p.dial()
	p.drop = true
	p.cli.Write([]byte("lost once"), p.now)
	p.pump() // the echo is dropped
	p.drop = false
	if got := p.read(); len(got) != 0 {
		t.Fatalf("read %q before the retransmission", got)
	}
	st, _ := p.l.Stats(0)
	if st.Timers != 1 {
		t.Fatalf("%d timers armed, want the retransmission timer", st.Timers)
	}
	p.advance(1100 * time.Millisecond) // past any RTO the handshake left (1 s at most)
	if got := p.read(); string(got) != "lost once" {
		t.Fatalf("after the RTO: read %q", got)
	}
	st, _ = p.l.Stats(0)
	if st.TimersFired == 0 {
		t.Fatal("no timer fired")
	}
}

// TestPipeNoListener: a SYN to a port nobody listens on gets
// <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK> (RFC 9293 §3.10.7.1) from the
// flow's own addresses; a RST gets nothing.
func TestPipeNoListener(t *testing.T) {
	p := newPipe(t, &rawEcho{}, nil)
	s := &p.spec
	s.Src, s.Dst, s.SrcPort, s.DstPort = pipeClient.Addr(), pipeServer.Addr(), 40001, 81
	s.Seq, s.Ack, s.Flags, s.Window = 1000, 0, wire.TCPFlagSYN, 1000
	n, _ := wire.BuildTCP(p.scratch[:], s, nil)
	p.l.Input(p.scratch[:n])
	s.Flags = wire.TCPFlagRST
	n, _ = wire.BuildTCP(p.scratch[:], s, nil)
	p.l.Input(p.scratch[:n])
	p.l.flush()
	if p.fromLoop.len != 1 {
		t.Fatalf("loop sent %d frames, want one RST", p.fromLoop.len)
	}
	f := &p.frame
	if err := wire.ParseFrame(p.fromLoop.buf[0][:p.fromLoop.n[0]], f); err != nil {
		t.Fatal(err)
	}
	if f.Flags != wire.TCPFlagRST|wire.TCPFlagACK || f.Seq != 0 || f.Ack != 1001 ||
		f.SrcPort != 81 || f.DstPort != 40001 || f.Eth.Dst != pipeCliMAC {
		t.Fatalf("reply %+v", f)
	}
	st, _ := p.l.Stats(0)
	if st.NoConn != 2 || st.Conns != 0 {
		t.Fatalf("NoConn %d, conns %d", st.NoConn, st.Conns)
	}
}

// TestPipeForward: a flow whose frames move to another loop's queue is
// still served by the loop that owns it: the other loop passes its
// segments on through the MPSC ring. A segment no loop owns goes round
// the group once and is then answered as one to no connection.
func TestPipeForward(t *testing.T) {
	p := newPipe(t, &rawEcho{}, nil)
	p.dial() // owned by p.l
	q := newPipe(t, &rawEcho{}, nil)
	b := q.l
	b.loopback = p.l.loopback
	p.group = []*Loop{p.l, b}
	p.l.peers, p.l.index = p.group, 0
	b.peers, b.index = p.group, 1
	p.target = b

	p.cli.Write([]byte("moved"), p.now)
	p.pump()
	if got := p.read(); string(got) != "moved" {
		t.Fatalf("echo of a moved flow: %q", got)
	}
	sa, _ := p.l.Stats(0)
	sb, _ := b.Stats(0)
	if sb.ForwardedOut == 0 || sa.ForwardedIn != sb.ForwardedOut || sb.NoConn != 0 || sb.Conns != 0 || sa.Conns != 1 {
		t.Fatalf("owner: in %d, conns %d; other: out %d, no conn %d, conns %d",
			sa.ForwardedIn, sa.Conns, sb.ForwardedOut, sb.NoConn, sb.Conns)
	}

	// A stray ACK on a flow nobody has: B passes it on, A answers.
	s := &p.spec
	s.Src, s.Dst, s.SrcPort, s.DstPort = pipeClient.Addr(), pipeServer.Addr(), 40009, 80
	s.Seq, s.Ack, s.Flags, s.Window = 5000, 7000, wire.TCPFlagACK, 1000
	n, _ := wire.BuildTCP(p.scratch[:], s, nil)
	in := sa.ForwardedIn
	b.Input(p.scratch[:n])
	p.l.runPosted()
	p.l.flush()
	if p.fromLoop.len != 1 {
		t.Fatalf("%d replies to a stray ACK, want one RST", p.fromLoop.len)
	}
	f := &p.frame
	if err := wire.ParseFrame(p.fromLoop.buf[0][:p.fromLoop.n[0]], f); err != nil {
		t.Fatal(err)
	}
	p.fromLoop.len = 0
	if f.Flags != wire.TCPFlagRST || f.Seq != 7000 || f.DstPort != 40009 {
		t.Fatalf("reply to a stray ACK: flags %#x seq %d port %d", f.Flags, f.Seq, f.DstPort)
	}
	sa, _ = p.l.Stats(0)
	if sa.ForwardedIn != in+1 {
		t.Fatalf("stray ACK forwarded %d times", sa.ForwardedIn-in)
	}
}

// TestPipeSteadyStateNoAlloc: an echoed request on an established
// connection allocates nothing: parse, lookup, engine, callback, Write,
// frame build, and the client's side.
func TestPipeSteadyStateNoAlloc(t *testing.T) {
	p := newPipe(t, &rawEcho{}, nil)
	p.check = nil // it allocates; the loop is what is measured
	p.dial()
	req := bytes.Repeat([]byte("q"), 64)
	echo := func() {
		p.cli.Write(req, p.now)
		p.pump()
		a, b := p.cli.Peek()
		if len(a)+len(b) != len(req) {
			t.Fatalf("echoed %d octets", len(a)+len(b))
		}
		p.cli.Consume(len(a)+len(b), p.now)
	}
	for range 100 {
		echo()
	}
	if n := testing.AllocsPerRun(1000, echo); n != 0 {
		t.Fatalf("%v allocations per echoed request", n)
	}
}

// sink consumes everything and answers nothing.
type sink struct{}

func (sink) OnOpen(*Conn)         {}
func (sink) OnData(*Conn, []byte) {}
func (sink) OnEOF(c *Conn)        { c.Close() }
func (sink) OnClose(*Conn, error) {}

// closer echoes once and closes: the server closes first.
type closer struct{ rawEcho }

func (h *closer) OnData(c *Conn, data []byte) { c.Write(data); c.Close() }

// TestPipeTimeWaitTable: the server's TIME-WAIT moves to the compact
// table (the TCB is freed); the table ACKs the peer's retransmitted FIN
// and restarts 2*MSL; the entry expires exactly 2*MSL after that, not
// before; a new SYN on the 4-tuple during TIME-WAIT (newer timestamp)
// reopens it (RFC 6191).
func TestPipeTimeWaitTable(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.MSL = time.Second
	p := newPipe(t, &closer{}, &cfg)
	p.dial()
	p.cli.Write([]byte("bye"), p.now)
	p.pump()
	if got := p.read(); string(got) != "bye" || p.cli.State() != tcp.CloseWait {
		t.Fatalf("client read %q, in %v", got, p.cli.State())
	}
	// The client's FIN reaches the server, whose ACK is lost.
	p.cli.Close(p.now)
	p.drop = true
	p.pump()
	p.drop = false
	st, _ := p.l.Stats(0)
	if st.Conns != 0 || st.TimeWait != 1 || st.ByState[tcp.TimeWait] != 1 || st.Timers != 0 {
		t.Fatalf("after the server's TIME-WAIT: conns %d, table %d, timers %d", st.Conns, st.TimeWait, st.Timers)
	}
	// The client retransmits its FIN; the table answers it.
	p.advance(1500 * time.Millisecond)
	st, _ = p.l.Stats(0)
	if st.TimeWaitTable.ReACKs != 1 || p.cli.State() != tcp.Closed {
		t.Fatalf("retransmitted FIN: table %+v, client %v", st.TimeWaitTable, p.cli.State())
	}
	p.advance(2*cfg.MSL - time.Millisecond)
	if st, _ = p.l.Stats(0); st.TimeWait != 1 {
		t.Fatalf("entry gone %v before 2*MSL after its restart", time.Millisecond)
	}
	// A new incarnation now: its SYN carries a newer timestamp.
	p.dial()
	st, _ = p.l.Stats(0)
	if st.TimeWait != 0 || st.Conns != 1 || st.TimeWaitTable.Reopened != 1 {
		t.Fatalf("reopen: table %d entries %+v, conns %d", st.TimeWait, st.TimeWaitTable, st.Conns)
	}
	// And the normal end of a wait: close again, let 2*MSL pass.
	p.cli.Write([]byte("bye"), p.now)
	p.pump()
	p.read()
	p.cli.Close(p.now)
	p.pump()
	if st, _ = p.l.Stats(0); st.TimeWait != 1 {
		t.Fatalf("second TIME-WAIT: %d entries", st.TimeWait)
	}
	p.advance(2*cfg.MSL - time.Millisecond)
	if st, _ = p.l.Stats(0); st.TimeWait != 1 {
		t.Fatal("entry expired before 2*MSL")
	}
	p.advance(2 * time.Millisecond)
	if st, _ = p.l.Stats(0); st.TimeWait != 0 || st.TimeWaitTable.Expired != 1 {
		t.Fatalf("after 2*MSL: %d entries, %+v", st.TimeWait, st.TimeWaitTable)
	}
}

// TestPipeConnectionNoAlloc: once warm, a whole connection — handshake,
// an echoed request, close from the client, the server's TCB recycled
// through the listener's pool — allocates nothing in the loop (the client
// engine reuses its TCB too, with tcp.OpenReuse).
var bye = []byte("bye")

// churnOne runs one connection from client port port: handshake, req,
// which the server echoes and closes after, the client's close. It
// reports the client's final state.
func (p *pipe) churnOne(t testing.TB, port uint16, req []byte) tcp.State {
	id := tcp.ID{LocalAddr: pipeClient.Addr(), RemoteAddr: pipeServer.Addr(), LocalPort: port, RemotePort: pipeServer.Port()}
	p.cli = tcp.OpenReuse(p.cli, &p.cfg, id, p, p.now)
	p.pump()
	p.cli.Write(req, p.now)
	p.pump()
	a, b := p.cli.Peek()
	if len(a)+len(b) != len(req) {
		t.Fatalf("port %d: echoed %d octets", port, len(a)+len(b))
	}
	p.cli.Consume(len(a)+len(b), p.now)
	p.cli.Close(p.now)
	p.pump()
	return p.cli.State()
}

func TestPipeConnectionNoAlloc(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.MSL = time.Millisecond
	p := newPipe(t, &rawEcho{}, &cfg)
	p.check = nil // it allocates; the loop is what is measured
	port := uint16(40000)
	conn := func() {
		port++
		p.churnOne(t, port, bye)
		if p.l.conns.Len() != 0 {
			t.Fatalf("%d connections after close", p.l.conns.Len())
		}
	}
	for range 300 {
		conn()
	}
	if n := testing.AllocsPerRun(200, conn); n != 0 {
		t.Fatalf("%v allocations per connection", n)
	}
}

// TestPipeSynCookies: with the SYN queue full, the listener answers SYNs
// statelessly (RFC 4987); the ACK carrying a valid cookie creates the
// connection directly in ESTABLISHED, and the loop enters it in its table
// and opens it like any other.
func TestPipeSynCookies(t *testing.T) {
	h := &rawEcho{}
	p := newPipe(t, h, nil) // the default config: SYN cookies on
	if !p.l.tcpCfg.SynCookies {
		t.Fatal("default loop config without SYN cookies")
	}
	s := p.spec
	s.Src, s.Dst, s.DstPort = pipeClient.Addr(), pipeServer.Addr(), pipeServer.Port()
	frame := make([]byte, 128)
	backlog := p.l.tcpCfg.SynBacklog
	var synack wire.Frame
	for i := range backlog + 1 {
		s.SrcPort = uint16(10000 + i)
		s.Seq, s.Ack, s.Flags, s.Window, s.Options = 5000, 0, wire.TCPFlagSYN, 1000, wire.TCPOptions{MSS: 1460}
		n, _ := wire.BuildTCP(frame, &s, nil)
		p.l.Input(frame[:n])
		p.l.flush()
		q := p.fromLoop
		if q.len != 1 || wire.ParseFrame(q.buf[0][:q.n[0]], &synack) != nil || synack.Flags != wire.TCPFlagSYN|wire.TCPFlagACK {
			t.Fatalf("SYN %d: no SYN-ACK", i)
		}
		q.len = 0
	}
	st, _ := p.l.Stats(0)
	if st.Conns != backlog || st.SynQueue != backlog {
		t.Fatalf("%d connections, SYN queue %d; want %d (the last SYN answered by cookie)", st.Conns, st.SynQueue, backlog)
	}
	// The handshake's ACK for the cookie SYN-ACK (the last one).
	s.Seq, s.Ack, s.Flags, s.Options = 5001, synack.Seq+1, wire.TCPFlagACK, wire.TCPOptions{}
	n, _ := wire.BuildTCP(frame, &s, []byte("hi"))
	p.l.Input(frame[:n])
	p.l.flush()
	st, _ = p.l.Stats(0)
	if st.Conns != backlog+1 || st.ByState[tcp.Established] != 1 || h.opens != 1 {
		t.Fatalf("after the cookie ACK: %d connections, %d established, %d opens", st.Conns, st.ByState[tcp.Established], h.opens)
	}
	// Counters reads the same loop counters without visiting the
	// connections: no per-state census.
	if c, _ := p.l.Counters(0); c.Conns != st.Conns || c.SynQueue != st.SynQueue || c.ByState != ([tcp.TimeWait + 1]int{}) || c.RxFrames != st.RxFrames {
		t.Fatalf("Counters: %d connections, SYN queue %d, by state %v, %d frames; Stats: %d, %d, -, %d",
			c.Conns, c.SynQueue, c.ByState, c.RxFrames, st.Conns, st.SynQueue, st.RxFrames)
	}
	// Its text was delivered and echoed.
	found := false
	for i := range p.fromLoop.len {
		if wire.ParseFrame(p.fromLoop.buf[i][:p.fromLoop.n[i]], &synack) == nil && string(synack.Payload) == "hi" {
			found = true
		}
	}
	if !found {
		t.Fatal("the cookie connection's text was not echoed")
	}
}

// portRecorder records the text each connection received, by remote port.
type portRecorder struct {
	sink
	got map[uint16]string
}

func (h *portRecorder) OnData(c *Conn, data []byte) { h.got[c.RemoteAddr().Port()] += string(data) }

// TestDemuxStaleHint: rxBatch looks a batch's connections up before any of
// its segments run, so a hint may be stale by the time a segment runs: a
// hit naming a slot that now holds another connection, or a miss for a
// connection an earlier segment created. demux re-checks both.
func TestDemuxStaleHint(t *testing.T) {
	h := &portRecorder{got: map[uint16]string{}}
	p := newPipe(t, h, nil)
	dial := func(port uint16) *tcp.TCB {
		id := tcp.ID{LocalAddr: pipeClient.Addr(), RemoteAddr: pipeServer.Addr(), LocalPort: port, RemotePort: pipeServer.Port()}
		p.cli = tcp.Open(&p.cfg, id, p, p.now)
		p.pump()
		return p.cli
	}
	a, b := dial(1001), dial(1002)
	keyOf := func(port uint16) (ConnKey, uint32) {
		k := MakeConnKey(pipeServer, netip.AddrPortFrom(pipeClient.Addr(), port))
		v, ok := p.l.conns.Lookup(k)
		if !ok {
			t.Fatalf("no connection for port %d", port)
		}
		return k, v
	}
	ka, _ := keyOf(1001)
	_, vb := keyOf(1002)
	// The clients' own segments (timestamps and all), taken off the pipe
	// instead of pumped.
	segFor := func(cli *tcp.TCB, text string) ([]byte, *wire.Frame) {
		p.toLoop.len = 0
		cli.Write([]byte(text), p.now)
		if p.toLoop.len != 1 {
			t.Fatalf("client sent %d frames", p.toLoop.len)
		}
		raw := append([]byte(nil), p.toLoop.buf[0][:p.toLoop.n[0]]...)
		p.toLoop.len = 0
		f := new(wire.Frame)
		if err := wire.ParseFrame(raw, f); err != nil {
			t.Fatal(err)
		}
		return raw, f
	}
	raw, f := segFor(a, "to a")
	p.l.demux(raw, f, ka, vb, true) // a stale hit: B's slot
	raw, f = segFor(b, "to b")
	_, vbNow := keyOf(1002)
	kb := MakeConnKey(pipeServer, netip.AddrPortFrom(pipeClient.Addr(), 1002))
	p.l.demux(raw, f, kb, 0, false) // a stale miss
	if h.got[1001] != "to a" || h.got[1002] != "to b" || vbNow != vb {
		t.Fatalf("delivered %v", h.got)
	}
}

// bulk writes n octets at open, then closes once they are all accepted.
type bulk struct {
	sink
	n, writable int
	bufferedAt  []int
}

func (h *bulk) OnOpen(c *Conn) {
	c.Write(pattern(h.n))
	h.bufferedAt = append(h.bufferedAt, c.Buffered())
}

func (h *bulk) OnWritable(c *Conn) {
	h.writable++
	h.bufferedAt = append(h.bufferedAt, c.Buffered())
	c.Close()
}

// TestPipeOnWritable: text written beyond the send buffer is held and
// drained as the peer acknowledges; OnWritable runs once it has all gone
// into the TCB, and the peer receives every octet.
func TestPipeOnWritable(t *testing.T) {
	h := &bulk{n: 300 << 10}
	p := newPipe(t, h, nil)
	p.dial()
	var got []byte
	for rounds := 0; p.cli.State() != tcp.CloseWait && p.cli.State() != tcp.Closed; rounds++ {
		if rounds > 10000 {
			t.Fatalf("stalled at %d octets", len(got))
		}
		got = append(got, p.read()...)
		p.advance(10 * time.Millisecond)
	}
	got = append(got, p.read()...)
	if !bytes.Equal(got, pattern(h.n)) {
		t.Fatalf("peer got %d octets, want %d", len(got), h.n)
	}
	if h.writable != 1 || len(h.bufferedAt) != 2 || h.bufferedAt[0] == 0 || h.bufferedAt[1] != 0 {
		t.Fatalf("OnWritable ran %d times; held %v", h.writable, h.bufferedAt)
	}
}
