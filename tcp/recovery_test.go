package tcp_test

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// bulk is a one-way transfer from A to B over a Link with scripted
// losses: A writes data, B reads it all.
type bulk struct {
	t    *testing.T
	l    *Link
	data []byte
	got  []byte
	mss  uint32
	// first transmissions seen per segment index (by sequence number).
	sends map[tcp.Seq]int
	iss   tcp.Seq
}

func newBulk(t *testing.T, cfg tcp.Config, n int) *bulk {
	if d := tcp.DefaultConfig(); cfg.SendBuffer == d.SendBuffer && cfg.RecvBuffer == d.RecvBuffer {
		cfg.SendBuffer, cfg.RecvBuffer = 256<<10, 256<<10 // unless the test chose its own
	}
	cfg.ISN = func(*tcp.ID, tcp.Instant) tcp.Seq { return ISS }
	l := NewLink(t, &cfg, 1)
	l.Delay = 10 * time.Millisecond
	b := &bulk{t: t, l: l, data: make([]byte, n), sends: map[tcp.Seq]int{}, iss: ISS}
	r := rand.New(rand.NewPCG(uint64(n), 3))
	for i := range b.data {
		b.data[i] = byte(r.Uint32())
	}
	// Handshake and a first exchange, so that an RTT is measured.
	b.run(l.Now.Add(time.Second))
	if l.A.State() != tcp.Established || l.B == nil || l.B.State() != tcp.Established {
		t.Fatalf("not established: %v", l.A.State())
	}
	b.mss = uint32(l.A.Vars().SndMSS)
	return b
}

// seg returns the sequence number of text segment i (0-based) of the
// transfer.
func (b *bulk) seg(i int) tcp.Seq { return b.iss + 1 + tcp.Seq(uint32(i)*b.mss) }

// dropNth drops the k-th transmission (1-based) of the segments at the
// given sequence numbers.
func (b *bulk) filter(f func(nth int, seg *tcp.Segment) (bool, time.Duration)) {
	b.l.Filter = func(toB bool, s *tcp.Segment) (bool, time.Duration) {
		if !toB || len(s.Payload) == 0 {
			return false, 0
		}
		b.sends[s.Seq]++
		return f(b.sends[s.Seq], s)
	}
}

func (b *bulk) run(limit tcp.Instant) {
	for steps := 0; steps < 1_000_000 && b.l.Step(limit); steps++ {
		var buf [8192]byte
		for b.l.B != nil {
			n, _ := b.l.B.Read(buf[:], b.l.Now)
			if n == 0 {
				break
			}
			b.got = append(b.got, buf[:n]...)
		}
		if len(b.got) == len(b.data) && len(b.data) > 0 && b.l.A.Vars().SndUna == b.l.A.Vars().SndMax {
			return
		}
	}
}

// send writes the whole transfer at once and runs until it is delivered
// and acknowledged; it checks byte-exact delivery.
func (b *bulk) send() *tcp.Stats {
	b.t.Helper()
	n, err := b.l.A.Write(b.data, b.l.Now)
	if err != nil || n != len(b.data) {
		b.t.Fatalf("write %d: %v", n, err)
	}
	b.run(b.l.Now.Add(10 * time.Minute))
	if !bytes.Equal(b.got, b.data) {
		b.t.Fatalf("delivered %d of %d octets (or corrupt)", len(b.got), len(b.data))
	}
	v := b.l.A.Vars()
	if v.SndUna != v.SndMax {
		b.t.Fatalf("not all acknowledged: SND.UNA %d SND.MAX %d", v.SndUna, v.SndMax)
	}
	return b.l.A.Stats()
}

func expect(t *testing.T, s *tcp.Stats, want tcp.Stats) {
	t.Helper()
	if *s != want {
		t.Fatalf("stats\n got %+v\nwant %+v", *s, want)
	}
}

func sackOff() tcp.Config {
	c := tcp.DefaultConfig()
	c.SACK = false
	return c
}

// RFC 6675 §5: one segment lost in a window; the SACK scoreboard finds it
// after DupThresh duplicate ACKs, one retransmission repairs it, no RTO;
// the window is reduced (RFC 9438 §4.6: beta 0.7) once.
func TestRecoverySingleLossSACK(t *testing.T) {
	b := newBulk(t, tcp.DefaultConfig(), 40*1448)
	lost := b.seg(5)
	b.filter(func(nth int, s *tcp.Segment) (bool, time.Duration) { return s.Seq == lost && nth == 1, 0 })
	st := b.send()
	expect(t, st, tcp.Stats{Retransmits: 1, FastRetransmits: 1, SACKRecoveries: 1})
	if c := b.l.A.Congestion(); c.InRecovery || c.Ssthresh >= 1<<30 {
		t.Fatalf("after recovery: %+v", c)
	}
}

// RFC 6582 §3.2 (no SACK): three duplicate ACKs retransmit the segment
// at SND.UNA; the full ACK ends recovery with cwnd <= ssthresh.
func TestRecoverySingleLossNewReno(t *testing.T) {
	cfg := sackOff()
	cfg.CC = tcp.NewReno
	b := newBulk(t, cfg, 40*1448)
	lost := b.seg(5)
	b.filter(func(nth int, s *tcp.Segment) (bool, time.Duration) { return s.Seq == lost && nth == 1, 0 })
	st := b.send()
	expect(t, st, tcp.Stats{Retransmits: 1, FastRetransmits: 1})
}

// RFC 6582 §3.2 step 4: two losses in one window without SACK; the
// partial ACK after the first retransmission retransmits the second at
// once, in the same recovery, without a timeout.
func TestRecoveryPartialACKNewReno(t *testing.T) {
	cfg := sackOff()
	cfg.CC = tcp.NewReno
	b := newBulk(t, cfg, 40*1448)
	l1, l2 := b.seg(5), b.seg(9)
	b.filter(func(nth int, s *tcp.Segment) (bool, time.Duration) {
		return (s.Seq == l1 || s.Seq == l2) && nth == 1, 0
	})
	st := b.send()
	expect(t, st, tcp.Stats{Retransmits: 2, FastRetransmits: 1})
}

// RFC 6675 §5 with a burst: five consecutive segments lost; one recovery
// retransmits exactly those five (NextSeg rule 1 over the scoreboard's
// hole), no timeout.
func TestRecoveryBurstLossSACK(t *testing.T) {
	b := newBulk(t, tcp.DefaultConfig(), 60*1448)
	lo, hi := b.seg(5), b.seg(10)
	b.filter(func(nth int, s *tcp.Segment) (bool, time.Duration) {
		return nth == 1 && s.Seq.GreaterEq(lo) && s.Seq.LessThan(hi), 0
	})
	st := b.send()
	expect(t, st, tcp.Stats{Retransmits: 5, FastRetransmits: 1, SACKRecoveries: 1})
}

// A lost retransmission. With SACK (RFC 8985 §6.2's inference; Linux's
// lost-retransmit detection): segments sent after the retransmission are
// SACKed while its hole stays open, so it is sent a third time at once,
// no RTO. Without SACK (RFC 6582 has no such signal) the retransmission
// timer repairs it (RFC 6298 §5.4-5.6). Either way, byte-exact.
func TestRecoveryLostRetransmission(t *testing.T) {
	b := newBulk(t, tcp.DefaultConfig(), 40*1448)
	lost := b.seg(5)
	b.filter(func(nth int, s *tcp.Segment) (bool, time.Duration) { return s.Seq == lost && nth <= 2, 0 })
	st := b.send()
	expect(t, st, tcp.Stats{Retransmits: 2, FastRetransmits: 1, SACKRecoveries: 1, LostRetransmits: 1})

	b = newBulk(t, sackOff(), 40*1448)
	lost = b.seg(5)
	b.filter(func(nth int, s *tcp.Segment) (bool, time.Duration) { return s.Seq == lost && nth <= 2, 0 })
	st = b.send()
	if st.FastRetransmits != 1 || st.RTOExpiries != 1 || st.Retransmits < 2 {
		t.Fatalf("no SACK: stats %+v: want one fast retransmit, one RTO", *st)
	}
	if c := b.l.A.Congestion(); c.InRecovery {
		t.Fatalf("still in recovery: %+v", c)
	}
}

// Tail loss (RFC 8985 §7): the last segment of a transfer is lost, so no
// duplicate ACK can follow; the probe timeout (2*SRTT, well before the
// RTO) retransmits it. No RTO expires.
func TestRecoveryTailLossProbe(t *testing.T) {
	b := newBulk(t, tcp.DefaultConfig(), 20*1448)
	last := b.seg(19)
	b.filter(func(nth int, s *tcp.Segment) (bool, time.Duration) { return s.Seq == last && nth == 1, 0 })
	st := b.send()
	expect(t, st, tcp.Stats{Retransmits: 1, TLPProbes: 1})
}

// Tail loss of several segments (RFC 8985 §7.4): the probe (the last
// segment again) is SACKed above the holes, which are then lost by
// RACK's time rule; one recovery repairs them without an RTO.
func TestRecoveryTailBurstLoss(t *testing.T) {
	b := newBulk(t, tcp.DefaultConfig(), 20*1448)
	lo := b.seg(16)
	b.filter(func(nth int, s *tcp.Segment) (bool, time.Duration) { return s.Seq.GreaterEq(lo) && nth == 1, 0 })
	st := b.send()
	if st.RTOExpiries != 0 || st.TLPProbes != 1 || st.FastRetransmits != 1 || st.Retransmits != 4 {
		t.Fatalf("stats %+v: want a probe and one recovery of the 4 lost segments, no RTO", *st)
	}
}

// Reordering within DupThresh (RFC 5681 §3.2: "a TCP sender should wait
// for three duplicate ACKs" because of reordering): a segment overtaken
// by two others causes two duplicate ACKs and no retransmission.
func TestRecoveryReorderingNoRetransmit(t *testing.T) {
	for _, sack := range []bool{true, false} {
		cfg := tcp.DefaultConfig()
		cfg.SACK = sack
		b := newBulk(t, cfg, 40*1448)
		late := b.seg(5)
		b.filter(func(nth int, s *tcp.Segment) (bool, time.Duration) {
			// Segments of a burst leave at the same instant: delays
			// order them 0-4, 6, 7, 5, 8... (5 overtaken by two).
			switch {
			case nth > 1 || s.Seq.LessThan(late):
				return false, 0
			case s.Seq == late:
				return false, 2 * time.Microsecond
			case s.Seq.LessThan(b.seg(8)):
				return false, time.Microsecond
			}
			return false, 3 * time.Microsecond
		})
		st := b.send()
		expect(t, st, tcp.Stats{})
	}
}

// Deep reordering (RFC 3522 Eifel detection, RFC 2883 D-SACK): a segment
// overtaken by many triggers a fast retransmission; the ACK that covers
// it echoes the original's timestamp, so the reduction is undone and
// the window restored.
func TestRecoveryReorderingUndo(t *testing.T) {
	b := newBulk(t, tcp.DefaultConfig(), 60*1448)
	late := b.seg(5)
	var cwndBefore uint32
	b.filter(func(nth int, s *tcp.Segment) (bool, time.Duration) {
		if s.Seq == late && nth == 1 {
			cwndBefore = b.l.A.Congestion().Cwnd
			return false, 5 * time.Millisecond // overtaken by several, back before the RTT ends
		}
		return false, 0
	})
	st := b.send()
	if st.FastRetransmits != 1 || st.SpuriousUndos != 1 || st.Retransmits != 1 || st.RTOExpiries != 0 {
		t.Fatalf("stats %+v: want one spurious fast retransmit, undone", *st)
	}
	if c := b.l.A.Congestion(); c.Cwnd < cwndBefore || c.Ssthresh < 1<<30 {
		t.Fatalf("window not restored: %+v, cwnd before %d", c, cwndBefore)
	}
}

// The same with timestamps off: D-SACK alone (RFC 2883 §4) shows the
// retransmission was a duplicate, and the reduction is undone.
func TestRecoveryReorderingUndoDSACK(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.Timestamps = false
	b := newBulk(t, cfg, 60*1448)
	late := b.seg(5)
	b.filter(func(nth int, s *tcp.Segment) (bool, time.Duration) {
		if s.Seq == late && nth == 1 {
			return false, 5 * time.Millisecond
		}
		return false, 0
	})
	st := b.send()
	if st.FastRetransmits != 1 || st.SpuriousUndos != 1 || st.DSACKs != 1 {
		t.Fatalf("stats %+v: want one spurious fast retransmit undone by D-SACK", *st)
	}
}

// ACK loss (RFC 5681 §4.2, RFC 9293 §3.8.6.3: ACKs are cumulative):
// half of the receiver's ACKs are lost; nothing is retransmitted.
func TestRecoveryACKLoss(t *testing.T) {
	b := newBulk(t, tcp.DefaultConfig(), 60*1448)
	k := 0
	end := b.seg(60)
	b.l.Filter = func(toB bool, s *tcp.Segment) (bool, time.Duration) {
		if toB || s.Ack == end {
			return false, 0 // (a lost final ACK would need a probe)
		}
		k++
		return k%2 == 0, 0
	}
	st := b.send()
	expect(t, st, tcp.Stats{})
}

// RFC 7323 §4.1 (RTTM): with timestamps, the ACK of a retransmitted
// segment still yields an RTT sample, since its TSecr names the
// transmission it answers; so after a timeout the backed-off RTO comes
// back with the first ACK (unlike Karn's rule without timestamps,
// TestKarn).
func TestRTTFromTimestampsAfterRetransmission(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.AcceptWith(irs, tcp.Options{HasTS: true, TSVal: 7})
	h.TCB.Write([]byte("x"), h.Now)
	h.Take()
	rto0 := h.TCB.Vars().RTO
	h.Advance(rto0) // timeout: retransmission, RTO doubled
	out := h.Take()
	if len(out) != 1 || !out[0].Seg.Options.HasTS || h.TCB.Vars().RTO != 2*rto0 {
		t.Fatalf("retransmission %v, RTO %v", out, h.TCB.Vars().RTO)
	}
	echo := out[0].Seg.Options.TSVal
	h.Advance(30 * time.Millisecond)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 2, Opts: tcp.Options{HasTS: true, TSVal: 9, TSEcr: echo}})
	// The handshake gave a first sample (0: the harness replies in the
	// same instant); this one is folded in (RFC 6298 §2.3).
	srtt := time.Duration(h.TCB.Congestion().SRTT)
	if want := 30 * time.Millisecond / 8; srtt != want {
		t.Fatalf("SRTT %v, want %v from the 30 ms sample", srtt, want)
	}
	if got, want := h.TCB.Vars().RTO, srtt+h.Cfg.MinRTO; got != want {
		t.Fatalf("RTO %v after a 30 ms timestamp sample, want SRTT + MinRTO = %v", got, want)
	}
	if st := h.TCB.Stats(); st.RTOExpiries != 1 || st.Retransmits != 1 {
		t.Fatalf("stats %+v", *st)
	}
}

// RFC 5681 §4.1 (and RFC 9438 §5.8): after an idle period longer than the
// RTO, sending restarts from the initial window, not the window grown
// before.
func TestSlowStartAfterIdle(t *testing.T) {
	b := newBulk(t, tcp.DefaultConfig(), 150*1448)
	b.send()
	grown := b.l.A.Congestion().Cwnd
	iw := 10 * b.mss
	if grown <= iw {
		t.Fatalf("cwnd %d did not grow past IW %d", grown, iw)
	}
	b.l.Now = b.l.Now.Add(5 * time.Second)
	b.l.A.Write(b.data[:100], b.l.Now)
	if c := b.l.A.Congestion().Cwnd; c != iw {
		t.Fatalf("cwnd %d after idle, want IW %d (was %d)", c, iw, grown)
	}
}

// Receive- and send-buffer auto-tuning (Linux DRS, tcp_rcv_space_adjust;
// tcp_sndbuf_expand): over a 10 ms path a 16 KiB buffer limits a bulk
// transfer to one buffer per RTT; with RecvBufferMax/SendBufferMax the
// buffers double as the transfer needs, never past their bounds, and the
// same transfer finishes several times sooner, byte-exact.
func TestBufferAutotuning(t *testing.T) {
	run := func(max int) (time.Duration, int, int) {
		cfg := tcp.DefaultConfig()
		b := newBulk(t, cfg, 1<<20)
		// newBulk sets 256 KiB buffers; start small here.
		cfg.SendBuffer, cfg.RecvBuffer = 16<<10, 16<<10
		cfg.SendBufferMax, cfg.RecvBufferMax = max, max
		cfg.ISN = func(*tcp.ID, tcp.Instant) tcp.Seq { return ISS }
		l := NewLink(t, &cfg, 1)
		l.Delay = 10 * time.Millisecond
		a := &app{out: b.data}
		bb := &app{}
		start := l.Now
		maxSnd, maxRcv := 0, 0
		for steps := 0; steps < 2_000_000 && l.Step(l.Now.Add(time.Hour)); steps++ {
			a.drive(l.A, l.Now)
			bb.drive(l.B, l.Now)
			if s, _ := l.A.BufferSizes(); s > maxSnd {
				maxSnd = s
			}
			if l.B != nil {
				if _, r := l.B.BufferSizes(); r > maxRcv {
					maxRcv = r
				}
			}
			if len(bb.in) == len(a.out) {
				break
			}
		}
		if !bytes.Equal(bb.in, a.out) {
			t.Fatalf("max %d: delivered %d of %d", max, len(bb.in), len(a.out))
		}
		return l.Now.Sub(start), maxSnd, maxRcv
	}
	fixed, s0, r0 := run(0)
	tuned, s1, r1 := run(512 << 10)
	t.Logf("fixed 16 KiB: %v (buffers %d/%d); tuned to 512 KiB: %v (buffers %d/%d)", fixed, s0, r0, tuned, s1, r1)
	if s0 != 16<<10 || r0 != 16<<10 {
		t.Fatalf("buffers grew without auto-tuning: %d/%d", s0, r0)
	}
	if r1 <= 16<<10 || s1 <= 16<<10 || r1 > 512<<10 || s1 > 512<<10 {
		t.Fatalf("tuned buffers %d/%d, want grown within 512 KiB", s1, r1)
	}
	if tuned*3 > fixed {
		t.Fatalf("auto-tuned transfer took %v, fixed %v: want at least 3x faster", tuned, fixed)
	}
}

// RFC 6298 §3 / RFC 7323 §4.1: an ACK after a timeout whose TSecr names
// a transmission from before the timeout (the receiver echoes a stale
// TS.Recent for a duplicate, RFC 7323 §5.3 R2) gives no RTT sample: it
// would count the RTO wait as path delay. An echo of the retransmission
// itself does give one.
func TestRTTNoSampleFromStaleEcho(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.AcceptWith(irs, tcp.Options{HasTS: true, TSVal: 7})
	h.TCB.SetNoDelay(true)
	h.TCB.Write([]byte("ab"), h.Now)
	orig := h.Take()[0].Seg.Options.TSVal
	h.Advance(h.TCB.Vars().RTO) // timeout: "ab" again
	h.Take()
	h.Advance(5 * time.Second)
	srtt := h.TCB.Congestion().SRTT
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 2, Opts: tcp.Options{HasTS: true, TSVal: 8, TSEcr: orig}})
	if got := h.TCB.Congestion().SRTT; got != srtt {
		t.Fatalf("SRTT %v -> %v from an echo older than the timeout", time.Duration(srtt), time.Duration(got))
	}
	h.TCB.Write([]byte("c"), h.Now)
	echo := h.Take()[0].Seg.Options.TSVal
	h.Advance(20 * time.Millisecond)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 4, Opts: tcp.Options{HasTS: true, TSVal: 9, TSEcr: echo}})
	if got := h.TCB.Congestion().SRTT; got == srtt {
		t.Fatal("no sample from a fresh echo")
	}
}

// A retransmission of the last text taken (its ACK was lost) is a
// duplicate (RFC 9293 §3.10.7.4: not acceptable, ACKed); its TSval is
// echoed, as Linux does, and its octets are reported as a D-SACK block
// (RFC 2883 §4).
func TestDuplicateEchoesItsTimestamp(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.AcceptWith(irs, tcp.Options{HasTS: true, TSVal: 7, SACKPermitted: true})
	d := []byte("hello")
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: d, Opts: tcp.Options{HasTS: true, TSVal: 10}})
	h.Take()
	h.Advance(time.Second)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: d, Opts: tcp.Options{HasTS: true, TSVal: 1010}})
	out := h.Take()
	if len(out) != 1 {
		t.Fatalf("sent %v", out)
	}
	o := out[0].Seg.Options
	if out[0].Seg.Ack != r+5 || o.TSEcr != 1010 || o.NumSACK != 1 || o.SACK[0] != (tcp.SACKBlock{Left: uint32(r), Right: uint32(r + 5)}) {
		t.Fatalf("ACK %v options %+v: want TSecr 1010 and D-SACK [%d,%d)", out[0], o, r, r+5)
	}
}

// A spurious timeout (RFC 3522 Eifel detection, RFC 4015 response): the
// receiver's ACKs are held up for longer than the RTO, so the sender
// times out although nothing was lost. The ACK that finally arrives
// echoes the original transmission's timestamp, older than the
// retransmission: the reduction is undone and sending resumes at
// SND.MAX instead of going back over the whole flight.
func TestRecoverySpuriousTimeoutUndo(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.AcceptWith(irs, tcp.Options{HasTS: true, TSVal: 7, SACKPermitted: true, MSS: 1012})
	h.TCB.SetNoDelay(true)
	// One exchange for an SRTT (so the probe timeout applies).
	h.TCB.Write(pattern(100), h.Now)
	first := h.Take()[0].Seg.Options.TSVal
	h.Advance(10 * time.Millisecond)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 101, Opts: tcp.Options{HasTS: true, TSVal: 8, TSEcr: first}})
	h.TCB.Write(pattern(5000), h.Now)
	out := h.Take()
	if len(out) != 5 {
		t.Fatalf("sent %d segments", len(out))
	}
	orig := out[0].Seg.Options.TSVal
	cwnd := h.TCB.Congestion().Cwnd
	h.Advance(300 * time.Millisecond) // the probe, then the timeout; no ACK comes
	st := *h.TCB.Stats()
	if st.TLPProbes != 1 || st.RTOExpiries != 1 {
		t.Fatalf("stats %+v: want a probe and a timeout", st)
	}
	if c := h.TCB.Congestion(); c.Cwnd >= cwnd {
		t.Fatalf("cwnd %d after the timeout, was %d", c.Cwnd, cwnd)
	}
	h.Take()
	// The held ACK of the originals arrives.
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 101 + 1000, Opts: tcp.Options{HasTS: true, TSVal: 9, TSEcr: orig}})
	if st := h.TCB.Stats(); st.SpuriousUndos != 1 {
		t.Fatalf("stats %+v: want the timeout undone", *st)
	}
	if c := h.TCB.Congestion(); c.Cwnd < cwnd {
		t.Fatalf("cwnd %d after undo, was %d", c.Cwnd, cwnd)
	}
	if v := h.TCB.Vars(); v.SndNxt != v.SndMax {
		t.Fatalf("SND.NXT %d SND.MAX %d: still going back after the undo", v.SndNxt, v.SndMax)
	}
	for _, e := range h.Take() {
		if e.Seg.Seq.LessThan(ISS+101+5000) && len(e.Seg.Payload) > 0 {
			t.Fatalf("resent %v after the undo", e)
		}
	}
}

// Range storage follows the holes (ranges.go): a lossy transfer takes it
// at both ends (the sender's scoreboard, the receiver's out-of-order
// queue) and gives all of it back once the holes are repaired, round
// after round; an RTO episode likewise.
func TestRecoveryRangesReturned(t *testing.T) {
	pool := &tcp.RangePool{}
	cfg := tcp.DefaultConfig()
	cfg.Ranges = pool
	b := newBulk(t, cfg, 150*1448)
	for round := range 3 {
		// Round 0: 20 holes (past the 8 inline slots); 1: one; 2: the
		// tail and its probe lost, so a timeout repairs it.
		b.filter(func(nth int, s *tcp.Segment) (bool, time.Duration) {
			i := int(s.Seq.Sub(b.seg(0)) / b.mss)
			switch round {
			case 0:
				return nth == 1 && i >= 20 && i < 140 && i%6 == 0, 0
			case 1:
				return nth == 1 && i == 100, 0
			}
			return nth <= 2 && i >= 147, 0 // the tail and its probe
		})
		st := *b.send()
		if pool.InUse() != 0 || pool.Idle() == 0 {
			t.Fatalf("round %d: %d range sets held after the transfer, %d pooled (stats %+v)", round, pool.InUse(), pool.Idle(), st)
		}
		if round == 2 && st.RTOExpiries == 0 {
			t.Fatalf("round %d: no timeout (stats %+v)", round, st)
		}
		b.got, b.sends = b.got[:0], map[tcp.Seq]int{}
		b.iss = b.l.A.Vars().SndNxt - 1
	}
}
