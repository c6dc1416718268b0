//go:build linux

package bpf

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// testXSK is the smallest AF_XDP socket that can receive: a UMEM, a fill
// ring kept full, an RX ring, copy mode. It exists so the bpf tests can show
// frames arriving without depending on afxdp/ (which is built on top of this
// package's loader). Not for production: no TX, no wakeups, no batching.
type testXSK struct {
	fd     int
	umem   []byte
	fill   []byte
	rx     []byte
	off    unix.XDPMmapOffsets
	frames uint32
}

const (
	xskFrameSize = 2048
	xskFrames    = 64 // also the ring sizes (powers of two)
)

func newTestXSK(ifindex, queue int) (x *testXSK, err error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("AF_XDP socket: %w", err)
	}
	x = &testXSK{fd: fd, frames: xskFrames}
	defer func() {
		if err != nil {
			x.Close()
			x = nil
		}
	}()
	x.umem, err = unix.Mmap(-1, 0, xskFrames*xskFrameSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return x, fmt.Errorf("mmap umem: %w", err)
	}
	reg := unix.XDPUmemReg{
		Addr: uint64(uintptr(unsafe.Pointer(&x.umem[0]))),
		Len:  uint64(len(x.umem)),
		Size: xskFrameSize,
	}
	if err := setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		return x, fmt.Errorf("XDP_UMEM_REG: %w", err)
	}
	for _, opt := range []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_RX_RING} {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, opt, xskFrames); err != nil {
			return x, fmt.Errorf("ring size (opt %d): %w", opt, err)
		}
	}
	sz := uint32(unsafe.Sizeof(x.off))
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&x.off)), uintptr(unsafe.Pointer(&sz)), 0); e != 0 {
		return x, fmt.Errorf("XDP_MMAP_OFFSETS: %w", e)
	}
	x.fill, err = unix.Mmap(fd, unix.XDP_UMEM_PGOFF_FILL_RING, int(x.off.Fr.Desc)+xskFrames*8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return x, fmt.Errorf("mmap fill ring: %w", err)
	}
	x.rx, err = unix.Mmap(fd, unix.XDP_PGOFF_RX_RING, int(x.off.Rx.Desc)+xskFrames*16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return x, fmt.Errorf("mmap rx ring: %w", err)
	}
	// Hand every frame to the kernel.
	for i := uint32(0); i < xskFrames; i++ {
		*(*uint64)(unsafe.Pointer(&x.fill[x.off.Fr.Desc+uint64(i)*8])) = uint64(i) * xskFrameSize
	}
	atomic.StoreUint32(x.u32(x.fill, x.off.Fr.Producer), xskFrames)
	if err := unix.Bind(fd, &unix.SockaddrXDP{Flags: unix.XDP_COPY, Ifindex: uint32(ifindex), QueueID: uint32(queue)}); err != nil {
		return x, fmt.Errorf("bind AF_XDP to ifindex %d queue %d: %w", ifindex, queue, err)
	}
	return x, nil
}

func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0); e != 0 {
		return e
	}
	return nil
}

func (x *testXSK) u32(ring []byte, off uint64) *uint32 {
	return (*uint32)(unsafe.Pointer(&ring[off]))
}

// Receive copies out the frames waiting on the RX ring and gives their
// buffers back to the fill ring.
func (x *testXSK) Receive() [][]byte {
	prod := atomic.LoadUint32(x.u32(x.rx, x.off.Rx.Producer))
	cons := atomic.LoadUint32(x.u32(x.rx, x.off.Rx.Consumer))
	var out [][]byte
	fprod := atomic.LoadUint32(x.u32(x.fill, x.off.Fr.Producer))
	for ; cons != prod; cons++ {
		d := x.off.Rx.Desc + uint64(cons&(xskFrames-1))*16
		addr := *(*uint64)(unsafe.Pointer(&x.rx[d]))
		n := *(*uint32)(unsafe.Pointer(&x.rx[d+8]))
		out = append(out, append([]byte(nil), x.umem[addr:addr+uint64(n)]...))
		base := addr &^ (xskFrameSize - 1)
		*(*uint64)(unsafe.Pointer(&x.fill[x.off.Fr.Desc+uint64(fprod&(xskFrames-1))*8])) = base
		fprod++
	}
	atomic.StoreUint32(x.u32(x.rx, x.off.Rx.Consumer), cons)
	atomic.StoreUint32(x.u32(x.fill, x.off.Fr.Producer), fprod)
	return out
}

func (x *testXSK) Close() error {
	for _, m := range [][]byte{x.rx, x.fill, x.umem} {
		if m != nil {
			unix.Munmap(m)
		}
	}
	return unix.Close(x.fd)
}
