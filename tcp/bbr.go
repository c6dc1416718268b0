package tcp

import "time"

// BBR congestion control, version 1: the algorithm of
// draft-cardwell-iccrg-bbr-congestion-control-00 as Linux mainline ships
// it (net/ipv4/tcp_bbr.c; Linux 6.x still ships v1, and it is what the
// Linux hosts measured against run). Not v3 (draft -02 and later, kept
// out of tree by Google): v3 caps inflight when a round loses more than
// 2% of its packets, which on the random-loss paths this engine is
// measured on (1% and 5% loss with no congestion) would throttle the
// flow the way loss-based control does, the behaviour BBR is chosen to
// avoid; v1 ignores loss outside recovery. It differs from tcp_bbr.c in:
// no long-term (policer) bandwidth mode and no ACK-aggregation extra
// cwnd (both heuristics for paths this engine has not been measured on);
// ProbeRTT's app-limited mark is kept inside BBR (samples taken before
// the ProbeRTT flight drains are treated as app-limited) rather than in
// the TCB.
//
// The model: BtlBw, a windowed max of delivery-rate samples over 10
// round trips (rate.go), and RTprop, the minimum RTT over 10 s. The
// sender paces at pacing_gain*BtlBw and bounds inflight by
// cwnd_gain*BtlBw*RTprop. States (§4.3 of the draft):
//
//   - Startup: gains 2/ln2 (doubling per round) until three rounds in
//     a row fail to raise BtlBw by 25%: the pipe is full;
//   - Drain: pacing gain ln2/2 until inflight falls to one BDP, emptying
//     the queue Startup built;
//   - ProbeBW: pacing gain cycles 1.25, 0.75, 1 x6 (one RTprop each),
//     probing for more bandwidth then draining what the probe queued;
//     cwnd gain 2;
//   - ProbeRTT: when RTprop has not been refreshed for 10 s, cwnd drops
//     to 4 segments for 200 ms and a round so the queue empties and a
//     true minimum is seen.

// RateController is an optional extension of Congestion for
// controllers that need a rate sample per ACK (BBR). When the TCB's
// controller implements it, the TCB calls OnRateSample on every ACK
// that delivers data or marks losses, in recovery too, instead of
// OnAck, and paces its segments at PacingRate (octets per second; 0:
// no pacing). The other Congestion methods are still called at their
// events.
type RateController interface {
	Congestion
	OnRateSample(rs *RateSample, now Instant)
	PacingRate() uint64
}

type bbrMode uint8

const (
	bbrStartup bbrMode = iota
	bbrDrain
	bbrProbeBW
	bbrProbeRTT
)

func (m bbrMode) String() string {
	return [...]string{"startup", "drain", "probe_bw", "probe_rtt"}[m]
}

// Parameters of tcp_bbr.c.
const (
	bbrHighGain      = 2.885 // 2/ln2: doubles the sending rate per round
	bbrDrainGain     = 1 / bbrHighGain
	bbrCwndGain      = 2.0
	bbrBWRounds      = 10 // BtlBw filter window, in rounds
	bbrMinRTTWindow  = 10 * time.Second
	bbrProbeRTTTime  = 200 * time.Millisecond
	bbrMinCwndSegs   = 4
	bbrFullBWThresh  = 1.25
	bbrFullBWRounds  = 3
	bbrPacingMargin  = 0.99 // pace 1% below the estimate so the queue drains
	bbrCycleLen      = 8
	bbrInitialWindow = 10
)

var bbrPacingGains = [bbrCycleLen]float64{1.25, 0.75, 1, 1, 1, 1, 1, 1}

// bbr is BBR v1's state. Windows and rates are in octets.
type bbr struct {
	mode                bbrMode
	cwnd, priorCwnd     uint32
	beyondPipe          uint32 // octets of the flight SACKed or lost, outside recovery (Window)
	ssthresh            uint32
	mss                 uint32
	bw                  minmax // BtlBw, octets/s, over rounds
	minRTT              time.Duration
	minRTTAt            Instant
	probeRTTDoneAt      Instant // 0: not yet scheduled
	probeRTTAppLtd      uint64  // samples with PriorDelivered below this are app-limited
	pacingRate          uint64
	pacingGain          float64
	cwndGain            float64
	rounds              int64
	nextRTTDelivered    uint64
	delivered           uint64 // C.delivered at the last sample
	fullBW              uint64
	cycleAt             Instant
	lossEnd             uint64 // after an RTO: delivered mark that ends the loss episode (0: none)
	rand                uint32
	fullBWCnt, cycleIdx uint8
	flags               bbrFlags
}

type bbrFlags uint16

const (
	bbrRoundStart bbrFlags = 1 << iota
	bbrFullBWReached
	bbrProbeRTTRoundDone
	bbrConservation // packet conservation: the first round of a recovery
	bbrRecovery     // in fast recovery
	bbrPrevRecovery // in fast recovery at the last sample (tcp_bbr.c prev_ca_state)
	bbrIdleRestart
	bbrPacingInit // the pacing rate has been set from an RTT
)

func (b *bbr) has(f bbrFlags) bool { return b.flags&f != 0 }

// init makes b a fresh BBR in Startup; seed varies ProbeBW's first
// phase between connections (tcp_bbr.c uses a random one).
func (b *bbr) init(mss uint16, seed uint32) {
	*b = bbr{mss: uint32(mss), rand: seed | 1, ssthresh: 1 << 30}
	b.cwnd = bbrInitialWindow * b.mss
	b.enterStartup()
}

func (b *bbr) enterStartup() {
	b.mode = bbrStartup
	b.pacingGain, b.cwndGain = bbrHighGain, bbrHighGain
}

// Mode reports the state, for tests and stats.
func (b *bbr) Mode() bbrMode { return b.mode }

// Window is cwnd plus beyondPipe: outside recovery the TCB's send test
// is RFC 5681's, flight < window, while Linux (tcp_cwnd_test) compares
// tcp_packets_in_flight, which leaves out what the peer SACKed and what
// is marked lost. Under random loss most of a BBR flight has a hole
// below it, so the flight test held the sender to a pipe of cwnd less
// the SACKed octets (measured: a quarter to half of cwnd SACKed at 1%
// loss, the pacer idle for 15 ms at a time); the TCB sets beyondPipe
// after each ACK (rack_tcb.go) so the test is Linux's. In recovery the
// TCB already tests pipe, and beyondPipe is 0.
func (b *bbr) Window() uint32 { return b.cwnd + b.beyondPipe }

func (b *bbr) Ssthresh() uint32   { return b.ssthresh }
func (b *bbr) PacingRate() uint64 { return b.pacingRate }

// OnAck is not used: the TCB calls OnRateSample for a RateController.
func (b *bbr) OnAck(uint32, uint16, uint32, Instant, time.Duration, time.Duration) {}

func (b *bbr) btlBW() uint64 { return b.bw.get() }

// bdp is gain * BtlBw * RTprop in octets; before the first RTT sample,
// the initial window (tcp_bbr.c bbr_bdp).
func (b *bbr) bdp(bw uint64, gain float64) uint32 {
	if b.minRTT == 0 {
		return bbrInitialWindow * b.mss
	}
	bdp := float64(bw) * b.minRTT.Seconds()
	return uint32(min(bdp*gain+0.5, 1<<30))
}

// OnRateSample is bbr_main: update the model, then the pacing rate and
// cwnd.
func (b *bbr) OnRateSample(rs *RateSample, now Instant) {
	b.mss = uint32(max(rs.MSS, 1))
	b.delivered = rs.TotalDelivered
	if b.lossEnd != 0 && rs.TotalDelivered >= b.lossEnd {
		b.lossEnd = 0 // the flight lost to the RTO is delivered again
		b.cwnd = max(b.cwnd, b.priorCwnd)
	}
	b.updateBW(rs)
	if b.mode == bbrProbeBW && b.nextCyclePhase(rs, now) {
		b.advanceCycle(now)
	}
	b.checkFullBW(rs)
	b.checkDrain(rs.InFlight, now)
	b.updateMinRTT(rs, now)
	b.updateGains()
	b.setPacingRate(b.btlBW(), b.pacingGain, rs.SRTT)
	b.setCwnd(rs)
}

func (b *bbr) updateBW(rs *RateSample) {
	b.flags &^= bbrRoundStart
	if rs.Interval <= 0 {
		return
	}
	if rs.PriorDelivered >= b.nextRTTDelivered {
		// The sample's packet was sent after the round began: a round
		// trip has passed (§4.1.1.3).
		b.nextRTTDelivered = rs.TotalDelivered
		b.rounds++
		b.flags |= bbrRoundStart
		b.flags &^= bbrConservation
	}
	bw := rs.Rate()
	appLtd := rs.AppLimited || rs.PriorDelivered < b.probeRTTAppLtd
	if !appLtd || bw >= b.btlBW() {
		b.bw.updateMax(b.rounds, bbrBWRounds, bw)
	}
}

// nextCyclePhase is bbr_is_next_cycle_phase: a phase lasts an RTprop;
// the probing phase also until inflight reaches 1.25 BDP (or a loss
// says the pipe is full), the draining phase ends early once inflight
// is down to a BDP.
func (b *bbr) nextCyclePhase(rs *RateSample, now Instant) bool {
	full := now.Sub(b.cycleAt) > b.minRTT
	g := b.pacingGain
	switch {
	case g == 1:
		return full
	case g > 1:
		return full && (rs.Lost > 0 || rs.PriorInFlight >= b.bdp(b.btlBW(), g))
	}
	return full || rs.PriorInFlight <= b.bdp(b.btlBW(), 1)
}

func (b *bbr) advanceCycle(now Instant) {
	b.cycleIdx = (b.cycleIdx + 1) % bbrCycleLen
	b.cycleAt = now
}

// checkFullBW is bbr_check_full_bw_reached: three rounds without 25%
// growth of BtlBw (app-limited rounds do not count).
func (b *bbr) checkFullBW(rs *RateSample) {
	if b.has(bbrFullBWReached) || !b.has(bbrRoundStart) || rs.AppLimited {
		return
	}
	if bw := b.btlBW(); float64(bw) >= float64(b.fullBW)*bbrFullBWThresh {
		b.fullBW, b.fullBWCnt = bw, 0
		return
	}
	b.fullBWCnt++
	if b.fullBWCnt >= bbrFullBWRounds {
		b.flags |= bbrFullBWReached
	}
}

// checkDrain moves Startup to Drain once the pipe is full, and Drain to
// ProbeBW once inflight is down to one BDP.
func (b *bbr) checkDrain(inflight uint32, now Instant) {
	if b.mode == bbrStartup && b.has(bbrFullBWReached) {
		b.mode = bbrDrain
		b.ssthresh = b.bdp(b.btlBW(), 1)
	}
	if b.mode == bbrDrain && inflight <= b.bdp(b.btlBW(), 1) {
		b.enterProbeBW(now)
	}
}

// enterProbeBW starts the gain cycle at a random phase other than the
// draining one (tcp_bbr.c bbr_reset_probe_bw_mode).
func (b *bbr) enterProbeBW(now Instant) {
	b.mode = bbrProbeBW
	b.rand = b.rand*1664525 + 1013904223
	b.cycleIdx = uint8(bbrCycleLen - 1 - (b.rand>>16)%(bbrCycleLen-1))
	b.advanceCycle(now)
}

// updateMinRTT keeps RTprop and runs ProbeRTT (bbr_update_min_rtt).
func (b *bbr) updateMinRTT(rs *RateSample, now Instant) {
	expired := b.minRTT != 0 && now.Sub(b.minRTTAt) > bbrMinRTTWindow
	if rs.RTT > 0 && (b.minRTT == 0 || rs.RTT < b.minRTT || expired) {
		b.minRTT, b.minRTTAt = rs.RTT, now
	}
	if expired && !b.has(bbrIdleRestart) && b.mode != bbrProbeRTT {
		b.mode = bbrProbeRTT
		b.saveCwnd()
		b.probeRTTDoneAt = 0
	}
	if b.mode == bbrProbeRTT {
		// The ProbeRTT flight is app-limited: its low rate must not
		// pull BtlBw down.
		b.probeRTTAppLtd = max(rs.TotalDelivered+uint64(rs.InFlight), 1)
		if b.probeRTTDoneAt == 0 && rs.InFlight <= bbrMinCwndSegs*b.mss {
			b.probeRTTDoneAt = max(now.Add(bbrProbeRTTTime), 1)
			b.flags &^= bbrProbeRTTRoundDone
			b.nextRTTDelivered = rs.TotalDelivered
		} else if b.probeRTTDoneAt != 0 {
			if b.has(bbrRoundStart) {
				b.flags |= bbrProbeRTTRoundDone
			}
			if b.has(bbrProbeRTTRoundDone) {
				b.checkProbeRTTDone(now)
			}
		}
	}
	if rs.Delivered > 0 {
		b.flags &^= bbrIdleRestart
	}
}

func (b *bbr) checkProbeRTTDone(now Instant) {
	if b.probeRTTDoneAt == 0 || now < b.probeRTTDoneAt {
		return
	}
	b.minRTTAt = now
	b.cwnd = max(b.cwnd, b.priorCwnd)
	if b.has(bbrFullBWReached) {
		b.enterProbeBW(now)
	} else {
		b.enterStartup()
	}
}

func (b *bbr) updateGains() {
	switch b.mode {
	case bbrStartup:
		b.pacingGain, b.cwndGain = bbrHighGain, bbrHighGain
	case bbrDrain:
		b.pacingGain, b.cwndGain = bbrDrainGain, bbrHighGain
	case bbrProbeBW:
		b.pacingGain, b.cwndGain = bbrPacingGains[b.cycleIdx], bbrCwndGain
	case bbrProbeRTT:
		b.pacingGain, b.cwndGain = 1, 1
	}
}

// setPacingRate is bbr_set_pacing_rate: gain*BtlBw less the margin;
// before the pipe is full the rate only grows. Until a bandwidth sample
// exists it follows cwnd/SRTT at the high gain.
func (b *bbr) setPacingRate(bw uint64, gain float64, srtt time.Duration) {
	if !b.has(bbrPacingInit) && srtt > 0 {
		b.flags |= bbrPacingInit
		init := float64(b.cwnd) / srtt.Seconds() * bbrHighGain * bbrPacingMargin
		b.pacingRate = uint64(init)
	}
	rate := uint64(float64(bw) * gain * bbrPacingMargin)
	if b.has(bbrFullBWReached) || rate > b.pacingRate {
		b.pacingRate = rate
	}
}

// quantum is the octets the sender emits in one release of the pacer
// (about 1 ms at the pacing rate, at least two segments): tcp_bbr.c's
// TSO goal, whose three-fold cwnd allowance covers the batching.
func (b *bbr) quantum() uint32 {
	return uint32(max(uint64(2*b.mss), min(b.pacingRate/1000, 64<<10)))
}

// setCwnd is bbr_set_cwnd: grow toward cwnd_gain*BDP plus the batching
// allowance, by what was delivered; packet conservation in the first
// round of a recovery; 4 segments in ProbeRTT.
func (b *bbr) setCwnd(rs *RateSample) {
	minCwnd := bbrMinCwndSegs * b.mss
	if rs.Lost > 0 {
		b.cwnd = max(b.cwnd-min(rs.Lost, b.cwnd), b.mss)
	}
	// Recovery is judged at each sample, as tcp_bbr.c judges the CA
	// state at each ACK: a recovery that ends and a new one that begins
	// on the same ACK are one, with no second round of conservation.
	switch rec, was := b.has(bbrRecovery), b.has(bbrPrevRecovery); {
	case rec && !was:
		// Recovery began: start a round now and send only as much as is
		// delivered (§4.2.3.4 packet conservation).
		b.flags |= bbrConservation
		b.nextRTTDelivered = rs.TotalDelivered
		b.cwnd = rs.InFlight + rs.Acked
	case !rec && was:
		b.flags &^= bbrConservation
		b.cwnd = max(b.cwnd, b.priorCwnd) // restore the cwnd from before it
	}
	b.flags &^= bbrPrevRecovery
	if b.has(bbrRecovery) {
		b.flags |= bbrPrevRecovery
	}
	switch {
	case rs.Acked == 0:
	case b.has(bbrConservation):
		b.cwnd = max(b.cwnd, rs.InFlight+rs.Acked)
	default:
		target := b.bdp(b.btlBW(), b.cwndGain) + 3*b.quantum()
		target = (target + 2*b.mss - 1) / (2 * b.mss) * (2 * b.mss) // an even number of segments
		if b.mode == bbrProbeBW && b.cycleIdx == 0 {
			target += 2 * b.mss
		}
		if b.has(bbrFullBWReached) {
			b.cwnd = min(b.cwnd+rs.Acked, target)
		} else if b.cwnd < target || rs.TotalDelivered < uint64(bbrInitialWindow*b.mss) {
			b.cwnd += rs.Acked
		}
		b.cwnd = max(b.cwnd, minCwnd)
	}
	b.cwnd = min(b.cwnd, 1<<30)
	if b.mode == bbrProbeRTT {
		b.cwnd = min(b.cwnd, minCwnd)
	}
}

// saveCwnd is bbr_save_cwnd: the cwnd to restore after recovery or
// ProbeRTT (the one from before, if already inside one).
func (b *bbr) saveCwnd() {
	if !b.has(bbrPrevRecovery) && b.mode != bbrProbeRTT {
		b.priorCwnd = b.cwnd
	} else {
		b.priorCwnd = max(b.priorCwnd, b.cwnd)
	}
}

// OnLoss: fast recovery begins; the next sample sets cwnd to what is in
// flight (packet conservation for a round).
func (b *bbr) OnLoss(mss uint16, _ uint32, _ Instant) {
	b.mss = uint32(mss)
	b.beyondPipe = 0
	b.saveCwnd()
	b.flags |= bbrRecovery
}

// OnRecoveryEnd: the next sample restores the cwnd from before the
// recovery (unless another began on the same ACK).
func (b *bbr) OnRecoveryEnd(uint16, uint32, Instant) {
	b.flags &^= bbrRecovery
}

// OnTimeout: the flight is presumed lost; cwnd restarts from one
// segment (tcp_enter_loss) and, as in tcp_bbr.c, returns to its prior
// value once the flight outstanding at the timeout has been delivered.
// The bandwidth filter stays: a timeout says little about the path's
// rate.
func (b *bbr) OnTimeout(mss uint16, inflight uint32, _ Instant) {
	b.mss = uint32(mss)
	b.beyondPipe = 0
	b.saveCwnd()
	b.flags &^= bbrRecovery | bbrPrevRecovery | bbrConservation
	b.fullBW = 0
	b.flags |= bbrRoundStart
	b.cwnd = b.mss
	b.lossEnd = max(b.delivered+uint64(inflight), 1)
}

// OnIdle is CA_EVENT_TX_START after idle: no cwnd reduction (BBR's
// model still holds), pacing at BtlBw rather than a probing gain.
func (b *bbr) OnIdle(uint16, Instant) {
	b.flags |= bbrIdleRestart
	if b.mode == bbrProbeBW {
		b.setPacingRate(b.btlBW(), 1, 0)
	}
}

// Undo (bbr_undo_cwnd): the reduction was spurious; restart the search
// for full bandwidth and restore the cwnd from before it.
func (b *bbr) Undo() {
	b.fullBW, b.fullBWCnt = 0, 0
	b.lossEnd = 0
	b.flags &^= bbrRecovery | bbrPrevRecovery | bbrConservation
	b.cwnd = max(b.cwnd, b.priorCwnd)
}
