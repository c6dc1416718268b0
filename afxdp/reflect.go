package afxdp

import "encoding/binary"

// ReflectBatch is how many descriptors a Reflector moves per ring operation.
const ReflectBatch = 64

// maxKicks bounds the sendto calls per round: copy mode sends a budget of
// frames per call (32 by default, XDP_MAX_TX_SKB_BUDGET), so one call per
// RX batch of 64 would let the TX ring fill up.
const maxKicks = 8

// spinRounds is how many empty rounds a Reflector spins before it sleeps in
// poll(2).
var spinRounds = 64

// ReflectStats count what a Reflector did.
type ReflectStats struct {
	Packets uint64 // frames sent back
	Dropped uint64 // frames not IPv4/IPv6 UDP/TCP, or found no TX slot
	Rounds  uint64 // loop rounds
	Sleeps  uint64 // rounds that slept in poll(2) after a run of idle ones
}

// Reflector is an RX->TX reflector, the raw packets/s benchmark of the
// AF_XDP layer: each IPv4 or IPv6 UDP/TCP frame received on its socket goes
// back out of it with Ethernet addresses, IP addresses and ports swapped,
// in place, without a copy. Swapping source and destination leaves every
// Internet checksum valid (RFC 1071: the one's-complement sum is
// commutative), so no checksum is touched. Other frames are dropped and
// counted.
type Reflector struct {
	s      *Socket
	frames *FramePool
}

// NewReflector gives the frames of frames (the UMEM frames the reflector
// may use) to s's fill ring before it returns, so a frame that arrives
// once it has returned finds a buffer: a frame that finds the fill ring
// empty is dropped by the kernel (rx_fill_ring_empty_descs), and filling
// the ring from the goroutine that runs the loop lost the first frame of
// a test whenever it came before that goroutine ran. s must be the only
// user of its fill and completion rings.
func NewReflector(s *Socket, frames *FramePool) *Reflector {
	r := &Reflector{s: s, frames: frames}
	r.refill()
	return r
}

// refill gives the fill ring every frame left in the pool (as many as
// fit).
func (r *Reflector) refill() {
	fill := r.s.Fill()
	idx, got := fill.Reserve(uint32(r.frames.Len()))
	for i := range got {
		a, _ := r.frames.Get()
		fill.Set(idx+i, a)
	}
	fill.Submit(got)
}

// Run reflects until stop is closed, recycling frames from the completion
// ring to the fill ring. It busy-polls the rings, sleeping in poll(2)
// only after a run of idle rounds. It allocates nothing per frame.
func (r *Reflector) Run(stop <-chan struct{}) (ReflectStats, error) {
	var st ReflectStats
	s, frames := r.s, r.frames
	fill, comp, rx, tx, u := s.Fill(), s.Completion(), s.Rx(), s.Tx(), s.Umem()
	idle := 0
	for {
		select {
		case <-stop:
			return st, nil
		default:
		}
		busy := false
		st.Rounds++
		// Completed transmissions go straight back to the fill ring.
		if cidx, n := comp.Peek(ReflectBatch); n > 0 {
			busy = true
			fidx, fn := fill.Reserve(n)
			for i := range n {
				a := comp.Addr(cidx + i)
				if i < fn {
					fill.Set(fidx+i, a)
				} else {
					frames.Put(a)
				}
			}
			fill.Submit(fn)
			comp.Release(n)
		}
		if frames.Len() > 0 {
			r.refill()
		}
		if ridx, n := rx.Peek(ReflectBatch); n > 0 {
			busy = true
			tidx, tn := tx.Reserve(n)
			sent := uint32(0)
			for i := range n {
				d := rx.Desc(ridx + i)
				if sent < tn && swapFrame(u.Frame(d.Addr, d.Len)) {
					tx.Set(tidx+sent, d.Addr, d.Len)
					sent++
					continue
				}
				st.Dropped++
				frames.Put(d.Addr)
			}
			tx.Cancel(tn - sent)
			tx.Submit(sent)
			rx.Release(n)
			st.Packets += uint64(sent)
		}
		// Copy-mode TX happens inside sendto, a budget of frames per
		// call: kick while the kernel has not taken everything submitted
		// (and says it waits for a kick), never on an empty ring.
		for kicks := 0; kicks < maxKicks && tx.Pending() > 0; kicks++ {
			busy = true
			if err := s.WakeupTx(); err != nil {
				return st, err
			}
		}
		if err := s.WakeupFill(); err != nil {
			return st, err
		}
		if busy {
			idle = 0
			continue
		}
		if idle++; idle > spinRounds {
			st.Sleeps++
			if _, err := s.Poll(1); err != nil {
				return st, err
			}
		}
	}
}

// swapFrame swaps the Ethernet, IP and UDP/TCP source and destination of
// frame in place; it reports false, leaving the frame as it was, for
// anything but untagged IPv4/IPv6 carrying UDP or TCP.
func swapFrame(f []byte) bool {
	const eth = 14
	if len(f) < eth {
		return false
	}
	var l4 int
	var proto byte
	switch binary.BigEndian.Uint16(f[12:14]) {
	case 0x0800:
		if len(f) < eth+20 || f[eth]>>4 != 4 {
			return false
		}
		ihl := int(f[eth]&0x0f) * 4
		// Fragments (MF set or an offset) carry no ports to swap.
		if ihl < 20 || binary.BigEndian.Uint16(f[eth+6:eth+8])&0x3fff != 0 {
			return false
		}
		l4, proto = eth+ihl, f[eth+9]
		swapBytes(f[eth+12:eth+16], f[eth+16:eth+20])
	case 0x86dd:
		if len(f) < eth+40 || f[eth]>>4 != 6 {
			return false
		}
		l4, proto = eth+40, f[eth+6] // extension headers: not reflected
		swapBytes(f[eth+8:eth+24], f[eth+24:eth+40])
	default:
		return false
	}
	if (proto != 6 && proto != 17) || len(f) < l4+4 {
		// Undo the address swap: the frame is dropped unchanged.
		if f[12] == 0x08 {
			swapBytes(f[eth+12:eth+16], f[eth+16:eth+20])
		} else {
			swapBytes(f[eth+8:eth+24], f[eth+24:eth+40])
		}
		return false
	}
	swapBytes(f[l4:l4+2], f[l4+2:l4+4])
	swapBytes(f[0:6], f[6:12])
	return true
}

func swapBytes(a, b []byte) {
	for i := range a {
		a[i], b[i] = b[i], a[i]
	}
}
