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
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
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
	undo := func() {
		err := st.restore()
		if g.suspend > 0 {
			err = errors.Join(err, suspendNAPI(st, 0))
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: -gen-poll: restoring the peer's NAPI settings: %v\n", err)
		}
	}
	err = st.set(napiDeferConfig{deferIRQs: int(g.deferIRQs), flush: g.flush})
	if err == nil && g.suspend > 0 {
		err = suspendNAPI(st, g.suspend)
	}
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

// suspendNAPI sets irq-suspend-timeout (netdev napi-set, Linux 6.13) on
// every NAPI instance st saved. afxdp.SetNAPI sets the deferral only.
func suspendNAPI(st *napiState, d time.Duration) error {
	const napiSet, attrID, attrIRQSuspendTimeout = 14, 2, 7 // include/uapi/linux/netdev.h
	return st.h.Do(func() error {
		f, err := netlink.GenlFamilyGet("netdev")
		if err != nil {
			return fmt.Errorf("%w: %v", afxdp.ErrNoNAPISet, err)
		}
		for _, n := range st.saved {
			req := nl.NewNetlinkRequest(int(f.ID), unix.NLM_F_ACK)
			req.AddData(genlHeader(napiSet))
			req.AddData(nl.NewRtAttr(attrID, nl.Uint32Attr(n.ID)))
			req.AddData(nl.NewRtAttr(attrIRQSuspendTimeout, nl.Uint64Attr(uint64(d.Nanoseconds()))))
			if _, err := req.Execute(unix.NETLINK_GENERIC, 0); err != nil {
				return fmt.Errorf("napi %d irq-suspend-timeout %v: %w", n.ID, d, err)
			}
		}
		return nil
	})
}

// genlHeader is a genlmsghdr for cmd with its reserved octets zero
// (nl.Genlmsg serializes whatever follows its 2-octet struct; the kernel
// refuses a non-zero reserved field).
type genlHeader uint8

func (h genlHeader) Len() int          { return nl.SizeofGenlmsg }
func (h genlHeader) Serialize() []byte { return []byte{byte(h), 1, 0, 0} }
