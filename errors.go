package sluice

import (
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/sluicenet/sluice/internal/netenv"
	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/tcp"
)

// Why a connection ended: the err of Handler.OnClose, and what the
// net.Conn adapter's Read and Write return. Each matches itself with
// errors.Is and also the errno a kernel socket would have reported
// (syscall.ECONNRESET, ...), so code written against net keeps working.
var (
	// ErrPeerClosed: the peer closed first (its FIN arrived before ours
	// was sent) and the close completed in order. Matches io.EOF.
	ErrPeerClosed error = &reasonError{"connection closed by peer", []error{io.EOF}}
	// ErrReset: the peer reset the connection (RST). Matches
	// syscall.ECONNRESET.
	ErrReset error = &reasonError{"connection reset by peer", []error{syscall.ECONNRESET, tcp.ErrConnectionReset}}
	// ErrTimeout: retransmissions or keep-alive probes went unanswered
	// (RFC 9293 §3.8.3). Matches syscall.ETIMEDOUT.
	ErrTimeout error = &reasonError{"connection timed out", []error{syscall.ETIMEDOUT, tcp.ErrTimeout}}
	// ErrAborted: this side reset the connection: Conn.Abort, a Close
	// with unread data (RFC 2525 §2.17), the connection limit, or the
	// Shutdown deadline. Matches syscall.ECONNABORTED.
	ErrAborted error = &reasonError{"connection aborted locally", []error{syscall.ECONNABORTED, tcp.ErrAborted}}
	// ErrRefused: the peer answered a Dial's SYN with RST. Matches
	// syscall.ECONNREFUSED.
	ErrRefused error = &reasonError{"connection refused", []error{syscall.ECONNREFUSED, tcp.ErrConnectionRefused}}
	// ErrServerClosed: the server stopped (Close, or the end of Shutdown)
	// while the connection was open. Matches net.ErrClosed.
	ErrServerClosed error = &reasonError{"server closed", []error{net.ErrClosed, sched.ErrLoopClosed}}
	// ErrWriteQueueFull: a Write would hold more than
	// Config.WriteQueueLimit octets beyond the send buffer; nothing was
	// queued. Wait for OnWritable. Matches syscall.EAGAIN.
	ErrWriteQueueFull error = &reasonError{"write queue full", []error{syscall.EAGAIN}}
	// ErrLoopBusy: a Conn method called from another goroutine could
	// not be handed to the connection's loop, whose queue of posted work
	// stayed full while the call retried (about 100 ms); nothing was
	// done. Try again later. Matches syscall.EAGAIN.
	ErrLoopBusy error = &reasonError{"the connection's loop is busy", []error{syscall.EAGAIN, sched.ErrPostFull}}
)

// Start-up errors that Start returns (wrapped in *net.OpError with Op
// "listen"); their messages name the device, address or port and say what
// to do. Match them with errors.Is.
var (
	ErrNoInterface           = netenv.ErrNoInterface
	ErrInterfaceDown         = netenv.ErrInterfaceDown
	ErrAddressNotOnInterface = netenv.ErrAddressNotOnInterface
	ErrPermission            = netenv.ErrPermission // also matches os.ErrPermission
	ErrKernelListener        = netenv.ErrKernelListener
	ErrQueueCount            = netenv.ErrQueueCount
	ErrMTU                   = netenv.ErrMTU
	// ErrNoXDP: the device or kernel cannot run the steering program in
	// the requested mode, or cannot bind AF_XDP sockets as asked.
	ErrNoXDP = errors.New("XDP or AF_XDP not available as configured")
)

// reasonError is a sentinel that also unwraps to the kernel's errno.
type reasonError struct {
	msg  string
	also []error
}

func (e *reasonError) Error() string   { return "sluice: " + e.msg }
func (e *reasonError) Unwrap() []error { return e.also }

// Timeout reports true for ErrTimeout (net.Error).
func (e *reasonError) Timeout() bool { return e == ErrTimeout }

// Temporary reports true for ErrWriteQueueFull (retry after OnWritable).
func (e *reasonError) Temporary() bool { return e == ErrWriteQueueFull }

// reason maps an engine or loop error to the public sentinel.
func reason(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tcp.ErrConnectionReset):
		return ErrReset
	case errors.Is(err, tcp.ErrTimeout):
		return ErrTimeout
	case errors.Is(err, tcp.ErrAborted):
		return ErrAborted
	case errors.Is(err, tcp.ErrConnectionRefused):
		return ErrRefused
	case errors.Is(err, sched.ErrLoopClosed):
		return ErrServerClosed
	case errors.Is(err, tcp.ErrClosed):
		return net.ErrClosed
	}
	return err
}

// opError wraps err in the *net.OpError shape net's own functions use.
func opError(op string, local, remote net.Addr, err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: "tcp", Source: local, Addr: remote, Err: err}
}
