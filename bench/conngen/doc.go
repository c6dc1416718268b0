// Package conngen is a raw-frame HTTP connection generator, the client of
// the bench's conn/s and TIME-WAIT churn workloads: each connection is a
// SYN, the ACK of the server's SYN-ACK carrying "GET ... Connection:
// close", the response read and checked, and the client's FIN once the
// server has sent its own, so the server closes first and holds the
// TIME-WAIT entry (RFC 9293 §3.6), as for a real HTTP server. It builds
// every frame itself (package wire) and sends and receives them through an
// AF_XDP socket on the client's link, so it costs a fraction of what a
// kernel TCP client costs per connection and is not the ceiling of a
// conn/s measurement on a small machine.
//
// # Nearly stateless
//
// As pktgen and TRex's ASTF mode do, the generator keeps no connection
// objects: it owns a range of client addresses (a prefix in the testbed's
// 198.18.0.0/15 or 2001:2::/48) and their ports 1024-65535, and numbers
// the 4-tuples: tuple t is address t/64512 of the prefix, port
// 1024+t%64512. Tuples are used once, in order, so no 4-tuple comes back
// while the server still holds it in TIME-WAIT. Slot s of Config.Slots
// (the connections in progress at once) opens tuples s, s+Slots,
// s+2*Slots, ..., so a received frame's destination address and port name
// its slot with a division; the slot holds what cannot be derived (40
// octets: the tuple, the server's ISN, the response octets seen, a timer).
// The client's ISN is a keyed hash of the tuple (a cookie, RFC 4987 in
// spirit): a SYN-ACK whose acknowledgment is not ISN+1 answers no SYN of
// ours and is refused with a RST (RFC 9293 §3.10.7.3). Everything the
// third segment needs comes from the SYN-ACK, so a retransmitted SYN-ACK
// (the server did not see our ACK) is answered the same way again.
//
// # On the wire
//
//   - SYN with MSS only (no window scale, SACK or timestamps: a response
//     of a few hundred octets needs none of them), window 65535.
//   - ACK+GET as the third segment (RFC 9293 §3.5 allows data on it).
//   - The response must arrive in order, begin with a complete head
//     (status 200, Content-Length, Connection: close) in its first segment,
//     and end exactly at the server's FIN. Segments beyond the next
//     expected octet are answered with a duplicate ACK and wait for the
//     server's retransmission; duplicates are re-ACKed.
//   - The server's FIN is answered with FIN+ACK (the client closes after
//     the server, so the server is the one in TIME-WAIT); the server's ACK
//     of that FIN completes the connection.
//   - Segments for a tuple whose slot has moved on (an aborted or completed
//     connection) get a RST, as a closed port would answer (RFC 9293
//     §3.10.7.1), and are counted as stale.
//   - Lost frames: each state retransmits its last segment after an RTO
//     (200 ms, doubled per try) and gives the connection up after
//     Config.Retries, with a RST, counted as a timeout.
//
// # Idle connections
//
// With Config.Idle the generator opens connections for the idle
// workload's memory figures instead: SYN, then a bare ACK of the
// SYN-ACK, and the slot moves on to its next tuple at once, so a million
// connections open in seconds and the generator holds no state for them.
// The tuple numbering is all it keeps: a SYN-ACK retransmitted for a held
// connection (our ACK was lost) is answered with the ACK again, rebuilt
// from the SYN-ACK and the cookie ISN; anything else on a held connection
// (keep-alive probes, data, FIN, RST) is counted in Stats.Held and not
// answered, so the server keeps the connection ESTABLISHED until it ends
// it itself. An Idle generator is never Done by itself: XDP.Halt ends
// its Run.
//
// Everything that is not a completed, checked connection is counted by
// kind in Stats (RSTs, timeouts, bad responses, stale segments, frames
// that did not parse, TX ring full): a run with errors says so.
//
// # I/O
//
// The state machine (Gen) only sees frames: Input for each received one,
// Tick for timers and new connections, a TX for the frames it sends. XDP
// (xdp.go) runs it on an AF_XDP socket on queue 0 of the client's link,
// with a small XDP program that redirects TCP to the owned prefix and
// passes everything else (ARP, neighbour discovery, the kernel's own
// traffic). The server's side needs a route to the prefix through the
// client's link-local address (the bench adds it), so a kernel server
// resolves one neighbour, not one per client address.
package conngen
