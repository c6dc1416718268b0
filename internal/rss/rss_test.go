package rss

import (
	"encoding/hex"
	"net/netip"
	"testing"
)

// msKey is the key of Microsoft's "Verifying the RSS Hash Calculation".
var msKey, _ = hex.DecodeString("6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa")

// msVectors are that page's vectors: a frame from src to dst, its hash
// over the addresses only and over addresses and ports.
var msVectors = []struct {
	src, dst     string
	addrs, tuple uint32
}{
	{"66.9.149.187:2794", "161.142.100.80:1766", 0x323e8fc2, 0x51ccc178},
	{"199.92.111.2:14230", "65.69.140.83:4739", 0xd718262a, 0xc626b0ea},
	{"24.19.198.95:12898", "12.22.207.184:38024", 0xd2d0a5de, 0x5c2b394a},
	{"38.27.205.30:48228", "209.142.163.6:2217", 0x82989176, 0xafc7327f},
	{"153.39.163.191:44251", "202.188.127.2:1303", 0x5d1809c5, 0x10e828a2},
	{"[3ffe:2501:200:1fff::7]:2794", "[3ffe:2501:200:3::1]:1766", 0x2cc18cd5, 0x40207d3d},
	{"[3ffe:501:8::260:97ff:fe40:efab]:14230", "[ff02::1]:4739", 0x0f0c461c, 0xdde51bbf},
	{"[3ffe:1900:4545:3:200:f8ff:fe21:67cf]:44251", "[fe80::200:f8ff:fe21:67cf]:38024", 0x4b61e985, 0x02d1feef},
}

func TestHashVectors(t *testing.T) {
	for _, v := range msVectors {
		src, dst := netip.MustParseAddrPort(v.src), netip.MustParseAddrPort(v.dst)
		in, _ := Input(nil, IPSrc|IPDst, src, dst)
		if h := Hash(msKey, in); h != v.addrs {
			t.Errorf("%s -> %s, addresses: %#08x, want %#08x", v.src, v.dst, h, v.addrs)
		}
		in, at := Input(nil, Tuple4, src, dst)
		if h := Hash(msKey, in); h != v.tuple {
			t.Errorf("%s -> %s, with ports: %#08x, want %#08x", v.src, v.dst, h, v.tuple)
		}
		if at != len(in)-2 {
			t.Errorf("destination port at %d of %d octets", at, len(in))
		}
	}
}

// testTable spreads a 128-entry table over 4 queues, as a 4-queue NIC's
// default (ethtool -X equal 4) does.
func testTable() *Table {
	t := &Table{Key: msKey, Indir: make([]uint32, 128), Fields4: Tuple4, Fields6: Tuple4}
	for i := range t.Indir {
		t.Indir[i] = uint32(i % 4)
	}
	return t
}

// TestSearch: the linear search agrees with hashing each whole input, for
// both families and every port.
func TestSearch(t *testing.T) {
	tab := testTable()
	for _, v := range msVectors {
		src, dst := netip.MustParseAddrPort(v.src), netip.MustParseAddrPort(v.dst)
		s, err := tab.NewSearch(src, dst.Addr())
		if err != nil {
			t.Fatal(err)
		}
		counts := make([]int, 4)
		for p := range 1 << 16 {
			q := tab.Queue(src, netip.AddrPortFrom(dst.Addr(), uint16(p)))
			if got := s.Queue(uint16(p)); got != q {
				t.Fatalf("%s -> %s:%d: search says queue %d, the hash %d", v.src, v.dst, p, got, q)
			}
			counts[q]++
		}
		for q, n := range counts {
			if n < 1<<16/8 {
				t.Errorf("%s -> %s: queue %d gets %d of 65536 ports", v.src, v.dst, q, n)
			}
		}
	}
	tab.Fields6 = IPSrc | IPDst
	if _, err := tab.NewSearch(netip.MustParseAddrPort("[2001:2::1]:80"), netip.MustParseAddr("2001:2::2")); err != ErrNoPortHash {
		t.Errorf("search without hashed ports: %v, want ErrNoPortHash", err)
	}
}

// BenchmarkPortChoice: preparing a search and finding a port that lands
// on queue 3 of 4, from a given start.
func BenchmarkPortChoice(b *testing.B) {
	b.ReportAllocs()
	tab := testTable()
	src, dst := netip.MustParseAddrPort("198.18.0.2:8080"), netip.MustParseAddr("198.18.0.1")
	p := uint16(32768)
	for b.Loop() {
		s, _ := tab.NewSearch(src, dst)
		for s.Queue(p) != 3 {
			p++
		}
		p++
	}
}

// TestReadNoRSS: loopback has no RSS configuration; Read says so rather
// than returning a table (the test's own namespace, no privileges).
func TestReadNoRSS(t *testing.T) {
	tab, err := Read("lo")
	if err == nil {
		t.Fatalf("Read(lo) = %+v, want an error", tab)
	}
	t.Logf("lo: %v", err)
}
