package main

// TIME-WAIT churn, measured in the close workload: every request there
// costs the server one connection that it closes first, so the server
// holds one TIME-WAIT entry per connection for 2*MSL (RFC 9293 §3.6;
// 60 s on Linux and in sluice by default), and a run leaves all of them
// in place. After each run the workload counts them and their memory:
//
//   - sluice: its compact TIME-WAIT table (tcp/timewait) lives in the
//     process; the figure is the server's RSS growth over the measured
//     window divided by the entries added in it, with the server's garbage
//     collected and returned to the OS at both edges (measureHTTPOpt). The
//     warm-up before it has grown the pools (TCBs, buffers) to their steady
//     size, so what still grows is the TIME-WAIT table: an upper bound.
//   - kernel TCP: the entries are kernel tw_sock objects, not in the
//     process's RSS; the count is the growth of tw in the server
//     namespace's /proc/net/sockstat over the run and the size is the
//     tw_sock_TCP slab's object size.
//
// The RSS figure is an upper bound full of other growth (a run adds tens
// of thousands of entries, and the ring and index grow by doubling), so
// sluice also gets the heap growth per entry of a table filled to 1M
// entries in this process (issue 13's measure): the table's own cost,
// ring, index and local-address list included.

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicenet/sluice/bench/conngen"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/timewait"
	"github.com/sluicenet/sluice/testbed"
)

// tw0 is the server namespace's kernel TIME-WAIT count before the run.
func timeWaitFigures(f *figures, bed *testbed.Bed, s httpServer, srv *serverProc, m sample, tw0 int) error {
	var held, perEntry float64
	note := ""
	if isSluice(s.name) {
		held = float64(m.st1.timeWait)
		if added := m.st1.timeWait - m.st0.timeWait; added > 0 {
			perEntry = max(0, float64(m.rss1-m.rss0)/float64(added))
		}
		note = fmt.Sprintf("server RSS growth over the window / %d entries added in it (live memory after GC at both edges; upper bound)", m.st1.timeWait-m.st0.timeWait)
		per, err := timeWaitTableHeap()
		if err != nil {
			return err
		}
		f.add(s.name, "heap/TIME-WAIT entry at 1M", "B", lower, per).Note =
			fmt.Sprintf("Go heap growth of a tcp/timewait table filled with %d entries, per entry (in the bench process)", twTableEntries)
	} else {
		tw, err := kernelTimeWait(bed.Server)
		if err != nil {
			return err
		}
		// Entries of earlier runs (other servers, same namespace) may
		// expire during this one: a lower bound.
		held = float64(max(0, tw-tw0))
		size, err := slabObjSize("tw_sock_TCP")
		if err != nil {
			return err
		}
		perEntry = float64(size)
		note = "kernel tw_sock_TCP slab object (not in the process's RSS)"
	}
	f.add(s.name, "TIME-WAIT held", "entries", "", held).Note = "server-side TIME-WAIT entries after the run (2*MSL = 60 s)"
	f.add(s.name, "bytes/TIME-WAIT entry", "B", lower, perEntry).Note = note
	return nil
}

// kernelTimeWait reads the TIME-WAIT count of h's namespace from
// /proc/thread-self/net/sockstat ("TCP: inuse N orphan N tw N ...").
func kernelTimeWait(h *testbed.Host) (int, error) {
	b, err := readIn(h, "/proc/thread-self/net/sockstat")
	if err != nil {
		return 0, err
	}
	return parseSockstatTW(b)
}

// readIn reads a file from inside h's namespace: /proc/thread-self/net
// and /proc/sys/net are the namespace's of the reading thread.
func readIn(h *testbed.Host, path string) (b []byte, err error) {
	err = h.Do(func() error {
		b, err = os.ReadFile(path)
		return err
	})
	return b, err
}

// writeIn writes a file inside h's namespace (a sysctl of it under
// /proc/sys/net).
func writeIn(h *testbed.Host, path, v string) error {
	return h.Do(func() error { return os.WriteFile(path, []byte(v), 0o644) })
}

func parseSockstatTW(b []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			if f[i] == "tw" {
				return strconv.Atoi(f[i+1])
			}
		}
	}
	return 0, fmt.Errorf("no TCP tw count in sockstat: %q", b)
}

// slabObjSize is the object size of a kernel slab cache, from /proc/slabinfo
// ("name active_objs num_objs objsize ...").
func slabObjSize(name string) (int, error) {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return 0, err
	}
	return parseSlabObjSize(b, name)
}

func parseSlabObjSize(b []byte, name string) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 4 && f[0] == name {
			return strconv.Atoi(f[3])
		}
	}
	return 0, fmt.Errorf("no slab %q in /proc/slabinfo", name)
}

// twTableEntries is how many entries timeWaitTableHeap fills a table with.
const twTableEntries = 1_000_000

var twHeap struct {
	once sync.Once
	per  float64
	err  error
}

// timeWaitTableHeap is the Go heap a tcp/timewait table holding
// twTableEntries live entries costs per entry, with garbage collected at
// both edges; measured once per bench run (it takes a few seconds).
func timeWaitTableHeap() (float64, error) {
	twHeap.once.Do(func() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		tb, err := timewait.New(timewait.Config{Max: twTableEntries})
		if err != nil {
			twHeap.err = err
			return
		}
		local := netip.MustParseAddr("198.18.0.1")
		for n := range twTableEntries {
			id := tcp.ID{LocalAddr: local, LocalPort: 80, RemotePort: uint16(n),
				RemoteAddr: netip.AddrFrom4([4]byte{198, 19, byte(n >> 24), byte(n >> 16)})}
			if !tb.Insert(&id, &timewait.State{SndNxt: tcp.Seq(n)}, 0) {
				twHeap.err = fmt.Errorf("timewait table refused entry %d of %d", n, twTableEntries)
				return
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		twHeap.per = float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / twTableEntries
		runtime.KeepAlive(tb)
	})
	return twHeap.per, twHeap.err
}

// The per-second profile of a churn window: why a second is slow. The
// generator records its side (conngen.Second: completions, RTO resends,
// where its connections waited); coreSampler records the server CPU's,
// from the scheduler's accounting (/proc/<pid>/task/*/schedstat: time on
// the CPU and time runnable but waiting for it, per thread), every second:
// the server's loop thread (its busiest), its other threads (the Go
// runtime's: GC workers, sysmon, the stats goroutine; pinned to the same
// CPU, they wait behind the loop and it behind them), its NAPI thread on
// the napi rig (SCHED_FIFO: it preempts the loop), and the CPU's busy
// time (/proc/stat), the rest of which is other load on the machine.

// schedTimes are a thread's total time on a CPU and waiting on a run
// queue (/proc/.../schedstat), in ns, and how many times it was put on a
// CPU (a NAPI thread's: its wake-ups, each a switch on the server CPU).
type schedTimes struct{ run, wait, slices int64 }

func readSchedstat(path string) (schedTimes, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return schedTimes{}, false
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return schedTimes{}, false
	}
	run, err1 := strconv.ParseInt(f[0], 10, 64)
	wait, err2 := strconv.ParseInt(f[1], 10, 64)
	slices, err3 := strconv.ParseInt(f[2], 10, 64)
	return schedTimes{run, wait, slices}, err1 == nil && err2 == nil && err3 == nil
}

// coreReading is one reading of the server CPU's accounting.
type coreReading struct {
	threads map[int]schedTimes // the server's, by tid
	napi    schedTimes         // its NAPI threads', summed
	busy    int64              // the CPU's non-idle time, ns (10 ms ticks)
}

func readCore(pid int, napi []int, cpu int) coreReading {
	r := coreReading{threads: map[int]schedTimes{}}
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if t, ok := readSchedstat(dir + "/" + e.Name() + "/schedstat"); ok {
			r.threads[tid] = t
		}
	}
	for _, p := range napi {
		if t, ok := readSchedstat(fmt.Sprintf("/proc/%d/schedstat", p)); ok {
			r.napi.run += t.run
			r.napi.wait += t.wait
			r.napi.slices += t.slices
		}
	}
	r.busy = cpuBusy(cpu)
	return r
}

// cpuBusy is CPU cpu's non-idle time from /proc/stat (corebusy.go), in
// ns; 0 if it cannot be read.
func cpuBusy(cpu int) int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	_, busy, err := parseCoreTimes(b, cpu)
	if err != nil {
		return 0
	}
	return int64(busy)
}

// coreSampler reads the server CPU's accounting once a second of a
// window, in a goroutine of its own (it only reads /proc: the child is
// not asked, so it disturbs neither the server nor a profile's start).
type coreSampler struct {
	readings []coreReading
	done     chan struct{}
}

func sampleCore(srv *serverProc, cpu int, from time.Time, seconds int) *coreSampler {
	s := &coreSampler{done: make(chan struct{})}
	var napi []int
	if srv.napi != nil {
		napi = srv.napi.server
	}
	go func() {
		defer close(s.done)
		for i := 0; i <= seconds; i++ {
			time.Sleep(time.Until(from.Add(time.Duration(i) * time.Second)))
			s.readings = append(s.readings, readCore(srv.cmd.Process.Pid, napi, cpu))
		}
	}()
	return s
}

// coreSecond is the server CPU's second, in ms, and the times the loop
// and the NAPI thread were put on it.
type coreSecond struct {
	loop, loopWait, rest, restWait, napi, napiWait, busy float64
	loopRuns, napiRuns                                   int64
}

// seconds waits for the sampler and returns its seconds: the loop is the
// thread with the most CPU time over the whole window.
func (s *coreSampler) seconds() []coreSecond {
	<-s.done
	r := s.readings
	if len(r) < 2 {
		return nil
	}
	first, last := r[0], r[len(r)-1]
	loop, most := 0, int64(-1)
	for tid, t := range last.threads {
		if d := t.run - first.threads[tid].run; d > most {
			loop, most = tid, d
		}
	}
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	out := make([]coreSecond, len(r)-1)
	for i := range out {
		a, b := r[i], r[i+1]
		var cs coreSecond
		for tid, t := range b.threads {
			d := schedTimes{t.run - a.threads[tid].run, t.wait - a.threads[tid].wait, t.slices - a.threads[tid].slices}
			if tid == loop {
				cs.loop, cs.loopWait, cs.loopRuns = ms(d.run), ms(d.wait), d.slices
			} else {
				cs.rest += ms(d.run)
				cs.restWait += ms(d.wait)
			}
		}
		cs.napi, cs.napiWait, cs.napiRuns = ms(b.napi.run-a.napi.run), ms(b.napi.wait-a.napi.wait), b.napi.slices-a.napi.slices
		cs.busy = ms(b.busy - a.busy)
		out[i] = cs
	}
	return out
}

// coreOthers is how much of the sampled seconds the server CPU spent on
// other load, in percent (-1 without samples), and how many times the
// NAPI thread ran in them.
func coreOthers(core []coreSecond) (pct, napiRuns float64) {
	if len(core) == 0 {
		return -1, 0
	}
	var others float64
	for _, c := range core {
		others += max(0, c.busy-c.loop-c.rest-c.napi)
		napiRuns += float64(c.napiRuns)
	}
	return 100 * others / (1000 * float64(len(core))), napiRuns
}

// writeChurnSeconds writes the per-second profile of a churn window to
// path (tab-separated, one line a second).
func writeChurnSeconds(path string, gen []conngen.Second, core []coreSecond) error {
	var b bytes.Buffer
	fmt.Fprintln(&b, "second\tcompleted\tretrans\tsyn_sent\topen\tlast_ack\tloop_ms\tloop_wait_ms\tother_threads_ms\tother_wait_ms\tnapi_ms\tnapi_wait_ms\tcpu_busy_ms\tcpu_others_ms\tloop_runs\tnapi_runs")
	for i, g := range gen {
		fmt.Fprintf(&b, "%d\t%d\t%d\t%d\t%d\t%d", i, g.Completed, g.Retrans, g.SynSent, g.Open, g.LastAck)
		if i < len(core) {
			c := core[i]
			fmt.Fprintf(&b, "\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t%d", c.loop, c.loopWait, c.rest, c.restWait, c.napi, c.napiWait,
				c.busy, max(0, c.busy-c.loop-c.rest-c.napi), c.loopRuns, c.napiRuns)
		}
		b.WriteByte('\n')
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
