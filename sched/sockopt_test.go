package sched

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/testbed"
)

// refHandler hands each opened connection's Ref to the test.
type refHandler struct{ refs chan ConnRef }

func (h *refHandler) OnOpen(c *Conn)            { h.refs <- c.Ref() }
func (*refHandler) OnData(c *Conn, data []byte) {}
func (*refHandler) OnEOF(c *Conn)               { c.Close() }
func (*refHandler) OnClose(c *Conn, err error)  {}

// TestConnOptions: on a connection of a loop configured with Nagle on,
// SetNoDelay(true) sends the small segment Nagle held (RFC 9293 §3.7.4)
// and lets later small writes go at once; SetKeepAlive arms the keepalive
// timer at the configured idle time and SetKeepAlive(false) disarms it
// (the TCB's Deadline, read on the loop); SetKeepAlivePeriod makes the
// loop probe an idle connection, which the Linux peer answers, so it
// stays ESTABLISHED; Writev sends its buffers in order.
func TestConnOptions(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	h := &refHandler{refs: make(chan ConnRef, 1)}
	cfg := testTCPConfig()
	cfg.NoDelay = false
	g, ap := startShutServer(t, b, h, LoopConfig{TCP: cfg})
	peer, err := peerDial(b, ap)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	ref := <-h.refs
	l := g.Loops()[0]
	onConn := func(fn func(c *Conn)) {
		t.Helper()
		done := make(chan struct{})
		if err := l.Post(func() {
			defer close(done)
			c := l.Conn(ref)
			if c == nil {
				t.Error("connection gone")
				return
			}
			fn(c)
		}); err != nil {
			t.Fatal(err)
		}
		<-done
	}

	var nagle, after, nodelay uint64
	onConn(func(c *Conn) {
		// Each Write is pushed as a callback's end would push it, so the
		// writes are separate sends (one callback's writes go together).
		n0 := l.st.TxSegments
		c.Write([]byte("a"))
		l.push(c)
		c.Write([]byte("b"))
		l.push(c)
		nagle = l.st.TxSegments - n0
		if err := c.SetNoDelay(true); err != nil {
			t.Error(err)
		}
		after = l.st.TxSegments - n0
		c.Write([]byte("c"))
		l.push(c)
		c.Write([]byte("d"))
		l.push(c)
		nodelay = l.st.TxSegments - n0 - after
	})
	if nagle != 1 || after != 2 || nodelay != 2 {
		t.Errorf("segments: %d for two small writes under Nagle (want 1), %d after SetNoDelay (want 2), %d for two more (want 2)", nagle, after, nodelay)
	}
	readExactly(t, peer, "abcd")

	testbed.WaitFor(t, "the peer's ACK", func() bool {
		var idle bool
		onConn(func(c *Conn) { v := c.TCB().Vars(); idle = v.SndUna == v.SndMax && c.TCB().Deadline() == tcp.Never })
		return idle
	})
	onConn(func(c *Conn) {
		if err := c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: time.Hour, Interval: time.Minute, Count: 3}); err != nil {
			t.Fatal(err)
		}
		if d := c.TCB().Deadline(); d != l.now.Add(time.Hour) {
			t.Errorf("keepalive on: Deadline in %v, want the idle time, 1h", d.Sub(l.now))
		}
		if err := c.SetKeepAlive(false); err != nil {
			t.Fatal(err)
		}
		if d := c.TCB().Deadline(); d != tcp.Never {
			t.Errorf("keepalive off: Deadline in %v, want none", d.Sub(l.now))
		}
	})

	var tx0 uint64
	onConn(func(c *Conn) {
		tx0 = l.st.TxSegments
		if err := c.SetKeepAlivePeriod(50 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
	})
	testbed.WaitFor(t, "three keepalive probes", func() bool {
		var n uint64
		onConn(func(c *Conn) { n = l.st.TxSegments - tx0 })
		return n >= 3
	})
	onConn(func(c *Conn) {
		if st := c.State(); st != tcp.Established {
			t.Errorf("state %v after answered keepalives", st)
		}
		c.SetKeepAlive(false)
		if _, err := c.Writev([][]byte{[]byte("x"), nil, []byte("yz")}); err != nil {
			t.Error(err)
		}
	})
	readExactly(t, peer, "xyz")
}

func readExactly(t *testing.T, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != want {
		t.Fatalf("peer read %q (%v), want %q", buf, err, want)
	}
}
