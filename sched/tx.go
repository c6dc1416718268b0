package sched

import (
	"github.com/sluicenet/sluice/afxdp"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/wire"
)

// Emit is the loop's tcp.Sink: it builds the segment straight into a UMEM
// frame (headers with PutTCPHeaders, then the text copied once from the
// TCB's send buffer and summed in the same pass, CopyFinishTCP) and
// stages the frame for the iteration's TX flush. It is a tcp.TailSink:
// text that crosses a send-buffer chunk comes as two runs, each copied
// from its chunk into the frame (CopyFinishTCP2), not gathered first. The Ethernet addresses are those of the flow's own frames
// (DESIGN: replies go to the MAC the flow came from): the connection being
// driven, or, for a segment with no connection (a SYN-ACK from a
// listener, a RST), the frame being answered.
func (l *Loop) Emit(id *tcp.ID, seg *tcp.Segment) {
	s := &l.spec
	switch {
	case l.cur != nil:
		c := l.cur
		l.countRetransmit(c, seg)
		s.SrcMAC, s.DstMAC, s.HasVLAN, s.VLAN = c.localMAC, c.peerMAC, c.hasVLAN, c.vlan
	case l.rx != nil:
		f := l.rx
		s.SrcMAC, s.DstMAC, s.HasVLAN, s.VLAN = f.Eth.Dst, f.Eth.Src, f.Eth.HasVLAN, f.Eth.VLAN
	default:
		l.st.TxNoRoute++
		return
	}
	s.Src, s.Dst = id.LocalAddr, id.RemoteAddr
	s.SrcPort, s.DstPort = id.LocalPort, id.RemotePort
	s.Seq, s.Ack = uint32(seg.Seq), uint32(seg.Ack)
	s.Flags = uint8(seg.Flags)
	s.Window, s.Urgent = seg.Window, seg.Urgent
	s.Options = seg.Options
	if l.lossRand != nil && l.lost() {
		return
	}
	if len(l.txq) == cap(l.txq) || l.txSince >= txBurstBytes {
		l.flushFrames()
		l.reapFrames()
		if len(l.txq) == cap(l.txq) {
			l.st.TxDropped++ // TX ring and staging full: TCP retransmits
			return
		}
	}
	addr, ok := l.pool.Get()
	if !ok {
		l.reapFrames()
		if addr, ok = l.pool.Get(); !ok {
			l.st.TxNoFrame++
			return
		}
	}
	b := l.umem.Frame(addr, l.frameSize)
	n := seg.TextLen()
	lay, err := wire.PutTCPHeaders(b, s, n)
	if err != nil {
		l.pool.Put(addr)
		l.st.TxBuildErrors++
		return
	}
	if tail := seg.Tail(); len(tail) == 0 {
		wire.CopyFinishTCP(b, lay, seg.Payload) // one pass: copy and checksum
	} else {
		wire.CopyFinishTCP2(b, lay, seg.Payload, tail)
	}
	l.txq = append(l.txq, afxdp.Desc{Addr: addr, Len: uint32(lay.Len)})
	l.txSince += lay.Len
	l.st.TxSegments++
	l.st.TxText += uint64(n)
}

// TakesTail makes the loop a tcp.TailSink (Emit copies both runs).
func (*Loop) TakesTail() {}

// PushesAfterInput makes the loop a tcp.PushSink: settle pushes every
// connection it processes (Loop.push), so an Input's ACK waits for the
// answer its callbacks write.
func (*Loop) PushesAfterInput() {}

// flush is the loop's TX flush (flushFrames), then the release of lent
// text the send buffers let go of (runLendDone): the loop calls it
// outside any TCB.
func (l *Loop) flush() error {
	err := l.flushFrames()
	l.runLendDone()
	return err
}

// flushFrames moves the staged frames to the TX ring in one
// Reserve/Submit and kicks the kernel only when it asked for it
// (need_wakeup). Frames that find the ring full stay staged for the next
// flush. Without a device the frames go straight back to the pool.
func (l *Loop) flushFrames() error {
	n := len(l.txq)
	l.txSince = 0
	if tap := l.loadTap(); tap != nil {
		for _, d := range l.txq[l.tapped:] {
			tap.Frame(l.queue, true, l.umem.Frame(d.Addr, d.Len))
		}
	}
	l.tapped = 0
	if l.sock == nil {
		for _, d := range l.txq {
			if l.loopback != nil {
				l.loopback(l.umem.Frame(d.Addr, d.Len))
			}
			l.pool.Put(d.Addr)
			l.st.TxFrames++
			l.st.TxBytes += uint64(d.Len)
		}
		l.txq = l.txq[:0]
		return nil
	}
	tx := l.sock.Tx()
	if n > 0 {
		idx, got := tx.Reserve(uint32(n))
		for i := range got {
			d := &l.txq[i]
			tx.Set(idx+i, d.Addr, d.Len)
			l.st.TxBytes += uint64(d.Len)
		}
		tx.Submit(got)
		l.st.TxFrames += uint64(got)
		if int(got) < n {
			l.st.TxRingFull++
			l.txq = l.txq[:copy(l.txq, l.txq[got:])]
			l.tapped = len(l.txq) // seen already: not again at the next flush
		} else {
			l.txq = l.txq[:0]
		}
	}
	// In copy mode (veth, drivers without zero-copy) the kernel sends a
	// bounded batch per sendto (32 frames in xsk_generic_xmit), so one
	// kick per iteration would let the TX ring back up behind a burst of
	// replies; kick again while the kernel keeps taking frames, within a
	// budget. WakeupTx makes no syscall unless the kernel asked for one.
	for kicks := 0; kicks < maxKicks; kicks++ {
		p := tx.Pending()
		if p == 0 {
			break
		}
		if err := l.sock.WakeupTx(); err != nil {
			return err
		}
		if tx.Pending() >= p {
			break // no progress (the ring's consumer is busy or the link is)
		}
	}
	return nil
}

// maxKicks bounds the TX wakeups of one flush.
const maxKicks = 32

// txBurstBytes is how many octets of frames Emit stages before it
// flushes them and reaps their completions, within one iteration: 256
// full-sized frames. A burst (a window opened by one ACK or one Write)
// then cycles through a bounded set of UMEM frames that the kernel's
// copy has just read, still in cache and TLB, instead of a fresh frame
// per segment for up to the whole staging queue: in a bulk profile the
// first store into each such frame was 15% of the loop's user time. The
// price is a kick per burst, and in copy mode on veth most of a kick's
// cost is per kick, not per frame: the peer's receive work is woken
// (__napi_schedule, an IPI: 17% of a bulk server's samples) once per
// sendto that finds it idle. Bursts of 256 frames rather than 64 cut
// those wakeups to a quarter: one 1 MiB stream went from 0.76x to 0.94x
// gnet's Gbit/s and from 1.44x to 1.28x its CPU per MiB (medians of 6
// and 4 alternating invocations of the bench's bulk workload). Counted
// in octets, not frames, because that cost is the octets stored: small
// segments (handshakes, FINs, short replies of connection churn) stay
// staged to the iteration's one flush, where each flush that finds the
// peer idle costs a wakeup of its receive work (8% of a churning
// server's time when every 64 frames flushed). Frames the TX ring has no
// room for stay staged, and the flush is tried again after the next
// burst's octets (no kick per segment while the kernel is not taking
// frames).
const txBurstBytes = 256 * 1500

// reap is the loop's reap of TX completions (reapFrames) at the start of
// an iteration, after which lent text the send buffers let go of is
// released (runLendDone), so a done that lends again is pushed in the
// same iteration.
func (l *Loop) reap() int {
	n := l.reapFrames()
	l.runLendDone()
	return n
}

// reapFrames returns transmitted frames from the completion ring to the
// pool.
func (l *Loop) reapFrames() int {
	if l.sock == nil {
		return 0
	}
	comp := l.sock.Completion()
	idx, n := comp.Peek(l.compBudget)
	for i := range n {
		l.pool.Put(comp.Addr(idx + i))
	}
	comp.Release(n)
	return int(n)
}

// refill gives the fill ring free frames, keeping a quarter of the UMEM
// in the pool so replies always find frames to be built in.
func (l *Loop) refill() {
	if l.sock == nil {
		return
	}
	want := l.pool.Len() - l.fillSpare
	if want <= 0 {
		return
	}
	fill := l.sock.Fill()
	idx, got := fill.Reserve(uint32(want))
	for i := range got {
		a, _ := l.pool.Get()
		fill.Set(idx+i, a)
	}
	fill.Submit(got)
}
