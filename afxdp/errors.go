package afxdp

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// Sentinel errors. Every error afxdp returns for one of these conditions
// matches the sentinel with errors.Is, and also the underlying errno
// (errors.Is(err, unix.EBUSY) works too).
var (
	// ErrNotSupported: the kernel has no AF_XDP (CONFIG_XDP_SOCKETS=n or
	// older than 5.10).
	ErrNotSupported = errors.New("AF_XDP is not supported by this kernel: needs Linux >= 5.10 built with CONFIG_XDP_SOCKETS=y")
	// ErrPermission: the process lacks the capabilities AF_XDP needs.
	ErrPermission = errors.New("AF_XDP needs CAP_NET_ADMIN+CAP_NET_RAW (+CAP_BPF for the XDP program) or root")
	// ErrQueueRange: the queue id is not below the device's queue count.
	ErrQueueRange = errors.New("queue id is not below the device's queue count: use a smaller queue id or raise the count (ethtool -L DEV combined N)")
	// ErrBusy: another AF_XDP socket (or zero-copy user) holds the queue.
	ErrBusy = errors.New("queue is already bound by another AF_XDP socket: close it, or share its UMEM with XDP_SHARED_UMEM")
	// ErrNoXDPMode: the device cannot do AF_XDP in the requested mode
	// (zero-copy needs driver support; copy mode works on any device).
	ErrNoXDPMode = errors.New("device does not support AF_XDP in the requested mode: use ModeCopy or a driver with zero-copy support")
	// ErrFrameTooSmall: a full-MTU frame does not fit in one UMEM frame.
	ErrFrameTooSmall = errors.New("UMEM frame size too small for the device MTU: use 4096-byte frames or lower the MTU")
	// ErrBadConfig: sizes that are not powers of two, zero, or out of range.
	ErrBadConfig = errors.New("invalid AF_XDP configuration")
	// ErrClosed is net.ErrClosed, so callers can treat a closed socket the
	// way they treat a closed net.Conn.
	ErrClosed = net.ErrClosed
)

// Error is an afxdp failure: the operation, the device and queue when
// known, the sentinel that says what to do, and the errno from the kernel.
type Error struct {
	Op       string // e.g. "bind", "XDP_UMEM_REG", "mmap fill ring"
	Ifindex  int    // 0 when not about a device
	Queue    int
	Sentinel error // one of the Err* values, or nil
	Err      error // the errno or other cause, or nil
}

func (e *Error) Error() string {
	s := "afxdp: " + e.Op
	if e.Ifindex != 0 {
		s += fmt.Sprintf(" (ifindex %d queue %d)", e.Ifindex, e.Queue)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Sentinel != nil {
		s += ": " + e.Sentinel.Error()
	}
	return s
}

// Unwrap exposes both the sentinel and the cause to errors.Is/As.
func (e *Error) Unwrap() []error {
	var out []error
	if e.Sentinel != nil {
		out = append(out, e.Sentinel)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// sentinelFor maps an errno from socket/setsockopt/bind to the sentinel
// that tells the user what to do; nil when none fits.
func sentinelFor(err error) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return nil
	}
	switch errno {
	case unix.EAFNOSUPPORT:
		return ErrNotSupported
	case unix.EPERM, unix.EACCES:
		return ErrPermission
	case unix.EBUSY:
		return ErrBusy
	case unix.EOPNOTSUPP, enotsupp:
		return ErrNoXDPMode
	case unix.EBADF:
		return ErrClosed
	}
	return nil
}

// enotsupp is the kernel-internal ENOTSUPP (524) that some drivers leak.
const enotsupp = unix.Errno(524)

// opError builds an *Error for op, picking the sentinel from the errno.
func opError(op string, ifindex, queue int, err error) error {
	return &Error{Op: op, Ifindex: ifindex, Queue: queue, Sentinel: sentinelFor(err), Err: err}
}
