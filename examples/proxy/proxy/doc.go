// Package proxy is examples/proxy's TCP reverse proxy on sluice: it
// accepts connections on sluice's callback API and, for each, dials the
// upstream from the same server (Server.DialHandler), relaying bytes both
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
// The upstream is dialed from a goroutine (Server.DialHandler waits for
// the handshake, which a callback cannot do on its own loop), so with
// several loops it may open on another loop than the client's. Such a pair
// still works: Writes across loops are posted (a copy), and backpressure
// is watched by polling the other side's Buffered every millisecond while
// paused. Counted in Stats.CrossLoop.
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
