package tcp

import "time"

// Buffer auto-tuning: a connection starts with Config.SendBuffer and
// Config.RecvBuffer octets and, when Config.SendBufferMax /
// RecvBufferMax are larger, grows them (doubling) when the transfer
// needs more, never beyond those bounds. This is Linux's receive-buffer
// auto-tuning (dynamic right-sizing, tcp_rcv_space_adjust: the buffer
// follows what the application drains per RTT) and send-buffer growth
// (tcp_sndbuf_expand: room for the congestion window). Growing allocates
// once per doubling, outside the steady state; idle connections keep the
// small buffers.

// grow raises the ring's bound to size octets: no copy, no allocation
// (chunks are taken as text arrives).
func (r *ring) grow(size int) {
	if size > r.q.Limit() {
		r.q.SetLimit(size)
	}
}

// rcvAutotune runs after the application consumed n octets: once per
// receiver RTT it compares what was drained in that RTT with the buffer;
// when more than half the buffer went through in one RTT the window is
// the limit, and the buffer doubles (bounded by RecvBufferMax).
func (t *TCB) rcvAutotune(n int, now Instant) {
	if t.cfg.RecvBufferMax <= t.rcv.cap() || t.rcv.q.Pool().UnderPressure() {
		return // at the bound, or memory pressure: no growth (tcp_mem)
	}
	t.rcvCopied += uint32(n)
	rtt := t.rcvRTT
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
	if c := t.rcv.cap(); int(t.rcvCopied) > c/2 {
		t.rcv.grow(min(2*c, t.cfg.RecvBufferMax))
	}
	t.rcvSpaceAt, t.rcvCopied = now, 0
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
	r := max(time.Duration(d)*time.Millisecond, time.Millisecond)
	if t.rcvRTT == 0 {
		t.rcvRTT = r
	} else {
		t.rcvRTT = (7*t.rcvRTT + r) / 8
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
