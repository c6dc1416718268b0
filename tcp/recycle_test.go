package tcp

import "testing"

// A recycled TCB keeps its sender state (transmit records, RACK, rate
// sampling), reset for the new connection with the record ring's memory,
// instead of dropping it and allocating it again for the next transfer.
func TestRecycleKeepsSendState(t *testing.T) {
	cfg := DefaultConfig()
	tcb := newTCB(&cfg, fuzzID, &nopSink{})
	x := tcb.sx()
	x.q.push(1, 1000, 5, tcb.txLimit())
	x.q.push(1001, 1000, 6, tcb.txLimit())
	x.lost, x.stamp = 1000, 6
	recs := cap(x.q.recs)
	initTCB(tcb, &cfg, fuzzID, &nopSink{})
	if tcb.rec.x != x {
		t.Fatal("the recycled TCB dropped its sender state")
	}
	if x.q.n != 0 || x.lost != 0 || x.stamp != 0 || cap(x.q.recs) != recs {
		t.Fatalf("sender state not reset with its records kept: %d records, lost %d, stamp %v, capacity %d of %d", x.q.n, x.lost, x.stamp, cap(x.q.recs), recs)
	}
}
