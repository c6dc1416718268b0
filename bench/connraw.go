package main

// Workloads on the raw-frame connection generator (bench/conngen): the
// kernel generator (bench/loadgen) spends most of its CPU in the kernel's
// TCP, connect() to close, and is the ceiling of the close workload on a
// 2-core machine; this one builds the frames itself over AF_XDP on the
// peer's link, pinned to the client CPU.
//
//	closeraw  the close workload with this generator: conn/s, CPU per
//	          connection, TIME-WAIT held (ratios beside the close
//	          workload's, same servers)
//	churn     TIME-WAIT churn: the generator paced at -churn-rate
//	          (102k/s offered) for -churn-duration (60 s) against each
//	          server, which closes first, so every connection leaves a
//	          TIME-WAIT entry on the server: entries created per second
//	          (and per second of the window), entries held against the
//	          bound, connections closed without TIME-WAIT at the bound,
//	          memory per entry

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sluicenet/sluice/bench/conngen"
	"github.com/sluicenet/sluice/bench/loadgen"
	"github.com/sluicenet/sluice/testbed"
)

// rawPrefix are the client addresses the generator owns: 65536 addresses
// of the testbed's benchmarking range, 4.2 billion 4-tuples.
var rawPrefix = netip.MustParsePrefix("198.19.0.0/16")

// rawNextTuple is where the next generator starts numbering its tuples:
// runs against the same testbed (and the kernel's TIME-WAIT of earlier
// runs in its server namespace) never reuse a 4-tuple.
var rawNextTuple uint64

// churnRate is the TIME-WAIT churn target: entries per second.
const churnRate = 100_000

// rawSample is one generator run against one server.
type rawSample struct {
	sample
	gen  conngen.Stats
	secs []conngen.Second // the generator's seconds of the window
	core []coreSecond     // the server CPU's seconds of a churn window
	// heldMax is the most TIME-WAIT entries a churn window's samples saw
	// (every heldEvery, up to its profiled end; -1: none taken).
	heldMax int64
	// napi is what the server's NAPI threads did over the window (their
	// CPU time and runs: the NAPI deferral's effect); ok false off the
	// napi rig.
	napi   schedTimes
	napiOK bool
}

// napiEdge sums the server's NAPI threads' schedstat (rig.go), false
// without them.
func napiEdge(srv *serverProc) (schedTimes, bool) {
	var sum schedTimes
	if srv.napi == nil || len(srv.napi.server) == 0 {
		return sum, false
	}
	for _, p := range srv.napi.server {
		t, ok := readSchedstat(fmt.Sprintf("/proc/%d/schedstat", p))
		if !ok {
			return sum, false
		}
		sum.run, sum.wait, sum.slices = sum.run+t.run, sum.wait+t.wait, sum.slices+t.slices
	}
	return sum, true
}

// addNAPI records the server's NAPI threads' CPU and runs per
// connection: how much of cpu/connection is the copy-mode receive (XDP,
// the copy into UMEM) and how often the thread was woken for it.
func addNAPI(f *figures, impl string, rs rawSample) {
	n := rs.res.Requests
	if !rs.napiOK || n == 0 {
		return
	}
	f.add(impl, "NAPI cpu/connection", "ns", lower, float64(rs.napi.run)/float64(n)).Note =
		"the server's NAPI thread's CPU time / connections (part of cpu/connection)"
	f.add(impl, "NAPI runs/1000 connections", "runs", lower, 1000*float64(rs.napi.slices)/float64(n)).Note =
		"times the server's NAPI thread was put on its CPU (a wake-up and two switches each) per 1000 connections"
}

// heldEvery is how often a churn window samples the TIME-WAIT entries
// held, so the bound is judged over the window, not at its end alone.
const heldEvery = 2 * time.Second

// runRaw runs the generator against srv: warm-up (and a profiled window
// on a step's first run, profile.go), then a measured window of length
// window. With churn the server collects its garbage at the window's
// edges (its RSS is then live memory) and the profile covers the
// window's end.
func runRaw(c config, bed *testbed.Bed, srv *serverProc, window time.Duration, churn bool) (rawSample, error) {
	var rs rawSample
	if err := conngen.Route(bed, rawPrefix); err != nil {
		return rs, err
	}
	cfg := conngen.ConfigFor(bed, srv.addr, rawPrefix)
	cfg.Slots, cfg.FirstTuple, cfg.WantLength = c.rawSlots, rawNextTuple, helloLength
	if churn {
		cfg.Rate = c.churnPace
	}
	g, err := conngen.New(cfg)
	if err != nil {
		return rs, err
	}
	// A step's first run is profiled (profile.go): in a window of its
	// own before the measured one, or, for churn, over the measured
	// window's last -duration, when the TIME-WAIT table is fullest (the
	// profilers' ~1% of a core is then in the figures).
	profDur, profEnd := time.Duration(0), time.Duration(0)
	if profileNext(c) {
		if churn {
			profEnd = c.duration
		} else {
			profDur = c.duration
		}
	}
	begin := time.Now()
	from := begin.Add(c.warmup + profDur)
	to := from.Add(window)
	var core *coreSampler
	if churn {
		core = sampleCore(srv, c.serverCPU, from, int(window/time.Second))
	}
	var genCPU time.Duration
	done := onPeerXDP(c, bed, func(x *conngen.XDP) error {
		g.Measure(x.Now(from), x.Now(to))
		err := x.Run(g, to)
		genCPU = x.WindowCPU
		return err
	})
	// sleep waits until t unless the generator ended (failed) first.
	failed := false
	sleep := func(t time.Time) {
		if failed {
			return
		}
		select {
		case err = <-done:
			failed = true
		case <-time.After(time.Until(t)):
		}
	}
	// profile profiles srv from t0 to t1; rendering waits for the end
	// (it takes seconds of CPU).
	profile := func(t0, t1 time.Time) *profiler {
		sleep(t0)
		prof := startProfile(c, srv)
		sleep(t1)
		prof.stop()
		return prof
	}
	if profDur > 0 {
		defer profile(begin.Add(c.warmup), from).render()
	}
	sleep(from)
	n0, ok0 := napiEdge(srv)
	e0, err0 := readEdge(srv, churn)
	rs.heldMax = -1
	for t := from.Add(heldEvery); churn && !failed && t.Before(to.Add(-profEnd)); t = t.Add(heldEvery) {
		sleep(t)
		if n, err := timeWaitHeld(bed, srv); err == nil && n > rs.heldMax {
			rs.heldMax = n
		}
	}
	if profEnd > 0 {
		defer profile(to.Add(-profEnd), to).render()
	}
	sleep(to)
	e1, err1 := readEdge(srv, churn)
	n1, ok1 := napiEdge(srv)
	rs.napi, rs.napiOK = schedTimes{n1.run - n0.run, n1.wait - n0.wait, n1.slices - n0.slices}, ok0 && ok1
	if !failed {
		err = <-done
	}
	rawNextTuple = g.NextTuple()
	if err != nil {
		return rs, fmt.Errorf("raw connection generator: %w", err)
	}
	if err := errors.Join(err0, err1); err != nil {
		return rs, err
	}
	res := &loadgen.Result{Requests: g.Window, Connects: g.Window, Elapsed: window, Latency: g.Latency, CPU: genCPU}
	rs.sample = windowSample(res, e0, e1)
	rs.gen, rs.secs = g.Stats, g.Seconds
	if core != nil {
		rs.core = core.seconds()
	}
	return rs, nil
}

// timeWaitHeld is the server's TIME-WAIT entries now: sluice's (its
// table and any TCB serving TIME-WAIT itself), or the kernel's in the
// server namespace.
func timeWaitHeld(bed *testbed.Bed, srv *serverProc) (int64, error) {
	st, err := srv.stats()
	if err != nil {
		return 0, err
	}
	if st.twAll >= 0 {
		return st.twAll, nil
	}
	n, err := kernelTimeWait(bed.Server)
	return int64(n), err
}

// rawErrors records the generator's error count, with the kinds, and
// what the server retransmitted (its RTO or accept queue at work, not
// errors).
func rawErrors(f *figures, impl string, rs rawSample) {
	g := rs.gen
	r := f.add(impl, "errors", "count", lower, float64(g.Errors()))
	if g.Errors() > 0 {
		r.Note = joinNote(r.Note, g.String())
	}
	f.add(impl, "server retransmissions", "count", "", float64(g.SynAckAgain+g.FinAgain+g.DupData)).Note = fmt.Sprintf(
		"SYN-ACKs, FINs and data segments the server sent again (last run: %d, %d, %d); %d connections unfinished at the end, reset",
		g.SynAckAgain, g.FinAgain, g.DupData, g.Unfinished)
}

const rawNote = "generator: raw frames over AF_XDP (bench/conngen)"

func closeRawWorkload(c config) ([]Result, error) {
	f := &figures{workload: "closeraw"}
	err := eachRun(c, c.runs, func(bed *testbed.Bed, s httpServer, srv *serverProc) error {
		progressStep("closeraw", s.name)
		tw0, err := kernelTimeWait(bed.Server)
		if err != nil {
			return err
		}
		rs, err := runRaw(c, bed, srv, c.duration, false)
		if err != nil {
			return err
		}
		f.add(s.name, "connections/s", "conn/s", higher, rs.res.PerSecond(rs.res.Requests)).Note =
			fmt.Sprintf("%s, %d in progress; server closes first", rawNote, c.rawSlots)
		f.add(s.name, "cpu/connection", "ns", lower, rs.perOp()).Note = "server utime+stime (process + NAPI thread) / connections"
		f.add(s.name, "allocs/connection", "allocs", lower, rs.allocsPerOp())
		addNAPI(f, s.name, rs)
		f.addBusy(s.name, rs.sample)
		if n := rs.res.Requests; n > 0 {
			f.add(s.name, "loadgen cpu/connection", "ns", "", float64(rs.res.CPU)/float64(n)).Note =
				"the generator thread's CPU per connection: how far it is from being the ceiling"
		}
		f.add(s.name, "p50", "µs", lower, rs.quantileUS(50)).Note = "SYN sent to the server's ACK of our FIN"
		f.add(s.name, "p99", "µs", lower, rs.quantileUS(99))
		rawErrors(f, s.name, rs)
		held, err := timeWaitHeld(bed, srv)
		if err != nil {
			return err
		}
		if !isSluice(s.name) {
			held -= int64(tw0) // the namespace's, earlier runs' included
		}
		f.add(s.name, "TIME-WAIT held", "entries", "", float64(held)).Note = "server-side TIME-WAIT entries after the run"
		return nil
	})
	return f.results(), err
}

func churnWorkload(c config) ([]Result, error) {
	f := &figures{workload: "churn"}
	// One run per server, a minute long by default, each on a testbed of
	// its own: a kernel server's TIME-WAIT entries stay in the server
	// namespace for 60 s and count against the next one's
	// tcp_max_tw_buckets.
	run := func(bed *testbed.Bed, s httpServer, srv *serverProc) error {
		progressStep("churn", s.name)
		over0, _ := kernelTimeWaitOverflow(bed.Server)
		rs, err := runRaw(c, bed, srv, c.churnDuration, true)
		if err != nil {
			return err
		}
		over1, _ := kernelTimeWaitOverflow(bed.Server)
		held := rs.st1.twAll // sluice's, at the window's end
		if held < 0 {
			n, err := kernelTimeWait(bed.Server)
			if err != nil {
				return err
			}
			held = int64(n)
		}
		win := c.churnDuration.Seconds()
		f.add(s.name, "TIME-WAIT created/s", "entries/s", higher, rs.res.PerSecond(rs.res.Requests)).Note =
			fmt.Sprintf("connections the server closed first, completed per second over %s; %s, %d in progress, %s", c.churnDuration, rawNote, c.rawSlots, paceNote(c.churnPace))
		full, slow, fast := 0, uint64(math.MaxUint64), uint64(0)
		for _, sec := range rs.secs {
			if sec.Completed >= churnRate {
				full++
			}
			slow, fast = min(slow, sec.Completed), max(fast, sec.Completed)
		}
		secsFile := filepath.Join(c.out, "churn-"+s.key()+"-seconds.tsv")
		if err := writeChurnSeconds(secsFile, rs.secs, rs.core); err != nil {
			return err
		}
		f.add(s.name, "seconds at ≥ 100k/s", "s", higher, float64(full)).Note = fmt.Sprintf("of %d; slowest second %d, fastest %d; per second: %s",
			len(rs.secs), slow, fast, secsFile)
		bound, refused := 0.0, 0.0
		var boundNote string
		if isSluice(s.name) {
			f.add(s.name, "TIME-WAIT entered/s (server)", "entries/s", higher, float64(rs.st1.twEntered-rs.st0.twEntered)/win).Note =
				"the server's own count of TIME-WAIT entries made over the window (those past the bound not included)"
			bound, boundNote = float64(rs.st1.twMax), "sluice's Config.TimeWaitMax (Info.TimeWaitMax; default the namespace's tcp_max_tw_buckets); beyond it the connection closes without TIME-WAIT"
			refused = float64(rs.st1.twRefused - rs.st0.twRefused)
		} else {
			b, err := kernelSysctl(bed.Server, "net/ipv4/tcp_max_tw_buckets")
			if err != nil {
				return err
			}
			bound, boundNote = float64(b), "net.ipv4.tcp_max_tw_buckets of the server namespace; beyond it the socket closes without TIME-WAIT"
			refused = float64(over1 - over0)
		}
		// Nothing created in the window expires before its end (2*MSL is
		// 60 s), so the count at the end is the most held. It is read
		// once: sluice's Stats walks every connection.
		f.add(s.name, "TIME-WAIT held", "entries", "", float64(held)).Note = "at the window's end"
		f.add(s.name, "TIME-WAIT held (max)", "entries", "", float64(max(held, rs.heldMax))).Note =
			fmt.Sprintf("the most held at a sample every %v of the window or at its end", heldEvery)
		if isSluice(s.name) {
			f.add(s.name, "TIME-WAIT in full TCBs", "entries", lower, float64(rs.st1.twAll-rs.st1.timeWait)).Note =
				"held by a whole TCB (buffers included) instead of a table entry: 0 unless the table is off"
		}
		f.add(s.name, "TIME-WAIT bound", "entries", "", bound).Note = boundNote
		f.add(s.name, "TIME-WAIT overflow", "entries", "", refused).Note =
			"connections closed without TIME-WAIT, the bound held, during the window (sluice Stats.TimeWaitOverflow, Linux TCPTimeWaitOverflow)"
		if most := max(held, rs.heldMax); most > int64(bound) {
			f.add(s.name, "TIME-WAIT over the bound", "entries", lower, float64(most)-bound).Note = "the most held beyond the bound"
		}
		if isSluice(s.name) && rs.st1.twAll > rs.st0.twAll {
			f.add(s.name, "bytes/TIME-WAIT entry", "B", lower, float64(rs.rss1-rs.rss0)/float64(rs.st1.twAll-rs.st0.twAll)).Note =
				"server RSS growth over the window / TIME-WAIT entries added in it (live memory after GC at both edges)"
		}
		f.add(s.name, "server RSS", "MiB", lower, float64(rs.rss1)/(1<<20)).Note = "at the window's end, after GC"
		f.add(s.name, "cpu/connection", "ns", lower, rs.perOp())
		addNAPI(f, s.name, rs)
		f.addBusy(s.name, rs.sample)
		if others, napiRuns := coreOthers(rs.core); others >= 0 {
			f.add(s.name, "server CPU to other load", "%", "", others).Note = fmt.Sprintf(
				"the server CPU's busy time (/proc/stat) not spent by the server or its NAPI thread / window; NAPI thread runs: %.0f per 1000 connections", 1000*napiRuns/float64(max(1, rs.res.Requests)))
		}
		rawErrors(f, s.name, rs)
		return nil
	}
	// The bound: at 100k/s an entry lives a whole 60 s window (2*MSL), so
	// the target's rate held for a minute is 6 million entries at once.
	// The namespace's default (131,072 here) is full within 1.3 s, and
	// every later connection would close without TIME-WAIT, an insert
	// refused rather than made. -churn-tw-max raises the server
	// namespace's tcp_max_tw_buckets, which both sluice (its default
	// Config.TimeWaitMax) and the kernel servers read, by default to
	// the most one loop's table holds (timewait.MaxLimit, 8,388,608):
	// the default pace, 102k/s for the whole 60 s window, is 6.1M
	// entries, within it. At full rate (-churn-rate 0) a server faster
	// than 140k/s reaches the bound inside the window (at 148k/s, in
	// second 56, bench/runs/2026-12-07-churn-8m), and the seconds after
	// it refuse entries while the generator still counts connections:
	// the pace is what lets "100k/s for 60 s" be read within the bound.
	prep := func(bed *testbed.Bed) error {
		if c.churnTWMax <= 0 {
			return nil
		}
		return writeIn(bed.Server, "/proc/sys/net/ipv4/tcp_max_tw_buckets", strconv.Itoa(c.churnTWMax))
	}
	for _, s := range httpServers {
		if err := eachRunOn(c, 1, []httpServer{s}, prep, run); err != nil {
			return f.results(), err
		}
	}
	return f.results(), nil
}

// paceNote says how churn's generator was paced (-churn-rate).
func paceNote(rate float64) string {
	if rate <= 0 {
		return "at full rate"
	}
	return fmt.Sprintf("paced at %.0f/s offered", rate)
}

// kernelSysctl reads an integer sysctl (path under /proc/sys) in h's
// namespace.
func kernelSysctl(h *testbed.Host, path string) (int64, error) {
	b, err := readIn(h, "/proc/sys/"+path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// kernelTimeWaitOverflow is TcpExt TCPTimeWaitOverflow of h's namespace:
// sockets closed without TIME-WAIT because tcp_max_tw_buckets were held.
func kernelTimeWaitOverflow(h *testbed.Host) (int64, error) {
	b, err := readIn(h, "/proc/thread-self/net/netstat")
	if err != nil {
		return 0, err
	}
	return parseNetstat(b, "TcpExt:", "TCPTimeWaitOverflow")
}

// parseNetstat finds a counter in /proc/net/netstat's pairs of lines
// ("TcpExt: Name1 Name2 ..." then "TcpExt: v1 v2 ...").
func parseNetstat(b []byte, prefix, name string) (int64, error) {
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], prefix) || !strings.HasPrefix(lines[i+1], prefix) {
			continue
		}
		names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j := 1; j < len(names) && j < len(vals); j++ {
			if names[j] == name {
				return strconv.ParseInt(vals[j], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s %s in netstat", prefix, name)
}

// onPeerXDP runs body in the testbed's peer namespace, on a thread pinned
// to the client's CPU, with the raw generator's AF_XDP socket open on the
// peer's link; its result arrives on the channel returned.
func onPeerXDP(c config, bed *testbed.Bed, body func(x *conngen.XDP) error) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- bed.Peer.Do(func() error {
			restore, err := pinThread(c.clientCPU)
			if err != nil {
				return err
			}
			defer restore()
			x, err := conngen.OpenXDP(bed.Peer.Ifindex, rawPrefix)
			if err != nil {
				return err
			}
			defer x.Close()
			return body(x)
		})
	}()
	return done
}
