package tcp_test

import (
	"errors"
	"testing"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// dialMSS establishes an active open with a peer offering MSS 1460 and
// no other option; it returns the peer's next sequence number.
func dialMSS(h *H) tcp.Seq {
	h.T.Helper()
	h.Dial()
	h.Take()
	h.In(Seg{Flags: tcp.FlagSYN | ACK, Seq: irs, Ack: ISS + 1, Opts: tcp.Options{MSS: 1460}})
	h.Take()
	h.State(tcp.Established)
	return irs + 1
}

// RFC 1191 §6.3 (and RFC 8201 §4 for IPv6): a "fragmentation needed"
// quoting a segment in flight lowers the send MSS to the next-hop MTU
// less the headers, and what was sent too big goes again at once in the
// new size, without a congestion response.
func TestPMTUFragmentationNeeded(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := dialMSS(h)
	h.TCB.SetNoDelay(true)
	d := pattern(3 * 1460)
	h.TCB.Write(d, h.Now)
	if out := h.Take(); len(out) != 3 || len(out[0].Seg.Payload) != 1460 {
		t.Fatalf("sent %v", out)
	}
	cwnd := h.TCB.Congestion().Cwnd
	h.TCB.ICMP(&tcp.ICMPError{Kind: tcp.ICMPPacketTooBig, MTU: 1280, Seq: ISS + 1}, h.Now)
	if got := h.TCB.Vars().SndMSS; got != 1240 {
		t.Fatalf("send MSS %d, want 1280-40", got)
	}
	out := h.Take()
	if len(out) == 0 || out[0].Seg.Seq != ISS+1 || len(out[0].Seg.Payload) != 1240 {
		t.Fatalf("after PTB sent %v, want a 1240-octet segment from SND.UNA", out)
	}
	for _, e := range out {
		if len(e.Seg.Payload) > 1240 {
			t.Fatalf("segment of %d octets after PTB", len(e.Seg.Payload))
		}
	}
	st := h.TCB.Stats()
	if st.PMTUUpdates != 1 || st.Retransmits == 0 || h.TCB.Congestion().Cwnd != cwnd {
		t.Fatalf("stats %+v, cwnd %d (was %d)", *st, h.TCB.Congestion().Cwnd, cwnd)
	}
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1 + 3*1460})
	if v := h.TCB.Vars(); v.SndUna != v.SndMax {
		t.Fatalf("not all acknowledged: %+v", v)
	}
}

// RFC 5927 §4.1: an ICMP error whose quoted sequence number is not in
// SND.UNA..SND.NXT is ignored (a blind attacker must guess it); RFC 5927
// §7.2 / Linux min_pmtu: a forged tiny MTU is raised to 552 (IPv4),
// 1280 (IPv6, RFC 8200 §5).
func TestPMTUValidation(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	dialMSS(h)
	h.TCB.SetNoDelay(true)
	h.TCB.Write(pattern(2000), h.Now)
	h.Take()
	for _, seq := range []tcp.Seq{ISS, ISS + 1 + 2000, ISS + 1<<31, ISS + 1<<30} {
		h.TCB.ICMP(&tcp.ICMPError{Kind: tcp.ICMPPacketTooBig, MTU: 600, Seq: seq}, h.Now)
	}
	h.NoOut()
	if st := h.TCB.Stats(); st.ICMPIgnored != 4 || st.PMTUUpdates != 0 || h.TCB.Vars().SndMSS != 1460 {
		t.Fatalf("out-of-window ICMP acted on: %+v MSS %d", *st, h.TCB.Vars().SndMSS)
	}
	h.TCB.ICMP(&tcp.ICMPError{Kind: tcp.ICMPPacketTooBig, MTU: 68, Seq: ISS + 1461}, h.Now)
	if got := h.TCB.Vars().SndMSS; got != 552-40 {
		t.Fatalf("MSS %d after a 68-octet MTU, want the 552 floor", got)
	}
	h2 := New(t, tcp.DefaultConfig())
	dialMSS(h2)
	h2.TCB.Write(pattern(100), h2.Now)
	h2.TCB.ICMP(&tcp.ICMPError{Kind: tcp.ICMPPacketTooBig, MTU: 500, Seq: ISS + 1, V6: true}, h2.Now)
	if got := h2.TCB.Vars().SndMSS; got != 1280-60 {
		t.Fatalf("IPv6 MSS %d, want 1220", got)
	}
	// An MTU no smaller than what we send changes nothing.
	h2.TCB.ICMP(&tcp.ICMPError{Kind: tcp.ICMPPacketTooBig, MTU: 9000, Seq: ISS + 1, V6: true}, h2.Now)
	if got := h2.TCB.Vars().SndMSS; got != 1220 {
		t.Fatalf("MSS rose to %d", got)
	}
}

// RFC 1122 §4.2.3.9 (RFC 5461): a destination unreachable is a soft
// error: the connection carries on (SYN retransmissions continue) and,
// if it then times out, reports the unreachable instead of a bare
// timeout. One quoting another sequence number is ignored (RFC 5927).
func TestICMPUnreachableSoftError(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.SynRetries = 1
	h := New(t, cfg)
	h.Dial()
	h.Take()
	h.TCB.ICMP(&tcp.ICMPError{Kind: tcp.ICMPUnreachable, Seq: ISS + 5}, h.Now)
	h.TCB.ICMP(&tcp.ICMPError{Kind: tcp.ICMPUnreachable, Seq: ISS}, h.Now)
	h.State(tcp.SynSent)
	if st := h.TCB.Stats(); st.SoftErrors != 1 || st.ICMPIgnored != 1 {
		t.Fatalf("stats %+v", *st)
	}
	h.Advance(cfg.InitialRTO)
	h.Out(Seg{Flags: tcp.FlagSYN, Seq: ISS})
	h.Advance(2 * cfg.InitialRTO)
	h.State(tcp.Closed)
	if !errors.Is(h.TCB.Err(), tcp.ErrUnreachable) {
		t.Fatalf("err %v, want ErrUnreachable", h.TCB.Err())
	}
}

// Issue 14 item 12: "packet too big" without an MTU (RFC 1191 §5) takes
// the plateau below the datagrams really sent, timestamps included:
// 1448 octets of text + 12 of timestamps + 40 of headers = 1500, so
// 1492, not the plateau below 1488 (1006).
func TestPMTUPlateauCountsTimestamps(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.HandshakeWith(irs, PeerLinux)
	h.TCB.Write(make([]byte, 1448), h.Now)
	h.Take()
	h.TCB.ICMP(&tcp.ICMPError{Kind: tcp.ICMPPacketTooBig, Seq: ISS + 1}, h.Now)
	if got := h.TCB.Vars().SndMSS; got != 1492-40-12 {
		t.Fatalf("send MSS %d after an MTU-less ICMP, want %d", got, 1492-40-12)
	}
}
