package sched

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/timewait"

	"github.com/sluicenet/sluice/wire"
)

// answerClose answers a request and closes in one callback, as an HTTP
// server does for "Connection: close".
type answerClose struct{}

func (answerClose) OnOpen(*Conn) {}
func (answerClose) OnData(c *Conn, _ []byte) {
	c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\n"))
	c.Write([]byte("Hello, World!"))
	c.Close()
}
func (answerClose) OnEOF(c *Conn)        { c.Close() }
func (answerClose) OnClose(*Conn, error) {}

// BenchmarkLoopChurn: the loop's side of one bench/conngen connection
// (SYN; ACK+GET; the server answers and closes first; FIN+ACK; the
// server's ACK puts it in TIME-WAIT), on raw frames with no client TCB,
// so only the server's work is timed. frames/conn is what the server
// sent per connection.
func BenchmarkLoopChurn(b *testing.B) { benchLoopChurn(b, 0) }

// BenchmarkLoopChurnFull is BenchmarkLoopChurn with the TIME-WAIT table
// at its bound, as a churning server's is a second after it starts:
// every connection closes without TIME-WAIT (timewait.Table.Refuses).
func BenchmarkLoopChurnFull(b *testing.B) { benchLoopChurn(b, 1024) }

// benchLoopChurn runs the exchange; twFull > 0 first fills a TIME-WAIT
// table of that bound.
func benchLoopChurn(b *testing.B, twFull int) {
	p := newPipe(b, answerClose{}, nil)
	p.check = nil
	if twFull > 0 {
		tw, err := timewait.New(timewait.Config{MSL: time.Hour, Max: twFull})
		if err != nil {
			b.Fatal(err)
		}
		for i := range twFull {
			id := tcp.ID{LocalAddr: pipeServer.Addr(), RemoteAddr: netip.AddrFrom4([4]byte{198, 18, 9, 9}),
				LocalPort: pipeServer.Port(), RemotePort: uint16(i + 1)}
			tw.Insert(&id, &timewait.State{}, p.l.now)
		}
		p.l.tw = tw
	}
	get := []byte("GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
	var scratch [2048]byte
	var f wire.Frame
	s := wire.TCPFrameSpec{SrcMAC: pipeCliMAC, DstMAC: pipeSrvMAC, Dst: pipeServer.Addr(), DstPort: pipeServer.Port(), Window: 65535}
	send := func(flags uint8, seq, ack uint32, opts wire.TCPOptions, text []byte) {
		s.Flags, s.Seq, s.Ack, s.Options = flags, seq, ack, opts
		n, err := wire.BuildTCP(scratch[:], &s, text)
		if err != nil {
			b.Fatal(err)
		}
		p.l.Input(scratch[:n])
	}
	// The server's replies, read back from the pipe: its ISN and what it
	// sent.
	take := func() (seq uint32, text int) {
		p.l.flush()
		q := p.fromLoop
		for i := range q.len {
			if err := wire.ParseFrame(q.buf[i][:q.n[i]], &f); err != nil {
				b.Fatal(err)
			}
			if f.Flags&wire.TCPFlagSYN != 0 {
				seq = f.Seq
			}
			text += len(f.Payload)
		}
		q.len = 0
		return seq, text
	}
	tuple := uint32(0)
	tx0 := p.l.st.TxSegments
	b.ReportAllocs()
	for b.Loop() {
		tuple++
		// Each 4-tuple once (conngen's numbering), so none reopens a
		// TIME-WAIT entry.
		host := tuple / 60000
		s.Src = netip.AddrFrom4([4]byte{198, 19, byte(host >> 8), byte(host)})
		s.SrcPort = uint16(1024 + tuple%60000)
		const iss = 1000
		send(wire.TCPFlagSYN, iss, 0, wire.TCPOptions{MSS: 1460}, nil)
		irs, _ := take()
		send(wire.TCPFlagACK|wire.TCPFlagPSH, iss+1, irs+1, wire.TCPOptions{}, get)
		_, n := take()
		send(wire.TCPFlagFIN|wire.TCPFlagACK, iss+1+uint32(len(get)), irs+1+uint32(n)+1, wire.TCPOptions{}, nil)
		take()
		if p.l.conns.Len() != 0 {
			b.Fatalf("%d connections open after the exchange", p.l.conns.Len())
		}
	}
	b.ReportMetric(float64(p.l.st.TxSegments-tx0)/float64(b.N), "frames/conn")
	if twFull > 0 && p.l.tw.Len() != twFull {
		b.Fatalf("TIME-WAIT table holds %d entries, want its bound %d", p.l.tw.Len(), twFull)
	}
}
