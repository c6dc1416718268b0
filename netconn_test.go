package sluice

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// TestNetConnFlowControl: a net.Conn reader slower than its peer loses
// nothing and holds a bounded amount: once its unread data reaches the
// read allowance the loop leaves further data in the TCP receive buffer,
// the window closes and the Linux sender waits; Read draining it resumes
// delivery. 32 MiB arrive byte-exact, in order, then io.EOF, and no reset.
func TestNetConnFlowControl(t *testing.T) {
	const total = 32 << 20
	bed := newBed(t, 1)
	s := startServer(t, testConfig(bed, 8090), nil)
	addr := testbed.HostPort(bed.Server.IPv4, 8090)
	nc, pc := acceptOne(t, s, func() *net.TCPConn { return bed.Peer.Dial(t, addr) })
	want := pattern(total)
	werr := make(chan error, 1)
	go func() {
		pc.SetWriteDeadline(time.Now().Add(3 * time.Minute))
		_, err := pc.Write(want)
		if err == nil {
			err = pc.CloseWrite()
		}
		werr <- err
	}()
	nc.SetReadDeadline(time.Now().Add(3 * time.Minute))
	// A reader that falls behind: it starts late, reads 8 KiB at a time
	// and stalls every 512 KiB and, longer, every 4 MiB.
	time.Sleep(300 * time.Millisecond)
	buf := make([]byte, 8<<10)
	got := 0
	var rerr error
	// Unread data only grows while the reader is away, so its peak, and
	// each pause, is seen just before a Read.
	maxUnread, pauses, wasPaused := 0, 0, false
	for got <= total {
		nc.mu.Lock()
		unread, paused := len(nc.rbuf)-nc.roff, nc.paused
		nc.mu.Unlock()
		maxUnread = max(maxUnread, unread)
		if paused && !wasPaused {
			pauses++
		}
		wasPaused = paused
		n, err := nc.Read(buf)
		if n > 0 {
			if got+n > total || !bytes.Equal(buf[:n], want[got:got+n]) {
				t.Fatalf("octets %d..%d differ from what was sent (or pass its end)", got, got+n)
			}
			before := got
			got += n
			if got/(4<<20) != before/(4<<20) {
				time.Sleep(300 * time.Millisecond)
			} else if got/(512<<10) != before/(512<<10) {
				time.Sleep(20 * time.Millisecond)
			}
		}
		if err != nil {
			rerr = err
			break
		}
	}
	if rerr != io.EOF || got != total {
		t.Fatalf("read %d of %d octets, then %v; want all, then io.EOF", got, total, rerr)
	}
	if err := <-werr; err != nil {
		t.Fatalf("peer Write: %v", err)
	}
	limit := nc.readCap()
	// Beyond the allowance by at most what one delivery took from the TCP
	// receive buffer (ReadBuffer; no auto-tuning in the adapter).
	if bound := limit + DefaultBuffer; maxUnread > bound {
		t.Errorf("held up to %d unread octets, above the bound %d", maxUnread, bound)
	}
	if pauses < 2 || maxUnread < limit {
		t.Errorf("delivery paused %d times, at most %d unread: the reader never fell behind, the test proves nothing", pauses, maxUnread)
	}
	st, _ := s.Stats()
	t.Logf("32 MiB to a slow reader: %d pauses, at most %d octets unread (allowance %d); loop retransmits %d", pauses, maxUnread, limit, st.Loops[0].Retransmits)
}

// TestHTTPShutdownLargeResponse: Server.Shutdown (alone, or at the same
// time as http.Server.Shutdown) while net/http sends an 8 MiB response in
// 64 KiB Writes to a client with a 64 KiB receive buffer: the response
// arrives whole, then the connection ends with a FIN, and both Shutdowns
// return nil. net/http keeps a Read pending during the handler; taking it
// for the idle point used to send the FIN between two Writes (the client
// saw "unexpected EOF" after 2,752,512 octets).
func TestHTTPShutdownLargeResponse(t *testing.T) {
	for i, withHTTP := range []bool{false, true} {
		name := "sluice"
		if withHTTP {
			name = "sluice+http"
		}
		t.Run(name, func(t *testing.T) { shutdownLarge(t, 8091+i, withHTTP) })
	}
}

func shutdownLarge(t *testing.T, port int, withHTTP bool) {
	const size = 8 << 20
	bed := newBed(t, 1)
	s := startServer(t, testConfig(bed, port), nil)
	body := pattern(size)
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for off := 0; off < size; off += 64 << 10 {
			if _, err := w.Write(body[off : off+64<<10]); err != nil {
				return
			}
		}
	})
	hs := &http.Server{Handler: mux}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(s.Listener()) }()
	t.Cleanup(func() { hs.Close(); s.Close(); <-served })

	c := slowClient(t, bed, testbed.HostPort(bed.Server.IPv4, port))
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := c.Write([]byte("GET /big HTTP/1.1\r\nHost: sluice\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 16<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The response is under way: shut down while the client reads slowly.
	chunk := make([]byte, 32<<10)
	got := 0
	readSome := func(upto int) error {
		for got < upto {
			n, err := resp.Body.Read(chunk[:min(len(chunk), upto-got)])
			if n > 0 {
				if !bytes.Equal(chunk[:n], body[got:got+n]) {
					t.Fatalf("octets %d..%d differ", got, got+n)
				}
				got += n
				time.Sleep(time.Millisecond)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := readSome(256 << 10); err != nil {
		t.Fatalf("after %d octets: %v", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	shut := make(chan error, 2)
	go func() { shut <- s.Shutdown(ctx) }()
	if withHTTP {
		go func() { shut <- hs.Shutdown(ctx) }()
	}
	if err := readSome(size); err != nil && !(err == io.EOF && got == size) {
		t.Fatalf("response cut after %d of %d octets: %v", got, size, err)
	}
	// Then the server's FIN, nothing else.
	if n, err := br.Read(chunk); n != 0 || err != io.EOF {
		t.Fatalf("after the response: %d octets, %v; want io.EOF", n, err)
	}
	c.Close()
	for range cap(shut) - map[bool]int{false: 1, true: 0}[withHTTP] {
		if err := <-shut; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	if err := <-served; !errors.Is(err, net.ErrClosed) && err != http.ErrServerClosed {
		t.Errorf("http.Serve returned %v", err)
	}
	served <- nil // for the cleanup
}

// slowClient dials from the peer with a 64 KiB receive buffer (set before
// connect, so the window scale matches), as the reported client had.
func slowClient(t *testing.T, bed *testbed.Bed, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	err := bed.Peer.Do(func() error {
		d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10)
			})
			if err != nil {
				return err
			}
			return serr
		}}
		var err error
		c, err = d.Dial("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestConnPauseRead: the callback API's PauseRead from OnData stops
// delivery (the Linux sender's Write blocks on the closed window) and
// ResumeRead from another goroutine brings the rest, byte-exact.
func TestConnPauseRead(t *testing.T) {
	const total = 4 << 20
	bed := newBed(t, 1)
	var (
		mu     sync.Mutex
		got    []byte
		conn   *Conn
		paused = make(chan struct{}, 1)
	)
	h := HandlerFuncs{Data: func(c *Conn, d []byte) Action {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, d...)
		if conn == nil {
			conn = c
			c.PauseRead()
			paused <- struct{}{}
		}
		return None
	}}
	startServer(t, testConfig(bed, 8093), h)
	pc := bed.Peer.Dial(t, testbed.HostPort(bed.Server.IPv4, 8093))
	want := pattern(total)
	pc.SetWriteDeadline(time.Now().Add(time.Second))
	n, err := pc.Write(want)
	if !isTimeout(err) {
		t.Fatalf("peer wrote %d of %d octets to a paused connection: %v; want it blocked (timeout)", n, total, err)
	}
	<-paused
	mu.Lock()
	held := len(got)
	mu.Unlock()
	// Nothing more is delivered while paused; the kernel holds the rest.
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	if len(got) != held {
		t.Fatalf("%d octets delivered while paused, after %d", len(got)-held, held)
	}
	c := conn
	mu.Unlock()
	if err := c.ResumeRead(); err != nil {
		t.Fatal(err)
	}
	pc.SetWriteDeadline(time.Now().Add(time.Minute))
	if _, err := pc.Write(want[n:]); err != nil {
		t.Fatalf("peer Write after ResumeRead: %v", err)
	}
	testbed.WaitFor(t, "every octet", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= total })
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d octets, want %d, or they differ", len(got), total)
	}
	t.Logf("paused after %d octets; %d written by the peer before its window closed", held, n)
}
