// Package loadgen is sluice's HTTP/1.1 load generator: epoll on non-blocking
// kernel sockets, one thread per call to Run, many connections per thread,
// no pipelining (one request in flight per connection). It verifies every
// response's status and Content-Length and counts what fails. Optionally
// it busy-polls its device (busypoll.go) and batches its receives and
// sends through io_uring (uring_unsafe.go).
//
// Run occupies the calling goroutine's OS thread (it locks it) and opens its
// sockets from that thread, so a caller that entered a network namespace and
// pinned the thread to a CPU (testbed.Host.Do plus sched_setaffinity) gets a
// generator in that namespace on that CPU. More threads: more calls to Run,
// each on its own thread, and Merge of the results.
package loadgen

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

// Mode says how requests are sent.
type Mode int

const (
	// KeepAlive is closed-loop maximum throughput: each connection sends its
	// next request as soon as the previous response is complete.
	KeepAlive Mode = iota
	// Close sends one "Connection: close" request per connection; the server
	// answers and closes (so TIME-WAIT stays on the server, RFC 9293
	// section 3.6), the generator reads the end of stream, closes and opens
	// the next connection. Latency runs from connect() to the response.
	Close
	// Rate is open-loop keep-alive at Config.Rate requests/s, latency
	// measured from each request's intended send time (see schedule.go).
	Rate
)

func (m Mode) String() string {
	switch m {
	case KeepAlive:
		return "keep-alive"
	case Close:
		return "close"
	case Rate:
		return "rate"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Config describes one run of one generator thread.
type Config struct {
	Addr  netip.AddrPort
	Mode  Mode
	Conns int     // connections kept open (Close: connections in progress at once)
	Rate  float64 // Rate mode: requests/s for this thread

	// The run starts at Begin (zero: now), warms up for Warmup, then
	// measures for Duration. Threads given the same Begin measure the same
	// window, which the caller can match with its own measurements.
	Begin    time.Time
	Warmup   time.Duration
	Duration time.Duration

	Path       string // default "/"
	WantStatus int    // default 200
	WantLength int64  // expected Content-Length; -1 accepts any

	// BusyPoll: epoll busy polling (busypoll.go); the zero value is off.
	BusyPoll BusyPoll
	// URing (KeepAlive mode): the receives of the connections one
	// epoll_wait reports ready, and the requests they let go out, are
	// each submitted with one io_uring_enter (uring_unsafe.go) instead
	// of a system call per connection. Run fails with ErrNoURing where
	// the kernel has none.
	URing bool
}

// Error kinds, indexes into Result.Errors.
const (
	ErrConnect   = iota // connect failed
	ErrStatus           // status other than WantStatus
	ErrLength           // Content-Length other than WantLength
	ErrMalformed        // response head did not parse
	ErrEOF              // end of stream or reset with a response outstanding
	ErrExtra            // bytes after a response that said Connection: close, or unasked for
	NumErrKinds
)

var errKindNames = [NumErrKinds]string{"connect", "status", "length", "malformed", "eof", "extra"}

// Result is what a run measured. Requests, Connects and Latency cover the
// measured window; Errors cover the whole run, warm-up included.
type Result struct {
	Requests uint64 // responses that passed the checks
	Connects uint64 // connections established
	Errors   [NumErrKinds]uint64
	Elapsed  time.Duration
	Latency  *hdrhistogram.Histogram // ns
	// SendLag (Rate mode) is the generator's own delay, ns: how long after
	// a request was due and a connection was free for it the request went
	// out. Large values mean the generator (not the server) added latency:
	// its thread did not get the CPU in time.
	SendLag *hdrhistogram.Histogram
	// CPU is the generator thread's own CPU time (user + system) over the
	// measured window: near Elapsed means the generator, not the server,
	// was the limit.
	CPU time.Duration
	// Waited is how long over the measured window the generator thread
	// was runnable but not running (schedstat's run delay): on a shared
	// machine, the time other threads kept it off its CPU. Near Elapsed,
	// the generator hardly ran and its figures say nothing of the server.
	Waited time.Duration
	// Missed: the generator's thread saw no moment inside the measured
	// window (it last looked at the clock before the window opened and
	// next after it closed), so it could count nothing in it. CPU and
	// Waited then cover the whole run.
	Missed bool
	// Behind (Rate mode) is how many requests were due by the end of the
	// window but never sent because every connection was busy: the
	// offered rate was not reached.
	Behind uint64
	// Stuck is what was outstanding when the run ended: a run that
	// completed few or no requests says why (the server never answered
	// the SYNs, or answered the connection but not the request).
	Stuck Stuck
}

// Stuck counts the connections with something outstanding at the end of a
// run, and how long the oldest of them had waited.
type Stuck struct {
	// Connecting: connect() not complete (no SYN-ACK yet: the kernel
	// retransmits the SYN after 1 s, then 3 s, ... RFC 6298 section 5.7).
	Connecting int
	// Awaiting: a request written (or being written), its response not
	// complete.
	Awaiting int
	// Oldest is the longest any of them had waited.
	Oldest time.Duration
}

// String is "" when nothing was outstanding, else e.g. "at the end, as
// the generator last saw them: 64 connecting, 0 awaiting a response
// (oldest 700ms)". A generator kept off its CPU sees late: the kernel may
// have completed a handshake whose event it never read.
func (s Stuck) String() string {
	if s.Connecting+s.Awaiting == 0 {
		return ""
	}
	return fmt.Sprintf("at the end, as the generator last saw them: %d connecting, %d awaiting a response (oldest %v)",
		s.Connecting, s.Awaiting, s.Oldest.Round(time.Millisecond))
}

func newResult() *Result {
	return &Result{Latency: hdrhistogram.New(1, maxLatency, 3), SendLag: hdrhistogram.New(1, maxLatency, 3)}
}

const maxLatency = int64(60 * time.Second)

// ErrorCount is the number of errors of every kind.
func (r *Result) ErrorCount() uint64 {
	var n uint64
	for _, e := range r.Errors {
		n += e
	}
	return n
}

// ErrorString lists the non-zero error kinds ("eof=3 status=1"), or "".
func (r *Result) ErrorString() string {
	var parts []string
	for k, n := range r.Errors {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", errKindNames[k], n))
		}
	}
	return strings.Join(parts, " ")
}

// PerSecond is n over the measured window.
func (r *Result) PerSecond(n uint64) float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(n) / r.Elapsed.Seconds()
}

// Merge adds o (another thread, same window) into r.
func (r *Result) Merge(o *Result) {
	r.Requests += o.Requests
	r.Connects += o.Connects
	for k := range r.Errors {
		r.Errors[k] += o.Errors[k]
	}
	r.Behind += o.Behind
	r.Stuck.Connecting += o.Stuck.Connecting
	r.Stuck.Awaiting += o.Stuck.Awaiting
	r.Stuck.Oldest = max(r.Stuck.Oldest, o.Stuck.Oldest)
	r.CPU += o.CPU
	r.Waited = max(r.Waited, o.Waited)
	r.Missed = r.Missed || o.Missed
	r.Elapsed = max(r.Elapsed, o.Elapsed)
	r.Latency.Merge(o.Latency)
	r.SendLag.Merge(o.SendLag)
}

// connection states
const (
	stClosed     = iota // waiting to be (re)opened
	stConnecting        // connect() in progress
	stSending           // request partly written
	stAwait             // request sent, response outstanding
	stIdle              // Rate mode: connected, waiting for the schedule
	stDrain             // Close mode: response complete, waiting for the end of stream
)

type conn struct {
	fd       int
	state    uint8
	wantOut  bool  // EPOLLOUT registered for a partial write
	srvClose bool  // the response being read said Connection: close
	wOff     int   // bytes of the request written
	n        int   // bytes in buf
	body     int64 // body bytes still to skip; -1 while reading a head
	from     int64 // latency origin, ns since the run's base
	idleAt   int64 // Rate mode: when the connection became free
	buf      []byte
}

type gen struct {
	cfg          Config
	req          []byte
	sa           unix.Sockaddr
	family       int
	epfd         int
	conns        []conn
	idle         []int32 // Rate mode: connected conns waiting for the schedule
	reopen       []int32
	base         time.Time
	t0, t1       int64 // measured window, ns since base
	now          int64
	sched        schedule
	lastDispatch int64 // Rate mode: when dispatch last ran
	started      bool  // the measured window has begun
	cpu0, wait0  time.Duration
	res          *Result
	ring         *uring // cfg.URing
	ringErr      error
}

// Run runs one generator thread on the calling goroutine's OS thread until
// the end of the measured window and returns what it measured. It fails
// only when it cannot run (bad config, no epoll); what the server does
// wrong is counted in Result.Errors.
func Run(cfg Config) (*Result, error) {
	if cfg.Conns <= 0 || cfg.Duration <= 0 || !cfg.Addr.IsValid() {
		return nil, errors.New("loadgen: need Conns > 0, Duration > 0 and an address")
	}
	if cfg.Mode == Rate && cfg.Rate <= 0 {
		return nil, errors.New("loadgen: Rate mode needs Rate > 0")
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	if cfg.WantStatus == 0 {
		cfg.WantStatus = 200
	}
	if cfg.Begin.IsZero() {
		cfg.Begin = time.Now()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Sleeps until the next intended send must not oversleep by the
	// default 50 µs timer slack.
	oldSlack, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	if oldSlack > 0 {
		defer unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(oldSlack), 0, 0, 0)
	}

	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("loadgen: epoll: %w", err)
	}
	defer unix.Close(epfd)
	if err := setBusyPoll(epfd, cfg.BusyPoll); err != nil {
		return nil, err
	}
	g := &gen{cfg: cfg, epfd: epfd, res: newResult(), base: time.Now(), cpu0: threadCPU(), wait0: threadWait()}
	g.req = buildRequest(cfg)
	ip := cfg.Addr.Addr().Unmap()
	if ip.Is4() {
		g.family, g.sa = unix.AF_INET, &unix.SockaddrInet4{Port: int(cfg.Addr.Port()), Addr: ip.As4()}
	} else {
		g.family, g.sa = unix.AF_INET6, &unix.SockaddrInet6{Port: int(cfg.Addr.Port()), Addr: ip.As16()}
	}
	g.t0 = int64(cfg.Begin.Add(cfg.Warmup).Sub(g.base))
	g.t1 = g.t0 + int64(cfg.Duration)
	if cfg.Mode == Rate {
		g.sched = newSchedule(int64(cfg.Begin.Sub(g.base)), cfg.Rate)
	}
	g.conns = make([]conn, cfg.Conns)
	for i := range g.conns {
		g.conns[i] = conn{fd: -1, buf: make([]byte, 16<<10)}
		g.reopen = append(g.reopen, int32(i))
	}
	defer g.closeAll()
	if cfg.URing && cfg.Mode == KeepAlive {
		if g.ring, err = newURing(uint32(min(4096, 2*max(256, cfg.Conns)))); err != nil {
			return nil, err
		}
		defer g.ring.close()
		g.ring.pin.Pin(&g.req[0])
		for i := range g.conns {
			g.ring.pin.Pin(&g.conns[i].buf[0])
		}
	}
	g.loop()
	if g.ringErr != nil {
		return nil, g.ringErr
	}
	g.markWindow()
	g.res.Stuck = g.stuck()
	g.res.Elapsed = time.Duration(g.t1 - g.t0)
	g.res.CPU = threadCPU() - g.cpu0
	g.res.Waited = threadWait() - g.wait0
	if cfg.Mode == Rate {
		// What was due at the last chance to send and could not go
		// out (a request falling due as the window closes is not
		// "behind").
		g.res.Behind = g.sched.behind(g.lastDispatch)
	}
	return g.res, nil
}

func buildRequest(cfg Config) []byte {
	s := "GET " + cfg.Path + " HTTP/1.1\r\nHost: " + cfg.Addr.String() + "\r\n"
	if cfg.Mode == Close {
		s += "Connection: close\r\n"
	}
	return []byte(s + "\r\n")
}

func (g *gen) clock() int64 {
	g.now = int64(time.Since(g.base))
	return g.now
}

func (g *gen) measuring() bool { return g.now >= g.t0 && g.now < g.t1 }

func (g *gen) loop() {
	events := make([]unix.EpollEvent, 256)
	for g.clock() < g.t1 && g.ringErr == nil {
		g.markWindow()
		if len(g.reopen) > 0 {
			pending := g.reopen
			g.reopen = nil
			for _, i := range pending {
				g.open(i)
			}
		}
		if g.cfg.Mode == Rate {
			g.dispatch()
		}
		timeout := g.t1 - g.now
		if g.now < g.t0 {
			timeout = g.t0 - g.now // wake to start the window on time
		}
		if g.cfg.Mode == Rate && len(g.idle) > 0 {
			timeout = min(timeout, g.sched.wait(g.now))
		}
		if len(g.reopen) > 0 {
			timeout = min(timeout, int64(time.Millisecond)) // back off failed connects
		}
		n, err := epollWaitNs(g.epfd, events, timeout)
		if err != nil {
			continue // EINTR
		}
		g.clock()
		g.markWindow()
		for _, ev := range events[:n] {
			g.event(ev.Fd, ev.Events)
		}
		g.flush()
	}
}

// markWindow takes the thread's CPU time and run-queue wait at the first
// look at the clock inside the measured window. A first look past the
// window's end means the thread had no turn inside it (Result.Missed): the
// run's start stays the baseline.
func (g *gen) markWindow() {
	if g.started || g.now < g.t0 {
		return
	}
	g.started = true
	if g.now >= g.t1 {
		g.res.Missed = true
		return
	}
	g.cpu0, g.wait0 = threadCPU(), threadWait()
}

// dispatch sends every due request that has a free connection; the others
// wait, their latency counting from their intended time.
func (g *gen) dispatch() {
	g.lastDispatch = g.now
	for len(g.idle) > 0 {
		t, ok := g.sched.next(g.now)
		if !ok {
			return
		}
		i := g.idle[len(g.idle)-1]
		g.idle = g.idle[:len(g.idle)-1]
		c := &g.conns[i]
		c.from = t
		if g.measuring() {
			g.res.SendLag.RecordValue(min(latency(g.now, max(t, c.idleAt)), maxLatency))
		}
		g.send(i)
	}
}

func (g *gen) open(i int32) {
	c := &g.conns[i]
	fd, err := unix.Socket(g.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		g.res.Errors[ErrConnect]++
		g.reopen = append(g.reopen, i)
		return
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	*c = conn{fd: fd, state: stConnecting, body: -1, buf: c.buf, from: g.now}
	if err := unix.Connect(fd, g.sa); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		c.fd, c.state = -1, stClosed
		g.res.Errors[ErrConnect]++
		g.reopen = append(g.reopen, i)
		return
	}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT, Fd: i}
	if err := unix.EpollCtl(g.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		g.fail(i, ErrConnect)
	}
}

func (g *gen) event(i int32, ev uint32) {
	c := &g.conns[i]
	switch c.state {
	case stClosed:
		return
	case stConnecting:
		if ev&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			g.fail(i, ErrConnect)
			return
		}
		if ev&unix.EPOLLOUT != 0 {
			g.connected(i)
		}
		return
	case stSending:
		if ev&unix.EPOLLOUT != 0 {
			g.write(i)
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) != 0 && c.state != stClosed {
		if g.ring != nil && g.ring.space() > 0 {
			g.ring.prep(ioringOpRecv, c.fd, c.buf[c.n:], unix.MSG_DONTWAIT, opRecv|uint64(i))
			return
		}
		g.read(i)
	}
}

func (g *gen) connected(i int32) {
	c := &g.conns[i]
	if g.measuring() {
		g.res.Connects++
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: i}
	if unix.EpollCtl(g.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev) != nil {
		g.fail(i, ErrConnect)
		return
	}
	switch g.cfg.Mode {
	case KeepAlive:
		c.from = g.now
		g.send(i)
	case Close:
		g.send(i) // latency from connect(): c.from was set in open
	case Rate:
		c.state, c.idleAt = stIdle, g.now
		g.idle = append(g.idle, i)
	}
}

func (g *gen) send(i int32) {
	c := &g.conns[i]
	c.state, c.wOff = stSending, 0
	if g.ring != nil && g.ring.space() > 0 {
		g.ring.prep(ioringOpSend, c.fd, g.req, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, opSend|uint64(i))
		return
	}
	g.write(i)
}

func (g *gen) write(i int32) {
	c := &g.conns[i]
	for c.wOff < len(g.req) {
		n, err := send(c.fd, g.req[c.wOff:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			if !c.wantOut {
				c.wantOut = true
				ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT, Fd: i}
				unix.EpollCtl(g.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev)
			}
			return
		}
		if err != nil {
			g.fail(i, ErrEOF)
			return
		}
		c.wOff += n
	}
	c.state = stAwait
	if c.wantOut {
		c.wantOut = false
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: i}
		unix.EpollCtl(g.epfd, unix.EPOLL_CTL_MOD, c.fd, &ev)
	}
}

func (g *gen) read(i int32) {
	c := &g.conns[i]
	for {
		space := len(c.buf) - c.n
		n, err := recv(c.fd, c.buf[c.n:])
		switch {
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR:
			continue
		case err != nil || n == 0:
			g.eof(i)
			return
		}
		c.n += n
		if !g.consume(i) || n < space {
			// Closed, or a short read: the socket is drained for now
			// (level-triggered epoll says when there is more).
			return
		}
	}
}

// consume handles the bytes in c.buf: skips bodies, parses heads, completes
// responses. It reports whether the connection is still open.
func (g *gen) consume(i int32) bool {
	c := &g.conns[i]
	for c.n > 0 {
		if c.state != stAwait && c.state != stSending {
			g.fail(i, ErrExtra) // nothing was asked
			return false
		}
		if c.body < 0 {
			h, err := ParseHead(c.buf[:c.n])
			if err != nil {
				g.fail(i, ErrMalformed)
				return false
			}
			if h.Len == 0 {
				return true
			}
			if h.Status != g.cfg.WantStatus {
				g.fail(i, ErrStatus)
				return false
			}
			if g.cfg.WantLength >= 0 && h.ContentLength != g.cfg.WantLength {
				g.fail(i, ErrLength)
				return false
			}
			c.body, c.srvClose = h.ContentLength, h.Close
			g.shift(c, h.Len)
		}
		k := int(min(c.body, int64(c.n)))
		g.shift(c, k)
		c.body -= int64(k)
		if c.body > 0 {
			return true
		}
		c.body = -1
		if !g.complete(i) {
			return false
		}
	}
	return true
}

func (g *gen) shift(c *conn, k int) {
	copy(c.buf, c.buf[k:c.n])
	c.n -= k
}

// complete records a finished response and starts what comes next.
func (g *gen) complete(i int32) bool {
	c := &g.conns[i]
	if g.measuring() {
		g.res.Requests++
		g.res.Latency.RecordValue(min(latency(g.now, c.from), maxLatency))
	}
	switch {
	case g.cfg.Mode == Close || c.srvClose:
		if c.n > 0 {
			g.fail(i, ErrExtra)
			return false
		}
		c.state = stDrain
		return true
	case g.cfg.Mode == KeepAlive:
		c.from = g.now
		g.send(i)
	default:
		c.state, c.idleAt = stIdle, g.now
		g.idle = append(g.idle, i)
	}
	return c.state != stClosed
}

// eof handles the end of stream (or a reset): expected after a
// Connection: close response, an error otherwise.
func (g *gen) eof(i int32) {
	c := &g.conns[i]
	if c.state == stDrain && c.n == 0 {
		g.drop(i)
		g.reopen = append(g.reopen, i)
		return
	}
	g.fail(i, ErrEOF)
}

func (g *gen) fail(i int32, kind int) {
	g.res.Errors[kind]++
	g.drop(i)
	g.reopen = append(g.reopen, i)
}

// drop closes the connection's socket (which also leaves the epoll set).
func (g *gen) drop(i int32) {
	c := &g.conns[i]
	if c.state == stIdle {
		for k, j := range g.idle {
			if j == i {
				g.idle = append(g.idle[:k], g.idle[k+1:]...)
				break
			}
		}
	}
	if c.fd >= 0 {
		unix.Close(c.fd)
	}
	c.fd, c.state, c.n, c.body, c.wantOut = -1, stClosed, 0, -1, false
}

// stuck counts the connections with a connect or a response outstanding.
// c.from is when the connect or the request started (keep-alive and
// close); in Rate mode it is the request's intended send time, which is
// what its latency counts from too.
func (g *gen) stuck() Stuck {
	var s Stuck
	for i := range g.conns {
		c := &g.conns[i]
		switch c.state {
		case stConnecting:
			s.Connecting++
		case stSending, stAwait:
			s.Awaiting++
		default:
			continue
		}
		s.Oldest = max(s.Oldest, time.Duration(g.now-c.from))
	}
	return s
}

func (g *gen) closeAll() {
	for i := range g.conns {
		if g.conns[i].fd >= 0 {
			unix.Close(g.conns[i].fd)
			g.conns[i].fd = -1
		}
	}
}

// threadWait is how long the calling thread has waited on a run queue:
// the second field of /proc/thread-self/schedstat (0 if it cannot be
// read: a kernel without schedstats).
func threadWait() time.Duration {
	var b [64]byte
	fd, err := unix.Open("/proc/thread-self/schedstat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(fd)
	n, _ := unix.Read(fd, b[:])
	f := strings.Fields(string(b[:max(n, 0)]))
	if len(f) < 2 {
		return 0
	}
	ns, _ := strconv.ParseInt(f[1], 10, 64)
	return time.Duration(ns)
}

// threadCPU is the calling thread's CPU time (user + system).
func threadCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_THREAD, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
