package tcp_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/tcpcheck"
	. "github.com/sluicenet/sluice/tcp/tcptest"
	"github.com/sluicenet/sluice/wire"
)

// With the peer silent, one segment is sent again at gaps that double
// (RFC 6298 §5.5) until the connection times out, under each option
// set: with SACK and an SRTT a tail loss probe may go first (RFC 8985
// §7.2), but never between the RTOs, where it would undo their backoff
// (issue 14 item 1: 0.2, 0.4, 0.6, 1.0, 1.2 s...).
func TestRTOBackoffUnderOptions(t *testing.T) {
	for _, o := range PeerOptionSets {
		t.Run(o.Name, func(t *testing.T) {
			cfg := tcp.DefaultConfig()
			cfg.DataRetries = 6
			h := New(t, cfg)
			r := h.HandshakeWith(irs, o.Opts)
			// One exchange first, for an SRTT.
			h.TCB.Write([]byte("x"), h.Now)
			h.Take()
			h.Advance(10 * time.Millisecond)
			h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 2})
			h.Take()
			h.TCB.Write([]byte("lost"), h.Now)
			var at []tcp.Instant
			for range 100 {
				for _, e := range h.Take() {
					if e.Seg.Seq == ISS+2 && bytes.Equal(e.Seg.Payload, []byte("lost")) {
						at = append(at, h.Now)
					}
				}
				if h.TCB.State() == tcp.Closed {
					break
				}
				h.Advance(h.TCB.Deadline().Sub(h.Now))
			}
			if !errors.Is(h.TCB.Err(), tcp.ErrTimeout) {
				t.Fatalf("state %v, err %v", h.TCB.State(), h.TCB.Err())
			}
			var gaps []time.Duration
			for i := 1; i < len(at); i++ {
				gaps = append(gaps, at[i].Sub(at[i-1]))
			}
			t.Logf("gaps %v", gaps)
			if n := len(at); n < cfg.DataRetries+1 || n > cfg.DataRetries+2 {
				t.Errorf("%d transmissions for %d retries", n, cfg.DataRetries)
			}
			for i := 2; i < len(gaps); i++ {
				if gaps[i] != min(2*gaps[i-1], cfg.MaxRTO) {
					t.Errorf("gap %d is %v after %v: not doubled", i, gaps[i], gaps[i-1])
				}
			}
			if len(gaps) > 1 && gaps[1] < gaps[0] {
				t.Errorf("first RTO after %v, the probe after %v", gaps[1], gaps[0])
			}
		})
	}
}

// Issue 14 item 4: a peer that SACKs the octet at SND.UNA without
// acknowledging it (reneging, or a middlebox mangling SACK) must still
// get it retransmitted by the RTO (RFC 2018 §8), not nothing until
// ErrTimeout.
func TestRTORetransmitsSACKedHead(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.HandshakeWith(irs, PeerSACK)
	h.TCB.Write([]byte("reneged"), h.Now)
	h.Take()
	sack := tcp.Options{NumSACK: 1}
	sack.SACK[0] = tcp.SACKBlock{Left: uint32(ISS + 1), Right: uint32(ISS + 8)}
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Opts: sack})
	h.Take()
	untilRTO(h, 1) // a tail loss probe may go first
	h.Out(Seg{Flags: ACK | PSH, Seq: ISS + 1, Ack: r, Data: []byte("reneged")})
	if st := h.TCB.Stats(); st.SACKReneging != 1 {
		t.Fatalf("reneging counted %d times", st.SACKReneging)
	}
}

// Issue 14 item 5: with Nagle on, a lost short tail is retransmitted as
// soon as go-back-N after an RTO reaches it: Nagle applies to new data
// only (Linux never applies it to retransmissions).
func TestNagleSparesRetransmissions(t *testing.T) {
	h := New(t, tcp.DefaultConfig()) // Nagle on
	r := h.HandshakeWith(irs, PeerSACK)
	mss := int(h.TCB.Vars().SndMSS)
	data := bytes.Repeat([]byte("n"), mss+10)
	h.TCB.Write(data, h.Now)
	if out := h.Take(); len(out) != 2 {
		t.Fatalf("sent %d segments, want a full one and the short tail", len(out))
	}
	// Both lost (and the tail loss probe); the RTO sends the first
	// again (cwnd one segment).
	untilRTO(h, 1)
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r, Data: data[:mss]})
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1 + tcp.Seq(mss)})
	h.Out(Seg{Flags: ACK | PSH, Seq: ISS + 1 + tcp.Seq(mss), Ack: r, Data: data[mss:]})
}

// Issue 14 item 6: the second timeout of the same segment keeps the
// ssthresh of the first (RFC 5681 §3.1), with CUBIC and NewReno.
func TestRepeatedRTOKeepsSsthresh(t *testing.T) {
	for _, cc := range []tcp.Algorithm{tcp.CUBIC, tcp.NewReno} {
		t.Run(cc.String(), func(t *testing.T) {
			cfg := tcp.DefaultConfig()
			cfg.CC = cc
			h := New(t, cfg)
			h.HandshakeWith(irs, PeerSACK)
			h.TCB.Write(bytes.Repeat([]byte("s"), 10*int(h.TCB.Vars().SndMSS)), h.Now)
			h.Take()
			untilRTO(h, 1)
			first := h.TCB.Congestion().Ssthresh
			untilRTO(h, 2)
			h.Take()
			if got := h.TCB.Congestion().Ssthresh; got != first || first < 4*uint32(h.TCB.Vars().SndMSS) {
				t.Fatalf("ssthresh %d after the first RTO, %d after the second", first, got)
			}
		})
	}
}

// Issue 14 item 7: on a steady 250 ms path (one timestamp sample per
// ACK, RTTVAR decaying towards 0) the RTO keeps MinRTO above SRTT, as
// Linux's floor on the variance term does, rather than SRTT + 1 ms.
func TestRTOFloorOnLongPath(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.RTT = 250 * time.Millisecond
	r := h.HandshakeWith(irs, PeerTS)
	for i := range 50 {
		h.TCB.Write([]byte("p"), h.Now)
		h.Take()
		h.Advance(250 * time.Millisecond)
		h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 2 + tcp.Seq(i)})
	}
	if got := h.TCB.Vars().RTO; got < 250*time.Millisecond+h.Cfg.MinRTO {
		t.Fatalf("RTO %v on a 250 ms path, want at least SRTT + MinRTO", got)
	}
}

// Issue 14 item 3: a segment carrying SACK blocks carries that much less
// text, so options and text stay within the peer's MSS (and the MTU),
// as Linux's tcp_current_mss does.
func TestSACKBlocksShortenSegments(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Check.Checks = tcpcheck.CheckBackoff // this test is the size check, for every segment
	r := h.HandshakeWith(irs, PeerLinux)
	h.In(Seg{Flags: ACK, Seq: r + 100, Ack: ISS + 1, Data: []byte("hole below")})
	h.Take()
	h.TCB.Write(make([]byte, 3000), h.Now)
	out := h.Take()
	if len(out) == 0 {
		t.Fatal("nothing sent")
	}
	for _, e := range out {
		o := e.Seg.Options
		if n := len(e.Seg.Payload) + wire.TCPOptionsLen(&o); o.NumSACK == 0 || n > int(PeerLinux.MSS) {
			t.Errorf("%d SACK blocks: %d option and text octets for the peer's MSS %d", o.NumSACK, n, PeerLinux.MSS)
		}
	}
}

// untilRTO runs h's timers until the connection has had n retransmission
// timeouts, and returns what was sent at the last one.
func untilRTO(h *H, n uint64) {
	h.T.Helper()
	for range 100 {
		if h.TCB.Stats().RTOExpiries >= n {
			return
		}
		h.Take()
		h.Advance(h.TCB.Deadline().Sub(h.Now))
	}
	h.T.Fatalf("no RTO %d", n)
}

// Issue 14 item 8: the handshake gives the first RTT sample, on an
// active open and on a passive one without timestamps, so the first RTO
// is not the 1 s initial one.
func TestHandshakeRTTSample(t *testing.T) {
	const rtt = 50 * time.Millisecond
	h := New(t, tcp.DefaultConfig())
	h.RTT = rtt
	h.HandshakeWith(irs, PeerPlain)
	if c := h.TCB.Congestion(); c.SRTT != int64(rtt) || h.TCB.Vars().RTO != rtt+h.Cfg.MinRTO {
		t.Errorf("active open: SRTT %v, RTO %v", time.Duration(c.SRTT), h.TCB.Vars().RTO)
	}
	h = New(t, tcp.DefaultConfig())
	h.Listen()
	h.In(Seg{Flags: SYN, Seq: irs})
	h.Take()
	h.Advance(rtt)
	h.In(Seg{Flags: ACK, Seq: irs + 1, Ack: ISS + 1})
	if c := h.TCB.Congestion(); c.SRTT != int64(rtt) {
		t.Errorf("passive open: SRTT %v", time.Duration(c.SRTT))
	}
}
