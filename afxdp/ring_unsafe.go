package afxdp

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapRing mmaps one ring of the socket fd at page offset pgoff and points
// r's indices at the producer, consumer and flags words the kernel placed
// at the offsets XDP_MMAP_OFFSETS reported. It returns the mapping (for
// munmap) and the start of the descriptor array.
func mapRing(fd int, pgoff int64, off unix.XDPRingOffset, size uint32, descSize uintptr, r *ring) ([]byte, unsafe.Pointer, error) {
	n := int(off.Desc) + int(size)*int(descSize)
	mem, err := unix.Mmap(fd, pgoff, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, nil, err
	}
	base := unsafe.Pointer(&mem[0])
	// atomic.Uint32 is a bare uint32 in memory (4 octets, 4-aligned).
	r.producer = (*atomic.Uint32)(unsafe.Add(base, off.Producer))
	r.consumer = (*atomic.Uint32)(unsafe.Add(base, off.Consumer))
	r.flags = (*atomic.Uint32)(unsafe.Add(base, off.Flags))
	r.size = size
	r.mask = size - 1
	return mem, unsafe.Add(base, off.Desc), nil
}

func mapFill(fd int, off unix.XDPRingOffset, size uint32, f *FillRing) ([]byte, error) {
	mem, d, err := mapRing(fd, unix.XDP_UMEM_PGOFF_FILL_RING, off, size, 8, &f.ring)
	if err != nil {
		return nil, err
	}
	f.addrs = unsafe.Slice((*uint64)(d), size)
	f.initProducer()
	return mem, nil
}

func mapCompletion(fd int, off unix.XDPRingOffset, size uint32, c *CompletionRing) ([]byte, error) {
	mem, d, err := mapRing(fd, unix.XDP_UMEM_PGOFF_COMPLETION_RING, off, size, 8, &c.ring)
	if err != nil {
		return nil, err
	}
	c.addrs = unsafe.Slice((*uint64)(d), size)
	c.initConsumer()
	return mem, nil
}

func mapRx(fd int, off unix.XDPRingOffset, size uint32, r *RxRing) ([]byte, error) {
	mem, d, err := mapRing(fd, unix.XDP_PGOFF_RX_RING, off, size, unsafe.Sizeof(Desc{}), &r.ring)
	if err != nil {
		return nil, err
	}
	r.descs = unsafe.Slice((*Desc)(d), size)
	r.initConsumer()
	return mem, nil
}

func mapTx(fd int, off unix.XDPRingOffset, size uint32, t *TxRing) ([]byte, error) {
	mem, d, err := mapRing(fd, unix.XDP_PGOFF_TX_RING, off, size, unsafe.Sizeof(Desc{}), &t.ring)
	if err != nil {
		return nil, err
	}
	t.descs = unsafe.Slice((*Desc)(d), size)
	t.initProducer()
	return mem, nil
}

// mmapOffsets asks the kernel where in each ring mapping the indices,
// flags and descriptors are (XDP_MMAP_OFFSETS, kernel >= 5.4 layout with
// the flags word).
func mmapOffsets(fd int) (unix.XDPMmapOffsets, error) {
	var off unix.XDPMmapOffsets
	sz := uint32(unsafe.Sizeof(off))
	err := getsockopt(fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), &sz)
	return off, err
}

func getsockopt(fd, opt int, p unsafe.Pointer, sz *uint32) error {
	if _, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt),
		uintptr(p), uintptr(unsafe.Pointer(sz)), 0); e != 0 {
		return e
	}
	return nil
}

func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0); e != 0 {
		return e
	}
	return nil
}

// registerUmem is XDP_UMEM_REG for area.
func registerUmem(fd int, area []byte, frameSize, headroom uint32) error {
	reg := unix.XDPUmemReg{
		Addr:     uint64(uintptr(unsafe.Pointer(&area[0]))),
		Len:      uint64(len(area)),
		Size:     frameSize,
		Headroom: headroom,
	}
	return setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg))
}

// xdpStatistics reads XDP_STATISTICS; older kernels fill only the first
// three counters, the rest stay zero.
func xdpStatistics(fd int) (unix.XDPStatistics, error) {
	var s unix.XDPStatistics
	sz := uint32(unsafe.Sizeof(s))
	err := getsockopt(fd, unix.XDP_STATISTICS, unsafe.Pointer(&s), &sz)
	return s, err
}

// xdpOptions reads XDP_OPTIONS (struct xdp_options { __u32 flags; }).
func xdpOptions(fd int) (uint32, error) {
	var flags uint32
	sz := uint32(4)
	err := getsockopt(fd, unix.XDP_OPTIONS, unsafe.Pointer(&flags), &sz)
	return flags, err
}
