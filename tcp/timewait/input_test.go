package timewait

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
)

// recorder is a tcp.Sink that keeps copies of what it is given.
type recorder struct {
	ids  []tcp.ID
	segs []tcp.Segment
}

func (r *recorder) Emit(id *tcp.ID, s *tcp.Segment) {
	r.ids = append(r.ids, *id)
	c := *s
	c.Payload = nil
	r.segs = append(r.segs, c)
}

var (
	srv  = netip.MustParseAddr("198.18.0.1")
	peer = netip.MustParseAddr("198.18.0.2")
	flow = tcp.ID{LocalAddr: srv, RemoteAddr: peer, LocalPort: 80, RemotePort: 40000}
)

const (
	msl     = 30 * time.Second
	t0      = tcp.Instant(1_000_000_000_000)
	sndNxt  = tcp.Seq(5000)
	rcvNxt  = tcp.Seq(9000)
	tsRec   = uint32(777000)
	tsOff   = uint32(123)
	advWind = uint16(512)
)

func newTable(t testing.TB, max int) *Table {
	t.Helper()
	tb, err := New(Config{MSL: msl, Max: max})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func withEntry(t *testing.T, ts bool) *Table {
	tb := newTable(t, 16)
	st := State{SndNxt: sndNxt, RcvNxt: rcvNxt, Window: advWind, TS: ts, TSRecent: tsRec, TSOffset: tsOff}
	if !tb.Insert(&flow, &st, t0) {
		t.Fatal("insert refused")
	}
	return tb
}

func TestInput(t *testing.T) {
	now := t0.Add(10 * time.Second)
	life := tcp.Instant(2 * msl)
	ts := func(v uint32) tcp.Options { return tcp.Options{HasTS: true, TSVal: v, TSEcr: 1} }
	cases := []struct {
		name    string
		rfc     string
		ts      bool // entry uses timestamps
		seg     tcp.Segment
		action  Action
		replies int
		expiry  tcp.Instant // wanted expiry after (0: entry gone)
		tsAfter uint32
		isn     tcp.Seq
	}{
		{"retransmitted FIN re-ACKed, 2MSL restarted", "RFC 9293 §3.10.7.4 (FIN, TIME-WAIT)", false,
			tcp.Segment{Seq: rcvNxt - 1, Ack: sndNxt, Flags: tcp.FlagFIN | tcp.FlagACK}, ACKed, 1, now + life, tsRec, 0},
		{"retransmitted FIN with TS re-ACKed, TS.Recent updated", "RFC 9293 §3.10.7.4; RFC 7323 §4.3", true,
			tcp.Segment{Seq: rcvNxt - 1, Ack: sndNxt, Flags: tcp.FlagFIN | tcp.FlagACK, Options: ts(tsRec + 5)}, ACKed, 1, now + life, tsRec + 5, 0},
		{"in-window RST ignored", "RFC 1337 §3", false,
			tcp.Segment{Seq: rcvNxt, Flags: tcp.FlagRST}, Consumed, 0, t0 + life, tsRec, 0},
		{"RST|ACK ignored", "RFC 1337 §3", true,
			tcp.Segment{Seq: rcvNxt, Ack: sndNxt, Flags: tcp.FlagRST | tcp.FlagACK, Options: ts(tsRec + 1)}, Consumed, 0, t0 + life, tsRec, 0},
		{"RST with an old TSval ignored, not ACKed", "RFC 7323 §5.3 R1 (RST exempt); RFC 1337", true,
			tcp.Segment{Seq: rcvNxt, Flags: tcp.FlagRST, Options: ts(tsRec - 1)}, Consumed, 0, t0 + life, tsRec, 0},
		{"PAWS: FIN with old TSval ACKed, no restart", "RFC 7323 §5.3", true,
			tcp.Segment{Seq: rcvNxt - 1, Ack: sndNxt, Flags: tcp.FlagFIN | tcp.FlagACK, Options: ts(tsRec - 1)}, ACKed, 1, t0 + life, tsRec, 0},
		{"SYN beyond RCV.NXT reopens (no TS)", "RFC 6191 §2; RFC 1122 §4.2.2.13", false,
			tcp.Segment{Seq: rcvNxt + 100000, Flags: tcp.FlagSYN}, Reopen, 0, 0, 0, sndNxt + 65537},
		{"SYN below RCV.NXT answered with ACK (no TS)", "RFC 6191 §2; RFC 5961 §4", false,
			tcp.Segment{Seq: rcvNxt - 100, Flags: tcp.FlagSYN}, ACKed, 1, t0 + life, tsRec, 0},
		{"SYN at RCV.NXT answered with ACK", "RFC 6191 §2 (greater, not equal)", false,
			tcp.Segment{Seq: rcvNxt, Flags: tcp.FlagSYN}, ACKed, 1, t0 + life, tsRec, 0},
		{"SYN with newer TSval reopens despite lower seq", "RFC 6191 §2", true,
			tcp.Segment{Seq: rcvNxt - 100, Flags: tcp.FlagSYN, Options: ts(tsRec + 1)}, Reopen, 0, 0, 0, sndNxt + 65537},
		{"SYN with equal TSval and higher seq reopens", "RFC 6191 §2", true,
			tcp.Segment{Seq: rcvNxt + 1, Flags: tcp.FlagSYN, Options: ts(tsRec)}, Reopen, 0, 0, 0, sndNxt + 65537},
		{"SYN with equal TSval and lower seq ACKed", "RFC 6191 §2", true,
			tcp.Segment{Seq: rcvNxt - 1, Flags: tcp.FlagSYN, Options: ts(tsRec)}, ACKed, 1, t0 + life, tsRec, 0},
		{"SYN with older TSval rejected by PAWS, ACKed", "RFC 6191 §2; RFC 7323 §5.3", true,
			tcp.Segment{Seq: rcvNxt + 100000, Flags: tcp.FlagSYN, Options: ts(tsRec - 1)}, ACKed, 1, t0 + life, tsRec, 0},
		{"SYN without TS on a TS connection: seq decides", "RFC 6191 §2 (timestamps not enabled)", true,
			tcp.Segment{Seq: rcvNxt + 1, Flags: tcp.FlagSYN}, Reopen, 0, 0, 0, sndNxt + 65537},
		{"SYN-ACK gets an ACK", "RFC 5961 §4.2; RFC 9293 §3.10.7.4", false,
			tcp.Segment{Seq: rcvNxt + 1, Ack: sndNxt, Flags: tcp.FlagSYN | tcp.FlagACK}, ACKed, 1, t0 + life, tsRec, 0},
		{"in-window bare ACK absorbed, TS.Recent updated", "RFC 9293 §3.10.7.4; RFC 7323 §4.3", true,
			tcp.Segment{Seq: rcvNxt, Ack: sndNxt, Flags: tcp.FlagACK, Options: ts(tsRec + 9)}, Consumed, 0, t0 + life, tsRec + 9, 0},
		{"data after the FIN ACKed, no restart", "RFC 9293 §3.10.7.4 (text in TIME-WAIT ignored)", false,
			tcp.Segment{Seq: rcvNxt, Ack: sndNxt, Flags: tcp.FlagACK, Payload: []byte("late")}, ACKed, 1, t0 + life, tsRec, 0},
		{"out-of-window ACK answered with ACK", "RFC 9293 §3.10.7.4 (first check)", false,
			tcp.Segment{Seq: rcvNxt + 70000, Ack: sndNxt, Flags: tcp.FlagACK}, ACKed, 1, t0 + life, tsRec, 0},
		{"old data below RCV.NXT ACKed", "RFC 9293 §3.10.7.4 (first check)", false,
			tcp.Segment{Seq: rcvNxt - 100, Ack: sndNxt, Flags: tcp.FlagACK, Payload: []byte("old")}, ACKed, 1, t0 + life, tsRec, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := withEntry(t, c.ts)
			var r recorder
			seg := c.seg
			v := tb.Input(&flow, &seg, now, &r)
			if v.Action != c.action {
				t.Fatalf("%s: action %v, want %v", c.rfc, v.Action, c.action)
			}
			if len(r.segs) != c.replies {
				t.Fatalf("%s: %d replies, want %d", c.rfc, len(r.segs), c.replies)
			}
			if c.replies > 0 {
				a := r.segs[0]
				if a.Flags != tcp.FlagACK || a.Seq != sndNxt || a.Ack != rcvNxt || a.Window != advWind || r.ids[0] != flow {
					t.Fatalf("%s: reply %v seq %d ack %d wnd %d, want ACK %d/%d/%d", c.rfc, a.Flags, a.Seq, a.Ack, a.Window, sndNxt, rcvNxt, advWind)
				}
				if a.Options.HasTS != c.ts {
					t.Fatalf("%s: reply HasTS %v, want %v", c.rfc, a.Options.HasTS, c.ts)
				}
				if c.ts && (a.Options.TSVal != uint32(now/1e6)+tsOff || a.Options.TSEcr != c.tsAfter) {
					t.Fatalf("%s: reply TSval %d TSecr %d, want %d %d", c.rfc, a.Options.TSVal, a.Options.TSEcr, uint32(now/1e6)+tsOff, c.tsAfter)
				}
			}
			st, exp, ok := tb.Lookup(&flow, now)
			if c.expiry == 0 {
				if ok {
					t.Fatalf("%s: entry still present", c.rfc)
				}
				if v.ISN != c.isn {
					t.Fatalf("%s: suggested ISN %d, want %d", c.rfc, v.ISN, c.isn)
				}
				if tb.Stats().Reopened != 1 {
					t.Fatalf("Reopened counter %d", tb.Stats().Reopened)
				}
				return
			}
			if !ok {
				t.Fatalf("%s: entry gone", c.rfc)
			}
			if exp != c.expiry {
				t.Fatalf("%s: expiry %d, want %d (restart is the FIN's alone)", c.rfc, exp-t0, c.expiry-t0)
			}
			if c.ts && st.TSRecent != c.tsAfter {
				t.Fatalf("%s: TS.Recent %d, want %d", c.rfc, st.TSRecent, c.tsAfter)
			}
		})
	}
}

// Counters follow the verdicts.
func TestInputCounters(t *testing.T) {
	tb := withEntry(t, true)
	var r recorder
	now := t0 + 1
	in := func(s tcp.Segment) { tb.Input(&flow, &s, now, &r) }
	in(tcp.Segment{Seq: rcvNxt - 1, Flags: tcp.FlagFIN | tcp.FlagACK, Options: tcp.Options{HasTS: true, TSVal: tsRec}})
	in(tcp.Segment{Seq: rcvNxt, Flags: tcp.FlagRST})
	in(tcp.Segment{Seq: rcvNxt, Flags: tcp.FlagACK, Options: tcp.Options{HasTS: true, TSVal: 1}})
	in(tcp.Segment{Seq: rcvNxt - 5, Flags: tcp.FlagSYN})
	in(tcp.Segment{Seq: rcvNxt + 70000, Flags: tcp.FlagACK})
	in(tcp.Segment{Seq: rcvNxt + 1, Flags: tcp.FlagSYN})
	s := tb.Stats()
	want := Stats{Inserted: 1, ReACKs: 1, RSTIgnored: 1, PAWSRejects: 1, SYNRejected: 1, ACKs: 1, Reopened: 1}
	if s != want {
		t.Fatalf("stats %+v, want %+v", s, want)
	}
	if tb.Input(&flow, &tcp.Segment{Flags: tcp.FlagACK}, now, &r).Action != NotFound {
		t.Fatal("reopened entry still answers")
	}
}

// RFC 1337 / Linux: the suggested ISN skips zero (Linux treats 0 as "none").
func TestReopenISNNotZero(t *testing.T) {
	tb := newTable(t, 4)
	st := State{SndNxt: tcp.Seq(1<<32 - 65537), RcvNxt: 1}
	tb.Insert(&flow, &st, t0)
	v := tb.Input(&flow, &tcp.Segment{Seq: 2, Flags: tcp.FlagSYN}, t0, &recorder{})
	if v.Action != Reopen || v.ISN != 1 {
		t.Fatalf("verdict %+v, want Reopen with ISN 1", v)
	}
}

// RFC 9293 §3.4.2 / §3.10.8: TIME-WAIT ends exactly 2*MSL after the last
// (re)start, whether or not Expire ran.
func TestExpiryExactly2MSL(t *testing.T) {
	for _, sweep := range []bool{false, true} {
		tb := withEntry(t, false)
		end := t0.Add(2 * msl)
		if tb.NextDeadline() != end {
			t.Fatalf("NextDeadline %d, want %d", tb.NextDeadline(), end)
		}
		if sweep && tb.Expire(end-1) != 0 {
			t.Fatal("expired 1 ns early")
		}
		var r recorder
		if v := tb.Input(&flow, &tcp.Segment{Seq: rcvNxt - 1, Flags: tcp.FlagFIN | tcp.FlagACK}, end-1, &r); v.Action != ACKed {
			t.Fatalf("1 ns before 2MSL: %v", v.Action)
		}
		// The FIN restarted the wait: it now ends 2*MSL after end-1.
		end = end - 1 + tcp.Instant(2*msl)
		if tb.NextDeadline() != end {
			t.Fatalf("after restart NextDeadline %d, want %d", tb.NextDeadline()-t0, end-t0)
		}
		if sweep {
			if n := tb.Expire(end); n != 1 {
				t.Fatalf("Expire at 2MSL removed %d", n)
			}
		}
		if v := tb.Input(&flow, &tcp.Segment{Seq: rcvNxt - 1, Flags: tcp.FlagFIN | tcp.FlagACK}, end, &r); v.Action != NotFound {
			t.Fatalf("at exactly 2MSL: %v, want NotFound", v.Action)
		}
		if tb.Len() != 0 || tb.NextDeadline() != tcp.Never || tb.Stats().Expired != 1 {
			t.Fatalf("after expiry: len %d deadline %d stats %+v", tb.Len(), tb.NextDeadline(), tb.Stats())
		}
	}
}

func TestInputNoAlloc(t *testing.T) {
	tb := withEntry(t, true)
	var sink nopSink
	seg := tcp.Segment{Seq: rcvNxt + 70000, Flags: tcp.FlagACK, Options: tcp.Options{HasTS: true, TSVal: tsRec}}
	fin := tcp.Segment{Seq: rcvNxt - 1, Flags: tcp.FlagFIN | tcp.FlagACK}
	now := t0
	if n := testing.AllocsPerRun(1000, func() {
		now++
		tb.Input(&flow, &seg, now, sink)
		tb.Input(&flow, &fin, now, sink) // restart: ring push, compaction
	}); n != 0 {
		t.Fatalf("Input allocates %v times", n)
	}
}

type nopSink struct{}

func (nopSink) Emit(*tcp.ID, *tcp.Segment) {}
