package tcp

import (
	"testing"
)

type nopSink struct{ n int }

func (s *nopSink) Emit(*ID, *Segment) { s.n++ }

// benchEstablished returns an ESTABLISHED TCB (timestamps and SACK
// negotiated) and the peer's next sequence number.
func benchEstablished(b testing.TB, sink Sink) (*TCB, Seq) {
	cfg := DefaultConfig()
	cfg.ISN = func(*ID, Instant) Seq { return 1000 }
	t := Open(&cfg, fuzzID, sink, 1e9)
	seg := Segment{Flags: FlagSYN | FlagACK, Seq: 5000, Ack: 1001, Window: 65535,
		Options: Options{MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTS: true, TSVal: 1}}
	t.Input(&seg, 1e9)
	if t.State() != Established {
		b.Fatal("not established")
	}
	return t, 5001
}

// Segment in → ACK out: a 2-MSS data segment arrives (RFC 9293 §3.8.6.3
// ACKs at least every second full segment, so each one is ACKed at once),
// the application consumes it.
func BenchmarkInputDataACK(b *testing.B) {
	sink := &nopSink{}
	t, r := benchEstablished(b, sink)
	payload := make([]byte, 2*1448)
	seg := Segment{Flags: FlagACK | FlagPSH, Ack: 1001, Window: 512, Options: Options{HasTS: true}, Payload: payload}
	now := Instant(2e9)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		seg.Seq = r
		seg.Options.TSVal++
		t.Input(&seg, now)
		r = r.Add(uint32(len(payload)))
		t.Consume(len(payload), now)
		now += 1000
	}
	if sink.n < b.N {
		b.Fatalf("%d ACKs for %d segments", sink.n, b.N)
	}
}

// Request/response: data in, read, write a reply (sent at once, carrying
// the ACK), the peer's ACK of the reply in.
func BenchmarkEcho(b *testing.B) {
	sink := &nopSink{}
	t, r := benchEstablished(b, sink)
	p := newEchoPeer(r)
	now := Instant(2e9)
	b.ReportAllocs()
	for b.Loop() {
		p.round(t, now, 0)
		now += 1000
	}
	if t.sndUna != t.sndMax {
		b.Fatal("reply not acknowledged")
	}
}

// echoPeer is the peer of a request/response exchange on an established
// TCB: 100-octet requests, each reply acknowledged before the next.
type echoPeer struct {
	r        Seq // the peer's next sequence number
	buf      []byte
	seg, ack Segment
}

func newEchoPeer(r Seq) *echoPeer {
	return &echoPeer{r: r, buf: make([]byte, 512),
		seg: Segment{Flags: FlagACK | FlagPSH, Window: 512, Options: Options{HasTS: true}, Payload: make([]byte, 100)},
		ack: Segment{Flags: FlagACK, Window: 512, Options: Options{HasTS: true}}}
}

// round sends a request at now, lets t read it and write it back as the
// reply (sent at once, carrying the ACK), and acknowledges the reply at
// now+rtt. It returns the octets in flight once the reply was written.
func (p *echoPeer) round(t *TCB, now, rtt Instant) (flight uint32) {
	p.seg.Seq, p.seg.Ack = p.r, t.sndMax
	p.seg.Options.TSVal++
	t.Input(&p.seg, now)
	p.r = p.r.Add(uint32(len(p.seg.Payload)))
	n, _ := t.Read(p.buf, now)
	t.Write(p.buf[:n], now)
	flight = t.sndMax.Sub(t.sndUna)
	p.ack.Seq, p.ack.Ack = p.r, t.sndMax
	p.ack.Options.TSVal = p.seg.Options.TSVal
	t.Input(&p.ack, now+rtt)
	return flight
}

// A bare ACK of our data (the sender's hot path).
func BenchmarkInputACK(b *testing.B) {
	sink := &nopSink{}
	t, r := benchEstablished(b, sink)
	data := make([]byte, 1448)
	ack := Segment{Flags: FlagACK, Seq: r, Window: 512, Options: Options{HasTS: true}}
	now := Instant(2e9)
	b.ReportAllocs()
	for b.Loop() {
		t.Write(data, now)
		ack.Ack = t.sndMax
		ack.Options.TSVal++
		t.Input(&ack, now)
		now += 1000
	}
}

// A whole passive connection (SYN, ACK, request, reply, the peer's FIN,
// our FIN, its ACK) on a recycled TCB allocates nothing.
func connectionOnce(l *Listener, id *ID, now Instant, buf []byte) *TCB {
	syn := Segment{Flags: FlagSYN, Seq: 5000, Window: 65535, Options: Options{MSS: 1460, HasTS: true, TSVal: 1, SACKPermitted: true, HasWScale: true, WScale: 7}}
	t := l.Input(id, &syn, now)
	ack := Segment{Flags: FlagACK | FlagPSH, Seq: 5001, Ack: 1001, Window: 512, Options: Options{HasTS: true, TSVal: 2}, Payload: buf[:100]}
	t.Input(&ack, now)
	l.Accept()
	n, _ := t.Read(buf, now)
	t.Write(buf[:n], now)
	fin := Segment{Flags: FlagACK | FlagFIN, Seq: 5101, Ack: t.sndMax, Window: 512, Options: Options{HasTS: true, TSVal: 3}}
	t.Input(&fin, now)
	t.Close(now)
	last := Segment{Flags: FlagACK, Seq: 5102, Ack: t.sndMax, Window: 512, Options: Options{HasTS: true, TSVal: 4}}
	t.Input(&last, now)
	return t
}

func TestRecycledConnectionAllocs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ISN = func(*ID, Instant) Seq { return 1000 }
	var free *TCB
	l := NewListener(&cfg, &nopSink{})
	l.Pool = func() *TCB { f := free; free = nil; return f }
	buf := make([]byte, 512)
	id := fuzzID
	free = connectionOnce(l, &id, 1e9, buf)
	if free.State() != Closed || free.Err() != nil {
		t.Fatalf("connection ended in %v (%v)", free.State(), free.Err())
	}
	allocs := testing.AllocsPerRun(100, func() {
		c := connectionOnce(l, &id, 1e9, buf)
		if c.State() != Closed {
			t.Fatalf("state %v", c.State())
		}
		free = c
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per recycled connection", allocs)
	}
}
