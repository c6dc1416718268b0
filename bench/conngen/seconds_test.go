package conngen

import (
	"testing"
	"time"
)

// TestSeconds: completions, RTO resends and the slots' census land in
// the second of the window they happened in, and nothing outside it.
func TestSeconds(t *testing.T) {
	const sec = int64(time.Second)
	g := newGen(t, 2)
	g.Measure(sec, 4*sec) // three seconds: [1 s, 2 s), [2 s, 3 s), [3 s, 4 s)
	var tx txRec
	g.Tick(0, &tx) // before the window: no census
	syns := tx.take()
	reqLen := uint32(len(g.cfg.Request))
	// Slot 0's connection completes in the first second of the window.
	s := syns[0]
	g.Input(reply(t, s, syn|ack, 5, s.Seq+1, ""), sec+1, &tx)
	g.Input(reply(t, s, fin|ack|psh, 6, s.Seq+1+reqLen, resp), sec+2, &tx)
	g.Input(reply(t, s, ack, 7+uint32(len(resp)), s.Seq+2+reqLen, ""), sec+3, &tx)
	// Slot 1's SYN goes unanswered: resent after its RTO (200 ms), in
	// the first second too; the census at its end finds it in SYN-SENT
	// and slot 0 on its next tuple, opened by that Tick.
	g.Tick(sec+int64(300*time.Millisecond), &tx)
	g.Tick(2*sec+1, &tx)
	if len(g.Seconds) != 3 {
		t.Fatalf("%d seconds for a 3 s window", len(g.Seconds))
	}
	got := g.Seconds[0]
	if got.Completed != 1 || got.Retrans != 1 || got.SynSent != 2 || got.Open != 0 || got.LastAck != 0 {
		t.Fatalf("first second %+v, want 1 completed, 1 resent, 2 in SYN-SENT", got)
	}
	// A Tick past the window takes the census of the seconds left.
	g.Tick(5*sec, &tx)
	for i, s := range g.Seconds[1:] {
		if s.Completed != 0 || s.SynSent+s.Open+s.LastAck == 0 {
			t.Fatalf("second %d: %+v", i+1, s)
		}
	}
	if g.Window != 1 {
		t.Fatalf("window %d", g.Window)
	}
}
