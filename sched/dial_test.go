package sched

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/internal/netenv"
	"github.com/sluicenet/sluice/internal/rss"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/testbed"
)

// dialConn is a test client connection's state (Conn.Context): it writes
// req on open, collects what arrives, closes first once complete says
// the reply is whole (or after the peer's FIN), and records the outcome.
type dialConn struct {
	req      []byte
	complete func(got []byte) bool
	got      bytes.Buffer
	opened   bool
	eof      bool
	err      error
	local    netip.AddrPort
	closed   chan struct{}
}

func newDialConn(req []byte, complete func([]byte) bool) *dialConn {
	return &dialConn{req: req, complete: complete, closed: make(chan struct{})}
}

// wait returns once OnClose ran, failing the test after a bound.
func (d *dialConn) wait(t *testing.T) {
	t.Helper()
	select {
	case <-d.closed:
	case <-time.After(20 * time.Second):
		t.Fatalf("no OnClose after 20 s (opened %v, %d octets received)", d.opened, d.got.Len())
	}
}

type dialHandler struct{}

func (dialHandler) OnOpen(c *Conn) {
	d := c.Context.(*dialConn)
	d.opened = true
	d.local = c.LocalAddr()
	if len(d.req) > 0 {
		c.Write(d.req)
	}
}

func (dialHandler) OnData(c *Conn, data []byte) {
	d := c.Context.(*dialConn)
	d.got.Write(data)
	if d.complete != nil && d.complete(d.got.Bytes()) {
		c.Close()
	}
}

func (dialHandler) OnEOF(c *Conn) { c.Context.(*dialConn).eof = true; c.Close() }

func (dialHandler) OnClose(c *Conn, err error) {
	d := c.Context.(*dialConn)
	d.err = err
	close(d.closed)
}

// httpComplete reports whether b holds a whole HTTP/1.1 response with a
// Content-Length body.
func httpComplete(b []byte) bool {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return false
	}
	for _, line := range bytes.Split(b[:i], []byte("\r\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(k, []byte("Content-Length")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			return err == nil && len(b)-i-4 >= n
		}
	}
	return false
}

// startClientGroup starts a client-only Group (no listen address) on the
// testbed's server end.
func startClientGroup(t *testing.T, b *testbed.Bed, lc LoopConfig) *Group {
	t.Helper()
	g, err := Start(GroupConfig{Ifindex: b.Server.Ifindex, Handler: dialHandler{}, Loop: lc, Setup: b.Server.Do, Cores: []int{-1}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("Group.Close: %v", err)
		}
	})
	return g
}

// blob is the test body: not a repeating pattern, so a misplaced or
// repeated segment shows.
func blob(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// serveHTTP runs net/http in the peer namespace on port, serving body at
// /blob.
func serveHTTP(t *testing.T, b *testbed.Bed, port int, body []byte) {
	t.Helper()
	ln := b.Peer.ListenTCP(t, fmt.Sprintf(":%d", port))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// bindable reports whether a kernel socket in the server namespace can
// bind ap (false: the port is reserved).
func bindable(t *testing.T, b *testbed.Bed, ap netip.AddrPort) bool {
	t.Helper()
	var err error
	b.Server.Do(func() error {
		var r *dialRes
		if r, _, err = reservePort(ap); err == nil {
			r.close()
		}
		return nil
	})
	if err == nil {
		return true
	}
	if !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("bind %v: %v", ap, err)
	}
	return false
}

// TestDialHTTP: a sluice-dialed connection fetches a body from net/http
// in the peer namespace, byte-exact, over IPv4 and IPv6; the client closes
// first, so its 4-tuple goes to the compact TIME-WAIT table. The local
// port stays reserved against kernel sockets (bind fails) while the
// connection and its TIME-WAIT last, and is free once TIME-WAIT expired;
// the XDP program's flow map holds the 4-tuple exactly as long.
func TestDialHTTP(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	body := blob(300_000)
	serveHTTP(t, b, 8080, body)
	cfg := testTCPConfig()
	cfg.MSL = 300 * time.Millisecond
	g := startClientGroup(t, b, LoopConfig{TCP: cfg})
	for _, peer := range []netip.Addr{b.Peer.IPv4, b.Peer.IPv6} {
		t.Run(map[bool]string{true: "v4", false: "v6"}[peer.Is4()], func(t *testing.T) {
			d := newDialConn([]byte("GET /blob HTTP/1.1\r\nHost: peer\r\n\r\n"), httpComplete)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			dd, err := g.Dial(ctx, netip.AddrPortFrom(peer, 8080), DialOptions{Context: d})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if dd.Local.Addr() != map[bool]netip.Addr{true: b.Server.IPv4, false: b.Server.IPv6}[peer.Is4()] {
				t.Errorf("source %v: not the route's source address", dd.Local)
			}
			if bindable(t, b, dd.Local) {
				t.Errorf("a kernel socket could bind %v while sluice's connection uses it", dd.Local)
			}
			if n := flowEntries(t, g); n != 1 {
				t.Errorf("%d XDP flow entries during the connection, want 1", n)
			}
			d.wait(t)
			if !d.opened || d.err != nil {
				t.Fatalf("opened %v, OnClose(%v)", d.opened, d.err)
			}
			if d.local != dd.Local {
				t.Errorf("Conn.LocalAddr %v, Dial said %v", d.local, dd.Local)
			}
			resp := d.got.Bytes()
			i := bytes.Index(resp, []byte("\r\n\r\n"))
			if !bytes.HasPrefix(resp, []byte("HTTP/1.1 200")) || i < 0 || !bytes.Equal(resp[i+4:], body) {
				t.Fatalf("response of %d octets is not the %d-octet body: %q...", len(resp), len(body), resp[:min(len(resp), 80)])
			}
			if bindable(t, b, dd.Local) {
				t.Errorf("%v was bindable during TIME-WAIT", dd.Local)
			}
			deadline := time.Now().Add(10 * time.Second)
			for !bindable(t, b, dd.Local) {
				if time.Now().After(deadline) {
					gs, _ := g.Stats()
					t.Fatalf("%v still reserved 10 s after close (TIME-WAIT entries %d)", dd.Local, gs.Loops[0].TimeWait)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if n := flowEntries(t, g); n != 0 {
				t.Errorf("%d XDP flow entries after TIME-WAIT, want 0", n)
			}
		})
	}
	gs, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	l := gs.Loops[0]
	t.Logf("dialed %d, failed %d, retransmits %d, TIME-WAIT table %+v, XDP %+v", l.Dialed, l.DialFailed, l.Retransmits, l.TimeWaitTable, gs.XDP)
	if l.Dialed != 2 || l.DialFailed != 0 || l.TimeWaitTable.Inserted != 2 || l.Open != 0 || l.FlowErrors != 0 {
		t.Errorf("dialed %d, failed %d, TIME-WAIT inserted %d, open %d, flow errors %d; want 2, 0, 2, 0, 0",
			l.Dialed, l.DialFailed, l.TimeWaitTable.Inserted, l.Open, l.FlowErrors)
	}
}

// TestDialRefusedAndTimeout: a port nobody listens on answers RST,ACK:
// OnClose(tcp.ErrConnectionRefused) without OnOpen. An address in the
// peer's subnet that never answers (its neighbour entry points at the
// peer, which does not forward) times out: through the TCP
// configuration's SYN retries (the SYN is retransmitted, counted), and
// through DialOptions.Timeout. Both families.
func TestDialRefusedAndTimeout(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	cfg := testTCPConfig()
	cfg.SynRetries = 1
	cfg.InitialRTO = 200 * time.Millisecond
	g := startClientGroup(t, b, LoopConfig{TCP: cfg})
	silent4, silent6 := netip.MustParseAddr("198.18.0.77"), netip.MustParseAddr("2001:2::77")
	err := b.Server.Do(func() error {
		for _, a := range []netip.Addr{silent4, silent6} {
			n := &netlink.Neigh{LinkIndex: b.Server.Ifindex, IP: a.AsSlice(), HardwareAddr: b.Peer.MAC, State: netlink.NUD_PERMANENT}
			if err := netlink.NeighSet(n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	type dial struct {
		to      netip.AddrPort
		timeout time.Duration
		want    error
	}
	var dials []dial
	for _, fam := range []struct{ peer, silent netip.Addr }{{b.Peer.IPv4, silent4}, {b.Peer.IPv6, silent6}} {
		dials = append(dials,
			dial{netip.AddrPortFrom(fam.peer, 9), 0, tcp.ErrConnectionRefused},
			dial{netip.AddrPortFrom(fam.silent, 80), 0, tcp.ErrTimeout},
			dial{netip.AddrPortFrom(fam.silent, 81), 150 * time.Millisecond, tcp.ErrTimeout})
	}
	ds := make([]*dialConn, len(dials))
	locals := make([]netip.AddrPort, len(dials))
	for i, dl := range dials {
		ds[i] = newDialConn(nil, nil)
		dd, err := g.Dial(context.Background(), dl.to, DialOptions{Context: ds[i], Timeout: dl.timeout})
		if err != nil {
			t.Fatalf("Dial %v: %v", dl.to, err)
		}
		locals[i] = dd.Local
	}
	for i, dl := range dials {
		ds[i].wait(t)
		if ds[i].opened || !errors.Is(ds[i].err, dl.want) {
			t.Errorf("dial %v (timeout %v): opened %v, OnClose(%v); want %v", dl.to, dl.timeout, ds[i].opened, ds[i].err, dl.want)
		}
		if !bindable(t, b, locals[i]) {
			t.Errorf("dial %v: local %v still reserved after the failure", dl.to, locals[i])
		}
	}
	if n := flowEntries(t, g); n != 0 {
		t.Errorf("%d XDP flow entries after every dial failed, want 0", n)
	}
	gs, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	l := gs.Loops[0]
	t.Logf("dialed %d, failed %d, retransmits %d, XDP %+v", l.Dialed, l.DialFailed, l.Retransmits, gs.XDP)
	if l.Dialed != uint64(len(dials)) || l.DialFailed != uint64(len(dials)) || l.Open != 0 || l.Conns != 0 {
		t.Errorf("dialed %d, failed %d, open %d, in table %d; want %d, %d, 0, 0", l.Dialed, l.DialFailed, l.Open, l.Conns, len(dials), len(dials))
	}
	// The two SYN-retry timeouts retransmitted their SYN once each.
	if l.Retransmits < 2 {
		t.Errorf("%d retransmissions counted, want at least the 2 SYN retries", l.Retransmits)
	}
}

// echoBack is a server handler for the sluice-to-sluice test: it echoes
// what arrives and closes after the client's FIN.
type echoBack struct {
	mu     sync.Mutex
	closes []error
}

func (*echoBack) OnOpen(c *Conn)              {}
func (*echoBack) OnData(c *Conn, data []byte) { c.Write(data) }
func (*echoBack) OnEOF(c *Conn)               { c.Close() }
func (e *echoBack) OnClose(c *Conn, err error) {
	e.mu.Lock()
	e.closes = append(e.closes, err)
	e.mu.Unlock()
}

// TestDialSluiceToSluice: both ends of the veth run sluice. A Group on
// the peer end listens and echoes; a client Group on the server end dials
// it (IPv4 and IPv6), sends 1 MiB per connection in rounds (pingPong),
// gets every octet back, half-closes, and both ends close cleanly.
func TestDialSluiceToSluice(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	srvH := &echoBack{}
	const port = 7000
	sg, err := Start(GroupConfig{
		Ifindex: b.Peer.Ifindex, Handler: srvH, Setup: b.Peer.Do, Cores: []int{-1},
		Listen: []netip.AddrPort{netip.AddrPortFrom(netip.Addr{}, port)},
		Loop:   LoopConfig{TCP: testTCPConfig()},
	})
	if err != nil {
		t.Fatalf("server group: %v", err)
	}
	t.Cleanup(func() { sg.Close() })
	g := startClientGroup(t, b, LoopConfig{TCP: testTCPConfig()})
	payload := blob(1 << 20)
	var ds []*dialConn
	for _, peer := range []netip.Addr{b.Peer.IPv4, b.Peer.IPv6, b.Peer.IPv4, b.Peer.IPv6} {
		d := newDialConn(nil, nil)
		ds = append(ds, d)
		if _, err := g.Dial(context.Background(), netip.AddrPortFrom(peer, port), DialOptions{Context: d, Handler: pingPong{payload}}); err != nil {
			t.Fatalf("Dial %v: %v", peer, err)
		}
	}
	for i, d := range ds {
		d.wait(t)
		if !d.opened || d.err != nil || !bytes.Equal(d.got.Bytes(), payload) {
			t.Errorf("conn %d: opened %v, OnClose(%v), %d of %d octets back (equal %v)", i, d.opened, d.err, d.got.Len(), len(payload), bytes.Equal(d.got.Bytes(), payload))
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for sg.Conns() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	srvH.mu.Lock()
	defer srvH.mu.Unlock()
	if len(srvH.closes) != len(ds) {
		t.Fatalf("server saw %d closes, want %d", len(srvH.closes), len(ds))
	}
	for _, err := range srvH.closes {
		if err != nil {
			t.Errorf("server OnClose(%v)", err)
		}
	}
}

// pingPong sends payload in 32 KiB rounds, each after the previous one
// came back whole (a bulk writer that never reads would deadlock two echo
// loops: a loop stops delivering to a connection whose Write holds text
// back), then half-closes and closes after the peer's FIN.
type pingPong struct{ payload []byte }

const pingChunk = 32 << 10

func (h pingPong) next(c *Conn) {
	d := c.Context.(*dialConn)
	sent := min(len(h.payload), (d.got.Len()/pingChunk+1)*pingChunk)
	if d.got.Len() == len(h.payload) {
		c.CloseWrite()
		return
	}
	if d.got.Len()%pingChunk == 0 {
		c.Write(h.payload[d.got.Len():sent])
	}
}

func (h pingPong) OnOpen(c *Conn) {
	dialHandler{}.OnOpen(c)
	h.next(c)
}
func (h pingPong) OnData(c *Conn, data []byte) {
	d := c.Context.(*dialConn)
	before := d.got.Len()
	d.got.Write(data)
	if before/pingChunk != d.got.Len()/pingChunk || d.got.Len() == len(h.payload) {
		h.next(c)
	}
}
func (pingPong) OnEOF(c *Conn)              { dialHandler{}.OnEOF(c) }
func (pingPong) OnClose(c *Conn, err error) { dialHandler{}.OnClose(c, err) }

// chainDial is a dialHandler whose first connection dials the next one
// from its OnOpen callback, on the loop's own thread.
type chainDial struct {
	g      *Group
	to     netip.AddrPort
	second *dialConn
	err    chan error
}

func (h *chainDial) OnOpen(c *Conn) {
	dialHandler{}.OnOpen(c)
	dd, err := h.g.Dial(context.Background(), h.to, DialOptions{Context: h.second})
	if err == nil && dd.Loop != c.Loop() {
		err = fmt.Errorf("a Dial from loop %d's callback went to loop %d", c.Loop().Queue(), dd.Loop.Queue())
	}
	h.err <- err
}
func (h *chainDial) OnData(c *Conn, data []byte) { dialHandler{}.OnData(c, data) }
func (h *chainDial) OnEOF(c *Conn)               { dialHandler{}.OnEOF(c) }
func (h *chainDial) OnClose(c *Conn, err error)  { dialHandler{}.OnClose(c, err) }

// TestDialTwoLoops: a two-queue group dials 16 connections, 8 pinned to
// each loop (DialOptions.Loop), to net/http in the peer namespace. The
// peer's replies arrive on whichever queue veth picks; those reaching the
// other loop (the SYN-ACK included) are forwarded to the dialer, and every
// fetch is byte-exact. A Dial from inside a callback stays on the calling
// loop and completes too.
func TestDialTwoLoops(t *testing.T) {
	b := testbed.New(t, testbed.Options{Queues: 2})
	body := blob(20_000)
	serveHTTP(t, b, 8081, body)
	cfg := testTCPConfig()
	g, err := Start(GroupConfig{Ifindex: b.Server.Ifindex, Queues: 2, Handler: dialHandler{}, Loop: LoopConfig{TCP: cfg}, Setup: b.Server.Do, Cores: []int{-1}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	to := netip.AddrPortFrom(b.Peer.IPv4, 8081)
	req := []byte("GET /blob HTTP/1.1\r\nHost: peer\r\n\r\n")
	var ds []*dialConn
	for i := range 16 {
		d := newDialConn(req, httpComplete)
		ds = append(ds, d)
		dd, err := g.Dial(context.Background(), to, DialOptions{Context: d, Loop: g.Loops()[i%2]})
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		if dd.Loop != g.Loops()[i%2] {
			t.Fatalf("Dial pinned to loop %d went to %d", i%2, dd.Loop.Queue())
		}
	}
	chain := &chainDial{g: g, to: to, second: newDialConn(req, httpComplete), err: make(chan error, 1)}
	first := newDialConn(req, httpComplete)
	if _, err := g.Dial(context.Background(), to, DialOptions{Context: first, Handler: chain}); err != nil {
		t.Fatal(err)
	}
	ds = append(ds, first, chain.second)
	select {
	case err := <-chain.err:
		if err != nil {
			t.Fatalf("Dial from a callback: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the callback's Dial did not return")
	}
	for i, d := range ds {
		d.wait(t)
		resp := d.got.Bytes()
		j := bytes.Index(resp, []byte("\r\n\r\n"))
		if !d.opened || d.err != nil || j < 0 || !bytes.Equal(resp[j+4:], body) {
			t.Errorf("fetch %d: opened %v, OnClose(%v), %d octets", i, d.opened, d.err, len(resp))
		}
	}
	gs, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	var dialed uint64
	for _, l := range gs.Loops {
		t.Logf("loop %d: dialed %d, forwarded out %d in %d, no-conn %d", l.Queue, l.Dialed, l.ForwardedOut, l.ForwardedIn, l.NoConn)
		dialed += l.Dialed
		if l.Dialed < 8 || l.NoConn != 0 {
			t.Errorf("loop %d dialed %d (want at least its 8), answered %d segments as to no connection", l.Queue, l.Dialed, l.NoConn)
		}
	}
	if dialed != 18 {
		t.Errorf("%d dials counted, want 18", dialed)
	}
}

// flowEntries counts the entries of the XDP program's dialed-flow map,
// read through the kernel's ids (the bpf package keeps its maps to
// itself).
func flowEntries(t *testing.T, g *Group) int {
	t.Helper()
	id, err := g.Program().ProgramID()
	if err != nil {
		t.Fatal(err)
	}
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := info.MapIDs()
	for _, mid := range ids {
		m, err := ebpf.NewMapFromID(mid)
		if err != nil {
			t.Fatal(err)
		}
		mi, err := m.Info()
		if err != nil || mi.Name != "flows" {
			m.Close()
			continue
		}
		n := 0
		var k, v []byte
		for it := m.Iterate(); it.Next(&k, &v); {
			n++
		}
		m.Close()
		return n
	}
	t.Fatal("the program has no flows map")
	return 0
}

// rssTable is a 4-queue device's table (ethtool -X equal 4) under
// Microsoft's verification key.
func rssTable() *rss.Table {
	key := []byte{0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
		0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
		0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa}
	t := &rss.Table{Key: key, Indir: make([]uint32, 128), Fields4: rss.Tuple4, Fields6: rss.Tuple4}
	for i := range t.Indir {
		t.Indir[i] = uint32(i % 4)
	}
	return t
}

// TestPickPortSteered: the steered search binds a port (a real
// reservation, on loopback) whose reply frames hash to the wanted queue,
// skips ports held by another socket, stays in the range, and fails with
// EADDRINUSE when nothing in the range fits.
func TestPickPortSteered(t *testing.T) {
	tab := rssTable()
	remote, local := netip.MustParseAddrPort("127.0.0.1:8080"), netip.MustParseAddr("127.0.0.1")
	s, err := tab.NewSearch(remote, local)
	if err != nil {
		t.Fatal(err)
	}
	bind := func(p uint16) (*dialRes, uint16, error) { return reservePort(netip.AddrPortFrom(local, p)) }
	const lo, hi = 40000, 40999
	for q := range 4 {
		ok := func(p uint16) bool { return s.Queue(p) == q }
		first, p1, err := pickPort(lo, hi, 0, ok, bind)
		if err != nil {
			t.Fatal(err)
		}
		// Held: the next search from the same start moves past it.
		second, p2, err := pickPort(lo, hi, 0, ok, bind)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []uint16{p1, p2} {
			if p < lo || p > hi || tab.Queue(remote, netip.AddrPortFrom(local, p)) != q {
				t.Errorf("queue %d: port %d (queue %d)", q, p, tab.Queue(remote, netip.AddrPortFrom(local, p)))
			}
		}
		if p1 == p2 {
			t.Errorf("queue %d: port %d handed out twice", q, p1)
		}
		first.close()
		second.close()
	}
	if _, _, err := pickPort(lo, hi, 0, func(uint16) bool { return false }, bind); !errors.Is(err, unix.EADDRINUSE) {
		t.Errorf("no port fits: %v, want EADDRINUSE", err)
	}
	if got := parsePortList("8080, 9000-9010,x,7-3"); len(got) != 2 || got[0] != [2]uint16{8080, 8080} || got[1] != [2]uint16{9000, 9010} {
		t.Errorf("parsePortList: %v", got)
	}
}

// BenchmarkEphemeralPort: reserving a source port on loopback (bind and
// close) as the kernel picks it, and steered to one queue of four.
func BenchmarkEphemeralPort(b *testing.B) {
	local := netip.MustParseAddr("127.0.0.1")
	remote := netip.MustParseAddrPort("127.0.0.1:8080")
	b.Run("kernel", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, _, err := reservePort(netip.AddrPortFrom(local, 0))
			if err != nil {
				b.Fatal(err)
			}
			r.close()
		}
	})
	b.Run("rss", func(b *testing.B) {
		b.ReportAllocs()
		tab := rssTable()
		bind := func(p uint16) (*dialRes, uint16, error) { return reservePort(netip.AddrPortFrom(local, p)) }
		start := 0
		for b.Loop() {
			s, _ := tab.NewSearch(remote, local)
			r, _, err := pickPort(32768, 60999, start, func(p uint16) bool { return s.Queue(p) == 3 }, bind)
			if err != nil {
				b.Fatal(err)
			}
			r.close()
			start += 7
		}
	})
}

// TestDialSteeredPort: with an RSS table in force (a 4-queue table
// standing in for a NIC's: veth has none), each Dial's source port is
// one whose reply 4-tuple the table puts on the dialing loop's queue,
// within the ephemeral range, and one a PortFilter accepts; the fetches
// complete (veth delivers replies to any queue; they are forwarded).
// Dialed.Steering states the choice on the first Dial only.
func TestDialSteeredPort(t *testing.T) {
	b := testbed.New(t, testbed.Options{Queues: 2})
	body := blob(5_000)
	serveHTTP(t, b, 8082, body)
	g, err := Start(GroupConfig{Ifindex: b.Server.Ifindex, Queues: 2, Handler: dialHandler{}, Loop: LoopConfig{TCP: testTCPConfig()}, Setup: b.Server.Do, Cores: []int{-1}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { g.Close() })
	tab := rssTable()
	st := g.steering()
	st.mu.Lock()
	st.read, st.tab, st.why = time.Now(), tab, "steered by the test's table"
	st.lo, st.hi, st.reserved = 40000, 49999, [][2]uint16{{40000, 44999}}
	st.mu.Unlock()
	to := netip.AddrPortFrom(b.Peer.IPv4, 8082)
	req := []byte("GET /blob HTTP/1.1\r\nHost: peer\r\n\r\n")
	var ds []*dialConn
	for i := range 12 {
		d := newDialConn(req, httpComplete)
		ds = append(ds, d)
		o := DialOptions{Context: d, Loop: g.Loops()[i%2]}
		if i >= 8 {
			o.PortFilter = func(p uint16) bool { return p%5 == 0 }
		}
		dd, err := g.Dial(context.Background(), to, o)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		if (dd.Steering != "") != (i == 0) {
			t.Errorf("dial %d: Steering %q", i, dd.Steering)
		}
		p := dd.Local.Port()
		if q := tab.Queue(to, dd.Local); q != dd.Loop.Queue() || p < 45000 || p > 49999 || (i >= 8 && p%5 != 0) {
			t.Errorf("dial %d from loop %d: port %d, its replies hash to queue %d", i, dd.Loop.Queue(), p, q)
		}
	}
	for i, d := range ds {
		d.wait(t)
		resp := d.got.Bytes()
		j := bytes.Index(resp, []byte("\r\n\r\n"))
		if !d.opened || d.err != nil || j < 0 || !bytes.Equal(resp[j+4:], body) {
			t.Errorf("fetch %d: opened %v, OnClose(%v), %d octets", i, d.opened, d.err, len(resp))
		}
	}
}

// TestHopCache: a resolved next hop serves later Dials to the same
// destination and requested source for hopTTL, and only those.
func TestHopCache(t *testing.T) {
	var c hopCache
	dst, src := netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.1")
	hop := netenv.NextHop{Src: src, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	if _, ok := c.get(dst, netip.Addr{}); ok {
		t.Fatal("hit in an empty cache")
	}
	c.put(dst, netip.Addr{}, hop)
	if got, ok := c.get(dst, netip.Addr{}); !ok || got.Src != src {
		t.Errorf("get after put: %+v, %v", got, ok)
	}
	if _, ok := c.get(dst, src); ok {
		t.Error("a Dial asking for a source address got the route's choice")
	}
	c.m[[2]netip.Addr{dst, {}}] = hopEntry{hop, time.Now().Add(-2 * hopTTL)}
	if _, ok := c.get(dst, netip.Addr{}); ok {
		t.Error("an entry older than hopTTL served")
	}
}
