package sched

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/testbed"
	"github.com/sluicenet/sluice/wire"
)

// shutHandler echoes, except that a request "big" is answered with
// bigReply (more than the send buffer, so Write holds most of it back);
// it closes after the peer's FIN and records every OnClose.
type shutHandler struct {
	mu     sync.Mutex
	closes []error
}

var bigReply = blob(2 << 20)

func (*shutHandler) OnOpen(c *Conn) {}
func (*shutHandler) OnData(c *Conn, data []byte) {
	if string(data) == "big" {
		c.Write(bigReply)
		return
	}
	c.Write(data)
}
func (*shutHandler) OnEOF(c *Conn) { c.Close() }
func (h *shutHandler) OnClose(c *Conn, err error) {
	h.mu.Lock()
	h.closes = append(h.closes, err)
	h.mu.Unlock()
}

func (h *shutHandler) results() (ok int, errs []error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, err := range h.closes {
		if err == nil {
			ok++
		} else {
			errs = append(errs, err)
		}
	}
	return ok, errs
}

func startShutServer(t *testing.T, b *testbed.Bed, h Handler, lc LoopConfig) (*Group, netip.AddrPort) {
	t.Helper()
	ap := netip.AddrPortFrom(b.Server.IPv4, 7200)
	g, err := Start(GroupConfig{Ifindex: b.Server.Ifindex, Listen: []netip.AddrPort{ap}, Handler: h, Loop: lc, Setup: b.Server.Do, Cores: []int{-1}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	return g, ap
}

// peerDial opens a kernel TCP connection from the peer namespace.
func peerDial(b *testbed.Bed, ap netip.AddrPort) (*net.TCPConn, error) {
	var c net.Conn
	err := b.Peer.Do(func() (err error) {
		c, err = (&net.Dialer{Timeout: 5 * time.Second}).Dial("tcp", ap.String())
		return
	})
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// TestGracefulShutdown drives the pieces of a Server.Shutdown with
// connections in flight: after SetAccepting(false) a new connection is
// refused (RST) while the open ones go on; CloseAll lets idle connections
// end with a FIN and connections with 2 MiB of reply still queued deliver
// all of it before their FIN; connections whose peers never close stay
// counted by Conns until AbortAll resets them (the peer reads
// ECONNRESET, OnClose reports tcp.ErrAborted); accepting can resume.
func TestGracefulShutdown(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	h := &shutHandler{}
	g, ap := startShutServer(t, b, h, LoopConfig{TCP: testTCPConfig()})
	var idle, busy, stuck []*net.TCPConn
	for i := range 10 {
		c, err := peerDial(b, ap)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		switch {
		case i < 4:
			idle = append(idle, c)
			c.Write([]byte("ping"))
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("echo: %q %v", buf, err)
			}
		case i < 8:
			busy = append(busy, c)
			c.Write([]byte("big"))
			buf := make([]byte, 10_000)
			if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, bigReply[:len(buf)]) {
				t.Fatalf("big reply: %v", err)
			}
		default:
			stuck = append(stuck, c)
		}
	}
	testbed.WaitFor(t, "10 open connections", func() bool { return g.Conns() == 10 })

	if err := g.SetAccepting(false); err != nil {
		t.Fatal(err)
	}
	if c, err := peerDial(b, ap); err == nil {
		c.Close()
		t.Fatal("a connection was accepted after SetAccepting(false)")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after SetAccepting(false): %v, want connection refused", err)
	}
	if n := g.Conns(); n != 10 {
		t.Fatalf("Conns %d after refusing, want 10", n)
	}

	if err := g.CloseAll(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var bad atomic.Int32
	for _, c := range idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := c.Read(make([]byte, 10)); err != io.EOF {
				t.Errorf("idle connection: read %d, %v; want EOF", n, err)
				bad.Add(1)
			}
			c.Close()
		}()
	}
	for _, c := range busy {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			rest, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(rest, bigReply[10_000:]) {
				t.Errorf("busy connection: %d of %d octets after CloseAll (%v)", len(rest), len(bigReply)-10_000, err)
				bad.Add(1)
			}
			c.Close()
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		t.FailNow()
	}
	testbed.WaitFor(t, "the idle and busy connections to close", func() bool { return g.Conns() == len(stuck) })
	if ok, errs := h.results(); ok != 8 || len(errs) != 0 {
		t.Fatalf("after drain: %d clean closes, errors %v; want 8, none", ok, errs)
	}

	if err := g.AbortAll(); err != nil {
		t.Fatal(err)
	}
	testbed.WaitFor(t, "Conns() == 0 after AbortAll", func() bool { return g.Conns() == 0 })
	for _, c := range stuck {
		// The FIN of CloseAll came first (EOF), then the RST: the
		// peer's next writes fail.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Errorf("stuck connection: %v before EOF", err)
		}
		var err error
		for i := 0; i < 100 && err == nil; i++ {
			_, err = c.Write([]byte("x"))
			time.Sleep(10 * time.Millisecond)
		}
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Errorf("stuck connection after AbortAll: write %v, want reset", err)
		}
	}
	if ok, errs := h.results(); ok != 8 || len(errs) != 2 || !errors.Is(errs[0], tcp.ErrAborted) || !errors.Is(errs[1], tcp.ErrAborted) {
		t.Errorf("closes: %d clean, errors %v; want 8 and two tcp.ErrAborted", ok, errs)
	}
	gs, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if gs.Loops[0].Refused == 0 {
		t.Errorf("Stats.Refused is 0 after a refused SYN")
	}

	if err := g.SetAccepting(true); err != nil {
		t.Fatal(err)
	}
	c, err := peerDial(b, ap)
	if err != nil {
		t.Fatalf("dial after SetAccepting(true): %v", err)
	}
	c.Close()
}

// recordTap counts the frames a loop shows it and checks each parses as
// a TCP segment of the right direction.
type recordTap struct {
	serverMAC net.HardwareAddr
	in, out   atomic.Uint64
	bad       atomic.Uint64
}

func (r *recordTap) Frame(queue int, out bool, frame []byte) {
	var f wire.Frame
	if err := wire.ParseFrame(frame, &f); err != nil {
		r.bad.Add(1)
		return
	}
	mine := bytes.Equal(f.Eth.Src[:], r.serverMAC)
	if out != mine {
		r.bad.Add(1)
	}
	if out {
		r.out.Add(1)
	} else {
		r.in.Add(1)
	}
}

// TestConnLimitAndTap: at LoopConfig.MaxConns a further SYN is dropped
// (counted in LimitDrops; the kernel client times out instead of being
// refused), a Dial fails with ErrConnLimit, and the open connections are
// untouched; once one closes a new
// connection gets in. A Tap installed with SetTap sees exactly the frames
// the loop counted, received ones as in and sent ones as out, and nothing
// once removed.
func TestConnLimitAndTap(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	h := &shutHandler{}
	g, ap := startShutServer(t, b, h, LoopConfig{TCP: testTCPConfig(), MaxConns: 3})
	tap := &recordTap{serverMAC: b.Server.MAC}
	// Snapshots and tap changes on the loop's thread, between batches, so
	// the tap's counts and the loop's compare exactly.
	onLoop := func(fn func(l *Loop)) {
		l := g.Loops()[0]
		done := make(chan struct{})
		if err := l.Post(func() { fn(l); close(done) }); err != nil {
			t.Fatal(err)
		}
		<-done
	}
	var l0, l1 Stats
	onLoop(func(l *Loop) { l0 = l.snapshot(true); g.SetTap(tap) })
	var conns []*net.TCPConn
	for range 3 {
		c, err := peerDial(b, ap)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	var err4 error
	b.Peer.Do(func() error {
		var c net.Conn
		c, err4 = (&net.Dialer{Timeout: 1500 * time.Millisecond}).Dial("tcp", ap.String())
		if err4 == nil {
			c.Close()
		}
		return nil
	})
	var ne net.Error
	if err4 == nil || !errors.As(err4, &ne) || !ne.Timeout() {
		t.Fatalf("fourth connection at MaxConns 3: %v, want a timeout (SYN dropped)", err4)
	}
	for _, c := range conns {
		c.Write([]byte("ping"))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("open connection at the limit: %q %v", buf, err)
		}
	}
	if _, err := g.Dial(context.Background(), netip.AddrPortFrom(b.Peer.IPv4, 9), DialOptions{}); !errors.Is(err, ErrConnLimit) {
		t.Errorf("Dial at the limit: %v, want ErrConnLimit", err)
	}
	conns[0].Close()
	testbed.WaitFor(t, "a slot to free", func() bool {
		gs, err := g.Stats()
		return err == nil && gs.Loops[0].Conns < 3
	})
	c, err := peerDial(b, ap)
	if err != nil {
		t.Fatalf("dial after a slot freed: %v", err)
	}
	c.Close()
	var in, out uint64
	onLoop(func(l *Loop) { l1 = l.snapshot(true); in, out = tap.in.Load(), tap.out.Load(); g.SetTap(nil) })
	l := l1
	t.Logf("limit drops %d; tap in %d out %d bad %d; loop rx %d tx %d", l.LimitDrops, tap.in.Load(), tap.out.Load(), tap.bad.Load(), l.RxFrames-l0.RxFrames, l.TxFrames-l0.TxFrames)
	if l.LimitDrops == 0 {
		t.Error("no LimitDrops counted")
	}
	if tap.bad.Load() != 0 || in != l.RxFrames-l0.RxFrames || out != l.TxFrames-l0.TxFrames || in == 0 || out == 0 {
		t.Errorf("tap saw %d in, %d out (%d bad); loop received %d, sent %d", in, out, tap.bad.Load(), l.RxFrames-l0.RxFrames, l.TxFrames-l0.TxFrames)
	}
	in = tap.in.Load()
	conns[1].Write([]byte("ping"))
	io.ReadFull(conns[1], make([]byte, 4))
	if tap.in.Load() != in {
		t.Error("the tap saw frames after SetTap(nil)")
	}
}
