package main

// The parent side of the HTTP servers under test: start one as a child
// process in the server namespace pinned to the server CPU, read its CPU
// time, stop it. See serve_child.go for the child.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluicenet/sluice/testbed"
	"golang.org/x/sys/unix"
)

// httpServer is one HTTP server implementation under test.
type httpServer struct {
	name  string // Impl in the results
	kind  string // key of serveFuncs in the child
	procs int    // GOMAXPROCS of the child
	// A variant of kind: its -servers name; variants run only when
	// -servers names them. napi: the NAPI deferral on the server's
	// link is off for sluice (which sets it by default), on for the
	// others (napidefer.go).
	variant string
	napi    bool
}

// key is s's name in -servers.
func (s httpServer) key() string {
	if s.variant != "" {
		return s.variant
	}
	return s.kind
}

// httpServers are measured in this order, each alone on the server CPU.
// ratioPairs in report.go compares sluice's three with net/http and gnet.
//
//	sluice         examples/httpd on the callback API: a real HTTP/1.1
//	               server (parser, pipelining, Date field, backpressure)
//	sluice-raw     the callback API with the same minimal responder gnet
//	               runs: sluice against gnet like for like
//	sluice (net/http via Listener)  net/http on the net.Listener adapter
//
// sluice's child gets GOMAXPROCS=2: its loop is a locked OS thread that
// busy-polls before it sleeps, and with one P the goroutines beside it
// (net/http's handlers on the Listener adapter) would wait for the
// runtime's 10 ms preemption. Both threads are pinned to the same one core,
// so it is still one core against one.
var httpServers = []httpServer{
	{name: "sluice", kind: "sluice-httpd", procs: 2},
	{name: "sluice-raw", kind: "sluice-raw", procs: 2},
	{name: "sluice (net/http via Listener)", kind: "sluice-listener", procs: 2},
	{name: "net/http", kind: "nethttp", procs: 1},
	{name: "gnet", kind: "gnet", procs: 1},
	// sluice without its NAPI deferral, gnet with it (napidefer.go).
	{name: "sluice-raw (no napi defer)", kind: "sluice-raw", procs: 2, variant: "sluice-raw-nodefer", napi: true},
	{name: "sluice (no napi defer)", kind: "sluice-httpd", procs: 2, variant: "sluice-httpd-nodefer", napi: true},
	{name: "gnet (napi defer)", kind: "gnet", procs: 1, variant: "gnet-defer", napi: true},
}

func serverKinds() []string {
	var k []string
	for _, s := range httpServers {
		k = append(k, s.key())
	}
	return k
}

// selectServers keeps only the servers named (by kind) in list; "" keeps
// all.
func selectServers(list string) error {
	var keep []httpServer
	if list == "" {
		for _, s := range httpServers {
			if s.variant == "" {
				keep = append(keep, s)
			}
		}
		httpServers = keep
		return nil
	}
	for _, k := range strings.Split(list, ",") {
		i := slices.IndexFunc(httpServers, func(s httpServer) bool { return s.key() == strings.TrimSpace(k) })
		if i < 0 {
			return fmt.Errorf("-servers: unknown server %q (have %s)", k, strings.Join(serverKinds(), ", "))
		}
		keep = append(keep, httpServers[i])
	}
	httpServers = keep
	return nil
}

// serverProc is a running server child.
type serverProc struct {
	name      string
	addr      netip.AddrPort
	cmd       *exec.Cmd
	stderr    *lockedBuffer
	done      chan struct{} // closed when the child has exited
	stdin     io.WriteCloser
	statLines chan string  // the child's "stats ..." lines
	diagLines chan string  // its "diag ..." lines (stall.go)
	napi      *napiThreads // the server side's NAPI threads (rig.go), if any
	napiSaved *napiState   // the server link's NAPI settings before it started
}

var nextPort atomic.Int32

func init() { nextPort.Store(8000) }

// startServer starts s in bed's server namespace (ip netns exec, which
// execs in place, so the child's pid is the server's and /proc/<pid>/stat
// is its CPU time), pinned to cpu, and waits until it listens.
func startServer(bed *testbed.Bed, s httpServer, cpu int) (*serverProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr := netip.AddrPortFrom(bed.Server.IPv4, uint16(nextPort.Add(1)))
	cmd := exec.Command("ip", "netns", "exec", bed.Server.Name, exe)
	cmd.Env = append(os.Environ(),
		envServe+"="+s.kind, envAddr+"="+addr.String(), envCPU+"="+strconv.Itoa(cpu),
		envLink+"="+bed.Server.Link, "GOMAXPROCS="+strconv.Itoa(max(1, s.procs)))
	napi, err := saveNAPI(bed.Server)
	if err != nil {
		return nil, fmt.Errorf("%s: NAPI settings: %w", s.name, err)
	}
	switch {
	case strings.HasPrefix(s.kind, "sluice") && s.napi:
		cmd.Env = append(cmd.Env, envNAPIDefer+"="+napiDeferOff.String())
	case strings.HasPrefix(s.kind, "sluice"):
		cmd.Env = append(cmd.Env, envNAPIDefer+"="+napiDefer.String())
	case s.napi:
		if err := napi.set(napiDefer.orDefaults()); err != nil {
			return nil, fmt.Errorf("%s: NAPI deferral: %w", s.name, err)
		}
	}
	// Pdeathsig fires when the thread that forked the child exits; Go
	// threads live as long as the process unless a locked goroutine ends
	// without unlocking, which this package never does on the forking path.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &serverProc{name: s.name, addr: addr, cmd: cmd, stderr: &lockedBuffer{}, done: make(chan struct{}), napiSaved: napi}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	p.statLines, p.diagLines = make(chan string, 1), make(chan string, 1)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s server: %w", s.name, err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			// Servers may log to stdout (gnet does); only the ready
			// line matters.
			l := sc.Text()
			if strings.HasPrefix(l, "stats ") {
				select {
				case p.statLines <- l:
				default:
				}
			}
			if strings.HasPrefix(l, "diag ") {
				select {
				case p.diagLines <- l:
				default:
				}
			}
			if strings.HasPrefix(l, "listening ") {
				select {
				case lines <- l:
				default:
				}
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	select {
	case <-lines:
	case <-p.done:
		return nil, fmt.Errorf("%s server exited before listening: %s", s.name, p.stderr)
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s server did not listen within 10s: %s", s.name, p.stderr)
	}
	// The CPU accounting reads this pid: make sure it is the server, not
	// an ip(8) that forked it.
	if got, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid)); got != exe {
		p.stop()
		return nil, fmt.Errorf("%s server: pid %d runs %q, not %q", s.name, cmd.Process.Pid, got, exe)
	}
	return p, nil
}

// stop kills the child and waits for it. Safe to call more than once.
func (p *serverProc) stop() {
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	if err := p.napiSaved.restore(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: restoring NAPI settings: %v\n", p.name, err)
	}
}

// childStats is what the child reports about itself (serve_child.go).
type childStats struct {
	mallocs         uint64 // Go heap allocations so far
	timeWait, conns int64  // sluice's TIME-WAIT entries and connections; -1: not known
	sluiceTW
}

// sluiceTW are sluice's TIME-WAIT counters beyond the table's size (-1
// for the other servers): every connection in TIME-WAIT (the table's and
// any TCB serving it itself), connections that entered TIME-WAIT so far,
// connections closed without it at the bound (Stats.TimeWaitOverflow),
// and the bound (Info.TimeWaitMax).
type sluiceTW struct {
	twAll, twEntered, twRefused, twMax int64
}

// stats asks the child for its counts.
func (p *serverProc) stats() (childStats, error) { return p.ask("stats\n") }

// statsAfterGC has the child collect garbage and return freed memory to the
// OS first (runtime.GC, debug.FreeOSMemory): its RSS is then live memory.
func (p *serverProc) statsAfterGC() (childStats, error) { return p.ask("gc\n") }

func (p *serverProc) ask(line string) (childStats, error) {
	var cs childStats
	if _, err := io.WriteString(p.stdin, line); err != nil {
		return cs, fmt.Errorf("%s server stats: %w", p.name, err)
	}
	select {
	case l := <-p.statLines:
		_, err := fmt.Sscanf(l, "stats mallocs=%d tw=%d conns=%d twall=%d twin=%d twfull=%d twmax=%d", &cs.mallocs, &cs.timeWait, &cs.conns,
			&cs.twAll, &cs.twEntered, &cs.twRefused, &cs.twMax)
		return cs, err
	case <-p.done:
		return cs, fmt.Errorf("%s server exited: %s", p.name, p.stderr)
	case <-time.After(10 * time.Second):
		return cs, fmt.Errorf("%s server did not answer a stats request", p.name)
	}
}

// rss is the child's resident set size in bytes (VmRSS of /proc/<pid>/status).
func (p *serverProc) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", p.cmd.Process.Pid)
}

// cpuTime is the child's CPU time so far (every thread's, exited ones
// included), plus its side's NAPI threads' on the napi rig (rig.go).
func (p *serverProc) cpuTime() (time.Duration, error) {
	d, err := procCPU(p.cmd.Process.Pid)
	if err != nil || p.napi == nil {
		return d, err
	}
	n, err := p.napi.cpu()
	return d + n, err
}

// procCPU is process pid's CPU time from its process CPU-time clock
// (clock_gettime on MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)), in
// nanoseconds: /proc/<pid>/stat's utime and stime count 10 ms ticks, too
// coarse for a short window of a server that is mostly waiting.
func procCPU(pid int) (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(^pid)<<3|2, &ts); err != nil {
		return 0, fmt.Errorf("CPU clock of pid %d: %w", pid, err)
	}
	return time.Duration(ts.Nano()), nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		return len(p), nil // keep the start; a runaway child must not fill memory
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.TrimSpace(l.b.String())
}
