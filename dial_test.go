package sluice

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// peerEcho runs a kernel TCP echo server in the peer namespace.
func peerEcho(t *testing.T, bed *testbed.Bed, addr string) {
	t.Helper()
	var l net.Listener
	if err := bed.Peer.Do(func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
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
	var l net.Listener
	if err := bed.Peer.Do(func() (err error) {
		l, err = net.Listen("tcp", testbed.HostPort(bed.Peer.IPv4, 8000))
		return err
	}); err != nil {
		t.Fatal(err)
	}
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
