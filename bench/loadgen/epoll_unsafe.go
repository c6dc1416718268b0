package loadgen

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// epollWaitNs is epoll_pwait2(2) (Linux 5.11): a nanosecond timeout, so an
// open-loop run can sleep until the next intended send time instead of
// rounding it to epoll_wait's milliseconds. timeout < 0 blocks. Kernels
// without it fall back to epoll_wait with the timeout rounded up.
func epollWaitNs(epfd int, events []unix.EpollEvent, timeout int64) (int, error) {
	if !noPwait2.Load() {
		var tsp unsafe.Pointer
		var ts unix.Timespec
		if timeout >= 0 {
			ts = unix.NsecToTimespec(timeout)
			tsp = unsafe.Pointer(&ts)
		}
		n, _, errno := unix.Syscall6(unix.SYS_EPOLL_PWAIT2, uintptr(epfd),
			uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(tsp), 0, 0)
		if errno == unix.ENOSYS {
			noPwait2.Store(true)
		} else if errno != 0 {
			return 0, errno
		} else {
			return int(n), nil
		}
	}
	ms := -1
	if timeout >= 0 {
		ms = int((timeout + 999_999) / 1_000_000)
	}
	return unix.EpollWait(epfd, events, ms)
}

var noPwait2 atomic.Bool

// send and recv are send(2) and recv(2) on a non-blocking socket as raw
// system calls. The call never blocks, so it needs none of the runtime's
// bookkeeping around a blocking one (entersyscall, exitsyscall: 2-4% of
// the generator's thread in a perf profile), and send/recv reach the
// socket without write/read's file-position lock and vfs steps (fdget_pos
// alone was 3%). MSG_NOSIGNAL: a reset connection is an EPIPE, counted,
// not a signal.
func send(fd int, b []byte) (int, error) {
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
		unix.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func recv(fd int, b []byte) (int, error) {
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
		0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
