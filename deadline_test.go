package sluice

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// acceptOne dials the listener-mode server from the peer and returns both
// ends.
func acceptOne(t *testing.T, s *Server, peerAddr func() *net.TCPConn) (*NetConn, *net.TCPConn) {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := s.Listener().Accept()
		ch <- res{c, err}
	}()
	pc := peerAddr()
	r := <-ch
	if r.err != nil {
		t.Fatalf("Accept: %v", r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return r.c.(*NetConn), pc
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
}

// TestNetConnDeadlines: Read and Write deadlines (past, future, changed
// while blocked, cleared), io.EOF after the peer's FIN, net.ErrClosed
// after Close, CloseWrite, and the reset error after the peer's RST.
func TestNetConnDeadlines(t *testing.T) {
	bed := newBed(t, 1)
	s := startServer(t, testConfig(bed, 8081), nil)
	addr := testbed.HostPort(bed.Server.IPv4, 8081)
	nc, pc := acceptOne(t, s, func() *net.TCPConn { return bed.Peer.Dial(t, addr) })
	buf := make([]byte, 64)

	// A deadline in the future expires a blocked Read.
	nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := nc.Read(buf); n != 0 || !isTimeout(err) {
		t.Fatalf("Read past deadline: %d, %v; want os.ErrDeadlineExceeded (Timeout)", n, err)
	}
	// A deadline already past fails at once, also with data absent.
	nc.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := nc.Read(buf); !isTimeout(err) {
		t.Fatalf("Read with past deadline: %v", err)
	}
	// Moving the deadline into the past wakes a blocked Read.
	nc.SetReadDeadline(time.Time{})
	got := make(chan error, 1)
	go func() { _, err := nc.Read(buf); got <- err }()
	time.Sleep(20 * time.Millisecond)
	nc.SetReadDeadline(time.Now())
	if err := <-got; !isTimeout(err) {
		t.Fatalf("Read woken by SetReadDeadline: %v", err)
	}
	// Cleared: data arrives.
	nc.SetReadDeadline(time.Time{})
	pc.Write([]byte("hello"))
	if n, err := io.ReadFull(nc, buf[:5]); n != 5 || err != nil || string(buf[:5]) != "hello" {
		t.Fatalf("Read: %q, %v", buf[:n], err)
	}

	// Write deadline: the peer does not read, so the peer's receive
	// buffer, our send buffer and the write allowance fill, and Write
	// stops at the deadline having queued part of it.
	big := make([]byte, 64<<20)
	nc.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	n, err := nc.Write(big)
	if !isTimeout(err) || n == 0 || n >= len(big) {
		t.Fatalf("Write past deadline: %d of %d, %v; want part, os.ErrDeadlineExceeded", n, len(big), err)
	}
	t.Logf("Write queued %d octets before its deadline", n)
	nc.SetWriteDeadline(time.Time{})
	// The peer reads it all, and nothing else.
	pc.SetReadDeadline(time.Now().Add(20 * time.Second))
	if m, err := io.ReadFull(pc, make([]byte, n)); m != n || err != nil {
		t.Fatalf("peer read %d of %d: %v", m, n, err)
	}

	// The peer's FIN: Read returns io.EOF; Write still works (half-open).
	pc.CloseWrite()
	if _, err := nc.Read(buf); err != io.EOF {
		t.Fatalf("Read after peer FIN: %v, want io.EOF", err)
	}
	if _, err := nc.Write([]byte("still")); err != nil {
		t.Fatalf("Write after peer FIN: %v", err)
	}
	// CloseWrite: the peer reads the text, then EOF.
	if err := nc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(pc); err != nil || !bytes.Equal(b, []byte("still")) {
		t.Fatalf("peer after CloseWrite: %q, %v", b, err)
	}
	if _, err := nc.Write([]byte("x")); err == nil {
		t.Fatal("Write after CloseWrite succeeded")
	}
	// Close: net.ErrClosed from then on.
	if err := nc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := nc.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v, want net.ErrClosed", err)
	}
	if _, err := nc.Write(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
	}
	if err := nc.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v, want net.ErrClosed", err)
	}

	// A reset from the peer: Read reports ECONNRESET.
	nc2, pc2 := acceptOne(t, s, func() *net.TCPConn { return bed.Peer.Dial(t, addr) })
	pc2.SetLinger(0)
	pc2.Close()
	nc2.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc2.Read(buf); !errors.Is(err, ErrReset) || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read after peer RST: %v, want ErrReset", err)
	}
	var oe *net.OpError
	if _, err := nc2.Read(buf); !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("Read error %T is not a *net.OpError: %v", err, err)
	}

	// Listener Close: Accept fails with net.ErrClosed; the server runs on.
	s.Listener().Close()
	if _, err := s.Listener().Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
}
