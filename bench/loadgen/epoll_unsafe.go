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
