package tcp

import "errors"

// State is a connection state of RFC 9293 §3.3.2.
type State uint8

const (
	Closed State = iota
	Listen
	SynSent
	SynReceived
	Established
	FinWait1
	FinWait2
	CloseWait
	Closing
	LastAck
	TimeWait
)

var stateNames = [...]string{
	"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
	"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT",
}

// String names the state exactly as RFC 9293 writes it.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "INVALID"
}

// synchronized reports whether the state is one of the synchronized states
// of RFC 9293 §3.5.2 (ESTABLISHED and later).
func (s State) synchronized() bool { return s >= Established }

// legalTransition reports whether RFC 9293 §3.3.2 (Figure 5) lets a
// connection go from one state to another, with this engine's
// extensions: CLOSED → ESTABLISHED for a SYN cookie's ACK (RFC 4987: the
// cookie stands for SYN-RECEIVED), LISTEN → CLOSED and SYN-SENT/
// SYN-RECEIVED → CLOSED on CLOSE, ABORT, reset or timeout, and any
// synchronized state → CLOSED on reset, abort or timeout.
func legalTransition(from, to State) bool {
	if to == Closed || from == to {
		return true
	}
	return legal[from]&(1<<to) != 0
}

var legal = [...]uint16{
	Closed:      1<<Listen | 1<<SynSent | 1<<Established,
	Listen:      1<<SynReceived | 1<<SynSent,
	SynSent:     1<<SynReceived | 1<<Established,
	SynReceived: 1<<Established | 1<<FinWait1 | 1<<CloseWait | 1<<Listen,
	Established: 1<<FinWait1 | 1<<CloseWait,
	FinWait1:    1<<FinWait2 | 1<<Closing | 1<<TimeWait,
	FinWait2:    1 << TimeWait,
	CloseWait:   1 << LastAck,
	Closing:     1 << TimeWait,
	LastAck:     0,
	TimeWait:    0,
}

// transitionHook, when set (by tests), sees every state change.
var transitionHook func(t *TCB, from, to State)

// Event is a bit set of things the application should learn about; the
// owner reads and clears it with TCB.Events after each call. Polling a
// bit set keeps the hot path free of callbacks and allocations.
type Event uint8

const (
	// EventEstablished: the handshake completed (SYN-SENT or
	// SYN-RECEIVED → ESTABLISHED).
	EventEstablished Event = 1 << iota
	// EventReadable: new in-order data (or the peer's FIN) can be read.
	EventReadable
	// EventWritable: send-buffer space was freed by an ACK.
	EventWritable
	// EventClosed: the TCB reached CLOSED; Err tells why (nil for a
	// graceful close). The owner frees the TCB.
	EventClosed
	// EventTimeWait: the TCB entered TIME-WAIT. The application is done
	// with it; the owner may move it to a compact TIME-WAIT table (Vars
	// has what that needs) or keep driving it until EventClosed.
	EventTimeWait
)

// Errors a connection ends with (TCB.Err). The API layer wraps them in
// net.OpError.
var (
	// ErrConnectionRefused: RST answered our SYN (RFC 9293 §3.10.7.3).
	ErrConnectionRefused = errors.New("tcp: connection refused")
	// ErrConnectionReset: the peer reset a synchronized connection.
	ErrConnectionReset = errors.New("tcp: connection reset by peer")
	// ErrTimeout: retransmissions, zero-window probes or keepalive probes
	// went unanswered for the configured number of tries (RFC 9293
	// §3.8.3 R2).
	ErrTimeout = errors.New("tcp: connection timed out")
	// ErrAborted: the local application called Abort, or closed with
	// unread data (RFC 2525 §2.17, what Linux does).
	ErrAborted = errors.New("tcp: connection aborted locally")
	// ErrClosed: the operation is not possible in the connection's state
	// (write after CloseWrite, open on a used TCB).
	ErrClosed = errors.New("tcp: use of closed connection")
	// ErrListenerFull: the SYN queue is full and SYN cookies are off.
	ErrListenerFull = errors.New("tcp: listen queue full")
)
