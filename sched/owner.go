package sched

// Owner identifies the calling goroutine while it runs, without a system
// call: two instructions on amd64 and arm64 (the runtime's goroutine
// pointer), gettid elsewhere. A loop's callbacks and posted functions all
// run on the goroutine that called Run, so code that records Owner in a
// callback can later tell, by comparing, whether it is called from that
// loop or from another goroutine (sluice.Conn's methods do, on every
// Write). A token is never 0. It may be reused once its goroutine has
// exited: compare only while the loop is known to run (e.g. before the
// connection's OnClose).
func Owner() uintptr { return owner() }
