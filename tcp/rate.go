package tcp

import "time"

// Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation,
// Linux tcp_rate.c). Each transmission snapshots the connection's
// delivered count and times into its txRecord (rack.go); an ACK that
// delivers records turns the newest one's snapshot into a rate sample:
// the octets delivered since it was sent over the longer of its send
// and ACK intervals. BBR (bbr.go) is the consumer. Octets are counted,
// not packets.

// RateSample is what one ACK tells of the path (the draft's rs), handed
// to a RateController.
type RateSample struct {
	// Delivered is the octets delivered over Interval (the draft's
	// rs.delivered); Interval <= 0 means no valid sample on this ACK.
	Delivered uint32
	Interval  time.Duration
	// AppLimited: the newest delivered record was sent while the
	// application, not the network, limited the flight; its rate is a
	// lower bound of what the path carries.
	AppLimited bool
	// PriorDelivered is C.delivered when that record was sent, the
	// round-trip marker BBR counts rounds with.
	PriorDelivered uint64
	// TotalDelivered is C.delivered after this ACK.
	TotalDelivered uint64
	// Acked is the octets this ACK newly delivered (cumulatively or
	// selectively); Lost the octets it newly marked lost.
	Acked, Lost uint32
	// InFlight is the octets in the network after the ACK (RFC 6675
	// pipe); PriorInFlight before it.
	InFlight, PriorInFlight uint32
	// RTT is the round-trip sample this ACK gave (0 if none); SRTT the
	// smoothed RTT after it.
	RTT, SRTT time.Duration
	// MSS is the send MSS.
	MSS uint16
}

// Rate returns the sample in octets per second (0 when invalid).
func (rs *RateSample) Rate() uint64 {
	if rs.Interval <= 0 {
		return 0
	}
	return uint64(rs.Delivered) * uint64(time.Second) / uint64(rs.Interval)
}

// rateState is the connection's part of the draft's state (C.*).
type rateState struct {
	delivered     uint64  // C.delivered: octets delivered so far
	deliveredTime Instant // C.delivered_time
	firstSendTime Instant // C.first_send_time
	appLimited    uint64  // C.app_limited: delivered mark ending the app-limited phase (0: not)

	// The sample being built on the current ACK.
	priorDelivered uint64
	priorTime      Instant
	sendElapsed    time.Duration
	lastXmit       Instant
	lastEnd        Seq
	sampleAppLtd   bool
	acked          uint32
	have           bool
}

// usAgo is the microseconds from then to now, saturating.
func usAgo(now, then Instant) uint32 {
	d := now.Sub(then) / time.Microsecond
	return uint32(min(max(d, 0), 1<<32-1))
}

// onSend is the draft's "Upon each packet transmission" for record r
// (first transmission or retransmission) sent at now; inflight is the
// octets in flight before it.
func (s *rateState) onSend(r *txRecord, inflight uint32, now Instant) {
	if inflight == 0 {
		// Nothing in flight: the send and ACK intervals restart here.
		s.firstSendTime, s.deliveredTime = now, now
	}
	r.delivered = uint32(s.delivered)
	r.dlvAgo = usAgo(now, s.deliveredTime)
	r.firstAgo = usAgo(now, s.firstSendTime)
	r.flags &^= txAppLimited
	if s.appLimited != 0 {
		r.flags |= txAppLimited
	}
}

// onDelivered is the draft's UpdateRateSample for a record newly
// delivered (cumulatively or selectively) at now.
func (s *rateState) onDelivered(r *txRecord, now Instant) {
	s.delivered += uint64(r.n)
	s.deliveredTime = now
	s.acked += r.n
	// The record's delivered snapshot, unwrapped against C.delivered.
	prior := s.delivered - uint64(uint32(s.delivered)-r.delivered)
	if !s.have || sentAfter(r.xmit, r.end(), s.lastXmit, s.lastEnd) {
		// The most recently sent record delivered on this ACK defines
		// the sample (Linux tcp_rate_skb_delivered).
		s.have = true
		s.priorDelivered = prior
		s.priorTime = r.xmit.Add(-time.Duration(r.dlvAgo) * time.Microsecond)
		s.sendElapsed = time.Duration(r.firstAgo) * time.Microsecond
		s.sampleAppLtd = r.flags&txAppLimited != 0
		s.lastXmit, s.lastEnd = r.xmit, r.end()
		s.firstSendTime = r.xmit // the next interval's send phase starts here
	}
}

// sample is the draft's GenerateRateSample at the end of an ACK's
// processing; minRTT rejects intervals too short to be a round trip
// (0: no bound). It resets the per-ACK state.
func (s *rateState) sample(rs *RateSample, minRTT time.Duration) {
	*rs = RateSample{TotalDelivered: s.delivered, Acked: s.acked}
	if s.appLimited != 0 && s.delivered > s.appLimited {
		s.appLimited = 0 // the app-limited flight has been delivered
	}
	if s.have {
		rs.PriorDelivered = s.priorDelivered
		rs.AppLimited = s.sampleAppLtd
		rs.Delivered = uint32(min(s.delivered-s.priorDelivered, 1<<32-1))
		// The longer of the send and ACK phases: ACK compression cannot
		// shorten the interval below the rate the data left at.
		iv := max(s.sendElapsed, s.deliveredTime.Sub(s.priorTime))
		if iv >= minRTT && iv > 0 {
			rs.Interval = iv
		}
	}
	s.have, s.acked = false, 0
}

// markAppLimited is the draft's CheckIfApplicationLimited outcome: the
// sender has nothing to send, the flight is below cwnd and no loss
// awaits retransmission; samples until this flight is delivered are
// app-limited.
func (s *rateState) markAppLimited(inflight uint32) {
	s.appLimited = max(s.delivered+uint64(inflight), 1)
}

// minmax is a windowed min or max filter (Kathleen Nichols' algorithm,
// Linux lib/minmax.c): the best, second and third best samples of the
// window, so the extreme expires in O(1) without a sample history. t is
// the caller's clock (an Instant, or a round count).
type minmax struct{ s [3]mmSample }

type mmSample struct {
	t int64
	v uint64
}

func (m *minmax) get() uint64 { return m.s[0].v }

func (m *minmax) reset(t int64, v uint64) { m.s = [3]mmSample{{t, v}, {t, v}, {t, v}} }

// updateMax takes sample v at t into a running max over window win.
func (m *minmax) updateMax(t, win int64, v uint64) uint64 {
	x := mmSample{t, v}
	if v >= m.s[0].v || t-m.s[2].t > win {
		m.reset(t, v) // a new max, or nothing left in the window
		return v
	}
	if v >= m.s[1].v {
		m.s[1], m.s[2] = x, x
	} else if v >= m.s[2].v {
		m.s[2] = x
	}
	return m.subwin(t, win, x)
}

// updateMin is updateMax's mirror.
func (m *minmax) updateMin(t, win int64, v uint64) uint64 {
	x := mmSample{t, v}
	if m.s[0].v == 0 || v <= m.s[0].v || t-m.s[2].t > win {
		m.reset(t, v)
		return v
	}
	if v <= m.s[1].v {
		m.s[1], m.s[2] = x, x
	} else if v <= m.s[2].v {
		m.s[2] = x
	}
	return m.subwin(t, win, x)
}

// subwin ages the samples: when the best is older than the window the
// second and third move up; a quarter and half window in, the later
// samples are refreshed so the window holds three spread-out choices.
func (m *minmax) subwin(t, win int64, x mmSample) uint64 {
	dt := t - m.s[0].t
	switch {
	case dt > win:
		m.s[0], m.s[1], m.s[2] = m.s[1], m.s[2], x
		if t-m.s[0].t > win {
			m.s[0], m.s[1] = m.s[1], m.s[2]
		}
	case m.s[1].t == m.s[0].t && dt > win/4:
		m.s[1], m.s[2] = x, x
	case m.s[2].t == m.s[1].t && dt > win/2:
		m.s[2] = x
	}
	return m.s[0].v
}
