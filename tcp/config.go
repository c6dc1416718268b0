package tcp

import (
	"errors"
	"time"

	"github.com/sluicenet/sluice/tcp/chunk"
	"github.com/sluicenet/sluice/tcp/isn"
	"github.com/sluicenet/sluice/tcp/syncookie"
)

// Config holds the tunables of the engine. One Config is shared by every
// TCB of a loop, read-only but for the free lists it points to (Pool,
// Ranges, Senders) and the Segment emissions are built in, so the TCBs
// of one Config are driven by one goroutine (or copies of it are made);
// DefaultConfig gives Linux's defaults.
type Config struct {
	// MSS is the largest segment text we accept, advertised in our SYN
	// (RFC 9293 §3.7.1): link MTU minus IP and TCP headers. The MSS we
	// send with is min(this, the peer's MSS), minus the timestamp option.
	MSS uint16
	// SendBuffer and RecvBuffer are the per-connection buffer sizes in
	// octets. The receive buffer also holds out-of-order data, so it
	// bounds the reassembly queue.
	SendBuffer, RecvBuffer int
	// SendBufferMax and RecvBufferMax bound buffer auto-tuning: a buffer
	// doubles, up to its bound, when a transfer is limited by it
	// (autotune.go). DefaultConfig lets them grow to Linux's maxima,
	// DefaultSendBufferMax (tcp_wmem) and DefaultRecvBufferMax (tcp_rmem).
	// 0, or no more than the starting size, turns auto-tuning off. The
	// receive buffer bounds the window advertised, so RecvBufferMax also
	// bounds what a peer can make this connection hold; the memory budget
	// (Budget) bounds them all together.
	SendBufferMax, RecvBufferMax int
	// MaxOOORanges bounds the disjoint out-of-order ranges a connection
	// reassembles (their octets are bounded by RecvBuffer); a segment that
	// would need one more is dropped and counted (Stats.OOODropped). Eight
	// live in the TCB; beyond them MaxOOORanges slots of 8 octets are
	// allocated once, when a connection first needs them. 0 takes
	// DefaultMaxOOORanges; values below 8 mean 8. The same bound applies
	// to the sender's SACK scoreboard (sack.go).
	MaxOOORanges int
	// MSL is the maximum segment lifetime; TIME-WAIT lasts 2*MSL
	// (RFC 9293 §3.4.2). Linux uses 60 s of TIME-WAIT, MSL 30 s.
	MSL time.Duration
	// FinTimeout bounds FIN-WAIT-2 for a connection the application has
	// fully closed (Linux tcp_fin_timeout).
	FinTimeout time.Duration
	// SynRetries and SynAckRetries bound SYN and SYN-ACK retransmissions
	// (tcp_syn_retries=6, tcp_synack_retries=5); DataRetries bounds
	// retransmissions of data, FIN and unanswered zero-window probes
	// (tcp_retries2=15) before the connection fails with ErrTimeout.
	SynRetries, SynAckRetries, DataRetries int
	// InitialRTO, MinRTO, MaxRTO shape the RFC 6298 timer (Linux: 1 s,
	// 200 ms, 120 s).
	InitialRTO, MinRTO, MaxRTO time.Duration
	// DelayedACK is the delayed-ACK timeout (RFC 9293 §3.8.6.3: < 0.5 s;
	// Linux's minimum is 40 ms).
	DelayedACK time.Duration
	// QuickACKs is how many segments are ACKed at once at connection
	// start (Linux quickack mode), before delaying.
	QuickACKs int
	// NoDelay turns Nagle's algorithm (RFC 9293 §3.7.4) off.
	NoDelay bool
	// KeepAlive enables keepalive probes after KeepIdle of silence, every
	// KeepInterval, giving up after KeepCount unanswered probes
	// (RFC 9293 §3.8.4; Linux 7200 s / 75 s / 9).
	KeepAlive                 bool
	KeepIdle, KeepInterval    time.Duration
	KeepCount                 int
	ChallengeACKLimit         int   // challenge ACKs per second (RFC 5961 §7; Linux 1000)
	WindowScale               uint8 // our shift (RFC 7323 §2); used only if the peer offers one
	Timestamps, SACK          bool  // offer RFC 7323 timestamps / RFC 2018 SACK
	SynBacklog, AcceptBacklog int   // listener queue bounds
	// SynCookies makes a listener answer SYNs statelessly when its SYN
	// queue is full (RFC 4987), with the keys of Cookies.
	SynCookies bool
	Cookies    *syncookie.Jar
	// CC is the congestion controller: CUBIC (RFC 9438, the default) or
	// NewReno (RFC 5681, RFC 6582).
	CC Algorithm
	// Pacing spreads a window controller's segments over the RTT instead
	// of sending each window as a burst (pacing.go): rate 2x cwnd/SRTT in
	// slow start, 1.2x after (Linux tcp_update_pacing_rate under fq).
	// BBR always paces at its own rate, whatever this says.
	Pacing bool
	// ISN chooses the initial send sequence number of a connection
	// (RFC 9293 §3.4.1, RFC 6528). Nil uses a clock-driven default that
	// is NOT unpredictable; the loop installs tcp/isn's generator.
	ISN func(id *ID, now Instant) Seq
	// TSOffset returns the per-connection timestamp offset (RFC 7323
	// §5.4). Nil means 0.
	TSOffset func(id *ID) uint32
	// Pool is the loop's source of buffer chunks (tcp/chunk), drawing on
	// the server's memory budget; one per loop, like the Config. Nil gives
	// each buffer a private pool without a budget.
	Pool *chunk.Pool
	// Budget bounds the buffer memory of every loop of a server (tcp_mem);
	// the owner makes each loop's Pool draw on it. Nil: no bound.
	Budget *chunk.Budget
	// Ranges is the loop's free list of out-of-order and SACK range
	// storage (ranges.go), which a connection holds only while its
	// sequence space has holes; one per loop, like Pool. Nil: the
	// storage is allocated when needed and left to the garbage collector.
	Ranges *RangePool
	// Senders is the loop's free list of per-flight sender state (RACK's
	// transmit records, rate sampling: SenderPool), which a connection
	// then holds only while a flight of several segments is out or a
	// recovery runs; one per loop, like Pool. Nil: a connection keeps
	// that state from its first such flight until it closes.
	Senders *SenderPool

	// scratch is the Segment the TCBs on this Config build their
	// emissions in (output.go): like Pool and Ranges it makes a Config
	// one goroutine's.
	scratch emitScratch
	// flow is the 4-tuple handed to ISN and TSOffset (TCB.flow), here
	// for the same reason.
	flow ID
}

// UseGenerator makes the TCBs draw their ISN (RFC 6528) and timestamp
// offset (RFC 7323 §5.4) from g.
func (c *Config) UseGenerator(g *isn.Generator) {
	c.ISN = func(id *ID, now Instant) Seq {
		return Seq(g.ISN(id.LocalAddr, id.RemoteAddr, id.LocalPort, id.RemotePort, int64(now)))
	}
	c.TSOffset = func(id *ID) uint32 {
		return g.TSOffset(id.LocalAddr, id.RemoteAddr, id.LocalPort, id.RemotePort)
	}
}

// Auto-tuning bounds: Linux's tcp_wmem and tcp_rmem maxima. A window of
// 6 MiB fills a 1 Gbit/s path of 48 ms RTT; the window scale of 7
// reaches 8 MiB.
const (
	DefaultSendBufferMax = 4 << 20
	DefaultRecvBufferMax = 6 << 20
)

// DefaultConfig returns Linux-like defaults.
func DefaultConfig() Config {
	return Config{
		MSS:               1460,
		SendBuffer:        64 << 10,
		RecvBuffer:        64 << 10,
		SendBufferMax:     DefaultSendBufferMax,
		RecvBufferMax:     DefaultRecvBufferMax,
		MaxOOORanges:      DefaultMaxOOORanges,
		MSL:               30 * time.Second,
		FinTimeout:        60 * time.Second,
		SynRetries:        6,
		SynAckRetries:     5,
		DataRetries:       15,
		InitialRTO:        time.Second,
		MinRTO:            200 * time.Millisecond,
		MaxRTO:            120 * time.Second,
		DelayedACK:        40 * time.Millisecond,
		QuickACKs:         16,
		KeepIdle:          2 * time.Hour,
		KeepInterval:      75 * time.Second,
		KeepCount:         9,
		ChallengeACKLimit: 1000,
		WindowScale:       7,
		Timestamps:        true,
		SACK:              true,
		SynBacklog:        512,
		AcceptBacklog:     128,
	}
}

// Validate reports a configuration the engine cannot run with.
func (c *Config) Validate() error {
	switch {
	case c.MSS < 64:
		return errors.New("tcp: Config.MSS below 64")
	case c.SendBuffer < int(c.MSS) || c.RecvBuffer < int(c.MSS):
		return errors.New("tcp: Config buffers must hold at least one MSS")
	case c.RecvBuffer > 1<<30 || c.SendBuffer > 1<<30 || c.RecvBufferMax > 1<<30 || c.SendBufferMax > 1<<30:
		return errors.New("tcp: Config buffers above 1 GiB")
	case c.MaxOOORanges > maxOOORangesLimit:
		return errors.New("tcp: Config.MaxOOORanges above 65536")
	case c.WindowScale > 14:
		return errors.New("tcp: Config.WindowScale above 14 (RFC 7323 §2.3)")
	case c.MSL <= 0 || c.InitialRTO <= 0 || c.MinRTO <= 0 || c.MaxRTO < c.MinRTO:
		return errors.New("tcp: Config timers must be positive (MSL, RTOs)")
	case c.SynBacklog <= 0 || c.AcceptBacklog <= 0:
		return errors.New("tcp: Config backlogs must be positive")
	case c.SynCookies && c.Cookies == nil:
		return errors.New("tcp: Config.SynCookies needs Config.Cookies")
	}
	return nil
}
