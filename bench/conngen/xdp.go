package conngen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/afxdp"
)

// UMEM and ring sizes: half the frames wait in the fill ring for
// received frames, half are for sending.
const (
	ringSize   = 4096
	frameSize  = 2048
	rxBatch    = 64
	txBatch    = 64
	idleSpins  = 256 // empty rounds before the loop sleeps in poll(2)
	drainLimit = 2 * time.Second
)

// XDP runs a Gen on an AF_XDP socket on queue 0 of the client's link.
type XDP struct {
	xsks  *ebpf.Map
	prog  *ebpf.Program
	lnk   link.Link
	umem  *afxdp.Umem
	sock  *afxdp.Socket
	txp   *afxdp.FramePool // free frames for sending
	epoch time.Time

	cur     uint64 // the frame Buf handed out; noFrame if none
	pending [txBatch]afxdp.Desc
	npend   int
	dropped uint64 // frames built but refused by a full TX ring
	// WindowCPU is the CPU time the thread running Run spent inside the
	// generator's Measure window.
	WindowCPU time.Duration
	halt      atomic.Bool
}

// Halt makes Run end as if its stop time had come (from any goroutine):
// how an Idle generator, never done by itself, is ended.
func (x *XDP) Halt() { x.halt.Store(true) }

const noFrame = ^uint64(0)

// OpenXDP attaches the redirect program for prefix to the link with
// ifindex and opens the socket. Like every AF_XDP and XDP call it resolves
// ifindex in the calling thread's namespace: call it on a locked thread
// inside the client's namespace (testbed.Host.Do).
func OpenXDP(ifindex int, prefix netip.Prefix) (x *XDP, err error) {
	if _, err := newTuples(prefix); err != nil {
		return nil, err
	}
	x = &XDP{cur: noFrame, epoch: time.Now()}
	defer func() {
		if err != nil {
			x.Close()
			x = nil
		}
	}()
	x.xsks, err = ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		return x, fmt.Errorf("conngen: XSKMAP: %w", err)
	}
	if x.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "GPL",
		Instructions: redirectInsns(prefix, x.xsks.FD())}); err != nil {
		return x, fmt.Errorf("conngen: XDP program: %w", err)
	}
	x.umem, err = afxdp.NewUmem(afxdp.UmemConfig{FrameSize: frameSize, FrameCount: 2 * ringSize, FillSize: ringSize, CompletionSize: ringSize})
	if err != nil {
		return x, fmt.Errorf("conngen: %w", err)
	}
	if x.sock, err = afxdp.NewSocket(x.umem, ifindex, 0, afxdp.SocketConfig{RxSize: ringSize, TxSize: ringSize}); err != nil {
		return x, fmt.Errorf("conngen: %w", err)
	}
	// The fill ring is full before the socket is in the map: a frame
	// redirected to an empty fill ring is lost.
	rxp := x.umem.NewPool(0, ringSize)
	x.sock.Fill().FillFrom(rxp, ringSize)
	x.txp = x.umem.NewPool(ringSize, ringSize)
	if err := x.xsks.Put(uint32(0), uint32(x.sock.Fd())); err != nil {
		return x, fmt.Errorf("conngen: XSKMAP entry: %w", err)
	}
	if x.lnk, err = link.AttachXDP(link.XDPOptions{Program: x.prog, Interface: ifindex, Flags: link.XDPDriverMode}); err != nil {
		return x, fmt.Errorf("conngen: attach XDP to ifindex %d: %w", ifindex, err)
	}
	return x, nil
}

// redirectInsns is the XDP program: TCP to an address of prefix goes to
// the AF_XDP socket of the receiving queue; everything else passes to the
// kernel. An IPv6 prefix longer than /64 is matched on its first 64 bits
// (the generator counts frames outside its tuples as BadFrames).
func redirectInsns(p netip.Prefix, xsks int) asm.Instructions {
	const pass = "pass"
	in := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // data_end
	}
	// need: the headers read below lie before data_end (the verifier's
	// bounds check).
	need := func(n int32) asm.Instructions {
		return asm.Instructions{asm.Mov.Reg(asm.R4, asm.R2), asm.Add.Imm(asm.R4, n), asm.JGT.Reg(asm.R4, asm.R3, pass)}
	}
	if p.Addr().Is4() {
		a := p.Addr().As4()
		var m [4]byte
		binary.BigEndian.PutUint32(m[:], ^uint32(0)<<(32-p.Bits()))
		in = append(in, need(14+20)...)
		in = append(in,
			asm.LoadMem(asm.R5, asm.R2, 12, asm.Half), asm.JNE.Imm(asm.R5, 0x0008, pass), // EtherType IPv4, as loaded on a little-endian CPU
			asm.LoadMem(asm.R5, asm.R2, 14+9, asm.Byte), asm.JNE.Imm(asm.R5, 6, pass), // protocol TCP
			asm.LoadMem(asm.R5, asm.R2, 14+16, asm.Word), // destination address
			asm.And.Imm32(asm.R5, int32(binary.LittleEndian.Uint32(m[:]))),
			asm.JNE.Imm32(asm.R5, int32(binary.LittleEndian.Uint32(a[:])), pass),
		)
	} else {
		a := p.Addr().As16()
		var m [8]byte
		binary.BigEndian.PutUint64(m[:], ^uint64(0)<<(64-min(p.Bits(), 64)))
		in = append(in, need(14+40)...)
		in = append(in,
			asm.LoadMem(asm.R5, asm.R2, 12, asm.Half), asm.JNE.Imm(asm.R5, 0xdd86, pass), // EtherType IPv6
			asm.LoadMem(asm.R5, asm.R2, 14+6, asm.Byte), asm.JNE.Imm(asm.R5, 6, pass), // next header TCP (no extension headers)
			asm.LoadMem(asm.R5, asm.R2, 14+24, asm.DWord), // destination address, first 64 bits
			asm.LoadImm(asm.R7, int64(binary.LittleEndian.Uint64(m[:])), asm.DWord),
			asm.And.Reg(asm.R5, asm.R7),
			asm.LoadImm(asm.R7, int64(binary.LittleEndian.Uint64(a[:8])), asm.DWord),
			asm.JNE.Reg(asm.R5, asm.R7, pass),
		)
	}
	return append(in,
		asm.LoadMem(asm.R2, asm.R6, 16, asm.Word), // rx_queue_index: the key
		asm.LoadMapPtr(asm.R1, xsks),
		asm.Mov.Imm(asm.R3, 2), // XDP_PASS if the queue has no socket
		asm.FnRedirectMap.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, 2).WithSymbol(pass), // XDP_PASS
		asm.Return(),
	)
}

// Buf hands out a free UMEM frame to build a frame in (TX).
func (x *XDP) Buf() []byte {
	if x.cur == noFrame {
		a, ok := x.txp.Get()
		if !ok {
			x.sock.Completion().DrainTo(x.txp, ringSize)
			if a, ok = x.txp.Get(); !ok {
				return nil
			}
		}
		x.cur = a
	}
	return x.umem.Frame(x.cur, frameSize)
}

// Send queues the frame Buf handed out (TX).
func (x *XDP) Send(n int) {
	x.pending[x.npend] = afxdp.Desc{Addr: x.cur, Len: uint32(n)}
	x.cur = noFrame
	if x.npend++; x.npend == txBatch {
		x.flush()
	}
}

// flush moves the queued frames to the TX ring and kicks the kernel
// while it has frames to send (copy mode sends a budget per kick).
func (x *XDP) flush() error {
	if x.npend > 0 {
		tx := x.sock.Tx()
		idx, got := tx.Reserve(uint32(x.npend))
		for i := range got {
			d := x.pending[i]
			tx.Set(idx+i, d.Addr, d.Len)
		}
		tx.Submit(got)
		for _, d := range x.pending[got:x.npend] {
			x.dropped++
			x.txp.Put(d.Addr)
		}
		x.npend = 0
	}
	for kicks := 0; kicks < 8 && x.sock.Tx().Pending() > 0; kicks++ {
		if err := x.sock.WakeupTx(); err != nil {
			return err
		}
	}
	return nil
}

// Now is the clock Run gives the generator, in ns: for Gen.Measure.
func (x *XDP) Now(t time.Time) int64 { return int64(t.Sub(x.epoch)) }

// Run drives g until it is Done or the clock reaches stop, then stops opening
// connections and lets those in progress end (bounded by 2 s; what is
// left then is reset, Gen.Abort). The calling thread does all the work:
// lock it and pin it.
func (x *XDP) Run(g *Gen, stop time.Time) error {
	rx, fill := x.sock.Rx(), x.sock.Fill()
	u := x.umem
	stopAt, drainAt := x.Now(stop), x.Now(stop.Add(drainLimit))
	var addrs [rxBatch]uint64
	idle := 0
	tid := unix.Gettid()
	var cpu0 time.Duration
	inWindow := false
	for {
		now := x.Now(time.Now())
		if g.to != 0 && !inWindow && now >= g.from && now < g.to {
			inWindow, cpu0 = true, threadCPU(tid)
		}
		if inWindow && now >= g.to {
			inWindow, x.WindowCPU = false, threadCPU(tid)-cpu0
		}
		if g.Done() {
			break
		}
		if now < stopAt && x.halt.Load() {
			stopAt, drainAt = now, now+int64(drainLimit)
		}
		if now >= stopAt {
			g.Stop()
			if g.InProgress() == 0 {
				break
			}
			if now >= drainAt {
				g.Abort(x)
				break
			}
		}
		busy := false
		if idx, n := rx.Peek(rxBatch); n > 0 {
			busy = true
			for i := range n {
				d := rx.Desc(idx + i)
				g.Input(u.Frame(d.Addr, d.Len), now, x)
				addrs[i] = u.FrameBase(d.Addr)
			}
			rx.Release(n)
			// Received frames go straight back to the fill ring, which has
			// room for every one of them (its size is their number).
			fidx, got := fill.Reserve(n)
			for i := range got {
				fill.Set(fidx+i, addrs[i])
			}
			fill.Submit(got)
		}
		started := g.Stats.Started + g.Stats.Retrans
		g.Tick(now, x)
		if g.Stats.Started+g.Stats.Retrans != started {
			busy = true
		}
		if err := x.flush(); err != nil {
			return err
		}
		if err := x.sock.WakeupFill(); err != nil {
			return err
		}
		if busy {
			idle = 0
			continue
		}
		if idle++; idle > idleSpins {
			if _, err := x.sock.Poll(1); err != nil {
				return err
			}
		}
	}
	if inWindow { // stopped inside the window
		x.WindowCPU = threadCPU(tid) - cpu0
	}
	g.Stats.TXFull += x.dropped
	x.dropped = 0
	return x.flush()
}

// threadCPU is thread tid's CPU time, from its CPU-time clock
// (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)).
func threadCPU(tid int) time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(int32(^tid<<3|6), &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// Close detaches the program and releases the socket and UMEM.
func (x *XDP) Close() error {
	var errs []error
	if x.lnk != nil {
		errs = append(errs, x.lnk.Close())
	}
	if x.xsks != nil && x.sock != nil {
		x.xsks.Delete(uint32(0)) // the queue is released sooner without the map's reference
	}
	if x.sock != nil {
		errs = append(errs, x.sock.Close())
	}
	if x.umem != nil {
		errs = append(errs, x.umem.Close())
	}
	if x.prog != nil {
		errs = append(errs, x.prog.Close())
	}
	if x.xsks != nil {
		errs = append(errs, x.xsks.Close())
	}
	*x = XDP{cur: noFrame}
	return errors.Join(errs...)
}
