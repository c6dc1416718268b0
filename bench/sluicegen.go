package main

// The load generator on sluice itself: keep-alive GET over connections that
// sluice dials (Server.DialHandler) from the peer namespace, through an
// AF_XDP socket on the peer's end of the veth, one loop pinned to the client
// CPU. The kernel generator (bench/loadgen) spends most of its CPU in the
// kernel's TCP; this one does not, so on a 2-core machine it can push a
// server harder (workload xdpgen). Closed loop, one request in flight per
// connection, every response checked: status 200, Content-Length 13, the
// connection kept.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sluicenet/sluice"
	"github.com/sluicenet/sluice/bench/loadgen"
	"github.com/sluicenet/sluice/testbed"
)

// xdpGen is one generator run. Its fields other than the atomics are
// touched only by the generator's loop thread until the server has closed.
type xdpGen struct {
	sluice.NopHandler
	req        []byte
	t0, t1     time.Time // the measured window
	lat        *hdrhistogram.Histogram
	requests   uint64 // completed in the window
	mismatched atomic.Uint64
	closed     atomic.Uint64 // connections that ended during the run
}

type xdpGenConn struct {
	sent     time.Time
	head     []byte // the response head so far (kept for the connection's life)
	bodyLeft int64  // octets of the current body still to come; -1: reading a head
}

func (g *xdpGen) OnOpen(c *sluice.Conn) sluice.Action {
	st := &xdpGenConn{sent: time.Now(), head: make([]byte, 0, 512), bodyLeft: -1}
	c.SetContext(st)
	c.Write(g.req)
	return sluice.None
}

// OnData reads responses: a head (parsed by loadgen.ParseHead: status 200,
// Content-Length helloLength, not closing), then the body. One request is
// in flight per connection, so nothing may follow a response.
func (g *xdpGen) OnData(c *sluice.Conn, data []byte) sluice.Action {
	st := c.Context().(*xdpGenConn)
	for len(data) > 0 {
		if st.bodyLeft < 0 {
			// The head may come in pieces: gather it (bounded).
			k := min(len(data), loadgen.MaxHead-len(st.head))
			st.head = append(st.head, data[:k]...)
			data = data[k:]
			h, err := loadgen.ParseHead(st.head)
			if err != nil {
				g.mismatched.Add(1)
				return sluice.Close
			}
			if h.Len == 0 {
				continue
			}
			if h.Status != 200 || h.ContentLength != helloLength || h.Close {
				g.mismatched.Add(1)
				return sluice.Close
			}
			// Octets past the head are the body's start.
			extra := st.head[h.Len:]
			st.bodyLeft = h.ContentLength - int64(len(extra))
			st.head = st.head[:0]
			if st.bodyLeft < 0 {
				g.mismatched.Add(1)
				return sluice.Close
			}
		} else {
			k := min(int64(len(data)), st.bodyLeft)
			st.bodyLeft -= k
			data = data[k:]
		}
		if st.bodyLeft != 0 {
			continue
		}
		if len(data) > 0 {
			g.mismatched.Add(1) // one request in flight: nothing may follow
			return sluice.Close
		}
		now := time.Now()
		if !now.Before(g.t0) && now.Before(g.t1) {
			g.requests++
			g.lat.RecordValue(int64(now.Sub(st.sent)))
		}
		st.bodyLeft, st.sent = -1, now
		c.Write(g.req)
	}
	return sluice.None
}

func (g *xdpGen) OnClose(c *sluice.Conn, err error) { g.closed.Add(1) }

// runXDPGen runs the generator in bed's peer namespace against srv for
// the warm-up and the measured window of c and returns what it measured,
// with the server's CPU over the window, like measureHTTP.
func runXDPGen(c config, bed *testbed.Bed, srv *serverProc, conns int) (sample, uint64, error) {
	g := &xdpGen{req: []byte("GET / HTTP/1.1\r\nHost: " + srv.addr.String() + "\r\n\r\n"),
		lat: hdrhistogram.New(1, int64(time.Minute), 3)}
	// sluice.Config needs a listen address even for a server that only
	// dials: a port on the peer that nothing uses.
	// The generator leaves its device's NAPI settings alone
	// (NAPIDeferHardIRQs -1), as the kernel generator's side has them:
	// with sluice's default deferral there, each response waited for the
	// peer end's 50 µs timer, and the generator, not the server, set the
	// rate (sluice-raw 205k req/s without, 93k with).
	gen, err := sluice.NewServer(sluice.Config{Interface: bed.Peer.Link, Netns: bed.Peer.Name, Loops: 1,
		Cores: []int{c.clientCPU}, Listen: []string{netip.AddrPortFrom(bed.Peer.IPv4, 7).String()},
		NAPIDeferHardIRQs: -1}, g)
	if err != nil {
		return sample{}, 0, err
	}
	if err := gen.Start(); err != nil {
		return sample{}, 0, fmt.Errorf("sluice generator: %w", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			gen.Close()
		}
	}()
	begin := time.Now()
	g.t0 = begin.Add(c.warmup)
	g.t1 = g.t0.Add(c.duration)
	// The window is set before the first connection: the loop thread reads
	// t0/t1 only after a Dial posted to it, which orders the writes before.
	for i := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := gen.DialHandler(ctx, "tcp4", srv.addr.String(), g)
		cancel()
		if err != nil {
			return sample{}, 0, fmt.Errorf("sluice generator: dial %d: %w", i, err)
		}
	}
	time.Sleep(time.Until(g.t0))
	cpu0, err0 := srv.cpuTime()
	gcpu0 := genCPU(gen)
	time.Sleep(time.Until(g.t1))
	cpu1, err1 := srv.cpuTime()
	gcpu1 := genCPU(gen)
	gen.Close() // the loop has stopped: its fields are ours to read
	stopped = true
	if err0 != nil || err1 != nil {
		return sample{}, 0, fmt.Errorf("%s server CPU time: %v %v (%s)", srv.name, err0, err1, srv.stderr)
	}
	res := &loadgen.Result{Requests: g.requests, Elapsed: c.duration, Latency: g.lat, CPU: gcpu1 - gcpu0}
	return sample{res: res, serverCPU: cpu1 - cpu0}, g.mismatched.Load(), nil
}

// genCPU is the generator loop thread's CPU time so far.
func genCPU(s *sluice.Server) time.Duration {
	st, err := s.Stats()
	if err != nil {
		return 0
	}
	var d time.Duration
	for _, l := range st.Loops {
		d += l.CPUTime
	}
	return d
}

// errNoXDPGen: this build of sluice cannot dial (the root package's Dial
// predates sched's active open), so the workload has nothing to run.
var errNoXDPGen = errors.New("sluice's Dial is not available in this build")

func xdpGenWorkload(c config) ([]Result, error) {
	f := &figures{workload: "xdpgen"}
	err := eachRun(c, c.runs, func(bed *testbed.Bed, s httpServer, srv *serverProc) error {
		progressStep("xdpgen", s.name)
		m, bad, err := runXDPGen(c, bed, srv, c.conns)
		if err != nil && strings.Contains(err.Error(), "Dial is not available") {
			return errNoXDPGen
		}
		if err != nil {
			return err
		}
		f.add(s.name, "requests/s", "req/s", higher, m.res.PerSecond(m.res.Requests)).Note = "generator: sluice Dial over AF_XDP"
		f.add(s.name, "cpu/request", "ns", lower, m.perOp())
		f.addBusy(s.name, m)
		f.add(s.name, "p50", "µs", lower, m.quantileUS(50))
		f.add(s.name, "p99", "µs", lower, m.quantileUS(99))
		r := f.add(s.name, "errors", "count", lower, float64(bad))
		if bad > 0 {
			r.Note = "responses that were not the expected bytes"
		}
		return nil
	})
	if errors.Is(err, errNoXDPGen) {
		// Reported as one row, not an error: the rest of the suite runs.
		return []Result{{Workload: "xdpgen", Impl: "sluice generator", Metric: "unavailable",
			Note: errNoXDPGen.Error() + "; the kernel generator's figures stand alone"}}, nil
	}
	return f.results(), err
}
