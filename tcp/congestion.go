package tcp

// Congestion is the seam for congestion control, fast retransmit and SACK
// recovery (RFC 5681, RFC 6675; a later issue). The TCB consults Window
// before sending new data and reports ACKs and timeouts.
type Congestion interface {
	// Window is the congestion window in octets (cwnd).
	Window() uint32
	// OnAck reports acked newly acknowledged octets, with the send MSS
	// and the octets still in flight.
	OnAck(acked uint32, mss uint16, inflight uint32)
	// OnTimeout reports a retransmission timeout with what was in flight.
	OnTimeout(mss uint16, inflight uint32)
}

// SetCongestion replaces the TCB's congestion controller (nil restores
// the default).
func (t *TCB) SetCongestion(c Congestion) {
	if c == nil {
		c = &t.ss
	}
	t.cc = c
}

// slowStart is the default controller: RFC 5681 §3.1 slow start and
// congestion avoidance with an initial window of 10 segments (RFC 6928),
// and the timeout response of RFC 5681 §3.1 (cwnd = 1 MSS). No fast
// retransmit yet.
type slowStart struct{ cwnd, ssthresh uint32 }

func (s *slowStart) init(mss uint16) { s.cwnd, s.ssthresh = 10*uint32(mss), 1<<30 }

func (s *slowStart) Window() uint32 { return s.cwnd }

func (s *slowStart) OnAck(acked uint32, mss uint16, _ uint32) {
	m := uint32(mss)
	if s.cwnd < s.ssthresh {
		s.cwnd += min(acked, m)
	} else {
		s.cwnd += max(m*m/s.cwnd, 1)
	}
	s.cwnd = min(s.cwnd, 1<<30)
}

func (s *slowStart) OnTimeout(mss uint16, inflight uint32) {
	s.ssthresh = max(inflight/2, 2*uint32(mss))
	s.cwnd = uint32(mss)
}
