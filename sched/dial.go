package sched

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/bpf"
	"github.com/sluicenet/sluice/internal/netenv"
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
// within ctx), reserves the local port (see "Active open" in the package
// doc) and registers the flow in the XDP program, so the SYN-ACK is
// steered to the loops rather than to the kernel. Those are system calls:
// a callback that dials blocks its loop for them (microseconds when the
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
	rq := &dialReq{remote: remote, opts: o}
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
	var caller *Loop
	for _, l := range g.loops {
		if l.onThread() {
			caller = l
		}
	}
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

// dialReq is one Dial on its way to the loop.
type dialReq struct {
	remote, local  netip.AddrPort
	srcMAC, dstMAC wire.MAC
	opts           DialOptions
	res            *dialRes
}

func (rq *dialReq) dialed(l *Loop, ref ConnRef) Dialed {
	return Dialed{Loop: l, Ref: ref, Local: rq.local, Remote: rq.remote}
}

// prepare runs where the device lives (GroupConfig.Setup): route and
// neighbour, then the port reservation.
func (g *Group) prepare(ctx context.Context, rq *dialReq) error {
	src := rq.opts.Local.Addr().Unmap()
	if src.IsValid() && src.Is4() != rq.remote.Addr().Is4() {
		return fmt.Errorf("source %v and destination %v are of different families", src, rq.remote.Addr())
	}
	hop, err := netenv.Resolve(ctx, rq.remote.Addr(), netenv.RouteOptions{Ifname: g.ifname, Src: src})
	if err != nil {
		return err
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
	copy(rq.srcMAC[:], hop.SrcMAC)
	copy(rq.dstMAC[:], hop.MAC)
	res, port, err := reservePort(netip.AddrPortFrom(src, rq.opts.Local.Port()))
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
