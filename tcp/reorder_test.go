package tcp_test

import (
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
)

// Persistent reordering deeper than DupThresh: one segment in 16 is held
// 2 ms on a 100 Mbit/s, 20 ms path, so ~16 segments overtake it. With a
// fixed DupThresh of 3 each one started a spurious fast recovery (undone
// an RTT later by Eifel or D-SACK); with DupThresh adapted to the
// reordering seen (recovery.go, noteReordering) only the first few do,
// and nothing is lost, so nothing is retransmitted after them.
func TestReorderingAdaptsDupThresh(t *testing.T) {
	b := newBulk(t, tcp.DefaultConfig(), 4<<20)
	b.l.Rate = 100e6 / 8
	late := 0
	b.filter(func(nth int, s *tcp.Segment) (bool, time.Duration) {
		i := int(s.Seq.Sub(b.seg(0)) / b.mss)
		if nth == 1 && i%16 == 8 {
			late++
			return false, 2 * time.Millisecond
		}
		return false, 0
	})
	st := b.stream()
	c := b.l.A.Congestion()
	t.Logf("%d segments held back: %+v; reordering %d segments", late, *st, c.Reordering)
	if late < 100 {
		t.Fatalf("only %d segments reordered", late)
	}
	if c.Reordering <= 3 || st.ReorderRaised == 0 {
		t.Errorf("DupThresh not adapted: reordering %d, raised %d", c.Reordering, st.ReorderRaised)
	}
	if st.FastRetransmits > 3 || st.SpuriousUndos != st.FastRetransmits || st.RTOExpiries != 0 {
		t.Errorf("%d fast recoveries (%d undone), %d RTOs for %d reordered segments and no loss: want at most 3, all undone",
			st.FastRetransmits, st.SpuriousUndos, st.RTOExpiries, late)
	}
}

// Adapted DupThresh still finds real losses: after the reordering above
// has raised it, segments lost one in 64 are each recovered by SACK
// (enough later segments SACKed above them) without a timeout.
func TestReorderingThenLoss(t *testing.T) {
	b := newBulk(t, tcp.DefaultConfig(), 4<<20)
	b.l.Rate = 100e6 / 8
	lost := 0
	b.filter(func(nth int, s *tcp.Segment) (bool, time.Duration) {
		i := int(s.Seq.Sub(b.seg(0)) / b.mss)
		switch {
		case nth == 1 && i < 1000 && i%16 == 8:
			return false, 2 * time.Millisecond
		case nth == 1 && i >= 1500 && i%64 == 0:
			lost++
			return true, 0
		}
		return false, 0
	})
	st := b.stream()
	c := b.l.A.Congestion()
	t.Logf("%d lost: %+v; reordering %d", lost, *st, c.Reordering)
	if c.Reordering <= 3 {
		t.Errorf("reordering %d: not adapted", c.Reordering)
	}
	if st.RTOExpiries != 0 || st.FastRetransmits-st.SpuriousUndos == 0 {
		t.Errorf("losses not recovered by fast retransmit: %+v", *st)
	}
	if st.Retransmits > uint64(lost)+uint64(st.SpuriousUndos)+uint64(st.TLPProbes)+4 {
		t.Errorf("%d retransmissions for %d losses", st.Retransmits, lost)
	}
}
