package tcp_test

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// app drives one end: writes its data as the send buffer allows, reads
// everything, closes its side once all is written.
type app struct {
	out, in []byte
	sent    int
	closed  bool
}

func (a *app) drive(c *tcp.TCB, now tcp.Instant) {
	if c == nil {
		return
	}
	switch c.State() {
	case tcp.Established, tcp.CloseWait:
		if a.sent < len(a.out) {
			n, _ := c.Write(a.out[a.sent:], now)
			a.sent += n
		}
		if a.sent == len(a.out) && !a.closed {
			a.closed = true
			c.CloseWrite(now)
		}
	}
	var buf [4096]byte
	for {
		n, _ := c.Read(buf[:], now)
		if n == 0 {
			break
		}
		a.in = append(a.in, buf[:n]...)
	}
}

// Two engines over a wire that drops, duplicates and reorders: random
// data sent both ways arrives byte-exact, and both ends close cleanly.
func TestLossyLinkTransfer(t *testing.T) {
	for seed := uint64(1); seed <= 60; seed++ {
		cfg := tcp.DefaultConfig()
		cfg.SendBuffer, cfg.RecvBuffer = 16<<10, 16<<10
		drop := 0.05
		switch seed % 3 {
		case 1: // no options: Karn-only RTT, no scaling
			cfg.Timestamps, cfg.SACK, cfg.WindowScale = false, false, 0
		case 2:
			drop = 0.15
			cfg.NoDelay = true
		}
		var l *Link
		if seed%4 == 3 {
			l = NewLinkSimultaneous(t, &cfg, seed) // both ends open actively
		} else {
			l = NewLink(t, &cfg, seed)
		}
		l.Drop, l.Dup = drop, 0.05
		l.Delay, l.Jitter = 5*time.Millisecond, 10*time.Millisecond
		r := rand.New(rand.NewPCG(seed, 7))
		a := &app{out: make([]byte, 100_000+r.IntN(50_000))}
		b := &app{out: make([]byte, 60_000+r.IntN(50_000))}
		for i := range a.out {
			a.out[i] = byte(r.Uint32())
		}
		for i := range b.out {
			b.out[i] = byte(r.Uint32())
		}
		limit := l.Now.Add(30 * time.Minute)
		over := func(c *tcp.TCB) bool {
			return c != nil && (c.State() == tcp.Closed || c.State() == tcp.TimeWait)
		}
		for steps := 0; steps < 2_000_000 && l.Step(limit); steps++ {
			a.drive(l.A, l.Now)
			b.drive(l.B, l.Now)
			if over(l.A) && over(l.B) {
				break
			}
		}
		t.Logf("seed %d: %d segments, %d dropped, %d duplicated; A %v, B %v, %v virtual",
			seed, l.Sent, l.Dropped, l.Duplicated, l.A.State(), l.B.State(), l.Now.Sub(Start))
		if l.B == nil || !over(l.A) || !over(l.B) || l.A.Err() != nil || l.B.Err() != nil {
			t.Fatalf("seed %d: not closed cleanly: A %v %v", seed, l.A.State(), l.A.Err())
		}
		if !bytes.Equal(b.in, a.out) || !bytes.Equal(a.in, b.out) {
			first := func(x, y []byte) int {
				for i := range min(len(x), len(y)) {
					if x[i] != y[i] {
						return i
					}
				}
				return -1
			}
			t.Fatalf("seed %d: data mismatch at %d / %d: A→B %d/%d, B→A %d/%d", seed, first(b.in, a.out), first(a.in, b.out), len(b.in), len(a.out), len(a.in), len(b.out))
		}
	}
}
