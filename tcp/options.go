package tcp

import (
	"time"

	"github.com/sluicenet/sluice/wire"
)

// TCP options: MSS (RFC 9293 §3.7.1), window scale and timestamps
// (RFC 7323), SACK-permitted (RFC 2018). Each is used only when both ends
// offered it in their SYNs.

// defaultPeerMSS is the send MSS when the peer sends no MSS option
// (RFC 9293 §3.7.1 MUST-15: 536 for IPv4, 1220 for IPv6).
func (t *TCB) defaultPeerMSS() uint16 {
	if id := t.sink.FlowID(t); id.isV6() {
		return 1220
	}
	return 536
}

// synOptions fills the options of our SYN or SYN-ACK. A SYN-ACK only
// echoes what the peer's SYN offered (RFC 7323 §2.2, §3.2; RFC 2018 §2),
// also when it is retransmitted after a CLOSE moved SYN-RECEIVED to
// FIN-WAIT-1; that of a simultaneous open repeats our SYN's.
func (t *TCB) synOptions(o *Options, synack bool, now Instant) {
	o.MSS = t.cfg.MSS
	synack = synack && !t.has(flagSynOnly)
	if t.cfg.WindowScale > 0 && (!synack || t.has(flagWS)) {
		o.HasWScale, o.WScale = true, t.cfg.WindowScale
	}
	if t.cfg.SACK && (!synack || t.has(flagSACK)) {
		o.SACKPermitted = true
	}
	if t.cfg.Timestamps && (!synack || t.has(flagTS)) {
		o.HasTS = true
		o.TSVal = t.tsNow(now)
		o.TSEcr = t.tsRecent
	}
}

// negotiate records what the peer's SYN offered and computes the send MSS.
// Called for the SYN in LISTEN and SYN-SENT.
func (t *TCB) negotiate(seg *Segment) {
	o := &seg.Options
	t.flags &^= flagWS | flagTS | flagSACK
	t.sndWScale, t.rcvWScale = 0, 0
	if o.HasWScale && t.cfg.WindowScale > 0 {
		t.flags |= flagWS
		t.sndWScale, t.rcvWScale = min(o.WScale, 14), t.cfg.WindowScale
	}
	if o.SACKPermitted && t.cfg.SACK {
		t.flags |= flagSACK
	}
	if o.HasTS && t.cfg.Timestamps {
		t.flags |= flagTS | flagTSRecentSet
		t.tsRecent = o.TSVal
	}
	peer := o.MSS
	if peer == 0 {
		peer = t.defaultPeerMSS()
	}
	t.setSendMSS(peer)
}

// setSendMSS clamps the send MSS to ours (our MSS is the path's: the link
// MTU minus headers) and leaves room for the timestamp option carried by
// every segment (RFC 9293 §3.7.1 Eff.snd.MSS; as Linux's mss_cache). A
// peer's MSS below minPeerMSS is raised to it, as Linux's
// tcp_min_snd_mss: an MSS of 1 would make every segment carry one octet
// (CVE-2019-11479; issue 14 item 10).
func (t *TCB) setSendMSS(peer uint16) {
	m := max(min(peer, t.cfg.MSS), min(minPeerMSS, t.cfg.MSS))
	if t.has(flagTS) {
		m -= min(m-1, 12)
	}
	t.sndMSS = max(m, 1)
	t.ss.init(t.sndMSS) // IW in segments of the negotiated size (RFC 6928)
}

// curMSS is the text a segment sent now may carry: the send MSS less the
// SACK blocks it will carry (Linux tcp_current_mss). The send MSS leaves
// room for the timestamps only; SACK blocks on a full-sized segment made
// frames up to 36 octets over the MTU and the peer's MSS (issue 14
// item 3).
func (t *TCB) curMSS() uint32 {
	m := uint32(t.sndMSS)
	if !t.has(flagSACK) || t.ooo.n == 0 && !t.dsack {
		return m
	}
	var o Options
	o.HasTS = t.has(flagTS)
	base := wire.TCPOptionsLen(&o)
	t.ooo.sackBlocks(&o, t.dsack, t.dsackL, t.dsackR)
	return m - min(uint32(wire.TCPOptionsLen(&o)-base), m-1)
}

// pawsReject applies RFC 7323 §5.3: a segment whose TSval is older than
// TS.Recent is a duplicate from an earlier incarnation of the sequence
// space. RST segments are exempt (RFC 7323 §5.3 R1 note), and a
// TS.Recent older than 24 days is no longer trusted (§5.5: the peer's
// clock may have wrapped).
func (t *TCB) pawsReject(seg *Segment, now Instant) bool {
	if !t.has(flagTS) || !t.has(flagTSRecentSet) || !seg.Options.HasTS || seg.Flags&FlagRST != 0 {
		return false
	}
	if t.tsRecentIdle(now) {
		return false
	}
	return int32(seg.Options.TSVal-t.tsRecent) < 0
}

// updateTSRecent applies RFC 7323 §4.3 (3): TS.Recent takes the TSval of a
// segment that covers the last ACK we sent.
func (t *TCB) updateTSRecent(seg *Segment, now Instant) {
	if !t.has(flagTS) || !seg.Options.HasTS {
		return
	}
	if seg.Seq.LessEq(t.lastAckSent) && (int32(seg.Options.TSVal-t.tsRecent) >= 0 || t.tsRecentIdle(now)) {
		t.tsRecent, t.tsRecentSec = seg.Options.TSVal, secClock(now)
		t.flags |= flagTSRecentSet
	}
}

// minPeerMSS is Linux's tcp_min_snd_mss: room for 40 option octets and
// 8 of text.
const minPeerMSS = 48

// secClock is now in seconds: when TS.Recent was set needs no finer
// clock (tsRecentIdle).
func secClock(now Instant) uint32 { return uint32(now / Instant(time.Second)) }

// tsRecentIdle reports whether TS.Recent was set more than pawsIdle ago.
func (t *TCB) tsRecentIdle(now Instant) bool {
	return time.Duration(secClock(now)-t.tsRecentSec)*time.Second > pawsIdle
}

// pawsIdle is RFC 7323 §5.5's limit on the age of TS.Recent (24 days).
const pawsIdle = 24 * 24 * time.Hour
