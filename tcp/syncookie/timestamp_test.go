package syncookie

import "testing"

// Linux cookie_init_timestamp / cookie_decode_options: every combination of
// window scale (0..14 or none) and SACK-permitted survives the round trip
// through the low TSval bits, and the TSval never moves forward of the
// clock it was cut from (RFC 7323 §5.4: TSvals must not go backwards later).
func TestTSRoundTrip(t *testing.T) {
	for _, clock := range []uint32{0, 1, 63, 64, 1000, 0x7fffffff, 0xffffffc0, 0xffffffff} {
		for ws := uint8(0); ws <= 15; ws++ {
			for _, hasWS := range []bool{false, true} {
				for _, sack := range []bool{false, true} {
					ts := EncodeTS(clock, ws, hasWS, sack)
					if d := clock - ts; d >= 1<<TSBits {
						t.Fatalf("clock %#x: encoded TSval %#x is %d ahead/behind", clock, ts, int32(d))
					}
					if ts&TSECN != 0 {
						t.Fatalf("ECN bit set")
					}
					gws, ghas, gsack := DecodeTS(ts)
					wantWS := min(ws, 14)
					if !hasWS {
						wantWS = 0
					}
					if ghas != hasWS || gsack != sack || gws != wantWS {
						t.Fatalf("clock %#x ws %d has %v sack %v: decoded ws %d has %v sack %v",
							clock, ws, hasWS, sack, gws, ghas, gsack)
					}
				}
			}
		}
	}
}

func BenchmarkEncodeDecodeTS(b *testing.B) {
	b.ReportAllocs()
	var s uint32
	for i := uint32(0); b.Loop(); i++ {
		ts := EncodeTS(i, 7, true, true)
		ws, _, _ := DecodeTS(ts)
		s += uint32(ws)
	}
	_ = s
}
