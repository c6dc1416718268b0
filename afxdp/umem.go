package afxdp

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// UmemConfig shapes a UMEM. Zero fields take the defaults in brackets.
type UmemConfig struct {
	FrameSize      uint32 // bytes per frame, 2048 or 4096 [4096]
	FrameCount     uint32 // frames in the area [4096]
	Headroom       uint32 // bytes the kernel leaves free before received data [0]
	FillSize       uint32 // fill ring entries, power of two [2048]
	CompletionSize uint32 // completion ring entries, power of two [2048]
	HugePages      bool   // try MAP_HUGETLB; falls back to normal pages
}

func (c *UmemConfig) defaults() error {
	if c.FrameSize == 0 {
		c.FrameSize = 4096
	}
	if c.FrameCount == 0 {
		c.FrameCount = 4096
	}
	if c.FillSize == 0 {
		c.FillSize = 2048
	}
	if c.CompletionSize == 0 {
		c.CompletionSize = 2048
	}
	// Aligned mode: the kernel wants a power-of-two chunk between 2048
	// and the page size (xdp_umem_reg in net/xdp/xdp_umem.c).
	if c.FrameSize != 2048 && c.FrameSize != 4096 {
		return fmt.Errorf("%w: frame size %d (want 2048 or 4096)", ErrBadConfig, c.FrameSize)
	}
	if c.Headroom+unix.XDP_PACKET_HEADROOM+64 > c.FrameSize {
		return fmt.Errorf("%w: headroom %d leaves no room in a %d-byte frame", ErrBadConfig, c.Headroom, c.FrameSize)
	}
	if !pow2(c.FillSize) || !pow2(c.CompletionSize) {
		return fmt.Errorf("%w: ring sizes must be powers of two (fill %d, completion %d)", ErrBadConfig, c.FillSize, c.CompletionSize)
	}
	return nil
}

func pow2(n uint32) bool { return n != 0 && n&(n-1) == 0 }

// Umem is the packet buffer area shared by the kernel and user space,
// registered on an AF_XDP socket. The first Socket made on it uses that
// registering socket and its fill and completion rings; later ones bind
// with XDP_SHARED_UMEM.
type Umem struct {
	area     []byte
	cfg      UmemConfig
	huge     bool
	fd       int
	mu       sync.Mutex // guards the fields below (setup and close only)
	groups   []*queueRings
	sockets  []*Socket
	closed   bool
	closeErr error
}

// NewUmem maps the area. The AF_XDP socket that registers it
// (XDP_UMEM_REG) and its fill and completion rings are made by the first
// NewSocket, because a socket belongs to the network namespace of the
// thread that creates it and resolves the ifindex it binds to there.
func NewUmem(cfg UmemConfig) (u *Umem, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	u = &Umem{cfg: cfg, fd: -1}
	defer func() {
		if err != nil {
			u.Close()
			u = nil
		}
	}()
	n := int(cfg.FrameSize) * int(cfg.FrameCount)
	prot := unix.PROT_READ | unix.PROT_WRITE
	flags := unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_POPULATE
	if cfg.HugePages {
		const huge = 2 << 20
		hn := (n + huge - 1) &^ (huge - 1)
		if u.area, err = unix.Mmap(-1, 0, hn, prot, flags|unix.MAP_HUGETLB); err == nil {
			u.area, u.huge = u.area[:n], true
		}
	}
	if u.area == nil {
		if u.area, err = unix.Mmap(-1, 0, n, prot, flags); err != nil {
			return u, opError("mmap UMEM area", 0, 0, err)
		}
	}
	return u, nil
}

// queueRings are the fill and completion rings of one (device, queue):
// the kernel keeps one buffer pool per (device, queue) of a UMEM, and
// every socket bound there shares it. The mappings stay until the last
// socket using them (or, for the registering socket's, the UMEM) closes.
type queueRings struct {
	ifindex, queue int
	fd             int // a bound socket of this group: the sharing target
	fill           FillRing
	comp           CompletionRing
	mems           [][]byte
	users          int
	permanent      bool // the registering socket's group lives with the UMEM
}

// newQueueRings sizes and maps fill and completion rings on fd.
func newQueueRings(fd int, cfg UmemConfig, ifindex, queue int) (g *queueRings, err error) {
	g = &queueRings{ifindex: ifindex, queue: queue, fd: fd}
	defer func() {
		if err != nil {
			g.unmap()
			g = nil
		}
	}()
	off, err := setupUmemRings(fd, cfg, ifindex, queue)
	if err != nil {
		return g, err
	}
	m, err := mapFill(fd, off.Fr, cfg.FillSize, &g.fill)
	if err != nil {
		return g, opError("mmap fill ring", ifindex, queue, err)
	}
	g.mems = append(g.mems, m)
	if m, err = mapCompletion(fd, off.Cr, cfg.CompletionSize, &g.comp); err != nil {
		return g, opError("mmap completion ring", ifindex, queue, err)
	}
	g.mems = append(g.mems, m)
	return g, nil
}

func (g *queueRings) unmap() error {
	var first error
	for _, m := range g.mems {
		if err := unix.Munmap(m); err != nil && first == nil {
			first = err
		}
	}
	g.mems = nil
	g.fill, g.comp = FillRing{}, CompletionRing{}
	return first
}

// group returns u's rings for (ifindex, queue), or nil.
func (u *Umem) group(ifindex, queue int) *queueRings {
	for _, g := range u.groups {
		if g.ifindex == ifindex && g.queue == queue {
			return g
		}
	}
	return nil
}

// drop releases one user of g, unmapping it when it was the last.
func (u *Umem) drop(g *queueRings) error {
	g.users--
	if g.users > 0 || g.permanent {
		return nil
	}
	for i, o := range u.groups {
		if o == g {
			u.groups = append(u.groups[:i], u.groups[i+1:]...)
			break
		}
	}
	return g.unmap()
}

// register opens the registering socket in the calling thread's network
// namespace, registers the area, and makes the fill and completion rings
// of the (device, queue) it will be bound to. The caller holds u.mu.
func (u *Umem) register(ifindex, queue int) (g *queueRings, err error) {
	if u.fd, err = newXSKFd(); err != nil {
		return nil, err
	}
	if err := registerUmem(u.fd, u.area, u.cfg.FrameSize, u.cfg.Headroom); err != nil {
		u.unregister()
		return nil, opError("XDP_UMEM_REG", ifindex, queue, err)
	}
	if g, err = newQueueRings(u.fd, u.cfg, ifindex, queue); err != nil {
		u.unregister()
		return nil, err
	}
	g.permanent = true
	u.groups = append(u.groups, g)
	return g, nil
}

// unregister unmaps every ring group and closes the registering socket;
// the kernel frees the UMEM when the last socket using it is gone.
func (u *Umem) unregister() error {
	var first error
	for _, g := range u.groups {
		if err := g.unmap(); err != nil && first == nil {
			first = err
		}
	}
	u.groups = nil
	if u.fd >= 0 {
		if err := unix.Close(u.fd); err != nil && first == nil {
			first = err
		}
		u.fd = -1
	}
	return first
}

// newXSKFd opens an AF_XDP socket, mapping errors to what to do.
func newXSKFd() (int, error) {
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, opError("socket(AF_XDP)", 0, 0, err)
	}
	return fd, nil
}

// setupUmemRings sizes the fill and completion rings on fd and reads the
// ring offsets.
func setupUmemRings(fd int, cfg UmemConfig, ifindex, queue int) (unix.XDPMmapOffsets, error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_UMEM_FILL_RING, int(cfg.FillSize)); err != nil {
		return unix.XDPMmapOffsets{}, opError("XDP_UMEM_FILL_RING", ifindex, queue, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_UMEM_COMPLETION_RING, int(cfg.CompletionSize)); err != nil {
		return unix.XDPMmapOffsets{}, opError("XDP_UMEM_COMPLETION_RING", ifindex, queue, err)
	}
	off, err := mmapOffsets(fd)
	if err != nil {
		return off, opError("XDP_MMAP_OFFSETS", ifindex, queue, err)
	}
	return off, nil
}

// Config returns the configuration in effect (defaults filled in).
func (u *Umem) Config() UmemConfig { return u.cfg }

// HugePages reports whether the area is backed by huge pages.
func (u *Umem) HugePages() bool { return u.huge }

// FrameSize is the size of one frame; frame i starts at address i*FrameSize.
func (u *Umem) FrameSize() uint32 { return u.cfg.FrameSize }

// FrameCount is the number of frames in the area.
func (u *Umem) FrameCount() uint32 { return u.cfg.FrameCount }

// Frame returns the n bytes at UMEM address addr, or nil when they do not
// lie inside the area (a bogus descriptor must not crash the caller).
func (u *Umem) Frame(addr uint64, n uint32) []byte {
	end := addr + uint64(n)
	if end < addr || end > uint64(len(u.area)) {
		return nil
	}
	return u.area[addr:end:end]
}

// FrameBase rounds a descriptor address down to the start of its frame,
// the address to give back to the fill ring or a FramePool.
func (u *Umem) FrameBase(addr uint64) uint64 { return addr &^ uint64(u.cfg.FrameSize-1) }

// Close closes every socket on the UMEM, then the registering socket, and
// unmaps rings and area. It is idempotent.
func (u *Umem) Close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return u.closeErr
	}
	u.closed = true
	socks := append([]*Socket(nil), u.sockets...)
	u.mu.Unlock()
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for _, s := range socks {
		keep(s.Close())
	}
	keep(u.unregister())
	if u.area != nil {
		if u.huge {
			u.area = u.area[:cap(u.area)]
		}
		keep(unix.Munmap(u.area))
		u.area = nil
	}
	u.closeErr = first
	return first
}
