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
