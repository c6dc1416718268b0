package impair

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/testbed"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// startBed makes a testbed with a middle namespace and a forwarder in it,
// both removed at the end of the test.
func startBed(t *testing.T, c Config) (*testbed.Bed, *Forwarder) {
	t.Helper()
	b := testbed.New(t, testbed.Options{Middle: true})
	f, err := Start(b.Middle, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("forwarder close: %v", err)
		}
	})
	return b, f
}

const udpPort = 9000

// isUDPTo matches IPv4 UDP frames to port: the tests count exactly the
// datagrams they sent, untouched by the namespaces' own IPv6 chatter.
func isUDPTo(port uint16) func([]byte) bool {
	return func(f []byte) bool {
		if len(f) < 14+20+8 || f[12] != 0x08 || f[13] != 0x00 || f[23] != unix.IPPROTO_UDP {
			return false
		}
		ihl := int(f[14]&0x0f) * 4
		return len(f) >= 14+ihl+8 && binary.BigEndian.Uint16(f[14+ihl+2:]) == port
	}
}

// arrival is one datagram the receiver got: the sender's sequence number
// and how long it took (both ends read the same clock).
type arrival struct {
	seq     uint32
	latency time.Duration
}

// udpRun sends n datagrams of size octets from Peer to Server, pacing them
// every gap (batches of 16 when gap is 0), and returns what arrived, in
// arrival order, once nothing more came for quiet.
func udpRun(t *testing.T, b *testbed.Bed, n, size int, gap, quiet time.Duration) []arrival {
	t.Helper()
	var rc *net.UDPConn
	if err := b.Server.Do(func() (err error) {
		rc, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.Server.IPv4, udpPort)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if raw, err := rc.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 32<<20) })
	}
	var sc *net.UDPConn
	if err := b.Peer.Do(func() (err error) {
		sc, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.Server.IPv4, udpPort)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	// Resolve the neighbour first (ARP is never impaired), so the first
	// datagrams do not wait in the kernel's ARP queue (3 frames deep).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.Peer.Exec(ctx, "ping", "-c", "1", "-W", "2", b.Server.IPv4.String()); err != nil {
		t.Fatal(err)
	}
	var got []arrival
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			rc.SetReadDeadline(time.Now().Add(quiet))
			k, err := rc.Read(buf)
			if err != nil {
				return
			}
			if k < 12 {
				continue
			}
			sent := int64(binary.BigEndian.Uint64(buf[4:]))
			got = append(got, arrival{binary.BigEndian.Uint32(buf), time.Duration(time.Now().UnixNano() - sent)})
		}
	}()
	msg := make([]byte, size)
	for i := range n {
		binary.BigEndian.PutUint32(msg, uint32(i))
		binary.BigEndian.PutUint64(msg[4:], uint64(time.Now().UnixNano()))
		if _, err := sc.Write(msg); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if gap > 0 {
			time.Sleep(gap)
		} else if i%16 == 15 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	<-done
	return got
}

// settled returns the counters once they stop changing: a frame read is
// counted before its batch is written, so a snapshot taken while the last
// frames of a transfer (ACKs, FINs) are in flight is not yet balanced.
func settled(f *Forwarder) (toPeer, toServer Stats) {
	toPeer, toServer = f.Stats()
	for range 100 {
		time.Sleep(50 * time.Millisecond)
		p, s := f.Stats()
		if p == toPeer && s == toServer {
			break
		}
		toPeer, toServer = p, s
	}
	return toPeer, toServer
}

// within asserts that k of n trials is a plausible Binomial(n, p) outcome:
// within 6 standard deviations (a fixed seed makes it the same every run;
// the bound makes the test say what it means).
func within(t *testing.T, what string, k, n uint64, p float64) {
	t.Helper()
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	if math.Abs(float64(k)-mean) > 6*sd+1 {
		t.Errorf("%s: %d of %d, want about %.0f (p=%v, sd %.1f)", what, k, n, mean, p, sd)
	}
	t.Logf("%s: %d of %d (expected %.1f ± %.1f)", what, k, n, mean, sd)
}

// checkAccounts: every datagram read in is lost, overflowed or sent, and
// the receiver got exactly what was sent; nothing was dropped by a kernel.
func checkAccounts(t *testing.T, s Stats, n int, got []arrival) {
	t.Helper()
	t.Logf("to server: %v", s)
	imp := s.Received - s.Passed
	if imp != uint64(n) {
		t.Errorf("forwarder read %d datagrams, %d were sent", imp, n)
	}
	if s.KernelDrops != 0 || s.SendErrors != 0 || s.Oversize != 0 {
		t.Errorf("unchosen loss: %v", s)
	}
	if out := s.Received - s.Lost - s.Overflow + s.Duplicated; s.Sent != out {
		t.Errorf("forwarder sent %d frames, its decisions say %d", s.Sent, out)
	}
	if want := s.Sent - s.Passed; uint64(len(got)) != want {
		t.Errorf("receiver got %d datagrams, forwarder sent %d", len(got), want)
	}
}

func TestForwardUntouched(t *testing.T) {
	b, f := startBed(t, Config{Seed: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := b.Peer.Exec(ctx, "ping", "-c", "1", "-W", "2", b.Server.IPv4.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Server.Exec(ctx, "ping", "-6", "-c", "1", "-W", "2", b.Peer.IPv6.String()); err != nil {
		t.Fatal(err)
	}
	sum, got := linuxTransfer(t, b, b.Server.IPv6, 4<<20)
	if sum != got {
		t.Fatalf("sha256 sent %x, received %x", sum, got)
	}
	toPeer, toServer := settled(f)
	t.Logf("to peer: %v\nto server: %v", toPeer, toServer)
	for _, s := range []Stats{toPeer, toServer} {
		if s.Sent != s.Received || s.Lost+s.Duplicated+s.Reordered+s.Overflow+s.KernelDrops != 0 {
			t.Errorf("untouched forwarding changed something: %v", s)
		}
	}
	if toServer.SentBytes < 4<<20 {
		t.Errorf("4 MiB crossed but only %d octets went to the server", toServer.SentBytes)
	}
}

func TestForwardLoss(t *testing.T) {
	const n = 20000
	c := Config{Seed: 7, ToServer: Impairment{Loss: 0.05}, Match: isUDPTo(udpPort)}
	b, f := startBed(t, c)
	got := udpRun(t, b, n, 100, 0, 300*time.Millisecond)
	_, s := settled(f)
	checkAccounts(t, s, n, got)
	within(t, "lost", s.Lost, n, 0.05)
	// The same seed and the same frames make the same decisions.
	if s2 := replay(c.Seed, 2, c.ToServer, n); s2.Lost != s.Lost {
		t.Errorf("replayed decisions lose %d, the forwarder lost %d", s2.Lost, s.Lost)
	}
}

func TestForwardDuplicate(t *testing.T) {
	const n = 20000
	b, f := startBed(t, Config{Seed: 11, ToServer: Impairment{Duplicate: 0.01}, Match: isUDPTo(udpPort)})
	got := udpRun(t, b, n, 100, 0, 300*time.Millisecond)
	_, s := settled(f)
	checkAccounts(t, s, n, got)
	within(t, "duplicated", s.Duplicated, n, 0.01)
	seen := map[uint32]int{}
	for _, a := range got {
		seen[a.seq]++
	}
	twice := 0
	for _, k := range seen {
		if k == 2 {
			twice++
		}
	}
	if len(seen) != n || uint64(twice) != s.Duplicated {
		t.Errorf("receiver saw %d distinct datagrams (want %d), %d twice (forwarder duplicated %d)", len(seen), n, twice, s.Duplicated)
	}
}

func TestForwardReorder(t *testing.T) {
	const n = 5000
	imp := Impairment{Reorder: 0.25, ReorderDelay: 20 * time.Millisecond}
	b, f := startBed(t, Config{Seed: 13, ToServer: imp, Match: isUDPTo(udpPort)})
	// One datagram every 100 µs or more: each held one is overtaken by
	// those sent in the next 20 ms, except near the end of the run.
	got := udpRun(t, b, n, 100, 100*time.Microsecond, 300*time.Millisecond)
	_, s := settled(f)
	checkAccounts(t, s, n, got)
	within(t, "reordered", s.Reordered, n, 0.25)
	late := uint64(0)
	var high uint32
	for i, a := range got {
		if i > 0 && a.seq < high {
			late++
		}
		high = max(high, a.seq)
	}
	// Only a held frame can arrive late. A held frame arrives late unless
	// nothing was sent after it within ReorderDelay: only the last few,
	// or frames held while the sender was descheduled for 20 ms (a loaded
	// machine), hence the loose lower bound.
	if late > s.Reordered || late < s.Reordered*8/10 {
		t.Errorf("%d datagrams arrived after a later one; the forwarder held back %d", late, s.Reordered)
	}
	t.Logf("%d late arrivals, %d held back", late, s.Reordered)
}

func TestForwardDelay(t *testing.T) {
	const n = 2000
	for _, reorders := range []bool{false, true} {
		imp := Impairment{Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond, JitterReorders: reorders}
		b, f := startBed(t, Config{Seed: 17, ToServer: imp, Match: isUDPTo(udpPort)})
		got := udpRun(t, b, n, 100, 50*time.Microsecond, 300*time.Millisecond)
		_, s := settled(f)
		checkAccounts(t, s, n, got)
		lo, hi, late := time.Hour, time.Duration(0), 0
		var sum time.Duration
		for i, a := range got {
			lo, hi, sum = min(lo, a.latency), max(hi, a.latency), sum+a.latency
			if i > 0 && a.seq < got[i-1].seq {
				late++
			}
		}
		t.Logf("JitterReorders %v: one-way latency min %v mean %v max %v; %d out of order", reorders, lo, sum/time.Duration(len(got)), hi, late)
		// Causal bounds only: no frame leaves before its release time,
		// and some draws land near the top of the jitter range.
		if lo < imp.Delay-imp.Jitter {
			t.Errorf("a datagram arrived after %v, below Delay-Jitter %v", lo, imp.Delay-imp.Jitter)
		}
		if hi < imp.Delay+imp.Jitter*8/10 {
			t.Errorf("no datagram was held longer than %v (jitter not applied?)", hi)
		}
		if reorders != (late > 0) {
			t.Errorf("JitterReorders %v but %d datagrams out of order", reorders, late)
		}
	}
}

func TestForwardRate(t *testing.T) {
	const n, size = 2000, 1000
	const rate = 20_000_000 // bit/s
	b, f := startBed(t, Config{Seed: 19, ToServer: Impairment{Rate: rate, Limit: 100}, Match: isUDPTo(udpPort)})
	start := time.Now()
	got := udpRun(t, b, n, size, 0, 300*time.Millisecond)
	_, s := settled(f)
	checkAccounts(t, s, n, got)
	if s.Overflow == 0 || s.MaxQueue > 100 {
		t.Errorf("a burst into a 100-frame queue at %d bit/s: overflow %d, max queue %d", rate, s.Overflow, s.MaxQueue)
	}
	// The first frame leaves after its own transmission time, each
	// next one at least its own later: k frames take k×bits/rate.
	frame := size + 8 + 20 + 14
	least := time.Duration(float64(len(got)*frame*8) / rate * float64(time.Second))
	el := time.Since(start)
	t.Logf("%d of %d datagrams through at %d bit/s in %v (at least %v), overflow %d, max queue %d, queue wait p50 %v p99 %v",
		len(got), n, rate, el, least, s.Overflow, s.MaxQueue, s.QueueWaitP50, s.QueueWaitP99)
	if el < least {
		t.Errorf("%d frames crossed in %v, faster than %d bit/s allows (%v)", len(got), el, rate, least)
	}
	// The burst queued frames behind each other, and none waited longer
	// than a full queue of Limit frames takes to send (the quantiles
	// round up to the millisecond).
	full := time.Duration(float64(100*frame*8) / rate * float64(time.Second))
	if s.QueueWaitP99 <= 0 || s.QueueWaitP50 > s.QueueWaitP99 || s.QueueWaitP99 > full+time.Millisecond {
		t.Errorf("queue wait p50 %v, p99 %v: want p50 <= p99, 0 < p99 <= %v (100 frames at %d bit/s)", s.QueueWaitP50, s.QueueWaitP99, full+time.Millisecond, rate)
	}
}

// TestForwardTCPUnderLoss: Linux to Linux through 1% loss both ways, 8 MiB,
// byte-exact.
func TestForwardTCPUnderLoss(t *testing.T) {
	b, f := startBed(t, Both(23, Impairment{Loss: 0.01, Duplicate: 0.01}))
	sum, got := linuxTransfer(t, b, b.Server.IPv4, 8<<20)
	if sum != got {
		t.Fatalf("sha256 sent %x, received %x", sum, got)
	}
	toPeer, toServer := settled(f)
	t.Logf("to peer: %v\nto server: %v", toPeer, toServer)
	if toServer.Lost == 0 || toPeer.Lost == 0 {
		t.Errorf("no loss applied: %v / %v", toServer, toPeer)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, i := range []Impairment{{Loss: 1.5}, {Duplicate: -0.1}, {Reorder: math.NaN()}, {Delay: time.Millisecond, Jitter: 2 * time.Millisecond}, {Rate: -1}} {
		if err := i.validate(); err == nil {
			t.Errorf("%+v: no error", i)
		}
	}
	if _, err := Start(nil, Config{}); err == nil {
		t.Error("Start without a middle namespace: no error")
	}
}

// replay draws the decisions a direction would make for n matched frames.
func replay(seed, stream uint64, imp Impairment, n int) Stats {
	rng := rand.New(rand.NewPCG(seed, stream))
	var s Stats
	for range n {
		rl, rd, rr, _ := rng.Float64(), rng.Float64(), rng.Float64(), rng.Float64()
		switch {
		case rl < imp.Loss:
			s.Lost++
		default:
			if rd < imp.Duplicate {
				s.Duplicated++
			}
			if rr < imp.Reorder {
				s.Reordered++
			}
		}
	}
	return s
}

// linuxTransfer sends size pseudo-random octets over kernel TCP from Peer
// to a listener at addr in Server's namespace and returns the sha256 of
// what was sent and of what arrived.
func linuxTransfer(t *testing.T, b *testbed.Bed, addr netip.Addr, size int) (sent, got [32]byte) {
	t.Helper()
	ln := b.Server.ListenTCP(t, netip.AddrPortFrom(addr, 0).String())
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Minute))
		h := sha256.New()
		io.Copy(h, c)
		h.Sum(got[:0])
	}()
	var c net.Conn
	if err := b.Peer.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	h := sha256.New()
	if _, err := io.Copy(c, io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{1}), int64(size)), h)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	h.Sum(sent[:0])
	wg.Wait()
	return sent, got
}
