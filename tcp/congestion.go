package tcp

import "time"

// Congestion is the seam for congestion control (RFC 5681, RFC 9438).
// Loss detection and recovery (fast retransmit, SACK scoreboard, TLP,
// undo) live in the TCB (recovery.go); the controller only decides the
// window. The TCB calls:
//
//   - Window before sending (cwnd, octets);
//   - OnAck for newly acknowledged octets outside loss recovery, with
//     SRTT and the RTT sample this ACK gave (0 if none), and only while
//     the sender is cwnd-limited (cwndLimited): an application-limited
//     sender's window does not grow (RFC 9438 §4.8, RFC 7661);
//   - OnLoss when it enters fast recovery (RFC 5681 §3.2, RFC 6675 §5):
//     the controller sets ssthresh and cwnd = ssthresh, remembering the
//     old values for Undo;
//   - OnRecoveryEnd when recovery completes (RFC 6582 §3.2 step 3);
//   - OnTimeout on a retransmission timeout (RFC 5681 §3.1 eq. 4);
//   - OnIdle before sending after an idle period longer than the RTO
//     (RFC 5681 §4.1, RFC 9438 §5.8);
//   - Undo when the last reduction proved spurious (RFC 3522 Eifel,
//     RFC 2883 D-SACK): the window before it is restored.
type Congestion interface {
	Window() uint32
	Ssthresh() uint32
	OnAck(acked uint32, mss uint16, inflight uint32, now Instant, srtt, sample time.Duration)
	OnLoss(mss uint16, inflight uint32, now Instant)
	OnRecoveryEnd(mss uint16, inflight uint32, now Instant)
	OnTimeout(mss uint16, inflight uint32, now Instant)
	OnIdle(mss uint16, now Instant)
	Undo()
}

// Algorithm selects the built-in congestion controller (Config.CC).
type Algorithm uint8

const (
	// CUBIC is RFC 9438, Linux's default, and ours.
	CUBIC Algorithm = iota
	// NewReno is RFC 5681 slow start and congestion avoidance with
	// RFC 6582's recovery (the recovery itself lives in the TCB).
	NewReno
	// BBR is BBR v1 as Linux ships it (bbr.go), paced at its own rate.
	BBR
)

func (a Algorithm) String() string {
	switch a {
	case NewReno:
		return "newreno"
	case BBR:
		return "bbr"
	}
	return "cubic"
}

// SetCongestion replaces the TCB's congestion controller (nil restores
// the built-in one chosen by Config.CC).
func (t *TCB) SetCongestion(c Congestion) {
	if c == nil {
		c = t.builtinCC()
	}
	t.cc = c
}

// rateCC is the controller as a RateController, nil when it is not one.
// The built-in controllers are told apart by their concrete types (an
// itab compare) before the general assertion, which goes through the
// runtime's type-assertion cache: trySend asks on every call, and the
// cache lookup cost 1.5% of BenchmarkLoopEcho.
func (t *TCB) rateCC() RateController {
	switch c := t.cc.(type) {
	case *cubic, *newReno:
		return nil
	case *bbr:
		return c
	}
	rc, _ := t.cc.(RateController)
	return rc
}

// builtinCC returns the inline controller Config.CC names (no allocation:
// it lives in the TCB).
func (t *TCB) builtinCC() Congestion {
	switch t.cfg.CC {
	case NewReno:
		return &t.ss.reno
	case BBR:
		// BBR's state lives with the rest of the sender's (rack_tcb.go).
		x := t.sx()
		x.bbr.init(t.cfg.MSS, t.ports())
		return &x.bbr
	}
	return &t.ss
}

// initialWindow is RFC 6928's IW10 (as Linux); restartWindow is the
// window after idle (RFC 5681 §4.1: RW = min(IW, cwnd)).
func initialWindow(mss uint16) uint32 { return 10 * uint32(mss) }

// txStart is Linux's CA_EVENT_TX_START (tcp_event_data_sent): text
// goes out with nothing in flight. CUBIC moves its epoch past the idle
// time (cubic.onTxStart); an idle longer than the RTO has restarted the
// window in trySend already, and lastSend with it.
func (t *TCB) txStart(now Instant) {
	if c, ok := t.cc.(*cubic); ok && t.lastSend != 0 {
		c.onTxStart(now.Sub(t.lastSend), now)
	}
}

// flightCwndFull is maxFlight once cwnd held the sender back in the
// current window (Linux's is_cwnd_limited): above any real flight.
const flightCwndFull = ^uint32(0)

// cwndValidate is Linux's tcp_cwnd_validate, run when trySend sent
// text or stopped with text unsent because cwnd was full (limited).
// Per window of data (it ends once SND.UNA reaches cwndUseEnd) it keeps
// whether cwnd held the sender back, or else the most octets in
// flight: the ACKs of that window grow cwnd only as far as the sender
// used it (cwndLimited).
func (t *TCB) cwndValidate(limited bool) {
	flight := t.sndMax.Sub(t.sndUna)
	if limited {
		flight = flightCwndFull
	}
	if flight > t.maxFlight || t.sndUna.GreaterEq(t.cwndUseEnd) {
		t.maxFlight = flight
		t.cwndUseEnd = t.sndMax
	}
}

// cwndLimited is Linux's tcp_is_cwnd_limited: whether an ACK may grow
// cwnd. Yes if cwnd held the sender back in the current window; in slow
// start also while cwnd is below twice the most in flight (so it can
// double what was used). An application-limited sender, a keep-alive
// connection's small replies, keeps its window: otherwise thousands of
// one-segment exchanges would grow it without bound, and a large reply
// later would leave as a burst the path never carried (RFC 9438 §4.8,
// RFC 7661 §4.3).
func (t *TCB) cwndLimited() bool {
	if t.maxFlight == flightCwndFull {
		return true
	}
	w := t.cc.Window()
	return w < t.cc.Ssthresh() && w < 2*t.maxFlight
}

// cwndFull reports whether cwnd leaves no room for another full segment
// (Linux: packets in flight >= cwnd), counting the pipe in recovery
// (RFC 6675 §5).
func (t *TCB) cwndFull() bool {
	f := t.sndNxt.Sub(t.sndUna)
	if t.inRecovery() {
		f = t.pipe()
	}
	return f+uint32(t.sndMSS) > t.cc.Window()
}
