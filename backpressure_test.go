package sluice

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// source sends total octets of pattern on open, as fast as Write takes
// them: until ErrWriteQueueFull, then again from OnWritable.
type source struct {
	NopHandler
	total            int
	sent             int
	fulls, writables atomic.Int64
}

func (h *source) pump(c *Conn) Action {
	p := pattern(h.total)
	for h.sent < h.total {
		n := min(32<<10, h.total-h.sent)
		_, err := c.Write(p[h.sent : h.sent+n])
		if errors.Is(err, ErrWriteQueueFull) {
			h.fulls.Add(1)
			if c.Buffered() == 0 {
				panic("queue full with nothing buffered")
			}
			return None
		}
		if err != nil {
			return Close
		}
		h.sent += n
	}
	return Close
}

func (h *source) OnOpen(c *Conn) Action { return h.pump(c) }

func (h *source) OnWritable(c *Conn) Action {
	h.writables.Add(1)
	return h.pump(c)
}

// TestBackpressure: writing faster than the peer takes fills the send
// buffer and the write queue; Write reports ErrWriteQueueFull (EAGAIN) instead of
// buffering without bound, OnWritable says when to go on, and every octet
// arrives in order.
func TestBackpressure(t *testing.T) {
	bed := newBed(t, 1)
	h := &source{total: 2 << 20}
	cfg := testConfig(bed, 7500)
	cfg.WriteQueueLimit = 64 << 10
	s := startServer(t, cfg, h)
	c := bed.Peer.Dial(t, testbed.HostPort(bed.Server.IPv4, 7500))
	// OnOpen fills the send buffer and the queue before the loop handles
	// a single ACK, so the first ErrWriteQueueFull is certain.
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		cs, _ := s.Conns(0)
		st, _ := s.Stats()
		t.Logf("stalled: conns %+v; loop: %+v", cs, st.Loops[0])
		out, _ := bed.Peer.Exec(context.Background(), "ss", "-tinm")
		t.Logf("peer: %s", out)
	}
	if err != nil || len(got) != h.total || string(got) != string(pattern(h.total)) {
		t.Fatalf("read %d of %d octets (%v), or they differ", len(got), h.total, err)
	}
	if h.fulls.Load() == 0 || h.writables.Load() == 0 {
		t.Fatalf("ErrWriteQueueFull %d times, OnWritable %d times; want both", h.fulls.Load(), h.writables.Load())
	}
	if !errors.Is(ErrWriteQueueFull, syscall.EAGAIN) {
		t.Error("ErrWriteQueueFull does not match EAGAIN")
	}
	t.Logf("queue full %d times, OnWritable %d times", h.fulls.Load(), h.writables.Load())
}

// TestBackpressureMemoryLimit: at a memory budget so small that the
// server is under pressure once a connection holds a chunk, the send
// buffer takes only what the chunks it holds can store, so Write keeps
// returning len(p) and the rest waits in the write queue (Buffered),
// outside the budget; past WriteQueueLimit Write returns
// ErrWriteQueueFull, OnWritable follows as the peer acknowledges text
// and chunks come free, and every octet arrives in order. The budget is
// passed by no more than the chunk each way a connection holding none
// is always granted.
func TestBackpressureMemoryLimit(t *testing.T) {
	bed := newBed(t, 1)
	h := &source{total: 1 << 20}
	cfg := testConfig(bed, 7510)
	cfg.MemoryLimit = 64 << 10
	cfg.WriteQueueLimit = 64 << 10
	s := startServer(t, cfg, h)
	c := bed.Peer.Dial(t, testbed.HostPort(bed.Server.IPv4, 7510))
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != string(pattern(h.total)) {
		t.Fatalf("read %d of %d octets (%v), or they differ", len(got), h.total, err)
	}
	if h.fulls.Load() == 0 || h.writables.Load() == 0 {
		t.Fatalf("ErrWriteQueueFull %d times, OnWritable %d times; want both", h.fulls.Load(), h.writables.Load())
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	m := st.Memory()
	t.Logf("queue full %d times, OnWritable %d times; memory %+v", h.fulls.Load(), h.writables.Load(), m)
	if !m.UnderPressure || m.PressureEntered == 0 || m.ChunksRefused == 0 {
		t.Fatalf("never under memory pressure, or no chunk refused: %+v", m)
	}
	if bound := m.Limit + 2*4096; m.Peak > bound {
		t.Errorf("budget peak %d above the limit %d plus a chunk each way", m.Peak, m.Limit)
	}
}

// TestActionShutdown: a callback returning Shutdown stops Serve, which
// returns nil once the connections closed in order.
func TestActionShutdown(t *testing.T) {
	bed := newBed(t, 1)
	h := HandlerFuncs{Data: func(c *Conn, d []byte) Action {
		if string(d) == "stop" {
			c.Write([]byte("ok"))
			return Shutdown
		}
		return None
	}}
	served := make(chan error, 1)
	go func() { served <- Serve(context.Background(), testConfig(bed, 7501), h) }()
	var c net.Conn
	testbed.WaitFor(t, "the server", func() bool {
		return bed.Peer.Do(func() (err error) {
			c, err = net.DialTimeout("tcp", testbed.HostPort(bed.Server.IPv4, 7501), time.Second)
			return err
		}) == nil
	})
	defer c.Close()
	c.Write([]byte("stop"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); string(b) != "ok" || err != nil {
		t.Fatalf("read %q, %v; want the reply, then the FIN", b, err)
	}
	c.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// TestMaxConns: connections beyond Config.MaxConns are not served, and
// are once others closed.
func TestMaxConns(t *testing.T) {
	bed := newBed(t, 1)
	h := &echo{}
	cfg := testConfig(bed, 7502)
	cfg.MaxConns = 2
	var logs logSink
	cfg.Logger = logs.logger()
	s := startServer(t, cfg, h)
	addr := testbed.HostPort(bed.Server.IPv4, 7502)
	a, b := bed.Peer.Dial(t, addr), bed.Peer.Dial(t, addr)
	roundTrip(t, a, []byte("a"))
	roundTrip(t, b, []byte("b"))
	// The loop drops the third SYN (as Linux at a full backlog): the
	// client's connect does not complete.
	err := bed.Peer.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err == nil {
		t.Fatal("a third connection was established")
	}
	st, _ := s.Stats()
	if len(st.Loops) != 1 || st.Loops[0].LimitDrops == 0 {
		t.Errorf("no SYN counted as dropped at the limit: %v", err)
	}
	// The drop is said in the log, with what to change (within one
	// dropCheckEvery).
	testbed.WaitFor(t, "the connection limit warning", func() bool {
		return strings.Contains(logs.String(), "dropping: connection limit") && strings.Contains(logs.String(), "raise it")
	})
	a.Close()
	testbed.WaitFor(t, "a to close", func() bool { return s.conns.Load() == 1 })
	c := bed.Peer.Dial(t, addr)
	roundTrip(t, c, []byte("c"))
}
