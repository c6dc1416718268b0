package netenv

import (
	"errors"
	"net/netip"
)

// Spec is what a server is about to do, for Preflight to check.
type Spec struct {
	Interface string           // the device sluice attaches to
	Listen    []netip.AddrPort // addresses and ports to serve (unspecified address: all of its family)
	Loops     int              // loops wanting a queue each; 0 skips the queue check (software steering)
	FrameSize int              // UMEM frame size; 0 skips the MTU check
	Headroom  int              // UMEM headroom per frame
	UMEMBytes int64            // UMEM size for the locked-memory check; 0 skips it
	// SkipPrivileges leaves out the capability check (for a caller that
	// already holds the XDP program and sockets, e.g. after dropping
	// privileges).
	SkipPrivileges bool
}

// Preflight runs every check a Serve needs before touching the data path,
// in the calling thread's network namespace, and returns all the problems
// it finds at once (errors.Join), so an operator fixes them in one round:
// privileges, interface present and up, each address on the interface, no
// kernel listener on a served port, enough queues, MTU within the frame.
// A missing interface stops the checks that need it.
func Preflight(s Spec) error {
	var errs []error
	if !s.SkipPrivileges {
		errs = append(errs, CheckPrivileges(s.UMEMBytes))
	}
	l, err := link(s.Interface)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	errs = append(errs, checkUp(l))
	for _, ap := range s.Listen {
		errs = append(errs, checkAddress(l, ap.Addr()))
	}
	for _, ap := range s.Listen {
		errs = append(errs, CheckKernelListener(s.Interface, ap.Addr(), ap.Port()))
	}
	if s.Loops > 0 {
		errs = append(errs, CheckQueues(s.Interface, s.Loops))
	}
	if s.FrameSize > 0 {
		errs = append(errs, mtuError(s.Interface, l.Attrs().MTU, s.FrameSize, s.Headroom))
	}
	return errors.Join(errs...)
}
