package tcp_test

import (
	"testing"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// WriteMore (SEND without PUSH, RFC 9293 §3.9.1.2) sends nothing; a CLOSE
// after it sends the queued text with the FIN on the same segment, as
// Linux's tcp_send_fin joins the FIN to an unsent tail.
func TestWriteMoreThenClose(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Handshake(irs)
	for _, p := range []string{"HTTP/1.1 200 OK\r\n", "\r\n", "body"} {
		if n, err := h.TCB.WriteMore([]byte(p)); n != len(p) || err != nil {
			t.Fatal(n, err)
		}
	}
	h.NoOut()
	if err := h.TCB.Close(h.Now); err != nil {
		t.Fatal(err)
	}
	want := "HTTP/1.1 200 OK\r\n\r\nbody"
	h.Out(Seg{Flags: ACK | PSH | FIN, Seq: ISS + 1, Ack: r, Data: []byte(want)})
	h.State(tcp.FinWait1)
	if _, err := h.TCB.WriteMore([]byte("x")); err == nil {
		t.Fatal("WriteMore after Close succeeded")
	}
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1 + tcp.Seq(len(want)) + 1})
	h.State(tcp.FinWait2)
}

// Push sends what several WriteMores queued in as few segments as the
// send MSS allows (536 here: the peer sent no MSS option), Nagle or not,
// the last one pushed.
func TestWriteMorePush(t *testing.T) {
	for _, noDelay := range []bool{false, true} {
		cfg := tcp.DefaultConfig()
		cfg.NoDelay = noDelay
		h := New(t, cfg)
		r := h.Handshake(irs)
		h.TCB.WriteMore([]byte("a"))
		h.TCB.WriteMore([]byte("b"))
		h.NoOut()
		h.TCB.Push(h.Now)
		h.Out(Seg{Flags: ACK | PSH, Seq: ISS + 1, Ack: r, Data: []byte("ab")})
		h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 3})

		d := pattern(1200)
		h.TCB.WriteMore(d[:700])
		h.TCB.WriteMore(d[700:])
		h.NoOut()
		h.TCB.Push(h.Now)
		h.Out(
			Seg{Flags: ACK, Seq: ISS + 3, Ack: r, Data: d[:536]},
			Seg{Flags: ACK, Seq: ISS + 539, Ack: r, Data: d[536:1072]},
			Seg{Flags: ACK | PSH, Seq: ISS + 1075, Ack: r, Data: d[1072:]},
		)
		h.TCB.Push(h.Now) // nothing queued: nothing sent
		h.NoOut()
	}
}

// Under Nagle a pushed short segment still waits for the ACK of an
// earlier short one (RFC 9293 §3.7.4), and a CLOSE sends it at once with
// the FIN (Linux pushes the FIN's segment regardless of Nagle).
func TestWriteMoreNagle(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Handshake(irs)
	h.TCB.WriteMore([]byte("a"))
	h.TCB.Push(h.Now)
	h.Out(Seg{Flags: ACK | PSH, Seq: ISS + 1, Ack: r, Data: []byte("a")})
	h.TCB.WriteMore([]byte("b"))
	h.TCB.Push(h.Now)
	h.NoOut()
	h.TCB.Close(h.Now)
	h.Out(Seg{Flags: ACK | PSH | FIN, Seq: ISS + 2, Ack: r, Data: []byte("b")})
}

// With the peer's window closed, text queued by WriteMore and a CLOSE
// wait; when the window opens the text leaves with the FIN behind it
// (RFC 9293 §3.10.4: the FIN follows all queued SENDs).
func TestWriteMoreCloseZeroWindow(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Handshake(irs)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Win: 0, CheckWin: true})
	h.TCB.WriteMore([]byte("abc"))
	h.TCB.Push(h.Now)
	h.TCB.Close(h.Now)
	h.NoOut()
	h.State(tcp.FinWait1)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Win: 2, CheckWin: true})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r, Data: []byte("ab")})
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 3, Win: 100, CheckWin: true})
	h.Out(Seg{Flags: ACK | PSH | FIN, Seq: ISS + 3, Ack: r, Data: []byte("c")})
}

// pushSink is the harness as a PushSink: its owner pushes after Input.
type pushSink struct{ *H }

func (pushSink) PushesAfterInput() {}

// pushHandshake is Handshake with the harness as a PushSink.
func pushHandshake(t *testing.T, cfg tcp.Config) (*H, tcp.Seq) {
	h := New(t, cfg)
	h.TCB = tcp.Open(h.Cfg, h.ID, pushSink{h}, h.Now)
	h.Out(Seg{Flags: SYN, Seq: ISS})
	h.In(Seg{Flags: SYN | ACK, Seq: irs, Ack: ISS + 1})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: irs + 1}) // not an Input's owed ACK
	h.Events()
	return h, irs + 1
}

// answerCarriesACK checks that nothing went out yet, an ACK of ack is
// owed (after what), and the answer written before Push carries it.
func answerCarriesACK(t *testing.T, h *H, ack tcp.Seq, what string) {
	t.Helper()
	h.NoOut()
	if !h.TCB.AckOwed() {
		t.Fatal("no ACK owed after " + what)
	}
	h.TCB.WriteMore([]byte("answer"))
	h.TCB.Push(h.Now)
	h.Out(Seg{Flags: ACK | PSH, Seq: ISS + 1, Ack: ack, Data: []byte("answer")})
}

// With a PushSink the ACK an Input owes (quick ACK mode here) waits for
// Push: text written before it carries the ACK, and without text Push
// sends it bare. A FIN's ACK waits the same way, also into TIME-WAIT.
func TestPushSinkHoldsACK(t *testing.T) {
	h, r := pushHandshake(t, tcp.DefaultConfig())
	h.In(Seg{Flags: ACK | PSH, Seq: r, Ack: ISS + 1, Data: []byte("ask")})
	answerCarriesACK(t, h, r+3, "text in quick-ACK mode")
	if h.TCB.AckOwed() {
		t.Fatal("ACK still owed after the answer carried it")
	}

	h.In(Seg{Flags: ACK | PSH, Seq: r + 3, Ack: ISS + 7, Data: []byte("more")})
	h.NoOut()
	h.TCB.Push(h.Now)
	h.Out(Seg{Flags: ACK, Seq: ISS + 7, Ack: r + 7})
	h.TCB.Push(h.Now) // nothing owed: nothing sent
	h.NoOut()

	h.TCB.CloseWrite(h.Now) // the text stays unread: Close would reset
	h.Out(Seg{Flags: ACK | FIN, Seq: ISS + 7, Ack: r + 7})
	h.In(Seg{Flags: ACK, Seq: r + 7, Ack: ISS + 8})
	h.State(tcp.FinWait2)
	h.In(Seg{Flags: ACK | FIN, Seq: r + 7, Ack: ISS + 8})
	h.State(tcp.TimeWait)
	h.TCB.Push(h.Now)
	h.Out(Seg{Flags: ACK, Seq: ISS + 8, Ack: r + 8})
}
