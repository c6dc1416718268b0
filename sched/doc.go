// Package sched holds sluice's per-core event loops and the pure data
// structures each loop owns: the connection table (ConnTable), the timer
// wheel (TimerWheel), the slab of connections (Slab) and the ring of work
// posted from other goroutines (MPSC). Why they are built so is in
// docs/design.md ("The loops", "Connections"); each file's comments give
// its details.
//
// # Running loops
//
// Start attaches the XDP steering program (bpf/) to a device, opens one
// UMEM and AF_XDP socket per queue and runs one Loop per queue on its own
// locked, pinned thread; Group.Close stops them (each resets its open
// connections), detaches the program and closes sockets and UMEMs.
// NewLoop makes a lone loop, without a device when benchmarks and unit
// tests feed it frames themselves.
//
// # Callbacks and threads
//
// Every callback of GroupConfig.Handler (or DialOptions.Handler) runs on
// the thread of the loop that owns the connection, one at a time per
// loop: OnOpen once ESTABLISHED, OnData with text valid only during the
// call, OnEOF, OnWritable (WritableHandler) and OnClose. A Conn's methods
// must be called on its loop's thread: from a callback, or from a function
// given to Loop.Post with the connection's ConnRef (Loop.Conn resolves it,
// or returns nil once the connection is gone). Owner tells a loop's
// goroutine from others without a system call.
//
// # Application timers
//
// Conn.SetTimer arms a connection's application timer, a second entry in
// the loop's timer wheel (tagged TagApp) beside the TCB's own; its expiry
// runs TimeoutHandler.OnTimeout, after the iteration's received data and
// never after OnClose. Re-arming it later only stores the new instant
// (the entry moves itself when it fires early); earlier is one
// TimerWheel.Reset. A Handler that is a TickHandler gets one TagTick
// entry per loop, OnTick re-arming it by the delay it returns
// (apptimer.go).
//
// # Group operations
//
// Safe from any goroutine: Group.Dial (an active open whose outcome is
// OnOpen, or OnClose without OnOpen), SetAccepting, CloseAll, Each,
// AbortAll and Conns (the pieces of a graceful shutdown, shutdown.go),
// ListConns (open connections, as `ss -tin`), Stats (counters taken on
// each loop's thread), SetTap (every frame received and sent) and
// Loop.BindMode.
package sched
