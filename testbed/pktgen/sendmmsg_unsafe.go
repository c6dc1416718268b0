package pktgen

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// batch holds the iovecs and mmsghdrs of one sendmmsg call, allocated once.
type batch struct {
	iov  [Batch]unix.Iovec
	msgs [Batch]mmsghdr
}

// mmsghdr is struct mmsghdr (a msghdr and the kernel's sent-length result).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

func (b *batch) init() {
	for i := range b.msgs {
		b.msgs[i].hdr.Iov = &b.iov[i]
		b.msgs[i].hdr.Iovlen = 1
	}
}

func (b *batch) set(i int, frame []byte) {
	b.iov[i].Base = &frame[0]
	b.iov[i].SetLen(len(frame))
}

// send passes the first k messages to sendmmsg and returns how many the
// kernel took.
func (b *batch) send(fd, k int) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.msgs[0])), uintptr(k), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
