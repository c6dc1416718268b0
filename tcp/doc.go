// Package tcp is sluice's sans-I/O TCP engine: RFC 9293 with the parts of
// RFC 5961, 6298, 7323, 2018, 2883, 4987, 6191, 1337, 5681, 6582, 6675,
// 8985, 9406, 9438, 3465, 1191, 8201 and 5927 a Linux peer expects.
// It does no I/O, reads no clock, starts no goroutine and takes no lock:
// segments and the current Instant go in, segments come out through a
// Sink, and Deadline says when the owner must call back.
//
// # Driving a connection
//
// The owner (a per-core loop, or the tcptest harness) holds the TCBs of
// its connections and, for each:
//
//   - Input(seg, now) for each arriving segment (SEGMENT ARRIVES, §3.10.7);
//   - OnTimer(now) once now >= Deadline() (retransmission, persist,
//     delayed ACK, keepalive, FIN-WAIT-2 and TIME-WAIT timers, §3.10.8);
//   - the user calls: Open (active OPEN), NewListen/Listener (passive
//     OPEN), Write (SEND, with backpressure), Read or Peek+Consume
//     (RECEIVE), CloseWrite (CLOSE: half-close), Close (close(2): full
//     close), Abort (ABORT); each takes now because it may emit;
//   - Events() after each call: a bit set (EventEstablished,
//     EventReadable, EventWritable, EventTimeWait, EventClosed) that the
//     owner turns into application callbacks. Err() gives the reason a
//     connection closed: ErrConnectionRefused, ErrConnectionReset,
//     ErrTimeout, ErrAborted (nil for a graceful close).
//
// A Sink must copy or serialize the segment during Emit: the TCBs of a
// Config share one scratch Segment (a Config is one goroutine's), so the
// hot path (segment in → ACK out, data in → data out) allocates nothing.
// Buffers hold memory only for the text in them, in 4 KiB chunks from
// the owner's pool (tcp/chunk, Config.Pool): SendBuffer/RecvBuffer and
// their auto-tuned maxima bound the windows, not allocations. The TCB
// struct itself is 568 octets, Go's 576-octet size class (TestTCBSize):
// out-of-order and SACK range storage comes from the owner's RangePool
// (Config.Ranges) only while the sequence space has holes, per-flight
// sender state from its SenderPool (Config.Senders) only while a flight
// is out, and Stats are allocated on the first counted event. An owner
// that keeps a free list of closed TCBs hands them back through
// OpenReuse and Listener.Pool: a whole connection then allocates nothing
// (TestRecycledConnectionAllocs).
//
// # Listener and demultiplexing
//
// The engine does not demultiplex. A segment whose 4-tuple has a TCB goes
// to TCB.Input; one without goes to Listener.Input if the port listens
// (which may return a new TCB for the owner's table), or else gets
// ResetReply (§3.10.7.1, "SYN to a closed port → RST,ACK"). The Listener
// bounds its SYN queue (Config.SynBacklog: children in SYN-RECEIVED) and
// accept queue (Config.AcceptBacklog); when the SYN queue is full it uses
// SYN cookies (Config.SynCookies, tcp/syncookie) or drops the SYN as
// Linux does. A child that gets a RST in SYN-RECEIVED closes and frees
// its slot; the Listener itself stays in LISTEN. When the accept queue is
// full the ACK completing a handshake is dropped, as in Linux.
//
// NewListen is the RFC's single-connection passive OPEN (a TCB in LISTEN
// that returns to LISTEN on a RST in SYN-RECEIVED). A TCB in LISTEN
// becomes an active opener (LISTEN → SYN-SENT, §3.10.2) only through an
// explicit Connect call: Write in LISTEN returns ErrClosed rather than
// guessing the foreign socket.
//
// # TIME-WAIT
//
// The TCB implements TIME-WAIT itself (re-ACK of a retransmitted FIN with
// a 2*MSL restart, RST ignored per RFC 1337, expiry after exactly 2*MSL)
// and raises EventTimeWait on entry. The owner may instead move the
// connection to tcp/timewait's compact table: Vars has SND.NXT, RCV.NXT,
// the window, TS.Recent, the TS offset and the deadline.
// TimeWaitAcceptsSYN is the RFC 6191 test for a SYN that reopens the
// 4-tuple.
//
// Config is shared read-only by the TCBs of a loop; the owner checks it
// once with Config.Validate (Open and NewListener do not).
//
// # Decisions (where RFC 9293 leaves room, Linux is followed)
//
//   - Sequence variables: besides SND.UNA/SND.NXT the TCB keeps SND.MAX,
//     the highest sequence number sent. A retransmission timeout resets
//     SND.NXT to SND.UNA (go-back-N); ACK acceptability (RFC 5961 §5.2)
//     uses SND.MAX, and bare ACKs carry SEQ=SND.MAX so that a peer whose
//     RCV.NXT is past the rolled-back SND.NXT still accepts them.
//   - Invariants (checked by FuzzTCB): SND.UNA <= SND.NXT <= SND.MAX; the
//     octets in flight never exceed the largest window the peer offered,
//     plus SYN and FIN. SND.NXT <= SND.UNA+SND.WND holds when text is
//     sent; afterwards the peer may shrink its window (§3.8.6), and the
//     FIN is sent without window space (Linux). Zero-window and keepalive
//     probes are Linux's: an ACK with SEQ=SND.UNA-1 and no text, so they
//     never move SND.NXT.
//   - Nagle is Minshall's variant (Linux): a short segment waits only for
//     an earlier short segment's ACK. A queued FIN turns Nagle off.
//   - Receiving: out-of-order text is written straight into the receive
//     ring's free space, so reassembly is bounded by the buffer in bytes,
//     plus at most Config.MaxOOORanges disjoint ranges (256 by default,
//     their storage from the owner's RangePool while there are holes;
//     advertised as SACK blocks, the latest first). ACKs: quick ACKs for
//     the first Config.QuickACKs segments, then once more than one full
//     segment is unacknowledged (as Linux), a run received together
//     (Segment.More) counting as one, or after Config.DelayedACK;
//     immediately for out-of-order text, hole fills and FINs. One ACK per
//     Input at most covers text, FIN and any reply.
//   - Window: receiver SWS avoidance (§3.8.6.2.2), never shrinking the
//     right edge; a window update is sent from Read/Consume when the
//     window opens by min(buffer/2, MSS) and at least doubles. With a zero
//     window, a segment at exactly RCV.NXT is processed for its ACK (and a
//     bare FIN is taken, as Linux does); its text is dropped.
//   - RTO (RFC 6298): samples from timestamps when negotiated (RFC 7323
//     RTTM; valid for retransmissions too) else Karn's timed segment;
//     min 200 ms, max 120 s, as Linux. SYN, SYN-ACK and data give up after
//     Config.SynRetries / SynAckRetries / DataRetries timeouts.
//   - Closing with unread data, or receiving text after Close, resets the
//     connection (RFC 2525 §2.17, Linux). FIN-WAIT-2 ends after
//     Config.FinTimeout only for a connection closed with Close (orphaned);
//     after CloseWrite it waits for the peer's FIN as long as it takes.
//   - CLOSE in SYN-RECEIVED moves to FIN-WAIT-1 at once; the FIN itself is
//     sent when the SYN is acknowledged (a FIN before the handshake
//     completes could not be acknowledged separately from the SYN).
//   - A retransmitted SYN in SYN-RECEIVED gets the SYN,ACK again (Linux);
//     the SYN,ACK of a simultaneous open (SEQ=IRS) completes it.
//   - Challenge ACKs (RFC 5961 §7) are limited per connection, as Linux's
//     tcp_send_challenge_ack: one per 500 ms, shared with the ACKs to
//     out-of-window segments, then Config.ChallengeACKLimit per second; a
//     per-connection limit cannot serve as the cross-connection side
//     channel of CVE-2016-5696.
//   - A SYN with a new ISN inside the window of a passive connection in
//     SYN-RECEIVED resets it (RST|ACK to the SYN) and returns it to
//     LISTEN, as Linux; a SYN+FIN to a listener is dropped.
//   - URG: the urgent pointer is ignored and urgent octets are delivered
//     in line (RFC 6093 §5). ECN is not negotiated.
//   - Loss detection with SACK is RACK-TLP (RFC 8985, rack.go,
//     rack_tcb.go), as Linux: a 32-octet transmit record per segment in
//     flight beside the byte ring (sequence range, last transmit time,
//     SACKed/lost/retransmitted flags, rate snapshot), taken from the
//     owner's SenderPool (Config.Senders) when a second segment joins
//     the flight and given back once the flight is acknowledged with no
//     recovery or timer running (min_RTT and reo_wnd stay in the TCB); a
//     segment is lost
//     once one sent later was delivered RACK.rtt + reo_wnd ago (reo_wnd:
//     min_RTT/4 once reordering is seen, grown by D-SACK rounds, capped
//     by SRTT), the reordering timer covers the window, lost
//     retransmissions are found by the same rule, and the tail loss
//     probe (§7) goes when ACKs stop (never in recovery or after an RTO).
//     Recovery itself is RFC 6675's (lost records first, then new data
//     while pipe < cwnd). Without SACK, RFC 6582 NewReno (Linux's Reno
//     emulation: one segment per duplicate ACK) with RFC 5827 early
//     retransmit for short flights. Reductions
//     are undone when Eifel (RFC 3522: the ACK of the first retransmission
//     echoes an older TSval) or D-SACK (RFC 2883: every retransmission
//     reported duplicate) shows them spurious; a spurious RTO also
//     resumes at SND.MAX (RFC 4015). The receiver sends D-SACK blocks.
//     DupThresh adapts to the reordering seen (Linux tp->reordering, up
//     to 300 segments): a hole filled by its original with D segments
//     SACKed above it, outside recovery or in an episode an undo proved
//     spurious, raises it to D+1; early retransmit is off once it has.
//   - RTT: no timestamp sample from an echo older than the last RTO (it
//     would count the RTO wait as path delay); a duplicate ending at
//     RCV.NXT refreshes TS.Recent (Linux), so its ACK gives a true one.
//   - Congestion control sits behind the Congestion interface: CUBIC
//     (RFC 9438, with fast convergence and the Reno-friendly region) by
//     default, NewReno or BBR (v1, as Linux ships it: bbr.go) by
//     Config.CC; slow start counting every octet an ACK covers (Linux's
//     tcp_slow_start, not RFC 3465's L=2), IW10, restart from
//     IW after an idle RTO (RFC 5681 §4.1), growth only while the
//     sender is cwnd-limited (tcp_is_cwnd_limited, RFC 9438 §4.8,
//     RFC 7661: congestion.go's cwndLimited; a tail loss probe's new
//     text counts in the flight as trySend's does); CUBIC's epoch moves
//     past a shorter idle when text goes out with none in flight (RFC
//     9438 §5.8, Linux's CA_EVENT_TX_START), so t counts no idle time;
//     CUBIC leaves slow start by
//     HyStart++ (RFC 9406, with its conservative phase: hystart.go)
//     rather than by overflowing the bottleneck queue. BBR takes a
//     delivery-rate sample per ACK (rate.go) and is paced: each segment
//     gets an earliest departure time and the owner's timer releases
//     about 1 ms of data per wake-up (pacing.go, reported in Deadline).
//   - Buffers grow up to Config.SendBufferMax/RecvBufferMax: the receive
//     buffer by what the application drains per RTT (Linux DRS,
//     tcp_rcv_space_adjust), the send buffer with cwnd; on by default
//     (autotune.go).
//   - ICMP (pmtu.go): the owner hands errors quoting the flow to ICMP;
//     the quoted sequence number must be in SND.UNA..SND.MAX (RFC 5927);
//     "packet too big" lowers the send MSS (never below 552/1280) and
//     resends the flight at the new size without a congestion response;
//     unreachables are soft errors reported if the connection times out.
//   - Counters for the owner to sum are in Stats (TCB.Stats).
//
// The tcptest package is a packet-level harness for this engine: scripts
// of segments in, segments out and states, on a virtual clock, plus Link,
// two engines joined by a lossy in-memory wire.
package tcp
