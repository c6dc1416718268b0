package sched

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"weak"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/bpf"
	"github.com/sluicenet/sluice/internal/netenv"
	"github.com/sluicenet/sluice/internal/rss"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/wire"
)

// DialOptions shape one active open (Group.Dial). The zero value dials
// from the route's source address and a reserved ephemeral port, on a
// loop Dial picks, with the group's Handler.
type DialOptions struct {
	// Local is the source. The zero value takes the source address the
	// kernel's route picks (RTA_PREFSRC) and a port the kernel reserves
	// for the connection's lifetime; a valid address is used as the
	// source (and must be an address of the device); a non-zero port is
	// reserved as given (EADDRINUSE if a kernel socket or another Dial
	// holds it).
	Local netip.AddrPort
	// Handler gets this connection's callbacks (nil: the group's): a
	// dialed connection may have another handler than accepted ones.
	Handler Handler
	// Context is stored in Conn.Context before any callback runs.
	Context any
	// Loop is the loop that owns the connection. Nil: the calling loop
	// when Dial runs on a loop's thread (in a callback), else the loops in
	// turn.
	Loop *Loop
	// PortFilter, when set, restricts the ephemeral source port (Local's
	// port zero) to those it accepts; it runs in Dial, on the caller's
	// goroutine. No free port accepted: EADDRINUSE.
	PortFilter func(port uint16) bool
	// AnyQueue leaves the ephemeral source port out of RSS steering
	// (reserveEphemeral): replies may reach another loop, which forwards
	// them.
	AnyQueue bool
	// Timeout bounds the handshake: if the connection is not ESTABLISHED
	// by then it is dropped and OnClose reports tcp.ErrTimeout. Zero
	// leaves it to the TCP configuration (SynRetries, InitialRTO: about
	// 127 s with Linux's defaults).
	Timeout time.Duration
}

// Dialed describes a connection Dial started.
type Dialed struct {
	Loop   *Loop   // the loop that owns it
	Ref    ConnRef // its name on that loop (Loop.Conn), also after OnClose
	Local  netip.AddrPort
	Remote netip.AddrPort
	// Steering says how the group chooses source ports (RSS steering or
	// why not), on its first Dial and whenever that changes; "" otherwise.
	// For the log.
	Steering string
}

// Dial starts an active open (RFC 9293 §3.10.1) to remote and returns as
// soon as the SYN is queued on the owning loop: the outcome comes through
// the connection's Handler, OnOpen once ESTABLISHED, or OnClose without
// OnOpen with tcp.ErrConnectionRefused (the peer answered RST), tcp.
// ErrTimeout (no answer within DialOptions.Timeout or the SYN retries),
// ErrLoopClosed or tcp.ErrAborted. OnClose runs exactly once for every
// Dial that returned no error; a Dial that returns an error makes no
// callback.
//
// Before queuing, Dial asks the kernel for the route and the next hop's
// MAC (internal/netenv: the neighbour table, resolving it when missing,
// within ctx; kept hopTTL per destination), reserves the local port (reserveEphemeral: steered by the
// device's RSS to the owning loop's queue where it can be) and registers
// the flow in the XDP program, so the SYN-ACK is steered to the loops
// rather than to the kernel. Those are system calls: a callback that
// dials blocks its loop for them (a fraction of a millisecond when the
// neighbour is known; up to ctx while ARP/ND run), so dial to unknown
// next hops from another goroutine. Safe from any goroutine.
func (g *Group) Dial(ctx context.Context, remote netip.AddrPort, o DialOptions) (Dialed, error) {
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	if !remote.Addr().IsValid() || remote.Port() == 0 {
		return Dialed{}, fmt.Errorf("sched: dial %v: need an address and a port", remote)
	}
	l, onLoop, err := g.dialLoop(o.Loop)
	if err != nil {
		return Dialed{}, err
	}
	rq := &dialReq{remote: remote, opts: o, queue: l.queue}
	if err := g.setup(func() error { return g.prepare(ctx, rq) }); err != nil {
		return Dialed{}, fmt.Errorf("sched: dial %v: %w", remote, err)
	}
	if err := g.prog.AddFlow(remote, rq.local, bpf.AnySlot); err != nil {
		rq.res.close()
		return Dialed{}, fmt.Errorf("sched: dial %v: %w", remote, err)
	}
	rq.res.prog = g.prog
	if onLoop {
		ref, err := l.openDial(rq)
		return rq.dialed(l, ref), err
	}
	type result struct {
		ref ConnRef
		err error
	}
	ch := make(chan result, 1)
	if err := postWait(ctx, l, func() { ref, err := l.openDial(rq); ch <- result{ref, err} }); err != nil {
		rq.res.release()
		return Dialed{}, err
	}
	select {
	case r := <-ch:
		return rq.dialed(l, r.ref), r.err
	case <-l.done:
		select {
		case r := <-ch:
			return rq.dialed(l, r.ref), r.err
		default:
			// The loop stopped with the open still queued: it never ran.
			rq.res.release()
			return Dialed{}, ErrLoopClosed
		}
	}
}

// postWait posts fn, retrying while the ring is full, until ctx ends.
func postWait(ctx context.Context, l *Loop, fn func()) error {
	wait := 10 * time.Microsecond
	for {
		err := l.Post(fn)
		if !errors.Is(err, ErrPostFull) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
}

// dialLoop picks the loop for a Dial and reports whether the caller runs
// on it. A caller on one loop's thread may not wait for another loop (two
// loops dialing each other would wait forever), so from a callback Dial
// uses the calling loop.
func (g *Group) dialLoop(want *Loop) (*Loop, bool, error) {
	caller := g.CallerLoop()
	switch {
	case caller != nil && (want == nil || want == caller):
		return caller, true, nil
	case caller != nil:
		return nil, false, fmt.Errorf("sched: Dial from a callback on loop %d to loop %d: a loop cannot wait for another; dial from the calling loop or another goroutine", caller.queue, want.queue)
	case want != nil:
		for _, l := range g.loops {
			if l == want {
				return l, false, nil
			}
		}
		return nil, false, errors.New("sched: DialOptions.Loop is not a loop of this group")
	}
	n := g.next.Add(1) - 1
	return g.loops[n%uint32(len(g.loops))], false, nil
}

// CallerLoop is the loop of g whose thread calls it (from a callback or
// a posted function), nil from any other goroutine (an owner-token
// comparison per loop).
func (g *Group) CallerLoop() *Loop {
	for _, l := range g.loops {
		if l.onThread() {
			return l
		}
	}
	return nil
}

// Opened reports whether c's OnOpen has run: false for a dialed
// connection whose handshake has not completed (or failed, in OnClose).
func (c *Conn) Opened() bool { return c.opened }

// dialReq is one Dial on its way to the loop.
type dialReq struct {
	remote, local  netip.AddrPort
	srcMAC, dstMAC wire.MAC
	opts           DialOptions
	queue          int // the owning loop's queue
	res            *dialRes
	steering       string
}

func (rq *dialReq) dialed(l *Loop, ref ConnRef) Dialed {
	return Dialed{Loop: l, Ref: ref, Local: rq.local, Remote: rq.remote, Steering: rq.steering}
}

// prepare runs where the device lives (GroupConfig.Setup): route and
// neighbour, then the port reservation.
func (g *Group) prepare(ctx context.Context, rq *dialReq) error {
	src := rq.opts.Local.Addr().Unmap()
	if src.IsValid() && src.Is4() != rq.remote.Addr().Is4() {
		return fmt.Errorf("source %v and destination %v are of different families", src, rq.remote.Addr())
	}
	hops, asked := &g.dialState().hops, src
	hop, cached := hops.get(rq.remote.Addr(), asked)
	var err error
	if !cached {
		hop, err = netenv.Resolve(ctx, rq.remote.Addr(), netenv.RouteOptions{Ifname: g.ifname, Src: src})
		if err != nil {
			return err
		}
	}
	if !src.IsValid() {
		src = hop.Src.Unmap()
	}
	if !src.IsValid() {
		return fmt.Errorf("the route to %v has no source address; set DialOptions.Local", rq.remote.Addr())
	}
	if len(hop.SrcMAC) != 6 || len(hop.MAC) != 6 {
		return fmt.Errorf("next hop %v: no Ethernet addresses (%v -> %v)", hop.Target(), hop.SrcMAC, hop.MAC)
	}
	if !cached {
		hops.put(rq.remote.Addr(), asked, hop)
	}
	copy(rq.srcMAC[:], hop.SrcMAC)
	copy(rq.dstMAC[:], hop.MAC)
	var res *dialRes
	var port uint16
	if p := rq.opts.Local.Port(); p != 0 {
		res, port, err = reservePort(netip.AddrPortFrom(src, p))
	} else {
		res, port, err = g.reserveEphemeral(rq, src)
	}
	if err != nil {
		return err
	}
	rq.res = res
	rq.local = netip.AddrPortFrom(src, port)
	res.remote, res.local = rq.remote, rq.local
	return nil
}

// reservePort binds (and never listens on or connects) a kernel TCP
// socket to ap, port 0 letting the kernel pick a free ephemeral port. As
// long as the socket is open no kernel socket can bind that port, and
// the kernel's connect() never picks it as its own ephemeral port
// (__inet_hash_connect skips ports with an explicit bind), so the kernel
// never uses the 4-tuple of a sluice connection.
func reservePort(ap netip.AddrPort) (*dialRes, uint16, error) {
	fam := unix.AF_INET6
	var sa unix.Sockaddr
	if a := ap.Addr().Unmap(); a.Is4() {
		fam = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	}
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, 0, fmt.Errorf("port reservation socket: %w", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("reserve local port %v: %w", ap, err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, 0, fmt.Errorf("port reservation: %w", err)
	}
	var port int
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		port = a.Port
	case *unix.SockaddrInet6:
		port = a.Port
	}
	return &dialRes{fd: fd}, uint16(port), nil
}

// dialRes is what a dialed connection holds outside the loop: the port
// reservation and the XDP flow entry. It is released when the 4-tuple is
// free again: when the connection is freed, or, for one that went to the
// compact TIME-WAIT table, when that entry expires.
type dialRes struct {
	fd            int
	prog          *bpf.Program // nil until the flow is registered
	remote, local netip.AddrPort
}

func (r *dialRes) close() {
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}

// release removes the flow entry, then closes the reservation (in that
// order: once the port is free a kernel socket may take it, and its
// segments must not be steered to us).
func (r *dialRes) release() error {
	var err error
	if r.prog != nil {
		err = r.prog.RemoveFlow(r.remote, r.local)
		r.prog = nil
	}
	r.close()
	return err
}

// openDial runs on the loop: the TCB is created in SYN-SENT and its SYN
// queued for this iteration's flush.
func (l *Loop) openDial(rq *dialReq) (ConnRef, error) {
	switch {
	case l.stop.Load():
		rq.res.release()
		return ConnRef{}, ErrLoopClosed
	case l.atLimit():
		rq.res.release()
		l.st.LimitDrops++
		return ConnRef{}, ErrConnLimit
	}
	key := MakeConnKey(rq.local, rq.remote)
	if _, ok := l.conns.Lookup(key); ok {
		rq.res.release()
		return ConnRef{}, fmt.Errorf("sched: dial %v from %v: the 4-tuple is in use", rq.remote, rq.local)
	}
	h := rq.opts.Handler
	if h == nil {
		h = l.handler
	}
	idx := l.slab.Alloc()
	c := l.slab.Get(idx)
	l.nextGen++
	*c = Conn{
		loop: l, h: h, Context: rq.opts.Context, idx: idx, gen: l.nextGen, key: key,
		localMAC: rq.srcMAC, peerMAC: rq.dstMAC, armedAt: tcp.Never,
		dialed: true, dial: rq.res,
	}
	if d := rq.opts.Timeout; d > 0 {
		c.openBy = l.now.Add(d)
	}
	l.conns.Insert(key, idx)
	l.st.Created++
	l.st.Dialed++
	l.addOpen(1)
	id := tcp.ID{LocalAddr: rq.local.Addr(), RemoteAddr: rq.remote.Addr(), LocalPort: rq.local.Port(), RemotePort: rq.remote.Port()}
	prev := l.enter(c)
	c.tcb = tcp.OpenReuse(l.takeTCB(), l.configFor(rq.remote.Addr()), id, l, l.now)
	l.leave(prev)
	// Dirty only: the settle after this posted function, or the one
	// running the callback that dialed, arms its timer (settling here
	// would nest callbacks inside a callback).
	l.markDirty(c)
	return c.Ref(), nil
}

// handshakeExpired drops a dialed connection whose DialOptions.Timeout
// passed before ESTABLISHED. In SYN-SENT the abort sends nothing (RFC
// 9293 §3.10.5); OnClose reports tcp.ErrTimeout.
func (l *Loop) handshakeExpired(c *Conn) bool {
	if c.opened || c.openBy == 0 || l.now < c.openBy {
		return false
	}
	c.openBy = 0
	c.timedOut = true
	prev := l.enter(c)
	c.tcb.Abort(l.now)
	l.leave(prev)
	return true
}

// twDial is a dialed 4-tuple in the compact TIME-WAIT table, whose
// resources wait for the entry to expire.
type twDial struct {
	id    tcp.ID
	until tcp.Instant
	res   *dialRes
}

// releaseTimeWaitDials releases the resources of dialed connections whose
// compact TIME-WAIT entry is gone (expired, or removed by a reopening
// SYN). An entry restarted by a retransmitted FIN is looked at again at
// its new expiry (it goes to the back: its release may wait behind later
// entries, never happen early).
func (l *Loop) releaseTimeWaitDials() {
	for range len(l.twDials) {
		d := &l.twDials[0]
		if d.until > l.now {
			return
		}
		if _, exp, ok := l.tw.Lookup(&d.id, l.now); ok {
			d.until = exp
			l.twDials = append(l.twDials[1:], *d)
			continue
		}
		l.releaseDial(d.res)
		l.twDials[0] = twDial{}
		l.twDials = l.twDials[1:]
	}
}

// releaseDial frees a dialed connection's port and flow (counting an error
// the program gave: the flow entry then stays until the program closes).
func (l *Loop) releaseDial(r *dialRes) {
	if r == nil {
		return
	}
	if err := r.release(); err != nil {
		l.st.FlowErrors++
	}
}

// The ephemeral source port. Without RSS steering and a PortFilter the
// kernel picks it (bind to port 0). Otherwise the port is searched in the
// kernel's ephemeral range (ip_local_port_range, skipping
// ip_local_reserved_ports, from a random start as the kernel does) for
// one the filter accepts and whose reply frames (remote -> local, the
// fields the device hashes) the NIC's RSS puts on the dialing loop's
// queue, so they reach the owner without being forwarded round the loops.
// A steered search that finds every such port busy falls back to the
// kernel's choice.

// steerRefresh is how long a device's RSS configuration read is trusted
// (ethtool -X may change it while the group runs).
const steerRefresh = 10 * time.Second

// maxBusyPorts bounds the binds a search tries (each an EADDRINUSE).
const maxBusyPorts = 256

// steering is a group's view of its device's RSS and the ephemeral range,
// read in Dial (where the device lives) and kept for steerRefresh.
type steering struct {
	mu       sync.Mutex
	read     time.Time
	tab      *rss.Table // nil: no steering (why says why)
	why      string
	lo, hi   uint16      // ip_local_port_range
	reserved [][2]uint16 // ip_local_reserved_ports
	said     string      // the statement last returned in Dialed
}

// dialState is what a group keeps between Dials: its steering and the
// next hops it resolved.
type dialState struct {
	steer steering
	hops  hopCache
}

// dialStates holds each group's dialState, keyed weakly so a closed
// group leaves nothing behind (Group's own fields are group.go's).
var dialStates sync.Map // weak.Pointer[Group] -> *dialState

func (g *Group) dialState() *dialState {
	k := weak.Make(g)
	if v, ok := dialStates.Load(k); ok {
		return v.(*dialState)
	}
	v, loaded := dialStates.LoadOrStore(k, &dialState{})
	if !loaded {
		runtime.AddCleanup(g, func(k weak.Pointer[Group]) { dialStates.Delete(k) }, k)
	}
	return v.(*dialState)
}

func (g *Group) steering() *steering { return &g.dialState().steer }

// hopTTL is how long a resolved next hop (route source, MACs) serves
// later Dials to the same address without asking the kernel again: a
// proxy dials one upstream over and over, and the route and neighbour
// look-ups (several netlink sockets) were most of a Dial's time on the
// loop (0.3-0.9 ms of 0.5-2 ms measured on the testbed). A route or MAC
// change reaches Dials within hopTTL.
const hopTTL = time.Second

// hopCache holds next hops by destination and requested source.
type hopCache struct {
	mu sync.Mutex
	m  map[[2]netip.Addr]hopEntry
}

type hopEntry struct {
	hop netenv.NextHop
	at  time.Time
}

func (c *hopCache) get(dst, src netip.Addr) (netenv.NextHop, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[[2]netip.Addr{dst, src}]
	if !ok || time.Since(e.at) > hopTTL {
		return netenv.NextHop{}, false
	}
	return e.hop, true
}

func (c *hopCache) put(dst, src netip.Addr, hop netenv.NextHop) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= 1024 {
		c.m = map[[2]netip.Addr]hopEntry{} // bounded: start over
	}
	c.m[[2]netip.Addr{dst, src}] = hopEntry{hop, time.Now()}
}

// portView is what one Dial's port choice needs from the steering.
type portView struct {
	tab      *rss.Table
	lo, hi   uint16
	reserved [][2]uint16
}

// view returns the current configuration (re-read when stale; runs where
// the device lives) and, when its statement changed, the statement.
func (st *steering) view(ifname string) (portView, string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.read.IsZero() || time.Since(st.read) > steerRefresh {
		st.read = time.Now()
		st.lo, st.hi, st.reserved = ephemeralRange()
		st.tab, st.why = nil, ""
		tab, err := rss.Read(ifname)
		switch {
		case err != nil:
			st.why = fmt.Sprintf("no RSS configuration on %s (%v): the kernel picks dial source ports; replies on another loop's queue are forwarded", ifname, err)
		case tab.Queues() < 2:
			st.why = fmt.Sprintf("RSS on %s uses one queue: the kernel picks dial source ports", ifname)
		default:
			st.tab = tab
			st.why = fmt.Sprintf("dial source ports steered by RSS on %s (Toeplitz, %d-entry table, %d queues, fields tcp4 %#x tcp6 %#x)", ifname, len(tab.Indir), tab.Queues(), uint64(tab.Fields4), uint64(tab.Fields6))
		}
	}
	v := portView{tab: st.tab, lo: st.lo, hi: st.hi, reserved: st.reserved}
	if st.why == st.said {
		return v, ""
	}
	st.said = st.why
	return v, st.why
}

// reserveEphemeral reserves the source port of a Dial that gave none.
func (g *Group) reserveEphemeral(rq *dialReq, src netip.Addr) (*dialRes, uint16, error) {
	v, note := g.steering().view(g.ifname)
	rq.steering = note
	var search *rss.Search
	if v.tab != nil && !rq.opts.AnyQueue {
		if s, err := v.tab.NewSearch(rq.remote, src); err == nil {
			search = &s
		}
	}
	filter := rq.opts.PortFilter
	if search == nil && filter == nil {
		return reservePort(netip.AddrPortFrom(src, 0))
	}
	ok := func(p uint16) bool {
		return !v.isReserved(p) && (filter == nil || filter(p)) && (search == nil || search.Queue(p) == rq.queue)
	}
	bind := func(p uint16) (*dialRes, uint16, error) { return reservePort(netip.AddrPortFrom(src, p)) }
	res, port, err := pickPort(v.lo, v.hi, rand.N(int(v.hi-v.lo)+1), ok, bind)
	if errors.Is(err, unix.EADDRINUSE) && filter == nil {
		return reservePort(netip.AddrPortFrom(src, 0))
	}
	return res, port, err
}

func (v *portView) isReserved(p uint16) bool {
	for _, r := range v.reserved {
		if p >= r[0] && p <= r[1] {
			return true
		}
	}
	return false
}

// pickPort binds the first port of lo..hi, from lo+start on round the
// range, that ok accepts and bind gets (EADDRINUSE moves on, at most
// maxBusyPorts times; any other error ends the search).
func pickPort(lo, hi uint16, start int, ok func(uint16) bool, bind func(uint16) (*dialRes, uint16, error)) (*dialRes, uint16, error) {
	n := int(hi-lo) + 1
	busy := 0
	for i := range n {
		p := lo + uint16((start+i)%n)
		if !ok(p) {
			continue
		}
		res, port, err := bind(p)
		if err == nil || !errors.Is(err, unix.EADDRINUSE) {
			return res, port, err
		}
		if busy++; busy == maxBusyPorts {
			break
		}
	}
	return nil, 0, fmt.Errorf("no free source port in %d-%d fits: %w", lo, hi, unix.EADDRINUSE)
}

// ephemeralRange reads the kernel's ephemeral ports (of the calling
// thread's network namespace), Linux's defaults when unreadable.
func ephemeralRange() (lo, hi uint16, reserved [][2]uint16) {
	lo, hi = 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			a, err1 := strconv.ParseUint(f[0], 10, 16)
			z, err2 := strconv.ParseUint(f[1], 10, 16)
			if err1 == nil && err2 == nil && a > 0 && a <= z {
				lo, hi = uint16(a), uint16(z)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_reserved_ports"); err == nil {
		reserved = parsePortList(strings.TrimSpace(string(b)))
	}
	return lo, hi, reserved
}

// parsePortList parses "8080,9000-9010" (ip_local_reserved_ports).
func parsePortList(s string) [][2]uint16 {
	var out [][2]uint16
	for _, part := range strings.Split(s, ",") {
		a, z, found := strings.Cut(strings.TrimSpace(part), "-")
		if !found {
			z = a
		}
		x, err1 := strconv.ParseUint(a, 10, 16)
		y, err2 := strconv.ParseUint(z, 10, 16)
		if err1 == nil && err2 == nil && x <= y {
			out = append(out, [2]uint16{uint16(x), uint16(y)})
		}
	}
	return out
}
