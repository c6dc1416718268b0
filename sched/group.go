package sched

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/afxdp"
	"github.com/sluicenet/sluice/bpf"
	"github.com/sluicenet/sluice/tcp/chunk"
)

// GroupConfig describes a set of loops serving one device.
type GroupConfig struct {
	// Ifindex is the device, as seen from where Setup runs.
	Ifindex int
	// Queues is the number of loops, one per NIC queue 0..Queues-1
	// [afxdp.QueueCount of the device is not consulted: 1].
	Queues int
	// Cores pins loop i to Cores[i % len(Cores)]; nil pins loop i to CPU
	// i % runtime.NumCPU(); a single -1 disables pinning.
	Cores []int
	// Listen are the addresses the loops accept connections on; they go
	// in the XDP program's listen map and every loop's listeners. Empty:
	// a client group, which only dials (Group.Dial).
	Listen []netip.AddrPort
	// Handler gets every loop's callbacks (concurrently from different
	// loops; one at a time per loop).
	Handler Handler
	// Loop configures each loop (Core is set from Cores).
	Loop LoopConfig
	// XDPMode forces the XDP attach mode (zero: driver, then generic).
	XDPMode bpf.Mode
	// XDPDispatcher attaches the steering program as a component of a
	// libxdp multi-program dispatcher, beside other XDP programs on the
	// device (bpf.Options.Dispatcher); XDPRunPriority is its place among
	// them (bpf.Options.RunPriority; 0: the compiled-in 50).
	XDPDispatcher  bool
	XDPRunPriority int
	// Setup runs fn where the device lives: XDP attach and AF_XDP socket
	// creation resolve the ifindex in the calling thread's network
	// namespace (e.g. testbed's Host.Do). Nil runs fn directly.
	Setup func(fn func() error) error
}

// Group is a running set of loops on one device with the steering program
// attached.
type Group struct {
	prog  *bpf.Program
	loops []*Loop
	umems []*afxdp.Umem
	socks []*afxdp.Socket
	errs  []error
	wg    sync.WaitGroup
	once  sync.Once
	cerr  error
	tap   atomic.Pointer[tapRef]

	setup   func(fn func() error) error
	ifindex int
	ifname  string        // the device's name where it lives (Dial's route check)
	budget  *chunk.Budget // the loops' buffer memory budget (tcp.Config.Budget)
	next    atomic.Uint32 // Dial's round-robin
}

// Start attaches the XDP program to the device, opens one UMEM and AF_XDP
// socket per queue, registers them and the listen addresses with the
// program, and starts one loop per queue on its own pinned thread.
func Start(cfg GroupConfig) (*Group, error) {
	if cfg.Handler == nil {
		return nil, errors.New("sched: GroupConfig.Handler is nil")
	}
	if cfg.Queues <= 0 {
		cfg.Queues = 1
	}
	if err := checkCores(cfg.Cores); err != nil {
		return nil, err
	}
	if cfg.Loop.TCP == nil {
		// One set of keys for the group: a handshake's ACK that reaches
		// another loop than its SYN (the flow moved queues) still
		// validates its SYN cookie there.
		c, err := DefaultTCPConfig()
		if err != nil {
			return nil, err
		}
		cfg.Loop.TCP = c
	}
	setup := cfg.Setup
	if setup == nil {
		setup = func(fn func() error) error { return fn() }
	}
	g := &Group{errs: make([]error, cfg.Queues), setup: setup, ifindex: cfg.Ifindex, budget: cfg.Loop.TCP.Budget}
	err := setup(func() error {
		ifc, err := net.InterfaceByIndex(cfg.Ifindex)
		if err != nil {
			return fmt.Errorf("sched: device %d: %w", cfg.Ifindex, err)
		}
		g.ifname = ifc.Name
		if g.prog, err = bpf.Load(bpf.Options{
			Ifindex: cfg.Ifindex, Mode: cfg.XDPMode,
			Dispatcher: cfg.XDPDispatcher, RunPriority: cfg.XDPRunPriority,
		}); err != nil {
			return err
		}
		for q := range cfg.Queues {
			lc := cfg.Loop
			if err := lc.defaults(); err != nil {
				return err
			}
			u, err := afxdp.NewUmem(lc.Umem)
			if err != nil {
				return fmt.Errorf("sched: queue %d: %w", q, err)
			}
			g.umems = append(g.umems, u)
			s, err := afxdp.NewSocket(u, cfg.Ifindex, q, lc.Socket)
			if err != nil {
				return fmt.Errorf("sched: queue %d: %w", q, err)
			}
			g.socks = append(g.socks, s)
			lc.Core = pickCore(cfg.Cores, q)
			l, err := NewLoop(lc, cfg.Handler, q, u, s)
			if err != nil {
				return err
			}
			for _, ap := range cfg.Listen {
				l.Listen(ap)
			}
			g.loops = append(g.loops, l)
			if err := g.prog.SetSocket(q, s.Fd()); err != nil {
				return err
			}
		}
		for _, ap := range cfg.Listen {
			if err := g.prog.AddListen(ap); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		g.release()
		return nil, err
	}
	for i, l := range g.loops {
		l.peers, l.index = g.loops, i
		l.tapp = &g.tap
		l.prog = g.prog
	}
	for i, l := range g.loops {
		l.launched.Store(true)
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.errs[i] = l.Run()
		}()
	}
	return g, nil
}

// checkCores fails fast on a core the process may not run on, rather than
// letting a loop's thread fail to pin after the device is set up.
func checkCores(cores []int) error {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return fmt.Errorf("sched: reading the CPU affinity: %w", err)
	}
	for _, c := range cores {
		if c == -1 && len(cores) == 1 {
			return nil
		}
		if c < 0 || c >= 1024 || !allowed.IsSet(c) {
			return fmt.Errorf("sched: GroupConfig.Cores names CPU %d, which this process may not run on (allowed: %d CPUs); use online CPUs from the process's affinity mask, or []int{-1} to leave loops unpinned", c, allowed.Count())
		}
	}
	return nil
}

func pickCore(cores []int, q int) int {
	if len(cores) == 0 {
		return q % runtime.NumCPU()
	}
	return cores[q%len(cores)]
}

// Loops returns the group's loops, by queue.
func (g *Group) Loops() []*Loop { return g.loops }

// Program is the attached steering program.
func (g *Group) Program() *bpf.Program { return g.prog }

// GroupStats is a snapshot of every loop, the XDP program's counters and
// the buffer memory budget the loops share.
type GroupStats struct {
	Loops  []Stats
	XDP    bpf.Counters
	XDPErr error
	// Budget is the server-wide buffer memory budget's levels, use and
	// counters (tcp.Config.Budget; zero when there is none).
	Budget chunk.BudgetStats
}

// PartialChecksums sums the loops' Stats.PartialChecksums.
func (gs *GroupStats) PartialChecksums() uint64 {
	var n uint64
	for i := range gs.Loops {
		n += gs.Loops[i].PartialChecksums
	}
	return n
}

// Stats snapshots every loop (see Loop.Stats) and the program counters.
func (g *Group) Stats() (GroupStats, error) { return g.stats(true) }

// Counters is Stats with each loop's Counters: no walk over the
// connections.
func (g *Group) Counters() (GroupStats, error) { return g.stats(false) }

func (g *Group) stats(walk bool) (GroupStats, error) {
	var gs GroupStats
	for _, l := range g.loops {
		s, err := l.stats(5*time.Second, walk)
		if err != nil {
			return gs, err
		}
		gs.Loops = append(gs.Loops, s)
	}
	gs.XDP, gs.XDPErr = g.prog.Counters()
	gs.Budget = g.budget.Stats()
	return gs, nil
}

// Close detaches the program (no more frames are steered to the loops),
// stops the loops (each aborts its connections), waits for their threads,
// and closes the sockets and UMEMs. It returns the first error a loop
// stopped with. Idempotent.
func (g *Group) Close() error {
	g.once.Do(func() {
		var first error
		keep := func(err error) {
			if err != nil && first == nil {
				first = err
			}
		}
		for _, l := range g.loops {
			l.Stop()
		}
		g.wg.Wait()
		for _, e := range g.errs {
			keep(e)
		}
		keep(g.release())
		g.cerr = first
	})
	return g.cerr
}

// release closes what Start made, in reverse order.
func (g *Group) release() error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if g.prog != nil {
		keep(g.prog.Close())
	}
	for _, l := range g.loops {
		if !l.running.Load() {
			l.post.Close()
		}
	}
	for _, s := range g.socks {
		keep(s.Close())
	}
	for _, u := range g.umems {
		keep(u.Close())
	}
	return first
}
