package systest

import (
	"net/netip"
	"os"
	"strconv"
	"testing"

	"github.com/sluicenet/sluice/sched"
	"github.com/sluicenet/sluice/tcp"
	"github.com/sluicenet/sluice/testbed"
	"github.com/sluicenet/sluice/wire"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// envInt reads a positive integer from the environment, or def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func macOf(b []byte) wire.MAC {
	var m wire.MAC
	copy(m[:], b)
	return m
}

// frame builds a checksum-valid TCP frame.
func frame(t testing.TB, s *wire.TCPFrameSpec, payload []byte) []byte {
	t.Helper()
	b := make([]byte, s.HeaderLen()+len(payload))
	n, err := wire.BuildTCP(b, s, payload)
	if err != nil {
		t.Fatal(err)
	}
	return b[:n]
}

// spoofed returns the i-th of 2^24 source addresses in 198.19.0.0/16 +
// 198.18.128.0/17 style spread: all inside 198.18.0.0/15, none the peer's.
func spoofed(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
}

func schedLoop(c *tcp.Config) sched.LoopConfig { return sched.LoopConfig{TCP: c} }

// netipFrom16 is a spoofed IPv6 source in 2001:2::/48.
func netipFrom16(i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(i >> 8), byte(i) | 0x10})
}

// xskLost is how many received frames the socket lost between two
// snapshots: RX ring full, fill ring empty, other drops (XDP_STATISTICS).
func xskLost(before, after *sched.Stats) uint64 {
	d := func(a, b uint64) uint64 { return a - b }
	return d(after.XSK.RxRingFull, before.XSK.RxRingFull) +
		d(after.XSK.RxFillRingEmptyDescs, before.XSK.RxFillRingEmptyDescs) +
		d(after.XSK.RxDropped, before.XSK.RxDropped)
}
