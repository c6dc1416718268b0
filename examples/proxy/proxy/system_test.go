package proxy

// System tests: the proxy on sluice over AF_XDP in the testbed's server
// namespace, a kernel net/http upstream in the peer namespace, and curl
// and Go's http.Client as clients in the peer namespace.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

const (
	proxyPort    = 8080
	upstreamPort = 9090
)

// patternSlab repeats the body pattern: octet i is 'a' + i%23.
var patternSlab = bytes.Repeat([]byte("abcdefghijklmnopqrstuvw"), (32<<20)/23+2)

// pattern is the n octets of the body pattern from octet off (read-only;
// n at most 32 MiB).
func pattern(off, n int) []byte {
	off %= 23
	return patternSlab[off : off+n : off+n]
}

// origin is a kernel net/http server in the peer namespace: GET
// /size/N answers N pattern octets, POST /echo answers its body; written
// counts the response octets it has handed to the kernel.
type origin struct {
	addr    netip.AddrPort
	written atomic.Int64
}

func startUpstream(t *testing.T, bed *testbed.Bed) *origin {
	t.Helper()
	u := &origin{addr: netip.AddrPortFrom(bed.Peer.IPv4, upstreamPort)}
	ln := bed.Peer.ListenTCP(t, u.addr.String())
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/echo" {
			// Read first: net/http's HTTP/1.1 is not full duplex.
			b, err := io.ReadAll(r.Body)
			if err == nil {
				w.Write(b)
			}
			return
		}
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/size/"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		for off := 0; off < n; {
			piece := pattern(off, min(n-off, 64<<10))
			if _, err := w.Write(piece); err != nil {
				return
			}
			off += len(piece)
			u.written.Store(int64(off))
		}
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return u
}

func startProxy(t *testing.T, bed *testbed.Bed, upstream string) *Server {
	t.Helper()
	s, err := New(Config{
		Sluice: sluice.Config{
			Interface: bed.Server.Link,
			Netns:     bed.Server.Name,
			Listen:    []string{netip.AddrPortFrom(bed.Server.IPv4, proxyPort).String()},
			Loops:     bed.Server.Queues,
			Cores:     []int{-1},
			MSL:       250 * time.Millisecond,
			BusyPoll:  -1,
			// Fixed 64 KiB buffers: slowClient bounds what the pair holds.
			ReadBufferMax:  -1,
			WriteBufferMax: -1,
		},
		Upstream: upstream,
	})
	return testbed.StartServer(t, s, err)
}

func TestSystemProxy(t *testing.T) {
	for _, queues := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d loops", queues), func(t *testing.T) {
			bed := testbed.New(t, testbed.Options{Queues: queues})
			u := startUpstream(t, bed)
			s := startProxy(t, bed, u.addr.String())
			host := netip.AddrPortFrom(bed.Server.IPv4, proxyPort).String()
			t.Run("curl", func(t *testing.T) { curlThrough(t, bed, host) })
			t.Run("http.Client", func(t *testing.T) { goThrough(t, bed, host) })
			t.Run("half-close", func(t *testing.T) { halfClose(t, bed, host) })
			t.Run("slow client", func(t *testing.T) { slowClient(t, bed, u, s, host) })
			st := s.Stats()
			t.Logf("accepted %d, dialed %d, dial errors %d, pauses %d, aborts %d",
				st.Accepted.Load(), st.Dialed.Load(), st.DialErrors.Load(), st.Pauses.Load(), st.Aborts.Load())
			if st.DialErrors.Load() != 0 || st.Aborts.Load() != 0 {
				t.Errorf("dial errors %d, aborts %d: want none", st.DialErrors.Load(), st.Aborts.Load())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}

// curlThrough: curl GETs 1 MB and POSTs 4 MiB through the proxy, both
// checked.
func curlThrough(t *testing.T, bed *testbed.Bed, host string) {
	up := pattern(7, 4<<20)
	file := filepath.Join(t.TempDir(), "up")
	if err := os.WriteFile(file, up, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := bed.Peer.Command(ctx, "curl", "-sS", "--max-time", "30", "http://"+host+"/size/1000000",
		"--next", "-sS", "--max-time", "30", "--data-binary", "@"+file, "http://"+host+"/echo").Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	want := append(bytes.Clone(pattern(0, 1000000)), up...)
	if sha256.Sum256(out) != sha256.Sum256(want) {
		t.Fatalf("curl got %d octets, want %d (or they differ)", len(out), len(want))
	}
}

// goThrough: 500 requests over 50 connections, GETs and echoed POSTs.
func goThrough(t *testing.T, bed *testbed.Bed, host string) {
	cl := bed.Peer.HTTPClient(50)
	defer cl.CloseIdleConnections()
	testbed.Workers(t, 50, 10, func(w, i int) error {
		k := w*10 + i
		n := (k * 997) % 150_000
		var req *http.Request
		var want []byte
		if k%3 == 2 {
			want = pattern(k, n)
			req, _ = http.NewRequest("POST", "http://"+host+"/echo", bytes.NewReader(want))
		} else {
			want = pattern(0, n)
			req, _ = http.NewRequest("GET", fmt.Sprintf("http://%s/size/%d", host, n), nil)
		}
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, want) {
			return fmt.Errorf("%s %d: status %d, %d octets, %v", req.Method, n, resp.StatusCode, len(b), err)
		}
		return nil
	})
}

// halfClose: the client's FIN after its request is passed on; the whole
// response still arrives, then the proxy's FIN.
func halfClose(t *testing.T, bed *testbed.Bed, host string) {
	const size = 2 << 20
	c := bed.Peer.Dial(t, host)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "GET /size/%d HTTP/1.1\r\nHost: x\r\n\r\n", size)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after %d octets: %v", len(all), err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(all)), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(b, pattern(0, size)) {
		t.Fatalf("body: %d octets", len(b))
	}
}

// slowClient: a client that stops reading a 32 MiB response: the
// upstream is held back by the proxy's paused reads (its window closes)
// instead of the proxy taking the whole response; then the client reads
// the rest, byte-exact. Meanwhile the pair's two connections are listed
// on one loop.
func slowClient(t *testing.T, bed *testbed.Bed, u *origin, s *Server, host string) {
	const size = 32 << 20
	c := bed.Peer.Dial(t, host)
	c.SetReadBuffer(64 << 10)
	c.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(c, "GET /size/%d HTTP/1.1\r\nHost: x\r\n\r\n", size)
	br := bufio.NewReaderSize(c, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, got); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // not reading: everything in flight piles up where it is held
	sameLoop(t, s, c.LocalAddr(), u.addr)
	ahead := u.written.Load() - int64(len(got))
	t.Logf("upstream ahead of the client by %d octets while it did not read", ahead)
	// The pair holds two send buffers and a read; the kernels hold socket
	// buffers on either side (a few MiB with autotuning). Without
	// backpressure the upstream would have written all 32 MiB.
	if ahead > 12<<20 {
		t.Errorf("upstream %d octets ahead of a client that stopped reading: the proxy buffers", ahead)
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("after %d octets: %v", len(got)+len(rest), err)
	}
	if !bytes.Equal(append(got, rest...), pattern(0, size)) {
		t.Fatalf("body: %d octets or differs", len(got)+len(rest))
	}
}

// sameLoop checks that a paused pair lives on one loop: the proxy's
// connection from client, and the upstream connection holding unread
// text (the proxy stopped reading it for the client).
func sameLoop(t *testing.T, s *Server, client net.Addr, upstream netip.AddrPort) {
	t.Helper()
	conns, err := s.Sluice().Conns(0)
	if err != nil {
		t.Fatal(err)
	}
	from := netip.MustParseAddrPort(client.String())
	loop, ups := -1, []int{}
	for _, c := range conns {
		switch {
		case c.Remote == from:
			loop = c.Loop
		case c.Remote == upstream && c.RecvQ > 0:
			ups = append(ups, c.Loop)
		}
	}
	if loop < 0 || len(ups) != 1 || ups[0] != loop {
		t.Errorf("client's connection on loop %d, paused upstream ones on %v; want one, on the same loop (%+v)", loop, ups, conns)
	}
}

// TestSystemProxyRefused: an upstream that refuses makes the proxy reset
// the client, counted.
func TestSystemProxyRefused(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	s := startProxy(t, bed, netip.AddrPortFrom(bed.Peer.IPv4, upstreamPort+1).String())
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// The reset may even arrive while connect(2) returns.
	c, err := bed.Peer.DialContext(ctx, "tcp", netip.AddrPortFrom(bed.Server.IPv4, proxyPort).String())
	if err == nil {
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		_, err = c.Read(make([]byte, 1))
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client: %v, want a reset (or EOF)", err)
	}
	if n := s.Stats().DialErrors.Load(); n != 1 {
		t.Errorf("%d dial errors counted, want 1", n)
	}
}

// TestSystemProxyShutdownMidStream: Shutdown lets an open pair go on.
// The upstream streams until it reads EOF (a FIN from the proxy would
// stop it); the client keeps reading well after Shutdown began, then
// closes, and Shutdown returns once the pair is gone.
func TestSystemProxyShutdownMidStream(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	up := netip.AddrPortFrom(bed.Peer.IPv4, upstreamPort)
	ln := bed.Peer.ListenTCP(t, up.String())
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var eof atomic.Bool
		go func() { io.Copy(io.Discard, c); eof.Store(true) }()
		for off := 0; !eof.Load(); off += 16 << 10 {
			if _, err := c.Write(pattern(off, 16<<10)); err != nil {
				return
			}
		}
	}()
	s := startProxy(t, bed, up.String())
	c := bed.Peer.Dial(t, netip.AddrPortFrom(bed.Server.IPv4, proxyPort).String())
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 1<<20)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	time.Sleep(300 * time.Millisecond) // Shutdown has begun: the FIN would have gone
	for range 4 {
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("reading after Shutdown began: %v", err)
		}
	}
	c.Close()
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
