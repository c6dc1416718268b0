//go:build amd64 || arm64

package sched

// owner returns the runtime's pointer to the calling goroutine (owner_*.s).
func owner() uintptr
