// Package conform is sluice's differential conformance suite, with
// Linux's TCP as the reference: the same scripted raw-frame scenarios run
// against a kernel listener and a sluice server on one testbed, and what
// each sends back must match.
//
// Method:
//
//   - Both servers run in the testbed's Server namespace and run the same
//     application (servers_test.go): echo, close after text holding
//     "quit", write "bye" after the peer's FIN. Linux's is net.Listen on
//     port 7001 (SO_OOBINLINE, as sluice has no out-of-band channel);
//     sluice's is sluice.Server on port 7000. sluice's XDP program passes
//     every port it does not serve to the kernel, so one bed holds both.
//   - The peer is testbed.RawPeer: AF_PACKET on the Peer's veth, sending
//     from 198.18.0.99 / 2001:2::99 with a MAC no interface has, so the
//     Peer's kernel drops the replies as PACKET_OTHERHOST (no RST of its
//     own) while the capture sees them. Linux reaches the address through
//     permanent neighbour entries; sluice answers the flow's MAC.
//   - A scenario (scenarios_test.go) is a script of sends and expects; it
//     runs once per side, each on its own connection, all at once.
//     Each step logs a line: what was sent, and the replies normalised
//     (peer_test.go): sequence numbers relative to the server's ISN,
//     ACKs and SACK blocks to ours, flags but PSH, text length, urgent
//     pointer, option kinds on a SYN, timestamp presence. Not windows,
//     TSvals, ISNs or timing; the IP hop limit and DF are. A segment
//     with text or a FIN seen before on the connection is a timer's
//     retransmission and left out. Text replies are compared as the stream
//     they deliver (segmentation and piggybacked ACKs are each stack's
//     own); timer-driven sends (SYN-ACK retransmission, window probes)
//     as the distinct segments seen in a window and whether one repeated.
//   - TestConform fails a scenario whose two logs differ, printing both.
//     Known differences are in one table (conform_test.go) with the
//     reason, marked as a defect or a deliberate choice; a listed
//     scenario that matches fails too, so the table stays true.
//
// Reply windows (peer_test.go): a step that knows what it awaits (text, a
// FIN, a SYN-ACK) waits for it, the same bound for both sides, then 30
// ms, so the next step acknowledges well inside both stacks' 200 ms
// minimum RTO; any other step waits 500 ms for a first reply, then until
// 100 ms pass with none. Stable under -race on a loaded 2-core machine;
// the suite takes about 13 s (16 s with -race).
package conform
