package sched

// Owner identifies the calling goroutine while it runs, without a system
// call: two instructions on amd64 and arm64 (the runtime's goroutine
// pointer), gettid elsewhere. A loop's callbacks and posted functions all
// run on the goroutine that called Run, and Run records its token, so
// Loop.OnThread tells by comparing whether it is called from that loop or
// from another goroutine (sluice.Conn's methods ask it on every Write,
// keeping no token of their own). A token is never 0. It may be reused once
// its goroutine has exited: compare only while the loop is known to run.
func Owner() uintptr { return owner() }
