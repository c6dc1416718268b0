package sluice

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/testbed"
)

// slowReq answers each line "req\n" with "resp\n" from a goroutine after
// a delay (a request in flight); during Shutdown it closes idle
// connections at once and busy ones after their response; a "hang\n"
// request never gets an answer.
type slowReq struct {
	NopHandler
	delay  time.Duration
	busy   sync.Map // *Conn -> *atomic.Int32 requests in flight
	closed atomic.Int64
}

func (h *slowReq) inflight(c *Conn) *atomic.Int32 {
	v, _ := h.busy.LoadOrStore(c, new(atomic.Int32))
	return v.(*atomic.Int32)
}

func (h *slowReq) OnData(c *Conn, data []byte) Action {
	n := h.inflight(c)
	switch string(data) {
	case "hang\n":
		n.Add(1)
	case "req\n":
		n.Add(1)
		go func() {
			time.Sleep(h.delay)
			c.Write([]byte("resp\n"))
			if n.Add(-1) == 0 && c.Server().draining.Load() {
				c.Close()
			}
		}()
	}
	return None
}

func (h *slowReq) OnShutdown(c *Conn) Action {
	if h.inflight(c).Load() == 0 {
		return Close
	}
	return None
}

func (h *slowReq) OnClose(c *Conn, err error) {
	h.busy.Delete(c)
	h.closed.Add(1)
}

// refused reports whether a new connection to addr is turned away (RST
// to the SYN, or reset as its handshake completes) and never served.
func refused(t *testing.T, bed *testbed.Bed, addr string) bool {
	var c net.Conn
	err := bed.Peer.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	})
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
	}
	defer c.Close()
	// A reset is reported once: to the Write if it came first, else
	// to the Read.
	_, werr := c.Write([]byte("req\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, rerr := c.Read(make([]byte, 8))
	t.Logf("new connection during shutdown: write %v, read %v", werr, rerr)
	reset := func(err error) bool {
		return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
	}
	return reset(werr) || reset(rerr)
}

// TestShutdown: requests in flight complete, idle connections are closed
// with a FIN, new connections are refused, and Shutdown returns nil once
// all closed; the server is then closed (net.ErrClosed).
func TestShutdown(t *testing.T) {
	bed := newBed(t, 1)
	h := &slowReq{delay: 400 * time.Millisecond}
	s := startServer(t, testConfig(bed, 7200), h)
	addr := testbed.HostPort(bed.Server.IPv4, 7200)
	var busy, idle []*net.TCPConn
	for range 3 {
		busy = append(busy, bed.Peer.Dial(t, addr))
	}
	for range 2 {
		idle = append(idle, bed.Peer.Dial(t, addr))
	}
	for _, c := range busy {
		c.Write([]byte("req\n"))
	}
	testbed.WaitFor(t, "5 connections", func() bool { return s.conns.Load() == 5 })
	testbed.WaitFor(t, "requests in flight", func() bool {
		n := 0
		h.busy.Range(func(_, v any) bool { n += int(v.(*atomic.Int32).Load()); return true })
		return n == 3
	})
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	testbed.WaitFor(t, "draining", s.draining.Load)
	if !refused(t, bed, addr) {
		t.Error("a connection opened during Shutdown was served")
	}
	for i, c := range busy {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, err := io.ReadAll(c)
		if string(b) != "resp\n" || err != nil {
			t.Errorf("busy %d: read %q, %v; want the response then EOF", i, b, err)
		}
	}
	for i, c := range idle {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
			t.Errorf("idle %d: read %q, %v; want EOF", i, b, err)
		}
		c.Close()
	}
	for _, c := range busy {
		c.Close()
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	<-s.Done()
	if _, err := s.Stats(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Stats after Shutdown: %v, want net.ErrClosed", err)
	}
	if refused(t, bed, addr) == false {
		t.Error("connection accepted after Shutdown")
	}
}

// TestShutdownDeadline: a connection that does not finish by the
// deadline is reset, and Shutdown returns the context's error.
func TestShutdownDeadline(t *testing.T) {
	bed := newBed(t, 1)
	h := &slowReq{}
	s := startServer(t, testConfig(bed, 7201), h)
	c := bed.Peer.Dial(t, testbed.HostPort(bed.Server.IPv4, 7201))
	c.Write([]byte("hang\n"))
	testbed.WaitFor(t, "request", func() bool {
		n := 0
		h.busy.Range(func(_, v any) bool { n += int(v.(*atomic.Int32).Load()); return true })
		return n == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want context.DeadlineExceeded", err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(c); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("peer: %v, want a reset", err)
	}
}

// TestServeContext: Serve runs until its context ends, then drains: a
// request in flight completes and Serve returns nil.
func TestServeContext(t *testing.T) {
	bed := newBed(t, 1)
	h := &slowReq{delay: 300 * time.Millisecond}
	cfg := testConfig(bed, 7202)
	var logs logSink
	cfg.Logger = logs.logger()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, cfg, h) }()
	addr := testbed.HostPort(bed.Server.IPv6, 7202)
	var c net.Conn
	testbed.WaitFor(t, "the server", func() bool {
		return bed.Peer.Do(func() (err error) {
			c, err = net.DialTimeout("tcp", addr, time.Second)
			return err
		}) == nil
	})
	defer c.Close()
	c.Write([]byte("req\n"))
	testbed.WaitFor(t, "the request", func() bool {
		n := 0
		h.busy.Range(func(_, v any) bool { n += int(v.(*atomic.Int32).Load()); return true })
		return n == 1
	})
	cancel()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if line != "resp\n" || err != nil {
		t.Fatalf("read %q, %v", line, err)
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
	for _, want := range []string{"sluice: serving", "xdp=", "bind=copy", "loops=1", "sluice: shutting down"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// TestHTTPShutdown: net/http through the Listener; Server.Shutdown lets
// requests in flight finish (FIN once each connection waits for its next
// request) and returns once net/http closed every connection.
func TestHTTPShutdown(t *testing.T) {
	bed := newBed(t, 1)
	s, _, _ := httpServer(t, bed, 8082)
	cl := bed.Peer.HTTPClient(4)
	host := testbed.HostPort(bed.Server.IPv4, 8082)
	// One idle keep-alive connection, then three slow requests.
	if err := httpOne(cl, nil, host, 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := cl.Get("http://" + host + "/slow")
			if err != nil {
				errs <- err
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "done" || err != nil {
				errs <- errors.New("slow: " + string(b))
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // the requests reach the handler
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_ = http.StatusOK
}

// TestClosed: after Close every operation fails with an error matching
// net.ErrClosed, and open connections got OnClose with ErrServerClosed
// (the peer a reset).
func TestClosed(t *testing.T) {
	bed := newBed(t, 1)
	h := &echo{}
	s := startServer(t, testConfig(bed, 7203), h)
	pc := bed.Peer.Dial(t, testbed.HostPort(bed.Server.IPv4, 7203))
	roundTrip(t, pc, []byte("x"))
	var conn *Conn
	testbed.WaitFor(t, "OnOpen", func() bool { return h.opened.Load() == 1 })
	// The Conn itself, read on its loop (test only).
	cs, err := s.Conns(0)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Conns: %v %v", cs, err)
	}
	s.g.Each(func(sc *sched.Conn) { conn = connOf(sc) })
	if conn == nil {
		t.Fatal("no Conn on the loops")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if r := h.closed(); len(r) != 1 || !errors.Is(r[0], ErrServerClosed) || !errors.Is(r[0], net.ErrClosed) {
		t.Fatalf("OnClose reasons %v, want ErrServerClosed", r)
	}
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(pc); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("peer after Close: %v, want a reset", err)
	}
	for name, err := range map[string]error{
		"Conn.Write": func() error { _, err := conn.Write([]byte("x")); return err }(),
		"Conn.Close": conn.Close(),
		"Conn.Abort": conn.Abort(),
		"SetNoDelay": conn.SetNoDelay(true),
		"Dial": func() error {
			_, err := s.Dial(context.Background(), "tcp", testbed.HostPort(bed.Peer.IPv4, 1))
			return err
		}(),
		"Conns":    func() error { _, err := s.Conns(0); return err }(),
		"Stats":    func() error { _, err := s.Stats(); return err }(),
		"Start":    s.Start(),
		"Shutdown": s.Shutdown(context.Background()),
	} {
		if name == "Shutdown" {
			if err != nil {
				t.Errorf("Shutdown after Close: %v, want nil (already stopped)", err)
			}
			continue
		}
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s after Close: %v, want net.ErrClosed", name, err)
		}
	}
}
