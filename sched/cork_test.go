package sched

import (
	"bytes"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/wire"
)

// The per-callback cork (docs/design.md, Output): what a callback writes
// is pushed when the loop settles the connection, so a callback's Writes
// and Close leave in as few segments as the windows and the MSS allow,
// and nothing waits past the iteration.

// corkHandler runs onData for each delivery and onTimeout at the
// connection's application timer; it keeps the last opened Conn.
type corkHandler struct {
	c         *Conn
	onData    func(c *Conn, data []byte)
	onTimeout func(c *Conn)
}

func (h *corkHandler) OnOpen(c *Conn) { h.c = c }
func (h *corkHandler) OnData(c *Conn, data []byte) {
	if h.onData != nil {
		h.onData(c, data)
	}
}
func (h *corkHandler) OnEOF(c *Conn)            { c.Close() }
func (h *corkHandler) OnClose(c *Conn, _ error) {}
func (h *corkHandler) OnTimeout(c *Conn) {
	if h.onTimeout != nil {
		h.onTimeout(c)
	}
}

// sentFrame is a segment the loop sent, as the wire carried it.
type sentFrame struct {
	flags    uint8
	seq, ack uint32
	text     []byte
}

// logFrames records every frame the pipe's loop sends from now on.
func logFrames(t *testing.T, p *pipe) *[]sentFrame {
	var log []sentFrame
	next := p.l.loopback
	p.l.loopback = func(b []byte) {
		var f wire.Frame
		if err := wire.ParseFrame(b, &f); err != nil {
			t.Fatalf("loop sent a bad frame: %v", err)
		}
		log = append(log, sentFrame{f.Flags, f.Seq, f.Ack, bytes.Clone(f.Payload)})
		next(b)
	}
	return &log
}

const (
	synAck  = wire.TCPFlagSYN | wire.TCPFlagACK
	ack     = wire.TCPFlagACK
	pshAck  = wire.TCPFlagPSH | wire.TCPFlagACK
	pshFin  = wire.TCPFlagPSH | wire.TCPFlagFIN | wire.TCPFlagACK
	finOnly = wire.TCPFlagFIN | wire.TCPFlagACK
)

// wantFrames compares the logged frames' flags and text with want.
func wantFrames(t *testing.T, what string, got []sentFrame, want ...sentFrame) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].flags == want[i].flags && bytes.Equal(got[i].text, want[i].text)
	}
	if !ok {
		for _, f := range got {
			t.Logf("sent flags %#02x seq %d, %d octets", f.flags, f.seq, len(f.text))
		}
		t.Fatalf("%s: %d frames, want %d as listed", what, len(got), len(want))
	}
}

// rawSend sends one frame to the pipe's loop from a client that is not a
// TCB, as bench/conngen does (port picks the 4-tuple), and flushes.
func (p *pipe) rawSend(port uint16, flags uint8, seq, ack uint32, opts wire.TCPOptions, text []byte) {
	s := p.spec
	s.Src, s.Dst, s.SrcPort, s.DstPort = pipeClient.Addr(), pipeServer.Addr(), port, pipeServer.Port()
	s.Seq, s.Ack, s.Flags, s.Window, s.Options = seq, ack, flags, 65535, opts
	n, err := wire.BuildTCP(p.scratch[:], &s, text)
	if err != nil {
		p.tb.Fatal(err)
	}
	p.l.Input(p.scratch[:n])
	p.l.flush()
	p.fromLoop.len = 0 // logFrames has them
}

// A server that answers and closes in one callback (the churn workload,
// bench/conngen's exchange: SYN, ACK+GET, FIN+ACK after the server's
// FIN) sends three frames: the SYN-ACK, the response (written in two
// Writes) with the FIN on it and the ACK of the request, and the ACK of
// the client's FIN. Not a bare ACK of the request, the text, then a
// FIN alone.
func TestCorkWriteClose(t *testing.T) {
	const head, body = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", "ok"
	const get = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n"
	h := &corkHandler{onData: func(c *Conn, _ []byte) {
		c.Write([]byte(head))
		c.Write([]byte(body))
		c.Close()
	}}
	p := newPipe(t, h, nil)
	log := logFrames(t, p)
	const port, iss = 40001, 1000
	p.rawSend(port, wire.TCPFlagSYN, iss, 0, wire.TCPOptions{MSS: 1460}, nil)
	if len(*log) != 1 || (*log)[0].flags != synAck {
		t.Fatalf("SYN answered with %v", *log)
	}
	irs := (*log)[0].seq
	p.rawSend(port, pshAck, iss+1, irs+1, wire.TCPOptions{}, []byte(get))
	rcvd := uint32(len(head + body))
	p.rawSend(port, finOnly, iss+1+uint32(len(get)), irs+1+rcvd+1, wire.TCPOptions{}, nil)
	wantFrames(t, "connection", *log,
		sentFrame{flags: synAck},
		sentFrame{flags: pshFin, text: []byte(head + body)},
		sentFrame{flags: ack})
	if a := (*log)[1].ack; a != iss+1+uint32(len(get)) {
		t.Fatalf("the answer acknowledges %d, want %d (the request)", a, iss+1+uint32(len(get)))
	}
	if a := (*log)[2].ack; a != iss+1+uint32(len(get))+1 {
		t.Fatalf("the last ACK acknowledges %d, want %d (our FIN)", a, iss+1+uint32(len(get))+1)
	}
	st, _ := p.l.Stats(0)
	if st.Conns != 0 || st.Entered[tcp.TimeWait] != 1 {
		t.Fatalf("server: %d connections, %d entered TIME-WAIT", st.Conns, st.Entered[tcp.TimeWait])
	}
}

// A request the callback does not answer is still acknowledged by the
// end of the settle (a bare ACK), and one it answers is acknowledged by
// the answer alone: the client's first requests, which Linux's quick-ACK
// mode would acknowledge at once, cost no bare ACK.
func TestCorkAckRidesOnAnswer(t *testing.T) {
	h := &corkHandler{onData: func(c *Conn, data []byte) {
		if string(data) != "silent" {
			c.Write([]byte("answer"))
		}
	}}
	p := newPipe(t, h, nil)
	p.dial()
	log := logFrames(t, p)
	for i := range 3 {
		p.cli.Write([]byte("ask"), p.now)
		p.pump()
		p.read()
		if len(*log) != 1 || (*log)[0].flags != pshAck || string((*log)[0].text) != "answer" {
			t.Fatalf("request %d: %d frames, want the answer alone", i, len(*log))
		}
		*log = nil
		p.advance(50 * time.Millisecond) // the client's delayed ACK
	}
	p.cli.Write([]byte("silent"), p.now)
	p.pump()
	if len(*log) != 1 || (*log)[0].flags != ack || len((*log)[0].text) != 0 {
		t.Fatalf("unanswered request: %d frames, want one bare ACK", len(*log))
	}
	if v := p.cli.Vars(); v.SndUna != v.SndMax {
		t.Fatalf("client: SND.UNA %d, SND.MAX %d: not all acknowledged", v.SndUna, v.SndMax)
	}
}

// dataFrames are the frames of log that carry text, SYN, FIN or RST.
func dataFrames(log []sentFrame) []sentFrame {
	var out []sentFrame
	for _, f := range log {
		if len(f.text) > 0 || f.flags != ack {
			out = append(out, f)
		}
	}
	return out
}

// Two Writes in one callback are one segment when they fit, with Nagle
// on or off; text beyond the MSS is cut into full segments first.
func TestCorkTwoWrites(t *testing.T) {
	for _, noDelay := range []bool{false, true} {
		cfg := tcp.DefaultConfig()
		cfg.NoDelay = noDelay
		var big []byte
		h := &corkHandler{onData: func(c *Conn, data []byte) {
			if string(data) == "big" {
				c.Write(big[:1000])
				c.Write(big[1000:])
				return
			}
			c.Write([]byte("a"))
			c.Write([]byte("b"))
		}}
		p := newPipe(t, h, &cfg)
		p.dial()
		mss := int(h.c.TCB().Vars().SndMSS) // the text a full segment carries
		big = bytes.Repeat([]byte("0123456789"), 200)[:mss+300]
		log := logFrames(t, p)
		p.cli.Write([]byte("small"), p.now)
		p.pump()
		wantFrames(t, "two small writes", dataFrames(*log), sentFrame{flags: pshAck, text: []byte("ab")})
		p.read()
		p.advance(50 * time.Millisecond) // the client's delayed ACK
		*log = nil
		p.cli.Write([]byte("big"), p.now)
		p.pump()
		wantFrames(t, "two writes over one MSS", dataFrames(*log),
			sentFrame{flags: ack, text: big[:mss]},
			sentFrame{flags: pshAck, text: big[mss:]})
		if got := p.read(); !bytes.Equal(got, big) {
			t.Fatalf("client read %d octets, want %d", len(got), len(big))
		}
	}
}

// Text is never delayed past the iteration that wrote it: written in a
// callback of a received segment it is staged when Input returns;
// written by a posted function, by OnTimeout, or outside any callback
// (a settle cut short leaves connections dirty), it leaves with the
// iteration's flush.
func TestCorkBoundedByIteration(t *testing.T) {
	h := &corkHandler{onData: func(c *Conn, _ []byte) { c.Write([]byte("re")); c.Write([]byte("ply")) }}
	p := newPipe(t, h, nil)
	p.dial()
	log := logFrames(t, p)
	c := h.c

	// A received segment's callback.
	p.cli.Write([]byte("q"), p.now)
	for i := range p.toLoop.len {
		p.l.Input(p.toLoop.buf[i][:p.toLoop.n[i]])
	}
	p.toLoop.len = 0
	p.l.flush() // what Input staged
	wantFrames(t, "reply", dataFrames(*log), sentFrame{flags: pshAck, text: []byte("reply")})
	p.pump()

	// A posted function, run by one iteration.
	*log = nil
	if err := p.l.Post(func() { c.Write([]byte("po")); c.Write([]byte("sted")) }); err != nil {
		t.Fatal(err)
	}
	p.l.iterate()
	wantFrames(t, "posted", *log, sentFrame{flags: pshAck, text: []byte("posted")})
	p.pump()

	// OnTimeout, run by one iteration.
	*log = nil
	h.onTimeout = func(c *Conn) { c.Write([]byte("time")); c.Write([]byte("out")) }
	c.SetTimer(p.l.now.Add(time.Millisecond))
	p.now = p.now.Add(5 * time.Millisecond)
	p.l.now = p.now
	p.l.iterate()
	wantFrames(t, "timeout", *log, sentFrame{flags: pshAck, text: []byte("timeout")})
	p.pump()

	// Outside any settle: the connection is still dirty at the flush.
	*log = nil
	c.Write([]byte("late"))
	if !c.dirty || !c.unpushed {
		t.Fatal("Write left the connection clean")
	}
	p.l.iterate()
	wantFrames(t, "unsettled", *log, sentFrame{flags: pshAck, text: []byte("late")})
	p.pump()
	p.l.settle()
	if got := string(p.read()); got != "replypostedtimeoutlate" {
		t.Fatalf("client read %q", got)
	}
}

// Write then Abort in one callback: the text leaves ahead of the RST, as
// it did when Write sent at once.
func TestCorkWriteAbort(t *testing.T) {
	h := &corkHandler{onData: func(c *Conn, _ []byte) { c.Write([]byte("bye")); c.Abort() }}
	p := newPipe(t, h, nil)
	p.dial()
	log := logFrames(t, p)
	p.cli.Write([]byte("q"), p.now)
	p.pump()
	got := dataFrames(*log)
	if len(got) > 2 { // the client's ACK of "bye" reached no connection: a RST answers it
		got = got[:2]
	}
	wantFrames(t, "abort", got, sentFrame{flags: pshAck, text: []byte("bye")}, sentFrame{flags: wire.TCPFlagRST})
}

// A Write larger than the send buffer and a Close in one callback: the
// held text drains as the client acknowledges, all of it arrives, and the
// FIN rides on the last segment (no bare FIN).
func TestCorkBackpressureClose(t *testing.T) {
	want := bytes.Repeat([]byte("backpressure"), 20000) // 240 kB, beyond the send buffer
	h := &corkHandler{onData: func(c *Conn, _ []byte) {
		c.Write(want)
		if c.Buffered() == 0 {
			t.Error("the send buffer took the whole Write: no backpressure")
		}
		c.Close()
	}}
	p := newPipe(t, h, nil)
	p.dial()
	log := logFrames(t, p)
	p.cli.Write([]byte("q"), p.now)
	var got []byte
	for rounds := 0; p.cli.State() != tcp.CloseWait; rounds++ {
		if rounds > 10000 {
			t.Fatalf("stalled: read %d of %d", len(got), len(want))
		}
		p.pump()
		got = append(got, p.read()...)
		p.advance(50 * time.Millisecond)
	}
	got = append(got, p.read()...)
	if !bytes.Equal(got, want) {
		t.Fatalf("client read %d octets, want %d", len(got), len(want))
	}
	fins := 0
	for i, f := range *log {
		if f.flags&wire.TCPFlagFIN != 0 {
			fins++
			if len(f.text) == 0 || i != len(*log)-1 {
				t.Errorf("FIN on frame %d of %d with %d octets of text", i, len(*log), len(f.text))
			}
		}
	}
	if fins != 1 {
		t.Fatalf("%d FINs sent", fins)
	}
}
