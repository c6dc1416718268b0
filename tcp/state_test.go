package tcp_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// One test per transition of the RFC 9293 §3.3.2 state diagram (Figure 5),
// named after it.

const (
	SYN = tcp.FlagSYN
	ACK = tcp.FlagACK
	FIN = tcp.FlagFIN
	RST = tcp.FlagRST
	PSH = tcp.FlagPSH
)

const irs tcp.Seq = 5000

func TestStateNames(t *testing.T) {
	// RFC 9293 §3.3.2 spells the states this way.
	want := []string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
		"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}
	for i, w := range want {
		if got := tcp.State(i).String(); got != w {
			t.Errorf("State(%d) = %q, want %q", i, got, w)
		}
	}
}

// CLOSED → LISTEN: passive OPEN, create TCB.
func TestClosedToListen(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Listen()
	h.State(tcp.Listen)
	h.NoOut()
}

// CLOSED → SYN-SENT: active OPEN, create TCB, snd SYN.
func TestClosedToSynSent(t *testing.T) {
	cfg := tcp.DefaultConfig()
	h := New(t, cfg)
	h.Dial()
	// Our SYN offers what Linux's does: MSS, SACK-permitted, timestamps,
	// window scale 7, and an unscaled window (RFC 7323 §2.2): the 64 KiB
	// buffer less the 1/16 a held right edge may creep into, in whole
	// scale units (tcp/output.go, advertise).
	h.Out(Seg{Flags: SYN, Seq: ISS, Win: 61440, CheckWin: true, CheckOpts: true, Opts: tcp.Options{
		MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTS: true, TSVal: uint32(h.Now / 1e6)}})
	h.State(tcp.SynSent)
}

// LISTEN → SYN-RECEIVED: rcv SYN, snd SYN,ACK.
func TestListenToSynReceived(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Listen()
	h.In(Seg{Flags: SYN, Seq: irs})
	h.Out(Seg{Flags: SYN | ACK, Seq: ISS, Ack: irs + 1})
	h.State(tcp.SynReceived)
}

// LISTEN → SYN-SENT: SEND on a passive endpoint turns it active
// (§3.10.2 "SEND call, LISTEN STATE"); sluice does it through Connect.
func TestListenToSynSent(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	l := h.Listen()
	if err := l.Connect(h.ID, h.Now); err != nil {
		t.Fatal(err)
	}
	h.Out(Seg{Flags: SYN, Seq: ISS})
	h.State(tcp.SynSent)
}

// LISTEN → CLOSED: CLOSE, delete TCB.
func TestListenToClosed(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Listen().Close(h.Now)
	h.NoOut()
	h.State(tcp.Closed)
}

// SYN-SENT → CLOSED: CLOSE, delete TCB (nothing is sent).
func TestSynSentToClosed(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Dial().Close(h.Now)
	h.Out(Seg{Flags: SYN, Seq: ISS})
	h.State(tcp.Closed)
	if h.Events()&tcp.EventClosed == 0 {
		t.Fatal("no EventClosed")
	}
}

// SYN-SENT → SYN-RECEIVED → ESTABLISHED: simultaneous open (§3.5 Figure 8).
func TestSimultaneousOpen(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Dial()
	h.Out(Seg{Flags: SYN, Seq: ISS})
	h.In(Seg{Flags: SYN, Seq: irs})
	h.Out(Seg{Flags: SYN | ACK, Seq: ISS, Ack: irs + 1})
	h.State(tcp.SynReceived)
	// The peer's SYN,ACK (its SYN again, acking ours).
	h.In(Seg{Flags: SYN | ACK, Seq: irs, Ack: ISS + 1})
	h.NoOut()
	h.State(tcp.Established)
	if h.Events()&tcp.EventEstablished == 0 {
		t.Fatal("no EventEstablished")
	}
}

// SYN-SENT → ESTABLISHED: rcv SYN,ACK, snd ACK.
func TestSynSentToEstablished(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Handshake(irs)
}

// SYN-RECEIVED → ESTABLISHED: rcv ACK of SYN.
func TestSynReceivedToEstablished(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Accept(irs)
}

// SYN-RECEIVED → FIN-WAIT-1: CLOSE. The FIN follows once our SYN is
// acknowledged (a FIN cannot be acknowledged before the SYN it follows).
func TestSynReceivedToFinWait1(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Listen()
	h.In(Seg{Flags: SYN, Seq: irs})
	h.Out(Seg{Flags: SYN | ACK, Seq: ISS, Ack: irs + 1})
	h.TCB.CloseWrite(h.Now)
	h.State(tcp.FinWait1)
	h.In(Seg{Flags: ACK, Seq: irs + 1, Ack: ISS + 1})
	h.Out(Seg{Flags: FIN | ACK, Seq: ISS + 1, Ack: irs + 1})
	h.In(Seg{Flags: ACK, Seq: irs + 1, Ack: ISS + 2})
	h.State(tcp.FinWait2)
}

// SYN-RECEIVED → LISTEN: rcv RST (passive open, §3.10.7.4 second check).
func TestSynReceivedToListenOnRST(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Listen()
	h.In(Seg{Flags: SYN, Seq: irs})
	h.Out(Seg{Flags: SYN | ACK, Seq: ISS, Ack: irs + 1})
	h.In(Seg{Flags: RST, Seq: irs + 1})
	h.NoOut()
	h.State(tcp.Listen)
	// And it still listens.
	h.In(Seg{Flags: SYN, Seq: 9000})
	h.Out(Seg{Flags: SYN | ACK, Seq: ISS, Ack: 9001})
	h.State(tcp.SynReceived)
}

// ESTABLISHED → FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT → CLOSED: the
// four-way close initiated locally (§3.6 Figure 12), under each peer
// option set, the first FIN lost once.
func TestActiveClose(t *testing.T) {
	for _, o := range PeerOptionSets {
		t.Run(o.Name, func(t *testing.T) {
			h := New(t, tcp.DefaultConfig())
			r := h.HandshakeWith(irs, o.Opts)
			h.TCB.Close(h.Now)
			h.Out(Seg{Flags: FIN | ACK, Seq: ISS + 1, Ack: r})
			h.State(tcp.FinWait1)
			h.Advance(h.TCB.Vars().RTO)
			h.Out(Seg{Flags: FIN | ACK, Seq: ISS + 1, Ack: r})
			h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 2})
			h.NoOut()
			h.State(tcp.FinWait2)
			h.In(Seg{Flags: FIN | ACK, Seq: r, Ack: ISS + 2})
			h.Out(Seg{Flags: ACK, Seq: ISS + 2, Ack: r + 1})
			h.State(tcp.TimeWait)
			if h.Events()&tcp.EventTimeWait == 0 {
				t.Fatal("no EventTimeWait")
			}
			h.Advance(2 * h.Cfg.MSL)
			h.State(tcp.Closed)
			if err := h.TCB.Err(); err != nil {
				t.Fatalf("graceful close error %v", err)
			}
		})
	}
}

// ESTABLISHED → CLOSE-WAIT → LAST-ACK → CLOSED: the four-way close
// initiated by the peer.
func TestPassiveClose(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Accept(irs)
	h.In(Seg{Flags: FIN | ACK, Seq: r, Ack: ISS + 1})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 1})
	h.State(tcp.CloseWait)
	if h.Events()&tcp.EventReadable == 0 || !h.TCB.EOF() {
		t.Fatal("FIN not reported as EOF")
	}
	h.TCB.Close(h.Now)
	h.Out(Seg{Flags: FIN | ACK, Seq: ISS + 1, Ack: r + 1})
	h.State(tcp.LastAck)
	h.In(Seg{Flags: ACK, Seq: r + 1, Ack: ISS + 2})
	h.NoOut()
	h.State(tcp.Closed)
	if h.TCB.Err() != nil {
		t.Fatal(h.TCB.Err())
	}
}

// FIN-WAIT-1 → CLOSING → TIME-WAIT: simultaneous close (§3.6 Figure 13).
func TestSimultaneousClose(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Handshake(irs)
	h.TCB.Close(h.Now)
	h.Out(Seg{Flags: FIN | ACK, Seq: ISS + 1, Ack: r})
	// The peer's FIN crosses ours: it does not acknowledge our FIN.
	h.In(Seg{Flags: FIN | ACK, Seq: r, Ack: ISS + 1})
	h.Out(Seg{Flags: ACK, Seq: ISS + 2, Ack: r + 1})
	h.State(tcp.Closing)
	h.In(Seg{Flags: ACK, Seq: r + 1, Ack: ISS + 2})
	h.State(tcp.TimeWait)
}

// FIN-WAIT-1 → TIME-WAIT: a FIN that also acknowledges ours.
func TestFinWait1ToTimeWait(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Handshake(irs)
	h.TCB.Close(h.Now)
	h.Out(Seg{Flags: FIN | ACK, Seq: ISS + 1, Ack: r})
	h.In(Seg{Flags: FIN | ACK, Seq: r, Ack: ISS + 2})
	h.Out(Seg{Flags: ACK, Seq: ISS + 2, Ack: r + 1})
	h.State(tcp.TimeWait)
}

func toTimeWait(t *testing.T) (*H, tcp.Seq) {
	h := New(t, tcp.DefaultConfig())
	r := h.Handshake(irs)
	h.TCB.Close(h.Now)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 2})
	h.In(Seg{Flags: FIN | ACK, Seq: r, Ack: ISS + 2})
	h.Take()
	h.State(tcp.TimeWait)
	return h, r
}

// TIME-WAIT → CLOSED after exactly 2 MSL of virtual time (§3.10.7.4).
func TestTimeWaitExpiresAfterExactly2MSL(t *testing.T) {
	h, _ := toTimeWait(t)
	h.Advance(2*h.Cfg.MSL - 1)
	h.State(tcp.TimeWait)
	h.Advance(1)
	h.State(tcp.Closed)
	h.NoOut()
}

// TIME-WAIT: a retransmitted FIN is acknowledged and restarts 2 MSL.
func TestTimeWaitReACKsFINAndRestarts(t *testing.T) {
	h, r := toTimeWait(t)
	h.Advance(h.Cfg.MSL)
	h.In(Seg{Flags: FIN | ACK, Seq: r, Ack: ISS + 2})
	h.Out(Seg{Flags: ACK, Seq: ISS + 2, Ack: r + 1})
	h.Advance(2*h.Cfg.MSL - 1)
	h.State(tcp.TimeWait)
	h.Advance(1)
	h.State(tcp.Closed)
}

// TIME-WAIT ignores RST (RFC 1337).
func TestTimeWaitIgnoresRST(t *testing.T) {
	h, r := toTimeWait(t)
	h.In(Seg{Flags: RST, Seq: r + 1})
	h.NoOut()
	h.State(tcp.TimeWait)
}

// RFC 6191: a SYN with a newer sequence number may reopen a TIME-WAIT
// connection; an old one may not.
func TestTimeWaitAcceptsSYN(t *testing.T) {
	h, r := toTimeWait(t)
	v := h.TCB.Vars()
	if v.RcvNxt != r+1 {
		t.Fatalf("RCV.NXT %d", v.RcvNxt)
	}
	newer := tcp.Segment{Flags: SYN, Seq: r + 100}
	older := tcp.Segment{Flags: SYN, Seq: r - 100}
	if !tcp.TimeWaitAcceptsSYN(v.RcvNxt, v.TSRecent, v.TS, &newer) || tcp.TimeWaitAcceptsSYN(v.RcvNxt, v.TSRecent, v.TS, &older) {
		t.Fatal("RFC 6191 check wrong")
	}
	tsOld := tcp.Segment{Flags: SYN, Seq: r + 100, Options: tcp.Options{HasTS: true, TSVal: 5}}
	if tcp.TimeWaitAcceptsSYN(v.RcvNxt, 10, true, &tsOld) {
		t.Fatal("older timestamp accepted")
	}
	// With timestamps, as Linux's tcp_timewait_state_process (and the
	// compact table, tcp/timewait): PAWS rejects an older TSval, a newer
	// one reopens whatever the sequence number, an equal one reopens only
	// beyond RCV.NXT (RFC 6191 §2 second case); a SYN without a timestamp
	// is judged by its sequence number.
	for _, c := range []struct {
		name  string
		seq   tcp.Seq
		ts    bool
		tsVal uint32
		want  bool
	}{
		{"newer TSval, old sequence", r - 100, true, 11, true},
		{"equal TSval, newer sequence", r + 100, true, 10, true},
		{"equal TSval, sequence at RCV.NXT", r + 1, true, 10, false},
		{"equal TSval, older sequence", r - 100, true, 10, false},
		{"older TSval across the wrap, newer sequence", r + 100, true, 10 + 1<<31 + 1, false},
		{"no timestamp, newer sequence", r + 100, false, 0, true},
		{"no timestamp, older sequence", r - 100, false, 0, false},
	} {
		seg := tcp.Segment{Flags: SYN, Seq: c.seq, Options: tcp.Options{HasTS: c.ts, TSVal: c.tsVal}}
		if got := tcp.TimeWaitAcceptsSYN(v.RcvNxt, 10, true, &seg); got != c.want {
			t.Errorf("%s: accepted %v, want %v", c.name, got, c.want)
		}
	}
	// A connection without timestamps judges every SYN by its sequence
	// number (Linux keeps no TS.Recent then; RFC 6191 would take any
	// timestamped SYN).
	newerTS := tcp.Segment{Flags: SYN, Seq: r - 100, Options: tcp.Options{HasTS: true, TSVal: 1 << 20}}
	if tcp.TimeWaitAcceptsSYN(v.RcvNxt, 0, false, &newerTS) {
		t.Error("no timestamps on the old connection: a timestamped SYN with an old sequence number accepted")
	}
	for _, f := range []tcp.Flags{SYN | ACK, SYN | RST} {
		seg := tcp.Segment{Flags: f, Seq: r + 100}
		if tcp.TimeWaitAcceptsSYN(v.RcvNxt, 10, false, &seg) {
			t.Errorf("flags %v accepted", f)
		}
	}
}

// FIN-WAIT-2 of an orphaned connection ends after FinTimeout (Linux
// tcp_fin_timeout); a half-closed one (CloseWrite) waits for the peer.
func TestFinWait2OrphanTimeout(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Handshake(irs)
	h.TCB.Close(h.Now)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 2})
	h.Take()
	h.State(tcp.FinWait2)
	h.Advance(h.Cfg.FinTimeout - 1)
	h.State(tcp.FinWait2)
	h.Advance(1)
	h.State(tcp.Closed)
	h.NoOut()

	h = New(t, tcp.DefaultConfig())
	r = h.Handshake(irs)
	h.TCB.CloseWrite(h.Now)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 2})
	h.Take()
	h.Advance(10 * h.Cfg.FinTimeout)
	h.State(tcp.FinWait2)
}

// Text after a full Close resets the connection (RFC 1122 4.2.2.13, RFC
// 2525 §2.17) with SEQ=SEG.ACK, as Linux: in FIN-WAIT-1, before the peer
// has our FIN, that is the FIN's own number, exactly the peer's RCV.NXT
// (SND.NXT, one past it, would only earn a challenge ACK, RFC 5961 §3.2).
func TestTextAfterCloseResetsAtSegAck(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Handshake(irs)
	h.TCB.Close(h.Now)
	h.Out(Seg{Flags: FIN | ACK, Seq: ISS + 1, Ack: r})
	h.State(tcp.FinWait1)
	h.In(Seg{Flags: ACK | PSH, Seq: r, Ack: ISS + 1, Data: []byte("more")})
	h.Out(Seg{Flags: RST, Seq: ISS + 1})
	h.State(tcp.Closed)
}

// A retransmitted FIN in LAST-ACK is a duplicate segment: its ACK reports
// it in a D-SACK block over the FIN's sequence number (RFC 2883 §4), as
// Linux's does.
func TestLastAckRefinDSACK(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.HandshakeWith(irs, PeerSACK)
	h.In(Seg{Flags: FIN | ACK, Seq: r, Ack: ISS + 1})
	h.Take()
	h.TCB.Close(h.Now)
	h.Take() // our FIN
	h.State(tcp.LastAck)
	h.In(Seg{Flags: FIN | ACK, Seq: r, Ack: ISS + 1}) // their FIN again
	out := h.Take()
	if len(out) != 1 {
		t.Fatalf("%d segments in answer to the repeated FIN, want 1 ACK", len(out))
	}
	o := out[0].Seg.Options
	if out[0].Seg.Ack != r+1 || o.NumSACK != 1 || tcp.Seq(o.SACK[0].Left) != r || tcp.Seq(o.SACK[0].Right) != r+1 {
		t.Fatalf("answer %v with %d SACK blocks %v, want ACK %d with D-SACK %d-%d", out[0], o.NumSACK, o.SACK[:o.NumSACK], r+1, r, r+1)
	}
}

// Half-close: after CloseWrite, data keeps flowing from the peer
// (§3.6: "CLOSE ... the user can continue to RECEIVE").
func TestHalfCloseDataKeepsFlowing(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Handshake(irs)
	h.TCB.CloseWrite(h.Now)
	h.Out(Seg{Flags: FIN | ACK, Seq: ISS + 1, Ack: r})
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 2})
	h.State(tcp.FinWait2)
	if _, err := h.TCB.Write([]byte("x"), h.Now); !errors.Is(err, tcp.ErrClosed) {
		t.Fatalf("write after CloseWrite: %v", err)
	}
	h.In(Seg{Flags: ACK | PSH, Seq: r, Ack: ISS + 2, Data: []byte("hello")})
	h.Out(Seg{Flags: ACK, Seq: ISS + 2, Ack: r + 5}) // quick ACK at start
	h.In(Seg{Flags: ACK | PSH, Seq: r + 5, Ack: ISS + 2, Data: []byte(" world")})
	h.Out(Seg{Flags: ACK, Seq: ISS + 2, Ack: r + 11})
	buf := make([]byte, 64)
	n, _ := h.TCB.Read(buf, h.Now)
	if string(buf[:n]) != "hello world" {
		t.Fatalf("read %q", buf[:n])
	}
	h.In(Seg{Flags: FIN | ACK, Seq: r + 11, Ack: ISS + 2})
	h.Out(Seg{Flags: ACK, Seq: ISS + 2, Ack: r + 12})
	h.State(tcp.TimeWait)
}

// SYN-SENT: the SYN is retransmitted with exponential backoff
// (RFC 6298 §5.5) SynRetries times, then the open fails (ErrTimeout).
func TestSynSentTimeout(t *testing.T) {
	cfg := tcp.DefaultConfig()
	h := New(t, cfg)
	h.Dial()
	h.Out(Seg{Flags: SYN, Seq: ISS})
	rto := cfg.InitialRTO
	for i := 0; i < cfg.SynRetries; i++ {
		h.Advance(rto - 1)
		h.NoOut()
		h.Advance(1)
		h.Out(Seg{Flags: SYN, Seq: ISS})
		rto *= 2
	}
	h.Advance(rto)
	h.State(tcp.Closed)
	if !errors.Is(h.TCB.Err(), tcp.ErrTimeout) {
		t.Fatalf("err %v", h.TCB.Err())
	}
}

// SYN-SENT: RST,ACK acknowledging our SYN → "connection refused".
func TestSynSentRefused(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Dial()
	h.Take()
	// A RST without ACK, or with a wrong ACK, is not acceptable.
	h.In(Seg{Flags: RST, Seq: 0})
	h.State(tcp.SynSent)
	h.In(Seg{Flags: RST | ACK, Seq: 0, Ack: ISS + 7})
	h.NoOut()
	h.State(tcp.SynSent)
	h.In(Seg{Flags: RST | ACK, Seq: 0, Ack: ISS + 1})
	h.State(tcp.Closed)
	if !errors.Is(h.TCB.Err(), tcp.ErrConnectionRefused) {
		t.Fatalf("err %v", h.TCB.Err())
	}
}

// SYN-SENT: an ACK for something never sent → <SEQ=SEG.ACK><CTL=RST>.
func TestSynSentBadACK(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Dial()
	h.Take()
	h.In(Seg{Flags: SYN | ACK, Seq: irs, Ack: ISS + 50})
	h.Out(Seg{Flags: RST, Seq: ISS + 50})
	h.State(tcp.SynSent)
}

// A segment to a closed connection (no TCB) gets the §3.10.7.1 reply.
func TestClosedReplies(t *testing.T) {
	var out tcp.Segment
	syn := tcp.Segment{Flags: SYN, Seq: 100}
	if !tcp.ResetReply(&syn, &out) || out.Flags != RST|ACK || out.Seq != 0 || out.Ack != 101 {
		t.Fatalf("SYN → %+v, want RST|ACK seq 0 ack 101", out)
	}
	ack := tcp.Segment{Flags: ACK, Seq: 100, Ack: 777, Payload: []byte("abc")}
	if !tcp.ResetReply(&ack, &out) || out.Flags != RST || out.Seq != 777 {
		t.Fatalf("ACK → %+v, want RST seq 777", out)
	}
	rst := tcp.Segment{Flags: RST, Seq: 1}
	if tcp.ResetReply(&rst, &out) {
		t.Fatal("RST answered")
	}
	// A TCB in CLOSED answers the same way.
	h := New(t, tcp.DefaultConfig())
	h.Dial().Close(h.Now)
	h.Take()
	h.In(Seg{Flags: SYN, Seq: 100})
	h.Out(Seg{Flags: RST | ACK, Seq: 0, Ack: 101})
}

// LISTEN: an ACK gets a RST <SEQ=SEG.ACK>; a RST is ignored.
func TestListenRejectsACK(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Listen()
	h.In(Seg{Flags: ACK, Seq: 1, Ack: 4242})
	h.Out(Seg{Flags: RST, Seq: 4242})
	h.In(Seg{Flags: RST, Seq: 1})
	h.NoOut()
	h.State(tcp.Listen)
}

// SYN-RECEIVED: an ACK that does not acknowledge our SYN (the old
// duplicate SYN case, §3.5 Figure 9) gets <SEQ=SEG.ACK><CTL=RST>.
func TestSynReceivedBadACK(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Listen()
	h.In(Seg{Flags: SYN, Seq: irs})
	h.Take()
	h.In(Seg{Flags: ACK, Seq: irs + 1, Ack: 90})
	h.Out(Seg{Flags: RST, Seq: 90})
	h.State(tcp.SynReceived)
	// A retransmitted SYN gets the SYN,ACK again.
	h.In(Seg{Flags: SYN, Seq: irs})
	h.Out(Seg{Flags: SYN | ACK, Seq: ISS, Ack: irs + 1})
}

// SYN-RECEIVED: the SYN,ACK is retransmitted with backoff; a standalone
// passive TCB gives up back to LISTEN.
func TestSynAckRetransmit(t *testing.T) {
	cfg := tcp.DefaultConfig()
	h := New(t, cfg)
	h.Listen()
	h.In(Seg{Flags: SYN, Seq: irs})
	h.Take()
	rto := cfg.InitialRTO
	for range cfg.SynAckRetries {
		h.Advance(rto)
		h.Out(Seg{Flags: SYN | ACK, Seq: ISS, Ack: irs + 1})
		rto *= 2
	}
	h.Advance(rto)
	h.NoOut()
	h.State(tcp.Listen)
}

// Three-way handshake with options (RFC 7323, RFC 2018, §3.7.1): all
// offered → all used; the SYN,ACK echoes what the SYN offered.
func TestHandshakeWithOptions(t *testing.T) {
	cfg := tcp.DefaultConfig()
	h := New(t, cfg)
	h.Listen()
	h.In(Seg{Flags: SYN, Seq: irs, Win: 65535, Opts: tcp.Options{MSS: 1400, HasWScale: true, WScale: 9, SACKPermitted: true, HasTS: true, TSVal: 777}})
	tsv := uint32(h.Now / 1e6)
	h.Out(Seg{Flags: SYN | ACK, Seq: ISS, Ack: irs + 1, CheckOpts: true,
		Opts: tcp.Options{MSS: cfg.MSS, HasWScale: true, WScale: cfg.WindowScale, SACKPermitted: true, HasTS: true, TSVal: tsv, TSEcr: 777}})
	h.In(Seg{Flags: ACK, Seq: irs + 1, Ack: ISS + 1, Win: 100, Opts: tcp.Options{HasTS: true, TSVal: 778, TSEcr: tsv}})
	h.State(tcp.Established)
	v := h.TCB.Vars()
	if !v.TS || !v.SACK || v.SndWScale != 9 || v.RcvWScale != cfg.WindowScale || v.SndMSS != 1400-12 || v.SndWnd != 100<<9 || v.TSRecent != 778 {
		t.Fatalf("negotiated %+v", v)
	}
	// Data segments carry timestamps and a scaled window that keeps the
	// SYN-ACK's unscaled right edge (61440: see TestClosedToSynSent).
	h.TCB.Write([]byte("hi"), h.Now)
	got := h.Take()
	if len(got) != 1 || !got[0].Seg.Options.HasTS || got[0].Seg.Options.TSEcr != 778 || int(got[0].Seg.Window) != 61440>>cfg.WindowScale {
		t.Fatalf("data segment %+v", got)
	}

	// No options offered → none used, default MSS 536.
	h = New(t, cfg)
	h.Listen()
	h.In(Seg{Flags: SYN, Seq: irs})
	h.Out(Seg{Flags: SYN | ACK, Seq: ISS, Ack: irs + 1, CheckOpts: true, Opts: tcp.Options{MSS: cfg.MSS}})
	h.In(Seg{Flags: ACK, Seq: irs + 1, Ack: ISS + 1})
	if v := h.TCB.Vars(); v.TS || v.SACK || v.SndWScale != 0 || v.RcvWScale != 0 || v.SndMSS != 536 {
		t.Fatalf("negotiated %+v", v)
	}
}

// RFC 7323 §5.3 PAWS: a segment with an old timestamp is dropped with an
// ACK.
func TestPAWS(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Listen()
	h.In(Seg{Flags: SYN, Seq: irs, Opts: tcp.Options{HasTS: true, TSVal: 1000}})
	h.In(Seg{Flags: ACK, Seq: irs + 1, Ack: ISS + 1, Opts: tcp.Options{HasTS: true, TSVal: 1001}})
	h.Take()
	h.In(Seg{Flags: ACK, Seq: irs + 1, Ack: ISS + 1, Data: []byte("old"), Opts: tcp.Options{HasTS: true, TSVal: 900}})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: irs + 1})
	if h.TCB.Buffered() != 0 {
		t.Fatal("PAWS-rejected data delivered")
	}
	h.In(Seg{Flags: ACK, Seq: irs + 1, Ack: ISS + 1, Data: []byte("new"), Opts: tcp.Options{HasTS: true, TSVal: 1002}})
	if h.TCB.Buffered() != 3 {
		t.Fatal("fresh data not delivered")
	}
	// §5.5: after 24 days of idleness TS.Recent is no longer trusted.
	h.Take()
	h.Advance(25 * 24 * time.Hour)
	h.In(Seg{Flags: ACK, Seq: irs + 4, Ack: ISS + 1, Data: []byte("late"), Opts: tcp.Options{HasTS: true, TSVal: 5}})
	if h.TCB.Buffered() != 7 || h.TCB.Vars().TSRecent != 5 {
		t.Fatalf("segment after 25 idle days: buffered %d TS.Recent %d", h.TCB.Buffered(), h.TCB.Vars().TSRecent)
	}
}
