package sluice

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/afxdp"
	"github.com/sluicenet/sluice/bpf"
	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/tcp"
	bufchunk "github.com/sluicenet/sluice/tcp/chunk"
)

// ZeroCopy says how the AF_XDP sockets move frames between the driver and
// the packet buffers (UMEM).
type ZeroCopy int

const (
	// ZeroCopyAuto asks the kernel for zero-copy and falls back to copy
	// mode when the driver cannot do it (veth, most virtual devices).
	ZeroCopyAuto ZeroCopy = iota
	// ZeroCopyRequire fails Start when the driver cannot bind zero-copy.
	ZeroCopyRequire
	// ZeroCopyOff always binds in copy mode: the kernel copies each frame
	// (works on every device; costs a copy per frame).
	ZeroCopyOff
)

func (z ZeroCopy) String() string {
	switch z {
	case ZeroCopyAuto:
		return "auto"
	case ZeroCopyRequire:
		return "require"
	case ZeroCopyOff:
		return "off"
	}
	return "ZeroCopy(" + strconv.Itoa(int(z)) + ")"
}

// XDPMode says how the steering program is attached to the device.
type XDPMode int

const (
	// XDPAuto attaches in driver (native) mode and falls back to generic.
	XDPAuto XDPMode = iota
	// XDPDriver requires driver mode (fails Start on a driver without it).
	XDPDriver
	// XDPGeneric forces generic (skb) mode: slower, works on any device.
	XDPGeneric
)

func (m XDPMode) String() string {
	switch m {
	case XDPAuto:
		return "auto"
	case XDPDriver:
		return "driver"
	case XDPGeneric:
		return "generic"
	}
	return "XDPMode(" + strconv.Itoa(int(m)) + ")"
}

// Config describes a server. The zero value of every field but Interface
// and Listen takes the default given in brackets, so a Config names only
// what it changes. Validate checks it without touching the system;
// Start checks the system (privileges, device, addresses, queues, MTU).
type Config struct {
	// Interface is the network device to serve on, e.g. "eth0". Required.
	Interface string
	// Netns is the named network namespace (as `ip netns` names it, in
	// /var/run/netns) the interface lives in; "" is the process's own.
	Netns string
	// Listen are the addresses to accept connections on, as net.Listen
	// takes them: "198.18.0.1:8080", "[2001:2::1]:8080", or ":8080" for
	// every address of the interface in both families. Empty: the server
	// only dials (Server.Dial).
	Listen []string

	// Loops is the number of event loops, one per NIC RX queue
	// (0..Loops-1) and one OS thread each [the device's RX queue count].
	Loops int
	// Cores pins loop i to CPU Cores[i % len(Cores)] [loop i on CPU
	// i % NumCPU]; []int{-1} leaves the loops unpinned.
	Cores []int
	// ZeroCopy chooses the AF_XDP bind mode [ZeroCopyAuto].
	ZeroCopy ZeroCopy
	// XDPMode chooses how the steering program attaches [XDPAuto].
	XDPMode XDPMode
	// XDPDispatcher attaches the steering program as one component of a
	// libxdp multi-program dispatcher (version 2, as xdp-loader loads),
	// so other XDP programs keep running on the device; XDPRunPriority is
	// its place among them (lower runs first; 0: 50). Needs a kernel that
	// allows BPF trampolines (freplace). Off: sluice owns the device's
	// XDP hook, and refuses to start over a program it did not load.
	XDPDispatcher  bool
	XDPRunPriority int
	// FrameSize is the UMEM frame size in bytes, 2048 or 4096 [4096]. A
	// full-MTU frame must fit in one (MTU + 14 octets of Ethernet header
	// <= FrameSize - 256 of kernel headroom).
	FrameSize int
	// FrameCount is the number of UMEM frames per loop, a power of two
	// [4096].
	FrameCount int

	// ReadBuffer and WriteBuffer are each connection's TCP receive and
	// send buffers in octets at the start [64 KiB each]. The receive
	// buffer bounds the advertised window.
	ReadBuffer, WriteBuffer int
	// ReadBufferMax and WriteBufferMax bound buffer auto-tuning: a
	// connection's receive buffer doubles, up to ReadBufferMax, when the
	// application drains more than half of it per RTT (Linux's dynamic
	// right-sizing), and its send buffer when the congestion and peer
	// windows could carry more than half of it (tcp_sndbuf_expand), so a
	// transfer over a long path is not held to one starting buffer per
	// RTT. Buffers hold memory only for the text in them, and none grows
	// under memory pressure (MemoryLimit). [0: 6 MiB and 4 MiB, Linux's
	// tcp_rmem and tcp_wmem maxima; negative: no auto-tuning.]
	ReadBufferMax, WriteBufferMax int
	// MemoryLimit bounds the memory of all connections' send and receive
	// buffers together, in octets (Linux tcp_mem's high level). Buffers
	// hold memory only while they hold text, in 4 KiB chunks. Past two
	// thirds of the limit the server is under pressure until it falls
	// below half: buffers stop growing, windows shrink toward what a
	// connection already holds (never moving their right edge left) and
	// out-of-order text may be dropped. At the limit new chunks are
	// refused, except that a connection holding none always gets one
	// each way, so every connection still progresses and none is reset.
	// [0: half of GOMEMLIMIT when one is set, else 3/32 of the machine's
	// memory (Linux's tcp_mem default); negative: no limit.]
	MemoryLimit int64
	// WriteQueueLimit bounds what Conn.Write holds beyond the send buffer
	// when the peer reads slowly: a Write that would pass it fails with
	// ErrWriteQueueFull and nothing is queued [4 MiB].
	WriteQueueLimit int

	// MSL is the maximum segment lifetime; TIME-WAIT lasts 2*MSL
	// (RFC 9293 §3.4.2) [30s, as Linux].
	MSL time.Duration
	// TimeWaitMax bounds the server's TIME-WAIT entries, as Linux's
	// net.ipv4.tcp_max_tw_buckets bounds its TIME-WAIT sockets. A
	// connection this side closed first waits 2*MSL in its loop's
	// compact table (48 octets an entry, its TCB freed at once); each
	// loop takes its share (TimeWaitMax/Loops, rounded up). Past it the
	// connection closes without TIME-WAIT, counted in
	// Stats.TimeWaitOverflow (Linux's TCPTimeWaitOverflow): the entries
	// already held keep their protection; one not kept cannot ACK a
	// retransmitted final FIN (if this side's last ACK was lost, the
	// peer's retransmission is reset) nor keep old duplicates from a new
	// incarnation of the 4-tuple.
	// [0: the serving namespace's tcp_max_tw_buckets, which Linux sizes
	// from memory, so sluice holds what a kernel server on the host
	// would; 262144 when it cannot be read. Stated in a start-up log line.]
	TimeWaitMax int
	// KeepAlive configures keep-alive probes (RFC 9293 §3.8.4) for every
	// connection. Probes are off unless KeepAlive.Enable; when enabled,
	// zero Idle, Interval and Count take 15s, 15s and 9 (Go's net
	// defaults); a negative value is invalid.
	KeepAlive net.KeepAliveConfig
	// Nagle turns Nagle's algorithm (RFC 9293 §3.7.4) on. It is off by
	// default, as Go's net package leaves TCP_NODELAY set.
	Nagle bool
	// Backlog bounds each listener's accept queue of connections whose
	// handshake completed [128].
	Backlog int
	// SynBacklog bounds half-open connections per listener [512].
	SynBacklog int
	// NoSynCookies turns off SYN cookies (RFC 4987): when the SYN queue
	// is full, further SYNs are then dropped rather than answered
	// statelessly. Cookies are on by default, as Linux tcp_syncookies=1.
	NoSynCookies bool
	// Congestion names the congestion control: "cubic" (RFC 9438, as
	// Linux), "newreno" ("reno"; RFC 5681 and RFC 6582) or "bbr" (BBR v1
	// as Linux ships it, paced) [cubic].
	Congestion string
	// Pacing spreads each CUBIC or NewReno window over the round trip
	// instead of sending it in bursts (Linux paces only under the fq
	// qdisc): 2x cwnd/SRTT in slow start, 1.2x after. BBR always paces.
	Pacing bool
	// MaxConns bounds the open connections of the server (0: no limit).
	// Each loop takes its share (MaxConns/Loops, rounded up): at it, a
	// SYN is dropped unanswered, as Linux does when a listener's queues
	// overflow, so the client retries with backoff and gets in once
	// connections close. A connection that would still pass MaxConns
	// (the loops' shares are uneven) is reset as its handshake completes.
	MaxConns int
	// ShutdownTimeout bounds the graceful shutdown that Serve starts when
	// its context ends or a callback returns Shutdown: connections still
	// open after it are reset [5s].
	ShutdownTimeout time.Duration
	// BusyPoll is how long an idle loop may keep polling before it
	// sleeps [50µs]; negative sleeps at once. A loop spins only while
	// its spins pay: they found frames within a few µs and were not
	// preempted (the receive work on the loop's own core); otherwise it
	// sleeps at once and tries a spin again now and then, since a spin's
	// time is CPU the server spends.
	BusyPoll time.Duration
	// SocketBusyPoll has each AF_XDP socket's system calls run the
	// device queue's NAPI poll themselves, for up to this long
	// (SO_BUSY_POLL with SO_PREFER_BUSY_POLL, as the kernel's AF_XDP
	// busy-poll mode): the loop's core does the driver's receive work
	// instead of an interrupt or NAPI thread, and the loop makes one
	// such call per iteration [0: off]. The kernel gives a socket a
	// NAPI instance to poll only when it binds in zero-copy mode
	// (Linux 6.18, net/xdp/xsk.c xsk_bind); in copy mode (veth, drivers
	// without zero-copy) it polls nothing and the loop skips the calls.
	// NAPIDeferHardIRQs keeps the interrupt off while the loops poll.
	SocketBusyPoll time.Duration
	// NAPIDeferHardIRQs and NAPIFlushTimeout: Start sets the
	// defer-hard-irqs and gro-flush-timeout of the device's NAPI
	// instances (netdev napi-set, Linux >= 6.13) to these, and Close
	// restores what they were: software interrupt coalescing
	// (Documentation/networking/napi.rst). A NAPI poll that found work
	// then re-arms a timer of NAPIFlushTimeout instead of re-enabling
	// the device's interrupt (on veth: the peer's transmit no longer
	// wakes the NAPI thread per frame), and the interrupt comes back
	// after NAPIDeferHardIRQs polls in a row find nothing. The receive
	// work runs in batches, once per timer tick under load; the first
	// frame after an idle spell waits up to NAPIFlushTimeout. It is the
	// device's setting: the kernel's own traffic on the device is
	// coalesced the same way while the server runs, and two servers on
	// one device should not both set it. On the bench's fair rig it
	// cut sluice's CPU per keep-alive request by 35-45%
	// (bench/README.md) [DefaultNAPIDeferHardIRQs,
	// DefaultNAPIFlushTimeout; where the kernel or the device cannot
	// take the default, Start logs a warning and runs without]. -1
	// leaves the device alone; a value set explicitly that cannot be
	// applied fails Start.
	NAPIDeferHardIRQs int
	NAPIFlushTimeout  time.Duration

	// Logger receives start-up and shutdown records (Info) and problems
	// (Warn/Error). Nil discards them.
	Logger *slog.Logger
}

// Defaults of Config's zero fields.
const (
	DefaultFrameSize         = 4096
	DefaultFrameCount        = 4096
	DefaultBuffer            = 64 << 10
	DefaultWriteQueueLimit   = 4 << 20
	DefaultMSL               = 30 * time.Second
	DefaultNAPIDeferHardIRQs = 2
	DefaultNAPIFlushTimeout  = 50 * time.Microsecond
	DefaultBacklog           = 128
	DefaultSynBacklog        = 512
	DefaultKeepAliveIdle     = 15 * time.Second
	DefaultKeepAliveInterval = 15 * time.Second
	DefaultKeepAliveCount    = 9
	DefaultShutdownTimeout   = 5 * time.Second
)

// ConfigError is a Config that cannot work: Field names the Config field
// (e.g. "Listen[1]"), Msg says what is wrong and what to do.
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return "sluice: Config." + e.Field + ": " + e.Msg }

func cfgErr(field, format string, a ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// Validate checks c on its own, touching nothing on the system: required
// fields, ranges, and what fits together. It returns every problem
// found (errors.Join of *ConfigError). Start also checks the system.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) { errs = append(errs, err) }
	if c.Interface == "" {
		add(cfgErr("Interface", "empty: name the network device to serve on, e.g. \"eth0\""))
	} else if len(c.Interface) >= 16 || strings.ContainsAny(c.Interface, "/ \t\n") {
		add(cfgErr("Interface", "%q is not a valid interface name (at most 15 characters, no '/' or spaces)", c.Interface))
	}
	if strings.Contains(c.Netns, "/") {
		add(cfgErr("Netns", "%q: give the namespace's name as `ip netns list` shows it, not a path", c.Netns))
	}
	seen := map[netip.AddrPort]int{}
	for i, s := range c.Listen {
		ap, err := parseListen(s)
		if err != nil {
			add(cfgErr(fmt.Sprintf("Listen[%d]", i), "%v", err))
			continue
		}
		if j, dup := seen[ap]; dup {
			add(cfgErr(fmt.Sprintf("Listen[%d]", i), "%q repeats Listen[%d]", s, j))
		}
		seen[ap] = i
	}
	if c.Loops < 0 || c.Loops > 1024 {
		add(cfgErr("Loops", "%d: use 1..1024 loops, or 0 for one per RX queue of the device", c.Loops))
	}
	for i, core := range c.Cores {
		if core == -1 && len(c.Cores) == 1 {
			break
		}
		if core < 0 || core >= 1024 {
			add(cfgErr(fmt.Sprintf("Cores[%d]", i), "%d is not a CPU number (0..1023; []int{-1} alone leaves loops unpinned)", core))
		}
	}
	if c.ZeroCopy < ZeroCopyAuto || c.ZeroCopy > ZeroCopyOff {
		add(cfgErr("ZeroCopy", "%d: use ZeroCopyAuto, ZeroCopyRequire or ZeroCopyOff", int(c.ZeroCopy)))
	}
	if c.XDPMode < XDPAuto || c.XDPMode > XDPGeneric {
		add(cfgErr("XDPMode", "%d: use XDPAuto, XDPDriver or XDPGeneric", int(c.XDPMode)))
	}
	if c.XDPRunPriority < 0 {
		add(cfgErr("XDPRunPriority", "%d is negative: libxdp priorities are 0 (the default 50) and up", c.XDPRunPriority))
	} else if c.XDPRunPriority != 0 && !c.XDPDispatcher {
		add(cfgErr("XDPRunPriority", "set without XDPDispatcher: a priority orders programs in a dispatcher only"))
	}
	if c.SocketBusyPoll < 0 || (c.SocketBusyPoll > 0 && c.SocketBusyPoll < time.Microsecond) {
		add(cfgErr("SocketBusyPoll", "%v: use 0 (off) or at least 1µs (SO_BUSY_POLL counts microseconds)", c.SocketBusyPoll))
	}
	if c.NAPIDeferHardIRQs < -1 || c.NAPIDeferHardIRQs > math.MaxInt32 {
		add(cfgErr("NAPIDeferHardIRQs", "%d: use 0 (the default), -1 (leave the device alone) or 1..%d", c.NAPIDeferHardIRQs, math.MaxInt32))
	}
	if c.NAPIFlushTimeout < 0 {
		add(cfgErr("NAPIFlushTimeout", "%v is negative: use 0 for the default", c.NAPIFlushTimeout))
	}
	if c.ZeroCopy == ZeroCopyRequire && c.XDPMode == XDPGeneric {
		add(cfgErr("ZeroCopy", "ZeroCopyRequire needs the program in driver mode, but XDPMode is XDPGeneric: use XDPAuto or XDPDriver, or ZeroCopyAuto"))
	}
	if fs := c.FrameSize; fs != 0 && fs != 2048 && fs != 4096 {
		add(cfgErr("FrameSize", "%d: AF_XDP frames are 2048 or 4096 bytes", fs))
	}
	if fc := c.FrameCount; fc != 0 && (fc < 64 || fc&(fc-1) != 0 || fc > 1<<20) {
		add(cfgErr("FrameCount", "%d: use a power of two from 64 to 1048576", fc))
	}
	for _, b := range []struct {
		name string
		v    int
	}{{"ReadBuffer", c.ReadBuffer}, {"WriteBuffer", c.WriteBuffer}} {
		if b.v != 0 && (b.v < 4096 || b.v > 1<<30) {
			add(cfgErr(b.name, "%d: use 4096 octets to 1 GiB (0 for %d)", b.v, DefaultBuffer))
		}
	}
	for _, b := range []struct {
		name, base string
		v, start   int
	}{{"ReadBufferMax", "ReadBuffer", c.ReadBufferMax, orInt(c.ReadBuffer, DefaultBuffer)},
		{"WriteBufferMax", "WriteBuffer", c.WriteBufferMax, orInt(c.WriteBuffer, DefaultBuffer)}} {
		if b.v > 1<<30 || (b.v > 0 && b.v < b.start) {
			add(cfgErr(b.name, "%d: use %s (%d) to 1 GiB, 0 for the default or negative for no auto-tuning", b.v, b.base, b.start))
		}
	}
	if c.WriteQueueLimit < 0 {
		add(cfgErr("WriteQueueLimit", "%d is negative: use 0 for the default %d", c.WriteQueueLimit, DefaultWriteQueueLimit))
	}
	if c.MSL < 0 || (c.MSL > 0 && c.MSL < time.Millisecond) || c.MSL > 10*time.Minute {
		add(cfgErr("MSL", "%v: use 1ms to 10m (0 for %v); TIME-WAIT lasts 2*MSL", c.MSL, DefaultMSL))
	}
	ka := c.KeepAlive
	if ka.Idle < 0 || ka.Interval < 0 || ka.Count < 0 {
		add(cfgErr("KeepAlive", "negative Idle, Interval or Count: leave Enable false to turn probes off, zero fields for the defaults"))
	}
	if c.Backlog < 0 || c.Backlog > 1<<20 {
		add(cfgErr("Backlog", "%d: use 1..1048576 (0 for %d)", c.Backlog, DefaultBacklog))
	}
	if c.SynBacklog < 0 || c.SynBacklog > 1<<20 {
		add(cfgErr("SynBacklog", "%d: use 1..1048576 (0 for %d)", c.SynBacklog, DefaultSynBacklog))
	}
	if _, ok := congestion(c.Congestion); !ok {
		add(cfgErr("Congestion", "%q is not built in: use \"cubic\", \"newreno\" or \"bbr\"", c.Congestion))
	}
	if c.ShutdownTimeout < 0 {
		add(cfgErr("ShutdownTimeout", "%v is negative: use 0 for the default %v", c.ShutdownTimeout, DefaultShutdownTimeout))
	}
	if c.MaxConns < 0 {
		add(cfgErr("MaxConns", "%d is negative: use 0 for no limit", c.MaxConns))
	}
	if c.TimeWaitMax < 0 {
		add(cfgErr("TimeWaitMax", "%d is negative: use 0 for the default (tcp_max_tw_buckets)", c.TimeWaitMax))
	}
	return errors.Join(errs...)
}

// parseListen turns "host:port" into an address: an empty host is the
// zero Addr (every address, both families), "0.0.0.0" and "::" one family.
// Host names are refused: a listen address must not depend on DNS.
func parseListen(s string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: want host:port, e.g. \"198.18.0.1:8080\", \"[2001:2::1]:8080\" or \":8080\" (%v)", s, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("%q: port %q must be a number from 1 to 65535", s, port)
	}
	if host == "" {
		return netip.AddrPortFrom(netip.Addr{}, uint16(p)), nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: %q is not an IP address (host names are not resolved for listening)", s, host)
	}
	if a.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%q: drop the zone: sluice serves one interface (Config.Interface)", s)
	}
	if a.IsMulticast() {
		return netip.AddrPort{}, fmt.Errorf("%q: TCP cannot listen on a multicast address", s)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
}

// listenAddrs parses Listen (Validate has passed).
func (c *Config) listenAddrs() []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(c.Listen))
	for _, s := range c.Listen {
		if ap, err := parseListen(s); err == nil {
			out = append(out, ap)
		}
	}
	return out
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orDur(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

// tcpConfig is the engine configuration every loop shares: Linux's
// defaults (sched.DefaultTCPConfig: RFC 6528 ISNs, SYN cookies) with
// Config's knobs applied, and the MSS the link's MTU allows.
func (s *Server) tcpConfig(mtu int) (*tcp.Config, int, error) {
	tc, err := sched.DefaultTCPConfig()
	if err != nil {
		return nil, 0, err
	}
	c := &s.cfg
	// RFC 9293 §3.7.1: MSS is the MTU less the fixed IP and TCP headers;
	// the loops take each family's from LoopConfig.MTU, this is IPv4's.
	if mtu > 40+64 {
		tc.MSS = uint16(min(mtu-40, 65535))
	}
	tc.SendBuffer = orInt(c.WriteBuffer, DefaultBuffer)
	tc.RecvBuffer = orInt(c.ReadBuffer, DefaultBuffer)
	tc.SendBufferMax = bufferMax(c.WriteBufferMax, tc.SendBufferMax)
	tc.RecvBufferMax = bufferMax(c.ReadBufferMax, tc.RecvBufferMax)
	tc.MSL = orDur(c.MSL, DefaultMSL)
	tc.NoDelay = !c.Nagle
	if ka := c.KeepAlive; ka.Enable {
		tc.KeepAlive = true
		tc.KeepIdle = orDur(ka.Idle, DefaultKeepAliveIdle)
		tc.KeepInterval = orDur(ka.Interval, DefaultKeepAliveInterval)
		tc.KeepCount = orInt(ka.Count, DefaultKeepAliveCount)
	}
	tc.AcceptBacklog = orInt(c.Backlog, DefaultBacklog)
	tc.SynBacklog = orInt(c.SynBacklog, DefaultSynBacklog)
	tc.SynCookies = !c.NoSynCookies && tc.Cookies != nil
	tc.CC, _ = congestion(c.Congestion)
	tc.Pacing = c.Pacing
	limit, from := c.memoryLimit()
	tc.Budget = bufchunk.NewBudget(limit)
	s.log.Info("sluice: buffer memory budget", "limit_bytes", limit, "from", from)
	if err := tc.Validate(); err != nil {
		return nil, 0, cfgErr("(TCP)", "%v", err)
	}
	return tc, int(tc.MSS), nil
}

// bufferMax is an auto-tuning bound from Config: 0 takes def, negative
// turns auto-tuning off (the engine's 0).
func bufferMax(v, def int) int {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return def
	}
	return v
}

// memoryLimit is the buffer memory budget in octets (0: none) and where
// it came from.
func (c *Config) memoryLimit() (int64, string) {
	switch {
	case c.MemoryLimit > 0:
		return c.MemoryLimit, "Config.MemoryLimit"
	case c.MemoryLimit < 0:
		return 0, "Config.MemoryLimit (no limit)"
	}
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		return l / 2, "GOMEMLIMIT/2"
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil && si.Totalram > 0 {
		return int64(si.Totalram) * int64(si.Unit) * 3 / 32, "3/32 of RAM (tcp_mem)"
	}
	return 1 << 30, "default 1 GiB"
}

// congestion maps Config.Congestion to the engine's controller.
func congestion(name string) (tcp.Algorithm, bool) {
	switch strings.ToLower(name) {
	case "", "cubic":
		return tcp.CUBIC, true
	case "reno", "newreno":
		return tcp.NewReno, true
	case "bbr":
		return tcp.BBR, true
	}
	return 0, false
}

// bindMode is the AF_XDP bind mode ZeroCopy asks for.
func bindMode(z ZeroCopy) afxdp.Mode {
	switch z {
	case ZeroCopyRequire:
		return afxdp.ModeZeroCopy
	case ZeroCopyOff:
		return afxdp.ModeCopy
	}
	return afxdp.ModeAuto
}

// xdpMode is the XDP attach mode XDPMode asks for (zero: driver, then
// generic).
func xdpMode(m XDPMode) bpf.Mode {
	switch m {
	case XDPDriver:
		return bpf.ModeDriver
	case XDPGeneric:
		return bpf.ModeGeneric
	}
	return bpf.ModeNone
}
