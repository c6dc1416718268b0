// Package bulk moves large, verified transfers between sluice and the Linux
// stack through a testbed/impair forwarder: the rig behind issue 7's system
// tests (64 MiB each way under loss, reordering, duplication, delay and a
// rate limit, sha256 equal on both ends) and its benchmark (sluice's
// throughput next to a Linux-to-Linux pair through the same forwarder, in
// the same run).
//
// A Rig is one testbed with a middle namespace and a forwarder in it. Its
// Server end runs a sched.Group serving the transfer protocol on port
// SluicePort and, on the same namespace's kernel stack (traffic sluice does
// not listen for passes to the kernel), a Go net.Listener serving the same
// protocol on LinuxPort. Clients are kernel TCP sockets in the Peer
// namespace, so both servers see the same client, the same wire and the
// same impairment.
//
// The protocol: the client sends a 17-octet header, a mode octet ('U'
// upload: the client sends Size octets, then half-closes, and the server
// answers with the sha256 of what it received; 'D' download: the server
// sends Size octets, then closes), Size (8 octets, big-endian) and a Seed
// (8 octets) for the ChaCha8 stream the sender generates. Each server also
// records the sha256 of what it received or sent, so the client compares
// digests computed on the two ends.
package bulk

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/testbed"
	"github.com/sluicenet/sluice/testbed/impair"
)

// Ports the rig's two servers listen on at the Server end.
const (
	SluicePort = 7100
	LinuxPort  = 7101
)

// Modes of the protocol.
const (
	Upload   = 'U' // client → server
	Download = 'D' // server → client
)

const headerLen = 17

// Target is which server a transfer talks to.
type Target int

const (
	Sluice Target = iota // sched.Group over AF_XDP
	Linux                // kernel TCP in the Server namespace
)

func (t Target) String() string { return [...]string{"sluice", "linux"}[t] }

// RigOptions configure a Rig.
type RigOptions struct {
	Impair impair.Config
	// TCP is sluice's engine configuration [Config()].
	TCP *tcp.Config
	// Cores pins the sluice loop [nil: sched's default, CPU 0].
	Cores []int
	// LinuxCC is the congestion control (TCP_CONGESTION, e.g. "cubic")
	// of the Linux server's sockets and of the clients', so an upload's
	// sender runs it too; empty keeps the host's default, which may be
	// BBR (net.ipv4.tcp_congestion_control).
	LinuxCC string
	// NormalPriority leaves the rig's threads at their default
	// priority. Otherwise the rig's process (the forwarder, both
	// servers, the clients) runs at autogroup nice GroupNice and the
	// sluice loop's thread in SCHED_FIFO (see LoopPriority).
	NormalPriority bool
}

// Priorities the rig runs at unless RigOptions.NormalPriority. On a
// shared machine the rig's threads wait in the run queue behind other
// work; with autogroup scheduling (each session's threads share one
// CFS entity) a busy neighbour stalls the forwarder, which is the
// network here, and the servers alike (measured: 170 ms without an ACK
// at load 12 on two cores). GroupNice is the nice level of the
// process's autogroup, so the network and both ends keep running.
//
// The Linux server's TCP runs in softirq context, ahead of every user
// thread; sluice's runs in its loop, a user thread (measured: the loop
// waited for a CPU 476-998 ms of a 3.8 s download at load 12, nice -20
// included). A kernel-bypass deployment gives its loops dedicated
// cores; on a shared test machine SCHED_FIFO at LoopPriority (the
// lowest real-time priority) is the nearest equivalent, so the rig
// compares stacks, not the scheduler's treatment of them. The loop
// sleeps in poll(2) when idle, and the kernel keeps 5% of each CPU for
// other classes (sched_rt_runtime_us).
//
// The forwarder is the network, so it runs above the loop, at
// ForwarderPriority (impair.Config.Priority), on the CPUs the loop is not
// pinned to (impair.Config.CPUs): on a real host neither the wire nor the
// NIC's interrupt work waits for a user thread, and a server's core is
// not where the network runs. The Linux server's receive work runs
// inside the forwarder's sends (veth, softirq), at its priority too. With the forwarder below the loop, the
// loop's wake-ups and 50 µs busy polls preempted it on a shared core and
// held the client's data 50-170 ms beyond the path's delay in a 64 MiB
// upload at 100 ms (captures before and after the forwarder; none with
// Linux as the server): the client's HyStart saw the delay and left slow
// start, and its RTT-bound send buffer moved less per round trip.
const (
	GroupNice         = -20
	LoopPriority      = 1
	ForwarderPriority = LoopPriority + 1
)

// Config is the sluice TCP configuration the rig uses by default:
// tcp.DefaultConfig with a 4 MiB receive buffer, so a 10 ms path is not
// window-limited far below what the Linux peer (tcp_rmem up to 6 MiB)
// gets, and an 8 MiB send buffer. The send buffer holds the flight and
// what the peer SACKed above its holes until they are repaired: at
// 100 ms and 5% loss (100 Mbit/s) the SACKed octets averaged 2 MB and
// reached 4.2 MB, so with 4 MiB BBR's download was buffer-limited a
// fifth of the time (3.4-4.6 MB/s against Linux's 6.8-7.3).
func Config() *tcp.Config {
	c := tcp.DefaultConfig()
	c.SendBuffer, c.RecvBuffer = 8<<20, 4<<20
	return &c
}

// Rig is a testbed with a forwarder and the two servers.
type Rig struct {
	Bed       *testbed.Bed
	Forwarder *impair.Forwarder
	// PriorityErr is why the rig could not raise its priorities (nil:
	// it did, or RigOptions.NormalPriority); the rig runs regardless.
	PriorityErr error
	Group       *sched.Group
	// fwdPriority and fwdCPUs are the forwarder's Config.Priority and
	// CPUs (Reimpair keeps them).
	fwdPriority int
	fwdCPUs     []int
	ln          net.Listener
	lnDone      sync.WaitGroup
	linuxCC     string
	// restoreNice puts the autogroup's nice level back (nil: unchanged).
	restoreNice func() error

	mu      sync.Mutex
	results map[netip.AddrPort]serverResult // by the client's address
	changed chan struct{}                   // closed and replaced on each result
}

// serverResult is what a server saw of one transfer.
type serverResult struct {
	mode   byte
	octets int64
	sum    [32]byte
	err    error
	tcp    *tcp.Stats // the sluice TCB's counters when it published
}

// NewRig builds the testbed, starts the forwarder and both servers. The
// caller must Close it.
func NewRig(o RigOptions) (r *Rig, err error) {
	if o.TCP == nil {
		o.TCP = Config()
	}
	r = &Rig{results: map[netip.AddrPort]serverResult{}, changed: make(chan struct{}), linuxCC: o.LinuxCC}
	defer func() {
		if err != nil {
			r.Close()
			r = nil
		}
	}()
	if !o.NormalPriority {
		var perr error
		r.restoreNice, perr = setGroupNice(GroupNice)
		r.PriorityErr = errors.Join(r.PriorityErr, perr)
	}
	if r.Bed, err = testbed.Create(testbed.Options{Middle: true}); err != nil {
		return r, err
	}
	if !o.NormalPriority {
		r.fwdPriority, r.fwdCPUs = ForwarderPriority, otherCPUs(o.Cores)
	}
	o.Impair.Priority, o.Impair.CPUs = r.fwdPriority, r.fwdCPUs
	if r.Forwarder, err = impair.Start(r.Bed.Middle, o.Impair); err != nil {
		return r, err
	}
	srv := r.Bed.Server
	r.Group, err = sched.Start(sched.GroupConfig{
		Ifindex: srv.Ifindex,
		Queues:  1,
		Cores:   o.Cores,
		Listen:  []netip.AddrPort{netip.AddrPortFrom(srv.IPv4, SluicePort), netip.AddrPortFrom(srv.IPv6, SluicePort)},
		Handler: &handler{r: r},
		Loop:    sched.LoopConfig{TCP: o.TCP},
		Setup:   srv.Do,
	})
	if err != nil {
		return r, fmt.Errorf("sched.Start: %w", err)
	}
	if !o.NormalPriority {
		r.PriorityErr = errors.Join(r.PriorityErr, raiseLoops(r.Group))
	}
	if err = srv.Do(func() (err error) {
		r.ln, err = net.Listen("tcp", fmt.Sprintf(":%d", LinuxPort))
		return err
	}); err != nil {
		return r, err
	}
	r.lnDone.Add(1)
	go r.serveLinux()
	return r, nil
}

// Reimpair restarts the forwarder with c. Restarted with the same seed
// before each transfer, every transfer of a comparison meets the same
// loss draws frame by frame (one forwarder running on draws a different
// pattern for each, and at 1% loss one run's first loss can come 500
// frames later than another's, which alone doubles an 8 MiB transfer's
// goodput).
func (r *Rig) Reimpair(c impair.Config) error {
	if r.Forwarder != nil {
		if err := r.Forwarder.Close(); err != nil {
			return err
		}
		r.Forwarder = nil
	}
	c.Priority, c.CPUs = r.fwdPriority, r.fwdCPUs
	f, err := impair.Start(r.Bed.Middle, c)
	if err != nil {
		return err
	}
	r.Forwarder = f
	return nil
}

// Close stops everything the rig started and removes the testbed.
func (r *Rig) Close() error {
	var errs []error
	if r.ln != nil {
		errs = append(errs, r.ln.Close())
		r.lnDone.Wait()
	}
	if r.Group != nil {
		errs = append(errs, r.Group.Close())
	}
	if r.Forwarder != nil {
		errs = append(errs, r.Forwarder.Close())
	}
	if r.Bed != nil {
		errs = append(errs, r.Bed.Close())
	}
	if r.restoreNice != nil {
		errs = append(errs, r.restoreNice())
	}
	return errors.Join(errs...)
}

func (r *Rig) publish(client netip.AddrPort, res serverResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results[unmap(client)] = res
	close(r.changed)
	r.changed = make(chan struct{})
}

// await waits for the server's record of the transfer from client.
func (r *Rig) await(ctx context.Context, client netip.AddrPort) (serverResult, error) {
	client = unmap(client)
	for {
		r.mu.Lock()
		res, ok := r.results[client]
		ch := r.changed
		if ok {
			delete(r.results, client)
		}
		r.mu.Unlock()
		if ok {
			return res, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return serverResult{}, fmt.Errorf("waiting for the server's record of %v: %w", client, ctx.Err())
		}
	}
}

func unmap(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) }

// Result is one verified transfer.
type Result struct {
	Target  Target
	Mode    byte // Upload or Download
	Octets  int64
	Elapsed time.Duration // from dial to the last octet and the server's record
	// Sent and Received are the sha256 digests computed by the sending
	// and the receiving end.
	Sent, Received [32]byte
	// TCP is the sluice connection's loss-recovery counters
	// (retransmits, fast recoveries, RTOs, ...) when the server's part
	// ended (for a download: when its last octet was written, so
	// recovery of the last send buffer's worth is not in it); nil for
	// Linux.
	TCP *tcp.Stats
}

// Rate is the transfer's goodput in octets per second.
func (r Result) Rate() float64 { return float64(r.Octets) / r.Elapsed.Seconds() }

func (r Result) String() string {
	s := fmt.Sprintf("%v %c %d MiB in %v: %.1f MB/s", r.Target, r.Mode, r.Octets>>20, r.Elapsed.Round(time.Millisecond), r.Rate()/1e6)
	if t := r.TCP; t != nil {
		s += fmt.Sprintf(" (sluice TCB: %d retransmits, %d fast recoveries (%d SACK), %d RTOs, %d TLPs, %d undos, %d D-SACKs, %d OOO dropped)",
			t.Retransmits, t.FastRetransmits, t.SACKRecoveries, t.RTOExpiries, t.TLPProbes, t.SpuriousUndos, t.DSACKs, t.OOODropped)
	}
	return s
}

// stream is the ChaCha8 text both ends agree on for a seed.
func stream(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	binary.BigEndian.PutUint64(s[:], seed)
	s[8] = 's'
	return rand.NewChaCha8(s)
}

// Transfer runs one transfer of size octets between a client in the Peer
// namespace and target, over IPv4, and checks that both ends computed the
// same sha256. It returns an error on a mismatch, a failed connection, or
// when ctx ends first.
func (r *Rig) Transfer(ctx context.Context, target Target, mode byte, size int64, seed uint64) (Result, error) {
	res := Result{Target: target, Mode: mode, Octets: size}
	port := uint16(SluicePort)
	if target == Linux {
		port = LinuxPort
	}
	start := time.Now()
	var c *net.TCPConn
	if err := r.Bed.Peer.Do(func() error {
		// The client sends an upload: it runs the same congestion
		// control as the Linux server (without this, the host's
		// default, BBR here, sent every upload, to sluice and to Linux).
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error { return setCongestionRaw(rc, r.linuxCC) }}
		conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(r.Bed.Server.IPv4, port).String())
		if err == nil {
			c = conn.(*net.TCPConn)
		}
		return err
	}); err != nil {
		return res, fmt.Errorf("dial %v: %w", target, err)
	}
	defer c.Close()
	// The connection dies with ctx: a transfer that stalls is a failure
	// with a reason, not a hung test.
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var hdr [headerLen]byte
	hdr[0] = mode
	binary.BigEndian.PutUint64(hdr[1:], uint64(size))
	binary.BigEndian.PutUint64(hdr[9:], seed)
	if _, err := c.Write(hdr[:]); err != nil {
		return res, fmt.Errorf("%v: header: %w", target, err)
	}
	h := sha256.New()
	switch mode {
	case Upload:
		if _, err := io.Copy(c, io.TeeReader(io.LimitReader(stream(seed), size), h)); err != nil {
			return res, fmt.Errorf("%v upload: send: %w", target, err)
		}
		h.Sum(res.Sent[:0])
		if err := c.CloseWrite(); err != nil {
			return res, err
		}
		var reply [32]byte
		if _, err := io.ReadFull(c, reply[:]); err != nil {
			return res, fmt.Errorf("%v upload: read the server's digest: %w", target, err)
		}
		res.Received = reply
	case Download:
		n, err := io.Copy(h, c)
		if err != nil {
			return res, fmt.Errorf("%v download: after %d octets: %w", target, n, err)
		}
		if n != size {
			return res, fmt.Errorf("%v download: %d octets, want %d", target, n, size)
		}
		h.Sum(res.Received[:0])
	default:
		return res, fmt.Errorf("unknown mode %q", mode)
	}
	sr, err := r.await(ctx, c.LocalAddr().(*net.TCPAddr).AddrPort())
	res.Elapsed = time.Since(start)
	if err != nil {
		return res, err
	}
	res.TCP = sr.tcp
	if sr.err != nil {
		return res, fmt.Errorf("%v server: %w", target, sr.err)
	}
	if sr.octets != size {
		return res, fmt.Errorf("%v server: %d octets, want %d", target, sr.octets, size)
	}
	if mode == Download {
		res.Sent = sr.sum
	} else if sr.sum != res.Received {
		return res, fmt.Errorf("%v server recorded %x but replied %x", target, sr.sum, res.Received)
	}
	if res.Sent != res.Received {
		return res, fmt.Errorf("%v %c: sha256 sent %x, received %x", target, mode, res.Sent, res.Received)
	}
	return res, nil
}

// otherCPUs lists the CPUs this process may run on other than the loops'
// (cores, as sched.GroupConfig.Cores: nil is CPU 0 for the rig's one
// loop, -1 no pinning), or nil if none is left.
func otherCPUs(cores []int) []int {
	if cores == nil {
		cores = []int{0}
	}
	if slices.Contains(cores, -1) {
		return nil
	}
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) != nil {
		return nil
	}
	var out []int
	for cpu := range runtime.NumCPU() {
		if set.IsSet(cpu) && !slices.Contains(cores, cpu) {
			out = append(out, cpu)
		}
	}
	return out
}

// raiseLoops puts each loop thread in SCHED_FIFO at LoopPriority.
func raiseLoops(g *sched.Group) error {
	for _, l := range g.Loops() {
		tid, err := loopThread(l)
		if err != nil {
			return err
		}
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: LoopPriority}
		if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
			return fmt.Errorf("bulk: SCHED_FIFO for loop thread %d: %w", tid, err)
		}
	}
	return nil
}

// loopThread waits (briefly) for l to start and returns its thread.
func loopThread(l *sched.Loop) (int, error) {
	deadline := time.Now().Add(5 * time.Second)
	for l.Thread() == 0 {
		if time.Now().After(deadline) {
			return 0, errors.New("bulk: a sluice loop did not start within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	return l.Thread(), nil
}

// LoopSchedStat is the sluice loop threads' time on CPU and time spent
// runnable but waiting for a CPU (/proc/self/task/TID/schedstat, summed
// over the loops): the share of a transfer the stack could not run.
func (r *Rig) LoopSchedStat() (run, wait time.Duration, err error) {
	for _, l := range r.Group.Loops() {
		tid, err := loopThread(l)
		if err != nil {
			return 0, 0, err
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/schedstat", tid))
		if err != nil {
			return 0, 0, err
		}
		var ru, wa int64
		if _, err := fmt.Sscan(string(b), &ru, &wa); err != nil {
			return 0, 0, fmt.Errorf("bulk: schedstat %q: %w", b, err)
		}
		run += time.Duration(ru)
		wait += time.Duration(wa)
	}
	return run, wait, nil
}

// setGroupNice sets the nice level of this process's autogroup
// (sched(7)) and returns the function that restores the previous one.
// Without autogroup support it changes nothing.
func setGroupNice(nice int) (restore func() error, err error) {
	const path = "/proc/self/autogroup"
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var name string
	var prev int
	if _, err := fmt.Sscanf(string(b), "%s nice %d", &name, &prev); err != nil {
		return nil, fmt.Errorf("bulk: %s: %q: %w", path, b, err)
	}
	if err := os.WriteFile(path, []byte(fmt.Sprint(nice)), 0); err != nil {
		return nil, fmt.Errorf("bulk: autogroup nice %d: %w", nice, err)
	}
	return func() error { return os.WriteFile(path, []byte(fmt.Sprint(prev)), 0) }, nil
}
