package tcp_test

import (
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// A window with more holes than the eight ranges the TCB holds inline:
// one segment in every eight of a 180-segment window is lost, so ~20
// holes are open at the receiver at once. The receiver reassembles every
// out-of-order segment around them (none dropped: Config.MaxOOORanges,
// 256 by default) and the sender resends only what was lost. With the
// old fixed bound of 8 ranges (MaxOOORanges 8 reproduces it) the receiver
// dropped in-window segments that the sender then had to send again, and
// the sender's scoreboard forgot SACKed ranges and resent them too.
func TestReassemblyManyHoles(t *testing.T) {
	for _, tc := range []struct {
		limit   int
		dropped bool // whether the receiver must have dropped segments
	}{{0, false}, {8, true}} {
		cfg := tcp.DefaultConfig()
		cfg.MaxOOORanges = tc.limit
		b := newBulk(t, cfg, 1<<20)
		lost := 0
		b.filter(func(nth int, s *tcp.Segment) (bool, time.Duration) {
			i := int(s.Seq.Sub(b.seg(0)) / b.mss)
			if nth == 1 && i >= 150 && i < 330 && i%8 == 0 {
				lost++
				return true, 0
			}
			return false, 0
		})
		st := b.stream()
		rst := b.l.B.Stats()
		t.Logf("limit %d: lost %d, sender %+v, receiver OOO dropped %d", tc.limit, lost, *st, rst.OOODropped)
		if tc.dropped {
			if rst.OOODropped == 0 {
				t.Errorf("limit %d: no out-of-order segment dropped with %d holes", tc.limit, lost)
			}
			continue
		}
		if rst.OOODropped != 0 {
			t.Errorf("limit %d: receiver dropped %d out-of-order segments", tc.limit, rst.OOODropped)
		}
		if st.RTOExpiries != 0 {
			t.Errorf("limit %d: %d RTOs", tc.limit, st.RTOExpiries)
		}
		// The sender's scoreboard keeps the ~20 SACKed ranges too: it
		// resends what was lost, not what it forgot was SACKed (95
		// retransmissions for 23 losses with 8 ranges).
		if st.SACKOverflow != 0 || st.Retransmits > uint64(lost)+2 {
			t.Errorf("limit %d: %d retransmissions for %d losses, %d SACK ranges forgotten", tc.limit, st.Retransmits, lost, st.SACKOverflow)
		}
	}
}

// Many holes filled in every order: a script of 40 disjoint out-of-order
// segments, then the in-order ones: the receiver keeps all 40 ranges,
// ACKs with SACK blocks, and delivers the stream byte-exact once the
// holes close.
func TestReassemblyFortyRanges(t *testing.T) {
	cfg := tcp.DefaultConfig()
	h := New(t, cfg)
	r := h.AcceptWith(irs, tcp.Options{SACKPermitted: true, MSS: 1000})
	data := pattern(80 * 100)
	seg := func(i int) Seg {
		return Seg{Flags: ACK, Seq: r + tcp.Seq(i*100), Ack: ISS + 1, Data: data[i*100 : (i+1)*100]}
	}
	for i := 79; i >= 1; i -= 2 { // odd segments, highest first
		h.In(seg(i))
	}
	if st := h.TCB.Stats(); st.OOODropped != 0 {
		t.Fatalf("OOODropped %d with 40 ranges", st.OOODropped)
	}
	acks := h.Take()
	if n := len(acks); n != 40 || acks[n-1].Seg.Ack != r || acks[n-1].Seg.Options.NumSACK == 0 {
		t.Fatalf("%d ACKs, last %v: want 40 duplicate ACKs with SACK", n, acks[len(acks)-1])
	}
	for i := 0; i < 80; i += 2 {
		h.In(seg(i))
	}
	got := make([]byte, len(data)+1)
	n, _ := h.TCB.Read(got, h.Now)
	if string(got[:n]) != string(data) {
		t.Fatalf("read %d octets, want %d byte-exact", n, len(data))
	}
}

// stream is bulk.send for a transfer larger than the send buffer: it
// writes as the buffer frees, and checks byte-exact delivery.
func (b *bulk) stream() *tcp.Stats {
	b.t.Helper()
	off := 0
	var buf [16384]byte
	for steps := 0; steps < 1_000_000; steps++ {
		if off < len(b.data) {
			n, err := b.l.A.Write(b.data[off:], b.l.Now)
			if err != nil {
				b.t.Fatal(err)
			}
			off += n
		}
		if !b.l.Step(b.l.Now.Add(time.Minute)) {
			break
		}
		for b.l.B != nil {
			n, _ := b.l.B.Read(buf[:], b.l.Now)
			if n == 0 {
				break
			}
			b.got = append(b.got, buf[:n]...)
		}
		if len(b.got) == len(b.data) && b.l.A.Vars().SndUna == b.l.A.Vars().SndMax {
			break
		}
	}
	if string(b.got) != string(b.data) {
		b.t.Fatalf("delivered %d of %d octets (or corrupt)", len(b.got), len(b.data))
	}
	return b.l.A.Stats()
}
