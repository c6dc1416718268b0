package tcp

// Stats are a connection's loss-recovery and robustness counters, for the
// owner to sum per loop (Stats.Add) and export (nstat's TcpExt names in
// parentheses).
type Stats struct {
	// Retransmits counts segments sent again, for any cause
	// (TCPRetransSegs).
	Retransmits uint64
	// FastRetransmits counts recoveries entered on duplicate ACKs or
	// SACK loss detection (RFC 5681 §3.2, RFC 6675 §5) (TCPFastRetrans
	// counts segments; this counts episodes).
	FastRetransmits uint64
	// SACKRecoveries counts those of FastRetransmits driven by the SACK
	// scoreboard (TCPSackRecovery).
	SACKRecoveries uint64
	// RTOExpiries counts retransmission timeouts of data (TCPTimeouts).
	RTOExpiries uint64
	// TLPProbes counts tail loss probes (RFC 8985 §7) (TCPLossProbes).
	TLPProbes uint64
	// SpuriousUndos counts reductions undone as spurious by Eifel
	// (RFC 3522) or D-SACK (RFC 2883) (TCPFullUndo+TCPDSACKUndo).
	SpuriousUndos uint64
	// DSACKs counts D-SACK blocks received (TCPDSACKRecv).
	DSACKs uint64
	// LostRetransmits counts retransmissions found lost from SACKs of
	// later data, and sent again without waiting for the RTO
	// (TCPLostRetransmit).
	LostRetransmits uint64
	// ReorderRaised counts increases of the adapted DupThresh
	// (recovery.go: reordering deeper than it was seen; TCPSACKReorder).
	ReorderRaised uint64
	// SACKInvalid counts SACK blocks ignored as impossible; SACKOverflow
	// SACKed ranges forgotten because the scoreboard was full
	// (TCPSACKDiscard).
	SACKInvalid, SACKOverflow uint64
	// SACKReneging counts timeouts that found SND.UNA SACKed (the peer
	// reneged): the scoreboard was forgotten (RFC 2018 §8).
	SACKReneging uint64
	// OOODropped counts out-of-order segments dropped because the
	// reassembly ranges were all in use (TCPOFODrop).
	OOODropped uint64
	// PMTUUpdates counts send-MSS reductions from ICMP (RFC 1191, 8201);
	// ICMPIgnored counts ICMP errors that failed validation (RFC 5927);
	// SoftErrors counts unreachables kept as soft errors.
	PMTUUpdates, ICMPIgnored, SoftErrors uint64
	// ChallengeACKs counts challenge ACKs sent (RFC 5961 §3.2, §4.2,
	// §5.2; TCPChallengeACK); ChallengeACKsLimited those withheld by the
	// per-second limit (§7).
	ChallengeACKs, ChallengeACKsLimited uint64
	// OOWACKsLimited counts out-of-window or PAWS-rejected segments
	// left unanswered by the 500 ms limit (TCPACKSkippedSeq/PAWS).
	OOWACKsLimited uint64
	// MemDropped counts arriving segments (or their tails) not stored
	// because the memory budget refused a chunk (TCPRcvQDrop);
	// OOOPruned counts octets of out-of-order text dropped to make room
	// for in-order text under the budget (TCPOFOQueue pruning,
	// PruneCalled/OfoPruned).
	MemDropped, OOOPruned uint64
}

// Add adds o's counters to s.
func (s *Stats) Add(o *Stats) {
	s.Retransmits += o.Retransmits
	s.FastRetransmits += o.FastRetransmits
	s.SACKRecoveries += o.SACKRecoveries
	s.RTOExpiries += o.RTOExpiries
	s.TLPProbes += o.TLPProbes
	s.SpuriousUndos += o.SpuriousUndos
	s.DSACKs += o.DSACKs
	s.LostRetransmits += o.LostRetransmits
	s.ReorderRaised += o.ReorderRaised
	s.SACKInvalid += o.SACKInvalid
	s.SACKOverflow += o.SACKOverflow
	s.SACKReneging += o.SACKReneging
	s.OOODropped += o.OOODropped
	s.PMTUUpdates += o.PMTUUpdates
	s.ICMPIgnored += o.ICMPIgnored
	s.SoftErrors += o.SoftErrors
	s.ChallengeACKs += o.ChallengeACKs
	s.ChallengeACKsLimited += o.ChallengeACKsLimited
	s.OOWACKsLimited += o.OOWACKsLimited
	s.MemDropped += o.MemDropped
	s.OOOPruned += o.OOOPruned
}

// noStats is what Stats returns for a connection that never counted.
var noStats Stats

// Stats returns the connection's counters, for reading: most
// connections never count anything, so they are allocated on the first
// counted event (count) and the pointer returned before that is a shared
// zero, valid only until the next call into the TCB.
func (t *TCB) Stats() *Stats {
	if t.stats == nil {
		return &noStats
	}
	return t.stats
}

// count returns the connection's counters for counting into, allocating
// them on the first event (168 octets a connection pays only once it
// retransmits, reorders, is probed or attacked).
func (t *TCB) count() *Stats {
	if t.stats == nil {
		t.stats = new(Stats)
	}
	return t.stats
}

// CongestionInfo is a snapshot of the congestion state, for tests and
// ss-like views.
type CongestionInfo struct {
	Cwnd, Ssthresh, Pipe uint32
	InRecovery           bool
	// Reordering is the adapted DupThresh in segments (3 until
	// reordering deeper than that is seen).
	Reordering uint32
	SRTT       int64 // nanoseconds; 0 before the first sample
}

// Congestion returns the congestion state.
func (t *TCB) Congestion() CongestionInfo {
	c := CongestionInfo{Cwnd: t.cc.Window(), Ssthresh: t.cc.Ssthresh(), Pipe: t.pipe(), InRecovery: t.inRecovery(),
		Reordering: uint32(max(t.rec.reordering, dupThreshSegs))}
	if t.has(flagRTT) {
		c.SRTT = int64(t.srtt)
	}
	return c
}
