package afxdp

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/testbed"
)

const testPort = 9999

// TestRxUDP: datagrams a kernel socket in the peer sends to the redirected
// port arrive on the AF_XDP socket intact; ping (not redirected) keeps
// working through the kernel at the same time.
func TestRxUDP(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	u, s := newUmemSocket(t, b.Server, 0, UmemConfig{FrameSize: 2048, FrameCount: 256, FillSize: 128, CompletionSize: 128})
	t.Logf("veth bound in %s mode", s.Mode())
	if s.Mode() != ModeCopy && s.Mode() != ModeZeroCopy {
		t.Fatalf("Mode() = %v", s.Mode())
	}
	xsks := udpRedirect(t, b.Server, testPort, 1)
	if err := xsks.Put(uint32(0), uint32(s.Fd())); err != nil {
		t.Fatal(err)
	}
	fillFrom(t, s, u.NewPool(0, 128))

	const n = 20
	var want [][]byte
	for i := range n {
		want = append(want, []byte(fmt.Sprintf("sluice rx %02d %s", i, bytes.Repeat([]byte{'x'}, i*50))))
	}
	if err := sendUDP(b, 40000, testPort, want...); err != nil {
		t.Fatalf("peer send: %v", err)
	}
	var got []received
	if !waitFor([]*Socket{s}, 300, func() bool { got = drain(s, got); return len(got) >= n }) {
		t.Fatalf("received %d of %d frames", len(got), n)
	}
	for i, r := range got {
		ip, udp, err := decodeUDP(r.data)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !ip.SrcIP.Equal(b.Peer.IPv4.AsSlice()) || udp.SrcPort != 40000 || udp.DstPort != testPort {
			t.Fatalf("frame %d: %v:%d -> :%d", i, ip.SrcIP, udp.SrcPort, udp.DstPort)
		}
		if !bytes.Equal(udp.Payload, want[i]) {
			t.Fatalf("frame %d payload %q, want %q", i, udp.Payload, want[i])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := b.Peer.Exec(ctx, "ping", "-c", "2", "-i", "0.2", "-W", "2", b.Server.IPv4.String()); err != nil {
		t.Fatalf("ping through the kernel while AF_XDP is bound: %v\n%s", err, out)
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.RxDropped != 0 || st.RxInvalidDescs != 0 || st.RxRingFull != 0 {
		t.Fatalf("stats show losses: %+v", st)
	}
}

// TestTxUDP: a frame built in user space leaves through the TX ring, a
// kernel UDP socket in the peer receives it, and the completion ring
// returns the frame.
func TestTxUDP(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	u, s := newUmemSocket(t, b.Server, 0, UmemConfig{FrameSize: 2048, FrameCount: 64, FillSize: 32, CompletionSize: 32})
	var pc net.PacketConn
	if err := b.Peer.Do(func() (err error) {
		pc, err = net.ListenPacket("udp4", net.JoinHostPort(b.Peer.IPv4.String(), "7777"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()

	payload := []byte("built in user space, sent through the TX ring")
	frame := buildUDP(t, b.Server, b.Peer, 5555, 7777, payload)
	pool := u.NewPool(0, 64)
	addr, _ := pool.Get()
	copy(u.Frame(addr, uint32(len(frame))), frame)
	tx := s.Tx()
	idx, got := tx.Reserve(1)
	if got != 1 {
		t.Fatal("TX ring full")
	}
	tx.Set(idx, addr, uint32(len(frame)))
	tx.Submit(1)
	if err := s.WakeupTx(); err != nil {
		t.Fatal(err)
	}

	buf := make([]byte, 2048)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("peer did not receive the frame: %v", err)
	}
	if !bytes.Equal(buf[:n], payload) {
		t.Fatalf("peer got %q", buf[:n])
	}
	if ua := from.(*net.UDPAddr); !ua.IP.Equal(b.Server.IPv4.AsSlice()) || ua.Port != 5555 {
		t.Fatalf("peer got it from %v", from)
	}
	comp := s.Completion()
	var done uint64 = ^uint64(0)
	waitFor([]*Socket{s}, 300, func() bool {
		if i, n := comp.Peek(1); n == 1 {
			done = comp.Addr(i)
			comp.Release(1)
			return true
		}
		s.WakeupTx()
		return false
	})
	if done != addr {
		t.Fatalf("completion ring returned %#x, want %#x", done, addr)
	}
	pool.Put(done)
	if pool.Len() != 64 {
		t.Fatalf("pool has %d frames after completion, want 64", pool.Len())
	}
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.TxInvalidDescs != 0 {
		t.Fatalf("TX invalid descriptors: %+v", st)
	}
	t.Logf("stats %+v", st)
}

// TestTxBudget: one copy-mode TX wakeup sends at most the budget: by
// default the TX ring's size (here every frame submitted), TxBudget when
// set (XDP_MAX_TX_SKB_BUDGET).
func TestTxBudget(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	for _, budget := range []uint32{0, 64} {
		u, err := NewUmem(UmemConfig{FrameSize: 2048, FrameCount: 256})
		if err != nil {
			t.Fatal(err)
		}
		s := bindInCfg(t, b.Server, u, 0, SocketConfig{TxBudget: budget})
		if s.Mode() != ModeCopy {
			u.Close()
			t.Fatalf("veth bound in %v mode; expected copy", s.Mode())
		}
		frame := buildUDP(t, b.Server, b.Peer, 5555, 7777, []byte("budget"))
		p := u.NewPool(0, 256)
		tx := s.Tx()
		idx, got := tx.Reserve(100)
		for i := range got {
			a, _ := p.Get()
			copy(u.Frame(a, uint32(len(frame))), frame)
			tx.Set(idx+i, a, uint32(len(frame)))
		}
		tx.Submit(got)
		if err := s.WakeupTx(); err != nil {
			t.Fatal(err)
		}
		want := min(100, s.TxBudget()) // the ring's 2048, or 32 on Linux < 6.17
		if budget != 0 {
			want = budget
		}
		if sent := 100 - tx.Pending(); sent != want {
			t.Errorf("budget %d: one wakeup sent %d frames, want %d", budget, sent, want)
		}
		u.Close()
	}
}

// TestStatsCountDrops: with an empty fill ring the kernel has nowhere to
// put redirected frames; XDP_STATISTICS must say so.
func TestStatsCountDrops(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	_, s := newUmemSocket(t, b.Server, 0, UmemConfig{FrameSize: 2048, FrameCount: 64, FillSize: 32, CompletionSize: 32})
	xsks := udpRedirect(t, b.Server, testPort, 1)
	if err := xsks.Put(uint32(0), uint32(s.Fd())); err != nil {
		t.Fatal(err)
	}
	const n = 10
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = []byte("nowhere to land")
	}
	if err := sendUDP(b, 40003, testPort, msgs...); err != nil {
		t.Fatal(err)
	}
	var st Stats
	waitFor([]*Socket{s}, 100, func() bool {
		var err error
		if st, err = s.Stats(); err != nil {
			t.Fatal(err)
		}
		return st.RxFillRingEmptyDescs >= n
	})
	if st.RxFillRingEmptyDescs < n || st.RxDropped < n {
		t.Fatalf("after %d frames with an empty fill ring: %+v", n, st)
	}
	if _, got := s.Rx().Peek(64); got != 0 {
		t.Fatalf("%d frames on the RX ring without fill buffers", got)
	}
}

// TestBusyPollOptions: the busy-poll options reach the socket (read back
// with getsockopt; SO_BUSY_POLL_BUDGET has no getsockopt, and NewSocket
// fails if setting it fails).
func TestBusyPollOptions(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	_, s := newUmemSocketB(t, b.Server, UmemConfig{FrameSize: 2048, FrameCount: 64},
		SocketConfig{BusyPoll: 50 * time.Microsecond, PreferBusyPoll: true, BusyPollBudget: 64})
	for opt, want := range map[int]int{unix.SO_BUSY_POLL: 50, unix.SO_PREFER_BUSY_POLL: 1} {
		got, err := unix.GetsockoptInt(s.Fd(), unix.SOL_SOCKET, opt)
		if err != nil || got != want {
			t.Errorf("option %d = %d, %v; want %d", opt, got, err, want)
		}
	}
}

// TestTxMemory: the socket's send buffer, which copy-mode transmit
// charges an skb per frame until the receiver orphans it, holds one for
// every TX ring entry (setTxMemory), so it is never what stops a burst.
func TestTxMemory(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	const txSize = 1024
	_, s := newUmemSocketB(t, b.Server, UmemConfig{FrameSize: 2048, FrameCount: 64, FillSize: 32, CompletionSize: 32}, SocketConfig{TxSize: txSize})
	got, err := unix.GetsockoptInt(s.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		t.Fatal(err)
	}
	if got < txSize*4096 {
		t.Fatalf("SO_SNDBUF %d, want at least %d (a TX ring of %d)", got, txSize*4096, txSize)
	}
}
