// Package impair is the bad network of sluice's system tests: a user-space
// forwarder between the two links of a testbed's middle namespace
// (testbed.Options.Middle) that loses, duplicates, reorders, delays (with
// jitter) and rate-limits the frames it moves, from a seeded random source,
// and counts what it did.
//
// It exists because the kernels sluice is tested on (CI's included) are
// built without the netem qdisc (and without fq, fq_codel and prio), which
// is what such tests would use elsewhere. The forwarder reads each frame
// from an AF_PACKET socket on one middle link and writes it, unchanged, to
// an AF_PACKET socket on the other (recvmmsg/sendmmsg batches), after
// deciding its fate:
//
//   - Loss: dropped with probability Loss.
//   - Duplicate: sent twice with probability Duplicate.
//   - Delay and Jitter: held Delay ± Jitter (uniform). By default jitter
//     keeps the order of frames (a frame never leaves before the one read
//     before it, as on a real path whose latency varies); JitterReorders
//     lets them overtake each other, as netem does.
//   - Reorder: with probability Reorder a frame is held ReorderDelay longer
//     than its neighbours, so those read after it overtake it.
//   - Rate: frames leave no faster than Rate bits per second (frame octets
//     × 8, as tbf counts), queueing up to Limit frames, the rest dropped
//     (counted as Overflow): a bottleneck link with a tail-drop buffer.
//
// Only frames that Match (IPv4 and IPv6 by default) are impaired; others
// (ARP) cross at once, so neighbour resolution is not what a test measures.
// Each direction has its own queue, its own random stream (from Seed and
// the direction) and its own counters, so a fixed seed and the same
// sequence of frames give the same decisions every run.
package impair

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/testbed"
)

// Impairment is what happens to frames going one way.
type Impairment struct {
	Loss      float64 // probability a frame is dropped
	Duplicate float64 // probability a frame is sent twice
	// Reorder is the probability that a frame is held ReorderDelay
	// [1ms] longer than its neighbours, so later frames overtake it.
	Reorder      float64
	ReorderDelay time.Duration
	// Delay is the one-way latency added to every frame, Jitter the
	// half-width of a uniform spread around it (Jitter <= Delay).
	Delay, Jitter time.Duration
	// JitterReorders lets jitter reorder frames (netem's behaviour);
	// false keeps them in order.
	JitterReorders bool
	// Rate bounds the outgoing bit rate (frame octets × 8 per second);
	// 0 is no bound.
	Rate int64
	// Limit bounds the frames waiting in this direction's queue
	// [10000]; a frame that finds it full is dropped (Stats.Overflow).
	Limit int
}

// DefaultLimit is Impairment.Limit's default: enough for 10 ms of delay at
// several Gbit/s of 1500-octet frames, and at most ~20 MiB of buffers.
const DefaultLimit = 10000

func (i Impairment) queued() bool {
	return i.Delay > 0 || i.Jitter > 0 || i.Reorder > 0 || i.Rate > 0
}

func (i *Impairment) validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"Loss", i.Loss}, {"Duplicate", i.Duplicate}, {"Reorder", i.Reorder}} {
		if !(p.v >= 0 && p.v <= 1) {
			return fmt.Errorf("impair: %s %v is not a probability in [0, 1]", p.name, p.v)
		}
	}
	switch {
	case i.Delay < 0 || i.Jitter < 0 || i.ReorderDelay < 0:
		return errors.New("impair: negative Delay, Jitter or ReorderDelay")
	case i.Jitter > i.Delay:
		return fmt.Errorf("impair: Jitter %v above Delay %v (a frame cannot leave before it came)", i.Jitter, i.Delay)
	case i.Rate < 0 || i.Limit < 0:
		return errors.New("impair: negative Rate or Limit")
	}
	if i.ReorderDelay == 0 {
		i.ReorderDelay = time.Millisecond
	}
	if i.Limit == 0 {
		i.Limit = DefaultLimit
	}
	return nil
}

// Config is the whole forwarder's setting.
type Config struct {
	// Seed seeds both directions' random streams.
	Seed uint64
	// ToPeer applies to frames from Server to Peer, ToServer to frames
	// from Peer to Server.
	ToPeer, ToServer Impairment
	// Match picks the frames that are impaired; the others are forwarded
	// at once, untouched [IsIP].
	Match func(frame []byte) bool
	// Priority, when above 0, runs each of the forwarder's goroutines on
	// a thread of its own in SCHED_FIFO at this priority (1-99; root or
	// CAP_SYS_NICE), so that nothing at a lower priority on the machine
	// (a server under test raised to real time, bulk.LoopPriority)
	// preempts the network: on a real host the wire and the NIC's
	// interrupt work are not scheduled behind a user thread. 0 leaves the
	// threads at the process's policy.
	Priority int
	// CPUs, when not empty, pins each of the forwarder's goroutines to
	// a thread of its own allowed only on these CPUs: with Priority, a
	// core kept for a server under test (bulk.Rig pins its loop) is not
	// taken by the network's bursts, as a NIC fills its ring while the
	// server's core runs.
	CPUs []int
}

// ownThread gives the calling goroutine a thread of its own at c's
// Priority and CPUs, when c asks for either, and returns the function
// that puts the thread back as it was. The thread is never unlocked: it
// ends with the goroutine instead of serving other ones (the process's
// main thread cannot end and is parked for good instead, hence the
// restore).
func (c *Config) ownThread() (restore func(), err error) {
	if c.Priority <= 0 && len(c.CPUs) == 0 {
		return func() {}, nil
	}
	runtime.LockOSThread()
	var oldSet unix.CPUSet
	oldAttr, err := unix.SchedGetAttr(0, 0)
	if err == nil {
		err = unix.SchedGetaffinity(0, &oldSet)
	}
	if err != nil {
		return nil, fmt.Errorf("impair: this thread's scheduling: %w", err)
	}
	restore = func() {
		unix.SchedSetAttr(0, oldAttr, 0)
		unix.SchedSetaffinity(0, &oldSet)
	}
	if len(c.CPUs) > 0 {
		var set unix.CPUSet
		for _, cpu := range c.CPUs {
			set.Set(cpu)
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			restore()
			return nil, fmt.Errorf("impair: CPUs %v: %w", c.CPUs, err)
		}
	}
	if c.Priority > 0 {
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: uint32(c.Priority)}
		if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
			restore()
			return nil, fmt.Errorf("impair: SCHED_FIFO %d: %w", c.Priority, err)
		}
	}
	return restore, nil
}

// Both is a Config that impairs both directions alike.
func Both(seed uint64, i Impairment) Config {
	return Config{Seed: seed, ToPeer: i, ToServer: i}
}

// IsIP reports whether an Ethernet frame carries IPv4 or IPv6.
func IsIP(frame []byte) bool {
	if len(frame) < 14 {
		return false
	}
	t := uint16(frame[12])<<8 | uint16(frame[13])
	return t == 0x0800 || t == 0x86dd
}

// Stats counts what one direction did. Every frame read is either Lost,
// dropped as Overflow or Oversize, or sent (twice if Duplicated); Sent
// counts every copy written, SendErrors the writes the kernel refused.
type Stats struct {
	Received   uint64 // frames read from the incoming link
	Passed     uint64 // of those, frames Match rejected, forwarded untouched
	Lost       uint64
	Duplicated uint64 // frames sent twice (one extra copy each)
	Reordered  uint64 // frames held back by ReorderDelay
	Overflow   uint64 // frames dropped because the queue held Limit
	Oversize   uint64 // frames longer than the MTU allows (not forwarded)
	Sent       uint64 // frames written to the outgoing link, copies included
	SentBytes  uint64
	SendErrors uint64 // writes the kernel refused after retries
	// KernelDrops are frames the kernel dropped before the forwarder read
	// them (socket buffer full, PACKET_STATISTICS): loss nobody chose.
	KernelDrops uint64
	MaxQueue    int // the most frames ever waiting in the queue
	// QueueWaitP50 and QueueWaitP99 are the median and 99th-percentile
	// time a frame waited for the Rate-limited link (queueing delay,
	// the RTT inflation under load; not Delay, not its own transmission),
	// rounded up to the millisecond; 0 without Rate.
	QueueWaitP50, QueueWaitP99 time.Duration
}

// Forwarder moves frames between a middle namespace's two links.
type Forwarder struct {
	toPeer, toServer *direction
	ports            [2]*port // ServerSide, PeerSide
	stop             chan struct{}
	wg               sync.WaitGroup
	closeOnce        sync.Once
}

// Start opens AF_PACKET sockets on m's two links and starts forwarding
// between them under c. Close stops it.
func Start(m *testbed.Middle, c Config) (*Forwarder, error) {
	if m == nil {
		return nil, errors.New("impair: the testbed has no middle namespace (testbed.Options.Middle)")
	}
	if err := c.ToPeer.validate(); err != nil {
		return nil, fmt.Errorf("ToPeer: %w", err)
	}
	if err := c.ToServer.validate(); err != nil {
		return nil, fmt.Errorf("ToServer: %w", err)
	}
	if c.Match == nil {
		c.Match = IsIP
	}
	f := &Forwarder{stop: make(chan struct{})}
	bufLen := max(m.MTU+64, 2048)
	err := m.Do(func() error {
		for i, p := range []testbed.Port{m.ServerSide, m.PeerSide} {
			var err error
			if f.ports[i], err = openPort(p.Link, p.Ifindex); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		f.closePorts()
		return nil, err
	}
	f.toPeer = newDirection("to peer", f.ports[0], f.ports[1], c.ToPeer, c.Match, c.Seed, 1, bufLen, f.stop)
	f.toServer = newDirection("to server", f.ports[1], f.ports[0], c.ToServer, c.Match, c.Seed, 2, bufLen, f.stop)
	var runs []func()
	for _, d := range []*direction{f.toPeer, f.toServer} {
		runs = append(runs, d.read)
		if d.imp.queued() {
			runs = append(runs, d.send)
		}
	}
	started := make(chan error, len(runs))
	for _, run := range runs {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			restore, err := c.ownThread()
			started <- err
			if err != nil {
				return
			}
			defer restore()
			run()
		}()
	}
	var errs []error
	for range runs {
		errs = append(errs, <-started)
	}
	if err := errors.Join(errs...); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Stats returns the counters of each direction so far.
func (f *Forwarder) Stats() (toPeer, toServer Stats) {
	return f.toPeer.stats(), f.toServer.stats()
}

// Close stops forwarding (frames still queued are discarded) and closes
// the sockets. It is safe to call more than once.
func (f *Forwarder) Close() error {
	var err error
	f.closeOnce.Do(func() {
		close(f.stop)
		f.wg.Wait()
		// Fold the last kernel drop counts in before the sockets go.
		f.toPeer.stats()
		f.toServer.stats()
		err = f.closePorts()
	})
	return err
}

func (f *Forwarder) closePorts() error {
	var errs []error
	for _, p := range f.ports {
		if p != nil {
			errs = append(errs, p.close())
		}
	}
	return errors.Join(errs...)
}

// String summarises both directions' counters for test logs.
func (s Stats) String() string {
	return fmt.Sprintf("rx %d (passed %d) lost %d dup %d reord %d overflow %d oversize %d | tx %d (%d B) errs %d | kernel drops %d, max queue %d, queue wait p50 %v p99 %v",
		s.Received, s.Passed, s.Lost, s.Duplicated, s.Reordered, s.Overflow, s.Oversize, s.Sent, s.SentBytes, s.SendErrors, s.KernelDrops, s.MaxQueue, s.QueueWaitP50, s.QueueWaitP99)
}
