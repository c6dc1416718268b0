package loadgen

// A minimal io_uring (io_uring(7)) for one thread: the generator queues
// the recv(2) of every connection one epoll_wait reported ready, submits
// them with one io_uring_enter, and does the same for the requests those
// responses let it send, so a batch of N ready connections costs two
// system calls instead of 2N. The sockets are non-blocking and every
// operation carries MSG_DONTWAIT, so each completes during the submit
// (data, -EAGAIN or an error) and none is left in flight across batches.

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// io_uring ABI (include/uapi/linux/io_uring.h).
const (
	ioringOpSend = 26
	ioringOpRecv = 27

	ioringOffSQRing = 0
	ioringOffSQEs   = 0x10000000

	ioringFeatSingleMmap = 1 << 0
	ioringEnterGetEvents = 1 << 0
	ioringSetupSingle    = 1 << 12 // IORING_SETUP_SINGLE_ISSUER (6.0)
)

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFDIn  int32
	addr3       uint64
	_           uint64
}

type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// ErrNoURing: the kernel has no io_uring, or it is disabled
// (kernel.io_uring_disabled).
var ErrNoURing = errors.New("loadgen: io_uring unavailable")

// uring is one ring; not safe for concurrent use (SINGLE_ISSUER).
type uring struct {
	fd               int
	ringMem, sqeMem  []byte
	sqHead, sqTail   *uint32
	sqMask           uint32
	sqArray          []uint32
	sqes             []sqe
	cqHead, cqTail   *uint32
	cqMask           uint32
	cqes             []cqe
	queued, inflight uint32 // SQEs written and not submitted; submitted and not reaped
	pin              runtime.Pinner
}

func newURing(entries uint32) (*uring, error) {
	var p uringParams
	p.flags = ioringSetupSingle
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno == unix.EINVAL { // before 6.0: no SINGLE_ISSUER
		p = uringParams{}
		fd, _, errno = unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	}
	switch errno {
	case 0:
	case unix.ENOSYS, unix.EPERM:
		return nil, fmt.Errorf("%w: %v", ErrNoURing, errno)
	default:
		return nil, fmt.Errorf("loadgen: io_uring_setup: %w", errno)
	}
	r := &uring{fd: int(fd)}
	if p.features&ioringFeatSingleMmap == 0 {
		r.close()
		return nil, fmt.Errorf("%w: no single mmap (Linux < 5.4)", ErrNoURing)
	}
	size := max(p.sqOff.array+p.sqEntries*4, p.cqOff.cqes+p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	var err error
	if r.ringMem, err = unix.Mmap(r.fd, ioringOffSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, fmt.Errorf("loadgen: io_uring mmap: %w", err)
	}
	if r.sqeMem, err = unix.Mmap(r.fd, ioringOffSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, fmt.Errorf("loadgen: io_uring mmap: %w", err)
	}
	at := func(off uint32) unsafe.Pointer { return unsafe.Pointer(&r.ringMem[off]) }
	r.sqHead, r.sqTail = (*uint32)(at(p.sqOff.head)), (*uint32)(at(p.sqOff.tail))
	r.sqMask = *(*uint32)(at(p.sqOff.ringMask))
	r.sqArray = unsafe.Slice((*uint32)(at(p.sqOff.array)), p.sqEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead, r.cqTail = (*uint32)(at(p.cqOff.head)), (*uint32)(at(p.cqOff.tail))
	r.cqMask = *(*uint32)(at(p.cqOff.ringMask))
	r.cqes = unsafe.Slice((*cqe)(at(p.cqOff.cqes)), p.cqEntries)
	return r, nil
}

func (r *uring) close() {
	r.pin.Unpin()
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
	}
	if r.ringMem != nil {
		unix.Munmap(r.ringMem)
	}
	unix.Close(r.fd)
}

// space is how many more SQEs fit before a submit.
func (r *uring) space() int { return len(r.sqes) - int(r.queued+r.inflight) }

// prep queues op on fd for b (b must stay pinned: the caller pins every
// buffer it hands the ring once, with r.pin).
func (r *uring) prep(op uint8, fd int, b []byte, flags uint32, userData uint64) {
	tail := *r.sqTail + r.queued
	idx := tail & r.sqMask
	r.sqes[idx] = sqe{opcode: op, fd: int32(fd), addr: uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b)))),
		len: uint32(len(b)), opFlags: flags, userData: userData}
	r.sqArray[idx] = idx
	r.queued++
}

// submit hands the queued SQEs to the kernel and waits until all of
// them have completed (they complete during the call: non-blocking
// sockets, MSG_DONTWAIT), then calls done for each completion.
func (r *uring) submit(done func(userData uint64, res int32)) error {
	if r.queued == 0 {
		return nil
	}
	atomic.StoreUint32(r.sqTail, *r.sqTail+r.queued)
	n := r.queued
	r.queued = 0
	r.inflight += n
	for r.inflight > 0 {
		ret, _, errno := unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(n), uintptr(r.inflight),
			ioringEnterGetEvents, 0, 0)
		if errno == unix.EINTR || errno == unix.EAGAIN || errno == unix.EBUSY {
			n -= min(n, uint32(ret))
			r.reap(done)
			continue
		}
		if errno != 0 {
			return fmt.Errorf("loadgen: io_uring_enter: %w", errno)
		}
		n -= min(n, uint32(ret))
		r.reap(done)
	}
	return nil
}

func (r *uring) reap(done func(userData uint64, res int32)) {
	head := *r.cqHead
	tail := atomic.LoadUint32(r.cqTail)
	for ; head != tail; head++ {
		c := r.cqes[head&r.cqMask]
		r.inflight--
		done(c.userData, c.res)
	}
	atomic.StoreUint32(r.cqHead, head)
}

// The kind of a generator's SQE, in its user data above the connection
// index.
const (
	opRecv = 1 << 32
	opSend = 2 << 32
)

// flush submits what the batch queued: the receives (and the requests
// of connections that connected), then the requests those receives'
// responses let go out. Their completions are handled as read and write
// handle a system call's result.
// An io_uring_enter that fails ends the run with its error (Run's),
// not a count against the server.
func (g *gen) flush() {
	for g.ring != nil && g.ring.queued > 0 && g.ringErr == nil {
		g.ringErr = g.ring.submit(g.completed)
	}
}

func (g *gen) completed(userData uint64, res int32) {
	i := int32(uint32(userData))
	c := &g.conns[i]
	switch {
	case userData&opRecv != 0:
		if c.state == stClosed {
			return
		}
		g.received(i, res)
	case userData&opSend != 0:
		if c.state != stSending {
			return
		}
		switch {
		case res == -int32(unix.EAGAIN):
		case res < 0:
			g.fail(i, ErrEOF)
			return
		default:
			c.wOff += int(res)
		}
		g.write(i) // the rest, if any, or EPOLLOUT on EAGAIN
	}
}

// received is read's step for one recv's result.
func (g *gen) received(i int32, res int32) {
	c := &g.conns[i]
	switch {
	case res == -int32(unix.EAGAIN):
		return
	case res <= 0:
		g.eof(i)
		return
	}
	full := int(res) == len(c.buf)-c.n
	c.n += int(res)
	if g.consume(i) && full {
		g.read(i) // maybe more
	}
}

// ProbeURing reports whether this kernel gives the generator a ring:
// nil, or an error wrapping ErrNoURing.
func ProbeURing() error {
	r, err := newURing(8)
	if err != nil {
		return err
	}
	r.close()
	return nil
}
