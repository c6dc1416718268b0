package afxdp

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/testbed"
	"github.com/sluicenet/sluice/testbed/pktgen"
)

func pinTo(cpu int) {
	var set unix.CPUSet
	set.Set(cpu)
	unix.SchedSetaffinity(0, &set)
}

// BenchmarkReflectVeth floods the server veth from the peer (pktgen,
// 64 flows of minimum-size UDP, pinned to CPU 1) while a Reflector runs pinned
// to CPU 0; it reports reflected frames/s and the kernel's counters. One
// b.N round is one fixed 2 s run, so run it with -benchtime 1x.
// busypoll sets SO_BUSY_POLL (50 µs), SO_PREFER_BUSY_POLL and a budget
// of 64 on the socket.
func BenchmarkReflectVeth(b *testing.B) {
	ring := uint32(2048)
	b.Run("default", func(b *testing.B) { reflectVeth(b, SocketConfig{RxSize: ring, TxSize: ring, TxBudget: 256}) })
	b.Run("busypoll", func(b *testing.B) {
		reflectVeth(b, SocketConfig{RxSize: ring, TxSize: ring, TxBudget: 256,
			BusyPoll: 50 * time.Microsecond, PreferBusyPoll: true, BusyPollBudget: 64})
	})
}

func reflectVeth(b *testing.B, cfg SocketConfig) {
	bed := testbed.New(b, testbed.Options{})
	ring := cfg.RxSize
	u, s := newUmemSocketB(b, bed.Server, UmemConfig{FrameSize: 2048, FrameCount: 4096, FillSize: ring, CompletionSize: ring}, cfg)
	xsks := udpRedirectTB(b, bed.Server, 9, 1)
	if err := xsks.Put(uint32(0), uint32(s.Fd())); err != nil {
		b.Fatal(err)
	}
	var frames [][]byte
	for i := range 64 {
		frames = append(frames, buildUDP(b, bed.Peer, bed.Server, uint16(10000+i), 9, make([]byte, 18)))
	}
	pool := u.NewPool(0, 4096)
	for b.Loop() {
		stop := make(chan struct{})
		gen := make(chan uint64, 1)
		go func() {
			var sent uint64
			bed.Peer.Do(func() error {
				pinTo(1)
				g, err := pktgen.New(bed.Peer.Ifindex, frames)
				if err != nil {
					return err
				}
				defer g.Close()
				sent, err = g.Run(pktgen.Limits{Stop: stop, Duration: time.Minute})
				return err
			})
			gen <- sent
		}()
		r := NewReflector(s, pool)
		res := make(chan ReflectStats, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			pinTo(0)
			st, err := r.Run(stop)
			if err != nil {
				b.Error(err)
			}
			res <- st
		}()
		time.Sleep(2 * time.Second)
		close(stop)
		st, sent := <-res, <-gen
		ks, _ := s.Stats()
		b.ReportMetric(float64(st.Packets)/2, "reflected/s")
		b.ReportMetric(float64(sent)/2, "offered/s")
		b.Logf("reflect %+v offered %d kernel %+v", st, sent, ks)
	}
}
