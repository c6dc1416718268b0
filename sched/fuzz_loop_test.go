package sched

import (
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/wire"
)

// FuzzLoopInput: any frame, and any well-formed segment (valid checksums,
// so it reaches the engine) on a flow with a live connection, a TIME-WAIT
// entry, a listener or nothing, is counted, answered or dropped — never a
// panic — and the loop's books stay balanced.
func FuzzLoopInput(f *testing.F) {
	f.Add([]byte{}, uint8(wire.TCPFlagSYN), uint32(1), uint32(0), uint16(1000), uint16(80), []byte("x"), uint8(0))
	f.Add([]byte{0xff}, uint8(wire.TCPFlagACK), uint32(2), uint32(3), uint16(0), uint16(80), []byte{}, uint8(1))
	f.Add(make([]byte, 60), uint8(wire.TCPFlagRST), uint32(0), uint32(0), uint16(0), uint16(81), []byte{}, uint8(2))
	f.Add([]byte{1, 2, 3}, uint8(wire.TCPFlagFIN|wire.TCPFlagACK), uint32(1<<31), uint32(7), uint16(65535), uint16(80), []byte("data"), uint8(3))
	f.Fuzz(fuzzLoopInput)
}

func fuzzLoopInput(t *testing.T, raw []byte, flags uint8, seq, ack uint32, win, port uint16, payload []byte, step uint8) {
	{
		cfg := tcp.DefaultConfig()
		cfg.MSL = time.Millisecond
		p := newPipeSized(t, &rawEcho{}, &cfg, 64)
		p.dial() // a live connection on pipeClient <-> pipeServer
		p.l.Input(raw)
		s := p.spec
		s.Src, s.Dst, s.SrcPort, s.DstPort = pipeClient.Addr(), pipeServer.Addr(), pipeClient.Port(), port
		if step&1 != 0 {
			// Aim at the live connection, near its sequence space.
			v := p.cli.Vars()
			s.DstPort = pipeServer.Port()
			seq += uint32(v.SndNxt)
			ack += uint32(v.RcvNxt)
		}
		s.Seq, s.Ack, s.Flags, s.Window = seq, ack, flags, win
		if len(payload) > 1400 {
			payload = payload[:1400]
		}
		b := make([]byte, 2048)
		n, err := wire.BuildTCP(b, &s, payload)
		if err != nil {
			t.Fatal(err)
		}
		p.l.Input(b[:n])
		p.fromLoop.len = 0
		p.l.flush()
		p.fromLoop.len = 0
		p.advance(time.Duration(step) * 100 * time.Millisecond)
		p.fromLoop.len = 0
		st, _ := p.l.Stats(0)
		if st.RxFrames != st.RxSegments+st.DroppedFrames() {
			t.Fatalf("rx %d != segments %d + drops %d", st.RxFrames, st.RxSegments, st.DroppedFrames())
		}
		if int(st.Created-st.Freed) != st.Conns {
			t.Fatalf("created %d - freed %d != %d live", st.Created, st.Freed, st.Conns)
		}
	}
}
