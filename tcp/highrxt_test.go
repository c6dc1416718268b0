package tcp

import (
	"testing"

	"github.com/sluicenet/sluice/wire"
)

// A hole filled by its original transmission with several segments
// SACKed above it raises DupThresh (noteReordering) only if nothing
// above SND.UNA was retransmitted, which reads RFC 6675's HighRxt.
// HighRxt held no sequence number before the first recovery (and a
// stale one 2 GiB after it); compared modulo 2^32, a zero one lay
// ahead of SND.UNA for half of all ISSs, and reordering went unnoted
// there. Both halves must adapt alike.
func TestReorderingNotedWhateverISS(t *testing.T) {
	for _, iss := range []Seq{1000, 0x9000_0000, 0xffff_f000} {
		tcb, r := establishedAt(t, iss)
		const mss = 1448
		now := Instant(2e9)
		if n, _ := tcb.Write(make([]byte, 10*mss), now); n != 10*mss || tcb.sndMax.Sub(tcb.sndUna) != 10*mss {
			t.Fatalf("ISS %#x: wrote %d, %d octets in flight", uint32(iss), n, tcb.sndMax.Sub(tcb.sndUna))
		}
		seg := func(i int) uint32 { return uint32(iss.Add(1 + uint32(i*mss))) }
		ack := func(to int, sack ...int) {
			a := Segment{Flags: FlagACK, Seq: r, Ack: Seq(seg(to)), Window: 512,
				Options: Options{HasTS: true, TSVal: 3, TSEcr: tcb.tsNow(now)}}
			for i := 0; i+1 < len(sack); i += 2 {
				a.Options.SACK[a.Options.NumSACK] = wire.SACKBlock{Left: seg(sack[i]), Right: seg(sack[i+1])}
				a.Options.NumSACK++
			}
			tcb.Input(&a, now)
		}
		now += 10e6 // one RTT after the flight: inside RACK's reordering window
		// Two segments overtake segment 0 (fewer than DupThresh), then
		// it arrives: RACK sees reordering, and keeps its window open.
		ack(0, 1, 3)
		ack(3)
		// Five overtake segment 3, then it arrives.
		ack(3, 4, 9)
		ack(10)
		st := tcb.Stats()
		if tcb.inRecovery() || st.Retransmits != 0 {
			t.Fatalf("ISS %#x: reordering was taken for loss: %+v", uint32(iss), *st)
		}
		if st.ReorderRaised != 1 || tcb.rec.reordering != 6 {
			t.Errorf("ISS %#x: DupThresh %d after 5 segments overtook one (raised %d times), want 6",
				uint32(iss), tcb.rec.reordering, st.ReorderRaised)
		}
	}
}

// establishedAt is benchEstablished with the ISS given and a 10 ms
// handshake RTT (so RACK's reordering window is not zero).
func establishedAt(t *testing.T, iss Seq) (*TCB, Seq) {
	cfg := DefaultConfig()
	cfg.ISN = func(*ID, Instant) Seq { return iss }
	tcb := Open(&cfg, fuzzID, &nopSink{}, 1e9)
	seg := Segment{Flags: FlagSYN | FlagACK, Seq: 5000, Ack: iss.Add(1), Window: 65535,
		Options: Options{MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTS: true, TSVal: 1, TSEcr: tcb.tsNow(1e9)}}
	tcb.Input(&seg, 1e9+10e6)
	if tcb.State() != Established {
		t.Fatal("not established")
	}
	return tcb, 5001
}
