package tcp

import "testing"

// An application-limited sender does not grow cwnd (RFC 9438 §4.8,
// RFC 7661, Linux tcp_is_cwnd_limited): a keep-alive connection echoing
// 100-octet messages, each acknowledged before the next, keeps its
// initial window, so that a large reply later starts from a window the
// path has carried, not from one grown by thousands of tiny ACKs.
func TestAppLimitedKeepsWindow(t *testing.T) {
	for _, cc := range []Algorithm{CUBIC, NewReno} {
		t.Run(cc.String(), func(t *testing.T) {
			tcb, r := ccEstablished(t, cc)
			iw := tcb.cc.Window()
			p := newEchoPeer(r)
			now := Instant(2e9)
			most := uint32(0)
			for range 5000 {
				most = max(most, p.round(tcb, now, 1e6)) // 1 ms round trip
				now += 1e6
			}
			if tcb.sndUna != tcb.sndMax {
				t.Fatal("replies not acknowledged")
			}
			// Linux's slow-start allowance: cwnd may grow to twice the
			// most ever in flight, here far below the initial window.
			if w := tcb.cc.Window(); w > max(iw, 2*most) {
				t.Fatalf("cwnd grew from %d to %d octets with at most %d in flight", iw, w, most)
			}
		})
	}
}

// A sender that fills cwnd still grows it: slow start doubles the window
// per round trip, and later rounds keep growing it.
func TestCwndLimitedGrows(t *testing.T) {
	for _, cc := range []Algorithm{CUBIC, NewReno} {
		t.Run(cc.String(), func(t *testing.T) {
			tcb, r := ccEstablished(t, cc)
			iw := tcb.cc.Window()
			data := make([]byte, 64<<10)
			now := Instant(2e9)
			for round := range 4 {
				for tcb.snd.n < 4*int(tcb.cc.Window()) {
					if n, _ := tcb.Write(data, now); n == 0 {
						break
					}
				}
				if tcb.sndNxt.Sub(tcb.sndUna) < tcb.cc.Window()-uint32(tcb.sndMSS) {
					t.Fatalf("round %d: %d octets in flight, cwnd %d: not cwnd-limited", round, tcb.sndNxt.Sub(tcb.sndUna), tcb.cc.Window())
				}
				before := tcb.cc.Window()
				flight := tcb.sndMax.Sub(tcb.sndUna)
				now += 20e6
				ack := Segment{Flags: FlagACK, Seq: r, Ack: tcb.sndMax, Window: 65535, Options: Options{HasTS: true, TSVal: uint32(2 + round)}}
				tcb.Input(&ack, now)
				w := tcb.cc.Window()
				if round == 0 && w != iw+flight {
					t.Fatalf("slow start: cwnd %d after a flight of %d acknowledged, want %d", w, flight, iw+flight)
				}
				if w <= before {
					t.Fatalf("round %d: cwnd %d did not grow from %d", round, w, before)
				}
			}
		})
	}
}

// ccEstablished is benchEstablished with the controller cc.
func ccEstablished(tb testing.TB, cc Algorithm) (*TCB, Seq) {
	t, r := benchEstablished(tb, &nopSink{})
	t.cfg.CC = cc // benchEstablished's own Config
	t.SetCongestion(nil)
	return t, r
}

// A tail loss probe's new text counts toward the window's use as
// trySend's does (Linux sends it through tcp_write_xmit, so
// tcp_cwnd_validate records it). Here the probe sends the short tail
// Nagle held: the flight becomes more than half of cwnd, so the ACK of
// it grows cwnd in slow start (Linux: cwnd < 2*max_packets_out), as it
// would had trySend sent the tail.
func TestProbeCountsInFlight(t *testing.T) {
	tcb, r := ccEstablished(t, CUBIC)
	iw := tcb.cc.Window()
	mss := int(tcb.sndMSS)
	now := Instant(2e9)
	data := make([]byte, 5*mss)
	tcb.Write(data[:100], now) // a short segment out: Nagle holds the next
	if n, _ := tcb.Write(data[:5*mss-50], now); n != 5*mss-50 {
		t.Fatalf("wrote %d", n)
	}
	if u := tcb.Unsent(); u != mss-50 {
		t.Fatalf("%d octets unsent, want the short tail of %d", u, mss-50)
	}
	if f := tcb.sndMax.Sub(tcb.sndUna); 2*f >= iw {
		t.Fatalf("%d octets in flight: cwnd-limited in slow start already (cwnd %d)", f, iw)
	}
	if tcb.rec.flags&recPTO == 0 {
		t.Fatal("no probe timeout armed")
	}
	now = tcb.Deadline()
	tcb.OnTimer(now)
	if tcb.Unsent() != 0 || tcb.Stats().TLPProbes != 1 {
		t.Fatalf("probe: %d unsent, %d probes", tcb.Unsent(), tcb.Stats().TLPProbes)
	}
	if f := tcb.sndMax.Sub(tcb.sndUna); 2*f <= iw {
		t.Fatalf("%d octets in flight after the probe, want more than half of cwnd %d", f, iw)
	}
	now += 1e6
	ack := Segment{Flags: FlagACK, Seq: r, Ack: tcb.sndMax, Window: 65535, Options: Options{HasTS: true, TSVal: 2}}
	tcb.Input(&ack, now)
	if w := tcb.cc.Window(); w <= iw {
		t.Fatalf("cwnd %d after the probed flight was acknowledged, want more than %d", w, iw)
	}
}
