package afxdp

import "encoding/binary"

// ReflectBatch is how many descriptors Reflect moves per ring operation.
const ReflectBatch = 64

// maxKicks bounds the sendto calls per round: copy mode sends a budget of
// frames per call (32 by default, XDP_MAX_TX_SKB_BUDGET), so one call per
// RX batch of 64 would let the TX ring fill up.
const maxKicks = 8

// spinRounds is how many empty rounds Reflect spins before it sleeps in
// poll(2).
var spinRounds = 64

// ReflectStats count what Reflect did.
type ReflectStats struct {
	Packets uint64 // frames sent back
	Dropped uint64 // frames not IPv4/IPv6 UDP/TCP, or found no TX slot
	Rounds  uint64 // loop rounds
	Sleeps  uint64 // rounds that slept in poll(2) after a run of idle ones
}

// Reflect is an RX->TX reflector, the raw packets/s benchmark of the
// AF_XDP layer: each IPv4 or IPv6 UDP/TCP frame received on s goes back
// out of s with Ethernet addresses, IP addresses and ports swapped, in
// place, without a copy. Swapping source and destination leaves every
// Internet checksum valid (RFC 1071: the one's-complement sum is
// commutative), so no checksum is touched. Other frames are dropped and
// counted.
//
// frames are the UMEM frames Reflect may use; it gives them all to the
// fill ring at the start and recycles them from the completion ring. s
// must be the only user of its fill and completion rings. Reflect
// busy-polls the rings, sleeping in poll(2) only after a run of idle
// rounds, and returns when stop is closed. It allocates nothing per frame.
func Reflect(s *Socket, frames *FramePool, stop <-chan struct{}) (ReflectStats, error) {
	var st ReflectStats
	fill, comp, rx, tx, u := s.Fill(), s.Completion(), s.Rx(), s.Tx(), s.Umem()
	refill := func() {
		idx, got := fill.Reserve(uint32(frames.Len()))
		for i := range got {
			a, _ := frames.Get()
			fill.Set(idx+i, a)
		}
		fill.Submit(got)
	}
	refill()
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
			refill()
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
