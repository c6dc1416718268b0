package tcp_test

import (
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// A receiver with auto-tuning keeps its window ahead of a sender in slow
// start (Linux's dynamic right-sizing): over a lossless 20 ms path with
// room to spare, the receive window never holds the sender back, which
// needs the window to grow every RTT the drain grows, not every other.
func TestReceiveAutotuneKeepsAheadOfSlowStart(t *testing.T) {
	cfg := tcp.DefaultConfig()
	cfg.SendBuffer = cfg.SendBufferMax // the sender's buffer is not what is tested
	l := NewLink(t, &cfg, 1)
	l.Delay = 10 * time.Millisecond
	l.Rate = 40e6 // octets/s: 800 kB per RTT, arrivals spread as on a real path
	const size = 4 << 20
	a := &app{out: make([]byte, size)}
	b := &app{}
	limited, steps := 0, 0
	for l.Step(l.Now.Add(time.Minute)) && len(b.in) < size {
		a.drive(l.A, l.Now)
		b.drive(l.B, l.Now)
		v, cc := l.A.Vars(), l.A.Congestion()
		flight := v.SndNxt.Sub(v.SndUna)
		mss := uint32(v.SndMSS)
		if v.SndUna != v.ISS && a.sent-int(flight) < size && cc.Cwnd >= flight+mss && v.SndWnd < flight+mss {
			limited++ // the congestion window would send, the peer's window does not
		}
		steps++
	}
	if len(b.in) != size {
		t.Fatalf("received %d of %d octets", len(b.in), size)
	}
	_, rcv := l.B.BufferSizes()
	t.Logf("%d of %d steps limited by the receive window; receive buffer %d", limited, steps, rcv)
	if limited > 0 {
		t.Errorf("the receive window held the sender back at %d of %d steps", limited, steps)
	}
}
