package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/testbed"
)

// TestMultiQueueSharedUmem: a 2-queue veth, one socket per queue sharing
// one UMEM (the second with its own fill and completion rings). The peer
// sends from many source ports; every datagram arrives exactly once, both
// sockets get some, and no flow is split across sockets: each flow's
// frames stay on the queue the peer's TX queue choice sent them to, and
// the kernel only delivers a queue's frames to the socket bound to it.
func TestMultiQueueSharedUmem(t *testing.T) {
	b := testbed.New(t, testbed.Options{Queues: 2})
	if err := b.Server.Do(func() error {
		n, err := QueueCount(b.Server.Link)
		if err == nil && n != 2 {
			err = fmt.Errorf("QueueCount(%s) = %d, want 2", b.Server.Link, n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	u, s0 := newUmemSocket(t, b.Server, 0, UmemConfig{FrameSize: 2048, FrameCount: 1024, FillSize: 512, CompletionSize: 512})
	s1 := bindIn(t, b.Server, u, 1)
	if s0.Fill() == s1.Fill() || s0.Completion() == s1.Completion() {
		t.Fatal("sockets on different queues share a fill or completion ring")
	}
	if s1.Mode() != s0.Mode() {
		t.Fatalf("shared socket mode %v, owner %v", s1.Mode(), s0.Mode())
	}
	xsks := udpRedirect(t, b.Server, testPort, 2)
	for q, s := range []*Socket{s0, s1} {
		if err := xsks.Put(uint32(q), uint32(s.Fd())); err != nil {
			t.Fatal(err)
		}
	}
	fillFrom(t, s0, u.NewPool(0, 512))
	fillFrom(t, s1, u.NewPool(512, 512))

	const flows, per = 64, 8
	err := b.Peer.Do(func() error {
		for f := range flows {
			c, err := net.DialUDP("udp4", &net.UDPAddr{IP: b.Peer.IPv4.AsSlice(), Port: 41000 + f},
				&net.UDPAddr{IP: b.Server.IPv4.AsSlice(), Port: testPort})
			if err != nil {
				return err
			}
			var msg [8]byte
			for i := range per {
				binary.BigEndian.PutUint32(msg[:4], uint32(f))
				binary.BigEndian.PutUint32(msg[4:], uint32(i))
				if _, err := c.Write(msg[:]); err != nil {
					c.Close()
					return err
				}
			}
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("peer send: %v", err)
	}
	var got []received
	socks := []*Socket{s0, s1}
	waitFor(socks, 300, func() bool {
		got = drain(s0, got)
		got = drain(s1, got)
		return len(got) >= flows*per
	})
	if len(got) != flows*per {
		t.Fatalf("received %d datagrams, sent %d", len(got), flows*per)
	}
	flowQueue := map[uint16]int{}
	seen := map[[2]uint32]bool{}
	perQueue := [2]int{}
	for _, r := range got {
		_, udp, err := decodeUDP(r.data)
		if err != nil {
			t.Fatal(err)
		}
		if len(udp.Payload) != 8 {
			t.Fatalf("payload %x", udp.Payload)
		}
		key := [2]uint32{binary.BigEndian.Uint32(udp.Payload), binary.BigEndian.Uint32(udp.Payload[4:])}
		if seen[key] {
			t.Fatalf("datagram %v received twice", key)
		}
		seen[key] = true
		perQueue[r.queue]++
		if q, ok := flowQueue[uint16(udp.SrcPort)]; ok && q != r.queue {
			t.Fatalf("flow from port %d arrived on queues %d and %d", udp.SrcPort, q, r.queue)
		}
		flowQueue[uint16(udp.SrcPort)] = r.queue
	}
	t.Logf("per queue: %v (mode %v)", perQueue, s0.Mode())
	if perQueue[0] == 0 || perQueue[1] == 0 {
		t.Fatalf("a queue received nothing: %v", perQueue)
	}
	for _, s := range socks {
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.RxDropped != 0 || st.RxInvalidDescs != 0 || st.RxRingFull != 0 || st.TxInvalidDescs != 0 {
			t.Fatalf("queue %d stats: %+v", s.Queue(), st)
		}
	}
}

// TestSameQueueSharesRings: a second socket on the same (device, queue)
// shares the first one's fill and completion rings.
func TestSameQueueSharesRings(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	u, s0 := newUmemSocket(t, b.Server, 0, UmemConfig{FrameSize: 2048, FrameCount: 64, FillSize: 32, CompletionSize: 32})
	s1 := bindIn(t, b.Server, u, 0)
	if s1.Fill() != s0.Fill() || s1.Completion() != s0.Completion() {
		t.Fatal("same-queue sockets do not share fill/completion rings")
	}
	if s1.Fd() == s0.Fd() {
		t.Fatal("second socket reused the first fd")
	}
}

// TestBindErrors: what the user gets wrong comes back as the sentinel
// that says what to do.
func TestBindErrors(t *testing.T) {
	b := testbed.New(t, testbed.Options{MTU: 3000})
	bind := func(u *Umem, q int, cfg SocketConfig) error {
		return b.Server.Do(func() error {
			s, err := NewSocket(u, b.Server.Ifindex, q, cfg)
			if err == nil {
				t.Cleanup(func() { s.Close() })
			}
			return err
		})
	}
	small, err := NewUmem(UmemConfig{FrameSize: 2048, FrameCount: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	if err := bind(small, 0, SocketConfig{}); !errors.Is(err, ErrFrameTooSmall) {
		t.Fatalf("MTU 3000 with 2048-byte frames: %v, want ErrFrameTooSmall", err)
	}
	u, err := NewUmem(UmemConfig{FrameSize: 4096, FrameCount: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if err := bind(u, 1, SocketConfig{}); !errors.Is(err, ErrQueueRange) {
		t.Fatalf("queue 1 of 1: %v, want ErrQueueRange", err)
	}
	if err := bind(u, 0, SocketConfig{Mode: ModeZeroCopy}); !errors.Is(err, ErrNoXDPMode) {
		t.Fatalf("zero-copy on veth: %v, want ErrNoXDPMode", err)
	} else {
		t.Logf("zero-copy on veth: %v", err)
	}
	if err := bind(u, 0, SocketConfig{Mode: ModeCopy}); err != nil {
		t.Fatalf("copy mode after a failed zero-copy bind: %v", err)
	}
	other, err := NewUmem(UmemConfig{FrameSize: 4096, FrameCount: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := bind(other, 0, SocketConfig{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second UMEM on a bound queue: %v, want ErrBusy", err)
	} else {
		t.Logf("busy: %v", err)
	}
}

// TestCloseReleasesFds: a create/close cycle leaves no socket fd behind,
// and Close is idempotent.
func TestCloseReleasesFds(t *testing.T) {
	b := testbed.New(t, testbed.Options{Queues: 2})
	before := fdSet(t)
	for range 2 {
		u, err := NewUmem(UmemConfig{FrameSize: 2048, FrameCount: 128, FillSize: 64, CompletionSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		var s [3]*Socket
		err = b.Server.Do(func() (err error) {
			for i, q := range []int{0, 1, 1} {
				if s[i], err = NewSocket(u, b.Server.Ifindex, q, SocketConfig{RxSize: 64, TxSize: 64}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		open := fdSet(t)
		for i := range s {
			if tgt := open[s[i].Fd()]; !strings.HasPrefix(tgt, "socket:") || before[s[i].Fd()] == tgt {
				t.Fatalf("socket %d fd %d is %q, not a new socket", i, s[i].Fd(), tgt)
			}
		}
		if err := s[1].Close(); err != nil { // s[2] keeps queue 1's rings alive
			t.Fatal(err)
		}
		if err := s[1].Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := s[1].Stats(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Stats after Close: %v, want ErrClosed", err)
		}
		if _, err := s[2].Stats(); err != nil {
			t.Fatalf("queue 1's other socket after its peer closed: %v", err)
		}
		if err := u.Close(); err != nil { // closes s[0], s[2]
			t.Fatal(err)
		}
		if err := u.Close(); err != nil {
			t.Fatalf("second Umem.Close: %v", err)
		}
		for fd, tgt := range fdSet(t) {
			if strings.HasPrefix(tgt, "socket:") && before[fd] != tgt {
				t.Fatalf("fd %d -> %s still open after Close", fd, tgt)
			}
		}
	}
}

func fdSet(t *testing.T) map[int]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]string{}
	for _, e := range ents {
		fd, _ := strconv.Atoi(e.Name())
		if tgt, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			m[fd] = tgt
		}
	}
	return m
}
