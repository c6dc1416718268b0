package tcp_test

import (
	"testing"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/tcpcheck"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// Issue 14 item 2: the right edge a receiver offers (SEG.ACK +
// SEG.WND<<scale) never moves left, from the unscaled SYN-ACK on and as
// RCV.NXT moves by amounts that are not multiples of the scale unit.
func TestRightEdgeNeverMovesLeft(t *testing.T) {
	cfg := tcp.DefaultConfig()
	h := New(t, cfg)
	h.Check.Checks = tcpcheck.CheckSize // this test checks the edge itself, every time
	h.Listen()
	h.In(Seg{Flags: SYN, Seq: irs, Opts: tcp.Options{MSS: 1460, HasWScale: true, WScale: 7}})
	out := h.Take()
	edge := out[0].Seg.Ack.Add(uint32(out[0].Seg.Window))
	r := irs + 1
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1})
	for _, n := range []int{1000, 87, 1460, 3, 500, 1460, 1460, 129} {
		h.In(Seg{Flags: ACK | PSH, Seq: r, Ack: ISS + 1, Data: make([]byte, n)})
		r = r.Add(uint32(n))
		h.Advance(cfg.DelayedACK)
		for _, e := range h.Take() {
			e := e.Seg.Ack.Add(uint32(e.Seg.Window) << cfg.WindowScale)
			if e.LessThan(edge) {
				t.Fatalf("after %d octets the right edge moved left by %d", n, edge.Sub(e))
			}
			edge = e
		}
	}
}
