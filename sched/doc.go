// Package sched holds sluice's per-core event loops and the pure data
// structures each loop owns.
//
// A loop owns one NIC queue, one connection table, one timer wheel and one
// MPSC ring; nothing here is shared between loops, so the table and the wheel
// take no locks ("lock-free comes from ownership", DESIGN.md). Only the MPSC
// ring is touched by other goroutines, and it uses per-slot sequence numbers
// rather than a mutex.
//
// The structures are built so that a million connections cost the garbage
// collector nothing: timer entries and table slots are pointer-free structs
// in flat slices, addressed by uint32 indices, so the GC never scans them.
//
//   - TimerWheel (timerwheel.go): hierarchical hashed timing wheel, 1 ms
//     ticks, six levels of 64 slots (about 795 days of range; later
//     deadlines are re-placed until due), O(1) add, cancel and reset with
//     eager unlinking from index-linked lists, generation-checked handles,
//     24 bytes per timer. Expiry is exact to the tick (cascading, not
//     Linux ≥4.8's slack): never early, at most one tick late. Time is an
//     argument; NextDeadline tells an idle loop how long it may sleep.
//   - ConnTable (conntable.go): 4-tuple -> uint32 map, open addressing with
//     Robin Hood insertion and backward-shift deletion (no tombstones), a
//     per-table maphash seed against hash flooding, and incremental resize:
//     grow at 3/4 load, shrink at 1/8, each Insert/Delete migrating at most
//     8 old slots, so no operation pays for a whole rehash. 44 bytes per
//     slot (key inline, so a lookup touches one slot); LookupBatch overlaps
//     the cache misses of an RX batch.
//   - Slab (slab.go): generic index allocator in 4096-element pages, so
//     growth never copies and element addresses stay valid.
//   - MPSC (mpsc.go): bounded multi-producer single-consumer ring (Vyukov's
//     per-slot sequence numbers) with an eventfd wakeup that producers only
//     pay for when the consumer has announced it is going to sleep.
//
// # The loop
//
// Loop (loop.go) serves one NIC queue on one OS thread, locked
// (runtime.LockOSThread, never unlocked, so the pinned thread dies with the
// loop) and pinned (sched_setaffinity). Group (group.go) attaches the XDP
// steering program (bpf/), opens one UMEM and AF_XDP socket per queue,
// fills each socket's fill ring before registering it in the XSKMAP (a SYN
// steered to an empty fill ring is dropped), adds the listen addresses
// (none: a client group that only dials), and starts one Loop per queue; Close stops the loops (each resets its
// open connections), detaches the program and closes sockets and UMEMs.
//
// One iteration: reap the completion ring into the frame pool; take up to
// Batch (64) RX descriptors; for each, wire.ParseFrame (a rejected frame is
// counted per wire.DropReason), convert to a tcp.Segment (flags map 1:1,
// payload aliases the frame), demultiplex — ConnTable → the connection's
// TCB; else the compact TIME-WAIT table (tcp/timewait, before the listener
// as Linux does, so a retransmitted FIN is ACKed, not reset); else, for a
// non-SYN in a multi-loop group, the next loop (below); else the listener
// of the destination; else the RST of RFC 9293 §3.10.7.1 — and return the
// frame to the pool. In-order text that reaches an empty receive buffer
// stays in the frame during that segment's callbacks, so OnData reads it
// in place; only what the handler leaves unread is copied into the TCB
// (tcp.Segment.Hold, TCB.Unalias) before the frame is reused. Then posted
// work, due timers, one TX flush, and the fill ring topped up.
//
// Output (tx.go): the loop is the engines' tcp.Sink. Each segment is built
// straight into a UMEM frame (PutTCPHeaders, one copy of the text,
// FinishTCP) addressed to the MAC the flow's own frames came from, and
// staged; the flush moves the batch to the TX ring in one Reserve/Submit
// and kicks the kernel only when it asked (need_wakeup). In copy mode the
// kernel sends 32 frames per sendto, so the flush kicks again while the
// kernel keeps taking frames (bounded), which keeps the TX ring and the
// pool from backing up under bursts of replies.
//
// Callbacks (events.go): TCB calls only mark the connection dirty; settle
// then reads each dirty TCB's Events and runs Handler callbacks (OnOpen,
// OnData, OnEOF, OnClose). A callback that touches another connection only
// dirties it, so callbacks never nest inside an engine call and a
// connection is freed in one place. Received text is Consumed before
// OnData runs (it stays in place until the next Input), so a Close inside
// OnData is graceful. Conn.Write holds what the TCB's send buffer cannot
// take; while it holds text no more is delivered, so the receive window
// closes instead of the loop buffering without bound. Conn.PauseRead and
// ResumeRead do the same on request (the net.Conn adapter pauses when its
// reader falls behind): text stays in the TCB, the advertised window
// closes (RFC 9293 §3.8.6), and EOF is never reported before held text.
//
// Timers (timers.go): one wheel timer per connection, at the TCB's
// Deadline (the earliest of its RTO, delayed-ACK, persist, keepalive and
// 2*MSL/FIN-WAIT-2 instants); it is re-armed after every engine call only
// when the Deadline moved.
//
// Waiting: after BusyPoll of idleness the loop sleeps in poll(2) on the XSK
// fd and the MPSC eventfd (MPSC.PrepareSleep makes a racing Post wake it),
// with a timeout of the next wheel or TIME-WAIT deadline: an idle loop
// costs nothing.
//
// Cross-loop traffic: Loop.Post runs a function on the loop (Conn.Write
// from other goroutines goes through it with a ConnRef; stats snapshots
// too, so counters are plain fields). A segment of a flow that moved
// queues (Linux re-hashes a socket's TX queue, e.g. after an RTO) finds
// no connection in the loop it reached; it is passed round the group
// through the MPSC rings to its owner, and only the last loop answers it
// as a segment to no connection. Bare SYNs are never forwarded (a new
// connection belongs to the loop its SYN reached); SYN-ACKs are, since
// they answer a Dial of some loop.
//
// MSS per family: LoopConfig.TCP.MSS is taken as IPv4's (or LoopConfig.MTU
// gives the link MTU) and IPv6 connections (listener and Dial) use a copy
// of the Config with 20 octets less: the IPv6 header is 40 octets against
// IPv4's 20 (RFC 8200), and two sluice ends advertising one MSS for both
// would send IPv6 frames over the MTU. A listen address for both families
// is one listener per family.
//
// # Active open (dial.go)
//
// Group.Dial(ctx, remote, DialOptions) resolves, reserves and registers on
// the calling goroutine, then posts the open to a loop (the calling loop
// from a callback; a loop never waits for another) and returns the loop
// and ConnRef once the SYN is queued. The outcome comes through the
// connection's Handler (DialOptions.Handler overrides the group's, and
// DialOptions.Context is set before any callback): OnOpen once
// ESTABLISHED, or OnClose without OnOpen with tcp.ErrConnectionRefused
// (RST,ACK in SYN-SENT), tcp.ErrTimeout (SYN retries, or DialOptions.
// Timeout, a second deadline folded into the connection's wheel timer;
// SYN-SENT is left without a RST, RFC 9293 §3.10.5) or ErrLoopClosed.
//
//   - Route and next hop: internal/netenv.Resolve in the device's namespace
//     (GroupConfig.Setup): the kernel's route gives the output interface
//     (it must be the group's device) and the source address (RTA_PREFSRC),
//     its neighbour table the next hop's MAC (resolved through the kernel,
//     ARP/ND frames pass the XDP program). Replies then go where the
//     flow's frames come from, as for accepted connections.
//   - Local port: a kernel TCP socket is bound (never listened on or
//     connected) to the local address with port 0, or DialOptions.Local's
//     port, and held open for the connection's life, TIME-WAIT included.
//     Why: the kernel owns the same address, and its own connect() picks
//     ephemeral ports from net.ipv4.ip_local_port_range; a port sluice
//     picked by itself could be picked by the kernel too, and the XDP
//     program would then steer the kernel's replies to sluice (or, with
//     the flow entry gone, ours to the kernel, which resets them). A bound
//     port is never handed out by connect()'s autobind
//     (__inet_hash_connect skips ports with an explicit bind) nor bound
//     again (EADDRINUSE), and bind(port 0) gives a port free of every
//     kernel socket. No range to configure, and no clash with a range an
//     operator configured for something else; the cost is one fd per
//     dialed connection (a dialing process needs RLIMIT_NOFILE to match)
//     and at most the ephemeral range's size of concurrent dials per source
//     address.
//   - Steering: the 4-tuple goes into the XDP program's flow map
//     (bpf.Program.AddFlow) before the SYN leaves, so the SYN-ACK is
//     redirected to the AF_XDP socket of the queue it arrives on rather
//     than passed to the kernel. On that queue a loop other than the
//     dialer's may get it (RSS hashes the 4-tuple, veth uses the sender's
//     choice; the source port is not chosen to hash to the dialing queue,
//     since bind(0) picks it and the hash is the device's): it is
//     forwarded round the group like any segment that changed queues.
//   - Release: when the connection is freed, or, when it went to the
//     compact TIME-WAIT table, once that entry is gone (expired, or removed
//     by a reopening SYN; the loop keeps a FIFO of such 4-tuples and
//     checks it with its timers), the flow entry is removed, then the
//     reservation closed; a failed Dial has released both before its
//     OnClose runs.
//
// # Shutdown (shutdown.go)
//
// SetAccepting(false) makes the listeners answer as closed ports (RST to
// a SYN, Stats.Refused) while every connection in the table goes on; the
// listen entries stay in the XDP program, because it steers accepted
// connections' segments by them. CloseAll closes every connection (FIN
// after the text queued), Each runs any function on each, Conns counts
// those whose OnClose has not run (a per-loop count published with a
// plain atomic store), AbortAll resets the rest.
//
// # Hooks (hooks.go)
//
// A Tap (Group.SetTap) sees every frame received (before parsing) and
// sent (as it goes to the TX ring), on the loop's thread, from an
// atomic.Pointer each loop loads once per RX batch and once per flush.
// LoopConfig.MaxConns bounds the connections in a loop's table: at the
// bound a SYN (or SYN-cookie ACK) is dropped and counted in
// Stats.LimitDrops, not reset: clients retry as after a listen-queue
// overflow in Linux, and a flood gets nothing reflected. Retransmissions
// (Stats.Retransmits) are counted at the sink: a segment occupying
// sequence space below the highest the connection sent.
//
// # Options (sockopt.go)
//
// Conn.SetNoDelay, SetKeepAlive, SetKeepAlivePeriod and
// SetKeepAliveConfig point the TCB (tcp.TCB.Reconfigure) at a variant of
// the loop's Config differing only in those fields, made once per
// combination (at most 64 per loop).
package sched
