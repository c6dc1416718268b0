package tcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp/tcpcheck"
)

// Fuzzing: random segments, timer advances and user calls on a TCB that
// starts in each of the 11 states. It must never panic, and after every
// step the invariants below hold.

type countSink struct{ n int }

func (s *countSink) Emit(*ID, *Segment) { s.n++ }

// checkSink feeds every segment a TCB emits, and every one it is given,
// to an output checker (tcp/tcpcheck).
type checkSink struct {
	c   *tcpcheck.Checker
	now Instant
}

func newCheckSink(tb testing.TB, cfg *Config) *checkSink {
	return &checkSink{c: &tcpcheck.Checker{
		MaxSegment: int(cfg.MSS),
		Fail:       func(msg string) { tb.Fatal(msg) },
	}}
}

func checkSegOf(seg *Segment) tcpcheck.Seg {
	return tcpcheck.Seg{Seq: uint32(seg.Seq), Ack: uint32(seg.Ack), Flags: uint8(seg.Flags),
		Window: seg.Window, Options: seg.Options, Len: seg.TextLen()}
}

// TakesTail makes checkSink a TailSink, as the loop is, so the fuzzed
// TCBs emit text crossing a send-buffer chunk as two runs.
func (*checkSink) TakesTail() {}

func (s *checkSink) Emit(id *ID, seg *Segment) {
	c := checkSegOf(seg)
	s.c.Segment(netip.AddrPortFrom(id.LocalAddr, id.LocalPort), netip.AddrPortFrom(id.RemoteAddr, id.RemotePort), &c, int64(s.now))
}

// input gives t a segment at now, telling the checker first. A SYN
// outside LISTEN and SYN-SENT negotiates nothing, so the checker does
// not see it.
func (s *checkSink) input(t *TCB, seg *Segment, now Instant) {
	s.now = now
	if seg.Flags&FlagSYN == 0 || t.state == Listen || t.state == SynSent {
		c := checkSegOf(seg)
		id := t.ID()
		s.c.Peer(netip.AddrPortFrom(id.RemoteAddr, id.RemotePort), netip.AddrPortFrom(id.LocalAddr, id.LocalPort), &c, int64(now))
	}
	t.Input(seg, now)
}

var fuzzID = ID{
	LocalAddr: netip.MustParseAddr("198.18.0.1"), RemoteAddr: netip.MustParseAddr("198.18.0.2"),
	LocalPort: 80, RemotePort: 40000,
}

const fuzzIRS Seq = 5000

// fuzzTCB builds a TCB in state st (with options negotiated if opts),
// emitting to sink.
func fuzzTCB(st State, opts bool, cfg *Config, sink *checkSink, now Instant) *TCB {
	sink.now = now
	var o Options
	if opts {
		o = Options{MSS: 1000, HasWScale: true, WScale: 3, SACKPermitted: true, HasTS: true, TSVal: 100}
	}
	in := func(t *TCB, f Flags, seq, ack Seq, p []byte) {
		seg := Segment{Flags: f, Seq: seq, Ack: ack, Window: 4000, Options: o, Payload: p}
		if opts {
			seg.Options.TSVal++
			o.TSVal++
		}
		sink.input(t, &seg, now)
	}
	switch st {
	case Closed:
		t := Open(cfg, fuzzID, sink, now)
		t.Close(now)
		return t
	case Listen:
		return NewListen(cfg, fuzzID, sink)
	case SynSent:
		return Open(cfg, fuzzID, sink, now)
	case SynReceived:
		t := NewListen(cfg, fuzzID, sink)
		in(t, FlagSYN, fuzzIRS, 0, nil)
		return t
	}
	t := Open(cfg, fuzzID, sink, now)
	in(t, FlagSYN|FlagACK, fuzzIRS, t.iss+1, nil)
	r := fuzzIRS + 1
	t.Write(make([]byte, 3000), now)
	una := t.sndMax
	switch st {
	case FinWait1:
		t.CloseWrite(now)
	case FinWait2:
		t.CloseWrite(now)
		in(t, FlagACK, r, t.sndMax, nil)
	case CloseWait:
		in(t, FlagFIN|FlagACK, r, una, nil)
	case Closing:
		t.CloseWrite(now)
		in(t, FlagFIN|FlagACK, r, t.iss+1, nil)
	case LastAck:
		in(t, FlagFIN|FlagACK, r, una, nil)
		t.CloseWrite(now)
	case TimeWait:
		t.CloseWrite(now)
		in(t, FlagACK, r, t.sndMax, nil)
		in(t, FlagFIN|FlagACK, r, t.sndMax, nil)
	}
	return t
}

// checkInvariants returns what is wrong with t, or "".
//
// SND.UNA <= SND.NXT <= SND.MAX always. The octets in flight (SND.MAX -
// SND.UNA) never exceed the largest window the peer offered plus one for
// SYN and one for FIN: RFC 9293's SND.NXT <= SND.UNA + SND.WND holds when
// a segment is sent, but the peer may shrink its window afterwards
// (§3.8.6), and a FIN, like Linux's, is sent without window space;
// zero-window and keepalive probes carry SND.UNA-1 and no text, so they
// never advance SND.NXT.
func checkInvariants(t *TCB) string {
	if t.sndNxt.LessThan(t.sndUna) || t.sndMax.LessThan(t.sndNxt) {
		return fmt.Sprintf("SND.UNA %d SND.NXT %d SND.MAX %d out of order", t.sndUna, t.sndNxt, t.sndMax)
	}
	if t.state >= SynReceived && t.state != TimeWait {
		flight := t.sndMax.Sub(t.sndUna)
		if flight > t.maxSndWnd+2 && flight > 2 {
			return fmt.Sprintf("flight %d > MAX.SND.WND %d + 2", flight, t.maxSndWnd)
		}
		if d := t.sndBufSeq.Add(uint32(t.snd.n)); t.sndMax.Sub(t.sndUna) > uint32(t.snd.n)+2 && t.sndUna.GreaterEq(t.sndBufSeq) {
			return fmt.Sprintf("SND.MAX %d beyond queued text end %d", t.sndMax, d)
		}
	}
	if t.snd.n < 0 || t.snd.n > t.snd.cap() || t.rcv.n < 0 || t.rcv.n > t.rcv.cap() {
		return fmt.Sprintf("buffers out of bounds: snd %d/%d rcv %d/%d", t.snd.n, t.snd.cap(), t.rcv.n, t.rcv.cap())
	}
	if t.ooo.n > t.cfg.maxOOORanges() || t.ooo.n > len(t.ooo.slots()) {
		return "too many OOO ranges"
	}
	oooR := t.ooo.slots()
	for i := range t.ooo.n {
		r := oooR[i]
		if !t.rcvNxt.LessThan(r.l) || !r.l.LessThan(r.r) || r.r.Sub(t.rcvNxt) > uint32(t.rcv.free()) {
			return fmt.Sprintf("OOO range [%d,%d) bad for RCV.NXT %d free %d", r.l, r.r, t.rcvNxt, t.rcv.free())
		}
		if i > 0 && !oooR[i-1].r.LessThan(r.l) {
			return "OOO ranges overlap or touch"
		}
	}
	if t.sb.n > len(t.sb.slots()) || t.sb.n > t.cfg.maxOOORanges() {
		return "scoreboard overflow"
	}
	var sacked uint32
	sbr := t.sb.slots()
	for i := range t.sb.n {
		x := sbr[i]
		if !x.l.LessThan(x.r) || x.r.GreaterThan(t.sndMax) || i > 0 && !sbr[i-1].r.LessThan(x.l) {
			return fmt.Sprintf("scoreboard range [%d,%d) bad (SND.UNA %d SND.MAX %d)", x.l, x.r, t.sndUna, t.sndMax)
		}
		sacked += x.r.Sub(x.l)
	}
	if sacked != t.sb.sacked {
		return fmt.Sprintf("scoreboard counts %d SACKed, ranges hold %d", t.sb.sacked, sacked)
	}
	if p := t.pipe(); t.state.synchronized() && p > t.sndMax.Sub(t.sndUna) {
		return fmt.Sprintf("pipe %d beyond flight %d", p, t.sndMax.Sub(t.sndUna))
	}
	if t.state == Closed && t.Deadline() != Never {
		return "timer armed in CLOSED"
	}
	return ""
}

func fuzzConfig() *Config {
	cfg := DefaultConfig()
	cfg.SendBuffer, cfg.RecvBuffer = 8192, 8192
	cfg.MSS = 1000
	cfg.KeepAlive = true
	cfg.KeepIdle, cfg.KeepInterval = time.Second, time.Second
	cfg.ChallengeACKLimit = 10
	cfg.ISN = func(*ID, Instant) Seq { return 0xfffff000 } // wrap early
	cfg.Senders = new(SenderPool)                          // per-flight state released and re-taken, as on a loop
	return &cfg
}

func FuzzTCB(f *testing.F) {
	for st := range 11 {
		f.Add([]byte{byte(st), 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 5})
		f.Add([]byte{byte(st) | 0x80, 1, 0x11, 0, 0, 0, 10, 0, 0, 0, 0, 0x10, 0, 200, 6, 50, 7, 0, 9})
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		cfg := fuzzConfig()
		now := Instant(1e9)
		st := State(data[0] & 0x0f % 11)
		// Every state change must be one RFC 9293 allows (setState).
		transitionHook = func(_ *TCB, from, to State) {
			if !legalTransition(from, to) {
				t.Fatalf("state change %v -> %v", from, to)
			}
		}
		defer func() { transitionHook = nil }()
		sink := newCheckSink(t, cfg)
		tcb := fuzzTCB(st, data[0]&0x80 != 0, cfg, sink, now)
		if msg := checkInvariants(tcb); msg != "" {
			t.Fatalf("setup %v: %s", st, msg)
		}
		payload := make([]byte, 4096)
		buf := make([]byte, 3000)
		data = data[1:]
		for len(data) > 0 {
			op := data[0]
			data = data[1:]
			switch op % 8 {
			case 0, 1, 2, 3: // a segment, relative to our state
				var b [12]byte
				copy(b[:], data)
				data = data[min(len(data), 12):]
				seg := Segment{Flags: Flags(b[0])}
				seg.Seq = tcb.rcvNxt.Add(uint32(int32(int16(binary.BigEndian.Uint16(b[1:])))) * uint32(b[3]&7+1))
				seg.Ack = tcb.sndUna.Add(uint32(int32(int16(binary.BigEndian.Uint16(b[4:])))))
				seg.Window = binary.BigEndian.Uint16(b[6:])
				seg.Payload = payload[:int(b[8])*int(b[9]&15)]
				if b[10]&1 != 0 {
					seg.Options.HasTS = true
					seg.Options.TSVal = tcb.tsRecent + uint32(int32(int8(b[11])))
					seg.Options.TSEcr = tcb.tsNow(now) - uint32(b[11])
				}
				if b[10]&4 != 0 {
					// A SACK block around SND.UNA..SND.MAX (sometimes a
					// D-SACK below, sometimes beyond what was sent).
					l := tcb.sndUna.Add(uint32(int32(int8(b[11])) * 100))
					seg.Options.NumSACK = 1
					seg.Options.SACK[0] = SACKBlock{Left: uint32(l), Right: uint32(l.Add(uint32(b[9]) * 50))}
				}
				if b[10]&2 != 0 {
					seg.Options.MSS = uint16(b[11]) << 3
					seg.Options.HasWScale, seg.Options.WScale = true, b[11]&15
					seg.Options.SACKPermitted = true
				}
				sink.input(tcb, &seg, now)
			case 4: // time passes
				var d uint16
				if len(data) >= 2 {
					d = binary.BigEndian.Uint16(data)
					data = data[2:]
				}
				// Timers run at their deadlines on the way, as an
				// owner's would (the checker times retransmissions).
				end := now.Add(time.Duration(d) * 10 * time.Millisecond)
				for range 1000 {
					dl := tcb.Deadline()
					if dl > end {
						break
					}
					now = max(now, dl)
					sink.now = now
					tcb.OnTimer(now)
				}
				now = end
				sink.now = now
			case 5:
				n := 0
				if len(data) > 0 {
					n = int(data[0]) * 10
					data = data[1:]
				}
				tcb.Write(payload[:n], now)
			case 6:
				n := 0
				if len(data) > 0 {
					n = int(data[0]) * 10
					data = data[1:]
				}
				tcb.Read(buf[:n], now)
			case 7:
				if len(data) > 0 {
					switch data[0] % 4 {
					case 0:
						tcb.CloseWrite(now)
					case 1:
						tcb.Close(now)
					case 2:
						tcb.Abort(now)
					case 3:
						tcb.Flush(now)
					}
					data = data[1:]
				}
			}
			if msg := checkInvariants(tcb); msg != "" {
				t.Fatalf("state %v after op %d: %s", tcb.state, op%8, msg)
			}
			if tcb.Deadline() < now && tcb.state != Closed {
				// A deadline in the past must be run by the owner; do it.
				tcb.OnTimer(now)
			}
		}
	})
}

// TestFuzzSetupStates checks that fuzzTCB really reaches every state.
func TestFuzzSetupStates(t *testing.T) {
	for st := range State(11) {
		for _, opts := range []bool{false, true} {
			cfg := fuzzConfig()
			if got := fuzzTCB(st, opts, cfg, newCheckSink(t, cfg), 1e9).State(); got != st {
				t.Errorf("fuzz setup for %v (opts %v) reached %v", st, opts, got)
			}
		}
	}
}

// TestLegalTransitions: the table FuzzTCB checks against allows the
// RFC's arcs and refuses others.
func TestLegalTransitions(t *testing.T) {
	for _, c := range []struct {
		from, to State
		ok       bool
	}{
		{Listen, SynReceived, true}, {SynSent, Established, true}, {SynReceived, Listen, true},
		{FinWait1, TimeWait, true}, {CloseWait, LastAck, true}, {Established, Closed, true},
		{Established, SynSent, false}, {TimeWait, Established, false}, {LastAck, TimeWait, false},
		{FinWait2, CloseWait, false}, {Listen, Established, false},
	} {
		if got := legalTransition(c.from, c.to); got != c.ok {
			t.Errorf("%v -> %v: legal %v, want %v", c.from, c.to, got, c.ok)
		}
	}
}
