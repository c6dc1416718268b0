//go:build !amd64 && !arm64

package sched

import "golang.org/x/sys/unix"

// owner falls back to the thread id: a loop's goroutine is locked to its
// thread, so the id names the loop as long as it runs.
func owner() uintptr { return uintptr(unix.Gettid()) }
