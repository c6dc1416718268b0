package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// TestSystemConn: what a raw client sees: pipelined requests in one
// segment and a request dribbled in byte by byte, and a slow reader of a
// large body (backpressure: the server writes as the window opens).
func TestSystemConn(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			startHTTPD(t, bed, mode.stdlib)
			for _, ip := range []netip.Addr{bed.Server.IPv4, bed.Server.IPv6} {
				host := netip.AddrPortFrom(ip, testPort).String()
				t.Run(ip.String(), func(t *testing.T) {
					t.Run("pipelined", func(t *testing.T) { pipelined(t, bed, host) })
					t.Run("slow reader", func(t *testing.T) { slowReader(t, bed, host) })
				})
			}
		})
	}
}

func pipelined(t *testing.T, bed *testbed.Bed, host string) {
	c := peerDial(t, bed, host)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var reqs bytes.Buffer
	var sizes []int
	for i := range 50 {
		n := i * i * 37 % 40000
		sizes = append(sizes, n)
		fmt.Fprintf(&reqs, "GET /size/%d HTTP/1.1\r\nHost: x\r\n\r\n", n)
	}
	if _, err := c.Write(reqs.Bytes()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i, n := range sizes {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(b, Body(n)) {
			t.Fatalf("response %d: status %d, %d octets (want %d), %v", i, resp.StatusCode, len(b), n, err)
		}
	}
	// One request a byte at a time (each its own segment: no delay).
	req := "GET /size/77 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	for i := range len(req) {
		if _, err := c.Write([]byte{req[i]}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || !bytes.Equal(b, Body(77)) || !resp.Close {
		t.Fatalf("dribbled request: %d octets, close %v, %v", len(b), resp.Close, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after Connection: close: %v, want EOF", err)
	}
}

func slowReader(t *testing.T, bed *testbed.Bed, host string) {
	const size = 32 << 20
	c := peerDial(t, bed, host)
	c.SetReadBuffer(64 << 10) // a small window: the server must wait for it
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := fmt.Fprintf(c, "GET /size/%d HTTP/1.1\r\nHost: x\r\n\r\n", size); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	var got int
	for got < size {
		n, err := io.ReadFull(resp.Body, buf[:min(len(buf), size-got)])
		if !bytes.Equal(buf[:n], patternFrom(got, n)) {
			t.Fatalf("body differs in [%d, %d)", got, got+n)
		}
		got += n
		if err != nil {
			t.Fatalf("after %d octets: %v", got, err)
		}
		time.Sleep(2 * time.Millisecond) // read slower than the server writes
	}
	// The connection is still good for another request.
	fmt.Fprintf(c, "GET /size/3 HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "012" {
		t.Fatalf("next response %q", b)
	}
}

// patternFrom is n octets of the body pattern from octet off.
func patternFrom(off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = patternChars[(off+i)%len(patternChars)]
	}
	return b
}

// TestSystemShutdown: Shutdown with a request in flight: the response
// completes, an idle keep-alive connection is closed, new connections are
// refused, and Shutdown returns nil.
func TestSystemShutdown(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			const size = 8 << 20
			s := startHTTPD(t, bed, mode.stdlib)
			host := netip.AddrPortFrom(bed.Server.IPv4, testPort).String()

			idle := peerDial(t, bed, host)
			idle.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(idle, "GET /size/5 HTTP/1.1\r\nHost: x\r\n\r\n")
			ibr := bufio.NewReader(idle)
			if resp, err := http.ReadResponse(ibr, nil); err != nil {
				t.Fatal(err)
			} else {
				io.Copy(io.Discard, resp.Body)
			}

			busy := peerDial(t, bed, host)
			busy.SetReadBuffer(64 << 10)
			busy.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(busy, "GET /size/%d HTTP/1.1\r\nHost: x\r\n\r\n", size)
			bbr := bufio.NewReader(busy)
			resp, err := http.ReadResponse(bbr, nil)
			if err != nil {
				t.Fatal(err)
			}
			first := make([]byte, 1000)
			if _, err := io.ReadFull(resp.Body, first); err != nil {
				t.Fatal(err)
			}

			done := shutdownAsync(s, 30*time.Second)
			// The idle connection is closed by the server.
			if _, err := ibr.ReadByte(); err != io.EOF {
				t.Fatalf("idle connection: %v, want EOF", err)
			}
			idle.Close() // as a client does on EOF: the server's close completes
			// New connections are refused (callbacks: the SYN gets a RST).
			// In stdlib mode net/http shuts down first and closes the
			// Listener, so a handshake may complete and be reset at once;
			// either way nothing is served.
			err = bed.Peer.Do(func() error {
				c, err := net.DialTimeout("tcp", host, 5*time.Second)
				if err != nil {
					return err
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				_, err = c.Read(make([]byte, 1))
				return err
			})
			t.Logf("new connection during Shutdown: %v", err)
			switch {
			case err == nil:
				t.Errorf("a new connection was served during Shutdown")
			case !mode.stdlib && !errors.Is(err, syscall.ECONNREFUSED):
				t.Errorf("dial during shutdown: %v, want connection refused", err)
			case mode.stdlib && !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNRESET) && err != io.EOF:
				t.Errorf("new connection during shutdown: %v, want refused, reset or EOF", err)
			}
			// The response in flight completes.
			rest, err := io.ReadAll(resp.Body)
			if err != nil || !bytes.Equal(append(first, rest...), Body(size)) {
				t.Fatalf("in-flight response: %d octets, %v", len(first)+len(rest), err)
			}
			if _, err := bbr.ReadByte(); err != io.EOF {
				t.Errorf("busy connection after its response: %v, want EOF", err)
			}
			busy.Close()
			waitShutdown(t, done)
			select {
			case <-s.Done():
			default:
				t.Fatal("Done not closed after Shutdown")
			}
		})
	}
}
