package main

// The child side of the HTTP servers under test. Each server runs in its own
// process (the bench binary re-executed), started by the parent inside the
// testbed's server namespace, with GOMAXPROCS=1 and every thread pinned to
// the server CPU: a per-server runtime and one core each, which one process
// hosting several servers could not give (GOMAXPROCS is per process).
//
// The hand-off is by environment, checked in init so that it works for the
// bench binary and for the test binary alike (neither parses the other's
// flags): SLUICE_BENCH_SERVE names the server, SLUICE_BENCH_ADDR the
// address to listen on, SLUICE_BENCH_CPU the core, SLUICE_BENCH_LINK the
// server's link (for servers that attach to it). The child prints
// "listening <addr>" on stdout once it accepts connections and serves until
// it is killed; it also dies with its parent (PR_SET_PDEATHSIG).

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

const (
	envServe = "SLUICE_BENCH_SERVE"
	envAddr  = "SLUICE_BENCH_ADDR"
	envCPU   = "SLUICE_BENCH_CPU"
	envLink  = "SLUICE_BENCH_LINK"
)

// serveFuncs are the servers a child can run. Each listens on addr, calls
// ready with the address it listens on, and serves until stop is closed
// (never, in a child: it serves until it is killed).
// link is the server's network interface (for a server that attaches XDP
// to it; the kernel-TCP servers ignore it).
//
// sluice's (serve_sluice.go), each over AF_XDP on link:
//
//	"sluice-httpd":    examples/httpd's server on the callback API
//	"sluice-raw":      the minimal responder on the callback API
//	"sluice-listener": net/http's Server.Serve(sluice's Listener adapter)
var serveFuncs = map[string]func(addr, link string, ready func(string), stop <-chan struct{}) error{
	"nethttp":         serveNetHTTP,
	"gnet":            serveGnet,
	"sluice-raw":      serveSluice,
	"sluice-listener": serveSluiceListener,
	"sluice-httpd":    serveSluiceHTTPD,
}

func init() {
	kind := os.Getenv(envServe)
	if kind == "" {
		return
	}
	os.Exit(serveChild(kind))
}

func serveChild(kind string) int {
	// Die with the parent even if it is SIGKILLed (the parent also sets
	// Pdeathsig; this covers a parent that did not). If the parent is
	// already gone, the check below catches it.
	unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	if os.Getppid() == 1 {
		return 1
	}
	fn, ok := serveFuncs[kind]
	if !ok {
		fmt.Fprintf(os.Stderr, "bench child: unknown server %q\n", kind)
		return 2
	}
	if s := os.Getenv(envCPU); s != "" {
		cpu, err := strconv.Atoi(s)
		if err == nil {
			err = pinProcess(cpu)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench child: pin to CPU %q: %v\n", s, err)
			return 2
		}
	}
	go answerStats(os.Stdin, os.Stdout)
	err := fn(os.Getenv(envAddr), os.Getenv(envLink), func(addr string) {
		stdoutMu.Lock()
		fmt.Printf("listening %s\n", addr)
		stdoutMu.Unlock()
	}, nil)
	fmt.Fprintf(os.Stderr, "bench child %s: %v\n", kind, err)
	return 1
}

var stdoutMu sync.Mutex

// childStatsHook, when set (by sluice's servers), adds the server's own
// counts to the stats line: TIME-WAIT entries, open connections and the
// TIME-WAIT counters.
var childStatsHook atomic.Pointer[func() (timeWait, conns int64, tw sluiceTW)]

// childDiagHook, when set (by sluice's servers), is the server's own
// counters in one line, which "diag" asks for after a run that completed
// nothing (stall.go).
var childDiagHook atomic.Pointer[func() string]

// answerStats answers each line the parent writes on stdin ("stats",
// "gc" to collect garbage and return it to the OS first, "prof <file>" to
// start a CPU profile into file, "profstop" to end it) with one
// "stats mallocs=N tw=N conns=N" line on stdout: the Go heap allocations so
// far (runtime.MemStats.Mallocs, for allocations per request) and, for
// sluice, its TIME-WAIT entries and connections (-1 when not known).
// "diag" is answered with one "diag <counters>" line instead.
func answerStats(in io.Reader, out io.Writer) {
	sc := bufio.NewScanner(in)
	var prof *os.File
	for sc.Scan() {
		l := sc.Text()
		switch {
		case l == "gc":
			runtime.GC()
			debug.FreeOSMemory()
		case strings.HasPrefix(l, "prof "): // profile.go
			f, err := os.Create(strings.TrimPrefix(l, "prof "))
			if err == nil {
				if err = pprof.StartCPUProfile(f); err != nil {
					f.Close()
				} else {
					prof = f
				}
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench child: cpu profile: %v\n", err)
			}
		case l == "diag": // stall.go
			d := "-"
			if h := childDiagHook.Load(); h != nil {
				d = (*h)()
			}
			stdoutMu.Lock()
			fmt.Fprintf(out, "diag %s\n", d)
			stdoutMu.Unlock()
			continue
		case l == "profstop" && prof != nil:
			pprof.StopCPUProfile()
			prof.Close()
			prof = nil
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		tw, conns, s := int64(-1), int64(-1), sluiceTW{-1, -1, -1, -1}
		// Only stats requests read the server's counters: sluice's Stats
		// walks every connection on its loop (with 800k TIME-WAIT TCBs
		// that stalled it for a second), which a profile's start and
		// stop must not do.
		if h := childStatsHook.Load(); h != nil && (l == "stats" || l == "gc") {
			tw, conns, s = (*h)()
		}
		stdoutMu.Lock()
		fmt.Fprintf(out, "stats mallocs=%d tw=%d conns=%d twall=%d twin=%d twfull=%d twmax=%d\n", ms.Mallocs, tw, conns,
			s.twAll, s.twEntered, s.twRefused, s.twMax)
		stdoutMu.Unlock()
	}
}

// pinProcess binds every thread of this process to one CPU. Threads made
// later are cloned from pinned threads and inherit the mask; the passes
// catch a thread being made while the first one ran.
func pinProcess(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	for range 3 {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return err
			}
		}
	}
	return nil
}

// The response every server sends, byte for byte the same: net/http's
// output for this handler (Date suppressed), which gnet's responder
// reproduces. Requests that ask to close get "Connection: close" and the
// server closes after the response (RFC 9112 section 9.6).
const helloBody = "Hello, World!"

var (
	helloResp      = []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\n" + helloBody)
	helloRespClose = []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" + helloBody)
	hdrLength      = []string{"13"}
	hdrType        = []string{"text/plain"}
)

func serveNetHTTP(addr, _ string, ready func(string), stop <-chan struct{}) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return serveHTTPOn(ln, ready, stop)
}

// serveHTTPOn serves the responses with net/http on ln: on a kernel
// listener (net/http) and on sluice's Listener adapter alike.
func serveHTTPOn(ln net.Listener, ready func(string), stop <-chan struct{}) error {
	bodies := map[string][]byte{"/": []byte(helloBody)}
	lengths := map[string][]string{"/": hdrLength}
	for _, n := range responseSizes {
		bodies[sizePath(n)] = bytes.Repeat([]byte("x"), n)
		lengths[sizePath(n)] = []string{strconv.Itoa(n)}
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if bodies[p] == nil {
			p = "/"
		}
		h := w.Header()
		h["Date"] = nil // suppressed: the other servers send none
		h["Content-Length"] = lengths[p]
		h["Content-Type"] = hdrType
		w.Write(bodies[p])
	})}
	if stop != nil {
		go func() {
			<-stop
			srv.Close()
		}()
	}
	ready(ln.Addr().String())
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// gnetHello is a minimal HTTP/1.1 keep-alive responder on gnet v2: it
// answers every complete request head in the buffer (GET, no body) and
// closes after a request that asks to. It is what a gnet user writes for
// this benchmark (as in TechEmpower's gnet entry), not an HTTP server.
type gnetHello struct {
	gnet.BuiltinEventEngine
	addr  string
	ready func(string)
}

func (s *gnetHello) OnBoot(gnet.Engine) gnet.Action {
	s.ready(s.addr)
	return gnet.None
}

func (s *gnetHello) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Peek(-1)
	used, closeAfter := respondAll(buf, func(b []byte) { c.Write(b) })
	c.Discard(used)
	if closeAfter {
		return gnet.Close // gnet flushes the response before closing
	}
	if c.InboundBuffered() > 8<<10 {
		return gnet.Close // a head this long is not one of ours
	}
	return gnet.None
}

func serveGnet(addr, _ string, ready func(string), stop <-chan struct{}) error {
	if stop != nil {
		go func() {
			<-stop
			// gnet.Stop needs the engine running: retry until it is
			// (bounded: Run may have failed and never start it).
			for range 500 {
				if gnet.Stop(context.Background(), "tcp://"+addr) == nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	return gnet.Run(&gnetHello{addr: addr, ready: ready}, "tcp://"+addr,
		gnet.WithMulticore(false), gnet.WithNumEventLoop(1),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay), gnet.WithLogger(gnetLog{}))
}

// gnetLog passes gnet's warnings and errors to stderr and drops its chatter
// (it announces itself on stdout, where the child's ready line goes).
type gnetLog struct{}

func (gnetLog) Debugf(string, ...any) {}
func (gnetLog) Infof(string, ...any)  {}
func (gnetLog) Warnf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+f+"\n", a...)
}
func (gnetLog) Errorf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+f+"\n", a...)
}
func (gnetLog) Fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+f+"\n", a...)
	os.Exit(1)
}

// wantsClose reports whether a request head asks the server to close after
// the response: "Connection: close", or HTTP/1.0 without keep-alive
// (RFC 9112 section 9.3).
func wantsClose(head []byte) bool {
	nl := bytes.Index(head, []byte("\r\n"))
	if nl < 0 {
		return true
	}
	http10 := bytes.HasSuffix(head[:nl], []byte("HTTP/1.0"))
	for rest := head[nl+2:]; len(rest) > 0; {
		nl := bytes.Index(rest, []byte("\r\n"))
		if nl < 0 {
			break
		}
		line := rest[:nl]
		rest = rest[nl+2:]
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(name), []byte("connection")) {
			continue
		}
		for more := true; more; {
			var tok []byte
			tok, value, more = bytes.Cut(value, []byte(",")) // no slice of tokens per request
			tok = bytes.TrimSpace(tok)
			if bytes.EqualFold(tok, []byte("close")) {
				return true
			}
			if bytes.EqualFold(tok, []byte("keep-alive")) {
				http10 = false
			}
		}
	}
	return http10
}
