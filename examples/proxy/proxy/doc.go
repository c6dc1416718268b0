// Package proxy is examples/proxy's TCP reverse proxy on sluice: it
// accepts connections on sluice's callback API and, for each, dials the
// upstream from the same loop (Server.DialHandler), relaying bytes both
// ways. Any protocol over TCP passes through unchanged (HTTP/1.1, HTTP/2,
// TLS end to end).
//
// # Data path
//
// A segment's text is handed to OnData where it arrived (in the UMEM frame
// or the receive buffer) and written once into the other connection's
// send buffer: one copy per octet, no system call. A kernel proxy copies
// each octet into user space and out again and makes a read and a write
// system call per batch.
//
// # Backpressure, both ways
//
// When the other connection holds data beyond its send buffer (its peer
// reads slower than this one sends), the reading side is paused
// (Conn.PauseRead): its bytes stay in its TCP receive buffer, its window
// closes, and its peer waits. The other side's OnWritable resumes it. So a
// slow client never makes the proxy buffer an upstream response: a pair
// holds at most its two send buffers plus one read. The client is also
// paused until the upstream connection is open.
//
// # Loops
//
// The client's OnOpen dials the upstream with Server.DialHandler, which
// from a callback returns at once (the upstream in SYN-SENT) and opens it
// from the same loop; the upstream's OnOpen or OnClose reports the
// outcome. So a pair lives on one loop: Writes between its two
// connections act at once, with no posting, no copy beyond the one into
// the send buffer, and no goroutine per dial. Where the device has RSS,
// sluice picks the upstream's source port so that the NIC delivers the
// upstream's replies to that loop's queue too (docs/deploy.md).
//
// # Closing
//
// A FIN from either side is passed on as a half-close (CloseWrite), and
// the other direction carries on; a connection that ends in order closes
// its partner in order (a FIN after what was written); a reset or failure
// resets the partner. A failed upstream dial resets the client. On
// Shutdown pairs are left to finish (an L4 proxy cannot tell an idle
// moment of the protocol inside); those open at the deadline are reset.
package proxy
