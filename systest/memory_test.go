package systest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/afxdp"
	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/systest/live"
	"github.com/sluicenet/sluice/tcp/chunk"
	"github.com/sluicenet/sluice/testbed"
)

// TestMemoryPressure holds SLUICE_MEMORY_CONNS (10,000, the issue's
// size, in 11-31 s here; 2,000 under -race, where CI runs it again
// without -race at the full size)
// Linux connections under a 64 MiB buffer budget (tcp_mem's high level),
// each moving memSize octets both ways while neither end reads: the
// server pauses reading at once (its window closes) and writes its
// octets as Write takes them, and each peer, with a small receive
// buffer, reads nothing at first. The budget's accounting stays within
// its limit plus the one chunk each way that a connection holding none
// is always granted, the Go heap grows by no more than that plus a fixed
// cost per connection (not by what the connections want to move), no
// connection is reset, and once both ends read again every octet
// arrives exactly, each way.
func TestMemoryPressure(t *testing.T) {
	n := envInt(t, "SLUICE_MEMORY_CONNS", map[bool]int{false: 10_000, true: 2_000}[raceEnabled])
	start := time.Now()
	const limit = 64 << 20
	budget := chunk.NewBudget(limit)
	tc := live.TCPConfig(t)
	tc.Budget = budget
	tc.SynBacklog, tc.AcceptBacklog = 4096, 4096
	b := testbed.New(t, testbed.Options{Queues: 1})
	h := &pressureHandler{conns: map[*sched.Conn]*pressureConn{}}
	addr := netip.AddrPortFrom(b.Server.IPv4, live.Port)
	g, err := sched.Start(sched.GroupConfig{
		Ifindex: b.Server.Ifindex, Queues: 1, Listen: []netip.AddrPort{addr},
		Handler: h, Setup: b.Server.Do,
		Loop: sched.LoopConfig{TCP: tc, SizeHint: n,
			Umem:   afxdp.UmemConfig{FrameCount: 16384, FillSize: 8192, CompletionSize: 4096},
			Socket: afxdp.SocketConfig{RxSize: 8192, TxSize: 4096}},
	})
	if err != nil {
		t.Fatalf("sched.Start: %v", err)
	}
	defer func() {
		if err := g.Close(); err != nil {
			t.Errorf("Group.Close: %v", err)
		}
	}()
	raiseTCPMem(t, n)
	// A Linux sender whose zero-window probe is dropped in its own stack
	// (veth's ring toward the loaded loop is full) probes again every
	// 500 ms without backoff and gives up after tcp_retries2 such probes
	// (tcp_probe_timer): 7.5 s of a busy CI machine. On a wire the drop
	// is not seen locally and the probes back off; give the peers that
	// margin here (the namespace is the test's own).
	if _, err := b.Peer.Exec(context.Background(), "sysctl", "-qw", "net.ipv4.tcp_retries2=60"); err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	want := memPattern
	conns := dialPressure(t, b, addr, n, want)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	testbed.WaitFor(t, "every connection open on the server", func() bool { return int(h.opened.Load()) == n })
	// Neither end reads: the server's send buffers hold what the peers'
	// small windows cannot, its receive buffers what it was sent, until
	// the budget refuses growth. Wait until nothing more moves.
	testbed.WaitFor(t, "memory pressure", budget.UnderPressure)
	for last := int64(-1); ; time.Sleep(500 * time.Millisecond) {
		if w := h.written.Load(); w == last {
			break
		} else {
			last = w
		}
	}
	bs := budget.Stats()
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	growth := int64(ms1.HeapAlloc) - int64(ms0.HeapAlloc)
	t.Logf("%d connections stalled after %v with %d of %d octets written each way: budget %+v; Go heap +%d MB (%d B/conn)",
		n, time.Since(start).Round(time.Millisecond), h.written.Load(), int64(n)*memSize, bs, growth>>20, growth/int64(n))
	// A connection holding no chunk always gets one each way (forced past
	// High): that is the only overshoot.
	if bound := bs.High + 2*int64(n)*chunk.Size; bs.Peak > bound {
		t.Errorf("budget peak %d above its limit %d plus one chunk per queue (%d)", bs.Peak, bs.High, bound)
	}
	if bs.PressureEntered == 0 || h.written.Load() >= int64(n)*memSize {
		t.Fatalf("the budget never came under pressure (%+v): the test proves nothing", bs)
	}
	// The heap holds the chunks and, per connection, the TCB and its
	// loop slot, the peer's socket objects and at most one piece that
	// Write held back.
	if bound := bs.Peak + int64(n)*memPerConn + 32<<20; growth > bound {
		t.Errorf("Go heap grew by %d, above the budget's peak %d + %d per connection + 32 MiB = %d", growth, bs.Peak, memPerConn, bound)
	}

	// Both ends read again.
	h.resume(t)
	var failed atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 64 {
		wg.Go(func() {
			buf := make([]byte, memSize+1)
			for i := int(next.Add(1) - 1); i < len(conns); i = int(next.Add(1) - 1) {
				c := conns[i]
				c.SetReadDeadline(time.Now().Add(60 * time.Second))
				k, err := io.ReadFull(c, buf)
				if !errors.Is(err, io.ErrUnexpectedEOF) || k != memSize || string(buf[:k]) != string(want) {
					if failed.Add(1) <= 5 {
						t.Errorf("peer %d: read %d octets (%v), want exactly %d then EOF", i, k, err, memSize)
					}
				}
			}
		})
	}
	wg.Wait()
	// The peers' last FINs may wait out retransmission backoffs grown
	// while the server did not read.
	for deadline := time.Now().Add(60 * time.Second); int(h.closed.Load()) < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections still open on the server after 60 s", n-int(h.closed.Load()), n)
		}
	}
	if f := failed.Load(); f > 0 {
		t.Errorf("%d of %d peers did not get their octets", f, n)
		for _, cmd := range [][]string{{"nstat", "-az"}, {"ip", "-s", "link"}} {
			out, _ := b.Peer.Exec(context.Background(), cmd[0], cmd[1:]...)
			t.Logf("peer %v:\n%s", cmd, out)
		}
		st, _ := g.Stats()
		t.Logf("server: %+v", st.Loops[0])
	}
	if r, bad := h.resets.Load(), h.bad.Load(); r > 0 || bad > 0 {
		t.Errorf("server: %d connections ended in error (first: %v), %d received wrong text (or not all of it)", r, h.firstErr.Load(), bad)
	}
	if rx := h.received.Load(); rx != int64(n)*memSize {
		t.Errorf("server received %d octets, want %d", rx, int64(n)*memSize)
	}
	t.Logf("all octets through after %v", time.Since(start).Round(time.Millisecond))
	if u := budget.Stats().Used; u > 4*chunk.Batch*chunk.Size {
		t.Errorf("budget still holds %d octets with every connection closed", u)
	}
}

// memPattern is what each end sends: not periodic in a power of two.
var memPattern = func() []byte {
	b := make([]byte, memSize)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}()

const (
	memSize    = 32 << 10 // octets each way per connection
	memPiece   = 1 << 10  // the server writes this much at a time
	memPerConn = 12 << 10 // Go heap per connection beside the chunks
)

// dialPressure opens n connections from the peer with a 4 KiB receive
// buffer (a few KiB of window) and a send buffer that takes want at once,
// and sends want on each, then its FIN.
func dialPressure(t *testing.T, b *testbed.Bed, addr netip.AddrPort, n int, want []byte) []*net.TCPConn {
	conns := make([]*net.TCPConn, n)
	d := net.Dialer{Timeout: 20 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096); serr == nil {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 2*memSize)
			}
		})
		return errors.Join(err, serr)
	}}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			errs <- b.Peer.Do(func() error {
				for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
					c, err := d.Dial("tcp", addr.String())
					if err != nil {
						return fmt.Errorf("dial %d: %w", i, err)
					}
					tcp := c.(*net.TCPConn)
					conns[i] = tcp
					tcp.SetWriteDeadline(time.Now().Add(10 * time.Second))
					if _, err := tcp.Write(want); err != nil {
						return fmt.Errorf("peer %d write: %w", i, err)
					}
					if err := tcp.CloseWrite(); err != nil {
						return fmt.Errorf("peer %d: %w", i, err)
					}
				}
				return nil
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			for _, c := range conns {
				if c != nil {
					c.Close()
				}
			}
			t.Fatal(err)
		}
	}
	return conns
}

// pressureHandler pauses reading on open and writes memSize octets of
// the pattern, memPiece at a time while Write holds nothing back, then
// its FIN. Once resumed it checks what it receives against the pattern.
type pressureHandler struct {
	mu                     sync.Mutex
	conns                  map[*sched.Conn]*pressureConn
	opened, closed, resets atomic.Int64
	bad, written, received atomic.Int64
	refs                   []live.ConnHandle
	firstErr               atomic.Value
}

type pressureConn struct{ sent, got int }

func (h *pressureHandler) OnOpen(c *sched.Conn) {
	c.PauseRead()
	p := &pressureConn{}
	h.mu.Lock()
	h.conns[c] = p
	h.refs = append(h.refs, live.ConnHandle{Loop: c.Loop(), Ref: c.Ref()})
	h.mu.Unlock()
	h.opened.Add(1)
	h.pump(c, p)
}

func (h *pressureHandler) conn(c *sched.Conn) *pressureConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[c]
}

func (h *pressureHandler) pump(c *sched.Conn, p *pressureConn) {
	want := memPattern
	for p.sent < memSize && c.Buffered() == 0 {
		k := min(memPiece, memSize-p.sent)
		if _, err := c.Write(want[p.sent : p.sent+k]); err != nil {
			return
		}
		p.sent += k
		h.written.Add(int64(k))
	}
	if p.sent == memSize && c.Buffered() == 0 {
		c.CloseWrite()
		p.sent++ // FIN queued
	}
}

func (h *pressureHandler) OnWritable(c *sched.Conn) {
	if p := h.conn(c); p != nil {
		h.pump(c, p)
	}
}

func (h *pressureHandler) OnData(c *sched.Conn, data []byte) {
	p := h.conn(c)
	if p == nil {
		return
	}
	want := memPattern
	if p.got+len(data) > memSize || string(data) != string(want[p.got:p.got+len(data)]) {
		h.bad.Add(1)
	}
	p.got += len(data)
	h.received.Add(int64(len(data)))
}

func (h *pressureHandler) OnEOF(c *sched.Conn) {
	if p := h.conn(c); p != nil && p.got != memSize {
		h.bad.Add(1)
	}
}

func (h *pressureHandler) OnClose(c *sched.Conn, err error) {
	if err != nil && h.resets.Add(1) == 1 {
		h.firstErr.Store(fmt.Sprintf("%v in %v, %+v", err, c.State(), c.TCB().Vars()))
	}
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
	h.closed.Add(1)
}

// resume lets every connection's text be delivered again.
func (h *pressureHandler) resume(t *testing.T) {
	h.mu.Lock()
	refs := h.refs
	h.mu.Unlock()
	byLoop := map[*sched.Loop][]sched.ConnRef{}
	for _, r := range refs {
		byLoop[r.Loop] = append(byLoop[r.Loop], r.Ref)
	}
	for l, rs := range byLoop {
		fn := func() {
			for _, r := range rs {
				if c := l.Conn(r); c != nil {
					c.ResumeRead()
				}
			}
		}
		err := l.Post(fn)
		for i := 0; errors.Is(err, sched.ErrPostFull) && i < 5000; i++ {
			time.Sleep(time.Millisecond)
			err = l.Post(fn)
		}
		if err != nil {
			t.Fatalf("resume: %v", err)
		}
	}
}
