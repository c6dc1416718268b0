package sluice

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/testbed"
)

// peerEcho runs a kernel TCP echo server in the peer namespace.
func peerEcho(t *testing.T, bed *testbed.Bed, addr string) {
	t.Helper()
	l := bed.Peer.ListenTCP(t, addr)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
}

// TestDial: an active open from the server's loop to a Linux server in
// the peer namespace, as a net.Conn, over IPv4 and IPv6; a refused port.
func TestDial(t *testing.T) {
	bed := newBed(t, 1)
	s := startServer(t, testConfig(bed, 7400), NopHandler{})
	for _, a := range []string{testbed.HostPort(bed.Peer.IPv4, 9000), testbed.HostPort(bed.Peer.IPv6, 9000)} {
		peerEcho(t, bed, a)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := s.Dial(ctx, "tcp", a)
		cancel()
		if err != nil {
			t.Fatalf("Dial %s: %v", a, err)
		}
		if got := c.RemoteAddr().String(); got != a {
			t.Errorf("RemoteAddr %s, want %s", got, a)
		}
		roundTrip(t, c, pattern(200_000))
		if err := c.(*NetConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(c); len(b) != 0 || err != nil {
			t.Fatalf("after CloseWrite: %q, %v; want EOF", b, err)
		}
		c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.Dial(ctx, "tcp", testbed.HostPort(bed.Peer.IPv4, 9001))
	var oe *net.OpError
	if !errors.Is(err, ErrRefused) || !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &oe) || oe.Op != "dial" {
		t.Fatalf("Dial to a closed port: %v, want ErrRefused in a *net.OpError", err)
	}
	if _, err := s.Dial(ctx, "tcp6", testbed.HostPort(bed.Peer.IPv4, 9000)); err == nil {
		t.Fatal("tcp6 Dial to an IPv4 address succeeded")
	}
}

// TestDialHTTP: a sluice client (http.Transport dialing through
// Server.Dial) fetches from net/http served by Linux in the peer
// namespace.
func TestDialHTTP(t *testing.T) {
	bed := newBed(t, 1)
	s := startServer(t, testConfig(bed, 7401), NopHandler{})
	l := bed.Peer.ListenTCP(t, testbed.HostPort(bed.Peer.IPv4, 8000))
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(pattern(50_000))
	})}
	go hs.Serve(l)
	defer hs.Close()
	cl := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: s.Dial}}
	defer cl.CloseIdleConnections()
	for i := range 20 {
		resp, err := cl.Get("http://" + testbed.HostPort(bed.Peer.IPv4, 8000) + "/")
		if err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != string(pattern(50_000)) {
			t.Fatalf("GET %d: %d octets, %v", i, len(b), err)
		}
	}
}

// TestDialHandler: a callback connection from Dial gets OnOpen before
// DialHandler returns, then its data.
func TestDialHandler(t *testing.T) {
	bed := newBed(t, 1)
	s := startServer(t, testConfig(bed, 7402), NopHandler{})
	a := testbed.HostPort(bed.Peer.IPv6, 9002)
	peerEcho(t, bed, a)
	var opened bool
	got := make(chan string, 1)
	reason := make(chan error, 1)
	var buf []byte
	h := HandlerFuncs{
		Open: func(c *Conn) Action {
			opened = true
			c.Write([]byte("ping"))
			return None
		},
		Data: func(c *Conn, d []byte) Action {
			buf = append(buf, d...)
			if len(buf) == 4 {
				got <- string(buf)
				return Close
			}
			return None
		},
		EOF:    func(c *Conn) Action { return None },
		Closed: func(c *Conn, err error) { reason <- err },
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := s.DialHandler(ctx, "tcp", a, h)
	if err != nil {
		t.Fatal(err)
	}
	if !opened {
		t.Error("DialHandler returned before OnOpen")
	}
	if c.RemoteAddr().String() != a {
		t.Errorf("RemoteAddr %v", c.RemoteAddr())
	}
	select {
	case g := <-got:
		if g != "ping" {
			t.Fatalf("echo: %q", g)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no echo")
	}
	select {
	case err := <-reason:
		if err != nil {
			t.Fatalf("OnClose: %v (this side closed first)", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no OnClose")
	}
}

// TestDialSluice: a sluice client talks to a sluice server: the peer end
// of the wire runs a second server (XDP on the peer's veth), and the
// first dials it over IPv4 and IPv6.
func TestDialSluice(t *testing.T) {
	bed := newBed(t, 1)
	client := startServer(t, testConfig(bed, 7403), NopHandler{})
	pcfg := Config{
		Interface: bed.Peer.Link,
		Netns:     bed.Peer.Name,
		Listen:    []string{testbed.HostPort(bed.Peer.IPv4, 7404), testbed.HostPort(bed.Peer.IPv6, 7404)},
		Cores:     []int{-1},
		MSL:       250 * time.Millisecond,
		BusyPoll:  -1,
	}
	startServer(t, pcfg, &echo{})
	for _, a := range pcfg.Listen {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := client.Dial(ctx, "tcp", a)
		cancel()
		if err != nil {
			t.Fatalf("Dial %s: %v", a, err)
		}
		roundTrip(t, c, pattern(100_000))
		c.Close()
	}
}

// TestDialer: a client-only server started on first use, on the
// interface the route picks; it fetches from net/http in the peer
// namespace through http.Transport.
func TestDialer(t *testing.T) {
	bed := newBed(t, 1)
	peerEcho(t, bed, testbed.HostPort(bed.Peer.IPv6, 9003))
	d := &Dialer{Config: Config{Netns: bed.Server.Name, Cores: []int{-1}, BusyPoll: -1}}
	defer d.Close()
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := d.DialContext(ctx, "tcp6", testbed.HostPort(bed.Peer.IPv6, 9003))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c, pattern(10_000))
		c.Close()
	}
	if i := d.Server().Info(); i.Interface != bed.Server.Link || len(i.Listen) != 0 {
		t.Fatalf("Info: %+v", i)
	}
}

// loopDialRec records what a DialHandler called from a callback returned
// and every callback its connection got: it writes "ping" on open and
// closes once the echo is back.
type loopDialRec struct {
	target string
	cancel context.CancelFunc
	ret    *Conn
	state  tcp.State // the returned Conn's, in the callback that dialed
	err    error
	took   time.Duration // the loop's time in DialHandler

	mu      sync.Mutex
	opened  int
	echoed  bool
	closes  []error
	onClose chan struct{}
	got     []byte
}

func (r *loopDialRec) handler() Handler {
	return HandlerFuncs{
		Open: func(c *Conn) Action {
			r.mu.Lock()
			r.opened++
			r.mu.Unlock()
			c.Write([]byte("ping"))
			return None
		},
		Data: func(c *Conn, d []byte) Action {
			r.got = append(r.got, d...)
			if string(r.got) == "ping" {
				r.mu.Lock()
				r.echoed = true
				r.mu.Unlock()
				return Close
			}
			return None
		},
		Closed: func(c *Conn, err error) {
			r.mu.Lock()
			r.closes = append(r.closes, err)
			r.mu.Unlock()
			close(r.onClose) // a second OnClose panics the test
		},
	}
}

// TestDialHandlerFromCallback: DialHandler called in OnData of an
// accepted connection returns at once with the Conn in SYN-SENT on the
// same loop, and reports the outcome through the handler exactly once:
// established (IPv4, IPv6), refused (the Linux peer's RST), timed out
// (a silent address, ctx's deadline), and dropped by Shutdown while
// pending. Dial, which would wait, refuses to run there. No goroutine is
// left behind.
func TestDialHandlerFromCallback(t *testing.T) {
	bed := newBed(t, 1)
	silent := netip.MustParseAddr("198.18.0.77")
	if err := bed.Server.Do(func() error {
		return netlink.NeighSet(&netlink.Neigh{LinkIndex: bed.Server.Ifindex, IP: silent.AsSlice(), HardwareAddr: bed.Peer.MAC, State: netlink.NUD_PERMANENT})
	}); err != nil {
		t.Fatal(err)
	}
	echo4, echo6 := testbed.HostPort(bed.Peer.IPv4, 9100), testbed.HostPort(bed.Peer.IPv6, 9100)
	peerEcho(t, bed, echo4)
	peerEcho(t, bed, echo6)
	base := runtime.NumGoroutine()

	recs := make(chan *loopDialRec, 8)
	srv := HandlerFuncs{
		// The client sends "target[ timeout]"; the dial starts here, on
		// the loop.
		Data: func(c *Conn, d []byte) Action {
			target, ms, _ := strings.Cut(strings.TrimSpace(string(d)), " ")
			r := &loopDialRec{target: target, onClose: make(chan struct{})}
			ctx := context.Background()
			if ms != "" {
				n, _ := strconv.Atoi(ms)
				ctx, r.cancel = context.WithTimeout(ctx, time.Duration(n)*time.Millisecond)
			}
			if nc, err := c.Server().Dial(ctx, "tcp", target); err == nil {
				nc.Close()
				t.Errorf("Dial (a net.Conn, which waits) from a callback to %s succeeded", target)
			}
			start := time.Now()
			r.ret, r.err = c.Server().DialHandler(ctx, "tcp", target, r.handler())
			r.took = time.Since(start)
			if r.ret != nil {
				r.state = r.ret.sc.State()
				if r.ret.loop != c.loop {
					t.Errorf("dial to %s on another loop", target)
				}
			}
			recs <- r
			return None
		},
		EOF: func(c *Conn) Action { return Close },
	}
	cfg := testConfig(bed, 7405)
	var logs logSink
	cfg.Logger = logs.logger()
	s := startServer(t, cfg, srv)
	listen := testbed.HostPort(bed.Server.IPv4, 7405)
	dial := func(line string) *loopDialRec {
		t.Helper()
		cl := bed.Peer.Dial(t, listen)
		defer cl.Close()
		if _, err := io.WriteString(cl, line); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-recs:
			return r
		case <-time.After(20 * time.Second):
			t.Fatalf("%q: no dial", line)
		}
		return nil
	}
	cases := []struct {
		line   string
		opened int
		want   error
	}{
		{echo4, 1, nil},
		{echo6, 1, nil},
		{testbed.HostPort(bed.Peer.IPv4, 9101), 0, ErrRefused},
		{netip.AddrPortFrom(silent, 80).String() + " 300", 0, ErrTimeout},
	}
	var done []*loopDialRec
	for _, tc := range cases {
		r := dial(tc.line)
		if r.err != nil || r.state != tcp.SynSent {
			t.Fatalf("%q: DialHandler returned in %v, %v; want SYN-SENT", tc.line, r.state, r.err)
		}
		t.Logf("%q: DialHandler held the loop %v", tc.line, r.took)
		select {
		case <-r.onClose:
		case <-time.After(20 * time.Second):
			t.Fatalf("%q: no OnClose", tc.line)
		}
		if r.cancel != nil {
			r.cancel()
		}
		done = append(done, r)
	}
	// Pending at Shutdown: no ShutdownHandler, so Shutdown's close drops
	// the handshake, and Shutdown waits for its OnClose.
	pending := dial(netip.AddrPortFrom(silent, 81).String())
	cases = append(cases, struct {
		line   string
		opened int
		want   error
	}{pending.target, 0, ErrAborted})
	done = append(done, pending)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	// The loops have stopped: every callback that will come has come.
	for i, r := range done {
		tc := cases[i]
		r.mu.Lock()
		if r.opened != tc.opened || len(r.closes) != 1 || !errors.Is(r.closes[0], tc.want) || r.echoed != (tc.opened == 1) {
			t.Errorf("%q: %d OnOpen, OnClose %v, echoed %v; want %d OnOpen, one OnClose(%v)", tc.line, r.opened, r.closes, r.echoed, tc.opened, tc.want)
		}
		r.mu.Unlock()
	}
	testbed.WaitFor(t, "the server's goroutines to end", func() bool { return runtime.NumGoroutine() <= base })
	// veth has no RSS: the fallback is said once.
	if n := strings.Count(logs.String(), "no RSS configuration on "+bed.Server.Link); n != 1 {
		t.Errorf("the RSS fallback logged %d times, want once:\n%s", n, logs.String())
	}
}

// TestDialHandlerPortOptions: LocalPort dials from the port given;
// PortFilter's ports are the only ones chosen (from a goroutine, so
// DialHandler waits for OnOpen).
func TestDialHandlerPortOptions(t *testing.T) {
	bed := newBed(t, 1)
	s := startServer(t, testConfig(bed, 7406), NopHandler{})
	a := testbed.HostPort(bed.Peer.IPv4, 9102)
	peerEcho(t, bed, a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		opt  DialOption
		want func(uint16) bool
	}{
		{LocalPort(45123), func(p uint16) bool { return p == 45123 }},
		{PortFilter(func(p uint16) bool { return p%97 == 0 }), func(p uint16) bool { return p%97 == 0 }},
		{AnyQueue(), func(p uint16) bool { return p != 0 }},
	} {
		c, err := s.DialHandler(ctx, "tcp", a, NopHandler{}, tc.opt)
		if err != nil {
			t.Fatal(err)
		}
		if p := c.LocalAddr().Port(); !tc.want(p) {
			t.Errorf("dialed from port %d", p)
		}
		c.Abort()
	}
}
