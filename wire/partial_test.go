package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// Frames Linux 6.18 sent through a veth left at its default offloads (TX
// checksum offload on), captured on the other end with tcpdump -xx: the
// TCP checksum field holds the pseudo-header sum (CHECKSUM_PARTIAL).
// tcpdump reported "cksum 0x8c5b (incorrect -> 0x3d5d)" and
// "cksum 0x403c (incorrect -> 0xe022)": the second value of each is the
// full checksum, an independent oracle for the test below.
const (
	// 198.18.0.2:35110 -> 198.18.0.1:8080, PSH|ACK, TS, "hello, sluice".
	partialV4     = "7ecabe233c716ade5e1589e7080045000041bf4840004006ef46c6120002c612000189261f901d2b5dd33708c4b88018003f8c5b00000101080ab2e98545739b425968656c6c6f2c20736c75696365"
	partialV4Full = 0x3d5d
	// [2001:2::2]:38854 -> [2001:2::1]:8080, PSH|ACK, TS, "hello, sluice".
	partialV6     = "7ecabe233c716ade5e1589e786dd600d2204002d0640200100020000000000000000000000022001000200000000000000000000000197c61f90174e35844e09b7fb80180040403c00000101080a3f7853a54624d38268656c6c6f2c20736c75696365"
	partialV6Full = 0xe022
)

// TestPartialChecksum checks the partial form on frames Linux sent: without
// AcceptPartialChecksum it is its own drop reason; with it the segment
// parses and is marked; a field one off the pseudo-header sum is still a
// bad checksum; the full checksum tcpdump computed parses either way and is
// not marked.
func TestPartialChecksum(t *testing.T) {
	for _, c := range []struct {
		name, frame string
		l4Off       int
		full        uint16
	}{
		{"v4", partialV4, 14 + 20, partialV4Full},
		{"v6", partialV6, 14 + 40, partialV6Full},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := unhex(t, c.frame)
			var f Frame
			if err := ParseFrame(b, &f); err != DropPartialChecksum {
				t.Fatalf("ParseFrame: %v, want %v", err, DropPartialChecksum)
			}
			if err := ParseFrameFlags(b, &f, AcceptPartialChecksum); err != nil {
				t.Fatalf("with AcceptPartialChecksum: %v", err)
			}
			if !f.PartialChecksum || string(f.Payload) != "hello, sluice" || f.DstPort != 8080 {
				t.Fatalf("partial %v payload %q port %d", f.PartialChecksum, f.Payload, f.DstPort)
			}

			ck := b[c.l4Off+16:]
			partial := binary.BigEndian.Uint16(ck)
			binary.BigEndian.PutUint16(ck, partial+1)
			if err := ParseFrameFlags(b, &f, AcceptPartialChecksum); err != DropBadTCPChecksum {
				t.Fatalf("field partial+1: %v, want %v", err, DropBadTCPChecksum)
			}

			binary.BigEndian.PutUint16(ck, c.full)
			for _, fl := range []ParseFlags{0, AcceptPartialChecksum} {
				if err := ParseFrameFlags(b, &f, fl); err != nil || f.PartialChecksum {
					t.Fatalf("full checksum, flags %d: %v, partial %v", fl, err, f.PartialChecksum)
				}
			}
			// A full checksum that is wrong stays wrong with the flag.
			b[len(b)-1] ^= 1
			if err := ParseFrameFlags(b, &f, AcceptPartialChecksum); err != DropBadTCPChecksum {
				t.Fatalf("corrupt text, full checksum: %v, want %v", err, DropBadTCPChecksum)
			}
		})
	}
}

// TestPartialChecksumIsPseudoHeaderSum ties the captured field to
// PseudoHeaderSumAddr, and checks the form for every segment length and
// both families on frames built here: Linux writes
// ~tcp_v4_check(len, saddr, daddr, 0), the folded pseudo-header sum.
func TestPartialChecksumIsPseudoHeaderSum(t *testing.T) {
	for _, frame := range []string{partialV4, partialV6} {
		b := unhex(t, frame)
		var f Frame
		if err := ParseFrameFlags(b, &f, AcceptPartialChecksum); err != nil {
			t.Fatal(err)
		}
		want := PseudoHeaderSumAddr(ProtoTCP, f.Src, f.Dst, uint32(f.L4Len))
		if got := binary.BigEndian.Uint16(b[f.L4Off+16:]); got != want {
			t.Errorf("%v: field %#04x, PseudoHeaderSumAddr %#04x", f.Src, got, want)
		}
	}
	for _, frame := range []string{goldSynV4, goldDataV6VLAN} {
		b := unhex(t, frame)
		var f Frame
		if err := ParseFrame(b, &f); err != nil {
			t.Fatal(err)
		}
		for n := f.L4Len; n >= f.HeaderLen; n-- {
			seg := b[f.L4Off : f.L4Off+n]
			c := append(append([]byte{}, b[:f.L4Off]...), seg...)
			fixIPLength(c, &f, n)
			binary.BigEndian.PutUint16(c[f.L4Off+16:], PseudoHeaderSumAddr(ProtoTCP, f.Src, f.Dst, uint32(n)))
			var g Frame
			if err := ParseFrameFlags(c, &g, AcceptPartialChecksum); err != nil || !g.PartialChecksum {
				t.Fatalf("%v, %d octets: %v, partial %v", f.Src, n, err, g.PartialChecksum)
			}
			if err := ParseFrame(c, &g); err != DropPartialChecksum {
				t.Fatalf("%v, %d octets without the flag: %v", f.Src, n, err)
			}
		}
	}
}

// fixIPLength rewrites the IP length field of c (a copy of f's frame cut to
// n octets of TCP) and, for IPv4, its header checksum.
func fixIPLength(c []byte, f *Frame, n int) {
	ip := c[f.L3Off:]
	if f.IPVersion == 4 {
		binary.BigEndian.PutUint16(ip[2:], uint16(f.L4Off-f.L3Off+n))
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:], ^Checksum(ip[:f.L4Off-f.L3Off], 0))
		return
	}
	binary.BigEndian.PutUint16(ip[4:], uint16(f.L4Off-f.L3Off-IPv6HeaderLen+n))
}

// BenchmarkParsePartialChecksum: a segment in the partial form parsed
// with AcceptPartialChecksum, as a veth loop takes every segment of a
// Linux peer: the captured 13-octet one, and a 1448-octet one built here.
func BenchmarkParsePartialChecksum(b *testing.B) {
	full := dataFrame(b, false, 1448)
	var g Frame
	if err := ParseFrame(full, &g); err != nil {
		b.Fatal(err)
	}
	binary.BigEndian.PutUint16(full[g.L4Off+16:], PseudoHeaderSumAddr(ProtoTCP, g.Src, g.Dst, uint32(g.L4Len)))
	for _, c := range []struct {
		name  string
		frame []byte
	}{{"v4-13", unhex(b, partialV4)}, {"v4-1448", full}} {
		b.Run(c.name, func(b *testing.B) {
			var f Frame
			b.ReportAllocs()
			b.SetBytes(int64(len(c.frame)))
			for b.Loop() {
				if err := ParseFrameFlags(c.frame, &f, AcceptPartialChecksum); err != nil || !f.PartialChecksum {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzPartialChecksum: AcceptPartialChecksum changes nothing but the
// partial form. With the flag a frame parses exactly when it parses
// without it, or was refused as DropPartialChecksum and parses with the
// check skipped (its options may still be bad); a frame that verifies
// is never marked; a marked one holds the folded pseudo-header sum in its
// checksum field and decodes to the same fields as with the check
// skipped. Frames are also fed with that sum written in, so the partial
// path is reached. (A frame that verifies and whose field also holds
// that sum, one in 2^16, is marked: the flag takes the form unsummed.)
func FuzzPartialChecksum(f *testing.F) {
	addGolden(f)
	for _, h := range []string{partialV4, partialV6} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(b []byte) {
			var plain, lax, skip Frame
			errPlain := ParseFrame(b, &plain)
			errLax := ParseFrameFlags(b, &lax, AcceptPartialChecksum)
			switch {
			case errPlain == nil:
				// Marked with the flag only when its field also holds
				// the pseudo-header sum (taken without summing).
				partialForm := binary.BigEndian.Uint16(b[plain.L4Off+16:]) ==
					PseudoHeaderSumAddr(ProtoTCP, plain.Src, plain.Dst, uint32(plain.L4Len))
				if errLax != nil || lax.PartialChecksum != partialForm || plain.PartialChecksum {
					t.Fatalf("verified frame: with the flag %v, marked %v/%v", errLax, lax.PartialChecksum, plain.PartialChecksum)
				}
			case errPlain == DropPartialChecksum:
				// Past the checksum, what follows (options) decides.
				errSkip := ParseFrameFlags(b, &skip, SkipL4Checksum)
				if errLax != errSkip {
					t.Fatalf("partial frame: with the flag %v, with the check skipped %v", errLax, errSkip)
				}
				if errLax != nil {
					return
				}
				pseudo := PseudoHeaderSumAddr(ProtoTCP, lax.Src, lax.Dst, uint32(lax.L4Len))
				if got := binary.BigEndian.Uint16(b[lax.L4Off+16:]); !lax.PartialChecksum || got != pseudo {
					t.Fatalf("marked %v with field %#04x, pseudo-header sum %#04x", lax.PartialChecksum, got, pseudo)
				}
				if !sameSegment(&skip, &lax) {
					t.Fatalf("partial frame decodes differently with the check skipped")
				}
			default:
				if errLax != errPlain {
					t.Fatalf("without the flag %v, with it %v", errPlain, errLax)
				}
			}
		}
		check(b)
		// Write the partial form in, where the frame gets that far.
		var fr Frame
		if ParseFrameFlags(b, &fr, SkipL4Checksum) == nil {
			c := append([]byte(nil), b...)
			binary.BigEndian.PutUint16(c[fr.L4Off+16:], PseudoHeaderSumAddr(ProtoTCP, fr.Src, fr.Dst, uint32(fr.L4Len)))
			check(c)
		}
	})
}

func sameSegment(a, b *Frame) bool {
	return a.Src == b.Src && a.Dst == b.Dst && a.SrcPort == b.SrcPort && a.DstPort == b.DstPort &&
		a.Seq == b.Seq && a.Ack == b.Ack && a.Flags == b.Flags && a.Window == b.Window &&
		a.Options == b.Options && bytes.Equal(a.Payload, b.Payload)
}
