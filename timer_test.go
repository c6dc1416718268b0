package sluice

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// idleCloser echoes lines and closes a connection that has been idle
// for d: SetTimeout in OnOpen, again on every OnData. With custom set it
// answers the timeout itself ("timeout\n", then Close); else it relies
// on the default (a Handler without OnTimeout has the connection
// closed).
type idleCloser struct {
	NopHandler
	d        time.Duration
	timeouts atomic.Int64
	lateSet  atomic.Int64 // SetTimeout calls from OnClose that did not fail
	mu       sync.Mutex
	reasons  []error
}

func (h *idleCloser) OnOpen(c *Conn) Action {
	if err := c.SetTimeout(h.d); err != nil {
		panic(err)
	}
	return None
}

func (h *idleCloser) OnData(c *Conn, data []byte) Action {
	c.SetTimeout(h.d)
	c.Write(data)
	return None
}

func (h *idleCloser) OnClose(c *Conn, err error) {
	h.mu.Lock()
	h.reasons = append(h.reasons, err)
	h.mu.Unlock()
	if c.SetTimeout(time.Second) == nil {
		h.lateSet.Add(1)
	}
}

func (h *idleCloser) closes() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lateSet.Load() != 0 {
		return -1 // a test failure: SetTimeout worked after OnClose
	}
	return len(h.reasons)
}

// customTimeout answers its own timeouts.
type customTimeout struct{ idleCloser }

func (h *customTimeout) OnTimeout(c *Conn) Action {
	h.timeouts.Add(1)
	c.Write([]byte("timeout\n"))
	return Close
}

// TestTimeoutSystem: through the public API against a Linux peer, a
// connection whose handler set a timeout and then hears nothing is
// closed by it, and one kept busy by data (each OnData re-arms) is not,
// until it falls silent too.
func TestTimeoutSystem(t *testing.T) {
	const timeout = 800 * time.Millisecond
	for _, tc := range []struct {
		name string
		h    interface {
			Handler
			closes() int
		}
		said string // what the server writes at the timeout
	}{
		{"default close", &idleCloser{d: timeout}, ""},
		{"OnTimeout", &customTimeout{idleCloser{d: timeout}}, "timeout\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bed := newBed(t, 1)
			startServer(t, testConfig(bed, 7400), tc.h)
			addr := testbed.HostPort(bed.Server.IPv4, 7400)
			idle := bed.Peer.Dial(t, addr)
			busy := bed.Peer.Dial(t, addr)
			// busy: a line every 100 ms for 3 timeouts' worth, each
			// echoed, so the server re-arms well before every expiry.
			br := bufio.NewReader(busy)
			busy.SetDeadline(time.Now().Add(20 * time.Second))
			rounds := int(3 * timeout / (100 * time.Millisecond))
			for i := range rounds {
				if _, err := busy.Write([]byte("ping\n")); err != nil {
					t.Fatalf("busy round %d: write: %v", i, err)
				}
				line, err := br.ReadString('\n')
				if err != nil || line != "ping\n" {
					t.Fatalf("busy round %d: read %q, %v (closed while data kept coming?)", i, line, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			// idle said nothing all along: the server closed it.
			idle.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(idle)
			if err != nil {
				t.Fatalf("idle: read: %v (want the server's FIN)", err)
			}
			if string(got) != tc.said {
				t.Fatalf("idle: read %q before EOF, want %q", got, tc.said)
			}
			// busy, silent now, goes the same way.
			got, err = io.ReadAll(br)
			if err != nil || string(got) != tc.said {
				t.Fatalf("busy after falling silent: read %q, %v; want %q then EOF", got, err, tc.said)
			}
			idle.Close()
			busy.Close()
			testbed.WaitFor(t, "both OnClose", func() bool { return tc.h.closes() != 1 && tc.h.closes() != 0 })
			if n := tc.h.closes(); n != 2 {
				t.Fatalf("closes() = %d, want 2 (-1: SetTimeout succeeded after OnClose)", n)
			}
			if c, ok := tc.h.(*customTimeout); ok && c.timeouts.Load() != 2 {
				t.Errorf("OnTimeout ran %d times, want 2", c.timeouts.Load())
			}
		})
	}
}

// stopper stops its timer from another goroutine once the peer's first
// line arrives, and arms it from there after the second.
type stopper struct {
	idleCloser
	lines atomic.Int64
}

func (h *stopper) OnOpen(c *Conn) Action {
	c.SetTimeout(2 * time.Second) // stopped long before it is due
	return None
}

func (h *stopper) OnData(c *Conn, data []byte) Action {
	c.Write(data)
	n := h.lines.Add(1)
	go func() {
		d := time.Duration(0) // stop
		if n > 1 {
			d = h.d
		}
		if err := c.SetTimeout(d); err != nil && !errors.Is(err, net.ErrClosed) {
			panic(err)
		}
	}()
	return None
}

// TestTimeoutFromGoroutine: SetTimeout posted from another goroutine
// stops the timer set in OnOpen (the connection outlives it) and arms it
// again (the connection is then closed).
func TestTimeoutFromGoroutine(t *testing.T) {
	const timeout = 300 * time.Millisecond
	bed := newBed(t, 1)
	h := &stopper{idleCloser: idleCloser{d: timeout}}
	startServer(t, testConfig(bed, 7401), h)
	pc := bed.Peer.Dial(t, testbed.HostPort(bed.Server.IPv4, 7401))
	br := bufio.NewReader(pc)
	pc.SetDeadline(time.Now().Add(20 * time.Second))
	pc.Write([]byte("stop\n"))
	if line, err := br.ReadString('\n'); err != nil || line != "stop\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	time.Sleep(3 * time.Second) // past the stopped timer's instant
	pc.Write([]byte("arm\n"))
	if line, err := br.ReadString('\n'); err != nil || line != "arm\n" {
		t.Fatalf("after the stopped timer's instant: read %q, %v", line, err)
	}
	if got, err := io.ReadAll(br); err != nil || len(got) != 0 {
		t.Fatalf("after re-arming: read %q, %v; want EOF", got, err)
	}
}

// ticker counts ticks per loop and ends them after five.
type ticker struct {
	NopHandler
	mu    sync.Mutex
	ticks map[int]int
}

func (h *ticker) OnTick(loop int) (time.Duration, Action) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ticks[loop]++
	if h.ticks[loop] == 5 {
		return 0, None
	}
	return 10 * time.Millisecond, None
}

func (h *ticker) count() map[int]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[int]int{}
	for k, v := range h.ticks {
		m[k] = v
	}
	return m
}

// TestTick: every loop ticks, and stops when OnTick returns 0.
func TestTick(t *testing.T) {
	bed := newBed(t, 2)
	h := &ticker{ticks: map[int]int{}}
	s := startServer(t, testConfig(bed, 7402), h)
	loops := s.Info().Loops
	testbed.WaitFor(t, "five ticks on every loop", func() bool {
		m := h.count()
		for i := range loops {
			if m[i] < 5 {
				return false
			}
		}
		return true
	})
	time.Sleep(100 * time.Millisecond)
	for i, n := range h.count() {
		if i < 0 || i >= loops || n != 5 {
			t.Errorf("loop %d ticked %d times, want 5 then none", i, n)
		}
	}
}

// idleTimeout closes connections that stay silent for 30 s (no
// OnTimeout: the connection is closed at expiry).
type idleTimeout struct{ NopHandler }

func (idleTimeout) OnOpen(c *Conn) Action {
	c.SetTimeout(30 * time.Second)
	return None
}

func (idleTimeout) OnData(c *Conn, data []byte) Action {
	c.SetTimeout(30 * time.Second) // pushed back: a field store
	c.Write(data)
	return None
}

// An echo server whose connections close after 30 s without data.
func ExampleConn_SetTimeout() {
	ctx := context.Background()
	err := Serve(ctx, Config{Interface: "eth0", Listen: []string{":7"}}, idleTimeout{})
	_ = err
}
