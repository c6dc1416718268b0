package sched

import (
	"bytes"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
)

// pauser keeps what it receives and pauses reading once each burst
// reaches limit octets, as a slow application's buffer bound would.
type pauser struct {
	limit    int
	got      []byte
	burst    int
	pauses   int
	eof      int
	eofAt    int // len(got) when OnEOF ran
	conn     *Conn
	closeErr error
	closes   int
}

func (h *pauser) OnOpen(c *Conn) { h.conn = c }
func (h *pauser) OnData(c *Conn, data []byte) {
	if c.ReadPaused() && h.burst >= h.limit {
		// Only the second half of a wrapped buffer may follow a pause
		// (it was consumed with the first).
		h.pauses = -1 << 30
	}
	h.got = append(h.got, data...)
	h.burst += len(data)
	if h.burst >= h.limit && !c.ReadPaused() {
		h.pauses++
		c.PauseRead()
	}
}
func (h *pauser) OnEOF(c *Conn) {
	h.eof++
	h.eofAt = len(h.got)
	c.Close()
}
func (h *pauser) OnClose(c *Conn, err error) { h.closeErr = err; h.closes++ }

// TestPipePauseRead: while the application has paused reading, the text
// stays in the receive buffer and the peer is shown a zero window (RFC
// 9293 §3.8.6); ResumeRead, posted from outside the loop, delivers it
// and opens the window. The FIN is reported only after the last octet,
// and every octet arrives in order.
func TestPipePauseRead(t *testing.T) {
	const total = 2 << 20
	h := &pauser{limit: 100 << 10}
	p := newPipe(t, h, nil)
	p.group = []*Loop{p.l}
	p.dial()
	want := pattern(total)
	sent, finSent := 0, false
	zeroSeen := 0
	feed := func() {
		if sent < total {
			n, err := p.cli.Write(want[sent:], p.now)
			if err != nil {
				t.Fatal(err)
			}
			sent += n
		} else if !finSent {
			if err := p.cli.CloseWrite(p.now); err != nil {
				t.Fatal(err)
			}
			finSent = true
		}
	}
	for rounds := 0; h.eof == 0; rounds++ {
		if rounds > 20000 {
			t.Fatalf("stalled: %d of %d octets delivered, %d sent", len(h.got), total, sent)
		}
		feed()
		p.pump()
		p.advance(50 * time.Millisecond)
		if h.conn == nil || !h.conn.ReadPaused() {
			continue
		}
		// Paused: let the peer run into the closed window and probe it.
		for range 4 {
			feed()
			p.advance(500 * time.Millisecond)
		}
		if h.eof != 0 {
			t.Fatalf("OnEOF while paused, %d octets delivered", len(h.got))
		}
		delivered := len(h.got)
		if rq := h.conn.TCB().Vars().RecvQueued; rq > 0 {
			if w := p.cli.Vars().SndWnd; w == 0 {
				zeroSeen++
			} else if p.cli.Vars().SendQueued > 0 {
				t.Fatalf("paused with %d octets held, the peer has %d to send, yet sees a %d-octet window", rq, p.cli.Vars().SendQueued, w)
			}
		}
		if len(h.got) != delivered {
			t.Fatal("delivered while paused")
		}
		h.burst = 0
		c := h.conn
		ref := c.Ref()
		if err := p.l.Post(func() {
			if lc := p.l.Conn(ref); lc != nil {
				lc.ResumeRead()
			}
		}); err != nil {
			t.Fatal(err)
		}
		p.pump()
	}
	for range 10 {
		p.advance(time.Second)
	}
	if h.pauses < 5 {
		t.Fatalf("paused %d times, want several (a bad delivery after a pause shows as negative)", h.pauses)
	}
	if zeroSeen == 0 {
		t.Fatal("the peer never saw a zero window while the application was paused")
	}
	if !bytes.Equal(h.got, want) {
		t.Fatalf("got %d octets, want %d (or they differ)", len(h.got), total)
	}
	if h.eof != 1 || h.eofAt != total {
		t.Fatalf("OnEOF %d times, after %d octets; want once, after %d", h.eof, h.eofAt, total)
	}
	if h.closeErr != nil {
		t.Fatalf("OnClose: %v", h.closeErr)
	}
	t.Logf("%d pauses, zero window seen in %d", h.pauses, zeroSeen)
}

// TestPauseReadHoldsEOF: a FIN arriving while paused with nothing unread
// is reported at ResumeRead, not before.
func TestPauseReadHoldsEOF(t *testing.T) {
	h := &pauser{limit: 1}
	p := newPipe(t, h, nil)
	p.group = []*Loop{p.l}
	p.dial()
	p.cli.Write([]byte("x"), p.now)
	p.pump()
	if !h.conn.ReadPaused() || string(h.got) != "x" {
		t.Fatalf("got %q, paused %v", h.got, h.conn.ReadPaused())
	}
	p.cli.CloseWrite(p.now)
	p.pump()
	p.advance(time.Second)
	if h.eof != 0 {
		t.Fatal("OnEOF while paused")
	}
	if h.conn.State() != tcp.CloseWait {
		t.Fatalf("server in %v, want CLOSE-WAIT (the FIN was taken)", h.conn.State())
	}
	h.conn.ResumeRead()
	p.l.settle()
	p.pump()
	if h.eof != 1 || h.eofAt != 1 {
		t.Fatalf("OnEOF %d times after resume", h.eof)
	}
}

// TestPauseReadAtEnd: a connection that ends in order while paused (both
// FINs exchanged: LAST-ACK to CLOSED, or FIN-WAIT to TIME-WAIT) delivers
// the text it held before OnClose, rather than freeing it unread.
func TestPauseReadAtEnd(t *testing.T) {
	for _, weFirst := range []bool{false, true} {
		h := &pauser{limit: 1}
		p := newPipe(t, h, nil)
		p.dial()
		want := pattern(40 << 10)
		p.cli.Write(want[:1], p.now)
		p.pump()
		if !h.conn.ReadPaused() {
			t.Fatal("not paused")
		}
		h.limit = 1 << 30
		if weFirst {
			h.conn.CloseWrite() // FIN-WAIT-1, then TIME-WAIT on the peer's FIN
			p.l.settle()
			p.l.flush()
			p.pump()
		}
		if n, _ := p.cli.Write(want[1:], p.now); n != len(want)-1 {
			t.Fatalf("peer queued %d", n)
		}
		p.cli.CloseWrite(p.now)
		p.pump()
		p.advance(100 * time.Millisecond)
		if !weFirst {
			h.conn.CloseWrite() // CLOSE-WAIT to LAST-ACK
			p.l.settle()
			p.l.flush()
			p.pump()
		}
		p.advance(100 * time.Millisecond)
		if h.closes != 1 {
			t.Fatalf("we closed first %v: OnClose ran %d times", weFirst, h.closes)
		}
		if !bytes.Equal(h.got, want) || h.closeErr != nil {
			t.Fatalf("we closed first %v: %d of %d octets delivered before OnClose (%v)", weFirst, len(h.got), len(want), h.closeErr)
		}
	}
}
