package loadgen

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BusyPoll has the generator's epoll_wait run the NAPI poll of its
// sockets' receive queue itself (epoll busy polling, Linux 6.9:
// Documentation/networking/napi.rst): when no connection is ready it polls
// the instance that delivered the last ready socket's segments for up to
// Timeout before it sleeps, so the client's kernel TCP receive runs in the
// generator's thread instead of waking the device's NAPI thread. With
// Prefer, and the instance's defer-hard-irqs and gro-flush-timeout set
// (the caller's part), a poll that ends keeps the device's interrupt (on
// veth: the sender's veth_xmit waking the NAPI thread) off for
// gro-flush-timeout, and with irq-suspend-timeout set (Linux 6.13) for as
// long as the generator keeps finding connections ready.
type BusyPoll struct {
	Timeout time.Duration // busy_poll_usecs; 0: off
	Budget  int           // packets per poll; 0: the kernel's 8
	Prefer  bool          // prefer_busy_poll
}

// epollParams is struct epoll_params (include/uapi/linux/eventpoll.h).
type epollParams struct {
	usecs  uint32
	budget uint16
	prefer uint8
	_      uint8
}

// epiocsparams is EPIOCSPARAMS, _IOW(0x8A, 0x01, struct epoll_params).
const epiocsparams = 1<<30 | uint32(unsafe.Sizeof(epollParams{}))<<16 | 0x8A<<8 | 0x01

// ErrNoBusyPoll: the kernel has no per-epoll busy-poll parameters
// (EPIOCSPARAMS, Linux >= 6.9).
var ErrNoBusyPoll = errors.New("loadgen: the kernel has no epoll busy-poll parameters (EPIOCSPARAMS needs Linux >= 6.9)")

// setBusyPoll applies bp to the epoll instance epfd.
func setBusyPoll(epfd int, bp BusyPoll) error {
	if bp.Timeout <= 0 {
		return nil
	}
	p := epollParams{usecs: uint32(bp.Timeout.Microseconds()), budget: uint16(bp.Budget)}
	if bp.Prefer {
		p.prefer = 1
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(epfd), uintptr(epiocsparams), uintptr(unsafe.Pointer(&p)))
	switch errno {
	case 0:
		return nil
	case unix.ENOTTY:
		return ErrNoBusyPoll
	}
	return fmt.Errorf("loadgen: EPIOCSPARAMS %+v: %w", bp, errno)
}

// ProbeBusyPoll reports whether this kernel takes epoll busy-poll
// parameters: nil, or ErrNoBusyPoll.
func ProbeBusyPoll() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(epfd)
	return setBusyPoll(epfd, BusyPoll{Timeout: time.Microsecond})
}
