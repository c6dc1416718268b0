package conngen

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicenet/sluice/wire"
)

// txRec records the frames a Gen sends, parsed.
type txRec struct {
	buf    [2048]byte
	frames []wire.Frame
	full   bool // Buf returns nil
}

func (r *txRec) Buf() []byte {
	if r.full {
		return nil
	}
	return r.buf[:]
}

func (r *txRec) Send(n int) {
	var f wire.Frame
	b := append([]byte(nil), r.buf[:n]...)
	if err := wire.ParseFrame(b, &f); err != nil {
		panic("generator sent a frame that does not parse: " + err.Error())
	}
	r.frames = append(r.frames, f)
}

// take returns the frames sent since the last take.
func (r *txRec) take() []wire.Frame {
	f := r.frames
	r.frames = nil
	return f
}

var (
	srvMAC = wire.MAC{2, 0, 0, 0, 0, 1}
	cliMAC = wire.MAC{2, 0, 0, 0, 0, 2}
	server = netip.MustParseAddrPort("198.18.0.1:80")
	client = netip.MustParsePrefix("198.19.0.0/16")
)

const resp = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!"

func newGen(t *testing.T, slots int) *Gen {
	t.Helper()
	g, err := New(Config{Server: server, Client: client, SrcMAC: cliMAC, DstMAC: srvMAC, Slots: slots,
		WantLength: 13, Key: 42})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// reply builds a frame from the server to the client of segment c.
func reply(t *testing.T, c wire.Frame, flags uint8, seq, ack uint32, payload string) []byte {
	t.Helper()
	s := wire.TCPFrameSpec{SrcMAC: srvMAC, DstMAC: cliMAC, Src: c.Dst, Dst: c.Src, SrcPort: c.DstPort, DstPort: c.SrcPort,
		Flags: flags, Seq: seq, Ack: ack, Window: 65535}
	b := make([]byte, 2048)
	n, err := wire.BuildTCP(b, &s, []byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

func one(t *testing.T, fs []wire.Frame, flags uint8) wire.Frame {
	t.Helper()
	if len(fs) != 1 || fs[0].Flags != flags {
		t.Fatalf("sent %d frames %+v, want one with flags %#x", len(fs), fs, flags)
	}
	return fs[0]
}

const (
	syn, ack, fin, rst, psh = wire.TCPFlagSYN, wire.TCPFlagACK, wire.TCPFlagFIN, wire.TCPFlagRST, wire.TCPFlagPSH
)

// TestConnection walks one connection through every state, with a
// retransmitted SYN-ACK and a retransmitted FIN, and checks each segment
// the generator sends.
func TestConnection(t *testing.T) {
	g := newGen(t, 1)
	var tx txRec
	g.Tick(0, &tx)
	s := one(t, tx.take(), syn)
	if s.Dst != server.Addr() || s.DstPort != 80 || !client.Contains(s.Src) || s.SrcPort < firstPort || s.Options.MSS != 1460 {
		t.Fatalf("SYN %v:%d -> %v:%d MSS %d", s.Src, s.SrcPort, s.Dst, s.DstPort, s.Options.MSS)
	}
	const irs = 1000
	synack := reply(t, s, syn|ack, irs, s.Seq+1, "")
	for i := range 2 { // the second SYN-ACK is a retransmission
		g.Input(synack, 1, &tx)
		a := one(t, tx.take(), ack|psh)
		if a.Seq != s.Seq+1 || a.Ack != irs+1 || !bytes.HasPrefix(a.Payload, []byte("GET / HTTP/1.1\r\n")) ||
			!bytes.Contains(a.Payload, []byte("Connection: close")) {
			t.Fatalf("ACK+GET %d: seq %d ack %d %q", i, a.Seq, a.Ack, a.Payload)
		}
	}
	reqLen := uint32(len(g.cfg.Request))
	// The response without FIN: complete, so not ACKed on its own.
	g.Input(reply(t, s, ack|psh, irs+1, s.Seq+1+reqLen, resp), 2, &tx)
	if fs := tx.take(); len(fs) != 0 {
		t.Fatalf("complete response ACKed alone: %+v", fs)
	}
	finSeg := reply(t, s, fin|ack, irs+1+uint32(len(resp)), s.Seq+1+reqLen, "")
	for range 2 {
		g.Input(finSeg, 3, &tx)
		f := one(t, tx.take(), fin|ack)
		if f.Seq != s.Seq+1+reqLen || f.Ack != irs+1+uint32(len(resp))+1 {
			t.Fatalf("FIN+ACK seq %d ack %d", f.Seq, f.Ack)
		}
	}
	if g.Stats.Completed != 0 {
		t.Fatal("completed before the server ACKed our FIN")
	}
	g.Input(reply(t, s, ack, irs+2+uint32(len(resp)), s.Seq+2+reqLen, ""), 10, &tx)
	if g.Stats.Completed != 1 || g.Window != 1 || g.Latency.TotalCount() != 1 || g.Stats.Errors() != 0 {
		t.Fatalf("stats %+v window %d", g.Stats, g.Window)
	}
	if g.Stats.SynAckAgain != 1 || g.Stats.FinAgain != 1 {
		t.Fatalf("retransmissions not counted: %+v", g.Stats)
	}
	// The slot opens its next tuple, a new one.
	g.Tick(11, &tx)
	s2 := one(t, tx.take(), syn)
	if s2.Src == s.Src && s2.SrcPort == s.SrcPort {
		t.Fatal("tuple reused")
	}
	// The server's ACK of our (second) FIN again, from its TIME-WAIT: not
	// answered, or its TIME-WAIT would end.
	g.Input(reply(t, s, ack, irs+2+uint32(len(resp)), s.Seq+2+reqLen, ""), 12, &tx)
	if fs := tx.take(); len(fs) != 0 || g.Stats.LateACK != 1 || g.Stats.Errors() != 0 {
		t.Fatalf("late ACK answered %+v, stats %+v", fs, g.Stats)
	}
	// Any other late segment of the finished connection is stale: RST.
	g.Input(finSeg, 12, &tx)
	r := one(t, tx.take(), rst)
	if r.Seq != s.Seq+1+reqLen || g.Stats.Stale != 1 {
		t.Fatalf("stale RST seq %d, stats %+v", r.Seq, g.Stats)
	}
}

// TestDataAndFINTogether: a response that carries the FIN is answered by
// one FIN+ACK.
func TestDataAndFINTogether(t *testing.T) {
	g := newGen(t, 4)
	var tx txRec
	g.Tick(0, &tx)
	syns := tx.take()
	if len(syns) != 4 {
		t.Fatalf("%d SYNs for 4 slots", len(syns))
	}
	s := syns[2]
	g.Input(reply(t, s, syn|ack, 7, s.Seq+1, ""), 1, &tx)
	one(t, tx.take(), ack|psh)
	reqLen := uint32(len(g.cfg.Request))
	g.Input(reply(t, s, fin|ack|psh, 8, s.Seq+1+reqLen, resp), 2, &tx)
	f := one(t, tx.take(), fin|ack)
	if f.Ack != 8+uint32(len(resp))+1 {
		t.Fatalf("FIN+ACK ack %d", f.Ack)
	}
	g.Input(reply(t, s, ack, 9+uint32(len(resp)), s.Seq+2+reqLen, ""), 3, &tx)
	if g.Stats.Completed != 1 || g.InProgress() != 3 {
		t.Fatalf("completed %d, in progress %d", g.Stats.Completed, g.InProgress())
	}
}

// TestErrorsCounted: every failure is counted by kind, and the connection
// still ends (so the slot is reused).
func TestErrorsCounted(t *testing.T) {
	reqLen := uint32(len(newGen(t, 1).cfg.Request))
	start := func(t *testing.T) (*Gen, *txRec, wire.Frame) {
		g := newGen(t, 1)
		tx := &txRec{}
		g.Tick(0, tx)
		return g, tx, tx.take()[0]
	}
	t.Run("bad ack", func(t *testing.T) {
		g, tx, s := start(t)
		g.Input(reply(t, s, syn|ack, 5, s.Seq+77, ""), 1, tx)
		r := one(t, tx.take(), rst)
		if r.Seq != s.Seq+77 || g.Stats.BadAck != 1 || g.InProgress() != 1 {
			t.Fatalf("RST seq %d, stats %+v", r.Seq, g.Stats)
		}
	})
	t.Run("rst", func(t *testing.T) {
		g, tx, s := start(t)
		g.Input(reply(t, s, rst|ack, 0, s.Seq+1, ""), 1, tx)
		if g.Stats.RST != 1 || g.InProgress() != 0 || len(tx.take()) != 0 {
			t.Fatalf("stats %+v", g.Stats)
		}
	})
	t.Run("bad response", func(t *testing.T) {
		g, tx, s := start(t)
		g.Input(reply(t, s, syn|ack, 5, s.Seq+1, ""), 1, tx)
		tx.take()
		g.Input(reply(t, s, fin|ack, 6, s.Seq+1+reqLen, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), 2, tx)
		one(t, tx.take(), fin|ack) // closed properly all the same
		g.Input(reply(t, s, ack, 0, s.Seq+2+reqLen, ""), 3, tx)
		if g.Stats.BadResponse != 1 || g.Stats.Completed != 0 || g.InProgress() != 0 {
			t.Fatalf("stats %+v", g.Stats)
		}
	})
	t.Run("short", func(t *testing.T) {
		g, tx, s := start(t)
		g.Input(reply(t, s, syn|ack, 5, s.Seq+1, ""), 1, tx)
		tx.take()
		g.Input(reply(t, s, fin|ack, 6, s.Seq+1+reqLen, resp[:len(resp)-3]), 2, tx)
		if g.Stats.Short != 1 {
			t.Fatalf("stats %+v", g.Stats)
		}
	})
	t.Run("gap", func(t *testing.T) {
		g, tx, s := start(t)
		g.Input(reply(t, s, syn|ack, 5, s.Seq+1, ""), 1, tx)
		tx.take()
		g.Input(reply(t, s, ack, 6+10, s.Seq+1+reqLen, resp[10:]), 2, tx)
		a := one(t, tx.take(), ack)
		if a.Ack != 6 || g.Stats.DupData != 1 {
			t.Fatalf("dup ACK %d, stats %+v", a.Ack, g.Stats)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		g, tx, s := start(t)
		rto := int64(200 * time.Millisecond)
		now := int64(0)
		for i := range 3 {
			now += rto << i
			g.Tick(now, tx)
			if r := one(t, tx.take(), syn); r.Seq != s.Seq {
				t.Fatalf("retransmitted SYN seq %d", r.Seq)
			}
		}
		now += rto << 3
		g.Tick(now, tx)
		if g.Stats.Timeouts != 1 || g.Stats.Retrans != 3 {
			t.Fatalf("stats %+v", g.Stats)
		}
		if fs := tx.take(); len(fs) != 1 || fs[0].Flags != syn || fs[0].SrcPort == s.SrcPort {
			t.Fatalf("after the timeout the slot should open a new tuple: %+v", fs)
		}
	})
	t.Run("tx full", func(t *testing.T) {
		g := newGen(t, 2)
		tx := &txRec{full: true}
		g.Tick(0, tx)
		if g.Stats.TXFull != 2 {
			t.Fatalf("stats %+v", g.Stats)
		}
	})
	t.Run("junk", func(t *testing.T) {
		g, tx, s := start(t)
		g.Input([]byte{1, 2, 3}, 1, tx)
		other := s
		other.Dst = netip.MustParseAddr("198.18.0.9") // not from our server
		g.Input(reply(t, other, ack, 1, 1, ""), 1, tx)
		if g.Stats.BadFrames != 2 || len(tx.take()) != 0 {
			t.Fatalf("stats %+v", g.Stats)
		}
	})
}

func TestTuples(t *testing.T) {
	for _, p := range []string{"198.19.0.0/16", "2001:2:0:ff00::/64", "198.18.255.0/24"} {
		ts, err := newTuples(netip.MustParsePrefix(p))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []uint64{0, 1, numPorts - 1, numPorts, 12345678, ts.count() - 1} {
			a, port := ts.addr(n)
			if !ts.prefix.Contains(a) || port < firstPort {
				t.Fatalf("%s: tuple %d -> %v:%d", p, n, a, port)
			}
			if back, ok := ts.tuple(a, port); !ok || back != n {
				t.Fatalf("%s: tuple %d -> %v:%d -> %d %v", p, n, a, port, back, ok)
			}
		}
		if _, ok := ts.tuple(netip.MustParseAddr("198.20.0.1"), 2000); ok {
			t.Fatal("address outside the prefix accepted")
		}
	}
	for _, p := range []string{"10.0.0.0/16", "198.18.0.0/14", "2001:db8::/64", "198.18.0.5/32"} {
		if _, err := newTuples(netip.MustParsePrefix(p)); err == nil {
			t.Errorf("prefix %s accepted", p)
		}
	}
	if iss(1, 5) == iss(2, 5) || iss(1, 5) == iss(1, 6) {
		t.Error("ISN does not depend on key and tuple")
	}
}

func BenchmarkConnection(b *testing.B) {
	g, err := New(Config{Server: server, Client: client, SrcMAC: cliMAC, DstMAC: srvMAC, Slots: 1, WantLength: 13})
	if err != nil {
		b.Fatal(err)
	}
	var tx benchTX
	reqLen := uint32(len(g.cfg.Request))
	mk := func(c *wire.Frame, flags uint8, seq, ackN uint32, payload string) []byte {
		s := wire.TCPFrameSpec{SrcMAC: srvMAC, DstMAC: cliMAC, Src: c.Dst, Dst: c.Src, SrcPort: c.DstPort, DstPort: c.SrcPort,
			Flags: flags, Seq: seq, Ack: ackN, Window: 65535}
		out := make([]byte, 256)
		n, _ := wire.BuildTCP(out, &s, []byte(payload))
		return out[:n]
	}
	b.ReportAllocs()
	now := int64(0)
	for b.Loop() {
		now++
		g.Tick(now, &tx)
		var s wire.Frame
		wire.ParseFrame(tx.buf[:tx.n], &s)
		g.Input(mk(&s, syn|ack, 1, s.Seq+1, ""), now, &tx)
		g.Input(mk(&s, fin|ack|psh, 2, s.Seq+1+reqLen, resp), now, &tx)
		g.Input(mk(&s, ack, 3+uint32(len(resp)), s.Seq+2+reqLen, ""), now, &tx)
	}
	if g.Stats.Errors() != 0 {
		b.Fatalf("errors: %s", g.Stats.String())
	}
}

type benchTX struct {
	buf [2048]byte
	n   int
}

func (t *benchTX) Buf() []byte { return t.buf[:] }
func (t *benchTX) Send(n int)  { t.n = n }

// TestAbort: connections still in progress are reset and counted
// Unfinished, not as errors.
func TestAbort(t *testing.T) {
	g := newGen(t, 2)
	var tx txRec
	g.Tick(0, &tx)
	s := tx.take()[0]
	g.Input(reply(t, s, syn|ack, 9, s.Seq+1, ""), 1, &tx)
	tx.take()
	g.Stop()
	g.Abort(&tx)
	r := one(t, tx.take(), rst) // the SYN-only one gets nothing
	if r.Seq != s.Seq+1+uint32(len(g.cfg.Request)) || g.Stats.Unfinished != 2 || g.Stats.Errors() != 0 || !g.Done() {
		t.Fatalf("RST seq %d, stats %+v, done %v", r.Seq, g.Stats, g.Done())
	}
}

// TestRate: with Config.Rate the generator opens no more connections
// than the rate allows since its first Tick, and opens what it owes when
// slots free up after it fell behind.
func TestRate(t *testing.T) {
	g, err := New(Config{Server: server, Client: client, SrcMAC: cliMAC, DstMAC: srvMAC, Slots: 64,
		WantLength: 13, Key: 42, Rate: 1000}) // one a millisecond
	if err != nil {
		t.Fatal(err)
	}
	var tx txRec
	const t0 = int64(time.Hour)
	syns := func() int {
		n := 0
		for _, f := range tx.take() {
			if f.Flags == wire.TCPFlagSYN {
				n++
			}
		}
		return n
	}
	g.Tick(t0, &tx)
	if n := syns(); n != 1 {
		t.Fatalf("first Tick sent %d SYNs, want 1", n)
	}
	g.Tick(t0+int64(500*time.Microsecond), &tx)
	if n := syns(); n != 0 {
		t.Fatalf("half a period later: %d SYNs, want 0", n)
	}
	g.Tick(t0+int64(10*time.Millisecond), &tx)
	if n := syns(); n != 10 {
		t.Fatalf("10 ms in: %d more SYNs, want 10 (11 in all, at 0, 1, ..., 10 ms)", n)
	}
	// 100 ms in, 90 are owed, but only the 53 free slots can open.
	g.Tick(t0+int64(100*time.Millisecond), &tx)
	if n := syns(); n != 53 {
		t.Fatalf("behind, 64 slots: %d more SYNs, want 53", n)
	}
	if g.Stats.Started != 64 {
		t.Fatalf("Started %d, want 64", g.Stats.Started)
	}
}
