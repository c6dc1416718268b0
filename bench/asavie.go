package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/asavie/xdp"
	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/testbed"
)

// asavieReflector drives github.com/asavie/xdp v0.3.3 the way its package
// documentation does (Fill, Poll, Receive, Transmit), with rings and UMEM
// the same size as the afxdp reflector's.
type asavieReflector struct {
	prog    *xdp.Program
	xsk     *xdp.Socket
	ifindex int
	host    *testbed.Host
}

func (a *asavieReflector) name() string { return "asavie/xdp" }

func (a *asavieReflector) open(h *testbed.Host) error {
	prog, err := attachRedirectAll(h)
	if err != nil {
		return err
	}
	opts := xdp.SocketOptions{NumFrames: reflectorFramesInUMEM, FrameSize: 2048,
		FillRingNumDescs: reflectorRing, CompletionRingNumDescs: reflectorRing,
		RxRingNumDescs: reflectorRing, TxRingNumDescs: reflectorRing}
	// The kernel releases a queue some milliseconds after the previous
	// socket on it closed (the afxdp run just before; seconds on a loaded
	// machine); asavie/xdp does not retry, so retry here, bounded (5 s).
	var xsk *xdp.Socket
	for try := 0; ; try++ {
		xsk, err = xdp.NewSocket(h.Ifindex, 0, &opts)
		if err == nil || try == 500 || !strings.Contains(err.Error(), "busy") {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		prog.Detach(h.Ifindex)
		prog.Close()
		return fmt.Errorf("asavie/xdp socket: %w", err)
	}
	if err := prog.Register(0, xsk.FD()); err != nil {
		xsk.Close()
		prog.Detach(h.Ifindex)
		prog.Close()
		return fmt.Errorf("asavie/xdp register: %w", err)
	}
	a.prog, a.xsk, a.ifindex = prog, xsk, h.Ifindex
	// Detach later needs the namespace: keep a host to re-enter it.
	a.host = h
	return nil
}

func (a *asavieReflector) loop(stop <-chan struct{}) (uint64, error) {
	var n uint64
	for {
		select {
		case <-stop:
			return n, nil
		default:
		}
		a.xsk.Fill(a.xsk.GetDescs(a.xsk.NumFreeFillSlots()))
		numRx, _, err := a.xsk.Poll(1)
		if err != nil {
			return n, err
		}
		rx := a.xsk.Receive(numRx)
		for _, d := range rx {
			reflect(a.xsk.GetFrame(d))
		}
		n += uint64(a.xsk.Transmit(rx))
	}
}

func (a *asavieReflector) close() error {
	var first error
	if a.xsk != nil {
		ino := socketInode(a.xsk.FD())
		first = a.xsk.Close()
		// asavie/xdp v0.3.3 closes the socket but leaves its four rings
		// mapped; a mapping holds the socket file, so the kernel never
		// releases the socket and its queue stays bound (EBUSY for every
		// later bind in this process). Unmap them here.
		if err := unmapSocket(ino); err != nil && first == nil {
			first = err
		}
	}
	if a.prog != nil {
		if err := detachRedirectAll(a.host, a.prog); err != nil && first == nil {
			first = err
		}
	}
	*a = asavieReflector{}
	return first
}

// attachRedirectAll attaches asavie/xdp's program (a translation of
// libbpf's default: every frame of a queue with a registered socket goes to
// it) in driver mode. Both reflectors use it, so they differ only in user
// space. Runs inside h's namespace.
func attachRedirectAll(h *testbed.Host) (*xdp.Program, error) {
	xdp.DefaultXdpFlags = unix.XDP_FLAGS_DRV_MODE
	prog, err := xdp.NewProgram(1)
	if err != nil {
		return nil, fmt.Errorf("asavie/xdp program: %w", err)
	}
	if err := prog.Attach(h.Ifindex); err != nil {
		prog.Close()
		return nil, fmt.Errorf("asavie/xdp attach: %w", err)
	}
	return prog, nil
}

func detachRedirectAll(h *testbed.Host, prog *xdp.Program) error {
	err := h.Do(func() error { return prog.Detach(h.Ifindex) })
	if cerr := prog.Close(); err == nil {
		err = cerr
	}
	return err
}

// Ring and UMEM sizes both reflectors use.
const (
	reflectorRing         = 2048
	reflectorFramesInUMEM = 4 * reflectorRing
)

// socketInode is the inode of fd's socket (the "socket:[N]" of its link).
func socketInode(fd int) uint64 {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0
	}
	return st.Ino
}

// unmapSocket removes this process's mappings of socket inode ino, as read
// from /proc/self/maps ("start-end perms offset dev inode path").
func unmapSocket(ino uint64) error {
	if ino == 0 {
		return nil
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return err
	}
	want := fmt.Sprintf("socket:[%d]", ino)
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != want {
			continue
		}
		var start, end uintptr
		if _, err := fmt.Sscanf(f[0], "%x-%x", &start, &end); err != nil {
			return fmt.Errorf("parse %q: %w", f[0], err)
		}
		if _, _, e := unix.Syscall(unix.SYS_MUNMAP, start, end-start, 0); e != 0 {
			return fmt.Errorf("munmap asavie/xdp ring: %w", e)
		}
	}
	return nil
}
