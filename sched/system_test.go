package sched

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/tcpcheck"
	"github.com/sluicenet/sluice/testbed"
	"github.com/sluicenet/sluice/wire"
)

// TestHalfClose: a client that sends its request and calls CloseWrite
// still receives everything the server writes afterwards (twice the
// request, more than the 64 KiB send buffer, so Write holds some back),
// then the server's FIN.
func TestHalfClose(t *testing.T) {
	s := startServer(t, 1, testTCPConfig())
	const n = 10
	conns := s.dial(t, n)
	sent := runClients(t, conns, func(int) byte { return modeHalfClose }, 64<<10, 2)
	gs := s.settled(t, 10*time.Second)
	checkClean(t, s, gs, n, sent)
	if got := s.h.eofs.Load(); got != n {
		t.Errorf("OnEOF ran %d times, want %d", got, n)
	}
	l := gs.Loops[0]
	// The server answered after the peer's FIN and closed from LAST-ACK,
	// never from FIN-WAIT (it did not close first). (CLOSE-WAIT itself
	// lasts only inside one Input when the handler answers at once.)
	if l.Entered[tcp.LastAck] != n || l.Entered[tcp.FinWait1] != 0 {
		t.Errorf("entered LAST-ACK %d, FIN-WAIT-1 %d times; want %d and 0", l.Entered[tcp.LastAck], l.Entered[tcp.FinWait1], n)
	}
}

// TestServerCloseTimeWait: connections the server closes first go through
// FIN-WAIT-1, FIN-WAIT-2 and TIME-WAIT, and leave TIME-WAIT only after
// 2*MSL: in the compact table (the TCB freed at once), or, with the table
// off, in the TCB itself.
func TestServerCloseTimeWait(t *testing.T) {
	for _, table := range []bool{true, false} {
		t.Run(map[bool]string{true: "table", false: "tcb"}[table], func(t *testing.T) {
			cfg := testTCPConfig()
			cfg.MSL = 400 * time.Millisecond
			lc := LoopConfig{TCP: cfg}
			if !table {
				lc.TimeWaitMax = -1
			}
			s := startServerLoop(t, 1, lc)
			const n = 20
			conns := s.dial(t, n)
			sent := runClients(t, conns, func(int) byte { return modeServerCloseSlow }, 16<<10, 3)
			gs := s.settled(t, 10*time.Second)
			checkClean(t, s, gs, n, sent)
			l := gs.Loops[0]
			t.Logf("entered: FIN-WAIT-1 %d, FIN-WAIT-2 %d, CLOSING %d, TIME-WAIT %d; TCB TIME-WAIT freed %d, shortest stay %v; table %+v",
				l.Entered[tcp.FinWait1], l.Entered[tcp.FinWait2], l.Entered[tcp.Closing], l.Entered[tcp.TimeWait],
				l.TimeWaitFreed, l.TimeWaitMinHeld, l.TimeWaitTable)
			if l.Entered[tcp.FinWait1] != n || l.Entered[tcp.TimeWait] != n {
				t.Errorf("entered FIN-WAIT-1 %d, TIME-WAIT %d times, want %d", l.Entered[tcp.FinWait1], l.Entered[tcp.TimeWait], n)
			}
			// The client closes longer after our FIN than Linux delays an
			// ACK (TCP_DELACK_MAX, 200 ms), so our FIN is acknowledged on
			// its own and every connection waits in FIN-WAIT-2 for the
			// peer's FIN.
			if l.Entered[tcp.FinWait2] != n {
				t.Errorf("%d connections entered FIN-WAIT-2, want %d", l.Entered[tcp.FinWait2], n)
			}
			if table {
				tw := l.TimeWaitTable
				if tw.Inserted != n || tw.Expired != n || l.TimeWaitFreed != 0 {
					t.Errorf("table: %d inserted, %d expired; %d TCBs served TIME-WAIT; want %d, %d, 0", tw.Inserted, tw.Expired, l.TimeWaitFreed, n, n)
				}
				return
			}
			if l.TimeWaitFreed != n {
				t.Errorf("%d connections freed from TIME-WAIT, want %d", l.TimeWaitFreed, n)
			}
			if l.TimeWaitMinHeld < 2*cfg.MSL {
				t.Errorf("a connection left TIME-WAIT after %v, before 2*MSL = %v (RFC 9293 §3.6.1)", l.TimeWaitMinHeld, 2*cfg.MSL)
			}
		})
	}
}

// TestTwoLoops: on a two-queue veth, two loops each own the connections
// whose frames arrive on their queue; both get some and serve them alone
// (no segment reaches a loop that does not own its connection, which would
// answer it with a RST).
func TestTwoLoops(t *testing.T) {
	s := startServer(t, 2, testTCPConfig())
	const n = 64
	conns := s.dial(t, n)
	sent := runClients(t, conns, func(i int) byte { return "ES"[i%2] }, 8<<10, 4)
	gs := s.settled(t, 10*time.Second)
	checkClean(t, s, gs, n, sent)
	for _, l := range gs.Loops {
		t.Logf("loop %d: established %d, rx %d, tx %d", l.Queue, l.Established, l.RxFrames, l.TxFrames)
		if l.Established == 0 {
			t.Errorf("loop %d served no connection", l.Queue)
		}
		v, _ := s.h.byLoop.Load(l.Queue)
		if v == nil || uint64(v.(interface{ Load() int64 }).Load()) != l.Established {
			t.Errorf("loop %d: handler saw %v opens on it, stats %d", l.Queue, v, l.Established)
		}
	}
}

// TestIdleLoopsSleep: an idle server's loops sleep in poll(2): over 2 s of
// idleness the whole process uses well under a tenth of a core. (A
// resource check, not a timing assertion: a busy-polling loop burns a
// full core, 20 times the bound.)
func TestIdleLoopsSleep(t *testing.T) {
	s := startServer(t, 2, testTCPConfig())
	// Some traffic first, so the loops have been woken and gone back to
	// sleep.
	runClients(t, s.dial(t, 4), func(int) byte { return modeEcho }, 1<<10, 5)
	s.settled(t, 10*time.Second)
	time.Sleep(100 * time.Millisecond)
	before, err := s.g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	cpu0 := cpuTime(t)
	time.Sleep(2 * time.Second)
	used := cpuTime(t) - cpu0
	after, err := s.g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	for i := range after.Loops {
		a, b := &after.Loops[i], &before.Loops[i]
		cpu := a.CPUTime - b.CPUTime
		t.Logf("loop %d: %d iterations, %d sleeps, %v of CPU while idle", i, a.Iterations-b.Iterations, a.Sleeps-b.Sleeps, cpu)
		if a.CPUTime == 0 || cpu > 100*time.Millisecond {
			t.Errorf("loop %d thread: %v of CPU over 2 idle seconds (total %v)", i, cpu, a.CPUTime)
		}
	}
	t.Logf("process CPU over 2 s idle: %v", used)
	if used > 200*time.Millisecond {
		t.Errorf("idle server used %v of CPU in 2 s (want < 10%% of a core)", used)
	}
}

func cpuTime(t *testing.T) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestStatsDrops: frames the XDP program steers but wire rejects are
// counted per reason, and the connection count and timers follow what
// the clients did. Bad frames are written raw from the peer with an
// AF_PACKET socket: a TCP checksum error, an IPv4 header checksum error
// (the XDP program checks lengths, not checksums, so both are steered).
func TestStatsDrops(t *testing.T) {
	s := startServer(t, 1, testTCPConfig())
	b := s.bed
	spec := wire.TCPFrameSpec{
		Src: b.Peer.IPv4, Dst: b.Server.IPv4, SrcPort: 45000, DstPort: echoPort,
		Seq: 1, Flags: wire.TCPFlagSYN, Window: 1000,
	}
	copy(spec.SrcMAC[:], b.Peer.MAC)
	copy(spec.DstMAC[:], b.Server.MAC)
	good := make([]byte, 128)
	n, err := wire.BuildTCP(good, &spec, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	good = good[:n]
	badSum := append([]byte(nil), good...)
	badSum[len(badSum)-1] ^= 0xff // the payload octet: TCP checksum fails
	badHdr := append([]byte(nil), good...)
	badHdr[wire.EthernetHeaderLen+10] ^= 0x5a // IPv4 header checksum
	const copies = 3
	var frames [][]byte
	for range copies {
		frames = append(frames, badSum, badHdr)
	}

	// One clean connection first: it also shows the path is up.
	sent := runClients(t, s.dial(t, 1), func(int) byte { return modeEcho }, 4<<10, 6)
	s.settled(t, 10*time.Second)
	sendRaw(t, b.Peer.Ifindex, b.Peer.Do, frames)
	var gs GroupStats
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if gs, err = s.g.Stats(); err != nil {
			t.Fatal(err)
		}
		if gs.Loops[0].DroppedFrames() >= 2*copies {
			break
		}
	}
	l := gs.Loops[0]
	if l.Drops[wire.DropBadTCPChecksum] != copies || l.Drops[wire.DropBadIPChecksum] != copies {
		t.Errorf("drops %v: want %d bad TCP checksum and %d bad IPv4 checksum", l.Drops, copies, copies)
	}
	t.Logf("loop: rx %d frames, %d segments, drops %v, xsk %+v; XDP %+v", l.RxFrames, l.RxSegments, l.Drops, l.XSK, gs.XDP)
	if l.DroppedFrames() != 2*copies {
		t.Errorf("%d frames dropped, want %d", l.DroppedFrames(), 2*copies)
	}
	if l.Established != 1 || l.Closed != 1 || l.Conns != 0 || l.Timers != 0 || l.RxText != uint64(sent) {
		t.Errorf("stats %+v after one connection sending %d octets", l, sent)
	}
	if l.RxFrames != l.RxSegments+l.DroppedFrames() || l.TxFrames == 0 || l.TxSegments != l.TxFrames {
		t.Errorf("frame counts: rx %d (segments %d), tx %d (segments %d)", l.RxFrames, l.RxSegments, l.TxFrames, l.TxSegments)
	}
}

func sendRaw(t *testing.T, ifindex int, do func(func() error) error, frames [][]byte) {
	t.Helper()
	err := do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Ifindex: ifindex, Halen: 6}
		for _, f := range frames {
			if err := unix.Sendto(fd, f, 0, sa); err != nil {
				return fmt.Errorf("sendto: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("raw send from the peer: %v", err)
	}
}

// TestFlowChangesQueue: connections are spread over two loops; then the
// peer's traffic is forced onto queue 1 (XPS on its veth), as
// when Linux re-hashes a flow's TX queue. Loop 1 passes the segments of
// loop 0's connections on through the MPSC ring, and every connection
// still completes byte-exact and closes cleanly, with no RST.
func TestFlowChangesQueue(t *testing.T) {
	s := startServer(t, 2, testTCPConfig())
	const n = 32
	conns := s.dial(t, n)
	ctx := t.Context()
	p := s.bed.Peer
	// XPS: every CPU transmits on queue 1 from now on. A TCP socket
	// re-picks its queue whenever it has nothing in flight (ooo_okay), so
	// the connections dialed on queue 0 move at their next exchange.
	sysq := "/sys/class/net/" + p.Link + "/queues/"
	if out, err := p.Exec(ctx, "sh", "-c", fmt.Sprintf("echo 0 > %stx-0/xps_cpus && echo %x > %stx-1/xps_cpus", sysq, 1<<runtime.NumCPU()-1, sysq)); err != nil {
		t.Fatalf("XPS: %v %s", err, out)
	}
	sent := runClients(t, conns, func(i int) byte { return "ES"[i%2] }, 16<<10, 7)
	gs := s.settled(t, 10*time.Second)
	checkClean(t, s, gs, n, sent)
	l0, l1 := gs.Loops[0], gs.Loops[1]
	t.Logf("loop 0: established %d, forwarded in %d; loop 1: established %d, forwarded out %d (failed %d)",
		l0.Established, l0.ForwardedIn, l1.Established, l1.ForwardedOut, l1.ForwardFailed)
	if l0.Established == 0 || l1.Established == 0 {
		t.Fatalf("connections did not spread over both loops before the move")
	}
	if l1.ForwardedOut == 0 || l0.ForwardedIn != l1.ForwardedOut || l1.ForwardFailed != 0 {
		t.Errorf("loop 1 forwarded %d segments (%d failed), loop 0 got %d", l1.ForwardedOut, l1.ForwardFailed, l0.ForwardedIn)
	}
}

// TestEchoIPv6: the same echo over IPv6 (2001:2::1), beside IPv4 on the
// same loops.
func TestEchoIPv6(t *testing.T) {
	s := startServer(t, 1, testTCPConfig())
	const n = 20
	sent := runClients(t, s.dialTo(t, s.ap6, n), func(i int) byte { return "ESH"[i%3] }, 32<<10, 8)
	gs := s.settled(t, 10*time.Second)
	checkClean(t, s, gs, n, sent)
}

// postWriter opens connections and hands their refs to the test, which
// writes to them from its own goroutine through Loop.Post.
type postWriter struct {
	refs chan postRef
	echoHandler
}

type postRef struct {
	l   *Loop
	ref ConnRef
}

func (h *postWriter) OnOpen(c *Conn) {
	h.echoHandler.OnOpen(c)
	h.refs <- postRef{c.Loop(), c.Ref()}
}

// TestPostWriteAndPinning: a goroutine that is not the loop writes to a
// connection and closes it through Loop.Post; a stale ref resolves to
// nil; the loops' threads are pinned to the configured cores.
func TestPostWriteAndPinning(t *testing.T) {
	b := testbed.New(t, testbed.Options{Queues: 2})
	h := &postWriter{refs: make(chan postRef, 4), echoHandler: *newEchoHandler()}
	ap := netip.AddrPortFrom(b.Server.IPv4, echoPort)
	cores := []int{runtime.NumCPU() - 1, 0}
	g, err := Start(GroupConfig{Ifindex: b.Server.Ifindex, Queues: 2, Cores: cores,
		Listen: []netip.AddrPort{ap}, Handler: h, Loop: LoopConfig{TCP: testTCPConfig()}, Setup: b.Server.Do})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for i, l := range g.Loops() {
		var tid int
		for end := time.Now().Add(5 * time.Second); tid == 0 && time.Now().Before(end); time.Sleep(time.Millisecond) {
			tid = l.Thread()
		}
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &set); err != nil {
			t.Fatalf("loop %d thread %d: %v", i, tid, err)
		}
		if set.Count() != 1 || !set.IsSet(cores[i]) || l.Core() != cores[i] {
			t.Errorf("loop %d thread %d: affinity %d CPUs (CPU %d set: %v), want CPU %d", i, tid, set.Count(), cores[i], set.IsSet(cores[i]), cores[i])
		}
	}

	s := &server{bed: b, g: g, h: &h.echoHandler, ap: ap}
	c := s.dialTo(t, ap, 1)[0]
	var pr postRef
	select {
	case pr = <-h.refs:
	case <-time.After(5 * time.Second):
		t.Fatal("no OnOpen")
	}
	msg := []byte("written from another goroutine")
	done := make(chan error, 1)
	if err := pr.l.Post(func() {
		cn := pr.l.Conn(pr.ref)
		if cn == nil {
			done <- fmt.Errorf("ref %v does not resolve", pr.ref)
			return
		}
		if _, err := cn.Write(msg); err != nil {
			done <- err
			return
		}
		// Stats from the loop's own thread answers at once (no deadlock).
		if st, err := pr.l.Stats(time.Second); err != nil || st.Conns != 1 || st.CPUTime == 0 {
			done <- fmt.Errorf("on-thread stats: %d conns, CPU %v, %v", st.Conns, st.CPUTime, err)
			return
		}
		done <- cn.CloseWrite()
	}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c) // the message, then EOF
	if err != nil || string(got) != string(msg) {
		t.Fatalf("read %q, %v", got, err)
	}
	c.Close()
	s.settled(t, 10*time.Second)
	stale := make(chan bool, 1)
	pr.l.Post(func() { stale <- pr.l.Conn(pr.ref) == nil })
	if !<-stale {
		t.Fatal("a ref to a freed connection still resolves")
	}
}

// TestCloseAbortsConnections: closing the group resets the connections
// still open (the peer sees ECONNRESET rather than a silent hang), runs
// OnClose with ErrLoopClosed, and leaves nothing behind (testbed.Main
// checks fds; the bed's namespaces go with the test).
func TestCloseAbortsConnections(t *testing.T) {
	s := startServer(t, 1, testTCPConfig())
	c := s.dial(t, 1)[0]
	for end := time.Now().Add(5 * time.Second); s.h.opened.Load() == 0 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	if err := s.g.Close(); err != nil {
		t.Fatal(err)
	}
	if s.h.closed.Load() != 1 || s.h.errors()[ErrLoopClosed.Error()] != 1 {
		t.Fatalf("OnClose %d times, errors %v", s.h.closed.Load(), s.h.errors())
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var one [1]byte
	if _, err := c.Read(one[:]); !errors.Is(err, unix.ECONNRESET) {
		t.Fatalf("peer read after the server closed: %v, want ECONNRESET", err)
	}
	if _, err := s.g.Loops()[0].Stats(time.Second); err != nil {
		t.Fatalf("stats of a stopped loop: %v", err)
	}
	if err := s.g.Loops()[0].Post(func() {}); !errors.Is(err, ErrLoopClosed) {
		t.Fatalf("Post on a stopped loop: %v", err)
	}
}

// TestLossyEcho: with 2% of the frames lost each way inside the loop
// (the testbed kernel has no netem), the Linux peer's retransmissions and
// the loop's own (RTO via the timer wheel) still deliver every octet.
func TestLossyEcho(t *testing.T) {
	s := startServerLoop(t, 1, LoopConfig{TCP: testTCPConfig(), loss: 0.02})
	checkOutput(t, s.g, s.bed.Server.MTU)
	const n = 20
	sent := runClients(t, s.dial(t, n), func(i int) byte { return "ESH"[i%3] }, 32<<10, 9)
	gs := s.settled(t, 20*time.Second)
	l := gs.Loops[0]
	t.Logf("lost %d frames; %d timers fired; rx %d, tx %d; retransmits %d at the sink, engine %+v", l.Lost, l.TimersFired, l.RxFrames, l.TxFrames, l.Retransmits, l.TCP)
	if l.Lost == 0 || l.TimersFired == 0 {
		t.Errorf("no loss injected (%d) or no timer fired (%d)", l.Lost, l.TimersFired)
	}
	// Our lost segments were sent again: both counts saw it, and the
	// engine's (data only) never exceeds the sink's (SYN, FIN too).
	if l.Retransmits == 0 || l.TCP.Retransmits == 0 || l.TCP.Retransmits > l.Retransmits {
		t.Errorf("retransmits: %d at the sink, %d by the engine", l.Retransmits, l.TCP.Retransmits)
	}
	if s.h.opened.Load() != n || s.h.closed.Load() != n || len(s.h.errors()) != 0 {
		t.Errorf("opened %d, closed %d, errors %v", s.h.opened.Load(), s.h.closed.Load(), s.h.errors())
	}
	if l.RxText != uint64(sent) {
		t.Errorf("%d octets delivered, %d sent", l.RxText, sent)
	}
}

// checkOutput puts an output checker (tcp/tcpcheck) on every frame g's
// loops send, failing t on a violation; its wall clock gets the timer
// wheel's lateness as slack.
func checkOutput(t *testing.T, g *Group, mtu int) {
	c := &tcpcheck.Checker{MTU: mtu, Slack: 50 * time.Millisecond, Fail: func(msg string) { t.Error(msg) }}
	g.SetTap(tcpcheck.WallTap{C: c})
	t.Cleanup(func() { g.SetTap(nil) })
}
