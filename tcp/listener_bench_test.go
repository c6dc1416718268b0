package tcp_test

import (
	"testing"

	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/tcp/isn"
)

type nopSink struct{}

func (nopSink) Emit(*tcp.ID, *tcp.Segment) {}

// BenchmarkListenerSYN: a Listener's work for a new connection's SYN
// (a recycled child, its ISS and SYN-ACK), with the keyed ISN and
// timestamp offset a server uses (isn.Generator); the child is aborted
// and recycled after each. notimestamps is a SYN with MSS only (the
// bench's raw-frame generator, Windows' default); timestamps is Linux's.
func BenchmarkListenerSYN(b *testing.B) {
	for _, c := range []struct {
		name string
		opts tcp.Options
	}{
		{"notimestamps", tcp.Options{MSS: 1460}},
		{"timestamps", tcp.Options{MSS: 1460, HasTS: true, TSVal: 1, SACKPermitted: true, HasWScale: true, WScale: 7}},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg := tcp.DefaultConfig()
			cfg.UseGenerator(isn.New([16]byte{1}))
			var spare *tcp.TCB
			l := tcp.NewListener(&cfg, nopSink{})
			l.Pool = func() *tcp.TCB { t := spare; spare = nil; return t }
			id := peerID(0)
			syn := tcp.Segment{Seq: 1000, Flags: tcp.FlagSYN, Window: 65535, Options: c.opts}
			now := tcp.Instant(1e9)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				id.RemotePort = uint16(i)
				t := l.Input(&id, &syn, now)
				if t == nil {
					b.Fatal("no child")
				}
				t.Abort(now)
				spare = t
			}
		})
	}
}
