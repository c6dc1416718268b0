package tcp_test

import (
	"testing"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// inRun delivers text at seq as the caller's receive batch would, with
// Segment.More saying whether more text of the flow follows in the batch.
func inRun(h *H, seq tcp.Seq, data []byte, more bool) {
	seg := tcp.Segment{Seq: seq, Ack: ISS + 1, Flags: tcp.FlagACK, Window: 65535, Payload: data, More: more}
	h.TCB.Input(&seg, h.Now)
}

// Text received together (Segment.More) is ACKed once, after the run's
// last segment, as Linux ACKs a GRO-merged run, not every second segment;
// a run that would not end is ACKed by 64 KiB or when it (nearly) fills
// the window, so the sender is never left without an ACK.
func TestACKPerReceivedRun(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.QuickACKs = 0
	h := New(t, cfg)
	r := h.AcceptWith(irs, tcp.Options{MSS: 1460, HasWScale: true, WScale: 7})
	m := int(cfg.MSS)
	d := pattern(100 * m)
	for i := range 3 {
		inRun(h, r+tcp.Seq(i*m), d[i*m:(i+1)*m], true)
		h.NoOut()
	}
	inRun(h, r+tcp.Seq(3*m), d[3*m:4*m], false)
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + tcp.Seq(4*m)})

	// Every segment says more follows: one ACK, covering all of it, once
	// 64 KiB are unacknowledged or the offered window is (nearly) used.
	win := int(h.TCB.Vars().RcvWnd)
	for i := 4; ; i++ {
		if (i-4)*m > 64<<10 || (i-4)*m > win {
			t.Fatalf("no ACK after %d octets of a run (window %d)", (i-4)*m, win)
		}
		inRun(h, r+tcp.Seq(i*m), d[i*m:(i+1)*m], true)
		out := h.Take()
		if len(out) == 0 {
			continue
		}
		n := (i + 1 - 4) * m
		if len(out) != 1 || out[0].Seg.Ack != r+tcp.Seq((i+1)*m) {
			t.Fatalf("after %d octets of the run: %v, want one ACK of all of it", n, out)
		}
		if n < 64<<10 && win-n >= m {
			t.Errorf("ACK after %d octets of the run, below 64 KiB with %d octets of window left", n, win-n)
		}
		break
	}
}
