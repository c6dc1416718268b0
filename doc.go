// Package sluice is a kernel-bypass TCP server framework: frames come from
// the NIC through AF_XDP sockets straight into per-core event loops that
// run their own TCP (RFC 9293). No kernel socket, no system call per
// packet, no lock on the data path.
//
// # Two ways to write a server
//
// Callbacks: implement Handler (embed NopHandler for the callbacks you do
// not need) and call Serve, or NewServer and Start. Every callback of a
// connection runs on the loop that owns it; the data given to OnData is
// valid only during the call. Callbacks must not block; Conn.Write never
// does (it queues, and reports backpressure through Conn.Buffered,
// ErrWriteQueueFull and OnWritable). Conn's methods may also be called
// from other goroutines: they are then posted to the connection's loop.
//
//	err := sluice.Serve(ctx, sluice.Config{
//		Interface: "eth0",
//		Listen:    []string{":7"},
//	}, echo{})
//
// net.Listener: make the server with a nil Handler and serve its
// Listener with any code written for package net, e.g. net/http:
//
//	srv, _ := sluice.NewServer(cfg, nil)
//	srv.Start()
//	go http.Serve(srv.Listener(), mux)
//
// # Dialing
//
// Server.Dial opens a connection from one of the loops (a net.Conn;
// DialHandler for a callback connection): the kernel's route gives the
// source address, its neighbour table the next hop's MAC, and a reserved
// kernel port the source port. A Dialer does the same without a server of
// one's own (it starts a client-only one on first use), and plugs into
// http.Transport.DialContext.
//
// # Start-up
//
// Start checks what a kernel-bypass server needs before touching the
// device and reports every problem at once, each saying what to do:
// missing capabilities (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_PERFMON)
// or locked-memory limit, a missing or down interface, a listen address not
// on the interface, a kernel socket already listening on the port (it
// would never see a segment again), fewer RX queues than loops, an MTU
// too large for the UMEM frame size, no XDP support. It then logs (slog,
// Info) what it chose: XDP driver or generic mode, zero-copy or copy,
// queues, loops and cores; Server.Info returns the same.
//
// # Stopping
//
// Server.Shutdown stops accepting, closes every connection with a FIN
// (or asks ShutdownHandler.OnShutdown), waits for them to finish, and
// resets those still open at its context's deadline. Server.Close stops
// at once. After either, operations fail with errors matching
// net.ErrClosed.
//
// # Time
//
// Conn.SetTimeout arms a connection's one timer (idle, read or request
// timeouts: set the one the protocol's current phase needs); when it
// expires TimeoutHandler.OnTimeout runs on the connection's loop, or,
// without one, the connection is closed. TickHandler.OnTick is a
// periodic callback on each loop, for per-loop housekeeping.
//
// # Close reasons
//
// OnClose (and the net.Conn adapter's errors) say why a connection ended
// with values comparable by errors.Is: ErrPeerClosed (also io.EOF),
// ErrReset (syscall.ECONNRESET), ErrTimeout (syscall.ETIMEDOUT),
// ErrAborted (syscall.ECONNABORTED), ErrRefused (syscall.ECONNREFUSED) and
// ErrServerClosed (net.ErrClosed); nil when this side closed first and the
// close completed in order.
package sluice
