package tcp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// Hostile receive pattern: thousands of one-octet segments, each
// out of order and not adjacent to any other. Reassembly keeps at most
// Config.MaxOOORanges ranges inside the receive buffer (RFC 9293
// §3.10.7.4 leaves the out-of-order queue to the implementation; RFC 2018
// §8 allows dropping SACKed data); the rest is dropped and counted, every
// one still ACKed. Memory stays the buffer plus the bounded ranges, and
// the stream still completes once the peer sends in order.
func TestHostileTinyOutOfOrder(t *testing.T) {
	for _, limit := range []int{0, 8, 1000} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) { hostileTinyOutOfOrder(t, limit) })
	}
}

func hostileTinyOutOfOrder(t *testing.T, limit int) {
	cfg := tcp.DefaultConfig()
	cfg.MaxOOORanges = limit
	want := limit // ranges kept
	if limit == 0 {
		want = tcp.DefaultMaxOOORanges
	}
	cfg.RecvBufferMax = 1 << 20 // auto-tuning must not let this grow anything
	h := New(t, cfg)
	r := h.AcceptWith(irs, tcp.Options{SACKPermitted: true, MSS: 1460})
	for i := range 5000 {
		off := tcp.Seq(2 + 2*(i%30000))
		h.In(Seg{Flags: ACK, Seq: r + off, Ack: ISS + 1, Data: []byte{byte(i)}})
	}
	acks := h.Take()
	if len(acks) != 5000 {
		t.Fatalf("%d ACKs for 5000 out-of-order segments", len(acks))
	}
	last := acks[len(acks)-1].Seg
	if last.Ack != r || last.Options.NumSACK == 0 {
		t.Fatalf("last ACK %v, want a duplicate ACK with SACK blocks", acks[len(acks)-1])
	}
	st := h.TCB.Stats()
	if st.OOODropped != uint64(5000-want) {
		t.Fatalf("OOODropped %d, want all but %d ranges", st.OOODropped, want)
	}
	if s, rb := h.TCB.BufferSizes(); rb != cfg.RecvBuffer || s != cfg.SendBuffer || h.TCB.Buffered() != 0 {
		t.Fatalf("buffers %d/%d, buffered %d", s, rb, h.TCB.Buffered())
	}
	// In-order text still flows (and fills the kept ranges' holes).
	d := pattern(100)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: d})
	if h.TCB.Buffered() < 100 {
		t.Fatalf("buffered %d after in-order text", h.TCB.Buffered())
	}
}

// Hostile ACK pattern (sender side): SACK blocks for many disjoint ranges
// that are never filled, and blocks for data never sent. The scoreboard
// holds at most Config.MaxOOORanges ranges (RFC 6675 §3 leaves its form to the
// implementation; forgetting a SACKed range only makes the sender resend
// it, RFC 2018 §8), impossible blocks are ignored (RFC 6675 §5.1), both
// counted; the connection completes when the peer finally acknowledges.
func TestHostileSACKBlocks(t *testing.T) {
	for _, limit := range []int{8, 0} { // 20 ranges: overflow with 8, none with 256
		t.Run(fmt.Sprint(limit), func(t *testing.T) { hostileSACKBlocks(t, limit) })
	}
}

func hostileSACKBlocks(t *testing.T, limit int) {
	cfg := tcp.DefaultConfig()
	cfg.MaxOOORanges = limit
	h := New(t, cfg)
	h.Dial()
	h.Take()
	h.In(Seg{Flags: tcp.FlagSYN | ACK, Seq: irs, Ack: ISS + 1, Opts: tcp.Options{MSS: 1000, SACKPermitted: true}})
	h.Take()
	r := irs + 1
	h.TCB.SetNoDelay(true)
	h.TCB.Write(pattern(40*1000), h.Now)
	sent := len(h.Take())
	if sent == 0 {
		t.Fatal("nothing sent")
	}
	base := uint32(ISS + 1)
	for i := range 200 {
		k := uint32(1 + 2*(i%20))
		o := tcp.Options{NumSACK: 2}
		o.SACK[0] = tcp.SACKBlock{Left: base + k*100, Right: base + k*100 + 50}
		o.SACK[1] = tcp.SACKBlock{Left: base + 1<<20, Right: base + 1<<20 + 10} // never sent
		h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Opts: o})
	}
	st := h.TCB.Stats()
	if st.SACKInvalid != 200 || (st.SACKOverflow == 0) != (limit == 0) {
		t.Fatalf("stats %+v: want 200 invalid blocks ignored and scoreboard overflows counted (limit %d, 20 ranges)", *st, limit)
	}
	if c := h.TCB.Congestion(); c.Pipe > 40*1000 {
		t.Fatalf("pipe %d beyond what was sent", c.Pipe)
	}
	// The peer acknowledges everything in the end: all done.
	for range 50 {
		v := h.TCB.Vars()
		h.In(Seg{Flags: ACK, Seq: r, Ack: v.SndMax})
		h.Take()
		if v = h.TCB.Vars(); v.SndUna == v.SndMax && h.TCB.Unsent() == 0 {
			return
		}
	}
	t.Fatalf("not all acknowledged: %+v", h.TCB.Vars())
}

// A peer that never opens its window (RFC 9293 §3.8.6.1): the send buffer
// bounds what the application can queue (Write takes no more), the
// persist timer backs off to MaxRTO, and a peer that answers every probe
// keeps the connection open for as long as it likes — with memory fixed.
func TestHostileWindowNeverOpens(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.SendBufferMax = 1 << 20 // auto-tuning must not grow into a closed window
	h := New(t, cfg)
	r := h.Handshake(irs)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Win: 0, CheckWin: true})
	total := 0
	for range 10 {
		n, _ := h.TCB.Write(make([]byte, 32<<10), h.Now)
		total += n
	}
	if total != cfg.SendBuffer || h.TCB.Writable() != 0 {
		t.Fatalf("queued %d into a %d-octet buffer", total, cfg.SendBuffer)
	}
	var probes []tcp.Instant
	for range 6 * 3600 { // six hours, a second at a time
		h.Advance(time.Second)
		for _, e := range h.Take() {
			if len(e.Seg.Payload) != 0 {
				t.Fatalf("text sent into a zero window: %v", e)
			}
			probes = append(probes, h.Now)
			h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Win: 0, CheckWin: true})
		}
	}
	n := len(probes)
	if n < 150 {
		t.Fatalf("%d probes in six hours", n)
	}
	gap := probes[n-1].Sub(probes[n-2])
	first := probes[1].Sub(probes[0])
	if first >= gap {
		t.Fatalf("probe intervals %v then %v: no backoff", first, gap)
	}
	h.State(tcp.Established)
	if gap < cfg.MaxRTO-time.Second || gap > cfg.MaxRTO+time.Second {
		t.Fatalf("probe interval %v, want backed off to MaxRTO", gap)
	}
	if s, _ := h.TCB.BufferSizes(); s != cfg.SendBuffer {
		t.Fatalf("send buffer grew to %d", s)
	}
}

// Zero-window probes from the peer are answered (RFC 9293 §3.8.6.1: "the
// receiving TCP must still ... send an acknowledgment showing the next
// sequence number expected and the current window"): Linux's probe
// (SEQ = RCV.NXT-1, no text) and a one-octet probe into the closed
// window each get an ACK with the window, and once the application reads,
// the next probe learns the opened window.
func TestZeroWindowProbesAnswered(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.RecvBuffer, cfg.MSS, cfg.WindowScale = 2000, 1000, 0
	h := New(t, cfg)
	r := h.Accept(irs)
	d := pattern(2000)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: d[:1000]})
	h.In(Seg{Flags: ACK, Seq: r + 1000, Ack: ISS + 1, Data: d[1000:]})
	h.Take()
	r += 2000
	h.In(Seg{Flags: ACK, Seq: r - 1, Ack: ISS + 1})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r, Win: 0, CheckWin: true})
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: []byte{'p'}})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r, Win: 0, CheckWin: true})
	if h.TCB.Buffered() != 2000 {
		t.Fatalf("buffered %d: the probe's octet was taken into a closed window", h.TCB.Buffered())
	}
	buf := make([]byte, 2000)
	h.TCB.Read(buf, h.Now)
	h.Take()                          // the window update
	h.Advance(500 * time.Millisecond) // bare probes get one ACK per 500 ms (TestOOWACKRateLimit)
	h.In(Seg{Flags: ACK, Seq: r - 1, Ack: ISS + 1})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r, Win: 2000, CheckWin: true})
}

// Issue 14 item 11: out-of-window segments without text (or with a SYN)
// are answered at most once per 500 ms, as Linux's tcp_oow_rate_limited:
// two ends that each found the other's ACKs unacceptable would ACK each
// other forever. Out-of-window text is always answered.
func TestOOWACKRateLimit(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Accept(irs)
	for range 10 {
		h.In(Seg{Flags: ACK, Seq: r + 1_000_000, Ack: ISS + 1})
	}
	if out := h.Take(); len(out) != 1 {
		t.Fatalf("%d ACKs for 10 out-of-window ACKs at once, want 1", len(out))
	}
	h.In(Seg{Flags: ACK, Seq: r - 10, Ack: ISS + 1, Data: []byte("old")})
	if out := h.Take(); len(out) != 1 {
		t.Fatalf("%d ACKs for old text, want 1", len(out))
	}
	h.Advance(500 * time.Millisecond)
	h.In(Seg{Flags: ACK, Seq: r + 1_000_000, Ack: ISS + 1})
	if out := h.Take(); len(out) != 1 {
		t.Fatalf("%d ACKs 500 ms later, want 1", len(out))
	}
	if st := h.TCB.Stats(); st.OOWACKsLimited != 9 {
		t.Fatalf("%d limited, want 9", st.OOWACKsLimited)
	}
}

// Issue 14 item 10: a peer MSS below 48 is raised to 48 (Linux's
// tcp_min_snd_mss; an MSS of 1 made one-octet segments, CVE-2019-11479).
func TestPeerMSSFloor(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.AcceptWith(irs, tcp.Options{MSS: 1})
	if got := h.TCB.Vars().SndMSS; got != 48 {
		t.Fatalf("send MSS %d for a peer MSS of 1, want 48", got)
	}
}
