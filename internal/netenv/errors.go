package netenv

import (
	"errors"
	"os"
)

// Sentinel errors. Every error this package returns for one of these
// conditions matches the sentinel with errors.Is; the message of the
// returned error names the interface, address or port concerned and says
// what to do about it.
var (
	// ErrNoInterface: no network interface of that name in the calling
	// thread's network namespace.
	ErrNoInterface = errors.New("network interface not found")
	// ErrInterfaceDown: the interface is administratively down.
	ErrInterfaceDown = errors.New("network interface is down")
	// ErrAddressNotOnInterface: the address to serve on is not configured
	// on the interface, so the kernel would answer no ARP/ND for it.
	ErrAddressNotOnInterface = errors.New("address is not on the interface")
	// ErrPermission: the process lacks a capability it needs. It also
	// matches os.ErrPermission.
	ErrPermission = errors.New("missing privileges")
	// ErrKernelListener: a kernel TCP socket listens on the same address
	// and port; once XDP steers the port it never sees a segment again.
	ErrKernelListener = errors.New("a kernel socket already listens on the port")
	// ErrQueueCount: the device has fewer RX queues than loops requested.
	ErrQueueCount = errors.New("device has fewer queues than loops requested")
	// ErrMTU: a full-MTU frame does not fit in one UMEM frame.
	ErrMTU = errors.New("MTU too large for the frame size")
	// ErrNoRoute: the kernel has no usable route to a destination, or the
	// route leaves through another interface than sluice's.
	ErrNoRoute = errors.New("no usable route")
	// ErrNeighbourUnreachable: the next hop did not answer ARP (IPv4) or
	// Neighbour Solicitations (IPv6) in time.
	ErrNeighbourUnreachable = errors.New("next hop did not answer address resolution")
)

// Error is a preflight or resolution failure. Error() is the full
// sentence: what is wrong, with the names involved, and what to do.
type Error struct {
	Kind error  // one of the Err* sentinels
	Msg  string // the specific message (without the "sluice: " prefix)
	Err  error  // the underlying cause (an errno), or nil
}

func (e *Error) Error() string {
	s := "sluice: " + e.Msg
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

// Unwrap exposes the sentinel and the cause to errors.Is and errors.As.
// A permission error also matches os.ErrPermission.
func (e *Error) Unwrap() []error {
	out := make([]error, 0, 3)
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.Kind == ErrPermission {
		out = append(out, os.ErrPermission)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

func newError(kind error, cause error, msg string) error {
	return &Error{Kind: kind, Msg: msg, Err: cause}
}
