package afxdp

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Desc is one RX or TX descriptor (struct xdp_desc): the frame's address
// inside the UMEM, its length, and option bits (XDP_PKT_CONTD).
type Desc = unix.XDPDesc

// ring holds the index state shared by all four ring kinds. The kernel
// and user space each own one index: the producer writes producer, the
// consumer writes consumer. As in libxdp's xsk.h, we read the other side's
// index with a load-acquire (so the descriptors it covers are visible) and
// publish ours with a store-release (so our descriptor writes are visible
// before the index moves). Go's sync/atomic is sequentially consistent,
// which is at least that strong. The cached copies keep the shared cache
// lines untouched while a batch is being worked through.
type ring struct {
	// The three words live in the ring's shared mapping. Who writes each:
	// on the fill and TX rings (we produce) producer is ours and
	// consumer the kernel's; on the RX and completion rings (the kernel
	// produces) producer is the kernel's and consumer ours. flags is
	// written by the kernel only (XDP_RING_NEED_WAKEUP).
	producer *atomic.Uint32
	consumer *atomic.Uint32
	flags    *atomic.Uint32
	mask     uint32
	size     uint32

	// For a producer ring: cachedProd is the next slot to reserve, local
	// the last value published to *producer, cachedCons the kernel's
	// consumer index plus size (the first slot we may not write).
	// For a consumer ring: cachedCons is the next slot to peek, local the
	// last value published to *consumer, cachedProd the kernel's producer.
	cachedProd uint32
	cachedCons uint32
	local      uint32
}

func (r *ring) initProducer() {
	r.local = r.producer.Load()
	r.cachedProd = r.local
	r.cachedCons = r.consumer.Load() + r.size
}

func (r *ring) initConsumer() {
	r.local = r.consumer.Load()
	r.cachedCons = r.local
	r.cachedProd = r.producer.Load()
}

// free reports how many slots a producer may reserve, looking at the
// kernel's consumer index only when the cached view has fewer than n
// (libxdp xsk_prod_nb_free).
func (r *ring) free(n uint32) uint32 {
	free := r.cachedCons - r.cachedProd
	if free >= n {
		return free
	}
	r.cachedCons = r.consumer.Load() + r.size
	return r.cachedCons - r.cachedProd
}

// reserve claims up to n slots and returns the first index and the count.
func (r *ring) reserve(n uint32) (idx, got uint32) {
	got = min(r.free(n), n)
	idx = r.cachedProd
	r.cachedProd += got
	return idx, got
}

// submit publishes n reserved slots to the kernel.
func (r *ring) submit(n uint32) {
	if n > r.cachedProd-r.local {
		n = r.cachedProd - r.local // never publish what was not reserved
	}
	r.local += n
	r.producer.Store(r.local)
}

// cancel gives back the last n reserved but unsubmitted slots.
func (r *ring) cancel(n uint32) {
	if n > r.cachedProd-r.local {
		n = r.cachedProd - r.local
	}
	r.cachedProd -= n
}

// avail reports how many entries a consumer may peek, reading the kernel's
// producer index only when the cache is empty (libxdp xsk_cons_nb_avail).
func (r *ring) avail(n uint32) uint32 {
	entries := r.cachedProd - r.cachedCons
	if entries == 0 {
		r.cachedProd = r.producer.Load()
		entries = r.cachedProd - r.cachedCons
	}
	return min(entries, n)
}

// peek claims up to n filled entries and returns the first index and count.
func (r *ring) peek(n uint32) (idx, got uint32) {
	got = r.avail(n)
	idx = r.cachedCons
	r.cachedCons += got
	return idx, got
}

// release hands n peeked entries back to the kernel.
func (r *ring) release(n uint32) {
	if n > r.cachedCons-r.local {
		n = r.cachedCons - r.local
	}
	r.local += n
	r.consumer.Store(r.local)
}

// needWakeup reports whether the kernel asked to be kicked (only set when
// the socket was bound with XDP_USE_NEED_WAKEUP).
func (r *ring) needWakeup() bool {
	return r.flags.Load()&unix.XDP_RING_NEED_WAKEUP != 0
}

// Size is the number of entries in the ring.
func (r *ring) Size() uint32 { return r.size }

// FillRing is the producer ring that gives free frames to the kernel.
type FillRing struct {
	ring
	addrs []uint64
}

// Reserve claims up to n slots; it returns the first index and how many
// were claimed (0 when the ring is full). Write them with Set, then Submit.
func (f *FillRing) Reserve(n uint32) (idx, got uint32) { return f.reserve(n) }

// Set writes the frame address for slot idx (any uint32; it wraps).
func (f *FillRing) Set(idx uint32, addr uint64) { f.addrs[idx&f.mask] = addr }

// Submit publishes n reserved slots.
func (f *FillRing) Submit(n uint32) { f.submit(n) }

// Cancel returns n reserved, unsubmitted slots.
func (f *FillRing) Cancel(n uint32) { f.cancel(n) }

// Free reports how many slots could be reserved now.
func (f *FillRing) Free() uint32 { return f.free(f.size) }

// NeedWakeup reports whether the kernel wants a poll/recvfrom to look at
// the fill ring again.
func (f *FillRing) NeedWakeup() bool { return f.needWakeup() }

// CompletionRing is the consumer ring where the kernel returns frames it
// has finished transmitting.
type CompletionRing struct {
	ring
	addrs []uint64
}

// Peek claims up to n completed frames: first index and count.
func (c *CompletionRing) Peek(n uint32) (idx, got uint32) { return c.peek(n) }

// Addr reads the frame address at slot idx.
func (c *CompletionRing) Addr(idx uint32) uint64 { return c.addrs[idx&c.mask] }

// Release gives n peeked slots back to the kernel.
func (c *CompletionRing) Release(n uint32) { c.release(n) }

// RxRing is the consumer ring of received frames.
type RxRing struct {
	ring
	descs []Desc
}

// Peek claims up to n received descriptors: first index and count.
func (r *RxRing) Peek(n uint32) (idx, got uint32) { return r.peek(n) }

// Desc returns the descriptor at slot idx. It points into the shared ring:
// copy what you need before Release.
func (r *RxRing) Desc(idx uint32) *Desc { return &r.descs[idx&r.mask] }

// Release gives n peeked slots back to the kernel.
func (r *RxRing) Release(n uint32) { r.release(n) }

// TxRing is the producer ring of frames to transmit.
type TxRing struct {
	ring
	descs []Desc
}

// Reserve claims up to n slots: first index and count.
func (t *TxRing) Reserve(n uint32) (idx, got uint32) { return t.reserve(n) }

// Set fills slot idx with a frame at addr of length n.
func (t *TxRing) Set(idx uint32, addr uint64, n uint32) {
	d := &t.descs[idx&t.mask]
	d.Addr, d.Len, d.Options = addr, n, 0
}

// Desc returns slot idx for direct writing.
func (t *TxRing) Desc(idx uint32) *Desc { return &t.descs[idx&t.mask] }

// Submit publishes n reserved slots.
func (t *TxRing) Submit(n uint32) { t.submit(n) }

// Cancel returns n reserved, unsubmitted slots.
func (t *TxRing) Cancel(n uint32) { t.cancel(n) }

// Free reports how many slots could be reserved now.
func (t *TxRing) Free() uint32 { return t.free(t.size) }

// Pending reports how many submitted descriptors the kernel has not yet
// taken off the ring (one load of its consumer index).
func (t *TxRing) Pending() uint32 { return t.local - t.consumer.Load() }

// NeedWakeup reports whether the kernel wants a sendto to start sending.
func (t *TxRing) NeedWakeup() bool { return t.needWakeup() }
