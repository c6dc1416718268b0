package impair

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchMax is how many frames one recvmmsg or sendmmsg call carries: one
// system call per batch instead of per frame is what lets the forwarder
// keep up with two TCP stacks on a shared core.
const batchMax = 64

// mmsg holds the iovecs and mmsghdrs of one recvmmsg or sendmmsg call,
// allocated once per goroutine that uses it.
type mmsg struct {
	iov  [batchMax]unix.Iovec
	msgs [batchMax]mmsghdr
}

// mmsghdr is struct mmsghdr (a msghdr and the kernel's length result).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

func newMmsg() *mmsg {
	m := &mmsg{}
	for i := range m.msgs {
		m.msgs[i].hdr.Iov = &m.iov[i]
		m.msgs[i].hdr.Iovlen = 1
	}
	return m
}

func (m *mmsg) set(i int, b []byte) {
	m.iov[i].Base = &b[0]
	m.iov[i].SetLen(len(b))
}

// length is the kernel's length result for message i: with MSG_TRUNC on a
// packet socket, the frame's real length even when it did not fit.
func (m *mmsg) length(i int) int { return int(m.msgs[i].len) }

// recvmmsg reads up to k frames into the buffers set, blocking (up to
// SO_RCVTIMEO) for the first only (MSG_WAITFORONE).
func (m *mmsg) recv(fd, k int) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&m.msgs[0])), uintptr(k),
		uintptr(unix.MSG_WAITFORONE|unix.MSG_TRUNC), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// send passes messages from..k-1 to sendmmsg and returns how many the
// kernel took.
func (m *mmsg) send(fd, from, k int) (int, error) {
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&m.msgs[from])), uintptr(k-from), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
