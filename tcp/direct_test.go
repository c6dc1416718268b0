package tcp_test

import (
	"bytes"
	"testing"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// held feeds text with Segment.Hold, as sched's loop does with a frame.
func held(h *H, seq tcp.Seq, frame []byte) {
	h.TCB.Input(&tcp.Segment{Seq: seq, Ack: ISS + 1, Flags: tcp.FlagACK, Window: 65535,
		Payload: frame, Hold: true}, h.Now)
}

// In-order text at an empty buffer stays in the frame: Peek returns the
// frame's own memory, and a reader that takes it all never copies.
// Unalias copies only what is left, so the frame can be reused.
func TestHoldPeekUnalias(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.RecvBuffer, cfg.MSS = 1000, 400
	h := New(t, cfg)
	r := h.Accept(irs)
	d := pattern(1200)

	frame := append([]byte{}, d[:400]...)
	held(h, r, frame)
	if !h.TCB.Holding() {
		t.Fatal("text was copied, not held")
	}
	a, b := h.TCB.Peek()
	if len(a) != 400 || &a[0] != &frame[0] || b != nil {
		t.Fatalf("peek %d+%d not the frame's memory", len(a), len(b))
	}
	if v := h.TCB.Vars(); v.RcvNxt != r+400 || h.TCB.Buffered() != 400 {
		t.Fatalf("RCV.NXT %v buffered %d", v.RcvNxt, h.TCB.Buffered())
	}
	h.TCB.Consume(400, h.Now)
	h.TCB.Unalias()
	if h.TCB.Holding() || h.TCB.Buffered() != 0 {
		t.Fatal("consumed text still held")
	}

	// A reader that takes only part: the rest is copied by Unalias and
	// survives the frame's reuse.
	frame = append(frame[:0], d[400:800]...)
	held(h, r+400, frame)
	h.TCB.Consume(150, h.Now)
	h.TCB.Unalias()
	clear(frame)
	a, b = h.TCB.Peek()
	if got := append(append([]byte{}, a...), b...); !bytes.Equal(got, d[550:800]) {
		t.Fatalf("after Unalias: %d octets, want d[550:800]", len(got))
	}
	// Text behind unread text is appended by copy, never held.
	frame2 := append([]byte{}, d[800:1000]...)
	held(h, r+800, frame2)
	if h.TCB.Holding() {
		t.Fatal("held text behind buffered text")
	}
	clear(frame2)
	a, b = h.TCB.Peek()
	if got := append(append([]byte{}, a...), b...); !bytes.Equal(got, d[550:1000]) {
		t.Fatalf("appended: %d octets", len(got))
	}
}

// Out-of-order text arriving while in-order text is held goes to its own
// places in the ring; Read, which copies, sees everything in order.
func TestHoldThenOutOfOrder(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.RecvBuffer, cfg.MSS = 2000, 400
	h := New(t, cfg)
	r := h.AcceptWith(irs, tcp.Options{SACKPermitted: true})
	d := pattern(1200)
	frame := append([]byte{}, d[:400]...)
	held(h, r, frame)
	// Before the caller's Unalias a second segment, out of order, arrives.
	h.In(Seg{Flags: ACK, Seq: r + 800, Ack: ISS + 1, Data: d[800:1200]})
	h.Take()
	h.TCB.Unalias()
	clear(frame)
	h.In(Seg{Flags: ACK, Seq: r + 400, Ack: ISS + 1, Data: d[400:800]})
	got := make([]byte, 2000)
	n, err := h.TCB.Read(got, h.Now)
	if err != nil || !bytes.Equal(got[:n], d) {
		t.Fatalf("read %d %v", n, err)
	}
}
