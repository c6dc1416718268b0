package tcp_test

import (
	"testing"
	"time"

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

// Issue 14 item 9: delayed ACKs count the peer's segment size, measured
// (Linux tcp_measure_rcv_mss), not our MSS: a jumbo-MTU receiver ACKs a
// 1448-octet sender at least every second segment; and after the peer
// was silent for an RTO, its first segment is ACKed at once (quick ACK).
func TestDelayedACKPeerSegmentSize(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.MSS, cfg.QuickACKs = 9000, 0
	cfg.RecvBuffer = 1 << 20
	h := New(t, cfg)
	r := h.HandshakeWith(irs, PeerLinux)
	seg := make([]byte, 1448)
	acks := 0
	for i := range 8 {
		h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: seg})
		r = r.Add(uint32(len(seg)))
		if len(h.Take()) > 0 {
			acks++
		} else if i%2 == 1 {
			t.Fatalf("segment %d: two full segments unacknowledged", i)
		}
	}
	h.Advance(5 * time.Second)
	h.Take()
	h.In(Seg{Flags: ACK, Seq: r, Ack: ISS + 1, Data: seg})
	if len(h.Take()) != 1 {
		t.Fatalf("no quick ACK after %v of silence", 5*time.Second)
	}
}

// Issue 14 item 12: the SYN,ACK that completes a simultaneous open
// carries an unscaled window (RFC 7323 §2.2).
func TestSimultaneousOpenSYNWindowUnscaled(t *testing.T) {
	h := New(t, tcp.DefaultConfig())
	h.Dial()
	h.Take()
	ws := tcp.Options{MSS: 1460, HasWScale: true, WScale: 7}
	h.In(Seg{Flags: SYN, Seq: irs, Win: 1000, CheckWin: true, Opts: ws})
	h.Take()
	h.In(Seg{Flags: SYN | ACK, Seq: irs, Ack: ISS + 1, Win: 1000, CheckWin: true, Opts: ws})
	h.State(tcp.Established)
	if w := h.TCB.Vars().SndWnd; w != 1000 {
		t.Fatalf("send window %d from a SYN,ACK's 1000", w)
	}
}

// Issue 14 item 12: a TIME-WAIT reopen takes an ISS above the old
// incarnation's SND.NXT (SND.NXT+65537, as Linux).
func TestReopenISS(t *testing.T) {
	cfg := tcp.DefaultConfig()
	h := New(t, cfg)
	l := h.Listener()
	id := h.ID
	seg := Seg{Flags: SYN, Seq: irs}.Segment()
	c := l.InputReopen(&id, &seg, h.Now, 0xffff0000)
	if c == nil || c.Vars().ISS != tcp.Seq(0xffff0000).Add(65537) {
		t.Fatalf("reopened with %+v", c)
	}
	seg.Seq++
	id.RemotePort++
	if c := l.Input(&id, &seg, h.Now); c == nil || c.Vars().ISS != ISS {
		t.Fatal("a plain SYN afterwards does not take the configured ISN")
	}
}
