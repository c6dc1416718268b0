package main

// The reflector workload measures the AF_XDP layer alone: frames arrive on
// queue 0 of the server's veth, an XDP program redirects them to an AF_XDP
// socket, a user-space loop swaps their addresses and sends them back out
// through the TX ring. The figure is frames reflected per second, for
// sluice's afxdp and for github.com/asavie/xdp v0.3.3 (DESIGN: the reference
// afxdp is measured against), in the same run on the same testbed.
//
// Both use the same XDP program (asavie/xdp's redirect-everything program),
// so only the user-space ring and UMEM handling differ. The load comes from
// pktgen in the peer namespace, pinned to the other CPU; the peer drops the
// reflected frames in XDP so they cost it almost nothing.

import (
	"fmt"
	"runtime"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/testbed"
	"github.com/sluicenet/sluice/testbed/pktgen"
)

// reflector is one AF_XDP implementation under test.
type reflector interface {
	name() string
	// open creates the socket on queue 0 of the server's link and registers
	// it with the XDP program; it runs inside the server's namespace.
	open(h *testbed.Host) error
	// loop reflects frames until stop is closed and returns how many.
	loop(stop <-chan struct{}) (uint64, error)
	close() error
}

func reflectors() []reflector {
	return []reflector{&afxdpReflector{}, &asavieReflector{}}
}

func reflectorWorkload(c config) ([]Result, error) {
	bed, err := testbed.Create(testbed.Options{Queues: 1})
	if err != nil {
		return nil, err
	}
	defer bed.Close()
	drop, err := attachDrop(bed.Peer)
	if err != nil {
		return nil, err
	}
	defer drop.Close()
	frames, err := reflectorFrames(bed)
	if err != nil {
		return nil, err
	}
	var out []Result
	offered := Result{Workload: "reflector", Impl: "pktgen (offered)", Metric: "frames/s", Unit: "frames/s", Better: "higher",
		Note: "what the generator pushed, all implementations' runs"}
	for _, r := range reflectors() {
		pps := Result{Workload: "reflector", Impl: r.name(), Metric: "frames/s", Unit: "frames/s", Better: "higher"}
		cost := Result{Workload: "reflector", Impl: r.name(), Metric: "cpu/frame", Unit: "ns", Better: "lower",
			Note: "reflector thread CPU (user+sys, incl. TX syscalls) per frame"}
		for i := 0; i < c.runs; i++ {
			progressStep("reflector", r.name())
			m, err := reflectOnce(c, bed, r, frames)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", r.name(), err)
			}
			pps.Runs = append(pps.Runs, m.pps)
			cost.Runs = append(cost.Runs, m.nsPerFrame)
			offered.Runs = append(offered.Runs, m.offered)
		}
		pps.Value, cost.Value = median(pps.Runs), median(cost.Runs)
		if pps.Value > 0.95*median(offered.Runs) {
			pps.Note = "generator-bound: reflected ~ all offered"
		}
		out = append(out, pps, cost)
	}
	offered.Value = median(offered.Runs)
	return append(out, offered), nil
}

// measure is what one run of a reflector yields.
type measure struct {
	pps        float64 // frames reflected per second
	offered    float64 // frames the generator sent per second
	nsPerFrame float64 // CPU time of the reflector's thread per reflected frame (user + system)
}

// reflectOnce runs the reflector through a warm-up period and then a
// measured one, each a separate run of its loop on the same socket, while
// the generator sends through both.
func reflectOnce(c config, bed *testbed.Bed, r reflector, frames [][]byte) (m measure, err error) {
	if err := bed.Server.Do(func() error { return r.open(bed.Server) }); err != nil {
		return m, err
	}
	defer r.close()
	// The generator sends until the reflector's measured run has ended
	// (stop), not for a fixed time of its own: on a loaded machine the
	// two threads start their runs at different moments, and a generator
	// that had finished first left a reflector window with nothing to
	// reflect. maxGen only bounds a generator whose stop never comes.
	var sent uint64
	var genWall time.Duration
	stop := make(chan struct{})
	maxGen := 10*(c.warmup+c.duration) + 10*time.Second
	genErr := make(chan error, 1)
	go func() {
		genErr <- bed.Peer.Do(func() error {
			restore, err := pinThread(c.clientCPU)
			if err != nil {
				return err
			}
			defer restore()
			g, err := pktgen.New(bed.Peer.Ifindex, frames)
			if err != nil {
				return err
			}
			defer g.Close()
			if _, err := g.Run(pktgen.Limits{Duration: c.warmup}); err != nil {
				return err
			}
			t0 := time.Now()
			s, err := g.Run(pktgen.Limits{Duration: maxGen, Stop: stop})
			sent, genWall = s, time.Since(t0)
			return err
		})
	}()
	if _, err := runPinned(c.serverCPU, c.warmup, r); err != nil {
		close(stop)
		<-genErr
		return m, err
	}
	run, err := runPinned(c.serverCPU, c.duration, r)
	close(stop)
	if gerr := <-genErr; gerr != nil {
		return m, fmt.Errorf("generator: %w", gerr)
	}
	if err != nil {
		return m, err
	}
	if run.frames == 0 {
		return m, fmt.Errorf("no frame reflected in %v", run.wall)
	}
	return measure{
		pps:        float64(run.frames) / run.wall.Seconds(),
		offered:    float64(sent) / genWall.Seconds(),
		nsPerFrame: float64(run.cpu) / float64(run.frames),
	}, nil
}

type loopRun struct {
	frames uint64
	wall   time.Duration
	cpu    time.Duration // the loop thread's own CPU time
}

// runPinned runs r's loop for d on a thread pinned to cpu.
func runPinned(cpu int, d time.Duration, r reflector) (loopRun, error) {
	var res loopRun
	var err error
	done := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		// The thread goes back to the runtime's pool afterwards: restore
		// its mask, or whatever runs on it later (a sluice Start checking
		// the cores it may use) finds one CPU.
		if restore, perr := pinThread(cpu); perr == nil {
			defer restore()
		}
		tid := unix.Gettid()
		t0, c0 := time.Now(), threadCPU(tid)
		res.frames, err = r.loop(stop)
		res.wall, res.cpu = time.Since(t0), threadCPU(tid)-c0
	}()
	time.Sleep(d)
	close(stop)
	<-done
	return res, err
}

// reflectorFrames builds 64 minimum-size UDP frames, one per source port,
// from the peer to the server.
func reflectorFrames(bed *testbed.Bed) ([][]byte, error) {
	var frames [][]byte
	for i := 0; i < 64; i++ {
		eth := &layers.Ethernet{SrcMAC: bed.Peer.MAC, DstMAC: bed.Server.MAC, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
			SrcIP: bed.Peer.IPv4.AsSlice(), DstIP: bed.Server.IPv4.AsSlice()}
		udp := &layers.UDP{SrcPort: layers.UDPPort(10000 + i), DstPort: 9}
		udp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
			eth, ip, udp, gopacket.Payload(make([]byte, 18))); err != nil {
			return nil, err
		}
		frames = append(frames, buf.Bytes())
	}
	return frames, nil
}

// reflect turns a frame around in place: Ethernet, IPv4 and UDP source and
// destination swapped. Swapping keeps every checksum valid (one's-complement
// sums are order-independent). Frames too short to be Ethernet/IPv4/UDP are
// left alone and still sent (the generator only sends valid ones).
func reflect(f []byte) {
	if len(f) < 14+20+8 {
		return
	}
	var mac [6]byte
	copy(mac[:], f[0:6])
	copy(f[0:6], f[6:12])
	copy(f[6:12], mac[:])
	ihl := int(f[14]&0x0f) * 4
	if ihl < 20 || len(f) < 14+ihl+8 {
		return
	}
	var a [4]byte
	copy(a[:], f[26:30])
	copy(f[26:30], f[30:34])
	copy(f[30:34], a[:])
	l4 := 14 + ihl
	f[l4], f[l4+1], f[l4+2], f[l4+3] = f[l4+2], f[l4+3], f[l4], f[l4+1]
}

// attachDrop attaches "return XDP_DROP" to the host's link, so reflected
// frames are counted by the link but cost the peer nothing more.
func attachDrop(h *testbed.Host) (io interface{ Close() error }, err error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1 /* XDP_DROP */), asm.Return()},
	})
	if err != nil {
		return nil, fmt.Errorf("load drop program: %w", err)
	}
	var l link.Link
	err = h.Do(func() (err error) {
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: h.Ifindex, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		prog.Close()
		return nil, fmt.Errorf("attach drop program to %s: %w", h.Link, err)
	}
	return closers{l, prog}, nil
}

type closers []interface{ Close() error }

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// threadCPU is the CPU time a thread of this process has used, read from
// its per-thread CPU clock (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)).
func threadCPU(tid int) time.Duration {
	var ts unix.Timespec
	clock := int32(^tid<<3 | 6)
	if unix.ClockGettime(clock, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
