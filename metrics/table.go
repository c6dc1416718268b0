package metrics

import (
	"strings"

	"github.com/sluicenet/sluice/bpf"
	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/chunk"
	"github.com/sluicenet/sluice/wire"
)

// kind tells Prometheus how a value behaves: a counter only grows (rate()
// makes sense), a gauge is a level that goes up and down.
type kind uint8

const (
	counter kind = iota
	gauge
)

// metric is one value read from a stats struct S: its name (snake case,
// the Prometheus name is "sluice_" + name, with "_total" for counters),
// its help text and how to read it. One table per source serves the
// Prometheus collector, the JSON snapshot and sluicectl's nstat view, so
// they can never disagree on what a name means.
type metric[S any] struct {
	name string
	help string
	kind kind
	get  func(s *S) uint64
}

// loopMetrics are the scalar per-loop values. Drops by reason and
// connections by state are labelled families, built separately.
var loopMetrics = []metric[sched.Stats]{
	{"iterations", "Loop iterations.", counter, func(s *sched.Stats) uint64 { return s.Iterations }},
	{"sleeps", "Times the loop slept in poll(2).", counter, func(s *sched.Stats) uint64 { return s.Sleeps }},
	{"posted", "Functions run from the loop's MPSC ring.", counter, func(s *sched.Stats) uint64 { return s.Posted }},
	{"post_full", "Post calls refused because the loop's ring was full.", counter, func(s *sched.Stats) uint64 { return s.PostFull }},
	{"rx_frames", "Frames taken off the AF_XDP RX ring.", counter, func(s *sched.Stats) uint64 { return s.RxFrames }},
	{"rx_bytes", "Octets of frames taken off the RX ring.", counter, func(s *sched.Stats) uint64 { return s.RxBytes }},
	{"rx_segments", "Frames that parsed as TCP segments.", counter, func(s *sched.Stats) uint64 { return s.RxSegments }},
	{"rx_text_bytes", "Octets of TCP text delivered to the handler.", counter, func(s *sched.Stats) uint64 { return s.RxText }},
	{"rx_dropped", "Frames the parser rejected (all reasons; see sluice_drops_total).", counter, func(s *sched.Stats) uint64 { return s.DroppedFrames() }},
	{"rx_partial_checksums", "TCP segments accepted with a partial checksum (a veth peer's TX checksum offload; wire.AcceptPartialChecksum).", counter, func(s *sched.Stats) uint64 { return s.PartialChecksums }},
	{"rx_bad_descs", "RX descriptors outside the UMEM.", counter, func(s *sched.Stats) uint64 { return s.BadDescs }},
	{"forwarded_out", "Segments passed to another loop (flow changed queues).", counter, func(s *sched.Stats) uint64 { return s.ForwardedOut }},
	{"forwarded_in", "Segments received from another loop.", counter, func(s *sched.Stats) uint64 { return s.ForwardedIn }},
	{"forward_failed", "Segments that could not be passed on (next loop's ring full).", counter, func(s *sched.Stats) uint64 { return s.ForwardFailed }},
	{"no_conn", "Segments to no connection and no listener, answered by RST (RFC 9293 §3.10.7.1).", counter, func(s *sched.Stats) uint64 { return s.NoConn }},
	{"tx_frames", "Frames handed to the AF_XDP TX ring.", counter, func(s *sched.Stats) uint64 { return s.TxFrames }},
	{"tx_bytes", "Octets of frames handed to the TX ring.", counter, func(s *sched.Stats) uint64 { return s.TxBytes }},
	{"tx_segments", "TCP segments built.", counter, func(s *sched.Stats) uint64 { return s.TxSegments }},
	{"tx_text_bytes", "Octets of TCP text sent, retransmissions included.", counter, func(s *sched.Stats) uint64 { return s.TxText }},
	{"tx_ring_full", "TX flushes that found the TX ring full.", counter, func(s *sched.Stats) uint64 { return s.TxRingFull }},
	{"tx_no_frame", "Segments lost for want of a free UMEM frame.", counter, func(s *sched.Stats) uint64 { return s.TxNoFrame }},
	{"tx_dropped", "Segments lost with the TX ring and staging full.", counter, func(s *sched.Stats) uint64 { return s.TxDropped }},
	{"tx_no_route", "Segments with no flow to address them to (a bug if non-zero).", counter, func(s *sched.Stats) uint64 { return s.TxNoRoute }},
	{"tx_build_errors", "Segments the wire encoder refused.", counter, func(s *sched.Stats) uint64 { return s.TxBuildErrors }},
	{"timers_fired", "Timer-wheel expiries (RTO, delayed ACK, persist, keepalive, 2MSL).", counter, func(s *sched.Stats) uint64 { return s.TimersFired }},
	{"timers", "Armed timer-wheel entries.", gauge, func(s *sched.Stats) uint64 { return uint64(s.Timers) }},
	{"conns_created", "Connections created by listeners.", counter, func(s *sched.Stats) uint64 { return s.Created }},
	{"conns_established", "Connections that reached ESTABLISHED (OnOpen).", counter, func(s *sched.Stats) uint64 { return s.Established }},
	{"conns_closed", "Connections whose application part ended (OnClose).", counter, func(s *sched.Stats) uint64 { return s.Closed }},
	{"conns_freed", "Connection slots freed.", counter, func(s *sched.Stats) uint64 { return s.Freed }},
	{"conns", "Connections in the loop's table (TIME-WAIT table entries excluded).", gauge, func(s *sched.Stats) uint64 { return uint64(s.Conns) }},
	{"syn_queue", "Connections in the listeners' SYN queues (SYN-RECEIVED).", gauge, func(s *sched.Stats) uint64 { return uint64(s.SynQueue) }},
	{"accept_queue", "Connections in the listeners' accept queues.", gauge, func(s *sched.Stats) uint64 { return uint64(s.AcceptQueue) }},
	{"syn_cookies_sent", "SYN-ACKs carrying a SYN cookie: the SYN queue was full (RFC 4987).", counter, func(s *sched.Stats) uint64 { return s.SynCookiesSent }},
	{"syn_cookies_validated", "Handshake ACKs whose SYN cookie checked and made a connection.", counter, func(s *sched.Stats) uint64 { return s.SynCookiesValidated }},
	{"conns_open", "Connections whose OnClose has not run (handshaking, open, closing).", gauge, func(s *sched.Stats) uint64 { return uint64(s.Open) }},
	{"conn_limit_drops", "Segments dropped because the loop held LoopConfig.MaxConns connections.", counter, func(s *sched.Stats) uint64 { return s.LimitDrops }},
	{"refused", "Segments to a listened address answered with RST while the loop stopped accepting.", counter, func(s *sched.Stats) uint64 { return s.Refused }},
	{"retransmits", "Segments sent again over sequence space already sent (RTO, SYN/SYN-ACK retries, fast retransmit).", counter, func(s *sched.Stats) uint64 { return s.Retransmits }},
	{"retransmit_text_bytes", "Text octets of retransmitted segments (also in tx_text_bytes).", counter, func(s *sched.Stats) uint64 { return s.RetransmitText }},
	{"rto_expiries", "Retransmission timeouts of data (RFC 6298; nstat TCPTimeouts).", counter, func(s *sched.Stats) uint64 { return s.TCP.RTOExpiries }},
	{"fast_retransmits", "Loss recoveries entered on duplicate ACKs or SACK (RFC 5681 §3.2, RFC 6675).", counter, func(s *sched.Stats) uint64 { return s.TCP.FastRetransmits }},
	{"sack_recoveries", "Fast recoveries driven by the SACK scoreboard.", counter, func(s *sched.Stats) uint64 { return s.TCP.SACKRecoveries }},
	{"tlp_probes", "Tail loss probes (RFC 8985 §7).", counter, func(s *sched.Stats) uint64 { return s.TCP.TLPProbes }},
	{"spurious_undos", "Congestion reductions undone as spurious (Eifel, D-SACK).", counter, func(s *sched.Stats) uint64 { return s.TCP.SpuriousUndos }},
	{"dsacks", "D-SACK blocks received (RFC 2883).", counter, func(s *sched.Stats) uint64 { return s.TCP.DSACKs }},
	{"challenge_acks", "Challenge ACKs sent to in-window RSTs, SYNs and ACKs of unsent data (RFC 5961; nstat TCPChallengeACK).", counter, func(s *sched.Stats) uint64 { return s.TCP.ChallengeACKs }},
	{"challenge_acks_limited", "Challenge ACKs withheld by the per-connection limit (RFC 5961 §7).", counter, func(s *sched.Stats) uint64 { return s.TCP.ChallengeACKsLimited }},
	{"ooo_dropped", "Out-of-order segments dropped: reassembly ranges all in use.", counter, func(s *sched.Stats) uint64 { return s.TCP.OOODropped }},
	{"pmtu_updates", "Send-MSS reductions from ICMP (RFC 1191, RFC 8201).", counter, func(s *sched.Stats) uint64 { return s.TCP.PMTUUpdates }},
	{"icmp_ignored", "ICMP errors that failed validation (RFC 5927).", counter, func(s *sched.Stats) uint64 { return s.TCP.ICMPIgnored }},
	{"dialed", "Active opens started.", counter, func(s *sched.Stats) uint64 { return s.Dialed }},
	{"dial_failed", "Active opens that ended before ESTABLISHED.", counter, func(s *sched.Stats) uint64 { return s.DialFailed }},
	{"listener_drops", "SYNs and handshake ACKs the listeners dropped (queues full, cookies off or invalid).", counter, func(s *sched.Stats) uint64 { return s.ListenerDrops }},
	{"timewait_entries", "4-tuples in the compact TIME-WAIT table.", gauge, func(s *sched.Stats) uint64 { return uint64(s.TimeWait) }},
	{"timewait_inserted", "TIME-WAIT table insertions.", counter, func(s *sched.Stats) uint64 { return s.TimeWaitTable.Inserted }},
	{"timewait_overflow", "Connections closed without TIME-WAIT, the table at its bound (Linux TCPTimeWaitOverflow).", counter, func(s *sched.Stats) uint64 { return s.TimeWaitTable.RefusedFull }},
	{"timewait_expired", "TIME-WAIT entries expired after 2*MSL.", counter, func(s *sched.Stats) uint64 { return s.TimeWaitTable.Expired }},
	{"timewait_reopened", "TIME-WAIT 4-tuples reopened by a new SYN (RFC 6191).", counter, func(s *sched.Stats) uint64 { return s.TimeWaitTable.Reopened }},
	{"timewait_paws_rejects", "Segments to TIME-WAIT rejected by PAWS (RFC 7323 §5).", counter, func(s *sched.Stats) uint64 { return s.TimeWaitTable.PAWSRejects }},
	{"timewait_rst_ignored", "RSTs to TIME-WAIT ignored (RFC 1337).", counter, func(s *sched.Stats) uint64 { return s.TimeWaitTable.RSTIgnored }},
	{"timewait_tcb_freed", "TCBs freed after serving TIME-WAIT themselves (table off).", counter, func(s *sched.Stats) uint64 { return s.TimeWaitFreed }},
	// Buffer memory (tcp/chunk): the connections' counters, summed over
	// closed ones too, and the loop's chunk pools.
	{"mem_dropped", "Arriving segments (or their tails) not stored because the memory budget refused a chunk (nstat TCPRcvQDrop).", counter, func(s *sched.Stats) uint64 { return s.TCP.MemDropped }},
	{"ooo_pruned_bytes", "Octets of out-of-order text dropped to make room for in-order text under the memory budget (nstat OfoPruned).", counter, func(s *sched.Stats) uint64 { return s.TCP.OOOPruned }},
	{"chunks_in_use", "Buffer chunks (4 KiB) held by connections' send and receive queues.", gauge, func(s *sched.Stats) uint64 { return uint64(s.Pool.InUse) }},
	{"chunks_cached", "Free buffer chunks the loop keeps for reuse.", gauge, func(s *sched.Stats) uint64 { return uint64(s.Pool.Cached) }},
	{"chunks_retired", "Consumed receive chunks waiting for reuse (after the next recycle).", gauge, func(s *sched.Stats) uint64 { return uint64(s.Pool.Retired) }},
	{"chunks_reserved", "Buffer chunks of the memory budget the loop reserved ahead and has not used.", gauge, func(s *sched.Stats) uint64 { return uint64(s.Pool.Reserved) }},
	{"chunks_allocated", "Buffer chunks allocated from the Go heap.", counter, func(s *sched.Stats) uint64 { return s.Pool.Allocated }},
	{"chunks_refused", "Buffer chunk requests the memory budget refused (a buffer stopped growing).", counter, func(s *sched.Stats) uint64 { return s.Pool.Refused }},
	{"chunks_forced", "Buffer chunks granted past the memory limit (a connection's first chunk, or text already accepted).", counter, func(s *sched.Stats) uint64 { return s.Pool.Forced }},
	{"free_frames", "UMEM frames in the loop's free pool.", gauge, func(s *sched.Stats) uint64 { return uint64(s.FreeFrames) }},
	{"cpu_nanoseconds", "The loop thread's CPU time (CLOCK_THREAD_CPUTIME_ID).", counter, func(s *sched.Stats) uint64 { return uint64(s.CPUTime) }},
	// XDP_STATISTICS of the loop's AF_XDP socket (afxdp.Stats), and the
	// wakeup syscalls the loop made.
	{"xsk_rx_dropped", "Kernel: frames the socket dropped for other reasons than a full RX ring or empty fill ring (XDP_STATISTICS rx_dropped).", counter, func(s *sched.Stats) uint64 { return s.XSK.RxDropped }},
	{"xsk_rx_invalid_descs", "Kernel: invalid descriptors on the fill ring.", counter, func(s *sched.Stats) uint64 { return s.XSK.RxInvalidDescs }},
	{"xsk_tx_invalid_descs", "Kernel: invalid descriptors on the TX ring.", counter, func(s *sched.Stats) uint64 { return s.XSK.TxInvalidDescs }},
	{"xsk_rx_ring_full", "Kernel: frames dropped because the RX ring was full (the loop fell behind).", counter, func(s *sched.Stats) uint64 { return s.XSK.RxRingFull }},
	{"xsk_rx_fill_ring_empty", "Kernel: times the fill ring was empty when a frame came.", counter, func(s *sched.Stats) uint64 { return s.XSK.RxFillRingEmptyDescs }},
	{"xsk_tx_ring_empty", "Kernel: times the kernel found the TX ring empty.", counter, func(s *sched.Stats) uint64 { return s.XSK.TxRingEmptyDescs }},
	{"xsk_tx_wakeups", "sendto(2) calls made to kick TX (need_wakeup).", counter, func(s *sched.Stats) uint64 { return s.XSK.TxWakeups }},
	{"xsk_fill_wakeups", "recvfrom(2) calls made to kick the fill ring (need_wakeup).", counter, func(s *sched.Stats) uint64 { return s.XSK.FillWakeups }},
}

// promName is the Prometheus metric name of a value named name.
func promName(name string, k kind) string {
	if k == counter {
		return "sluice_" + name + "_total"
	}
	return "sluice_" + name
}

// budgetMetrics are the server-wide memory budget's values
// (chunk.BudgetStats), unlabelled: the loops share one budget. Their
// Prometheus names are promName("memory_" + name), and they are exported
// only when the server has a budget (High > 0: Config.MemoryLimit is not
// negative).
var budgetMetrics = []metric[chunk.BudgetStats]{
	{"limit_bytes", "Buffer memory budget: the limit (Config.MemoryLimit, tcp_mem high); chunks past it are refused.", gauge, func(b *chunk.BudgetStats) uint64 { return uint64(b.High) }},
	{"pressure_threshold_bytes", "Buffer memory budget: use at which the server enters memory pressure (tcp_mem pressure).", gauge, func(b *chunk.BudgetStats) uint64 { return uint64(b.Pressure) }},
	{"low_bytes", "Buffer memory budget: use below which memory pressure ends (tcp_mem low).", gauge, func(b *chunk.BudgetStats) uint64 { return uint64(b.Low) }},
	{"used_bytes", "Buffer memory reserved by the loops from the budget (chunks in use and reserved ahead).", gauge, func(b *chunk.BudgetStats) uint64 { return uint64(max(b.Used, 0)) }},
	{"peak_bytes", "Most buffer memory ever reserved from the budget.", gauge, func(b *chunk.BudgetStats) uint64 { return uint64(max(b.Peak, 0)) }},
	{"pressure", "1 while the server is under memory pressure (buffers stop growing, windows shrink).", gauge, func(b *chunk.BudgetStats) uint64 { return b2u(b.UnderPressure) }},
	{"pressure_entered", "Times the server entered memory pressure.", counter, func(b *chunk.BudgetStats) uint64 { return b.PressureEntered }},
	{"refused", "Budget reservations refused at the limit.", counter, func(b *chunk.BudgetStats) uint64 { return b.Refused }},
	{"forced", "Budget reservations granted past the limit (a connection's first chunk, or text already accepted).", counter, func(b *chunk.BudgetStats) uint64 { return b.Forced }},
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// dropLabel is the label value (and snapshot key suffix) of a drop reason:
// its name in snake case ("bad TCP checksum" -> "bad_tcp_checksum").
func dropLabel(r wire.DropReason) string {
	return snake(r.String())
}

// stateLabel is an RFC 9293 state name in snake case ("TIME-WAIT" ->
// "time_wait"); sluicectl prints the RFC name.
func stateLabel(st tcp.State) string { return snake(st.String()) }

func snake(s string) string {
	s = strings.ToLower(s)
	return strings.NewReplacer(" ", "_", "-", "_").Replace(s)
}

// xdpVerdict is one of the steering program's counters (bpf.Counters,
// already summed over CPUs by the loader).
type xdpVerdict struct {
	label string
	get   func(c *bpf.Counters) uint64
}

var xdpVerdicts = []xdpVerdict{
	{"passed_not_ip", func(c *bpf.Counters) uint64 { return c.PassedNotIP }},
	{"passed_not_tcp", func(c *bpf.Counters) uint64 { return c.PassedNotTCP }},
	{"passed_fragment", func(c *bpf.Counters) uint64 { return c.PassedFragment }},
	{"passed_not_listened", func(c *bpf.Counters) uint64 { return c.PassedNotListened }},
	{"passed_truncated", func(c *bpf.Counters) uint64 { return c.PassedTruncated }},
	{"passed_bad_header", func(c *bpf.Counters) uint64 { return c.PassedBadHeader }},
	{"passed_ipv6_ext", func(c *bpf.Counters) uint64 { return c.PassedIPv6Ext }},
	{"redirected", func(c *bpf.Counters) uint64 { return c.Redirected }},
	{"redirect_no_socket", func(c *bpf.Counters) uint64 { return c.RedirectNoSocket }},
}
