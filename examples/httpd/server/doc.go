// Package server is examples/httpd's HTTP/1.1 server: a per-connection state
// machine over package http1, fed with the bytes a transport delivers, and
// its adapter to sluice's callback API (Handler). It is a library so that
// bench/ and tests can start the same server in-process (New, Run); the
// httpd command is a thin flag parser over it.
//
// # Resources
//
// Every response body is the same deterministic pattern (Body), so a client
// can check any byte of it:
//
//	GET /           Config.Size octets
//	GET /size/N     N octets (N <= Config.MaxSize), also /bytes/N (bench's path)
//	GET /healthz    200 "ok", 503 once Shutdown has begun (HealthPath)
//	anything else   404
//
// GET and HEAD are served; POST and PUT too, their body read and discarded
// (Content-Length or chunked). Other methods get 501 (RFC 9110 §9.1). A
// request-target's query is ignored; an absolute-form target (RFC 9112
// §3.2.2) is served by its path.
//
// # Connection handling (RFC 9112 §9)
//
//   - Pipelining: the requests found in one read are answered in order, their
//     responses batched into one Write; a request split over many reads is
//     reassembled by the parser.
//   - Persistence: HTTP/1.1 keeps the connection unless the request says
//     "Connection: close"; HTTP/1.0 only with "Connection: keep-alive"
//     (answered with the same field). After a response with
//     "Connection: close" the connection is closed (FIN after the response),
//     and nothing more that the client sent is parsed (§9.6).
//   - Errors: a request the parser rejects gets the status it chose (400,
//     413, 414, 431, 501, 505) with "Connection: close", after the responses
//     of the requests before it, then the connection closes.
//   - "Expect: 100-continue" is answered with 100 (Continue) in order
//     (RFC 9110 §10.1.1).
//   - Backpressure: a body larger than SmallBody is written in pieces of at
//     most 64 KiB, each only once the transport holds nothing beyond its
//     send buffer (Transport.Buffered is 0); the rest follows from
//     OnWritable. Memory per connection is bounded whatever the response
//     size. Requests pipelined behind a response still being written are
//     parsed into a queue of QueueLen pending responses, then held as raw
//     input (at most MaxHeaderBytes + 64 KiB; beyond that the client is
//     flooding and the connection is aborted: the transport has no way yet
//     to stop reading, see sluice's NetConn TODO).
//   - Lingering close (§9.6): when the client may still be sending as the
//     connection ends (an error, or bytes after a non-persistent request),
//     the server half-closes and reads and drops input until the client's
//     FIN (at most LingerTimeout and 4 MiB) instead of closing at once,
//     which would answer that input with a reset that can destroy the
//     response.
//   - A peer that half-closes (FIN after its requests) still gets every
//     response; the connection closes once they are written.
//   - Steady state allocates nothing per request: the connection state is
//     pooled, the parser and output buffers reused, bodies written from a
//     shared read-only pattern slab. A keep-alive connection between
//     requests holds no state of this package at all (Handler gives its
//     Conn back to the pool and takes one when bytes arrive).
//   - Timeouts (sluice.TimeoutHandler, Options.Timeouts): a request head,
//     a body's progress, an idle keep-alive connection and a client that
//     does not read are each bounded; a late head or body gets 408, an idle
//     connection is closed, a non-reader reset. Options.MaxConnsPerSource
//     bounds connections per client address (503 beyond). Counted in Stats.
//   - Shutdown (sluice.ShutdownHandler): idle connections close at once;
//     busy ones finish the requests in flight, the last response saying
//     "Connection: close", and parse nothing after them.
package server
