package tcp

import "github.com/sluicenet/sluice/tcp/chunk"

// ring is a connection's send or receive buffer: a byte queue on chunks
// from the loop's pool (Config.Pool, tcp/chunk) that holds memory only
// while it holds text. Its size in the TCP sense (the window, Write's
// backpressure) is a bound, cap(), raised by auto-tuning without a copy.
type ring struct {
	q chunk.Queue // the receive side's retires consumed chunks (Retires)
	n int         // used octets (q.Len(), kept here for the TCB's many reads)
}

// init empties the ring and sets its bound; rcv marks the receive side,
// whose consumed chunks may still be read by OnData (chunk.Pool.Retire).
func (r *ring) init(p *chunk.Pool, size int, rcv bool) {
	r.q.Init(p, size, rcv)
	r.n = 0
}
func (r *ring) cap() int { return r.q.Limit() }

// free is the room under the bound. A send ring offers Write only its
// room (under memory pressure). A receive ring takes text up to its
// bound, since the window already offered may not be withdrawn (RFC 9293
// §3.8.6); text the budget refuses is dropped and counted
// (Stats.MemDropped), and the peer sends it again. New window is offered
// only from room (advertise).
func (r *ring) free() int {
	if r.q.Retires() {
		return r.q.Free()
	}
	return r.room()
}

// room is the octets past the used ones the ring can store for certain:
// its free space, and under memory pressure no more than the chunks it
// holds can take (one chunk for a ring holding none, which the budget
// always grants): past that the budget may refuse.
func (r *ring) room() int {
	f := r.q.Free()
	if r.q.Pool().UnderPressure() {
		f = min(f, r.q.Room()+r.q.Extent()-r.n)
	}
	return f
}

// writeAt copies p to offset off past the used octets without marking it
// used (reassembly writes out-of-order text there) and returns the octets
// stored: fewer when the memory budget refused a chunk. The caller bounds
// off+len(p) by free().
func (r *ring) writeAt(off int, p []byte) int { return r.q.WriteAt(off, p) }

// push appends p (bounded by free and the budget) and returns the octets
// taken.
func (r *ring) push(p []byte) int {
	k := r.q.Push(p)
	r.n += k
	return k
}

// readAt copies used octets from offset off into p.
func (r *ring) readAt(off int, p []byte) int { return r.q.ReadAt(off, p) }

// peek returns the first used octets as at most two slices, without
// copying (the rest after consume).
func (r *ring) peek() (a, b []byte) { return r.q.Peek() }

// consume drops k octets from the front; drained chunks go back.
func (r *ring) consume(k int) {
	r.q.Consume(k)
	r.n = r.q.Len()
}

// extend marks k octets past the used ones, already written by writeAt,
// as used (reassembly reached them).
func (r *ring) extend(k int) { r.q.Extend(k); r.n = r.q.Len() }

// release gives every chunk back (the connection is closed).
func (r *ring) release() { r.q.Reset(); r.n = 0 }

// Release gives the connection's buffer memory back to its pool: the
// owner calls it when it drops a closed TCB (initTCB does it before a
// reuse). Text still buffered is lost.
func (t *TCB) Release() {
	t.snd.release()
	t.rcv.release()
	t.ooo.clear()
}
