package wire

import (
	"net/netip"
	"testing"
)

func dataSpec(v6 bool) *TCPFrameSpec {
	s := &TCPFrameSpec{
		SrcMAC: MAC{2, 0, 0, 0, 0, 2}, DstMAC: MAC{2, 0, 0, 0, 0, 1},
		Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.18.0.1"),
		SrcPort: 40000, DstPort: 80, Seq: 1, Ack: 2, Flags: TCPFlagACK | TCPFlagPSH, Window: 502,
		Options: TCPOptions{HasTS: true, TSVal: 1, TSEcr: 2},
	}
	if v6 {
		s.Src, s.Dst = netip.MustParseAddr("2001:2::2"), netip.MustParseAddr("2001:2::1")
	}
	return s
}

func dataFrame(tb testing.TB, v6 bool, payload int) []byte {
	buf := make([]byte, 2048)
	n, err := BuildTCP(buf, dataSpec(v6), make([]byte, payload))
	if err != nil {
		tb.Fatal(err)
	}
	return buf[:n]
}

// TestZeroAllocs pins the no-allocation promise for the hot paths,
// including the error paths (a DropReason in an error does not allocate).
func TestZeroAllocs(t *testing.T) {
	good := dataFrame(t, false, 1448)
	good6 := dataFrame(t, true, 1448)
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	buf := make([]byte, 2048)
	payload := make([]byte, 1448)
	spec := dataSpec(false)
	var f Frame
	var o TCPOptions
	opts := good[54:66]
	cases := map[string]func(){
		"ParseFrame v4":  func() { _ = ParseFrame(good, &f) },
		"ParseFrame v6":  func() { _ = ParseFrame(good6, &f) },
		"ParseFrame bad": func() { _ = ParseFrame(bad, &f) },
		"BuildTCP":       func() { _, _ = BuildTCP(buf, spec, payload) },
		"CopyFinishTCP2": func() {
			l, _ := PutTCPHeaders(buf, spec, len(payload))
			CopyFinishTCP2(buf, l, payload[:1001], payload[1001:])
		},
		"Checksum":        func() { _ = Checksum(payload, 0) },
		"ParseTCPOptions": func() { _ = ParseTCPOptions(opts, &o) },
		"PutTCPOptions":   func() { _ = PutTCPOptions(buf, &spec.Options) },
	}
	for name, fn := range cases {
		if a := testing.AllocsPerRun(100, fn); a != 0 {
			t.Errorf("%s: %v allocs/op", name, a)
		}
	}
	if ParseFrame(bad, &f) != DropBadTCPChecksum {
		t.Fatal("bad frame not rejected")
	}
}

func BenchmarkParseFrame(b *testing.B) {
	for _, c := range []struct {
		name    string
		v6      bool
		payload int
	}{{"v4-ack", false, 0}, {"v4-1448", false, 1448}, {"v6-1448", true, 1448}} {
		frame := dataFrame(b, c.v6, c.payload)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			var f Frame
			for b.Loop() {
				if err := ParseFrame(frame, &f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	frame := dataFrame(b, false, 1448)
	b.Run("v4-1448-skipcsum", func(b *testing.B) {
		b.ReportAllocs()
		var f Frame
		for b.Loop() {
			if err := ParseFrameFlags(frame, &f, SkipL4Checksum); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkBuildTCP(b *testing.B) {
	buf := make([]byte, 2048)
	for _, c := range []struct {
		name    string
		v6      bool
		payload int
	}{{"v4-ack", false, 0}, {"v4-1448", false, 1448}, {"v6-1448", true, 1448}} {
		spec := dataSpec(c.v6)
		payload := make([]byte, c.payload)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(spec.HeaderLen() + c.payload))
			for b.Loop() {
				if _, err := BuildTCP(buf, spec, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{20, 64, 1500, 9000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		b.Run(itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				_ = Checksum(data, 0)
			}
		})
	}
}

// BenchmarkCopyChecksum is the copy of a segment's text into its frame
// with its checksum, in one pass (CopyChecksum) and in two (copy, then
// Checksum over the copy, as frames were built before).
func BenchmarkCopyChecksum(b *testing.B) {
	src, dst := make([]byte, 1448), make([]byte, 1448)
	for i := range src {
		src[i] = byte(i * 7)
	}
	b.Run("one-pass", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			_ = CopyChecksum(dst, src, 0)
		}
	})
	// Text in two runs (a segment crossing a send-buffer chunk), the
	// first of odd length: each copied into place and summed
	// (CopyChecksumAt), against the gathering copy it replaces.
	b.Run("two-runs", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			s := CopyChecksum(dst, src[:1001], 0)
			_ = CopyChecksumAt(dst[1001:], src[1001:], s, 1001)
		}
	})
	b.Run("gather-then-one-pass", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(src)))
		tmp := make([]byte, len(src))
		for b.Loop() {
			copy(tmp, src[:1001])
			copy(tmp[1001:], src[1001:])
			_ = CopyChecksum(dst, tmp, 0)
		}
	})
	b.Run("copy-then-sum", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			copy(dst, src)
			_ = Checksum(dst, 0)
		}
	})
}

func BenchmarkTCPOptions(b *testing.B) {
	o := TCPOptions{HasTS: true, TSVal: 1, TSEcr: 2, NumSACK: 3, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}}}
	var enc [40]byte
	n := PutTCPOptions(enc[:], &o)
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		var g TCPOptions
		for b.Loop() {
			if ParseTCPOptions(enc[:n], &g) != nil {
				b.Fatal()
			}
		}
	})
	b.Run("put", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			PutTCPOptions(enc[:], &o)
		}
	})
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}

// BenchmarkPutTCPHeaders writes the headers of an ACK (v4, with
// timestamps) into a buffer that stays in cache ("hot") and into frames
// of a 64 MiB area, larger than the last-level cache, taken in turn
// ("cold"), as a core writes into the UMEM frames of its TX ring.
func BenchmarkPutTCPHeaders(b *testing.B) {
	const frame, area = 2048, 64 << 20
	for _, c := range []struct {
		name string
		v6   bool
		size int
	}{{"v4-hot", false, frame}, {"v4-cold", false, area}, {"v6-cold", true, area}} {
		spec := dataSpec(c.v6)
		buf := make([]byte, c.size)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = 1 // fault the pages in before timing
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			off := 0
			for b.Loop() {
				if _, err := PutTCPHeaders(buf[off:off+frame], spec, 0); err != nil {
					b.Fatal(err)
				}
				if off += frame; off == len(buf) {
					off = 0
				}
			}
		})
	}
}
