package tcp_test

import (
	"testing"

	"github.com/sluicenet/sluice/tcp"
	. "github.com/sluicenet/sluice/tcp/tcptest"
)

// The timestamp offset (RFC 7323 §5.4) is taken for connections that use
// timestamps, and only for them: a Listener's child whose SYN offers them
// sends TSval = clock + offset (its 4-tuple's), one whose SYN does not
// never asks for the offset; an active open stamps its SYN with it.
func TestTSOffsetTakenWhenUsed(t *testing.T) {
	const off = 1 << 20
	cfg := tcp.DefaultConfig()
	cfg.Timestamps = true
	asked := map[tcp.ID]int{}
	cfg.TSOffset = func(id *tcp.ID) uint32 {
		asked[*id]++
		return off + uint32(id.RemotePort)
	}
	h := New(t, cfg)
	h.Listener()
	noTS, withTS := peerID(1), peerID(2)
	h.InFrom(noTS, Seg{Flags: SYN, Seq: irs, Opts: tcp.Options{MSS: 1460}})
	if out := h.Take(); len(out) != 1 || out[0].Seg.Options.HasTS {
		t.Fatalf("SYN without timestamps answered %+v", out)
	}
	if asked[noTS] != 0 {
		t.Errorf("offset taken %d times for a connection without timestamps", asked[noTS])
	}
	h.InFrom(withTS, Seg{Flags: SYN, Seq: irs, Opts: PeerTS})
	out := h.Take()
	if len(out) != 1 || !out[0].Seg.Options.HasTS {
		t.Fatalf("SYN with timestamps answered %+v", out)
	}
	if want := uint32(h.Now/1e6) + off + uint32(withTS.RemotePort); out[0].Seg.Options.TSVal != want || asked[withTS] != 1 {
		t.Errorf("SYN-ACK TSval %d (offset taken %d times), want %d", out[0].Seg.Options.TSVal, asked[withTS], want)
	}

	a := New(t, cfg)
	a.Dial()
	syn := a.Take()
	if want := uint32(a.Now/1e6) + off + uint32(a.ID.RemotePort); len(syn) != 1 || syn[0].Seg.Options.TSVal != want {
		t.Errorf("active SYN %+v, want TSval %d", syn, want)
	}
}
