package sched

import (
	"bytes"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/wire"
)

// Benchmarks of the loop's per-frame path on the in-memory pipe
// (pipe_test.go): no device, so they measure the loop's own cost.

// benchPipe is newPipe without the output checker (tcp/tcpcheck): it
// allocates per frame and keeps state per flow, which would be counted
// as the loop's time and memory.
func benchPipe(b *testing.B, h Handler, cfg *tcp.Config) *pipe {
	p := newPipe(b, h, cfg)
	p.check = nil
	return p
}

// BenchmarkLoopEcho: one 64-octet request in, one echo out, through the
// loop's whole per-frame path (parse, table, engine, callback, build); the
// client engine's cost is included (it is of the same order).
func BenchmarkLoopEcho(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			p := benchPipe(b, &rawEcho{}, nil)
			p.dial()
			req := bytes.Repeat([]byte("q"), size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			rx0, tx0 := p.l.st.RxFrames, p.l.st.TxFrames
			for b.Loop() {
				p.cli.Write(req, p.now)
				p.pump()
				a, c := p.cli.Peek()
				p.cli.Consume(len(a)+len(c), p.now)
			}
			// Frames the loop took and sent per request: an ACK policy
			// that adds a frame shows here, not only in ns/op.
			b.ReportMetric(float64(p.l.st.RxFrames-rx0+p.l.st.TxFrames-tx0)/float64(b.N), "frames/op")
		})
	}
}

// BenchmarkLoopInput: the loop alone, per received frame: a prebuilt data
// segment for an established connection goes through Input, the handler
// consumes it (no reply text), and the ACK the engine owes goes out
// through the frame builder. Sequence numbers advance so every frame is
// new, in-window text.
func BenchmarkLoopInput(b *testing.B) {
	h := &sink{}
	p := benchPipe(b, h, nil)
	p.dial()
	s := p.spec
	id := p.cli.ID()
	s.Src, s.Dst, s.SrcPort, s.DstPort = id.LocalAddr, id.RemoteAddr, id.LocalPort, id.RemotePort
	v := p.cli.Vars()
	s.Seq, s.Ack, s.Flags, s.Window = uint32(v.SndNxt), uint32(v.RcvNxt), wire.TCPFlagACK|wire.TCPFlagPSH, 0xffff
	payload := bytes.Repeat([]byte("d"), 64)
	frame := make([]byte, 256)
	p.fromLoop = newFrameQueue(16)
	p.l.loopback = func([]byte) {}
	b.ReportAllocs()
	for b.Loop() {
		n, _ := wire.BuildTCP(frame, &s, payload)
		p.l.Input(frame[:n])
		p.l.flush()
		s.Seq += uint32(len(payload))
	}
}

// BenchmarkLoopReset: the no-connection path: a segment to a closed port
// is answered with a RST built in a UMEM frame.
func BenchmarkLoopReset(b *testing.B) {
	p := benchPipe(b, &rawEcho{}, nil)
	p.l.loopback = func([]byte) {}
	s := p.spec
	s.Src, s.Dst, s.SrcPort, s.DstPort = pipeClient.Addr(), pipeServer.Addr(), 40001, 81
	s.Seq, s.Flags, s.Window = 1000, wire.TCPFlagSYN, 1000
	frame := make([]byte, 128)
	n, _ := wire.BuildTCP(frame, &s, nil)
	b.ReportAllocs()
	for b.Loop() {
		p.l.Input(frame[:n])
		p.l.flush()
	}
}

// BenchmarkIdleConnMemory: heap bytes per idle ESTABLISHED connection
// with 100,000 of them in one loop and the default TCP configuration
// (Conn slab element, TCB, table slot, listener bookkeeping, and whatever
// buffer memory an idle connection holds: none, buffers are taken with
// the first byte). Handshakes are driven with raw frames, so no client
// engine shares the heap.
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		cfg := tcp.DefaultConfig()
		cfg.SynBacklog, cfg.AcceptBacklog = n, n
		p := benchPipe(b, sink{}, &cfg)
		var syn wire.Frame
		spec := p.spec
		spec.Src, spec.Dst, spec.DstPort = pipeClient.Addr(), pipeServer.Addr(), pipeServer.Port()
		frame := make([]byte, 128)
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		for i := range n {
			spec.Src = netip.AddrFrom4([4]byte{198, 18, byte(1 + i>>16), byte(i >> 8)})
			spec.SrcPort = uint16(i)
			spec.Seq, spec.Ack, spec.Flags, spec.Window = 1000, 0, wire.TCPFlagSYN, 1000
			spec.Options = wire.TCPOptions{MSS: 536}
			k, _ := wire.BuildTCP(frame, &spec, nil)
			p.l.Input(frame[:k])
			p.l.flush()
			q := p.fromLoop
			if q.len != 1 || wire.ParseFrame(q.buf[0][:q.n[0]], &syn) != nil || syn.Flags != wire.TCPFlagSYN|wire.TCPFlagACK {
				b.Fatalf("conn %d: no SYN-ACK", i)
			}
			q.len = 0
			spec.Seq, spec.Ack, spec.Flags, spec.Options = 1001, syn.Seq+1, wire.TCPFlagACK, wire.TCPOptions{}
			k, _ = wire.BuildTCP(frame, &spec, nil)
			p.l.Input(frame[:k])
			p.l.flush()
			q.len = 0
		}
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		st, _ := p.l.Stats(0)
		if st.Conns != n || st.ByState[tcp.Established] != n {
			b.Fatalf("%d connections, %d established", st.Conns, st.ByState[tcp.Established])
		}
		b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/n, "B/conn")
		b.ReportMetric(float64(st.Timers), "timers")
		runtime.KeepAlive(p)
	}
}

// BenchmarkLoopConnection: a whole short connection through the loop
// (handshake, one 64-octet echo, client close: 8 frames), TCBs recycled.
func BenchmarkLoopConnection(b *testing.B) {
	cfg := tcp.DefaultConfig()
	p := benchPipe(b, &rawEcho{}, &cfg)
	req := bytes.Repeat([]byte("q"), 64)
	port := uint16(1)
	b.ReportAllocs()
	for b.Loop() {
		port++
		if port == 0 {
			port = 1
		}
		p.churnOne(b, port, req)
		p.now += tcp.Instant(time.Microsecond)
	}
}
