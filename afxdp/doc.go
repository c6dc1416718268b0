// Package afxdp moves Ethernet frames between a NIC queue and user space
// through AF_XDP sockets, on golang.org/x/sys/unix without cgo.
//
// # Pieces
//
//   - Umem: the packet buffer area (anonymous mmap, optionally huge
//     pages), FrameSize 2048 or 4096, FrameCount frames, Headroom. Frame i
//     starts at address i*FrameSize; Frame(addr, n) gives its bytes.
//   - FramePool: a free list of frame addresses in a slice sized once.
//     Owned by one goroutine; loops sharing a Umem take disjoint ranges
//     (Umem.NewPool(first, count)).
//   - Socket: one AF_XDP socket bound to (ifindex, queue), with its RX and
//     TX rings, and the fill and completion rings of its (device, queue).
//   - Rings: FillRing and TxRing are producer rings (Reserve, Set, Submit,
//     Cancel); RxRing and CompletionRing are consumer rings (Peek, Desc or
//     Addr, Release). Indices are uint32 and wrap; slot access masks them.
//     The other side's index is read with an atomic load (acquire), ours
//     published with an atomic store (release) once per batch, as libxdp's
//     xsk.h does; cached copies keep the shared cache lines quiet within a
//     batch. Nothing allocates per frame.
//
// # Decisions
//
//   - The socket that registers the Umem (XDP_UMEM_REG) is created by the
//     first NewSocket, not by NewUmem: an AF_XDP socket belongs to the
//     network namespace of the thread that creates it, and bind resolves
//     the ifindex there. Call NewSocket on a locked OS thread inside the
//     device's namespace (testbed's Host.Do does this).
//   - ModeAuto binds with neither XDP_ZEROCOPY nor XDP_COPY, so the kernel
//     tries zero-copy and falls back to copy in one bind; Mode() reports
//     the outcome (XDP_OPTIONS). ModeZeroCopy fails with ErrNoXDPMode on
//     devices without it (veth: copy mode only).
//   - Later sockets on a Umem bind with XDP_SHARED_UMEM. On a new (device,
//     queue) they get fill and completion rings of their own (Linux >=
//     5.10); on a (device, queue) already in use they share that queue's
//     rings and buffer pool (the kernel requires the shared-with socket to
//     be on the same queue, so afxdp points it at a live one).
//   - need_wakeup is on by default: WakeupTx (sendto) and WakeupFill
//     (recvfrom) make a syscall only when the ring's XDP_RING_NEED_WAKEUP
//     flag is set. Copy mode keeps the TX flag set and sends at most a
//     budget of frames per sendto (XDP_MAX_TX_SKB_BUDGET, Linux >= 6.17:
//     the TX ring's size unless SocketConfig.TxBudget says otherwise, so
//     one kick sends a whole batch; 32 on older kernels): kick while
//     TxRing.Pending() is not zero.
//   - After Close, the kernel releases the queue asynchronously (XSKMAP
//     entries keep the socket alive; then an RCU grace period and a
//     workqueue free the buffer pool). A bind in that window gets EBUSY;
//     NewSocket retries a bounded ~1 s before reporting ErrBusy. Delete
//     the XSKMAP entry before closing to shorten the window.
//   - Errors are *Error values that name the operation, device and queue,
//     and match both a sentinel (ErrNotSupported, ErrPermission,
//     ErrQueueRange, ErrBusy, ErrNoXDPMode, ErrFrameTooSmall, ErrBadConfig,
//     ErrClosed = net.ErrClosed) and the errno with errors.Is.
//   - unsafe lives only in *_unsafe.go files (ring mappings, sockopts,
//     the ethtool ioctl).
//
// # A receive loop
//
//	u, _ := afxdp.NewUmem(afxdp.UmemConfig{FrameSize: 2048, FrameCount: 4096})
//	s, _ := afxdp.NewSocket(u, ifindex, queue, afxdp.SocketConfig{}) // in the netns
//	// store s.Fd() in the XDP program's XSKMAP at key queue
//	pool := u.NewPool(0, 4096)
//	fill, rx := s.Fill(), s.Rx()
//	idx, n := fill.Reserve(uint32(pool.Len()))
//	for i := range n { a, _ := pool.Get(); fill.Set(idx+i, a) }
//	fill.Submit(n)
//	for {
//		s.Poll(-1)
//		idx, n := rx.Peek(64)
//		for i := range n {
//			d := rx.Desc(idx + i)
//			frame := u.Frame(d.Addr, d.Len)
//			_ = frame // parse; then give u.FrameBase(d.Addr) back to fill
//		}
//		rx.Release(n)
//	}
//
// Reflector is a complete RX->TX loop (the reflector benchmark).
package afxdp
