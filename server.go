package sluice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicenet/sluice/afxdp"
	"github.com/sluicenet/sluice/internal/netenv"
	"github.com/sluicenet/sluice/sched"
)

// Server is a running sluice server: an XDP steering program on the
// device and one event loop per queue, each with its AF_XDP socket.
// Make one with NewServer, then Start it; or call Serve.
type Server struct {
	cfg        Config
	bind       binding // its connections' callbacks: srv is the Server, h nil for Listener
	log        *slog.Logger
	writeLimit int
	listen     []netip.AddrPort

	mu      sync.Mutex
	state   int // stateNew, stateRunning, stateClosed
	g       *sched.Group
	napi    *napiDeferral // set by Start (Config.NAPIDeferHardIRQs), restored by Close
	info    Info
	lis     *listener
	stopped chan struct{} // closed when the group is closed

	conns      atomic.Int64  // open connections the API knows
	limitDrops atomic.Uint64 // reset: over MaxConns
	drainLate  atomic.Uint64 // handshakes completed during Shutdown
	draining   atomic.Bool
	drained    chan struct{} // poked when conns reaches 0 while draining

	closeOnce sync.Once
	closeErr  error
	shutOnce  sync.Once
	shutErr   atomic.Pointer[error] // what a Shutdown ended with
}

const (
	stateNew = iota
	stateRunning
	stateClosed
)

// NewServer checks cfg (Validate) and returns a server that Start will
// run. h receives every accepted connection; with a nil h, accepted
// connections go to Listener instead, as net.Conns.
func NewServer(cfg Config, h Handler) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Cores = append([]int(nil), cfg.Cores...)
	cfg.Listen = append([]string(nil), cfg.Listen...)
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger,
		writeLimit: orInt(cfg.WriteQueueLimit, DefaultWriteQueueLimit),
		listen:     cfg.listenAddrs(),
		stopped:    make(chan struct{}),
		drained:    make(chan struct{}, 1),
	}
	s.bind = binding{srv: s, h: h}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if h == nil {
		s.lis = newListener(s)
	}
	return s, nil
}

// Serve runs a server until ctx ends or a callback returns Shutdown, then
// shuts it down gracefully within Config.ShutdownTimeout. It returns a
// start-up error, or nil once the server stopped with every connection
// closed in order, or the error of Shutdown (context.DeadlineExceeded
// when connections had to be reset).
func Serve(ctx context.Context, cfg Config, h Handler) error {
	if h == nil {
		return errors.New("sluice: Serve needs a Handler (to serve net.Conns, use NewServer(cfg, nil) and its Listener)")
	}
	s, err := NewServer(cfg, h)
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.stopped:
		if p := s.shutErr.Load(); p != nil {
			return *p // a callback's Shutdown
		}
		return s.closeErr
	}
	sctx, cancel := context.WithTimeout(context.Background(), orDur(cfg.ShutdownTimeout, DefaultShutdownTimeout))
	defer cancel()
	return s.Shutdown(sctx)
}

// Start checks the system (privileges, device, addresses, kernel
// listeners on the ports, queues, MTU; all problems at once), attaches the
// steering program, binds the sockets and starts the loops. Its errors
// are *net.OpError (Op "listen") whose message says what to do; match the
// cause with errors.Is (ErrNoInterface, ErrPermission, ...).
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case stateRunning:
		return errors.New("sluice: Server.Start called twice")
	case stateClosed:
		return s.opErr(net.ErrClosed)
	}
	var dev netenv.Device
	var hostTW int
	loops := s.cfg.Loops
	err := inNetns(s.cfg.Netns, func() error {
		if err := netenv.Preflight(s.spec(loops)); err != nil {
			return err
		}
		hostTW = hostTimeWaitMax()
		var err error
		dev, err = netenv.Describe(s.cfg.Interface)
		return err
	})
	if err != nil {
		return s.opErr(err)
	}
	if loops == 0 {
		loops = max(dev.Channels.Queues(), 1)
	}
	tc, mss, err := s.tcpConfig(dev.MTU)
	if err != nil {
		return s.opErr(err)
	}
	twShare, twFrom, err := s.cfg.timeWaitShare(loops, hostTW)
	if err != nil {
		return s.opErr(err)
	}
	s.log.Info("sluice: TIME-WAIT bound", "entries", twShare*loops, "per_loop", twShare, "from", twFrom)
	frameSize := orInt(s.cfg.FrameSize, DefaultFrameSize)
	frameCount := orInt(s.cfg.FrameCount, DefaultFrameCount)
	gc := sched.GroupConfig{
		Ifindex: dev.Index,
		Queues:  loops,
		Cores:   s.cfg.Cores,
		Listen:  s.listen,
		Handler: &loopHandler{s},
		Loop: sched.LoopConfig{
			TCP:         tc,
			BusyPoll:    s.cfg.BusyPoll,
			Umem:        afxdp.UmemConfig{FrameSize: uint32(frameSize), FrameCount: uint32(frameCount)},
			MaxConns:    (s.cfg.MaxConns + loops - 1) / loops,
			TimeWaitMax: twShare,
			MTU:         dev.MTU,
			Socket: afxdp.SocketConfig{Mode: bindMode(s.cfg.ZeroCopy),
				BusyPoll: s.cfg.SocketBusyPoll, PreferBusyPoll: s.cfg.SocketBusyPoll > 0},
		},
		XDPMode:        xdpMode(s.cfg.XDPMode),
		XDPDispatcher:  s.cfg.XDPDispatcher,
		XDPRunPriority: s.cfg.XDPRunPriority,
		Setup:          func(fn func() error) error { return inNetns(s.cfg.Netns, fn) },
	}
	g, err := sched.Start(gc)
	if err != nil {
		return s.opErr(startError(err, s.cfg))
	}
	if s.napi, err = deferNAPI(s.cfg, dev.Index, s.log); err != nil {
		g.Close()
		return s.opErr(err)
	}
	s.g = g
	s.state = stateRunning
	s.info = Info{
		Interface:   dev.Name,
		Ifindex:     dev.Index,
		Driver:      dev.Driver,
		MTU:         dev.MTU,
		MSS:         mss, // IPv4's; IPv6's is 20 less
		Queues:      dev.Channels.Queues(),
		Loops:       loops,
		XDPMode:     g.Program().Mode().String(),
		Bind:        boundMode(g.Loops()),
		FrameSize:   frameSize,
		FrameCount:  frameCount,
		TimeWaitMax: twShare * loops,
		Listen:      append([]netip.AddrPort(nil), s.listen...),
	}
	for _, l := range g.Loops() {
		s.info.Cores = append(s.info.Cores, l.Core())
	}
	go s.watchDrops()
	s.log.Info("sluice: serving",
		"interface", s.info.Interface, "driver", s.info.Driver, "mtu", s.info.MTU,
		"xdp", s.info.XDPMode, "bind", s.info.Bind,
		"queues", s.info.Queues, "loops", s.info.Loops, "cores", s.info.Cores,
		"listen", s.info.Listen, "frame_size", frameSize, "frames_per_loop", frameCount)
	return nil
}

// spec is what Preflight checks. A listen address for both families
// (":port") is checked for kernel listeners of either family, not for an
// address: any address of the interface will do.
func (s *Server) spec(loops int) netenv.Spec {
	fs := orInt(s.cfg.FrameSize, DefaultFrameSize)
	fc := orInt(s.cfg.FrameCount, DefaultFrameCount)
	sp := netenv.Spec{
		Interface: s.cfg.Interface,
		Loops:     loops,
		FrameSize: fs,
		UMEMBytes: int64(fs) * int64(fc) * int64(max(loops, 1)),
	}
	for _, ap := range s.listen {
		if !ap.Addr().IsValid() {
			sp.Listen = append(sp.Listen,
				netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port()),
				netip.AddrPortFrom(netip.IPv6Unspecified(), ap.Port()))
			continue
		}
		sp.Listen = append(sp.Listen, ap)
	}
	return sp
}

func (s *Server) opErr(err error) error {
	var addr net.Addr
	if len(s.listen) > 0 {
		addr = net.TCPAddrFromAddrPort(s.listen[0])
	}
	return opError("listen", nil, addr, err)
}

// boundMode names how the loops' sockets were bound, as the kernel
// reports it: "zero-copy", "copy", or "mixed" when they differ.
func boundMode(loops []*sched.Loop) string {
	mode := ""
	for _, l := range loops {
		m := l.BindMode().String()
		switch mode {
		case "", m:
			mode = m
		default:
			return "mixed"
		}
	}
	return mode
}

// startError classifies what sched.Start failed with for errors.Is and
// says what to do.
func startError(err error, cfg Config) error {
	if errors.Is(err, netenv.ErrPermission) || errors.Is(err, netenv.ErrNoInterface) || errors.Is(err, os.ErrPermission) {
		return err
	}
	advice := "try XDPMode XDPGeneric and ZeroCopyOff, check the kernel has CONFIG_XDP_SOCKETS, and that no other program holds the device's XDP hook"
	switch {
	case cfg.ZeroCopy == ZeroCopyRequire:
		advice = "the driver of " + cfg.Interface + " cannot bind AF_XDP zero-copy: use ZeroCopyAuto (falls back to copy) or ZeroCopyOff"
	case cfg.XDPMode == XDPDriver:
		advice = "the driver of " + cfg.Interface + " may lack native XDP: use XDPAuto or XDPGeneric"
	}
	return fmt.Errorf("sluice: %w on %s (XDP mode %v, zero-copy %v): %s: %w",
		ErrNoXDP, cfg.Interface, cfg.XDPMode, cfg.ZeroCopy, advice, err)
}

// Done is closed when the server has stopped (Close, or the end of
// Shutdown).
func (s *Server) Done() <-chan struct{} { return s.stopped }

// Shutdown stops the server gracefully: no new connections are accepted
// (a SYN gets a RST, as from a closed port), the Listener
// closes, and every open connection is closed with a FIN after what was
// written (or asked through ShutdownHandler.OnShutdown). Shutdown waits
// until all are closed, then stops the loops and returns nil; if ctx ends
// first, the remaining connections are reset and it returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	g, state := s.g, s.state
	s.mu.Unlock()
	if state != stateRunning {
		return s.Close()
	}
	s.draining.Store(true)
	if s.lis != nil {
		s.lis.Close()
	}
	s.shutOnce.Do(func() {
		s.log.Info("sluice: shutting down", "conns", s.conns.Load())
		// New SYNs get a RST from here on, as from a closed port; the
		// handshakes under way complete and are closed as they open.
		if err := g.SetAccepting(false); err != nil {
			s.log.Warn("sluice: shutdown: stop accepting", "err", err)
		}
		err := g.Each(func(sc *sched.Conn) {
			if c := connOf(sc); c != nil {
				s.shutdownConn(c)
			}
		})
		if err != nil {
			s.log.Warn("sluice: shutdown: close connections", "err", err)
		}
	})
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.conns.Load() > 0 {
		select {
		case <-s.drained:
		case <-tick.C:
		case <-s.stopped:
			return s.closeErr
		case <-ctx.Done():
			n := s.conns.Load()
			s.log.Warn("sluice: shutdown deadline: resetting connections", "conns", n)
			if err := g.AbortAll(); err != nil {
				s.log.Warn("sluice: shutdown: reset", "err", err)
			}
			return s.finish(ctx.Err())
		}
	}
	s.log.Info("sluice: shut down; every connection closed in order")
	return s.finish(nil)
}

// finish records how a Shutdown ended (for Serve), then closes.
func (s *Server) finish(err error) error {
	e := err // Serve reads it; err changes below
	s.shutErr.CompareAndSwap(nil, &e)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// shutdownConn asks one connection to finish (loop thread).
func (s *Server) shutdownConn(c *Conn) {
	if c.sc == nil {
		return
	}
	if sh, ok := c.b.h.(ShutdownHandler); ok {
		s.act(c, sh.OnShutdown(c))
		return
	}
	c.closeHow(false)
}

// Close stops the server at once: the program is detached, every open
// connection is reset (OnClose with ErrServerClosed), the loops stop and
// the sockets close. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.draining.Store(true)
		if s.lis != nil {
			s.lis.Close()
		}
		s.mu.Lock()
		g, napi := s.g, s.napi
		s.state = stateClosed
		s.mu.Unlock()
		if g != nil {
			s.closeErr = g.Close()
		}
		if err := napi.restore(); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
		close(s.stopped)
	})
	return s.closeErr
}

// act applies a callback's Action (loop thread).
func (s *Server) act(c *Conn, a Action) {
	switch a {
	case Close:
		c.closeHow(false)
	case Shutdown:
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), orDur(s.cfg.ShutdownTimeout, DefaultShutdownTimeout))
			defer cancel()
			s.Shutdown(ctx)
		}()
	}
}

// Tap sees every frame a loop receives or sends (packet capture, e.g.
// capture.Writer). Frame runs on the loop's thread, so it must be quick
// and must not call back into the server; frame is valid only during the
// call (it is a UMEM frame): copy what must be kept. out is false for a
// received frame (before it is parsed) and true for a sent one (as it
// goes to the TX ring). The loops call it concurrently.
type Tap interface {
	Frame(queue int, out bool, frame []byte)
}

// SetTap installs t on every loop (nil removes it), within one loop
// iteration; without a tap the per-frame cost is a nil check. It fails
// before Start and after Close with an error matching net.ErrClosed.
func (s *Server) SetTap(t Tap) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateRunning {
		return net.ErrClosed
	}
	s.g.SetTap(t)
	return nil
}
