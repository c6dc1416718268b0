package tcp_test

import (
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// ackPushHarness is an established connection whose peer sends full
// segments of 1460 octets, outside quick-ACK mode, so text is ACKed
// every second full segment or by the delayed-ACK timer. With push it
// is a PushSink's.
func ackPushHarness(t *testing.T, push bool) (*H, tcp.Seq) {
	cfg := tcp.DefaultConfig()
	cfg.QuickACKs = 0
	var h *H
	var r tcp.Seq
	if push {
		h, r = pushHandshake(t, cfg)
	} else {
		h = New(t, cfg)
		r = h.HandshakeWith(irs, PeerSACK)
	}
	// A full segment without PSH waits for the timer, read or not: the
	// peer's next segment is near (RFC 9293 §3.8.6.3).
	d := pattern(1460)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: d})
	h.NoOut()
	readAll(t, h, len(d))
	h.TCB.Push(h.Now)
	h.NoOut()
	h.Advance(cfg.DelayedACK)
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 1460})
	return h, r + 1460
}

func readAll(t *testing.T, h *H, want int) {
	t.Helper()
	buf := make([]byte, 4096)
	if n, err := h.TCB.Read(buf, h.Now); n != want || err != nil {
		t.Fatalf("Read: %d, %v; want %d octets", n, err, want)
	}
}

// The last segment of a flight, shorter than a full one or full with
// PSH, is ACKed as soon as the application has read everything (Linux
// tcp_cleanup_rbuf), not at the delayed-ACK timeout: the sender's
// window waits on it. A partial read leaves it delayed.
func TestPushedTextACKedOnRead(t *testing.T) {
	for _, c := range []struct {
		name  string
		flags tcp.Flags
		n     int
	}{
		{"short", ACK, 300},
		{"short PSH", ACK | PSH, 300},
		{"full PSH", ACK | PSH, 1460},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, r := ackPushHarness(t, false)
			d := pattern(c.n)
			h.In(Seg{Flags: c.flags, Seq: r, Ack: ISS + 1, Data: d})
			end := r + tcp.Seq(c.n)
			h.NoOut()
			buf := make([]byte, c.n)
			if n, _ := h.TCB.Read(buf[:100], h.Now); n != 100 {
				t.Fatalf("Read %d", n)
			}
			h.NoOut() // text left unread: still delayed
			readAll(t, h, c.n-100)
			h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: end})
			h.Advance(time.Second)
			h.NoOut() // the timer went with the ACK
		})
	}
}

// A full segment without PSH is not the end of a write: read or not, it
// waits for the next segment or the delayed-ACK timer.
func TestFullTextACKDelayedOnRead(t *testing.T) {
	h, r := ackPushHarness(t, false)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: pattern(1460)})
	readAll(t, h, 1460)
	h.NoOut()
	h.Advance(h.Cfg.DelayedACK)
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 1460})

	// An ACK covered it: a later full segment without PSH is not pushed
	// by the mark of one before that ACK.
	h.In(Seg{Flags: ACK | PSH, Seq: r + 1460, Ack: ISS + 1, Data: pattern(300)})
	h.Advance(h.Cfg.DelayedACK)
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 1760})
	h.In(Seg{Flags: ACK, Seq: r + 1760, Ack: ISS + 1, Data: pattern(1460)})
	readAll(t, h, 1760)
	h.NoOut()
}

// With a PushSink the ACK owed by the read waits for Push, as an Input's
// does, so an answer written in the same round carries it: a request
// read and answered costs one segment, not a bare ACK and the answer.
func TestPushedACKRidesOnAnswer(t *testing.T) {
	h, r := ackPushHarness(t, true)
	// Read with nothing written: Push sends the ACK bare.
	h.In(Seg{Flags: ACK | PSH, Seq: r, Ack: ISS + 1, Data: []byte("more")})
	readAll(t, h, 4)
	h.NoOut()
	h.TCB.Push(h.Now)
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 4})
	r += 4

	h.In(Seg{Flags: ACK | PSH, Seq: r, Ack: ISS + 1, Data: []byte("ask")})
	readAll(t, h, 3)
	answerCarriesACK(t, h, r+3, "the pushed text was read")
}

// A connection whose text is answered (Linux's pingpong mode) does not
// ACK pushed text on read with a Sink that sends at once: the answer,
// written after the read, carries the ACK. An answer later than the
// delayed-ACK timeout does not make it interactive, and a second short
// segment while one waits is ACKed on read even when interactive (Linux
// ICSK_ACK_PUSHED2).
func TestInteractiveRequestsNoBareACK(t *testing.T) {
	h, r := ackPushHarness(t, false)
	// The first request: nothing answered yet, so not interactive.
	h.In(Seg{Flags: ACK | PSH, Seq: r, Ack: ISS + 1, Data: []byte("GET 1")})
	readAll(t, h, 5)
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 5})
	h.Advance(time.Millisecond)
	h.TCB.Write([]byte("one"), h.Now)
	h.Out(Seg{Flags: ACK | PSH, Seq: ISS + 1, Ack: r + 5, Data: []byte("one")})
	r += 5

	// Answered within the delayed-ACK timeout: the next request is read
	// without a bare ACK, and the answer carries it.
	for i := range 3 {
		h.Advance(30 * time.Millisecond)
		snd := ISS + 1 + tcp.Seq(3*(i+1))
		h.In(Seg{Flags: ACK | PSH, Seq: r, Ack: snd, Data: []byte("GET 2")})
		readAll(t, h, 5)
		h.NoOut()
		h.TCB.Write([]byte("two"), h.Now)
		h.Out(Seg{Flags: ACK | PSH, Seq: snd, Ack: r + 5, Data: []byte("two")})
		r += 5
	}
	snd := ISS + 1 + 12

	// A second short segment while the first waits: ACKed on read.
	h.In(Seg{Flags: ACK, Seq: r, Ack: snd, Data: []byte("POST")})
	readAll(t, h, 4)
	h.NoOut()
	h.In(Seg{Flags: ACK | PSH, Seq: r + 4, Ack: snd, Data: []byte("body")})
	readAll(t, h, 4)
	h.Out(Seg{Flags: ACK, Seq: snd, Ack: r + 8})
	r += 8

	// An answer later than the timeout: the next request is ACKed on read.
	h.In(Seg{Flags: ACK | PSH, Seq: r, Ack: snd, Data: []byte("GET 3")})
	readAll(t, h, 5)
	h.NoOut()
	h.Advance(h.Cfg.DelayedACK + 10*time.Millisecond) // the timer ACKs
	h.Out(Seg{Flags: ACK, Seq: snd, Ack: r + 5})
	h.TCB.Write([]byte("three"), h.Now)
	h.Out(Seg{Flags: ACK | PSH, Seq: snd, Ack: r + 5, Data: []byte("three")})
	r += 5
	h.Advance(10 * time.Millisecond)
	h.In(Seg{Flags: ACK | PSH, Seq: r, Ack: snd + 5, Data: []byte("GET 4")})
	readAll(t, h, 5)
	h.Out(Seg{Flags: ACK, Seq: snd + 5, Ack: r + 5})
}

// Within a received run (Segment.More) a PSH is not the end of the
// flight: the run's last segment decides, as Linux measures a
// GRO-merged run once, so a PSH read mid-run costs no ACK of its own.
func TestPushedRunACKedAtItsEnd(t *testing.T) {
	h, r := ackPushHarness(t, true)
	d := pattern(3 * 1460)
	in := func(seq tcp.Seq, p []byte, f tcp.Flags, more bool) {
		seg := tcp.Segment{Seq: seq, Ack: ISS + 1, Flags: f, Window: 65535, Payload: p, More: more}
		h.TCB.Input(&seg, h.Now)
	}
	in(r, d[:1460], ACK|PSH, true)
	readAll(t, h, 1460)
	h.TCB.Push(h.Now)
	h.NoOut() // more of the run follows
	in(r+1460, d[1460:2920], ACK, false)
	readAll(t, h, 1460)
	h.TCB.Push(h.Now)
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 2920}) // two full segments
	in(r+2920, d[2920:], ACK|PSH, true)
	readAll(t, h, 1460)
	h.TCB.Push(h.Now)
	h.NoOut() // the PSH mid-run: no ACK of its own
	in(r+4380, d[:300], ACK, false)
	readAll(t, h, 300)
	h.TCB.Push(h.Now)
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 4680})
}
