package main

// The kernel generator's receive path (-gen-poll). On the napi rig every
// frame the server sends to an idle peer end wakes that end's NAPI
// thread, which runs SCHED_FIFO on the generator's core and preempts the
// generator: two context switches per wake-up, and on this guest a
// switch costs more than the kernel TCP receive it does (perf of the
// generator's core, keep-alive against sluice-raw: the NAPI thread 35% of
// the core, 27 points of it in finish_task_switch). In the keepalive
// workload the generator therefore polls its device itself: epoll busy
// polling with prefer_busy_poll (loadgen.BusyPoll) and, on the peer end's
// NAPI instance, defer-hard-irqs, gro-flush-timeout and
// irq-suspend-timeout (Documentation/networking/napi.rst, "IRQ
// suspension"). While the generator keeps finding connections ready the
// NAPI thread stays asleep and the client's TCP receive runs in the
// generator's thread; when it finds none it polls for the busy-poll time,
// then the thread takes over again. It is the client's side, the same for
// every server; the peer's settings are put back after each run. With
// -gen-uring the generator also submits each batch's receives, and the
// requests they let go out, with one io_uring_enter each
// (loadgen.Config.URing) instead of a system call per connection. Other
// workloads run the plain generator (workloads.go, genPolled).

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicenet/sluice/afxdp"
	"github.com/sluicenet/sluice/bench/loadgen"
	"github.com/sluicenet/sluice/testbed"
)

// genPoll is the generator's receive setting for closed-loop runs.
type genPoll struct {
	off       bool
	deferIRQs uint32        // defer-hard-irqs of the peer's NAPI
	flush     time.Duration // its gro-flush-timeout
	suspend   time.Duration // its irq-suspend-timeout (0: none)
	busy      time.Duration // epoll busy_poll_usecs
}

// genPollDefault is -gen-poll's default.
var genPollDefault = genPoll{deferIRQs: 2, flush: 200 * time.Microsecond, suspend: 20 * time.Millisecond, busy: 10 * time.Microsecond}

func (g genPoll) String() string {
	if g.off {
		return "off"
	}
	return fmt.Sprintf("%d,%v,%v,%v", g.deferIRQs, g.flush, g.suspend, g.busy)
}

// Set parses "off" or "defer,flush,suspend,busy" (flag.Value).
func (g *genPoll) Set(s string) error {
	if s == "off" {
		*g = genPoll{off: true}
		return nil
	}
	f := strings.Split(s, ",")
	if len(f) != 4 {
		return fmt.Errorf("%q: want off or defer,flush,suspend,busy (e.g. %v)", s, genPollDefault)
	}
	n, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return err
	}
	v := genPoll{deferIRQs: uint32(n)}
	for i, d := range []*time.Duration{&v.flush, &v.suspend, &v.busy} {
		if *d, err = time.ParseDuration(f[i+1]); err != nil {
			return err
		}
	}
	if v.busy <= 0 {
		return fmt.Errorf("%q: busy-poll time must be > 0 (or -gen-poll off)", s)
	}
	*g = v
	return nil
}

// busyPoll is the generator's epoll setting.
func (g genPoll) busyPoll() loadgen.BusyPoll {
	if g.off {
		return loadgen.BusyPoll{}
	}
	return loadgen.BusyPoll{Timeout: g.busy, Budget: 64, Prefer: true}
}

// genPollUnavailable says once why the kernel generator runs plain.
var genPollUnavailable = sync.OnceValue(func() error {
	if err := loadgen.ProbeBusyPoll(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: -gen-poll: %v; the kernel generator runs without it\n", err)
		return err
	}
	return nil
})

// genURingUnavailable says once why the generator submits a system call
// per connection.
var genURingUnavailable = sync.OnceValue(func() error {
	if err := loadgen.ProbeURing(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: -gen-uring: %v; the kernel generator runs without it\n", err)
		return err
	}
	return nil
})

var genPollNoNAPISet sync.Once

// applyGenPoll sets g on the peer end of bed for a run with lc and returns
// lc with the generator's part and a function that puts the peer's
// settings back. Only closed-loop keep-alive runs on the napi rig get it.
func applyGenPoll(c config, bed *testbed.Bed, srv *serverProc, lc loadgen.Config) (loadgen.Config, func(), error) {
	g := c.genPoll
	if g.off || !c.genPollHere || lc.Mode != loadgen.KeepAlive || srv.napi == nil || len(srv.napi.peer) == 0 || genPollUnavailable() != nil {
		return lc, func() {}, nil
	}
	st, err := saveNAPI(bed.Peer)
	if err != nil {
		return lc, nil, fmt.Errorf("-gen-poll: peer NAPI: %w", err)
	}
	// What saveNAPI read, irq-suspend-timeout included, is what goes
	// back, whatever of g was set.
	undo := func() {
		if err := st.restore(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: -gen-poll: restoring the peer's NAPI settings: %v\n", err)
		}
	}
	err = setGenPoll(st, g)
	if errors.Is(err, afxdp.ErrNoNAPISet) {
		// Linux < 6.13: the generator runs plain, as without
		// EPIOCSPARAMS.
		undo()
		genPollNoNAPISet.Do(func() {
			fmt.Fprintf(os.Stderr, "bench: -gen-poll: %v; the kernel generator runs without it\n", err)
		})
		return lc, func() {}, nil
	}
	if err != nil {
		undo()
		return lc, nil, fmt.Errorf("-gen-poll: peer NAPI: %w", err)
	}
	lc.BusyPoll = g.busyPoll()
	lc.URing = c.genURing && genURingUnavailable() == nil
	return lc, undo, nil
}

// setGenPoll gives every NAPI instance st saved g's defer-hard-irqs,
// gro-flush-timeout and, if g has one, irq-suspend-timeout (a kernel
// that lists none has no IRQ suspension: ErrNoNAPISet, as without
// napi-set).
func setGenPoll(st *napiState, g genPoll) error {
	set := afxdp.NAPI{DeferHardIRQs: g.deferIRQs, GROFlushTimeout: g.flush,
		IRQSuspendTimeout: g.suspend, HasIRQSuspendTimeout: g.suspend > 0}
	for _, n := range st.saved {
		if set.HasIRQSuspendTimeout && !n.HasIRQSuspendTimeout {
			return fmt.Errorf("%w: napi %d lists no irq-suspend-timeout", afxdp.ErrNoNAPISet, n.ID)
		}
	}
	return st.h.Do(func() error {
		for _, n := range st.saved {
			set.ID = n.ID
			if err := afxdp.SetNAPI(set); err != nil {
				return err
			}
		}
		return nil
	})
}
