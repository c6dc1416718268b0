package tcp_test

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// §3.7.1/§3.8.6: text is cut into send-MSS segments (536 here: the peer
// sent no MSS option), the last one pushed.
func TestSegmentation(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Handshake(irs)
	d := pattern(1200)
	if n, err := h.TCB.Write(d, h.Now); n != 1200 || err != nil {
		t.Fatal(n, err)
	}
	h.Out(
		Seg{Flags: ACK, Seq: ISS + 1, Ack: r, Data: d[:536]},
		Seg{Flags: ACK, Seq: ISS + 537, Ack: r, Data: d[536:1072]},
		Seg{Flags: ACK | PSH, Seq: ISS + 1073, Ack: r, Data: d[1072:]},
	)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1201})
	h.NoOut()
	if e := h.Events(); e&tcp.EventWritable == 0 {
		t.Fatal("no EventWritable after ACK")
	}
	if v := h.TCB.Vars(); v.SndUna != ISS+1201 || v.SendQueued != 0 {
		t.Fatalf("%+v", v)
	}
}

// §3.7.4 Nagle (Minshall's form, as Linux): a second short segment waits
// for the first one's ACK; NoDelay sends at once.
func TestNagle(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Handshake(irs)
	h.TCB.Write([]byte("a"), h.Now)
	h.Out(Seg{Flags: ACK | PSH, Seq: ISS + 1, Ack: r, Data: []byte("a")})
	h.TCB.Write([]byte("b"), h.Now)
	h.TCB.Write([]byte("c"), h.Now)
	h.NoOut()
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 2})
	h.Out(Seg{Flags: ACK | PSH, Seq: ISS + 2, Ack: r, Data: []byte("bc")})

	h.TCB.SetNoDelay(true)
	h.TCB.Write([]byte("d"), h.Now)
	h.Out(Seg{Flags: ACK | PSH, Seq: ISS + 4, Ack: r, Data: []byte("d")})
}

// Write applies backpressure: it takes what fits in the send buffer.
func TestWriteBackpressure(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.SendBuffer, cfg.SendBufferMax = 4096, 0 // fixed: no auto-tuning
	h := New(t, cfg)
	r := h.Handshake(irs)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Win: 0, CheckWin: true}) // peer window closed
	n, err := h.TCB.Write(pattern(10000), h.Now)
	if n != 4096 || err != nil {
		t.Fatalf("Write = %d, %v; want 4096", n, err)
	}
	if n, _ := h.TCB.Write([]byte("x"), h.Now); n != 0 {
		t.Fatalf("full buffer took %d", n)
	}
}

// RFC 6298 §5: retransmission with exponential backoff, Karn's rule, and
// ErrTimeout after DataRetries (RFC 9293 §3.8.3 R2).
func TestRetransmitBackoffAndGiveUp(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.DataRetries = 4
	h := New(t, cfg)
	r := h.Handshake(irs)
	h.TCB.Write([]byte("data"), h.Now)
	seg := Seg{Flags: ACK | PSH, Seq: ISS + 1, Ack: r, Data: []byte("data")}
	h.Out(seg)
	rto := h.TCB.Vars().RTO
	for range cfg.DataRetries {
		h.Advance(rto - 1)
		h.NoOut()
		h.Advance(1)
		h.Out(seg)
		rto = min(2*rto, cfg.MaxRTO)
	}
	h.Advance(rto)
	h.State(tcp.Closed)
	if !errors.Is(h.TCB.Err(), tcp.ErrTimeout) {
		t.Fatal(h.TCB.Err())
	}
}

// Karn's algorithm (RFC 6298 §3): an ACK of a retransmitted segment gives
// no RTT sample, so the backed-off RTO is kept.
func TestKarn(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Handshake(irs)
	rto0 := h.TCB.Vars().RTO
	h.TCB.Write([]byte("x"), h.Now)
	h.Advance(rto0)
	h.Take()
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 2})
	if got := h.TCB.Vars().RTO; got != 2*rto0 {
		t.Fatalf("RTO %v after ACK of a retransmission, want %v", got, 2*rto0)
	}
	// A fresh segment ACKed after 50 ms gives a sample.
	h.TCB.Write([]byte("y"), h.Now)
	h.Advance(50 * time.Millisecond)
	h.Take()
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 3})
	if got := h.TCB.Vars().RTO; got >= 2*rto0 || got < h.Cfg.MinRTO {
		t.Fatalf("RTO %v after a sample", got)
	}
}

// §3.8.6.3: delayed ACK — one segment waits for the timer (40 ms), a
// second full segment is ACKed at once.
func TestDelayedACK(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.QuickACKs = 0
	h := New(t, cfg)
	r := h.Accept(irs)
	d := pattern(2 * int(cfg.MSS))
	m := int(cfg.MSS)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: d[:m]})
	h.NoOut()
	h.Advance(cfg.DelayedACK - 1)
	h.NoOut()
	h.Advance(1)
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + tcp.Seq(m)})
	h.In(Seg{Flags: ACK, Seq: r + tcp.Seq(m), Ack: ISS + 1, Data: d[:m]})
	h.NoOut()
	h.In(Seg{Flags: ACK, Seq: r + tcp.Seq(2*m), Ack: ISS + 1, Data: d[:m]})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + tcp.Seq(3*m)})
	// Quick ACKs at the start: with the default config the first segment
	// is ACKed at once.
	h = New(t, tcp.DefaultConfig())
	r = h.Accept(irs)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: []byte("q")})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 1})
}

// Short segments from a sender whose full segment we have seen are ACKed
// every second one, as Linux's __tcp_ack_snd_check ACKs once more than
// one full segment (rcv_mss) is unacknowledged: two of 1000 octets after
// one of the MSS, not three (RFC 9293 §3.8.6.3 asks at least every
// second full-sized one). A segment of two full ones is ACKed at once.
func TestDelayedACKShortSegments(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.QuickACKs = 0
	h := New(t, cfg)
	r := h.Accept(irs)
	m := int(cfg.MSS)
	d := pattern(2 * m)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: d[:m]})
	h.Advance(cfg.DelayedACK)
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + tcp.Seq(m)})
	r += tcp.Seq(m)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: d[:1000]})
	h.NoOut()
	h.In(Seg{Flags: ACK, Seq: r + 1000, Ack: ISS + 1, Data: d[:1000]})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 2000})
	r += 2000
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: d})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + tcp.Seq(2*m)})
}

// Out-of-order segments are held (bounded by the receive buffer),
// answered by duplicate ACKs carrying SACK blocks (RFC 2018 §4: the most
// recent first), and delivered in order when the hole fills.
func TestOutOfOrderReassembly(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.AcceptWith(irs, tcp.Options{SACKPermitted: true})
	d := pattern(3000)
	h.In(Seg{Flags: ACK, Seq: r + 1000, Ack: ISS + 1, Data: d[1000:2000]})
	h.In(Seg{Flags: ACK, Seq: r + 2500, Ack: ISS + 1, Data: d[2500:3000]})
	got := h.Take()
	if len(got) != 2 {
		t.Fatalf("%d dup ACKs, want 2", len(got))
	}
	for _, g := range got {
		if g.Seg.Ack != r || g.Seg.Flags != ACK {
			t.Fatalf("dup ACK %v", g)
		}
	}
	o := got[1].Seg.Options
	want := []tcp.SACKBlock{{Left: uint32(r + 2500), Right: uint32(r + 3000)}, {Left: uint32(r + 1000), Right: uint32(r + 2000)}}
	if o.NumSACK != 2 || o.SACK[0] != want[0] || o.SACK[1] != want[1] {
		t.Fatalf("SACK %+v, want %v", o, want)
	}
	if h.TCB.Buffered() != 0 {
		t.Fatal("out-of-order text readable")
	}
	// Overlapping duplicate of part of a held range.
	h.In(Seg{Flags: ACK, Seq: r + 1500, Ack: ISS + 1, Data: d[1500:2100]})
	h.Take()
	// Fill the first hole: delivery up to 2500, ACK at once.
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: d[:1000]})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 2100})
	h.In(Seg{Flags: ACK, Seq: r + 2100, Ack: ISS + 1, Data: d[2100:2500]})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 3000})
	buf := make([]byte, 4000)
	n, _ := h.TCB.Read(buf, h.Now)
	if !bytes.Equal(buf[:n], d) {
		t.Fatalf("reassembled %d octets, mismatch", n)
	}
}

// A FIN that arrives before a hole is filled is processed when the hole
// fills.
func TestOutOfOrderFIN(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Accept(irs)
	h.In(Seg{Flags: FIN | ACK, Seq: r + 3, Ack: ISS + 1, Data: []byte("def")})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r})
	h.State(tcp.Established)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: []byte("abc")})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 7})
	h.State(tcp.CloseWait)
	buf := make([]byte, 10)
	n, _ := h.TCB.Read(buf, h.Now)
	if string(buf[:n]) != "abcdef" || !h.TCB.EOF() {
		t.Fatalf("read %q eof %v", buf[:n], h.TCB.EOF())
	}
}

// §3.8.6.1 zero window: nothing is sent into a closed window; the persist
// timer probes with backoff (Linux's probe: SEG.SEQ = SND.UNA-1, no text)
// and the probes go on while the peer answers; when the window opens the
// text flows.
// It runs under each peer option set (timestamps and SACK change
// neither the probes nor their backoff).
func TestZeroWindowPersist(t *testing.T) {
	for _, o := range PeerOptionSets {
		t.Run(o.Name, func(t *testing.T) {
			h := New(t, tcp.DefaultConfig())
			r := h.HandshakeWith(irs, o.Opts)
			h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Win: 0, CheckWin: true})
			h.TCB.Write([]byte("hello"), h.Now)
			h.NoOut()
			rto := h.TCB.Vars().RTO
			probe := Seg{Flags: ACK, Seq: ISS, Ack: r}
			for i := range 20 {
				d := min(rto<<i, h.Cfg.MaxRTO)
				h.Advance(d - 1)
				h.NoOut()
				h.Advance(1)
				h.Out(probe)
				h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Win: 0, CheckWin: true})
			}
			h.State(tcp.Established)
			h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Win: 1000})
			h.Out(Seg{Flags: ACK | PSH, Seq: ISS + 1, Ack: r, Data: []byte("hello")})
		})
	}
}

// Unanswered zero-window probes end the connection (ErrTimeout).
func TestZeroWindowProbesUnanswered(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.DataRetries = 3
	h := New(t, cfg)
	r := h.Handshake(irs)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Win: 0, CheckWin: true})
	h.TCB.Write([]byte("hello"), h.Now)
	h.Advance(time.Hour)
	if got := len(h.Take()); got != 3 {
		t.Fatalf("%d probes, want 3", got)
	}
	h.State(tcp.Closed)
	if !errors.Is(h.TCB.Err(), tcp.ErrTimeout) {
		t.Fatal(h.TCB.Err())
	}
}

// Our own receive window closes when the application does not read
// (§3.8.6): text beyond it is dropped and ACKed with window 0; reading
// opens it and sends a window update.
func TestReceiveZeroWindow(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.RecvBuffer = 2000
	cfg.MSS = 1000
	cfg.WindowScale = 0
	h := New(t, cfg)
	r := h.Accept(irs)
	d := pattern(3000)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: d[:1000]})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 1000, Win: 1000, CheckWin: true})
	h.In(Seg{Flags: ACK, Seq: r + 1000, Ack: ISS + 1, Data: d[1000:2000]})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 2000, Win: 0, CheckWin: true})
	h.In(Seg{Flags: ACK, Seq: r + 2000, Ack: ISS + 1, Data: d[2000:2500]})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 2000, Win: 0, CheckWin: true})
	// A bare FIN needs no window: it is taken.
	h.In(Seg{Flags: FIN | ACK, Seq: r + 2000, Ack: ISS + 1})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 2001, Win: 0, CheckWin: true})
	h.State(tcp.CloseWait)
	buf := make([]byte, 1500)
	h.TCB.Read(buf[:100], h.Now) // opening by 100 is silly: no update
	h.NoOut()
	h.TCB.Read(buf, h.Now)
	h.NoOut() // CLOSE-WAIT: the peer sends nothing more, no update needed
	if h.TCB.Buffered() != 400 {
		t.Fatalf("buffered %d", h.TCB.Buffered())
	}
}

// A window update is sent when the application opens a closed window.
func TestReceiveWindowUpdate(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.RecvBuffer, cfg.MSS, cfg.WindowScale = 2000, 1000, 0
	h := New(t, cfg)
	r := h.Accept(irs)
	d := pattern(2000)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: d[:1000]})
	h.In(Seg{Flags: ACK, Seq: r + 1000, Ack: ISS + 1, Data: d[1000:]})
	h.Take()
	buf := make([]byte, 1500)
	h.TCB.Read(buf[:100], h.Now) // opening by 100 is silly: no update
	h.NoOut()
	h.TCB.Read(buf, h.Now)
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r + 2000, Win: 1600, CheckWin: true})
}

// §3.8.4 keepalive: after KeepIdle a probe (SEG.SEQ = SND.NXT-1); an
// answer resets the count; KeepCount unanswered probes reset the
// connection with ErrTimeout.
func TestKeepalive(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.KeepAlive = true
	cfg.KeepIdle, cfg.KeepInterval, cfg.KeepCount = time.Minute, 10*time.Second, 3
	h := New(t, cfg)
	r := h.Accept(irs)
	probe := Seg{Flags: ACK, Seq: ISS, Ack: r}
	h.Advance(time.Minute - 1)
	h.NoOut()
	h.Advance(1)
	h.Out(probe)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1}) // the peer answers
	h.Advance(time.Minute - 1)
	h.NoOut()
	h.Advance(1)
	h.Out(probe)
	for range 2 {
		h.Advance(10 * time.Second)
		h.Out(probe)
	}
	h.Advance(10 * time.Second)
	h.Out(Seg{Flags: RST, Seq: ISS + 1})
	h.State(tcp.Closed)
	if !errors.Is(h.TCB.Err(), tcp.ErrTimeout) {
		t.Fatal(h.TCB.Err())
	}
}

// Data both ways with a half-close from the peer: we keep sending in
// CLOSE-WAIT (§3.6).
func TestSendInCloseWait(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Accept(irs)
	h.In(Seg{Flags: FIN | ACK, Seq: r, Ack: ISS + 1})
	h.Take()
	h.State(tcp.CloseWait)
	h.TCB.Write([]byte("late reply"), h.Now)
	h.Out(Seg{Flags: ACK | PSH, Seq: ISS + 1, Ack: r + 1, Data: []byte("late reply")})
	h.TCB.Close(h.Now)
	h.Out(Seg{Flags: FIN | ACK, Seq: ISS + 11, Ack: r + 1})
	h.In(Seg{Flags: ACK, Seq: r + 1, Ack: ISS + 12})
	h.State(tcp.Closed)
}

// The FIN rides on the last data segment when CLOSE follows queued text.
func TestFINPiggyback(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Handshake(irs)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Win: 0, CheckWin: true})
	h.TCB.Write([]byte("bye"), h.Now)
	h.TCB.Close(h.Now)
	h.NoOut()
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Win: 1000})
	h.Out(Seg{Flags: FIN | PSH | ACK, Seq: ISS + 1, Ack: r, Data: []byte("bye")})
	h.State(tcp.FinWait1)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 5})
	h.State(tcp.FinWait2)
}

// A peer that shrinks its window to zero under text in flight and keeps
// answering is not timed out by the retransmission limit (Linux); once it
// falls silent for MaxRTO, the connection ends.
func TestShrunkWindowNotTimedOut(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.DataRetries = 3
	h := New(t, cfg)
	r := h.Handshake(irs)
	h.TCB.Write([]byte("data"), h.Now)
	h.Take()
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Win: 0, CheckWin: true})
	for range 10 {
		h.Advance(h.TCB.Vars().RTO)
		h.Out(Seg{Flags: ACK | PSH, Seq: ISS + 1, Ack: r, Data: []byte("data")})
		h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Win: 0, CheckWin: true})
	}
	h.State(tcp.Established)
	h.Advance(10 * cfg.MaxRTO)
	h.Take()
	h.State(tcp.Closed)
	if !errors.Is(h.TCB.Err(), tcp.ErrTimeout) {
		t.Fatal(h.TCB.Err())
	}
}

// Text written in SYN-SENT is queued and sent once ESTABLISHED (§3.10.2).
func TestWriteInSynSent(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Dial()
	h.Out(Seg{Flags: SYN, Seq: ISS})
	if n, err := h.TCB.Write([]byte("early"), h.Now); n != 5 || err != nil {
		t.Fatal(n, err)
	}
	h.NoOut()
	h.In(Seg{Flags: SYN | ACK, Seq: irs, Ack: ISS + 1})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: irs + 1},
		Seg{Flags: ACK | PSH, Seq: ISS + 1, Ack: irs + 1, Data: []byte("early")})
}

// fixedCwnd is a Congestion that allows a fixed window, for the seam test.
type fixedCwnd struct{ w, acks, timeouts uint32 }

func (c *fixedCwnd) Window() uint32   { return c.w }
func (c *fixedCwnd) Ssthresh() uint32 { return c.w }
func (c *fixedCwnd) OnAck(uint32, uint16, uint32, tcp.Instant, time.Duration, time.Duration) {
	c.acks++
}
func (c *fixedCwnd) OnLoss(uint16, uint32, tcp.Instant)        {}
func (c *fixedCwnd) OnRecoveryEnd(uint16, uint32, tcp.Instant) {}
func (c *fixedCwnd) OnTimeout(uint16, uint32, tcp.Instant)     { c.timeouts++ }
func (c *fixedCwnd) OnIdle(uint16, tcp.Instant)                {}
func (c *fixedCwnd) Undo()                                     {}

// The Congestion seam: the window it reports bounds what is in flight,
// and it hears of ACKs and timeouts.
func TestCongestionSeam(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	r := h.Handshake(irs)
	cc := &fixedCwnd{w: 1072}
	h.TCB.SetCongestion(cc)
	h.TCB.SetNoDelay(true)
	d := pattern(3000)
	h.TCB.Write(d, h.Now)
	h.Out(Seg{Flags: ACK, Seq: ISS + 1, Ack: r, Data: d[:536]},
		Seg{Flags: ACK, Seq: ISS + 537, Ack: r, Data: d[536:1072]})
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 537})
	h.Out(Seg{Flags: ACK, Seq: ISS + 1073, Ack: r, Data: d[1072:1608]})
	h.Advance(h.TCB.Vars().RTO)
	h.Take()
	if cc.acks != 1 || cc.timeouts != 1 {
		t.Fatalf("seam saw %d ACKs, %d timeouts", cc.acks, cc.timeouts)
	}
}

// RFC 9293 §3.7.1: without an MSS option the send MSS is 536 for IPv4
// and 1220 for IPv6.
func TestDefaultMSSv6(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.ID.LocalAddr, h.ID.RemoteAddr = netip.MustParseAddr("2001:2::1"), netip.MustParseAddr("2001:2::2")
	h.Handshake(irs)
	if m := h.TCB.Vars().SndMSS; m != 1220 {
		t.Fatalf("IPv6 default MSS %d", m)
	}
}

// Zero-copy receive: Peek shows the text in place (two slices when the
// ring wraps), Consume frees it.
func TestPeekConsume(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.RecvBuffer, cfg.MSS = 1000, 400
	h := New(t, cfg)
	r := h.Accept(irs)
	d := pattern(1600)
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: d[:400]})
	h.In(Seg{Flags: ACK, Seq: r + 400, Ack: ISS + 1, Data: d[400:800]})
	a, b := h.TCB.Peek()
	if !bytes.Equal(a, d[:800]) || len(b) != 0 {
		t.Fatalf("peek %d+%d", len(a), len(b))
	}
	h.TCB.Consume(700, h.Now)
	h.Take()
	h.In(Seg{Flags: ACK, Seq: r + 800, Ack: ISS + 1, Data: d[800:1200]})
	a, b = h.TCB.Peek()
	if got := append(append([]byte{}, a...), b...); !bytes.Equal(got, d[700:1200]) {
		t.Fatalf("wrapped peek %d+%d", len(a), len(b))
	}
}
