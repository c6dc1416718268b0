package afxdp

import (
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// Mode is how a socket moves frames between the driver and the UMEM.
type Mode int

const (
	// ModeAuto lets the kernel try zero-copy and fall back to copy.
	ModeAuto Mode = iota
	// ModeZeroCopy: the driver DMAs straight into the UMEM.
	ModeZeroCopy
	// ModeCopy: the kernel copies between skb/xdp_buff and the UMEM; works
	// on every device (veth included).
	ModeCopy
)

func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeZeroCopy:
		return "zero-copy"
	case ModeCopy:
		return "copy"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// SocketConfig shapes a Socket. Zero fields take the defaults in brackets.
type SocketConfig struct {
	RxSize uint32 // RX ring entries, power of two [2048]
	TxSize uint32 // TX ring entries, power of two [2048]
	// Mode is the bind mode. Only the first socket on a UMEM chooses it;
	// sockets sharing the UMEM inherit it (the kernel refuses mode flags
	// together with XDP_SHARED_UMEM).
	Mode Mode
	// NoNeedWakeup turns XDP_USE_NEED_WAKEUP off: the kernel then never
	// asks for wakeups, and WakeupTx/WakeupFill always make the syscall.
	NoNeedWakeup bool
	// TxBudget is how many frames one copy-mode sendto may send
	// (XDP_MAX_TX_SKB_BUDGET, Linux >= 6.17). 0: the TX ring's size
	// where the kernel takes it, so one wakeup sends a whole batch, and
	// the kernel's default of 32 where it does not; set, it must be
	// taken.
	TxBudget uint32
	// BusyPoll, when not 0, has the socket's syscalls (poll, recvfrom,
	// sendto) run the device queue's NAPI poll themselves for up to this
	// long (SO_BUSY_POLL, µs resolution) instead of waiting for the
	// interrupt or NAPI thread; PreferBusyPoll (SO_PREFER_BUSY_POLL) keeps
	// the interrupt path off while the application polls, and
	// BusyPollBudget (SO_BUSY_POLL_BUDGET) is the frames per NAPI poll
	// (the kernel's 8 when 0). Root only (CAP_NET_ADMIN).
	BusyPoll       time.Duration
	PreferBusyPoll bool
	BusyPollBudget int
}

// Socket is one AF_XDP socket bound to (ifindex, queue).
type Socket struct {
	fd         int
	ownFd      bool // false when fd is the UMEM's registering socket
	umem       *Umem
	ifindex    int
	queue      int
	mode       Mode
	needWakeup bool
	txBudget   uint32 // frames per copy-mode TX wakeup
	rx         RxRing
	tx         TxRing
	group      *queueRings // fill and completion rings of (ifindex, queue)
	mems       [][]byte    // RX and TX ring mappings, unmapped on Close
	pfd        []unix.PollFd
	txWakeups  uint64
	fillWakeup uint64
	busyPolls  uint64
	busyPoll   bool // SO_BUSY_POLL with SO_PREFER_BUSY_POLL: BusyPoll polls
	kicked     bool // a wakeup syscall since the last BusyPoll: it polled already
	closed     bool
}

// NewSocket opens an AF_XDP socket on u and binds it to queue of the
// device with ifindex. The socket belongs to the calling thread's network
// namespace and ifindex is resolved there: call it on a locked OS thread
// inside the device's namespace (runtime.LockOSThread + setns).
//
// The first socket on u binds with the requested mode (zero-copy first
// when ModeAuto); later sockets share u (XDP_SHARED_UMEM). A later socket
// on a (device, queue) not yet used with u gets fill and completion rings
// of its own (kernel >= 5.10); one on the same (device, queue) as an
// earlier socket shares that socket's fill and completion rings.
func NewSocket(u *Umem, ifindex, queue int, cfg SocketConfig) (s *Socket, err error) {
	if cfg.RxSize == 0 {
		cfg.RxSize = 2048
	}
	if cfg.TxSize == 0 {
		cfg.TxSize = 2048
	}
	if !pow2(cfg.RxSize) || !pow2(cfg.TxSize) {
		return nil, fmt.Errorf("%w: RX/TX ring sizes must be powers of two (%d, %d)", ErrBadConfig, cfg.RxSize, cfg.TxSize)
	}
	if queue < 0 {
		return nil, &Error{Op: "bind", Ifindex: ifindex, Queue: queue, Sentinel: ErrQueueRange}
	}
	if err := checkDevice(u, ifindex, queue); err != nil {
		return nil, err
	}

	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, &Error{Op: "new socket", Ifindex: ifindex, Queue: queue, Sentinel: ErrClosed}
	}
	sock := &Socket{fd: -1, umem: u, ifindex: ifindex, queue: queue, needWakeup: !cfg.NoNeedWakeup}
	s = sock
	first := u.fd < 0
	defer func() {
		if err != nil {
			sock.release()
			s = nil
			if first {
				u.unregister() // a failed first bind leaves the UMEM unregistered
			}
		}
	}()
	// The socket to share with: the registering one, or, on a (device,
	// queue) already in use, one bound there, so the kernel shares that
	// queue's buffer pool instead of asking for new fill/completion rings.
	shareFd := u.fd
	if first {
		if s.group, err = u.register(ifindex, queue); err != nil {
			return nil, err
		}
		s.fd = u.fd
	} else {
		if s.fd, err = newXSKFd(); err != nil {
			return s, err
		}
		s.ownFd = true
		if g := u.group(ifindex, queue); g != nil {
			s.group, shareFd = g, g.fd
		} else if s.group, err = newQueueRings(s.fd, u.cfg, ifindex, queue); err != nil {
			return s, err
		} else {
			u.groups = append(u.groups, s.group)
		}
	}
	s.group.users++
	var off unix.XDPMmapOffsets
	if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_RX_RING, int(cfg.RxSize)); err != nil {
		return s, opError("XDP_RX_RING", ifindex, queue, err)
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_TX_RING, int(cfg.TxSize)); err != nil {
		return s, opError("XDP_TX_RING", ifindex, queue, err)
	}
	if cfg.TxBudget != 0 {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, int(cfg.TxBudget)); err != nil {
			return s, opError(fmt.Sprintf("XDP_MAX_TX_SKB_BUDGET %d (needs Linux >= 6.17; leave TxBudget 0)", cfg.TxBudget), ifindex, queue, err)
		}
		s.txBudget = cfg.TxBudget
	} else {
		// One kick per batch: a copy-mode sendto otherwise sends 32
		// frames and the loop kicks again for the rest of a burst (a
		// syscall per 32 frames). Older kernels refuse the option and
		// keep 32.
		s.txBudget = 32
		if unix.SetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, int(cfg.TxSize)) == nil {
			s.txBudget = cfg.TxSize
		}
	}
	setTxMemory(s.fd, cfg.TxSize)
	if op, err := setBusyPoll(s.fd, cfg); err != nil {
		return s, opError(op, ifindex, queue, err)
	}
	if off, err = mmapOffsets(s.fd); err != nil {
		return s, opError("XDP_MMAP_OFFSETS", ifindex, queue, err)
	}
	m, err := mapRx(s.fd, off.Rx, cfg.RxSize, &s.rx)
	if err != nil {
		return s, opError("mmap RX ring", ifindex, queue, err)
	}
	s.mems = append(s.mems, m)
	if m, err = mapTx(s.fd, off.Tx, cfg.TxSize, &s.tx); err != nil {
		return s, opError("mmap TX ring", ifindex, queue, err)
	}
	s.mems = append(s.mems, m)

	if first {
		err = s.bindFirst(cfg)
	} else {
		err = unix.Bind(s.fd, &unix.SockaddrXDP{Flags: unix.XDP_SHARED_UMEM,
			Ifindex: uint32(ifindex), QueueID: uint32(queue), SharedUmemFD: uint32(shareFd)})
		if err != nil {
			err = opError("bind (XDP_SHARED_UMEM)", ifindex, queue, err)
		}
	}
	if err != nil {
		return s, err
	}
	opts, err := xdpOptions(s.fd)
	if err != nil {
		return s, opError("XDP_OPTIONS", ifindex, queue, err)
	}
	s.mode = ModeCopy
	if opts&unix.XDP_OPTIONS_ZEROCOPY != 0 {
		s.mode = ModeZeroCopy
	}
	if cfg.BusyPoll > 0 && cfg.PreferBusyPoll {
		// The kernel names the NAPI instance to busy-poll at bind, and
		// only for zero-copy (xsk_bind in net/xdp/xsk.c, 6.18: the
		// rx queue's napi); a copy-mode socket (veth) has none, and
		// its recvfrom would poll nothing.
		id, err := s.NAPIID()
		if err != nil {
			return s, err
		}
		s.busyPoll = id != 0
	}
	s.pfd = []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	u.sockets = append(u.sockets, s)
	return s, nil
}

// bindFirst binds the UMEM's registering socket. ModeAuto binds with
// neither XDP_ZEROCOPY nor XDP_COPY: the kernel then tries zero-copy and
// falls back to copy inside one bind (xp_assign_dev in
// net/xdp/xsk_buff_pool.c), which is atomic, unlike a failed forced
// zero-copy bind followed by a second bind on the same socket. Mode()
// reports the outcome from XDP_OPTIONS.
func (s *Socket) bindFirst(cfg SocketConfig) error {
	var flags uint16
	if s.needWakeup {
		flags = unix.XDP_USE_NEED_WAKEUP
	}
	op := "bind"
	switch cfg.Mode {
	case ModeZeroCopy:
		flags |= unix.XDP_ZEROCOPY
		op = "bind (XDP_ZEROCOPY)"
	case ModeCopy:
		flags |= unix.XDP_COPY
		op = "bind (XDP_COPY)"
	}
	sa := unix.SockaddrXDP{Flags: flags, Ifindex: uint32(s.ifindex), QueueID: uint32(s.queue)}
	err := unix.Bind(s.fd, &sa)
	// A queue whose last socket was just closed stays claimed until the
	// kernel's deferred pool release runs (xp_put_pool schedules
	// xp_release_deferred), so EBUSY right after a Close is usually
	// transient: retry for a bounded ~1 s before reporting it (the
	// workqueue runs late on a loaded machine: 200 ms was seen to fall
	// short in CI).
	for try := 0; err == unix.EBUSY && try < 200; try++ {
		time.Sleep(5 * time.Millisecond)
		err = unix.Bind(s.fd, &sa)
	}
	if err == nil {
		return nil
	}
	e := opError(op, s.ifindex, s.queue, err).(*Error)
	if cfg.Mode == ModeZeroCopy && errors.Is(err, unix.EINVAL) {
		// EINVAL from a forced zero-copy bind on a valid queue: the
		// driver's pool setup refused it.
		e.Sentinel = ErrNoXDPMode
	}
	return e
}

// checkDevice verifies that the queue exists and that a full-MTU frame
// fits in one UMEM frame, before the kernel gives a vaguer EINVAL.
func checkDevice(u *Umem, ifindex, queue int) error {
	ifc, err := net.InterfaceByIndex(ifindex)
	if err != nil {
		return &Error{Op: "look up device", Ifindex: ifindex, Queue: queue, Err: err}
	}
	// Received data starts after XDP_PACKET_HEADROOM and the UMEM
	// headroom; an MTU-sized IP packet plus its Ethernet header (and one
	// VLAN tag) must fit after that.
	room := int(u.cfg.FrameSize) - unix.XDP_PACKET_HEADROOM - int(u.cfg.Headroom)
	if need := ifc.MTU + 14 + 4; need > room {
		return &Error{Op: fmt.Sprintf("MTU check (%s MTU %d needs %d bytes, frame has %d)", ifc.Name, ifc.MTU, need, room),
			Ifindex: ifindex, Queue: queue, Sentinel: ErrFrameTooSmall}
	}
	// A device that reports no queue count (no ETHTOOL_GCHANNELS, and a
	// /sys mounted for another namespace) is left to the kernel, which
	// refuses a bad queue id with EINVAL.
	if n, err := QueueCount(ifc.Name); err == nil && queue >= n {
		return &Error{Op: fmt.Sprintf("bind (%s has %d queues)", ifc.Name, n), Ifindex: ifindex, Queue: queue, Sentinel: ErrQueueRange}
	}
	return nil
}

// Fd is the socket's file descriptor, the value to store in an XSKMAP.
func (s *Socket) Fd() int { return s.fd }

// TxBudget is how many frames one copy-mode TX wakeup may send
// (SocketConfig.TxBudget).
func (s *Socket) TxBudget() uint32 { return s.txBudget }

// Mode reports the mode the kernel bound the socket in (XDP_OPTIONS).
func (s *Socket) Mode() Mode { return s.mode }

// Ifindex and Queue report what the socket is bound to.
func (s *Socket) Ifindex() int { return s.ifindex }

// Queue is the device queue the socket is bound to.
func (s *Socket) Queue() int { return s.queue }

// Umem is the UMEM the socket uses.
func (s *Socket) Umem() *Umem { return s.umem }

// Rx is the ring of received frames.
func (s *Socket) Rx() *RxRing { return &s.rx }

// Tx is the ring of frames to send.
func (s *Socket) Tx() *TxRing { return &s.tx }

// Fill is the fill ring of the socket's (device, queue). Sockets sharing
// one (device, queue) share it, and must agree on who produces into it.
func (s *Socket) Fill() *FillRing { return &s.group.fill }

// Completion is the completion ring of the socket's (device, queue).
func (s *Socket) Completion() *CompletionRing { return &s.group.comp }

// WakeupTx kicks the kernel to send what the TX ring holds, only when it
// asked for it (XDP_RING_NEED_WAKEUP) or need_wakeup is off. Transient
// conditions (EAGAIN, ENOBUFS, EBUSY, ENETDOWN) are not errors: the
// frames stay in the ring for the next kick.
func (s *Socket) WakeupTx() error {
	if s.fd < 0 {
		return &Error{Op: "TX wakeup", Ifindex: s.ifindex, Queue: s.queue, Sentinel: ErrClosed}
	}
	if s.needWakeup && !s.tx.NeedWakeup() {
		return nil
	}
	s.txWakeups++
	s.kicked = true
	// A raw system call: sendto with MSG_DONTWAIT never blocks, but in
	// copy mode it transmits up to 32 frames (tens of microseconds on
	// veth). Through Syscall6 the runtime's sysmon sees the thread in a
	// system call past its 20 µs tick, hands the P to another thread
	// (a futex wake, a context switch on the loop's own core) and keeps
	// itself polling every 20 µs; the loop then takes its P back on
	// return.
	_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	switch e {
	case 0, unix.EAGAIN, unix.ENOBUFS, unix.EBUSY, unix.ENETDOWN:
		return nil
	}
	return opError("sendto (TX wakeup)", s.ifindex, s.queue, e)
}

// WakeupFill tells the kernel new fill ring entries are there, only when
// it asked for it (copy-mode drivers mostly never do; zero-copy drivers
// do when they ran out of buffers).
func (s *Socket) WakeupFill() error {
	if s.fd < 0 {
		return &Error{Op: "fill wakeup", Ifindex: s.ifindex, Queue: s.queue, Sentinel: ErrClosed}
	}
	if s.needWakeup && !s.group.fill.NeedWakeup() {
		return nil
	}
	s.fillWakeup++
	s.kicked = true
	_, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	switch e {
	case 0, unix.EAGAIN, unix.ENOBUFS, unix.EBUSY, unix.ENETDOWN:
		return nil
	}
	return opError("recvfrom (fill wakeup)", s.ifindex, s.queue, e)
}

// BusyPolling reports whether the socket busy-polls with preference
// (SocketConfig.BusyPoll and PreferBusyPoll, and a NAPI instance to
// poll, which the kernel names only for zero-copy binds): its queue's
// NAPI poll then runs in the application's recvfrom and sendto, and
// BusyPoll must be called whenever the application wants frames.
func (s *Socket) BusyPolling() bool { return s.busyPoll }

// BusyPoll runs the queue's NAPI poll once in this thread (a recvfrom
// with MSG_DONTWAIT: xsk_recvmsg calls sk_busy_loop without waiting),
// unless a wakeup syscall since the last call did it already (xsk_sendmsg
// and xsk_recvmsg both busy-poll first). It reports whether the RX ring
// holds frames. Without BusyPolling it makes no syscall: the interrupt
// or NAPI thread fills the ring.
func (s *Socket) BusyPoll() (rx bool, err error) {
	if s.fd < 0 {
		return false, &Error{Op: "busy poll", Ifindex: s.ifindex, Queue: s.queue, Sentinel: ErrClosed}
	}
	if s.busyPoll && !s.kicked {
		s.busyPolls++
		// Raw, as WakeupTx: the NAPI poll may run tens of µs.
		_, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0, unix.EAGAIN, unix.ENOBUFS, unix.EBUSY, unix.ENETDOWN:
		default:
			return false, opError("recvfrom (busy poll)", s.ifindex, s.queue, e)
		}
	}
	s.kicked = false
	return s.rx.producer.Load() != s.rx.cachedCons, nil
}

// NAPIID is the id of the NAPI instance the socket's syscalls busy-poll
// (SO_INCOMING_NAPI_ID). Linux 6.18 sets it at bind, for zero-copy binds
// to a driver that links its queues to NAPI instances; it is 0 in copy
// mode (veth), where busy polling does nothing (sk_busy_loop needs a
// valid id).
func (s *Socket) NAPIID() (uint32, error) {
	if s.fd < 0 {
		return 0, &Error{Op: "SO_INCOMING_NAPI_ID", Ifindex: s.ifindex, Queue: s.queue, Sentinel: ErrClosed}
	}
	id, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_INCOMING_NAPI_ID)
	if err != nil {
		return 0, opError("SO_INCOMING_NAPI_ID", s.ifindex, s.queue, err)
	}
	return uint32(id), nil
}

// Poll waits up to timeoutMs milliseconds (-1: forever) for frames on the
// RX ring; it also serves as the fill-ring wakeup. It allocates nothing.
func (s *Socket) Poll(timeoutMs int) (readable bool, err error) {
	if s.fd < 0 {
		return false, &Error{Op: "poll", Ifindex: s.ifindex, Queue: s.queue, Sentinel: ErrClosed}
	}
	for {
		n, err := unix.Poll(s.pfd, timeoutMs)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, opError("poll", s.ifindex, s.queue, err)
		}
		return n > 0 && s.pfd[0].Revents&unix.POLLIN != 0, nil
	}
}

// Close unmaps the socket's rings and closes it. The UMEM's registering
// socket stays open (and bound) until the UMEM is closed. Idempotent.
// Stop the loop using the rings first: they are unmapped here. The kernel
// frees the queue a little later (about 20 ms on veth here), so a
// different AF_XDP user binding it at once may see EBUSY.
func (s *Socket) Close() error {
	u := s.umem
	u.mu.Lock()
	defer u.mu.Unlock()
	if s.closed {
		return nil
	}
	for i, o := range u.sockets {
		if o == s {
			u.sockets = append(u.sockets[:i], u.sockets[i+1:]...)
			break
		}
	}
	return s.release()
}

// release unmaps and closes what s made; the caller holds u.mu.
func (s *Socket) release() error {
	s.closed = true
	var first error
	for _, m := range s.mems {
		if err := unix.Munmap(m); err != nil && first == nil {
			first = err
		}
	}
	s.mems = nil
	if s.ownFd && s.fd >= 0 {
		if err := unix.Close(s.fd); err != nil && first == nil {
			first = err
		}
	}
	if g := s.group; g != nil && g.users > 0 {
		if g.fd == s.fd && !g.permanent {
			// Later sockets on this queue must share with a live one.
			for _, o := range s.umem.sockets {
				if o != s && o.group == g && !o.closed {
					g.fd = o.fd
					break
				}
			}
		}
		if err := s.umem.drop(g); err != nil && first == nil {
			first = err
		}
	}
	s.fd = -1
	s.rx, s.tx = RxRing{}, TxRing{}
	return first
}

// setBusyPoll applies SocketConfig's busy-poll options (socket(7)); on
// failure it names the option.
func setBusyPoll(fd int, cfg SocketConfig) (op string, err error) {
	if cfg.BusyPoll > 0 {
		us := max(1, int(cfg.BusyPoll/time.Microsecond))
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BUSY_POLL, us); err != nil {
			return fmt.Sprintf("SO_BUSY_POLL %d", us), err
		}
	}
	if cfg.PreferBusyPoll {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PREFER_BUSY_POLL, 1); err != nil {
			return "SO_PREFER_BUSY_POLL", err
		}
	}
	if cfg.BusyPollBudget > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BUSY_POLL_BUDGET, cfg.BusyPollBudget); err != nil {
			return fmt.Sprintf("SO_BUSY_POLL_BUDGET %d", cfg.BusyPollBudget), err
		}
	}
	return "", nil
}

// setTxMemory lets the socket's copy-mode transmit hold an skb for every
// TX ring entry. Each frame a copy-mode sendto sends is an skb charged to
// the socket's send buffer until the receiver orphans it (on veth, in
// the peer's IP receive, on the peer's core), and sock_alloc_send_skb
// refuses one past SO_SNDBUF: the default (wmem_default, 208 KiB) holds
// about 80 MTU-sized skbs, so a 256-frame burst ended in EAGAIN wherever
// the peer lagged and the loop kicked again for the rest: a 1 MiB bulk
// stream made 9-35 sendto calls per MiB, 3.5-5 with this buffer. The rings
// already bound what is in flight (the completion ring is reserved per
// frame, Documentation/networking/af_xdp.rst), so the buffer is sized to
// them: 4 KiB per TX entry covers an skb's truesize for any frame size.
// SO_SNDBUFFORCE needs CAP_NET_ADMIN, which binding an AF_XDP socket on
// most systems comes with; without it SO_SNDBUF takes what wmem_max
// allows. Neither failing is an error: the default still works.
func setTxMemory(fd int, txSize uint32) {
	n := int(min(uint64(txSize)*4096, 1<<30) / 2) // the kernel doubles it
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, n) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, n)
	}
}
