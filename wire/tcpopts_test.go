package wire

import (
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

func TestParseTCPOptions(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want TCPOptions
		err  bool
	}{
		{"empty", "", TCPOptions{}, false},
		{"linux syn", "020405b40402080a000000010000000201030307",
			TCPOptions{MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: 1, TSEcr: 2, HasWScale: true, WScale: 7}, false},
		{"eol stops", "0204059c00ffffff", TCPOptions{MSS: 1436}, false},
		{"nops", "0101010101", TCPOptions{}, false},
		{"unknown skipped", "1e0601020304020405b4", TCPOptions{MSS: 1460}, false},
		{"unknown len 2", "fe02", TCPOptions{}, false},
		{"wscale clamped", "03030f", TCPOptions{HasWScale: true, WScale: 14}, false},
		{"sack 4 blocks", "0101052200000001000000020000000300000004000000050000000600000007ffffffff",
			TCPOptions{NumSACK: 4, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 0xffffffff}}}, false},
		{"repeat overwrites", "020405b4020405dc", TCPOptions{MSS: 1500}, false},
		{"len 0", "0200", TCPOptions{}, true},
		{"len 1", "fe01", TCPOptions{}, true},
		{"kind without len", "0101fe", TCPOptions{}, true},
		{"overrun", "020405", TCPOptions{}, true},
		{"mss len 3", "020305", TCPOptions{}, true},
		{"mss len 6", "020605b40000", TCPOptions{}, true},
		{"ws len 4", "03040700", TCPOptions{}, true},
		{"sackperm len 3", "040300", TCPOptions{}, true},
		{"ts len 8", "0808000000010000", TCPOptions{}, true},
		{"sack len 2", "0502", TCPOptions{}, true},
		{"sack len 9", "050900000001000000", TCPOptions{}, true},
		{"sack 5 blocks", "052a" + "0000000100000002000000030000000400000005000000060000000700000008000000090000000a", TCPOptions{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tc.hex)
			o := TCPOptions{MSS: 9, HasTS: true} // must be cleared
			err := ParseTCPOptions(b, &o)
			if tc.err {
				if err != DropBadOptions {
					t.Fatalf("err %v, want DropBadOptions", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o != tc.want {
				t.Fatalf("got %+v\nwant %+v", o, tc.want)
			}
		})
	}
}

// TestPutTCPOptionsLayout pins the Linux layout (net/ipv4/tcp_output.c,
// tcp_options_write): every multi-octet field 4-aligned.
func TestPutTCPOptionsLayout(t *testing.T) {
	sack := [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}}
	tests := []struct {
		name string
		o    TCPOptions
		hex  string
	}{
		{"none", TCPOptions{}, ""},
		{"mss", TCPOptions{MSS: 1460}, "020405b4"},
		{"syn full", TCPOptions{MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: 1, TSEcr: 2, HasWScale: true, WScale: 7},
			"020405b40402080a000000010000000201030307"},
		{"syn no ts", TCPOptions{MSS: 1460, SACKPermitted: true, HasWScale: true, WScale: 9},
			"020405b40101040201030309"},
		{"ts only", TCPOptions{HasTS: true, TSVal: 0xaabbccdd, TSEcr: 0x11223344}, "0101080aaabbccdd11223344"},
		{"ts + 3 sack", TCPOptions{HasTS: true, TSVal: 1, TSEcr: 2, NumSACK: 4, SACK: sack},
			"0101080a00000001000000020101051a000000010000000200000003000000040000000500000006"},
		{"4 sack", TCPOptions{NumSACK: 4, SACK: sack},
			"0101052200000001000000020000000300000004000000050000000600000007" + "00000008"},
		{"ws clamped", TCPOptions{HasWScale: true, WScale: 200}, "0103030e"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := TCPOptionsLen(&tc.o)
			if n%4 != 0 || n > TCPMaxOptionsLen || n != len(tc.hex)/2 {
				t.Fatalf("TCPOptionsLen %d, want %d", n, len(tc.hex)/2)
			}
			b := make([]byte, 40)
			if got := PutTCPOptions(b, &tc.o); got != n {
				t.Fatalf("PutTCPOptions wrote %d, want %d", got, n)
			}
			if hex.EncodeToString(b[:n]) != tc.hex {
				t.Fatalf("got  %x\nwant %s", b[:n], tc.hex)
			}
			if n > 0 && PutTCPOptions(b[:n-1], &tc.o) != 0 {
				t.Fatal("short buffer not refused")
			}
		})
	}
}

// normalize is what an encode→parse round trip may change: SACK blocks
// that did not fit are dropped, window scale is clamped.
func normalize(o TCPOptions) TCPOptions {
	_, n := tcpOptLayout(&o)
	o.NumSACK = uint8(n)
	for i := n; i < MaxSACKBlocks; i++ {
		o.SACK[i] = SACKBlock{}
	}
	o.WScale = min(o.WScale, MaxWScale)
	if !o.HasWScale {
		o.WScale = 0
	}
	if !o.HasTS {
		o.TSVal, o.TSEcr = 0, 0
	}
	return o
}

func TestTCPOptionsRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	b := make([]byte, 40)
	for range 20000 {
		o := TCPOptions{
			HasWScale:     r.IntN(2) == 0,
			SACKPermitted: r.IntN(2) == 0,
			HasTS:         r.IntN(2) == 0,
			TSVal:         r.Uint32(), TSEcr: r.Uint32(),
			WScale:  uint8(r.IntN(20)),
			NumSACK: uint8(r.IntN(5)),
		}
		if r.IntN(2) == 0 {
			o.MSS = uint16(r.Uint32())
		}
		for i := range o.NumSACK {
			o.SACK[i] = SACKBlock{r.Uint32(), r.Uint32()}
		}
		o = normalize(o)
		n := PutTCPOptions(b, &o)
		var got TCPOptions
		if err := ParseTCPOptions(b[:n], &got); err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		if got != o {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, o)
		}
	}
}
