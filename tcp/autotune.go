package tcp

import "time"

// Buffer auto-tuning: a connection starts with Config.SendBuffer and
// Config.RecvBuffer octets and, when Config.SendBufferMax /
// RecvBufferMax are larger, grows them when the transfer needs more,
// never beyond those bounds. This is Linux's receive-buffer
// auto-tuning (dynamic right-sizing, tcp_rcv_space_adjust: the buffer
// follows what the application drains per RTT) and send-buffer growth
// (tcp_sndbuf_expand: room for the congestion window). Growing only
// raises a bound: chunks are taken as text arrives or is written.

// grow raises the ring's bound to size octets: no copy, no allocation
// (chunks are taken as text arrives).
func (r *ring) grow(size int) {
	if size > r.q.Limit() {
		r.q.SetLimit(size)
	}
}

// rcvAutotune runs after the application consumed n octets. It is
// Linux's dynamic right-sizing (tcp_rcv_space_adjust): once per receiver
// RTT it takes what the application drained in that RTT and, when that
// is more than any RTT drained before (rcvSpace, at first RFC 6928's
// initial window), sizes the buffer by drsWindow. Doubling only when more
// than half the buffer went through in one RTT instead grew the window
// every other RTT behind a sender in slow start: the RTT after a growth
// still carries the old window's data, since the peer learns of the
// growth only from the ACKs sent during it.
func (t *TCB) rcvAutotune(n int, now Instant) {
	if t.cfg.RecvBufferMax <= t.rcv.cap() || t.rcv.q.Pool().UnderPressure() {
		return // at the bound, or memory pressure: no growth (tcp_mem)
	}
	t.rcvCopied += uint32(n)
	rtt := time.Duration(t.rcvRTTus) * time.Microsecond
	if t.has(flagRTT) && (rtt == 0 || t.srtt < rtt) {
		rtt = t.srtt
	}
	if rtt <= 0 {
		return
	}
	if t.rcvSpaceAt == 0 {
		t.rcvSpaceAt, t.rcvCopied = now, uint32(n)
		return
	}
	if now.Sub(t.rcvSpaceAt) < rtt {
		return
	}
	copied, space := t.rcvCopied, max(t.rcvSpace, initialWindow(uint16(t.rcvMSS())))
	t.rcvSpaceAt, t.rcvCopied = now, 0
	if copied <= space {
		return
	}
	t.rcvSpace = copied
	t.rcv.grow(int(min(drsWindow(copied, space, t.rcvMSS()), uint64(t.cfg.RecvBufferMax))))
}

// drsWindow is the window tcp_rcv_space_adjust asks for after copied
// octets were drained in an RTT that followed one of space octets: twice
// what was drained (room to recover a loss without stalling) plus 16
// segments of cushion, and, when the drain grew, twice that growth again
// on top: a sender in slow start doubles every RTT, and the window
// offered now is used an RTT later (so 6x copied while doubling).
func drsWindow(copied, space, mss uint32) uint64 {
	w := 2*uint64(copied) + 16*uint64(mss)
	return w + 2*w*uint64(copied-space)/uint64(space)
}

// rcvRTTSample is the receiver's RTT estimate from the echo of our
// timestamp in arriving text (RFC 7323 §4; Linux tcp_rcv_rtt_measure_ts),
// for a receiver that sends no data to time.
func (t *TCB) rcvRTTSample(seg *Segment, now Instant) {
	o := &seg.Options
	if !t.has(flagTS) || !o.HasTS || o.TSEcr == 0 || t.cfg.RecvBufferMax <= t.rcv.cap() {
		return
	}
	d := t.tsNow(now) - o.TSEcr
	if int32(d) < 0 || d > 60_000 {
		return
	}
	r := uint32(max(time.Duration(d)*time.Millisecond, time.Millisecond) / time.Microsecond)
	if t.rcvRTTus == 0 {
		t.rcvRTTus = r
	} else {
		t.rcvRTTus = (7*t.rcvRTTus + r) / 8 // at most 7*60 s in µs: no overflow
	}
}

// sndAutotune grows the send buffer before a Write that does not fit,
// when the congestion and peer windows could carry more than half of it:
// the buffer, not the network, would limit the transfer.
func (t *TCB) sndAutotune() {
	c := t.snd.cap()
	if t.cfg.SendBufferMax <= c || t.sndUna == t.iss || t.snd.q.Pool().UnderPressure() {
		return
	}
	// The peer's current window, not the largest it offered: a reader
	// that stopped (window closed) must not make the buffer grow.
	if w := min(t.cc.Window(), t.sndWnd); int(w) > c/2 {
		t.snd.grow(min(2*c, t.cfg.SendBufferMax))
	}
}

// BufferSizes returns the current send and receive buffer sizes.
func (t *TCB) BufferSizes() (snd, rcv int) { return t.snd.cap(), t.rcv.cap() }
