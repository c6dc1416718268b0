package sched

import (
	"errors"
	"fmt"
	"github.com/sluicenet/sluice/tcp/chunk"
	"time"

	"github.com/sluicenet/sluice/afxdp"
	"github.com/sluicenet/sluice/tcp"
)

// LoopConfig shapes one loop. Zero fields take the defaults in brackets.
type LoopConfig struct {
	// TCP is the engine configuration shared, read-only, by every TCB of
	// the loop [DefaultTCPConfig(): RFC 6528 ISNs and SYN cookies; a Group
	// shares one across its loops].
	TCP *tcp.Config
	// Batch is how many RX descriptors one iteration takes [64].
	Batch int
	// BusyPoll is how long an idle loop may keep spinning before it
	// sleeps in poll(2) [50µs]. 0 takes the default; a negative value
	// sleeps as soon as an iteration finds nothing to do. The loop spins
	// only while its spins find frames within a few µs unpreempted;
	// otherwise it sleeps at once and tries a spin now and then.
	BusyPoll time.Duration
	// Core is the CPU the loop's thread is pinned to; -1 leaves it
	// unpinned. (Group fills it from its core list.)
	Core int
	// Umem sizes the loop's packet buffer area [8192 frames of 2048 B
	// (16 MiB), a fill ring of half the frames, a completion ring of
	// 2048]. The fill ring and the RX ring bound the frames a burst may
	// bring in while the loop is not reading: a 64 MiB upload from a
	// CUBIC client at 20 ms ran a 2048-entry fill ring empty (the
	// kernel drops the frame, RxFillRingEmptyDescs, and the client
	// retransmits it), with 2048 frames idle in the pool.
	Umem afxdp.UmemConfig
	// Socket sizes the RX/TX rings and picks the bind mode [RX: the fill
	// ring's size, TX 2048, auto].
	Socket afxdp.SocketConfig
	// PostQueue is the capacity of the loop's MPSC ring of posted work
	// [1024].
	PostQueue int
	// SizeHint pre-sizes the connection table and timer wheel [1024].
	SizeHint int
	// TimeWaitMax bounds the loop's TIME-WAIT entries, its compact table
	// (tcp/timewait): a connection reaching TIME-WAIT moves there (48
	// octets, no pointers) and its TCB is freed [timewait.DefaultMax]. At
	// the bound the connection closes without TIME-WAIT, its TCB freed
	// at once, counted in Stats.TimeWaitTable.RefusedFull, as Linux does
	// past tcp_max_tw_buckets (TCPTimeWaitOverflow). A negative value
	// turns the table off: each TCB then serves TIME-WAIT itself, with
	// no bound but MaxConns (a mode for tests of the TCB's own TIME-WAIT).
	TimeWaitMax int
	// TCBCache is how many freed TCBs (with their buffers) the loop keeps
	// for its listeners to reuse (tcp.Listener.Pool), so accepting a
	// connection allocates nothing in steady state [256]; negative: none.
	TCBCache int
	// MTU is the link's MTU, from which each family's MSS follows (RFC
	// 9293 §3.7.1: MTU less the fixed IP and TCP headers; 40 octets for
	// IPv4, 60 for IPv6, RFC 8200): connections use min(TCP.MSS, that).
	// 0 takes TCP.MSS as IPv4's (MTU = TCP.MSS + 40), so IPv6
	// connections advertise and send 20 octets less: one MSS for both
	// would put IPv6 frames 20 octets over the MTU (two sluice ends each
	// trusting the other's MSS; a Linux peer advertises its own lower
	// IPv6 MSS and hides the mismatch).
	MTU int
	// MaxConns bounds the connections in the loop's table (handshaking,
	// open, closing, and TIME-WAIT kept by a TCB when the compact table is
	// off; compact TIME-WAIT entries are bounded by TimeWaitMax) [0: no
	// bound]. At the bound a segment that would make a connection at a
	// listener (a SYN, or the ACK of a SYN-cookie handshake) is dropped,
	// not answered, and counted in Stats.LimitDrops; Dial fails with
	// ErrConnLimit. Dropping is what Linux does when a listener's queues
	// overflow: the client retries its SYN with backoff (1 s, 2 s, ...)
	// and gets in once connections close, where a RST would fail it at
	// once with "connection refused" from a server that is up; and a SYN
	// flood gets no reply to reflect. The bound is per loop: a Group of n
	// loops holds at most n*MaxConns.
	MaxConns int

	// loss makes the loop drop this fraction of the frames it receives
	// and of the segments it emits, as a lossy wire would: a test hook
	// (the testbed kernel has no netem).
	loss float64
}

func (c *LoopConfig) defaults() error {
	if c.Batch <= 0 {
		c.Batch = 64
	}
	if c.Batch > maxBatch {
		return fmt.Errorf("sched: LoopConfig.Batch %d above %d", c.Batch, maxBatch)
	}
	if c.BusyPoll == 0 {
		c.BusyPoll = 50 * time.Microsecond
	}
	if c.Umem.FrameSize == 0 {
		c.Umem.FrameSize = 2048
	}
	if c.Umem.FrameCount == 0 {
		c.Umem.FrameCount = 8192
	}
	if c.Umem.FillSize == 0 {
		c.Umem.FillSize = fillSize(c.Umem.FrameCount)
	}
	if c.Socket.RxSize == 0 {
		c.Socket.RxSize = c.Umem.FillSize
	}
	if c.Umem.CompletionSize == 0 {
		c.Umem.CompletionSize = 2048
	}
	if c.Umem.FrameCount < 64 {
		return fmt.Errorf("sched: %d UMEM frames are too few for a loop (want at least 64)", c.Umem.FrameCount)
	}
	if c.PostQueue <= 0 {
		c.PostQueue = 1024
	}
	if c.TCBCache == 0 {
		c.TCBCache = 256
	}
	if c.SizeHint <= 0 {
		c.SizeHint = 1024
	}
	if c.TCP == nil {
		cfg := tcp.DefaultConfig()
		c.TCP = &cfg
	}
	if err := c.TCP.Validate(); err != nil {
		return err
	}
	if int(c.TCP.MSS)+tcpFrameOverhead > int(c.Umem.FrameSize) {
		return fmt.Errorf("sched: MSS %d does not fit a %d-byte UMEM frame with headers; lower tcp.Config.MSS or raise the frame size",
			c.TCP.MSS, c.Umem.FrameSize)
	}
	return nil
}

// fillSize is the fill ring for frames UMEM frames: the largest power of
// two up to half of them (refill keeps a quarter in the pool for TX, so a
// larger ring would never be full). The RX ring takes the same size: the
// kernel can put in it at most the frames the fill ring gave it, and with
// fewer entries a burst the loop has not yet read would overflow it
// before the fill ring ran out.
func fillSize(frames uint32) uint32 {
	n := uint32(1)
	for n*2 <= frames/2 {
		n *= 2
	}
	return n
}

// tcpFrameOverhead is the largest header stack the loop writes before a
// segment's text: Ethernet + 802.1Q, IPv6, TCP with 40 octets of options.
const tcpFrameOverhead = 18 + 40 + 60

// maxBatch bounds LoopConfig.Batch (the per-iteration scratch arrays).
const maxBatch = 256

// ErrConnLimit: Dial found its loop at LoopConfig.MaxConns.
var ErrConnLimit = errors.New("sched: loop is at its connection limit (LoopConfig.MaxConns)")

// ErrLoopClosed is the error OnClose reports for connections still open
// when their loop stops, and the error of operations on a stopped loop.
var ErrLoopClosed = errors.New("sched: loop closed")

// familyConfig is tcp's Config for one address family: the same Config
// when its MSS fits, else a copy (sharing the keys) with the MSS the MTU
// allows for that family's header.
func familyConfig(c *tcp.Config, mtu int, v6 bool) *tcp.Config {
	if mtu <= 0 {
		mtu = int(c.MSS) + 40
	}
	hdr := 40
	if v6 {
		hdr = 60
	}
	mss := mtu - hdr
	cp := *c
	if mss > 0 && int(c.MSS) > mss {
		cp.MSS = uint16(mss)
	}
	// Each loop's buffers come from its own pool (no lock), on the
	// server's budget; so do its out-of-order and SACK range storage and
	// its per-flight sender state.
	cp.Pool = chunk.NewPool(c.Budget)
	cp.Ranges = new(tcp.RangePool)
	cp.Senders = new(tcp.SenderPool)
	return &cp
}
