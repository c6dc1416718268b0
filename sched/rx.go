package sched

import (
	"sync/atomic"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/timewait"
	"github.com/sluicenet/sluice/wire"
)

// rxBatch takes up to Batch received frames off the RX ring. It parses the
// whole batch first and looks the connections up together
// (ConnTable.LookupBatch: at a million connections nearly every lookup is
// a cache miss, and a batch overlaps them; so for the TIME-WAIT table,
// timewait.Table.Prefetch), then runs each segment in
// order. Each frame goes back to the pool as soon as its segment is
// processed: in-order text that finds the receive buffer empty stays in
// the frame (Segment.Hold), OnData reads it there, and only what the
// handler left unread is copied into the TCB's buffer (TCB.Unalias), so
// a handler that keeps up receives without a copy and a slow one holds no
// UMEM frame.
func (l *Loop) rxBatch() int {
	if l.sock == nil {
		return 0
	}
	rx := l.sock.Rx()
	idx, n := rx.Peek(uint32(l.cfg.Batch))
	if n == 0 {
		return 0
	}
	b := &l.batch
	tap := l.loadTap()
	k := 0 // frames that parsed, compacted to the front of b
	for i := range n {
		d := rx.Desc(idx + i)
		fb := l.umem.Frame(d.Addr, d.Len)
		switch {
		case fb == nil:
			l.st.BadDescs++
		case l.lost():
		default:
			l.st.RxFrames++
			l.st.RxBytes += uint64(len(fb))
			if tap != nil {
				tap.Frame(l.queue, false, fb)
			}
			if l.parse(fb, &b.frames[k]) {
				f := &b.frames[k]
				b.raw[k], b.addr[k] = fb, d.Addr
				b.keys[k] = NewConnKey(f.Dst.As16(), f.Src.As16(), f.DstPort, f.SrcPort)
				k++
				continue
			}
		}
		l.pool.Put(d.Addr)
	}
	if hits := l.conns.LookupBatch(b.keys[:k], b.vals[:k], b.found[:k]); hits < k && l.tw != nil && l.tw.Len() > 0 {
		// The segments no connection took are looked up next in the
		// TIME-WAIT table (demux): its index words are cold for new
		// 4-tuples too, so their misses are overlapped the same way.
		for i := range k {
			if !b.found[i] {
				l.tw.Prefetch(&b.keys[i].b)
			}
		}
	}
	for i := range k {
		// More text of this flow next in the batch: one ACK covers
		// the run (tcp.Segment.More), as GRO merges it for Linux.
		b.more = i+1 < k && b.keys[i+1].Equal(&b.keys[i]) && len(b.frames[i+1].Payload) > 0
		l.demux(b.raw[i], &b.frames[i], b.keys[i], b.vals[i], b.found[i])
		b.raw[i] = nil
		l.pool.Put(b.addr[i])
	}
	rx.Release(n)
	b.publish()
	return int(n)
}

// rxScratch is the per-batch state of rxBatch, kept in the Loop so the
// batch allocates nothing.
type rxScratch struct {
	frames [maxBatch]wire.Frame
	raw    [maxBatch][]byte
	addr   [maxBatch]uint64
	keys   [maxBatch]ConnKey
	vals   [maxBatch]uint32
	found  [maxBatch]bool
	// more is tcp.Segment.More for the frame being demultiplexed.
	more bool

	// flags are wire's parse flags for the loop's device, chosen once
	// (flagsSet) from the steering program: on a veth, TCP segments
	// with a partial checksum (the peer's TX checksum offload) are
	// accepted and counted in partial, published to partialPub once per
	// batch for PartialChecksums.
	flags      wire.ParseFlags
	flagsSet   bool
	partial    uint64
	partialPub atomic.Uint64
}

// publish makes the partial-checksum count readable by other goroutines
// (one atomic store per batch that changed it, none per frame).
func (r *rxScratch) publish() {
	if r.partial != r.partialPub.Load() {
		r.partialPub.Store(r.partial)
	}
}

// PartialChecksums counts the TCP segments this loop accepted with a
// partial checksum (wire.AcceptPartialChecksum; on a veth only). Safe from
// any goroutine.
func (l *Loop) PartialChecksums() uint64 { return l.batch.partialPub.Load() }

// parseFlags returns the loop's wire.ParseFlags, deciding them on the first
// frame: the program was attached (and learnt the device's kind) before
// the loop ran, so no frame needs a system call.
func (l *Loop) parseFlags() wire.ParseFlags {
	r := &l.batch
	if !r.flagsSet {
		r.flagsSet = true
		if l.prog != nil && l.prog.Veth() {
			r.flags = wire.AcceptPartialChecksum
		}
	}
	return r.flags
}

// Input processes one received Ethernet frame: parse and verify it
// (dropped frames are counted by wire.DropReason), then demultiplex the
// segment: the connection's TCB; else the TIME-WAIT table; else, for a
// non-SYN in a group of loops, the next loop (forward); else a listener
// on its destination; else the reset of RFC 9293 §3.10.7.1 for a segment
// to no connection. Replies are built in UMEM frames and queued for the
// next TX flush. Loop thread only; b is not retained.
func (l *Loop) Input(b []byte) {
	l.st.RxFrames++
	l.st.RxBytes += uint64(len(b))
	if tap := l.loadTap(); tap != nil {
		tap.Frame(l.queue, false, b)
	}
	l.input(b)
}

func (l *Loop) input(b []byte) {
	f := &l.frame
	ok := l.parse(b, f)
	l.batch.publish()
	if !ok {
		return
	}
	key := NewConnKey(f.Dst.As16(), f.Src.As16(), f.DstPort, f.SrcPort)
	v, ok := l.conns.Lookup(key)
	l.demux(b, f, key, v, ok)
}

// parse decodes b into f, counting a rejected frame by its DropReason.
func (l *Loop) parse(b []byte, f *wire.Frame) bool {
	if err := wire.ParseFrameFlags(b, f, l.parseFlags()); err != nil {
		r := wire.Reason(err)
		if r == wire.DropNotTCP {
			l.inputICMP(b, f) // PMTU and soft errors for our flows (icmp.go)
		}
		if r >= wire.NumDropReasons {
			r = wire.DropNone // foreign error: counted under "none"
		}
		l.st.Drops[r]++
		return false
	}
	l.st.RxSegments++
	if f.PartialChecksum {
		l.batch.partial++
	}
	return true
}

// demux runs the parsed frame f (raw bytes b, key) through the
// demultiplexing order of Input. v, ok are a lookup of key made before
// earlier segments of the batch ran: a hit is checked against the slot
// (that connection may have been freed and its slot reused since) and a
// miss is looked up again (an earlier SYN may have created it).
func (l *Loop) demux(b []byte, f *wire.Frame, key ConnKey, v uint32, ok bool) {
	seg := &l.seg
	seg.Seq, seg.Ack = tcp.Seq(f.Seq), tcp.Seq(f.Ack)
	seg.Flags = tcp.Flags(f.Flags) // wire.TCPFlag* and tcp.Flag* are the same bits
	seg.Window, seg.Urgent = f.Window, f.Urgent
	seg.Options = f.Options
	seg.Payload = f.Payload
	// The TCB may keep in-order text in the frame (tcp/direct.go) and
	// OnData gets it from there: Unalias below copies what is still
	// unread before the frame goes back to the pool.
	seg.Hold = true
	seg.More, l.batch.more = l.batch.more, false

	var c *Conn
	if ok {
		if c = l.slab.Get(v); c != nil && !c.key.Equal(&key) {
			c = nil
		}
	}
	if c == nil {
		if v, ok = l.conns.Lookup(key); ok {
			c = l.slab.Get(v)
		}
	}
	// reopenNxt is set when seg reopens a 4-tuple in TIME-WAIT: the old
	// incarnation's SND.NXT, which the new ISS must lie above (RFC 6191;
	// Linux's tcp_timewait_state_process takes SND.NXT + 65537).
	var reopenNxt tcp.Seq
	reopening := false
	if c != nil && c.tcb.State() == tcp.TimeWait {
		if nxt, ok := l.reopen(c, f, seg); ok {
			c, reopenNxt, reopening = nil, nxt, true // freed: the SYN goes on to the listener
		}
	}
	if c != nil {
		t := c.tcb
		prev := l.enter(c)
		t.Input(seg, l.now)
		l.leave(prev)
		l.markDirty(c)
		l.settle()
		t.Unalias()
		return
	}
	id := &l.id
	*id = tcp.ID{LocalAddr: f.Dst, RemoteAddr: f.Src, LocalPort: f.DstPort, RemotePort: f.SrcPort}
	l.rx = f
	if l.tw != nil && l.tw.Len() > 0 {
		// TIME-WAIT before the listener, as Linux looks up its
		// established/timewait hash first: a retransmitted FIN must be
		// ACKed, not reset. A SYN allowed to reopen the 4-tuple (RFC
		// 6191) goes on to the listener, with the table's ISS above the
		// old SND.NXT.
		v := l.tw.Input(id, seg, l.now, l)
		if v.Action != timewait.NotFound && v.Action != timewait.Reopen {
			l.rx = nil
			return
		}
		if v.Action == timewait.Reopen {
			reopenNxt, reopening = tcp.Seq(v.ISN)-65537, true // ISN = SND.NXT + 65537
		}
	}
	// A bare SYN opens a connection where it lands; anything else (a
	// SYN-ACK answering a Dial included) may belong to another loop.
	if seg.Flags&(tcp.FlagSYN|tcp.FlagACK) != tcp.FlagSYN && l.fwdHops < len(l.peers)-1 && l.forward(b) {
		l.rx = nil
		return
	}
	lst := l.listener(f.Dst, f.DstPort)
	if lst != nil && l.refusing {
		// StopAccepting: answered as by a closed port, as Linux answers
		// a SYN once the listening socket is closed.
		l.st.Refused++
		if tcp.ResetReply(seg, &l.rst) {
			l.Emit(id, &l.rst)
		}
		l.rx = nil
		return
	}
	if lst != nil && l.atLimit() && seg.Flags&tcp.FlagRST == 0 {
		l.st.LimitDrops++
		l.rx = nil
		return
	}
	if lst != nil {
		var t *tcp.TCB
		if reopening {
			t = lst.InputReopen(id, seg, l.now, reopenNxt)
		} else {
			t = lst.Input(id, seg, l.now)
		}
		l.rx = nil
		if t != nil {
			c := l.newConn(t, lst, key, f)
			l.markDirty(c)
			l.settle()
			t.Unalias()
		}
		return
	}
	// No connection and no listener: the segment is answered as by a
	// CLOSED port (RFC 9293 §3.10.7.1).
	l.st.NoConn++
	if tcp.ResetReply(seg, &l.rst) {
		l.Emit(id, &l.rst)
	}
	l.rx = nil
}

// reopen ends a TIME-WAIT that c's TCB serves itself (the compact table
// off) when seg is a SYN allowed to open a new incarnation (RFC 6191: a
// newer timestamp, or without timestamps a sequence number above RCV.NXT;
// tcp.TimeWaitAcceptsSYN) and a listener will take it, as Linux's
// tcp_timewait_state_process (TCP_TW_SYN) does. The TCB is closed without
// a segment (its OnClose ran on entering TIME-WAIT) and freed; the caller
// hands the SYN to the listener with the old SND.NXT, above which the new
// ISS is chosen. Without a listener the TCB answers the SYN as RFC 9293
// §3.10.7.4 says (an ACK), as Linux does.
func (l *Loop) reopen(c *Conn, f *wire.Frame, seg *tcp.Segment) (sndNxt tcp.Seq, ok bool) {
	if !c.tcb.ReopensWith(seg) || l.refusing || l.listener(f.Dst, f.DstPort) == nil {
		return 0, false
	}
	sndNxt = c.tcb.Vars().SndNxt
	c.timeWaitAt = 0 // cut short: not a TIME-WAIT held (Stats.TimeWaitMinHeld)
	c.tcb.Abort(l.now)
	l.markDirty(c)
	l.settle()
	return sndNxt, true
}

// forward hands a segment this loop has no connection for to the next
// loop of the group. RSS (or, on veth, the peer's choice of TX queue)
// normally keeps a flow on one queue, but a peer may move a flow (Linux
// re-hashes a socket's TX queue after a retransmission timeout), and the
// connection lives only in the loop that saw its SYN. The frame travels
// round the group through the loops' MPSC rings (a copy: this path
// allocates, and is counted); the last loop without the connection
// answers it as a segment to no connection. If the next ring is full the
// segment is dropped (counted). SYNs are never forwarded: a
// new connection belongs to the loop its SYN reached.
func (l *Loop) forward(b []byte) bool {
	next := l.peers[(l.index+1)%len(l.peers)]
	hops := l.fwdHops + 1
	frame := append([]byte(nil), b...)
	if err := next.Post(func() { next.forwarded(frame, hops) }); err != nil {
		// Dropped, not answered: a RST built from a segment of a live
		// connection would carry an acceptable sequence number and kill
		// it. The peer retransmits.
		l.st.ForwardFailed++
		return true
	}
	l.st.ForwardedOut++
	return true
}

// forwarded processes a frame another loop passed on.
func (l *Loop) forwarded(b []byte, hops int) {
	l.st.ForwardedIn++
	l.fwdHops = hops
	l.input(b)
	l.fwdHops = 0
}

// newConn enters a TCB the listener created into the slab and the table.
func (l *Loop) newConn(t *tcp.TCB, lst *tcp.Listener, key ConnKey, f *wire.Frame) *Conn {
	idx := l.slab.Alloc()
	c := l.slab.Get(idx)
	l.nextGen++
	*c = Conn{
		tcb: t, loop: l, h: l.handler, lst: lst, idx: idx, gen: l.nextGen, key: key,
		localMAC: f.Eth.Dst, peerMAC: f.Eth.Src, hasVLAN: f.Eth.HasVLAN, vlan: f.Eth.VLAN,
		armedAt: tcp.Never,
	}
	l.conns.Insert(key, idx)
	l.st.Created++
	l.addOpen(1)
	return c
}

// free removes a closed connection from the wheel, the table and the slab.
func (l *Loop) free(c *Conn) {
	if c.timer != 0 {
		l.wheel.Cancel(c.timer)
	}
	l.conns.Delete(c.key)
	l.releaseDial(c.dial)
	l.tcpDone.Add(c.tcb.Stats())
	if c.timeWaitAt != 0 {
		held := l.now.Sub(c.timeWaitAt)
		if l.st.TimeWaitFreed == 0 || held < l.st.TimeWaitMinHeld {
			l.st.TimeWaitMinHeld = held
		}
		l.st.TimeWaitFreed++
	}
	c.tcb.Release() // its buffer chunks back to the loop's pool
	if len(l.tcbFree) < l.cfg.TCBCache {
		// Nothing references the TCB any more (the listener let go of
		// it when it was accepted or died in SYN-RECEIVED): tcp.
		// Listener.Pool reinitializes it, keeping its buffers.
		l.tcbFree = append(l.tcbFree, c.tcb)
	}
	l.slab.Free(c.idx) // zeroes *c
	l.st.Freed++
}
