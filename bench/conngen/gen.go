package conngen

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sluicenet/sluice/bench/loadgen"
	"github.com/sluicenet/sluice/wire"
)

// Config shapes a generator.
type Config struct {
	Server         netip.AddrPort // where to connect
	Client         netip.Prefix   // the client addresses owned (inside the testbed's ranges), same family as Server
	SrcMAC, DstMAC wire.MAC       // the client link's and the server's (or the next hop's)
	// Slots is how many connections are in progress at once [256].
	Slots int
	// FirstTuple is where the tuple numbering starts (rounded up to a
	// multiple of Slots); a second generator on the same prefix within
	// 2*MSL starts where the first one ended (Gen.NextTuple).
	FirstTuple uint64
	// Request is sent on every connection [GET / HTTP/1.1, Host, Connection: close].
	Request []byte
	// WantLength is the Content-Length every response must have; -1: any.
	WantLength int64
	RTO        time.Duration // first retransmission timeout [200 ms]
	Retries    int           // retransmissions before a connection is given up [3]
	Key        uint64        // ISN key; 0 takes one from the clock
	// Limit stops opening connections after this many (0: no limit).
	Limit uint64
	// Rate paces new connections to this many a second from the first
	// Tick (0: as fast as slots free up). The pace keeps no memory of
	// slack: a Tick that finds the generator behind (the server slow,
	// every slot busy) opens what it owes at once, as far as free slots
	// allow, so every second of a run the server keeps up with holds the
	// rate.
	Rate float64
	// Idle opens connections and leaves them to the server: the third
	// segment is a bare ACK, after which the slot moves on to its next
	// tuple and the connection counts as completed. Nothing is sent on a
	// held connection again but the ACK answering a retransmitted
	// SYN-ACK; whatever else the server sends on it is counted (Held)
	// and not answered, so it stays ESTABLISHED on the server until the
	// server ends it. Request and WantLength are not used.
	Idle bool
	// Trace, when set, sees every received segment counted as an error
	// or a retransmission, with the counter's name (for debugging).
	Trace func(what string, f *wire.Frame)
}

// Stats count what the generator did. Errors are every field from RST on.
type Stats struct {
	Started   uint64 // SYNs sent for new connections
	Completed uint64 // connections closed in order with a checked response
	Retrans   uint64 // segments sent again after an RTO
	// SynAckAgain counts SYN-ACKs that came again for a connection whose
	// ACK the server had not seen; each got the ACK+GET again.
	SynAckAgain uint64
	FinAgain    uint64 // server FINs that came again; re-answered
	DupData     uint64 // data segments already seen or beyond a gap; ACKed
	LateACK     uint64 // the server's ACK of our FIN again, after the connection ended; ignored
	// Held counts segments other than a SYN-ACK on connections an Idle
	// generator has left to the server (keep-alive probes, data, FIN,
	// RST): not answered, not errors.
	Held uint64
	// Unfinished counts connections still in progress when the run
	// ended (Abort): reset, not errors (the server was still working on
	// them when the generator stopped waiting).
	Unfinished uint64

	RST         uint64 // connections the server reset
	Timeouts    uint64 // connections given up after Retries
	BadAck      uint64 // SYN-ACKs acknowledging no SYN of ours (refused with a RST)
	BadResponse uint64 // responses not 200, wrong length, not closing, or a split head
	Short       uint64 // server FINs before the whole response
	Stale       uint64 // segments for a tuple no longer in progress (answered with a RST)
	Unexpected  uint64 // segments no state expects (a SYN without ACK, data before the handshake)
	TXFull      uint64 // frames not sent: no TX buffer (the RTO sends them again)
	BadFrames   uint64 // received frames that did not parse or are not for our range
}

// Errors is the sum of the error counters.
func (s *Stats) Errors() uint64 {
	return s.RST + s.Timeouts + s.BadAck + s.BadResponse + s.Short + s.Stale + s.Unexpected + s.TXFull + s.BadFrames
}

// String lists the non-zero error counters.
func (s *Stats) String() string {
	out := ""
	for _, e := range []struct {
		n    uint64
		name string
	}{{s.RST, "rst"}, {s.Timeouts, "timeout"}, {s.BadAck, "bad-ack"}, {s.BadResponse, "bad-response"},
		{s.Short, "short"}, {s.Stale, "stale"}, {s.Unexpected, "unexpected"}, {s.TXFull, "tx-full"}, {s.BadFrames, "bad-frame"}} {
		if e.n > 0 {
			if out != "" {
				out += " "
			}
			out += fmt.Sprintf("%s=%d", e.name, e.n)
		}
	}
	return out
}

// TX is where a Gen puts the frames it sends. Buf returns a buffer to
// build the next frame in (nil when none is free now); Send queues its
// first n octets.
type TX interface {
	Buf() []byte
	Send(n int)
}

// Slot states.
const (
	free    uint8 = iota
	synSent       // SYN out, waiting for the SYN-ACK
	open          // ACK+GET out, reading the response until the server's FIN
	lastAck       // our FIN out (after the server's), waiting for its ACK
)

// slot is one connection in progress: what the frames do not carry.
type slot struct {
	tuple uint64
	start int64  // SYN sent (ns, the caller's clock)
	due   int64  // retransmission deadline
	irs   uint32 // the server's ISN, from its SYN-ACK
	rcvd  uint32 // response octets received in order
	want  uint32 // response length once its head is parsed; 0: not yet
	state uint8
	tries uint8
	bad   bool // the response failed a check: the connection closes but does not count
}

// Gen is the state machine of every connection in progress. It is driven
// by one goroutine (Input, Tick) and allocates nothing per frame.
type Gen struct {
	cfg     Config
	ts      tuples
	slots   []slot
	end     uint64 // tuples from it on are not opened (Limit, the prefix's size)
	frame   wire.Frame
	spec    wire.TCPFrameSpec
	reqLen  uint32
	rto     int64
	stopped bool // no new connections (Stop)
	ticked  bool // pace0 is set
	pace0   int64
	// measuring: completions are counted in Stats and the histogram only
	// between From and To (the caller's clock); 0, 0: always.
	from, to int64
	Stats    Stats
	Latency  *hdrhistogram.Histogram // SYN sent to the server's ACK of our FIN, ns
	// Window counts the connections completed inside [from, to), and
	// Seconds what happened in each second of it.
	Window  uint64
	Seconds []Second
	census  int // Seconds whose slot census is taken
}

// Second is what the generator saw in one second of the measured window:
// in a slow second, whether its connections waited for the server (in
// SynSent, Open or LastAck at the second's end), for an RTO (Retrans) or
// for nothing (all slots busy is Config.Slots).
type Second struct {
	Completed uint64 // connections completed
	Retrans   uint64 // segments sent again after an RTO
	// SynSent, Open and LastAck count the slots in each state at the
	// second's end (at the first Tick after it).
	SynSent, Open, LastAck int
}

// New makes a generator; nothing is sent before the first Tick.
func New(cfg Config) (*Gen, error) {
	if cfg.Slots <= 0 {
		cfg.Slots = 256
	}
	if cfg.RTO <= 0 {
		cfg.RTO = 200 * time.Millisecond
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 3
	}
	if cfg.Key == 0 {
		cfg.Key = uint64(time.Now().UnixNano())
	}
	if cfg.Request == nil {
		cfg.Request = []byte("GET / HTTP/1.1\r\nHost: " + cfg.Server.String() + "\r\nConnection: close\r\n\r\n")
	}
	if !cfg.Server.IsValid() || cfg.Server.Addr().Is4() != cfg.Client.Addr().Is4() {
		return nil, errors.New("conngen: Server and Client must be valid and of one family")
	}
	ts, err := newTuples(cfg.Client)
	if err != nil {
		return nil, err
	}
	g := &Gen{cfg: cfg, ts: ts, slots: make([]slot, cfg.Slots), reqLen: uint32(len(cfg.Request)),
		rto: int64(cfg.RTO), Latency: hdrhistogram.New(1, int64(time.Minute), 3)}
	n := uint64(cfg.Slots)
	first := (cfg.FirstTuple + n - 1) / n * n
	g.end = ts.count() / n * n
	if cfg.Limit > 0 {
		g.end = min(g.end, first+cfg.Limit)
	}
	if first >= g.end {
		return nil, fmt.Errorf("conngen: no tuples left in %v from %d", cfg.Client, cfg.FirstTuple)
	}
	for i := range g.slots {
		g.slots[i].tuple = first + uint64(i)
	}
	g.spec = wire.TCPFrameSpec{SrcMAC: cfg.SrcMAC, DstMAC: cfg.DstMAC, Dst: cfg.Server.Addr(),
		DstPort: cfg.Server.Port(), Window: 65535}
	return g, nil
}

// Measure counts completions in Window only inside [from, to) of the
// caller's clock.
func (g *Gen) Measure(from, to int64) {
	g.from, g.to = from, to
	g.Seconds = make([]Second, (to-from+int64(time.Second)-1)/int64(time.Second))
	g.census = 0
}

// second is the Second that instant now falls in, or nil outside the window.
func (g *Gen) second(now int64) *Second {
	if g.to == 0 || now < g.from || now >= g.to {
		return nil
	}
	return &g.Seconds[(now-g.from)/int64(time.Second)]
}

// takeCensus counts the slots' states into every second of the window
// that has ended by now and has no census yet.
func (g *Gen) takeCensus(now int64) {
	if g.to == 0 || now < g.from {
		return
	}
	for ; g.census < len(g.Seconds) && now >= g.from+int64(g.census+1)*int64(time.Second); g.census++ {
		sec := &g.Seconds[g.census]
		for i := range g.slots {
			switch g.slots[i].state {
			case synSent:
				sec.SynSent++
			case open:
				sec.Open++
			case lastAck:
				sec.LastAck++
			}
		}
	}
}

// Stop opens no more connections; those in progress go on to their end.
func (g *Gen) Stop() { g.stopped = true }

// InProgress is how many connections have not ended yet.
func (g *Gen) InProgress() int {
	n := 0
	for i := range g.slots {
		if g.slots[i].state != free {
			n++
		}
	}
	return n
}

// Done reports that every connection has ended and none will be opened
// (Stop, or Limit reached). An Idle generator is done only once stopped:
// until then it answers the SYN-ACKs of the connections it holds.
func (g *Gen) Done() bool {
	if g.cfg.Idle && !g.stopped {
		return false
	}
	for i := range g.slots {
		if s := &g.slots[i]; s.state != free || (!g.stopped && s.tuple < g.end) {
			return false
		}
	}
	return true
}

// NextTuple is past every tuple this generator has used: where a later
// one on the same prefix starts.
func (g *Gen) NextTuple() uint64 {
	var next uint64
	for i := range g.slots {
		next = max(next, g.slots[i].tuple+1)
	}
	return next
}

// Tick opens connections on free slots and runs due retransmissions and
// timeouts. now is the caller's monotonic clock in nanoseconds.
func (g *Gen) Tick(now int64, tx TX) {
	g.takeCensus(now)
	if !g.ticked {
		g.ticked, g.pace0 = true, now // Config.Rate counts from here
	}
	for i := range g.slots {
		s := &g.slots[i]
		if s.state != free && now >= s.due {
			g.expire(s, now, tx)
		}
		if s.state == free {
			g.open(s, now, tx)
		}
	}
}

// open starts the slot's next tuple.
func (g *Gen) open(s *slot, now int64, tx TX) {
	if g.stopped || s.tuple >= g.end || g.behindPace(now) {
		return
	}
	*s = slot{tuple: s.tuple, start: now, due: now + g.rto, state: synSent}
	g.Stats.Started++
	g.send(s, wire.TCPFlagSYN, g.iss(s), 0, nil, tx)
}

// behindPace reports whether Config.Rate allows no new connection at now:
// one at the first Tick and one every 1/Rate after it have been started.
func (g *Gen) behindPace(now int64) bool {
	return g.cfg.Rate > 0 && float64(g.Stats.Started) > g.cfg.Rate*float64(now-g.pace0)/1e9
}

func (g *Gen) iss(s *slot) uint32 { return iss(g.cfg.Key, s.tuple) }

// expire retransmits the slot's last segment or gives the connection up.
func (g *Gen) expire(s *slot, now int64, tx TX) {
	if int(s.tries) >= g.cfg.Retries {
		g.Stats.Timeouts++
		if s.state != synSent {
			g.send(s, wire.TCPFlagRST, g.iss(s)+1+g.reqLen, 0, nil, tx)
		}
		g.release(s)
		return
	}
	s.tries++
	s.due = now + g.rto<<s.tries
	g.Stats.Retrans++
	if sec := g.second(now); sec != nil {
		sec.Retrans++
	}
	g.resend(s, tx)
}

// resend sends the segment the slot's state last sent.
func (g *Gen) resend(s *slot, tx TX) {
	switch s.state {
	case synSent:
		g.send(s, wire.TCPFlagSYN, g.iss(s), 0, nil, tx)
	case open:
		if s.rcvd == 0 {
			g.send(s, wire.TCPFlagACK|wire.TCPFlagPSH, g.iss(s)+1, s.irs+1, g.cfg.Request, tx)
		} else {
			g.send(s, wire.TCPFlagACK, g.iss(s)+1+g.reqLen, s.irs+1+s.rcvd, nil, tx)
		}
	case lastAck:
		g.send(s, wire.TCPFlagFIN|wire.TCPFlagACK, g.iss(s)+1+g.reqLen, s.irs+1+s.rcvd+1, nil, tx)
	}
}

// Abort resets every connection still in progress (RFC 9293 §3.10.7.3:
// a RST in the window ends it on the server) and counts it Unfinished.
func (g *Gen) Abort(tx TX) {
	for i := range g.slots {
		s := &g.slots[i]
		switch s.state {
		case free:
			continue
		case open:
			g.send(s, wire.TCPFlagRST, g.iss(s)+1+g.reqLen, 0, nil, tx)
		case lastAck:
			g.send(s, wire.TCPFlagRST, g.iss(s)+2+g.reqLen, 0, nil, tx)
		}
		// synSent: nothing of ours reached a connection; a late SYN-ACK
		// is stale and gets its RST then.
		g.Stats.Unfinished++
		g.release(s)
	}
}

// release frees the slot and moves it to its next tuple (slot i opens
// tuples i, i+Slots, ... of the numbering), which Tick opens.
func (g *Gen) release(s *slot) {
	s.state = free
	s.tuple += uint64(len(g.slots))
}

// send builds one segment of the slot's connection.
func (g *Gen) send(s *slot, flags uint8, seq, ack uint32, payload []byte, tx TX) {
	src, port := g.ts.addr(s.tuple)
	g.emit(src, port, flags, seq, ack, payload, flags&wire.TCPFlagSYN != 0, tx)
}

func (g *Gen) emit(src netip.Addr, port uint16, flags uint8, seq, ack uint32, payload []byte, syn bool, tx TX) {
	b := tx.Buf()
	if b == nil {
		g.Stats.TXFull++
		return
	}
	sp := &g.spec
	sp.Src, sp.SrcPort, sp.Flags, sp.Seq, sp.Ack = src, port, flags, seq, ack
	sp.Options = wire.TCPOptions{}
	if syn {
		sp.Options.MSS = mss(g.cfg.Server.Addr())
	}
	n, err := wire.BuildTCP(b, sp, payload)
	if err != nil {
		g.Stats.TXFull++
		return
	}
	tx.Send(n)
}

// mss is what a 1500-octet link carries (RFC 9293 §3.7.1).
func mss(a netip.Addr) uint16 {
	if a.Is4() {
		return 1460
	}
	return 1440
}

// Input handles one received frame.
func (g *Gen) Input(b []byte, now int64, tx TX) {
	f := &g.frame
	if wire.ParseFrameFlags(b, f, wire.AcceptPartialChecksum) != nil || f.Src != g.cfg.Server.Addr() || f.SrcPort != g.cfg.Server.Port() {
		g.Stats.BadFrames++
		return
	}
	t, ok := g.ts.tuple(f.Dst, f.DstPort)
	if !ok {
		g.Stats.BadFrames++
		return
	}
	s := &g.slots[t%uint64(len(g.slots))]
	if s.tuple != t || s.state == free {
		g.stale(t, f, tx)
		return
	}
	if f.Flags&wire.TCPFlagRST != 0 {
		g.Stats.RST++
		g.trace("rst", f)
		g.release(s)
		return
	}
	switch s.state {
	case synSent:
		g.inSynSent(s, f, now, tx)
	case open:
		g.inOpen(s, f, now, tx)
	case lastAck:
		g.inLastAck(s, f, now, tx)
	}
}

// stale answers a segment for tuple t, not in progress, as a closed port
// does (RFC 9293 §3.10.7.1); a RST gets nothing. One exception: the
// server's ACK of our FIN, sent again from its TIME-WAIT because our FIN
// came twice (its FIN was retransmitted before our FIN+ACK reached it),
// is the server doing what it should; a RST would end its TIME-WAIT early
// (Linux honours it, RFC 1337 §2). The cookie ISN tells it apart.
func (g *Gen) stale(t uint64, f *wire.Frame, tx TX) {
	if g.cfg.Idle && t < g.slots[t%uint64(len(g.slots))].tuple {
		g.held(t, f, tx)
		return
	}
	if f.Flags&wire.TCPFlagRST != 0 {
		return
	}
	if f.Flags&^wire.TCPFlagPSH == wire.TCPFlagACK && len(f.Payload) == 0 && f.Ack == iss(g.cfg.Key, t)+1+g.reqLen+1 {
		g.Stats.LateACK++
		return
	}
	g.Stats.Stale++
	g.trace("stale", f)
	g.reset(f, tx)
}

// held answers a segment on a connection an Idle generator left to the
// server: a retransmitted SYN-ACK (our ACK was lost) gets the ACK again,
// rebuilt from the SYN-ACK and the cookie ISN; the rest is counted only.
func (g *Gen) held(t uint64, f *wire.Frame, tx TX) {
	if f.Flags&(synAck|wire.TCPFlagRST|wire.TCPFlagFIN) == synAck && f.Ack == iss(g.cfg.Key, t)+1 {
		g.Stats.SynAckAgain++
		g.emit(f.Dst, f.DstPort, wire.TCPFlagACK, f.Ack, f.Seq+1, nil, false, tx)
		return
	}
	g.Stats.Held++
	g.trace("held", f)
}

func (g *Gen) trace(what string, f *wire.Frame) {
	if g.cfg.Trace != nil {
		g.cfg.Trace(what, f)
	}
}

// reset sends the RST answering segment f (RFC 9293 §3.10.7.1).
func (g *Gen) reset(f *wire.Frame, tx TX) {
	if f.Flags&wire.TCPFlagACK != 0 {
		g.emit(f.Dst, f.DstPort, wire.TCPFlagRST, f.Ack, 0, nil, false, tx)
		return
	}
	n := uint32(len(f.Payload))
	if f.Flags&wire.TCPFlagSYN != 0 {
		n++
	}
	if f.Flags&wire.TCPFlagFIN != 0 {
		n++
	}
	g.emit(f.Dst, f.DstPort, wire.TCPFlagRST|wire.TCPFlagACK, 0, f.Seq+n, nil, false, tx)
}

const synAck = wire.TCPFlagSYN | wire.TCPFlagACK

func (g *Gen) inSynSent(s *slot, f *wire.Frame, now int64, tx TX) {
	if f.Flags&synAck != synAck {
		g.Stats.Unexpected++
		g.trace("unexpected", f)
		g.reset(f, tx)
		return
	}
	if f.Ack != g.iss(s)+1 {
		g.Stats.BadAck++
		g.trace("bad-ack", f)
		g.reset(f, tx)
		return
	}
	if g.cfg.Idle {
		g.send(s, wire.TCPFlagACK, g.iss(s)+1, f.Seq+1, nil, tx)
		g.complete(s, now)
		return
	}
	s.irs, s.state, s.tries, s.due = f.Seq, open, 0, now+g.rto
	g.resend(s, tx)
}

func (g *Gen) inOpen(s *slot, f *wire.Frame, now int64, tx TX) {
	if f.Flags&synAck == synAck {
		// Our ACK+GET did not reach the server (or it wants it again):
		// answer as the first time, from what the SYN-ACK says.
		if f.Ack != g.iss(s)+1 || f.Seq != s.irs {
			g.Stats.BadAck++
			g.trace("bad-ack", f)
			g.reset(f, tx)
			return
		}
		g.Stats.SynAckAgain++
		g.trace("synack-again", f)
		g.resend(s, tx)
		return
	}
	if f.Flags&wire.TCPFlagSYN != 0 || f.Flags&wire.TCPFlagACK == 0 {
		g.Stats.Unexpected++
		g.trace("unexpected", f)
		return
	}
	off := f.Seq - (s.irs + 1) // where this segment starts in the response
	n := uint32(len(f.Payload))
	if off != s.rcvd {
		if n > 0 || f.Flags&wire.TCPFlagFIN != 0 {
			// A duplicate, or beyond a gap: say what we expect.
			g.Stats.DupData++
			g.trace("dup-data", f)
			g.send(s, wire.TCPFlagACK, g.iss(s)+1+g.reqLen, s.irs+1+s.rcvd, nil, tx)
		}
		return
	}
	if n > 0 {
		if s.rcvd == 0 && !s.bad {
			g.checkHead(s, f.Payload)
		}
		s.rcvd += n
		if s.want != 0 && s.rcvd > s.want && !s.bad {
			g.Stats.BadResponse++ // more than Content-Length: not the response we asked for
			s.bad = true
		}
		s.due, s.tries = now+g.rto, 0
	}
	if f.Flags&wire.TCPFlagFIN == 0 {
		if n > 0 && (s.want == 0 || s.rcvd < s.want) {
			// More to come: acknowledge it. A complete response is not
			// ACKed alone: the server's FIN follows and is answered with
			// one FIN+ACK covering both.
			g.send(s, wire.TCPFlagACK, g.iss(s)+1+g.reqLen, s.irs+1+s.rcvd, nil, tx)
		}
		return
	}
	if !s.bad && (s.want == 0 || s.rcvd != s.want) {
		g.Stats.Short++
		g.trace("short", f)
		s.bad = true
	}
	// The server closed first (after its response): close our side, so
	// the server's end goes to TIME-WAIT.
	s.state, s.tries, s.due = lastAck, 0, now+g.rto
	g.resend(s, tx)
}

// checkHead checks the response's first segment: a complete head, status
// 200, the expected Content-Length, and Connection: close.
func (g *Gen) checkHead(s *slot, p []byte) {
	h, err := loadgen.ParseHead(p)
	if err != nil || h.Len == 0 || h.Status != 200 || !h.Close ||
		(g.cfg.WantLength >= 0 && h.ContentLength != g.cfg.WantLength) || h.ContentLength < 0 {
		g.Stats.BadResponse++
		s.bad = true
		return
	}
	s.want = uint32(h.Len) + uint32(h.ContentLength)
}

func (g *Gen) inLastAck(s *slot, f *wire.Frame, now int64, tx TX) {
	finSeq := s.irs + 1 + s.rcvd
	if f.Flags&wire.TCPFlagFIN != 0 && f.Seq+uint32(len(f.Payload)) == finSeq {
		// Our FIN+ACK was lost: the server sent its FIN again.
		g.Stats.FinAgain++
		g.trace("fin-again", f)
		g.resend(s, tx)
		return
	}
	if f.Flags&wire.TCPFlagACK == 0 || f.Ack != g.iss(s)+1+g.reqLen+1 {
		return // an old ACK (of the request)
	}
	if !s.bad {
		g.complete(s, now)
		return
	}
	g.release(s)
}

// complete counts the slot's connection done and releases the slot.
func (g *Gen) complete(s *slot, now int64) {
	g.Stats.Completed++
	if g.to == 0 || (now >= g.from && now < g.to) {
		g.Window++
		g.Latency.RecordValue(now - s.start)
		if sec := g.second(now); sec != nil {
			sec.Completed++
		}
	}
	g.release(s)
}
