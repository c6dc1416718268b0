package sluice

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// echo writes back what it reads, from the callback; with async set, from
// a goroutine per connection (Conn.Write posted to the loop).
type echo struct {
	NopHandler
	async   bool
	opened  atomic.Int64
	mu      sync.Mutex
	reasons []error
}

func (h *echo) OnOpen(c *Conn) Action {
	h.opened.Add(1)
	if h.async {
		ch := make(chan []byte, 1024)
		c.SetContext(ch)
		go func() {
			for b := range ch {
				if _, err := c.Write(b); err != nil {
					return
				}
			}
		}()
	}
	return None
}

func (h *echo) OnData(c *Conn, data []byte) Action {
	if h.async {
		c.Context().(chan []byte) <- append([]byte(nil), data...)
		return None
	}
	if _, err := c.Write(data); err != nil {
		return Close
	}
	return None
}

func (h *echo) OnClose(c *Conn, err error) {
	if h.async {
		close(c.Context().(chan []byte))
	}
	h.mu.Lock()
	h.reasons = append(h.reasons, err)
	h.mu.Unlock()
}

func (h *echo) closed() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.reasons...)
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// roundTrip writes want, reads as much back, and compares.
func roundTrip(t *testing.T, c net.Conn, want []byte) {
	t.Helper()
	if err := echoed(c, want); err != nil {
		t.Fatal(err)
	}
}

func echoed(c net.Conn, want []byte) error {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(want)
		werr <- err
	}()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read back %d octets: %w", len(want), err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%d octets came back different", len(want))
	}
	return nil
}

// TestEcho: the callback API echoes over IPv4 and IPv6 to the Linux peer,
// from the callback and from another goroutine; the client closing first
// gives OnClose ErrPeerClosed (also io.EOF).
func TestEcho(t *testing.T) {
	for _, async := range []bool{false, true} {
		name := "callback"
		if async {
			name = "goroutine"
		}
		t.Run(name, func(t *testing.T) {
			bed := newBed(t, 1)
			h := &echo{async: async}
			s := startServer(t, testConfig(bed, 7000), h)
			if i := s.Info(); i.Bind != "copy" || (i.XDPMode != "driver" && i.XDPMode != "generic") ||
				i.Loops != 1 || i.Queues != 1 || i.Driver != "veth" || i.MTU != 1500 || i.MSS != 1460 || len(i.Listen) != 2 {
				t.Errorf("Info: %+v", i)
			}
			for i, a := range []string{testbed.HostPort(bed.Server.IPv4, 7000), testbed.HostPort(bed.Server.IPv6, 7000)} {
				c := bed.Peer.Dial(t, a)
				roundTrip(t, c, pattern(300_000+i))
				if err := c.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				// NopHandler.OnEOF closes: the client sees EOF.
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
					t.Fatalf("%s: after CloseWrite read %d, %v; want EOF", a, n, err)
				}
				c.Close()
				testbed.WaitFor(t, "OnClose", func() bool { return len(h.closed()) == i+1 })
				r := h.closed()[i]
				if !errors.Is(r, ErrPeerClosed) || !errors.Is(r, io.EOF) {
					t.Fatalf("%s: OnClose reason %v, want ErrPeerClosed (io.EOF)", a, r)
				}
			}
		})
	}
}

// TestEchoTuned: the sender and socket knobs pass through to a running
// server: paced CUBIC and socket busy polling echo 1 MB intact over both
// families.
func TestEchoTuned(t *testing.T) {
	bed := newBed(t, 1)
	cfg := testConfig(bed, 7000)
	cfg.Pacing, cfg.SocketBusyPoll = true, 50*time.Microsecond
	startServer(t, cfg, &echo{})
	for i, a := range []string{testbed.HostPort(bed.Server.IPv4, 7000), testbed.HostPort(bed.Server.IPv6, 7000)} {
		c := bed.Peer.Dial(t, a)
		roundTrip(t, c, pattern(1_000_000+i))
		c.Close()
	}
}

// TestCloseReasons: a reset from the peer reaches OnClose as ErrReset
// (and ECONNRESET); this side closing first gives nil; Abort gives
// ErrAborted (ECONNABORTED) and the peer a reset.
func TestCloseReasons(t *testing.T) {
	bed := newBed(t, 1)
	var mu sync.Mutex
	var got []error
	h := HandlerFuncs{
		Data: func(c *Conn, d []byte) Action {
			switch d[0] {
			case 'c':
				c.Write([]byte("bye"))
				return Close
			case 'a':
				c.Abort()
			}
			return None
		},
		Closed: func(c *Conn, err error) {
			mu.Lock()
			got = append(got, err)
			mu.Unlock()
		},
	}
	startServer(t, testConfig(bed, 7001), h)
	last := func(n int) error {
		testbed.WaitFor(t, "OnClose", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == n })
		mu.Lock()
		defer mu.Unlock()
		return got[n-1]
	}
	addr := testbed.HostPort(bed.Server.IPv4, 7001)

	c := bed.Peer.Dial(t, addr)
	c.Write([]byte("x"))
	c.SetLinger(0)
	c.Close()
	if r := last(1); !errors.Is(r, ErrReset) || !errors.Is(r, syscall.ECONNRESET) {
		t.Errorf("peer reset: OnClose reason %v, want ErrReset", r)
	}

	c = bed.Peer.Dial(t, addr)
	c.Write([]byte("c"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); string(b) != "bye" || err != nil {
		t.Errorf("server close: read %q, %v", b, err)
	}
	c.Close()
	if r := last(2); r != nil {
		t.Errorf("server closed first: OnClose reason %v, want nil", r)
	}

	c = bed.Peer.Dial(t, addr)
	c.Write([]byte("a"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("abort: peer read %v, want ECONNRESET", err)
	}
	if r := last(3); !errors.Is(r, ErrAborted) || !errors.Is(r, syscall.ECONNABORTED) {
		t.Errorf("abort: OnClose reason %v, want ErrAborted", r)
	}
}

// TestEchoQueues: two queues, two loops; connections spread over both and
// every one echoes (IPv4 and IPv6 alternating); Stats sees both loops.
func TestEchoQueues(t *testing.T) {
	bed := newBed(t, 2)
	h := &echo{}
	cfg := testConfig(bed, 7003)
	cfg.Loops = 0 // one per queue
	s := startServer(t, cfg, h)
	if s.Info().Loops != 2 {
		t.Fatalf("Loops %d, want one per queue (2)", s.Info().Loops)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		a := testbed.HostPort(bed.Server.IPv4, 7003)
		if i%2 == 1 {
			a = testbed.HostPort(bed.Server.IPv6, 7003)
		}
		c := bed.Peer.Dial(t, a)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := echoed(c, pattern(20_000+i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	cs, err := s.Conns(0)
	if err != nil || len(cs) != 16 {
		t.Fatalf("Conns: %d, %v; want 16", len(cs), err)
	}
	for _, ci := range cs {
		if ci.State != "ESTABLISHED" || ci.Local.Port() != 7003 || ci.RTO <= 0 || ci.SRTT <= 0 {
			t.Errorf("Conns: %+v", ci)
		}
	}
	if cs, _ := s.Conns(3); len(cs) != 3 {
		t.Errorf("Conns(3) gave %d", len(cs))
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Loops) != 2 || st.Conns != 16 {
		t.Fatalf("Stats: %d loops, %d conns", len(st.Loops), st.Conns)
	}
	var est uint64
	for _, l := range st.Loops {
		est += l.Established
	}
	if est != 16 {
		t.Errorf("loops established %d connections, want 16", est)
	}
}

// countTap counts the frames it sees each way.
type countTap struct{ in, out atomic.Int64 }

func (c *countTap) Frame(queue int, out bool, frame []byte) {
	if out {
		c.out.Add(1)
	} else {
		c.in.Add(1)
	}
}

// TestSetTap: a tap installed on the server sees the frames of an echo.
func TestSetTap(t *testing.T) {
	bed := newBed(t, 1)
	s := startServer(t, testConfig(bed, 7004), &echo{})
	var tap countTap
	if err := s.SetTap(&tap); err != nil {
		t.Fatal(err)
	}
	c := bed.Peer.Dial(t, testbed.HostPort(bed.Server.IPv4, 7004))
	roundTrip(t, c, []byte("tapped"))
	if tap.in.Load() < 2 || tap.out.Load() < 2 {
		t.Fatalf("tap saw %d in, %d out", tap.in.Load(), tap.out.Load())
	}
	s.Close()
	if err := s.SetTap(nil); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("SetTap after Close: %v", err)
	}
}

// TestConnOptions: Writev and the per-connection options, from the
// callback and from another goroutine (posted to the loop).
func TestConnOptions(t *testing.T) {
	bed := newBed(t, 1)
	conns := make(chan *Conn, 1)
	h := HandlerFuncs{Open: func(c *Conn) Action {
		if err := c.SetNoDelay(false); err != nil {
			t.Errorf("SetNoDelay in OnOpen: %v", err)
		}
		if err := c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: time.Minute, Interval: time.Second, Count: 3}); err != nil {
			t.Errorf("SetKeepAliveConfig in OnOpen: %v", err)
		}
		if n, err := c.Writev([]byte("hello, "), []byte("world")); n != 12 || err != nil {
			t.Errorf("Writev: %d, %v", n, err)
		}
		conns <- c
		return None
	}}
	startServer(t, testConfig(bed, 7005), h)
	pc := bed.Peer.Dial(t, testbed.HostPort(bed.Server.IPv6, 7005))
	c := <-conns
	for name, err := range map[string]error{
		"SetNoDelay":         c.SetNoDelay(true),
		"SetKeepAlive":       c.SetKeepAlive(false),
		"SetKeepAlivePeriod": c.SetKeepAlivePeriod(30 * time.Second),
	} {
		if err != nil {
			t.Errorf("%s from another goroutine: %v", name, err)
		}
	}
	if n, err := c.Writev([]byte("!"), []byte("\n")); n != 2 || err != nil {
		t.Errorf("Writev from another goroutine: %d, %v", n, err)
	}
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, 14)
	if _, err := io.ReadFull(pc, got); err != nil || string(got) != "hello, world!\n" {
		t.Fatalf("read %q, %v", got, err)
	}
}
