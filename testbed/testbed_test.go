package testbed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/wire"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { Main(m) }

// TestBedConnectsPeers checks the wire itself: ping both ways, kernel TCP
// over IPv4 and IPv6 from Peer to Server, offloads off on both ends, queue
// count and MTU as asked.
func TestBedConnectsPeers(t *testing.T) {
	b := New(t, Options{Queues: 2, MTU: 1500})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := b.Peer.Exec(ctx, "ping", "-c", "1", "-W", "2", b.Server.IPv4.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Server.Exec(ctx, "ping", "-6", "-c", "1", "-W", "2", b.Peer.IPv6.String()); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []netip.Addr{b.Server.IPv4, b.Server.IPv6} {
		echoOnce(t, b, addr)
	}
	for _, h := range []*Host{b.Server, b.Peer} {
		out, err := h.Exec(ctx, "ethtool", "-k", h.Link)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"tx-checksum-ip-generic: off", "tx-tcp-segmentation: off", "tx-tcp6-segmentation: off", "generic-segmentation-offload: off"} {
			if !strings.Contains(out, f) {
				t.Errorf("%s %s: want %q in ethtool -k:\n%s", h.Name, h.Link, f, out)
			}
		}
		out, err = h.Exec(ctx, "ls", "/sys/class/net/"+h.Link+"/queues")
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(out, "rx-"); n != 2 {
			t.Errorf("%s: %d rx queues, want 2", h.Name, n)
		}
	}
}

// echoOnce serves one TCP echo in Server's namespace and dials it from Peer's.
func echoOnce(t *testing.T, b *Bed, addr netip.Addr) {
	t.Helper()
	ln := b.Server.ListenTCP(t, netip.AddrPortFrom(addr, 0).String())
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	var c net.Conn
	if err := b.Peer.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := []byte("over the veth " + addr.String())
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
		t.Fatalf("echo via %s: %q, %v", addr, got, err)
	}
}

// TestCloseRemovesEverything: after Close the namespaces are gone, and
// Close is idempotent.
func TestCloseRemovesEverything(t *testing.T) {
	Require(t)
	b, err := Create(Options{})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{b.Server.Name, b.Peer.Name}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := os.Stat(netnsDir + "/" + n); !os.IsNotExist(err) {
			t.Errorf("netns %s still present after Close (%v)", n, err)
		}
	}
}

// TestDoSurvivesGoexit: fn ending its goroutine (as t.Fatal does) makes Do
// return an error instead of hanging.
func TestDoSurvivesGoexit(t *testing.T) {
	b := New(t, Options{})
	err := b.Server.Do(func() error { runtime.Goexit(); return nil })
	if err == nil || !strings.Contains(err.Error(), "Goexit") {
		t.Fatalf("Do after Goexit: %v", err)
	}
	if err := b.Server.Do(func() error { return nil }); err != nil {
		t.Fatalf("Do after a Goexit: %v", err)
	}
}

// TestMiddleCarriesNothingByItself: with Options.Middle the two ends are
// joined only through the middle namespace, which forwards nothing until a
// user-space forwarder does (testbed/impair tests that part); its links
// have GRO, TSO, GSO and TX checksum offload off; Close removes all three
// namespaces.
func TestMiddleCarriesNothingByItself(t *testing.T) {
	Require(t)
	b, err := Create(Options{Middle: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if b.Server.IPv4 != ServerIPv4 || b.Peer.IPv4 != PeerIPv4 || b.Server.Link != serverLink || b.Peer.Link != peerLink {
		t.Errorf("ends changed with a middle: %+v %+v", b.Server, b.Peer)
	}
	if out, err := b.Peer.Exec(ctx, "ping", "-c", "1", "-W", "1", b.Server.IPv4.String()); err == nil {
		t.Fatalf("ping crossed the middle with no forwarder:\n%s", out)
	}
	for _, p := range []Port{b.Middle.ServerSide, b.Middle.PeerSide} {
		if p.Ifindex == 0 || len(p.MAC) != 6 {
			t.Errorf("middle port %+v", p)
		}
		out, err := b.Middle.Exec(ctx, "ethtool", "-k", p.Link)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"tx-checksum-ip-generic: off", "tx-tcp-segmentation: off", "generic-segmentation-offload: off", "generic-receive-offload: off"} {
			if !strings.Contains(out, f) {
				t.Errorf("%s: want %q in ethtool -k:\n%s", p.Link, f, out)
			}
		}
	}
	if out, err := b.Middle.Exec(ctx, "ip", "-6", "addr"); err != nil || strings.Contains(out, "inet6") {
		t.Errorf("middle namespace has IPv6 addresses (%v):\n%s", err, out)
	}
	names := []string{b.Server.Name, b.Peer.Name, b.Middle.Name}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := os.Stat(netnsDir + "/" + n); !os.IsNotExist(err) {
			t.Errorf("netns %s still present after Close (%v)", n, err)
		}
	}
}

// TestPeerOffloadsServed is the first try of a new user: the Peer's veth at
// the kernel's default offloads, so its TCP segments carry partial
// checksums (seen on the Server's tap), and still curl and net/http on the
// Peer get a 10 MB body exact, and a 10 MB upload arrives exact, over IPv4
// and IPv6.
func TestPeerOffloadsServed(t *testing.T) {
	b := New(t, Options{PeerOffloads: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, h := range []*Host{b.Server, b.Peer} {
		out, err := h.Exec(ctx, "ethtool", "-k", h.Link)
		if err != nil {
			t.Fatal(err)
		}
		want := map[*Host]string{b.Server: "tx-checksum-ip-generic: off", b.Peer: "tx-checksum-ip-generic: on"}[h]
		if !strings.Contains(out, want) {
			t.Fatalf("%s: want %q in ethtool -k:\n%s", h.Link, want, out)
		}
	}

	const port, size = 8080, 10 << 20
	body := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(body)
	sum := sha256.Sum256(body)
	srv := offloadServer(t, b, port, body)
	tap := &partialTap{}
	if err := srv.SetTap(tap); err != nil {
		t.Fatal(err)
	}
	upload := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(upload, body, 0o644); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: b.Peer.DialContext}}
	defer client.CloseIdleConnections()

	for i, addr := range []netip.Addr{b.Server.IPv4, b.Server.IPv6} {
		url := "http://" + HostPort(addr, port)
		before := tap.partial[i].Load()
		out, err := b.Peer.Exec(ctx, "curl", "-sS", "--max-time", "30", url+"/body")
		if err != nil || out != string(body) {
			t.Fatalf("curl GET %s: %d octets (want %d, exact: %v): %v", url, len(out), size, out == string(body), err)
		}
		out, err = b.Peer.Exec(ctx, "curl", "-sS", "--max-time", "30", "--data-binary", "@"+upload, url+"/sum")
		if want := hex.EncodeToString(sum[:]); err != nil || out != want {
			t.Fatalf("curl POST %s: %q, want %q: %v", url, out, want, err)
		}
		resp, err := client.Get(url + "/body")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("net/http GET %s: %d octets (want %d, exact: %v): %v", url, len(got), size, bytes.Equal(got, body), err)
		}
		resp, err = client.Post(url+"/sum", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := hex.EncodeToString(sum[:]); err != nil || string(got) != want {
			t.Fatalf("net/http POST %s: %q, want %q: %v", url, got, want, err)
		}
		if n := tap.partial[i].Load() - before; n == 0 {
			t.Fatalf("%s: no segment with a partial checksum reached the server: the test did not test", url)
		} else {
			t.Logf("%s: %d segments with partial checksums served", url, n)
		}
	}
	st, err := srv.Stats()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range st.Loops {
		for _, r := range []wire.DropReason{wire.DropBadTCPChecksum, wire.DropPartialChecksum} {
			if l.Drops[r] != 0 {
				t.Errorf("queue %d dropped %d frames as %v", l.Queue, l.Drops[r], r)
			}
		}
	}
}

// partialTap counts received TCP segments whose checksum is partial, per
// family (0: IPv4, 1: IPv6).
type partialTap struct{ partial [2]atomic.Uint64 }

func (p *partialTap) Frame(_ int, out bool, frame []byte) {
	var f wire.Frame
	if !out && wire.ParseFrame(frame, &f) == wire.DropPartialChecksum {
		p.partial[f.IPVersion/6].Add(1)
	}
}

// offloadServer serves body at /body and the SHA-256 of a request body at
// /sum through net/http on a sluice Listener on the bed's Server end.
func offloadServer(t *testing.T, b *Bed, port int, body []byte) *sluice.Server {
	t.Helper()
	srv, err := sluice.NewServer(sluice.Config{
		Interface: b.Server.Link,
		Netns:     b.Server.Name,
		Listen:    b.Server.Listen(port),
		Cores:     []int{-1},
		BusyPoll:  -1,
		MSL:       250 * time.Millisecond,
	}, nil)
	srv = StartServer(t, srv, err)
	mux := http.NewServeMux()
	mux.HandleFunc("/body", func(w http.ResponseWriter, _ *http.Request) { w.Write(body) })
	mux.HandleFunc("/sum", func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		if _, err := io.Copy(h, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		io.WriteString(w, hex.EncodeToString(h.Sum(nil)))
	})
	hs := &http.Server{Handler: mux}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(srv.Listener()) }()
	t.Cleanup(func() { // before StartServer's: net/http stops first
		hs.Close()
		srv.Close()
		<-done
	})
	return srv
}

// TestPeerOffloadsCounted: a sched group on the Server end counts the
// segments it accepted with a partial checksum (Loop.PartialChecksums),
// exactly those its tap saw arrive in that form, while echoing 256 KiB per
// family from the Peer's kernel TCP intact.
func TestPeerOffloadsCounted(t *testing.T) {
	b := New(t, Options{PeerOffloads: true})
	const port = 7
	g, err := sched.Start(sched.GroupConfig{
		Ifindex: b.Server.Ifindex,
		Cores:   []int{-1},
		Listen: []netip.AddrPort{
			netip.AddrPortFrom(b.Server.IPv4, port), netip.AddrPortFrom(b.Server.IPv6, port),
		},
		Handler: echo{},
		Setup:   b.Server.Do,
		Loop:    sched.LoopConfig{BusyPoll: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	tap := &partialTap{}
	g.SetTap(tap)
	msg := make([]byte, 256<<10)
	rand.NewChaCha8([32]byte{2}).Read(msg)
	for _, addr := range []netip.Addr{b.Server.IPv4, b.Server.IPv6} {
		c := b.Peer.Dial(t, HostPort(addr, port))
		c.SetDeadline(time.Now().Add(20 * time.Second))
		go c.Write(msg)
		got := make([]byte, len(msg))
		_, err := io.ReadFull(c, got)
		c.Close()
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("echo via %s: exact %v: %v", addr, bytes.Equal(got, msg), err)
		}
	}
	seen := func() uint64 { return tap.partial[0].Load() + tap.partial[1].Load() }
	counted := func() (n uint64) {
		for _, l := range g.Loops() {
			n += l.PartialChecksums()
		}
		return n
	}
	// The loop publishes its count at the end of each batch; the tap
	// sees a frame at its start.
	WaitFor(t, "the loops' count to reach the tap's", func() bool { return counted() == seen() })
	if tap.partial[0].Load() == 0 || tap.partial[1].Load() == 0 {
		t.Fatalf("tap saw %d (IPv4) + %d (IPv6) partial checksums, loops counted %d",
			tap.partial[0].Load(), tap.partial[1].Load(), counted())
	}
	// Stats, taken on each loop's thread between batches, counts every
	// frame the tap saw before it was asked and none it had not seen
	// by its answer.
	before := seen()
	gs, err := g.Stats()
	after := seen()
	if err != nil {
		t.Fatal(err)
	}
	if n := gs.PartialChecksums(); n < before || n > after {
		t.Fatalf("Stats counts %d partial checksums, tap saw %d before and %d after", n, before, after)
	}
	t.Logf("%d segments with partial checksums accepted", counted())
}

// echo writes back what it receives and closes after the peer's FIN.
type echo struct{}

func (echo) OnOpen(*sched.Conn)                {}
func (echo) OnData(c *sched.Conn, data []byte) { c.Write(data) }
func (echo) OnEOF(c *sched.Conn)               { c.Close() }
func (echo) OnClose(*sched.Conn, error)        {}

// TestTimeWaitReopenByTCB: with the compact TIME-WAIT table off, the TCB
// serves TIME-WAIT itself, and a new SYN from the same 4-tuple with a
// newer timestamp (RFC 6191) reopens it at once: the Peer's second connect
// from the same port gets in on its first SYN (no retransmission), though
// the server's TIME-WAIT would last a minute.
//
// Each reopened connection's ISS is the old incarnation's SND.NXT + 65537
// (RFC 6191, as Linux), checked on the wire by a tap, with TIME-WAIT in the
// TCB and in the compact table.
func TestTimeWaitReopenByTCB(t *testing.T) {
	for _, tc := range []struct {
		name  string
		twMax int
	}{{"TCB", -1}, {"table", 0}} {
		t.Run(tc.name, func(t *testing.T) { testTimeWaitReopen(t, tc.twMax) })
	}
}

func testTimeWaitReopen(t *testing.T, twMax int) {
	b := New(t, Options{})
	cfg, err := sched.DefaultTCPConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.MSL = 30 * time.Second
	const port = 7
	g, err := sched.Start(sched.GroupConfig{
		Ifindex: b.Server.Ifindex,
		Cores:   []int{-1},
		Listen:  []netip.AddrPort{netip.AddrPortFrom(b.Server.IPv4, port), netip.AddrPortFrom(b.Server.IPv6, port)},
		Handler: closeFirst{},
		Setup:   b.Server.Do,
		Loop:    sched.LoopConfig{BusyPoll: -1, TCP: cfg, TimeWaitMax: twMax},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	tap := &issTap{finNxt: map[uint16]uint32{}, iss: map[uint16]uint32{}}
	g.SetTap(tap)
	timeWait := func() int {
		st, err := g.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if twMax < 0 {
			return st.Loops[0].ByState[tcp.TimeWait]
		}
		return st.Loops[0].TimeWait
	}
	for i, addr := range []netip.Addr{b.Server.IPv4, b.Server.IPv6} {
		local := netip.AddrPortFrom(b.Peer.IPv4, uint16(40000+i))
		if addr.Is6() {
			local = netip.AddrPortFrom(b.Peer.IPv6, uint16(40000+i))
		}
		var prevFinNxt uint32
		for round := range 2 {
			var c *net.TCPConn
			if err := b.Peer.Do(func() error {
				d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: net.TCPAddrFromAddrPort(local),
					Control: func(_, _ string, rc syscall.RawConn) error {
						var serr error
						rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) })
						return serr
					}}
				// The previous connection's socket leaves LAST-ACK when
				// the server's ACK reaches it, which may be just after
				// the server counts its TIME-WAIT: until then the
				// 4-tuple is busy here (EADDRNOTAVAIL), so try again.
				for range 100 {
					nc, err := d.Dial("tcp", netip.AddrPortFrom(addr, port).String())
					if errors.Is(err, unix.EADDRNOTAVAIL) {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					if err == nil {
						c = nc.(*net.TCPConn)
					}
					return err
				}
				return errors.New("the 4-tuple stayed busy on the peer for 1 s")
			}); err != nil {
				t.Fatalf("%v round %d: %v", addr, round, err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "x" {
				t.Fatalf("%v round %d: read %q, %v", addr, round, got, err)
			}
			rc, _ := c.SyscallConn()
			var info *unix.TCPInfo
			rc.Control(func(fd uintptr) { info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			if info.Total_retrans != 0 {
				t.Fatalf("%v round %d: the connect retransmitted %d times: TIME-WAIT did not reopen", addr, round, info.Total_retrans)
			}
			finNxt, iss := tap.get(local.Port())
			if round == 1 && iss != prevFinNxt+65537 {
				t.Fatalf("%v: reopened ISS %d, want the old SND.NXT %d + 65537", addr, iss, prevFinNxt)
			}
			prevFinNxt = finNxt
			// One per family: the reopened 4-tuple replaced its old one.
			WaitFor(t, "one TIME-WAIT per family", func() bool { return timeWait() == i+1 })
			// Linux's timestamp clock ticks every millisecond: wait one
			// tick so the next SYN's TSval is newer than TS.Recent, the
			// case this test is about (an equal TSval is accepted too,
			// by its sequence number: tcp.TimeWaitAcceptsSYN).
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// issTap records, per peer port, the server's SND.NXT after its FIN and
// the ISS of its last SYN-ACK.
type issTap struct {
	mu          sync.Mutex
	finNxt, iss map[uint16]uint32
}

func (p *issTap) Frame(_ int, out bool, frame []byte) {
	var f wire.Frame
	if !out || wire.ParseFrame(frame, &f) != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case f.Flags&wire.TCPFlagSYN != 0:
		p.iss[f.DstPort] = f.Seq
	case f.Flags&wire.TCPFlagFIN != 0:
		p.finNxt[f.DstPort] = f.Seq + uint32(len(f.Payload)) + 1
	}
}

func (p *issTap) get(port uint16) (finNxt, iss uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.finNxt[port], p.iss[port]
}

// closeFirst sends "x" and closes, so the server end holds TIME-WAIT.
type closeFirst struct{}

func (closeFirst) OnOpen(c *sched.Conn)       { c.Write([]byte("x")); c.Close() }
func (closeFirst) OnData(*sched.Conn, []byte) {}
func (closeFirst) OnEOF(*sched.Conn)          {}
func (closeFirst) OnClose(*sched.Conn, error) {}
