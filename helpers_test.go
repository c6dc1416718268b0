package sluice

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
)

// testConfig serves port on the bed's server end: both families, copy
// mode (veth), short TIME-WAIT so tests do not hold 4-tuples.
func testConfig(bed *testbed.Bed, port int) Config {
	return Config{
		Interface: bed.Server.Link,
		Netns:     bed.Server.Name,
		Listen: []string{
			netip.AddrPortFrom(bed.Server.IPv4, uint16(port)).String(),
			netip.AddrPortFrom(bed.Server.IPv6, uint16(port)).String(),
		},
		Loops:    bed.Server.Queues,
		Cores:    []int{-1},
		MSL:      250 * time.Millisecond,
		BusyPoll: -1,
	}
}

// logSink collects slog records as text, for tests that check the
// start-up line.
type logSink struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logSink) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startServer starts a server on the bed and closes it at cleanup.
func startServer(t *testing.T, cfg Config, h Handler) *Server {
	t.Helper()
	s, err := NewServer(cfg, h)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// peerDial opens a kernel TCP connection from the peer namespace.
func peerDial(t *testing.T, bed *testbed.Bed, addr string) *net.TCPConn {
	t.Helper()
	return bed.Peer.Dial(t, addr)
}

// peerDialer dials from the peer namespace (for http.Transport).
func peerDialer(bed *testbed.Bed) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := bed.Peer.Do(func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

func hostPort(a netip.Addr, port int) string {
	return netip.AddrPortFrom(a, uint16(port)).String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var _ = fmt.Sprint

func newBed(t *testing.T, queues int) *testbed.Bed {
	t.Helper()
	return testbed.New(t, testbed.Options{Queues: queues})
}

func bytesContains(s, sub string) bool { return strings.Contains(s, sub) }
