package sched

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// cacheLine pads the hot counters apart: producers hammer the enqueue
// position, the consumer owns the dequeue position, and sharing a line
// between them would bounce it between cores on every operation.
const cacheLine = 64

type mpscSlot[T any] struct {
	// seq tells whose turn the slot is. For position pos mapped to this
	// slot: seq == pos means free for the producer that claims pos;
	// seq == pos+1 means filled and ready for the consumer.
	seq atomic.Uint64
	val T
}

// MPSC is a bounded lock-free multi-producer single-consumer ring: Vyukov's
// bounded MPMC queue with per-slot sequence numbers, with the consumer side
// reduced to plain loads and stores because only the owning loop pops.
//
// Producers (other goroutines: Conn.Write from outside a callback, Dial,
// Shutdown, frames that arrived on the wrong queue) claim a position with one
// CAS and publish the slot with a store; a full ring fails fast (TryPush
// returns false) instead of blocking the producer, so the caller can count it
// and decide. Each producer's items come out in the order it pushed them.
//
// Wakeup: the consumer may sleep in poll(2) on Fd (alongside its AF_XDP
// socket). It announces that with PrepareSleep; a producer that publishes an
// item and then sees the announcement writes the eventfd. Producers pay for a
// syscall only when the consumer is actually asleep.
type MPSC[T any] struct {
	_        [cacheLine]byte
	enqueue  atomic.Uint64 // next position producers claim
	_        [cacheLine - 8]byte
	dequeue  uint64 // next position the consumer reads; consumer-owned
	_        [cacheLine - 8]byte
	sleeping atomic.Uint32 // 1 while the consumer is (about to be) asleep
	closed   atomic.Bool
	_        [cacheLine - 8]byte
	mask     uint64
	slots    []mpscSlot[T]
	efd      int
	// efdMu orders producers' eventfd writes against Close, so a write can
	// never land on a closed (and possibly reused) descriptor number. Only
	// the wakeup path takes it, never a plain push.
	efdMu sync.RWMutex
}

// ErrRingClosed is returned by operations on a closed ring.
var ErrRingClosed = errors.New("sched: ring closed")

// NewMPSC returns a ring with room for size items (rounded up to a power of
// two, at least 2) and its wakeup eventfd.
func NewMPSC[T any](size int) (*MPSC[T], error) {
	n := 2
	for n < size {
		n <<= 1
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	r := &MPSC[T]{mask: uint64(n - 1), slots: make([]mpscSlot[T], n), efd: efd}
	for i := range r.slots {
		r.slots[i].seq.Store(uint64(i))
	}
	return r, nil
}

// Cap reports the ring's capacity.
func (r *MPSC[T]) Cap() int { return len(r.slots) }

// Len reports roughly how many items are queued (exact when no producer is
// mid-push). Safe from any goroutine.
func (r *MPSC[T]) Len() int {
	e := r.enqueue.Load()
	d := atomic.LoadUint64(&r.dequeue)
	if e < d {
		return 0
	}
	return int(e - d)
}

// TryPush appends v. It returns false when the ring is full or closed; it
// never blocks. Safe from any goroutine.
func (r *MPSC[T]) TryPush(v T) bool {
	if r.closed.Load() {
		return false
	}
	pos := r.enqueue.Load()
	for {
		s := &r.slots[pos&r.mask]
		seq := s.seq.Load()
		switch dif := int64(seq - pos); {
		case dif == 0:
			if r.enqueue.CompareAndSwap(pos, pos+1) {
				s.val = v
				s.seq.Store(pos + 1) // publish
				r.notify()
				return true
			}
			pos = r.enqueue.Load()
		case dif < 0:
			// The slot still holds the item from one lap ago: full.
			return false
		default:
			// Another producer claimed pos first.
			pos = r.enqueue.Load()
		}
	}
}

// notify wakes the consumer if it announced it is going to sleep. The item
// was published (seq store) before the flag is read, and the consumer sets
// the flag before its final emptiness check; with sequentially consistent
// atomics at least one side sees the other, so no wakeup is lost. Only the
// producer that flips the flag back writes the eventfd: one write per sleep.
func (r *MPSC[T]) notify() {
	if r.sleeping.Load() == 0 || !r.sleeping.CompareAndSwap(1, 0) {
		return
	}
	r.efdMu.RLock()
	if r.efd >= 0 {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		// EAGAIN would mean the counter is at its maximum, i.e. the
		// consumer will wake anyway; nothing else can fail usefully.
		_, _ = unix.Write(r.efd, one[:])
	}
	r.efdMu.RUnlock()
}

// Pop removes the oldest published item. Consumer only.
//
// It reports false when the ring is empty, and also when the next position
// was claimed by a producer that has not finished writing it: items behind it
// wait (per-producer order must hold), and that producer's notify wakes the
// consumer if it went to sleep meanwhile.
func (r *MPSC[T]) Pop() (T, bool) {
	var zero T
	pos := r.dequeue
	s := &r.slots[pos&r.mask]
	if s.seq.Load() != pos+1 {
		return zero, false
	}
	v := s.val
	s.val = zero // drop references held by the item
	// Hand the slot to the producer of the next lap.
	s.seq.Store(pos + r.mask + 1)
	atomic.StoreUint64(&r.dequeue, pos+1)
	return v, true
}

// PopBatch moves up to len(dst) items into dst and returns how many.
// Consumer only.
func (r *MPSC[T]) PopBatch(dst []T) int {
	n := 0
	for n < len(dst) {
		v, ok := r.Pop()
		if !ok {
			break
		}
		dst[n] = v
		n++
	}
	return n
}

// Fd is the eventfd to poll for POLLIN alongside the loop's other
// descriptors; -1 after Close.
func (r *MPSC[T]) Fd() int {
	r.efdMu.RLock()
	defer r.efdMu.RUnlock()
	return r.efd
}

// PrepareSleep announces that the consumer is about to sleep. It returns
// false, and withdraws the announcement, when an item is already available:
// then the consumer must not sleep. After a true return, the consumer polls
// Fd (and whatever else it waits on) and then calls EndSleep.
//
// The order is the one that makes lost wakeups impossible: announce first,
// then check the ring (see notify).
func (r *MPSC[T]) PrepareSleep() bool {
	r.sleeping.Store(1)
	if r.slots[r.dequeue&r.mask].seq.Load() == r.dequeue+1 {
		r.sleeping.Store(0)
		return false
	}
	return true
}

// EndSleep withdraws the sleep announcement, whatever woke the consumer. It
// reports whether a producer signalled the eventfd during this sleep; if so
// it also drains the eventfd so the next poll does not return at once.
func (r *MPSC[T]) EndSleep() bool {
	if r.sleeping.Swap(0) == 1 {
		return false
	}
	// A producer flipped the flag: its eventfd write is done or about to
	// be. Drain now; a write that lands after this read only causes one
	// spurious wakeup, which DrainWakeups (on POLLIN) clears.
	r.DrainWakeups()
	return true
}

// DrainWakeups resets the eventfd counter. Call it when poll reports Fd
// readable. Consumer only.
func (r *MPSC[T]) DrainWakeups() {
	r.efdMu.RLock()
	defer r.efdMu.RUnlock()
	if r.efd < 0 {
		return
	}
	var buf [8]byte
	_, _ = unix.Read(r.efd, buf[:]) // EAGAIN: already drained
}

// Wait is the whole sleep protocol for a consumer whose only event source is
// this ring: sleep until an item is available or timeoutMs passes (-1: no
// timeout). It returns true when the ring is non-empty on return.
func (r *MPSC[T]) Wait(timeoutMs int) (bool, error) {
	if !r.PrepareSleep() {
		return true, nil
	}
	fd := r.Fd()
	if fd < 0 {
		r.EndSleep()
		return false, ErrRingClosed
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	var err error
	for {
		_, err = unix.Poll(fds, timeoutMs)
		if err != unix.EINTR {
			break
		}
	}
	r.EndSleep()
	if fds[0].Revents&unix.POLLIN != 0 {
		r.DrainWakeups()
	}
	if err != nil {
		return false, err
	}
	return r.slots[r.dequeue&r.mask].seq.Load() == r.dequeue+1, nil
}

// Close stops further pushes and closes the eventfd. Items still queued can
// be popped. Close may be called once producers have been told to stop;
// a push racing with it either lands or returns false, and never writes to
// a closed descriptor.
func (r *MPSC[T]) Close() error {
	if r.closed.Swap(true) {
		return ErrRingClosed
	}
	r.efdMu.Lock()
	defer r.efdMu.Unlock()
	err := unix.Close(r.efd)
	r.efd = -1
	return err
}
