package tcp_test

import (
	"bytes"
	"testing"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/chunk"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// At the memory budget a receiver that does not read stores what its
// chunks can hold and drops the rest of the window, counted, without a
// reset; the right edge it advertised never moves left (RFC 9293
// §3.8.6); once it reads, the peer's retransmissions complete the text
// exactly.
func TestBudgetReceiveAtLimit(t *testing.T) {
	budget := chunk.NewBudget(4 * chunk.Size)
	cfg := tcp.DefaultConfig()
	cfg.Pool = chunk.NewPool(budget)
	h := New(t, cfg)
	r := h.Accept(irs)
	const total = 40 << 10
	d := pattern(total)
	var edge tcp.Seq
	checkEdge := func() {
		t.Helper()
		for _, e := range h.Take() {
			if e.Seg.Flags&tcp.FlagRST != 0 {
				t.Fatalf("reset at the memory limit: %v", e)
			}
			if e := e.Seg.Ack.Add(uint32(e.Seg.Window)); edge != 0 && e.LessThan(edge) {
				t.Fatalf("right edge moved left: %v < %v", e, edge)
			} else {
				edge = e
			}
		}
	}
	// Send the whole window without reading.
	for off := 0; off+1000 <= total && off < 60000; off += 1000 {
		h.In(Seg{Flags: ACK, Seq: r + tcp.Seq(off), Ack: ISS + 1, Data: d[off : off+1000]})
		checkEdge()
	}
	if got := h.TCB.Buffered(); got >= total || h.TCB.Drops == 0 {
		t.Fatalf("buffered %d of %d with a 4-chunk budget; %d segments dropped", got, total, h.TCB.Drops)
	}
	if bs := budget.Stats(); bs.Used > bs.High+chunk.Size || !bs.UnderPressure {
		t.Fatalf("budget %+v", bs)
	}
	if h.TCB.State() != tcp.Established {
		t.Fatalf("state %v", h.TCB.State())
	}
	// Read, and let the peer resend from RCV.NXT until everything is in.
	var out []byte
	buf := make([]byte, 64<<10)
	for rounds := 0; len(out) < total; rounds++ {
		if rounds > 1000 {
			t.Fatalf("stalled at %d of %d", len(out), total)
		}
		n, _ := h.TCB.Read(buf, h.Now)
		out = append(out, buf[:n]...)
		checkEdge()
		nxt := h.TCB.Vars().RcvNxt
		off := int(nxt.Sub(r))
		if off < total {
			end := min(off+1000, total)
			h.In(Seg{Flags: ACK, Seq: nxt, Ack: ISS + 1, Data: d[off:end]})
			checkEdge()
		}
	}
	if !bytes.Equal(out, d) {
		t.Fatal("text differs after the limit")
	}
	if h.TCB.Buffered() != 0 || cfg.Pool.Stats().InUse != 0 {
		t.Fatalf("drained connection holds %d chunks", cfg.Pool.Stats().InUse)
	}
}

// An idle connection holds no buffer memory: after a request and its
// response are through, neither buffer keeps a chunk.
func TestIdleHoldsNoChunks(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.Pool = chunk.NewPool(nil)
	h := New(t, cfg)
	r := h.Accept(irs)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: []byte("GET / HTTP/1.1\r\n\r\n")})
	buf := make([]byte, 100)
	h.TCB.Read(buf, h.Now)
	resp := bytes.Repeat([]byte("x"), 10000)
	if n, err := h.TCB.Write(resp, h.Now); n != len(resp) || err != nil {
		t.Fatalf("Write %d %v", n, err)
	}
	if cfg.Pool.Stats().InUse == 0 {
		t.Fatal("unacknowledged response holds no chunk")
	}
	for i := 0; h.TCB.Vars().SendQueued > 0; i++ {
		if i > 100 {
			t.Fatalf("response not through: %+v", h.TCB.Vars())
		}
		h.Take()
		h.In(Seg{Flags: ACK, Seq: r + 18, Ack: h.TCB.Vars().SndMax, Win: 65535})
	}
	if s := cfg.Pool.Stats(); s.InUse != 0 {
		t.Fatalf("idle connection holds %d chunks", s.InUse)
	}
}
