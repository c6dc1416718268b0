package tcp_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// RFC 5961 §3.2: a RST with exactly RCV.NXT resets the connection.
func TestRFC5961RSTExact(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Accept(irs)
	h.In(Seg{Flags: RST, Seq: r})
	h.NoOut()
	h.State(tcp.Closed)
	if !errors.Is(h.TCB.Err(), tcp.ErrConnectionReset) {
		t.Fatalf("err %v", h.TCB.Err())
	}
	if _, err := h.TCB.Read(make([]byte, 1), h.Now); !errors.Is(err, tcp.ErrConnectionReset) {
		t.Fatalf("read err %v", err)
	}
}

// RFC 5961 §3.2: a RST inside the window but not at RCV.NXT gets a
// challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>; the connection stays.
func TestRFC5961RSTInWindowChallenge(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Accept(irs)
	h.In(Seg{Flags: RST, Seq: r + 100})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r})
	h.State(tcp.Established)
}

// RFC 5961 §3.2: a RST outside the window is dropped silently.
func TestRFC5961RSTOutOfWindow(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Accept(irs)
	h.In(Seg{Flags: RST, Seq: r + 1<<20})
	h.In(Seg{Flags: RST, Seq: r - 1})
	h.NoOut()
	h.State(tcp.Established)
}

// RFC 5961 §4.2: a SYN in a synchronized state gets a challenge ACK, in
// window or not, and changes nothing; a second one within 500 ms gets
// none (Linux's per-connection tcp_invalid_ratelimit).
func TestRFC5961SYNChallenge(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Accept(irs)
	h.In(Seg{Flags: SYN, Seq: r + 10})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r})
	h.In(Seg{Flags: SYN, Seq: r + 10})
	h.NoOut()
	h.Advance(500 * time.Millisecond)
	h.In(Seg{Flags: SYN, Seq: r - 1000}) // outside the window: the same
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r})
	h.State(tcp.Established)
}

// RFC 5961 §7: the challenge ACKs for SYNs out of the window (§4.2) and
// for ACKs of data never sent (§5.2) share the per-connection throttle
// (one per 500 ms, as Linux), so a blind injector gets no answer per
// guess.
func TestRFC5961ChallengeLimitSYNAndBadACK(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Accept(irs)
	for i := range 20 {
		h.In(Seg{Flags: SYN, Seq: r - 1000 - tcp.Seq(i)})
	}
	if n := len(h.Take()); n != 1 {
		t.Fatalf("%d ACKs for 20 out-of-window SYNs, want 1", n)
	}
	for i := range 20 {
		h.In(Seg{Flags: ACK | PSH, Seq: r, Ack: ISS + 1<<20 + tcp.Seq(i), Data: []byte("evil")})
	}
	if n := len(h.Take()); n != 0 || h.TCB.Buffered() != 0 {
		t.Fatalf("%d ACKs for 20 ACKs of unsent data in the same 500 ms (want 0), %d octets taken", n, h.TCB.Buffered())
	}
	h.Advance(500 * time.Millisecond)
	for i := range 20 {
		h.In(Seg{Flags: ACK | PSH, Seq: r, Ack: ISS + 1<<20 + tcp.Seq(i), Data: []byte("evil")})
	}
	if n := len(h.Take()); n != 1 || h.TCB.Buffered() != 0 {
		t.Fatalf("%d ACKs for 20 ACKs of unsent data (want 1), %d octets taken", n, h.TCB.Buffered())
	}
	// Every one of the 60 segments was discarded, counted once whether
	// its challenge ACK went out or was throttled.
	if h.TCB.Drops != 60 {
		t.Fatalf("Drops %d for 60 discarded segments", h.TCB.Drops)
	}
	h.State(tcp.Established)
}

// RFC 5961 §5.2 / RFC 9293 §3.10.7.4: an ACK for data never sent is
// answered with an ACK and dropped (its text is not taken); an ACK older
// than SND.UNA - MAX.SND.WND likewise.
func TestRFC5961ACKNeverSent(t *testing.T) {
	tooOld := ISS + 1
	tooOld -= 1 << 20
	h := New(t, tcp.DefaultConfig())
	r := h.Accept(irs)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 500, Data: []byte("evil")})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r})
	if h.TCB.Buffered() != 0 {
		t.Fatal("text of an unacceptable ACK was taken")
	}
	h.Advance(500 * time.Millisecond) // past the challenge ACK throttle
	h.In(Seg{Flags: ACK, Seq: r, Ack: tooOld, Data: []byte("evil")})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r})
	if h.TCB.Buffered() != 0 {
		t.Fatal("text of a too-old ACK was taken")
	}
	h.State(tcp.Established)
}

// RFC 5961 §7: challenge ACKs are rate limited: one per 500 ms per
// connection (Linux's tcp_invalid_ratelimit), then at most
// Config.ChallengeACKLimit per second.
func TestRFC5961ChallengeRateLimit(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.ChallengeACKLimit = 1
	h := New(t, cfg)
	r := h.Accept(irs)
	for range 20 {
		h.In(Seg{Flags: RST, Seq: r + 7})
	}
	if n := len(h.Take()); n != 1 {
		t.Fatalf("%d challenge ACKs within 500 ms, want 1", n)
	}
	if s := h.TCB.Stats(); s.ChallengeACKs != 1 || s.OOWACKsLimited != 19 {
		t.Fatalf("counted %d sent, %d throttled; want 1, 19", s.ChallengeACKs, s.OOWACKsLimited)
	}
	// Every 500 ms the throttle lets one through; the per-second budget
	// of 1 then takes every other one.
	for range 3 {
		h.Advance(500 * time.Millisecond)
		h.In(Seg{Flags: SYN, Seq: r + 7})
	}
	if n := len(h.Take()); n != 1 {
		t.Fatalf("%d challenge ACKs at +0.5, +1.0, +1.5 s, want 1 (at +1.0 s)", n)
	}
	if s := h.TCB.Stats(); s.ChallengeACKs != 2 || s.ChallengeACKsLimited != 2 {
		t.Fatalf("counted %d sent, %d over the budget; want 2, 2", s.ChallengeACKs, s.ChallengeACKsLimited)
	}
}

// RFC 9293 §3.10.7.4: in SYN-RECEIVED a RST of an active (simultaneous)
// open means "connection refused".
func TestSynReceivedActiveRST(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Dial()
	h.In(Seg{Flags: SYN, Seq: irs})
	h.Take()
	h.In(Seg{Flags: RST, Seq: irs + 1})
	h.State(tcp.Closed)
	if !errors.Is(h.TCB.Err(), tcp.ErrConnectionRefused) {
		t.Fatalf("err %v", h.TCB.Err())
	}
}

// ABORT (§3.10.5): <SEQ=SND.NXT><CTL=RST>, CLOSED with ErrAborted; closing
// with unread data does the same (RFC 2525 §2.17, Linux).
func TestAbort(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Accept(irs)
	h.TCB.Abort(h.Now)
	h.Out(Seg{Flags: RST, Seq: ISS + 1})
	h.State(tcp.Closed)
	if !errors.Is(h.TCB.Err(), tcp.ErrAborted) {
		t.Fatal(h.TCB.Err())
	}
	h = New(t, tcp.DefaultConfig())
	r = h.Accept(irs)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: []byte("unread")})
	h.Take()
	h.TCB.Close(h.Now)
	h.Out(Seg{Flags: RST, Seq: ISS + 1})
	h.State(tcp.Closed)
}
