package tcp_test

import (
	"bytes"
	"testing"
	"time"

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

// Under memory pressure a new right edge covers only what the connection
// can store for certain, so a peer that keeps to the window never has
// text dropped for memory once the edge offered before the pressure is
// passed (the window is max(current offer, room), never shrunk, RFC 7323
// §2.4); every byte still arrives exactly, without a reset.
func TestPressureWindowCoversRoom(t *testing.T) {
	for _, o := range []struct {
		name string
		opts tcp.Options
	}{{"plain", PeerPlain}, {"wscale", tcp.Options{MSS: 1460, HasWScale: true, WScale: 7}}} {
		t.Run(o.name, func(t *testing.T) {
			budget := chunk.NewBudget(64 * chunk.Size)
			cfg := tcp.DefaultConfig()
			cfg.Pool = chunk.NewPool(budget)
			h := New(t, cfg)
			r := h.AcceptWith(irs, o.opts)
			prePressure := r.Add(h.TCB.Vars().RcvWnd)
			edge := prePressure
			// Other connections' buffers take the budget to its limit.
			var hog chunk.Queue
			hog.Init(chunk.NewPool(budget), 1<<30, false)
			for hog.Push(make([]byte, chunk.Size)) > 0 {
			}
			defer hog.Reset()
			if !budget.UnderPressure() || budget.Free() != 0 {
				t.Fatalf("budget not at its limit: %+v", budget.Stats())
			}
			// held is the edge offered before the pressure, as it creeps
			// when RCV.NXT moves by other than whole scale units (the
			// window field rounds up, RFC 7323 §2.3): the budget may
			// refuse text up to it. Any edge beyond is new.
			held := prePressure
			take := func() {
				t.Helper()
				for _, e := range h.Take() {
					if e.Seg.Flags&tcp.FlagRST != 0 {
						t.Fatalf("reset under memory pressure: %v", e)
					}
					v := h.TCB.Vars()
					unit := uint32(1) << v.RcvWScale
					ack := e.Seg.Ack
					r := ack.Add(uint32(e.Seg.Window) << v.RcvWScale)
					if ack.LessThan(held) && !ack.Add((held.Sub(ack)+unit-1)/unit*unit).LessThan(r) {
						held = r
					}
					if edge.LessThan(r) {
						edge = r
					}
				}
			}
			const total = 256 << 10
			d := pattern(total)
			var out []byte
			buf := make([]byte, 64<<10)
			for rounds := 0; len(out) < total; rounds++ {
				if rounds > 2000 {
					t.Fatalf("stalled at %d of %d", len(out), total)
				}
				nxt := h.TCB.Vars().RcvNxt
				if !nxt.LessThan(edge) {
					// Zero window: the peer's probe (Linux: SEG.SEQ =
					// SND.UNA-1) draws an ACK with the current window.
					h.Advance(time.Second)
					h.In(Seg{Flags: ACK, Seq: nxt - 1, Ack: ISS + 1})
					take()
				}
				// The peer sends what the window allows, from RCV.NXT.
				for seq := nxt; seq.LessThan(edge) && int(seq.Sub(r)) < total; {
					off := int(seq.Sub(r))
					n := min(1000, int(edge.Sub(seq)), total-off)
					before := h.TCB.Stats().MemDropped
					h.In(Seg{Flags: ACK, Seq: seq, Ack: ISS + 1, Data: d[off : off+n]})
					if h.TCB.Stats().MemDropped != before && held.LessThan(seq.Add(uint32(n))) {
						t.Fatalf("text %v..%v inside a window offered under pressure dropped (edge %v, nxt %v)", seq, seq.Add(uint32(n)), edge, nxt)
					}
					take()
					seq = seq.Add(uint32(n))
				}
				// The application reads all it has.
				k, _ := h.TCB.Read(buf, h.Now)
				out = append(out, buf[:k]...)
				take()
			}
			if !bytes.Equal(out, d) {
				t.Fatal("text differs under pressure")
			}
			if h.TCB.State() != tcp.Established || !budget.UnderPressure() {
				t.Fatalf("state %v, budget %+v", h.TCB.State(), budget.Stats())
			}
		})
	}
}
