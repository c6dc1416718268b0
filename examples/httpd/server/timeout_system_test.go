package server

// System tests of the callback server's timeouts and per-source limit:
// raw kernel TCP clients, curl and Go's http.Client in the peer namespace.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// startTimeouts serves the callback server with timeouts and a
// per-source bound set by the test.
func startTimeouts(t *testing.T, bed *testbed.Bed, to Timeouts, perSource int) *Server {
	t.Helper()
	return startWith(t, bed, func(c *Config) {
		c.Options.Timeouts = to
		c.Options.MaxConnsPerSource = perSource
	})
}

// readUntilClosed reads c until the server ends it and returns what
// arrived and how it ended (io.EOF, a reset, or a timeout of the test's
// deadline).
func readUntilClosed(c net.Conn) ([]byte, error) {
	var got []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
	}
}

// TestSystemSlowloris: 2,000 connections from four peer addresses each
// send one octet of a request head every 5 s. With a 10 s head timeout
// every one gets 408 and is closed within 15 s of its first octet, while
// curl and Go's http.Client, on new connections, are served throughout.
func TestSystemSlowloris(t *testing.T) {
	const (
		conns   = 2000
		sources = 4
		every   = 5 * time.Second
		headTO  = 10 * time.Second
		bound   = 15 * time.Second
	)
	bed := testbed.New(t, testbed.Options{})
	s := startTimeouts(t, bed, Timeouts{Head: headTO}, 0)
	host := netip.AddrPortFrom(bed.Server.IPv4, testPort).String()
	var srcs []netip.Addr
	for i := range sources {
		a := netip.AddrFrom4([4]byte{198, 18, 0, byte(100 + i)})
		if out, err := bed.Peer.Exec(context.Background(), "ip", "addr", "add", a.String()+"/32", "dev", bed.Peer.Link); err != nil {
			t.Fatalf("add %s: %v: %s", a, err, out)
		}
		srcs = append(srcs, a)
	}
	head := "GET / HTTP/1.1\r\nHost: slow\r\nX-a: b\r\n\r\n"

	type outcome struct {
		took   time.Duration // first octet to the server's close
		status string
		err    error
	}
	results := make(chan outcome, conns)
	var opened atomic.Int64
	var wg sync.WaitGroup
	dialing := make(chan struct{}, 50) // each dial holds an OS thread in the peer namespace
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			dialing <- struct{}{}
			err := bed.Peer.Do(func() error {
				d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(srcs[i%sources], 0))}
				var err error
				c, err = d.Dial("tcp", host)
				return err
			})
			<-dialing
			if err != nil {
				results <- outcome{err: fmt.Errorf("dial: %w", err)}
				return
			}
			defer c.Close()
			opened.Add(1)
			first := time.Now()
			var got []byte
			buf := make([]byte, 512)
			for k := 0; ; k++ {
				if time.Since(first) > bound+5*time.Second {
					results <- outcome{took: time.Since(first), err: errors.New("still open")}
					return
				}
				if k < len(head) {
					c.Write([]byte{head[k]})
				}
				c.SetReadDeadline(time.Now().Add(every))
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				for err == nil { // the 408 arrived: read to the close
					n, err = c.Read(buf)
					got = append(got, buf[:n]...)
				}
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					continue
				}
				status, _, _ := strings.Cut(string(got), "\r\n")
				results <- outcome{took: time.Since(first), status: status}
				return
			}
		}()
	}
	testbed.WaitFor(t, "the slow connections to open", func() bool { return opened.Load() >= conns || len(results) > 0 })

	// Legitimate clients during the attack, each on a new connection.
	var lat, curlLat []time.Duration
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: bed.Peer.DialContext, DisableKeepAlives: true}}
	for i := range 100 {
		t0 := time.Now()
		resp, err := cl.Get(fmt.Sprintf("http://%s/size/%d", host, i*97))
		if err != nil {
			t.Fatalf("Go client during the attack: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, Body(i*97)) {
			t.Fatalf("Go client during the attack: %d, %d octets, %v", resp.StatusCode, len(b), err)
		}
		lat = append(lat, time.Since(t0))
		if i%10 == 0 {
			t0 = time.Now()
			out, _ := peerRun(t, bed, "curl", "-sS", "--max-time", "10", "http://"+host+"/size/1000")
			if out != string(Body(1000)) {
				t.Fatalf("curl during the attack: %d octets", len(out))
			}
			curlLat = append(curlLat, time.Since(t0))
		}
		time.Sleep(20 * time.Millisecond)
	}
	slices.Sort(lat)
	slices.Sort(curlLat)
	t.Logf("during the attack: %d Go requests (new connection each): p50 %v, p99 %v; %d curl runs (process start included): p50 %v, max %v",
		len(lat), lat[len(lat)/2], lat[len(lat)*99/100], len(curlLat), curlLat[len(curlLat)/2], curlLat[len(curlLat)-1])

	wg.Wait()
	close(results)
	var worst time.Duration
	bad := 0
	for r := range results {
		worst = max(worst, r.took)
		if r.err != nil || r.status != "HTTP/1.1 408 Request Timeout" || r.took > bound {
			if bad++; bad <= 5 {
				t.Errorf("slow connection: %q after %v, %v; want 408 and closed within %v", r.status, r.took, r.err, bound)
			}
		}
	}
	st := s.Stats()
	t.Logf("%d slow connections: %d bad, slowest closed %v after its first octet; head timeouts %d, linger timeouts %d",
		conns, bad, worst, st.HeadTimeouts.Load(), st.LingerTimeouts.Load())
	if n := st.HeadTimeouts.Load(); n != conns {
		t.Errorf("%d head timeouts counted, want %d", n, conns)
	}
}

// TestSystemIdleTimeout: a keep-alive connection is served until the idle
// timeout (a request just before it is answered), then closed with no
// response; a response in flight to a slow reader outlasts the idle
// timeout without being cut, and the connection stays usable.
func TestSystemIdleTimeout(t *testing.T) {
	const idle = 2 * time.Second
	bed := testbed.New(t, testbed.Options{})
	s := startTimeouts(t, bed, Timeouts{Idle: idle}, 0)
	host := netip.AddrPortFrom(bed.Server.IPv4, testPort).String()

	t.Run("idle", func(t *testing.T) {
		c := peerDial(t, bed, host)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(c)
		get(t, c, br, 10)
		time.Sleep(idle * 3 / 4)
		get(t, c, br, 20) // before the timeout: served, and the bound restarts
		t0 := time.Now()
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("idle connection: %v, want EOF (the server's FIN)", err)
		}
		t.Logf("closed %v after the last response (idle timeout %v)", time.Since(t0).Round(time.Millisecond), idle)
		if n := s.Stats().IdleTimeouts.Load(); n != 1 {
			t.Errorf("%d idle timeouts counted, want 1", n)
		}
	})
	t.Run("response in flight", func(t *testing.T) {
		const size = 8 << 20
		want := Body(size) // before: making it takes a while under -race
		c := peerDial(t, bed, host)
		c.SetReadBuffer(64 << 10)
		c.SetDeadline(time.Now().Add(60 * time.Second))
		fmt.Fprintf(c, "GET /size/%d HTTP/1.1\r\nHost: x\r\n\r\n", size)
		br := bufio.NewReaderSize(c, 4096)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		buf := make([]byte, 64<<10)
		var got []byte
		for len(got) < size {
			n, err := resp.Body.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil && err != io.EOF {
				t.Fatalf("after %d octets (%v): %v", len(got), time.Since(t0), err)
			}
			// Slowly (~3 MB/s, the response takes over two idle
			// timeouts) while the server holds output beyond its send
			// buffer, then at full speed: the idle bound starts when the
			// last octet enters the send buffer (as nginx's
			// keepalive_timeout), so a reader slower than it over that
			// last send buffer would get the FIN after the response.
			if len(got) < size-(2<<20) {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatal("body differs")
		}
		st := s.Stats()
		t.Logf("response read over %v (idle timeout %v); timeouts: idle %d, write %d, head %d",
			time.Since(t0).Round(time.Millisecond), idle, st.IdleTimeouts.Load(), st.WriteTimeouts.Load(), st.HeadTimeouts.Load())
		get(t, c, br, 30) // still a live keep-alive connection
	})
}

// get sends GET /size/n on c and checks the response.
func get(t *testing.T, c io.Writer, br *bufio.Reader, n int) {
	t.Helper()
	fmt.Fprintf(c, "GET /size/%d HTTP/1.1\r\nHost: x\r\n\r\n", n)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, Body(n)) {
		t.Fatalf("GET /size/%d: %d, %d octets, %v", n, resp.StatusCode, len(b), err)
	}
}

// TestSystemBodyWriteTimeout: a body that stops coming gets 408; a
// client that never reads its response is reset; both counted.
func TestSystemBodyWriteTimeout(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	s := startTimeouts(t, bed, Timeouts{Body: time.Second, Write: time.Second}, 0)
	host := netip.AddrPortFrom(bed.Server.IPv4, testPort).String()
	t.Run("body", func(t *testing.T) {
		c := peerDial(t, bed, host)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
		got, err := readUntilClosed(c)
		if !bytes.HasPrefix(got, []byte("HTTP/1.1 408 ")) || err != io.EOF {
			t.Fatalf("stalled body: %q, %v; want 408 then EOF", got, err)
		}
		if n := s.Stats().BodyTimeouts.Load(); n != 1 {
			t.Errorf("%d body timeouts, want 1", n)
		}
	})
	t.Run("write", func(t *testing.T) {
		c := peerDial(t, bed, host)
		c.SetReadBuffer(64 << 10)
		fmt.Fprintf(c, "GET /size/%d HTTP/1.1\r\nHost: x\r\n\r\n", 64<<20)
		testbed.WaitFor(t, "the write timeout", func() bool { return s.Stats().WriteTimeouts.Load() == 1 })
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.Copy(io.Discard, c); err == nil {
			t.Errorf("reading after the write timeout: EOF, want a reset")
		}
	})
}

// TestSystemPerSource: with at most 3 connections per client address the
// fourth gets 503 and is closed; once one closes, a new one is served.
func TestSystemPerSource(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	s := startTimeouts(t, bed, Timeouts{}, 3)
	host := netip.AddrPortFrom(bed.Server.IPv4, testPort).String()
	var kept []net.Conn
	for range 3 {
		c := peerDial(t, bed, host)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		get(t, c, bufio.NewReader(c), 5)
		kept = append(kept, c)
	}
	over := peerDial(t, bed, host)
	over.SetDeadline(time.Now().Add(30 * time.Second))
	got, err := readUntilClosed(over)
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 503 ")) || err != io.EOF {
		t.Fatalf("fourth connection: %q, %v; want 503 then EOF", got, err)
	}
	if n := s.Stats().SourceLimited.Load(); n != 1 {
		t.Errorf("%d refusals counted, want 1", n)
	}
	kept[0].Close()
	// The server counts the connection off at its close, which follows
	// the client's FIN: retry until a new connection is served.
	testbed.WaitFor(t, "a connection after one closed", func() bool {
		c := peerDial(t, bed, host)
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /size/5 HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		return err == nil && resp.StatusCode == 200
	})
}
