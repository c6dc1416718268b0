package main

// Running the load generator against a server child and measuring both.

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sluicenet/sluice/bench/loadgen"
	"github.com/sluicenet/sluice/testbed"
	"golang.org/x/sys/unix"
)

// sample is what one measured run of one server yields.
type sample struct {
	res       *loadgen.Result
	serverCPU time.Duration // server process (+ NAPI thread) utime+stime over the window
	mallocs   uint64        // server's Go heap allocations over the measured window
	// The server's RSS and child stats at the window's edges.
	rss0, rss1 int64
	st0, st1   childStats
	// serverWait is how long the server's threads waited for a CPU over
	// the window; diag the server's own counters after a window that
	// completed no request (stall.go).
	serverWait time.Duration
	diag       string
	// serverSpan is the time between the readings at the window's
	// edges: the window, unless this process was kept off its CPU and
	// read an edge late. The server's figures are over it.
	serverSpan time.Duration
	// othersServer and othersClient are the CPU time processes other
	// than the server (and its NAPI thread) and the generator (and its
	// NAPI thread) used on the server's and the generator's cores over
	// the window (corebusy.go); 0 where /proc/stat could not be read.
	othersServer, othersClient time.Duration
	// peerNAPI is the CPU time the generator side's NAPI threads used
	// over the window (the client's kernel TCP receive when the
	// generator does not poll it itself, genpoll.go).
	peerNAPI time.Duration
}

// genPerOp is the generator core's CPU time per completed request: the
// generator thread's and its side's NAPI threads', in ns.
func (s sample) genPerOp() float64 {
	if s.res.Requests == 0 {
		return 0
	}
	return float64(s.res.CPU+s.peerNAPI) / float64(s.res.Requests)
}

// allocsPerOp is the server's Go heap allocations per completed request.
func (s sample) allocsPerOp() float64 {
	if s.res.Requests == 0 {
		return 0
	}
	return float64(s.mallocs) / float64(s.res.Requests)
}

// perOp is server CPU time per completed request (or connection), in ns.
func (s sample) perOp() float64 {
	if s.res.Requests == 0 {
		return 0
	}
	return float64(s.serverCPU) / float64(s.res.Requests)
}

// busy is how much of the measured window the server process (server
// true) or the generator thread was on a CPU, in percent. Near 100 for the
// generator: it was the limit. Both well under 100: something else (on a
// shared machine, other processes; on veth, softirq work charged to
// whichever side was running) was.
func (s sample) busy(server bool) float64 {
	if s.res.Elapsed <= 0 {
		return 0
	}
	if server {
		return 100 * float64(s.serverCPU) / float64(s.span())
	}
	return 100 * float64(s.res.CPU) / float64(s.res.Elapsed)
}

// waited is how much of the measured window the server's threads (server
// true, summed) or the generator thread waited on a run queue, in percent
// (stall.go); 100 for a generator that had no turn inside the window.
func (s sample) waited(server bool) float64 {
	switch {
	case s.res.Elapsed <= 0:
		return 0
	case server:
		return 100 * float64(s.serverWait) / float64(s.span())
	case s.res.Missed:
		return 100
	}
	return 100 * float64(s.res.Waited) / float64(s.res.Elapsed)
}

// othersPct is what other processes used of the server's core (server
// true) or the generator's over the window, in percent of it.
func (s sample) othersPct(server bool) float64 {
	if s.res.Elapsed <= 0 {
		return 0
	}
	d := s.othersClient
	if server {
		d = s.othersServer
	}
	return 100 * float64(d) / float64(s.span())
}

// span is the server's window: serverSpan, or the generator's where the
// edges were not timed.
func (s sample) span() time.Duration {
	if s.serverSpan > 0 {
		return s.serverSpan
	}
	return s.res.Elapsed
}

// quantileUS is a latency quantile (0-100) in µs.
func (s sample) quantileUS(q float64) float64 {
	return float64(s.res.Latency.ValueAtQuantile(q)) / 1e3
}

// loadCPUs are the CPUs the generator runs on, one thread each. On the
// 2-core machines this suite targets that is the one core the server does
// not have.
func loadCPUs(c config) []int { return []int{c.clientCPU} }

// measureHTTP runs the generator in the peer namespace against srv, one thread
// per load CPU, each pinned, in this process: the generator's threads are
// locked OS threads doing raw epoll syscalls and allocate nothing in steady
// state, so the rest of this process (idle, waiting) does not disturb them.
// It reads the server's CPU time at the edges of the measured window.
// lc.Rate is the total rate; each thread gets its share.
func measureHTTP(c config, bed *testbed.Bed, srv *serverProc, lc loadgen.Config) (sample, error) {
	return measureHTTPOpt(c, bed, srv, lc, false)
}

// measureHTTPOpt is measureHTTP; with gcEdges the server collects its
// garbage and returns freed memory to the OS just before the window (before
// its CPU time is read) and just after it (after), so that the RSS figures
// at the edges hold live memory only.
func measureHTTPOpt(c config, bed *testbed.Bed, srv *serverProc, lc loadgen.Config, gcEdges bool) (sample, error) {
	cpus := loadCPUs(c)
	lc.Addr = srv.addr
	// A step's first run is profiled (profile.go) in a window of its own
	// between the warm-up and the measured window: the profilers' CPU
	// time and allocations stay out of the figures.
	profDur := time.Duration(0)
	if profileNext(c) {
		profDur = c.duration
	}
	lc.Begin, lc.Warmup, lc.Duration = time.Now(), c.warmup+profDur, c.duration
	lc, undo, err := applyGenPoll(c, bed, srv, lc)
	if err != nil {
		return sample{}, err
	}
	defer undo()
	lc.Rate /= float64(len(cpus))
	if lc.Mode != loadgen.Close {
		lc.Conns = max(1, lc.Conns/len(cpus))
	}
	type out struct {
		r   *loadgen.Result
		err error
	}
	outs := make(chan out, len(cpus))
	for _, cpu := range cpus {
		go func() {
			var r *loadgen.Result
			err := bed.Peer.Do(func() (err error) {
				restore, err := pinThread(cpu)
				if err != nil {
					return err
				}
				defer restore()
				r, err = loadgen.Run(lc)
				return err
			})
			outs <- out{r, err}
		}()
	}
	from := lc.Begin.Add(lc.Warmup)
	var prof *profiler
	if profDur > 0 {
		time.Sleep(time.Until(lc.Begin.Add(c.warmup)))
		prof = startProfile(c, srv)
		time.Sleep(time.Until(from))
		prof.stop()
		defer prof.render()
	}
	time.Sleep(time.Until(from))
	c0 := readCores(c, srv)
	e0, err0 := readEdge(srv, gcEdges)
	time.Sleep(time.Until(from.Add(lc.Duration)))
	c1 := readCores(c, srv)
	e1, err1 := readEdge(srv, gcEdges)
	var total *loadgen.Result
	var firstErr error
	for range cpus {
		o := <-outs
		switch {
		case o.err != nil:
			firstErr = o.err
		case total == nil:
			total = o.r
		default:
			total.Merge(o.r)
		}
	}
	if firstErr != nil {
		return sample{}, fmt.Errorf("load generator: %w", firstErr)
	}
	if err := errors.Join(err0, err1); err != nil {
		return sample{}, err
	}
	s := windowSample(total, e0, e1)
	s.othersServer, s.othersClient = c1.others(c0, s.serverCPU, total.CPU)
	s.peerNAPI = c1.peerNAPI - c0.peerNAPI
	if total.Requests == 0 {
		s.diag = srv.diag()
		if n := stallNote(s); n != "" {
			fmt.Fprintf(os.Stderr, "\nbench: %s: %s\n", currentStep(), n)
		}
	}
	return s, nil
}

// edge is what is read of the server at one edge of a measured window.
type edge struct {
	at   time.Time // when the CPU clock was read
	cpu  time.Duration
	wait time.Duration // the server's threads' run-queue wait (stall.go)
	st   childStats
	rss  int64
}

// readEdge reads srv at a window's edge: its CPU clock first, then its
// stats (after a garbage collection when gc, so that its RSS, read last,
// is live memory; the collection's few ms fall inside the CPU window).
// The clock comes first because a busy server may take a while to answer
// a stats request (a net/http child serving 256 connections took 600 ms),
// which would start its CPU window late.
func readEdge(srv *serverProc, gc bool) (edge, error) {
	var e edge
	var err error
	e.at = time.Now()
	if e.cpu, err = srv.cpuTime(); err != nil {
		return e, fmt.Errorf("%s server CPU time: %w (did it die? %s)", srv.name, err, srv.stderr)
	}
	e.wait = procWait(srv.cmd.Process.Pid)
	if gc {
		e.st, err = srv.statsAfterGC()
	} else {
		e.st, err = srv.stats()
	}
	if err != nil {
		return e, fmt.Errorf("%s server stats: %w", srv.name, err)
	}
	e.rss, _ = srv.rss()
	return e, nil
}

// coresEdge is what is read of the measured cores at a window's edge.
type coresEdge struct {
	at                     time.Time
	idleServer, idleClient time.Duration // the cores' idle time since boot
	peerNAPI               time.Duration // the generator side's NAPI threads' CPU time
	ok                     bool
}

func readCores(c config, srv *serverProc) coresEdge {
	e := coresEdge{at: time.Now(), ok: true}
	var err error
	if e.idleServer, err = coreIdle(c.serverCPU); err != nil {
		e.ok = false
	}
	if e.idleClient, err = coreIdle(c.clientCPU); err != nil {
		e.ok = false
	}
	if srv.napi != nil {
		for _, p := range srv.napi.peer {
			d, _ := testbed.ThreadCPU(p)
			e.peerNAPI += d
		}
	}
	return e
}

// others is what other processes used of the server's and the client's
// core between e0 and e1, given the server's CPU time (process and NAPI
// thread) and the generator thread's over the window.
func (e1 coresEdge) others(e0 coresEdge, server, gen time.Duration) (onServer, onClient time.Duration) {
	if !e0.ok || !e1.ok {
		return 0, 0
	}
	span := e1.at.Sub(e0.at)
	onServer = othersOnCore(span, e1.idleServer-e0.idleServer, server)
	onClient = othersOnCore(span, e1.idleClient-e0.idleClient, gen+e1.peerNAPI-e0.peerNAPI)
	return onServer, onClient
}

// windowSample is the sample of a window: res and the server's edges.
func windowSample(res *loadgen.Result, e0, e1 edge) sample {
	return sample{res: res, serverCPU: e1.cpu - e0.cpu, mallocs: e1.st.mallocs - e0.st.mallocs,
		rss0: e0.rss, rss1: e1.rss, st0: e0.st, st1: e1.st, serverWait: max(0, e1.wait-e0.wait),
		serverSpan: e1.at.Sub(e0.at)}
}

// pinThread binds the calling locked thread to cpu and returns a function
// that restores its previous mask (the thread goes back to the runtime's
// pool afterwards).
func pinThread(cpu int) (restore func(), err error) {
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, err
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("pin load generator to CPU %d: %w", cpu, err)
	}
	return func() { unix.SchedSetaffinity(0, &old) }, nil
}
