//go:build linux

package bpf

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pinFD pins the BPF object behind fd at path (BPF_OBJ_PIN). cilium/ebpf's
// Pin moves an object already pinned elsewhere; a dispatcher's component
// must stay pinned under the old dispatcher until the new one is attached.
func pinFD(fd int, path string) error {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	// union bpf_attr, BPF_OBJ_* variant: pathname, bpf_fd, file_flags,
	// path_fd.
	attr := struct {
		pathname uint64
		fd       uint32
		flags    uint32
		pathFD   int32
		_        uint32
	}{pathname: uint64(uintptr(unsafe.Pointer(p))), fd: uint32(fd)}
	_, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_OBJ_PIN, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(p)
	if e != 0 {
		return e
	}
	return nil
}
