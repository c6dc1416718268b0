package conform

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/testbed"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// Ports of the two servers on the bed's Server end: the kernel's listener
// gets what sluice's XDP program does not steer (every port but its own).
const (
	linuxPort  = 7001
	sluicePort = 7000
)

// The application both servers run, for every connection:
//   - echo what arrives;
//   - text containing quitWord: echo it, then close (the server closes
//     first: FIN-WAIT-1, then TIME-WAIT or CLOSING);
//   - at EOF (the peer's FIN): write eofReply, then close (a write after
//     the peer's FIN, from CLOSE-WAIT).
const (
	quitWord = "quit"
	eofReply = "bye"
)

// rig is one testbed with both servers and the raw peer.
type rig struct {
	bed   *testbed.Bed
	raw   *testbed.RawPeer
	sides []side
}

// side is one implementation under test.
type side struct {
	name string
	v4   netip.AddrPort
	v6   netip.AddrPort
}

func newRig(t *testing.T) *rig {
	t.Helper()
	bed := testbed.New(t, testbed.Options{})
	r := &rig{bed: bed, raw: testbed.NewRawPeer(t, bed)}
	startLinux(t, bed)
	startSluice(t, bed)
	for _, s := range []struct {
		name string
		port uint16
	}{{"linux", linuxPort}, {"sluice", sluicePort}} {
		r.sides = append(r.sides, side{s.name,
			netip.AddrPortFrom(bed.Server.IPv4, s.port), netip.AddrPortFrom(bed.Server.IPv6, s.port)})
	}
	// Both serve before any script starts: a kernel client's echo on
	// each address.
	for _, sd := range r.sides {
		for _, a := range []netip.AddrPort{sd.v4, sd.v6} {
			warm(t, bed, a)
		}
	}
	return r
}

func warm(t *testing.T, bed *testbed.Bed, a netip.AddrPort) {
	t.Helper()
	c := bed.Peer.Dial(t, a.String())
	c.SetDeadline(time.Now().Add(testbed.WaitLimit))
	if _, err := c.Write([]byte("warm")); err != nil {
		t.Fatalf("warm-up %v: %v", a, err)
	}
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "warm"+eofReply {
		t.Fatalf("warm-up %v: got %q, %v", a, got, err)
	}
}

// startLinux runs the application on kernel sockets in the Server's
// namespace, one goroutine per connection.
func startLinux(t *testing.T, bed *testbed.Bed) {
	t.Helper()
	var lns []net.Listener
	err := bed.Server.Do(func() error {
		for _, a := range bed.Server.Listen(linuxPort) {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				return err
			}
			lns = append(lns, ln)
		}
		return nil
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	t.Cleanup(func() {
		for _, ln := range lns {
			ln.Close()
		}
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	if err != nil {
		t.Fatalf("linux listener: %v", err)
	}
	for _, ln := range lns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns[c] = true
				mu.Unlock()
				wg.Add(1)
				go func() {
					defer wg.Done()
					linuxApp(c)
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
				}()
			}
		}()
	}
}

func linuxApp(c net.Conn) {
	defer c.Close()
	// Urgent text inline, in the stream, as sluice delivers it (it has no
	// out-of-band channel; RFC 6093 §6 asks applications not to use one).
	if rc, err := c.(*net.TCPConn).SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_OOBINLINE, 1)
		})
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
			if bytes.Contains(buf[:n], []byte(quitWord)) {
				return
			}
		}
		if errors.Is(err, io.EOF) {
			c.Write([]byte(eofReply))
			return
		}
		if err != nil {
			return
		}
	}
}

// startSluice runs the same application on sluice's public API.
func startSluice(t *testing.T, bed *testbed.Bed) {
	t.Helper()
	cfg := sluice.Config{
		Interface: bed.Server.Link,
		Netns:     bed.Server.Name,
		Listen:    bed.Server.Listen(sluicePort),
		Loops:     1,
		Cores:     []int{-1},
		BusyPoll:  -1,
	}
	h := sluice.HandlerFuncs{
		Data: func(c *sluice.Conn, b []byte) sluice.Action {
			c.Write(b)
			if bytes.Contains(b, []byte(quitWord)) {
				return sluice.Close
			}
			return sluice.None
		},
		EOF: func(c *sluice.Conn) sluice.Action {
			c.Write([]byte(eofReply))
			return sluice.Close
		},
	}
	s, err := sluice.NewServer(cfg, h)
	testbed.StartServer(t, s, err)
}
