package wire

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func addGolden(f *testing.F) {
	for _, h := range []string{goldSynV4, goldDataV6VLAN, goldRstV4Opts, goldFinV6Ext} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
}

// FuzzParseFrame: no panic; on success every reported offset and slice
// lies inside the frame, the payload ends the segment, and rebuilding the
// frame from what was parsed yields a frame that parses to the same
// fields (when the original carried no IP options or extension headers).
func FuzzParseFrame(f *testing.F) {
	addGolden(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr Frame
		err := ParseFrame(b, &fr)
		if err == nil {
			checkFrame(t, b, &fr, true)
		} else if Reason(err) == NumDropReasons || Reason(err) == DropNone {
			t.Fatalf("foreign error %v", err)
		}
		// Random mutations rarely keep checksums valid; to get past them,
		// fix the IPv4 header checksum and skip the TCP one.
		c := append([]byte(nil), b...)
		l3 := 14
		if len(c) >= 18 && c[12] == 0x81 && c[13] == 0 {
			l3 = 18
		}
		if len(c) >= l3+20 && c[l3-2] == 0x08 && c[l3-1] == 0 {
			if hl := int(c[l3]&0xf) * 4; hl >= 20 && len(c) >= l3+hl {
				c[l3+10], c[l3+11] = 0, 0
				ck := refChecksum(c[l3 : l3+hl])
				c[l3+10], c[l3+11] = byte(ck>>8), byte(ck)
			}
		}
		if err := ParseFrameFlags(c, &fr, SkipL4Checksum); err == nil {
			checkFrame(t, c, &fr, false)
		}
	})
}

func checkFrame(t *testing.T, b []byte, fr *Frame, csumOK bool) {
	if fr.L4Off < fr.L3Off || fr.L4Off+fr.L4Len > len(b) || fr.HeaderLen < 20 || fr.HeaderLen > fr.L4Len ||
		len(fr.Payload) != fr.L4Len-fr.HeaderLen {
		t.Fatalf("offsets out of bounds: %+v (len %d)", fr, len(b))
	}
	if len(fr.Payload) > 0 && &fr.Payload[len(fr.Payload)-1] != &b[fr.L4Off+fr.L4Len-1] {
		t.Fatal("payload does not alias the end of the segment")
	}
	if fr.IPVersion != 4 && fr.IPVersion != 6 {
		t.Fatal("IP version")
	}
	if csumOK { // checksum invariant with the independent implementation
		var src, dst []byte
		if fr.IPVersion == 4 {
			s, d := fr.Src.As4(), fr.Dst.As4()
			src, dst = s[:], d[:]
		} else {
			s, d := fr.Src.As16(), fr.Dst.As16()
			src, dst = s[:], d[:]
		}
		if refChecksum(refPseudo(src, dst, fr.L4Len), b[fr.L4Off:fr.L4Off+fr.L4Len]) != 0 {
			t.Fatal("accepted a segment whose reference checksum fails")
		}
	}
	// Rebuild: our encoder writes no IP options, extension headers or
	// unknown TCP options, so compare what the fields mean.
	s := TCPFrameSpec{
		SrcMAC: fr.Eth.Src, DstMAC: fr.Eth.Dst, HasVLAN: fr.Eth.HasVLAN, VLAN: fr.Eth.VLAN,
		Src: fr.Src, Dst: fr.Dst, TTL: fr.TTL, TOS: fr.TOS, FlowLabel: fr.FlowLabel, IPID: fr.IPID,
		AllowFragment: !fr.DontFragment, SrcPort: fr.SrcPort, DstPort: fr.DstPort, Seq: fr.Seq, Ack: fr.Ack,
		Flags: fr.Flags, Window: fr.Window, Urgent: fr.Urgent, Options: fr.Options,
	}
	if s.TTL == 0 {
		return // a spec TTL of 0 means the default
	}
	buf := make([]byte, s.HeaderLen()+len(fr.Payload))
	n, err := BuildTCP(buf, &s, fr.Payload)
	if err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	var g Frame
	if err := ParseFrame(buf[:n], &g); err != nil {
		t.Fatalf("reparse: %v", err)
	}
	if g.Src != fr.Src || g.Dst != fr.Dst || g.SrcPort != fr.SrcPort || g.Seq != fr.Seq || g.Ack != fr.Ack ||
		g.Flags != fr.Flags || g.Window != fr.Window || g.Eth != fr.Eth || g.TTL != fr.TTL ||
		g.Options != normalize(fr.Options) || !bytes.Equal(g.Payload, fr.Payload) {
		t.Fatalf("rebuild differs:\n got %+v\nwant %+v", g, fr)
	}
}

// FuzzTCPOptions: no panic; a parsed list re-encodes (Linux layout) and
// re-parses to the same options, modulo SACK blocks that do not fit.
func FuzzTCPOptions(f *testing.F) {
	for _, h := range []string{"020405b40402080a000000010000000201030307", "0101080aaabbccdd11223344", "0101050a0000000100000002", "1e0401020000"} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var o TCPOptions
		if err := ParseTCPOptions(b, &o); err != nil {
			if err != DropBadOptions {
				t.Fatalf("error %v", err)
			}
			return
		}
		if o.NumSACK > MaxSACKBlocks || o.WScale > MaxWScale || (!o.HasWScale && o.WScale != 0) {
			t.Fatalf("invariant: %+v", o)
		}
		var enc [TCPMaxOptionsLen]byte
		n := PutTCPOptions(enc[:], &o)
		if n != TCPOptionsLen(&o) || n%4 != 0 {
			t.Fatalf("encoded %d, size %d", n, TCPOptionsLen(&o))
		}
		var g TCPOptions
		if err := ParseTCPOptions(enc[:n], &g); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if g != normalize(o) {
			t.Fatalf("round trip\n got %+v\nwant %+v", g, normalize(o))
		}
	})
}

// FuzzIPv6Ext: no panic; the reported upper-layer offset lies in the
// packet and past the fixed header; the walk is bounded.
func FuzzIPv6Ext(f *testing.F) {
	b, _ := hex.DecodeString(goldFinV6Ext)
	f.Add(b[14:])
	b, _ = hex.DecodeString(goldDataV6VLAN)
	f.Add(b[18:])
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseIPv6(b)
		if err != nil {
			return
		}
		var x IPv6Ext
		if err := WalkIPv6Ext(p, &x); err != nil {
			switch err {
			case DropTruncated, DropBadIPHeader, DropTooManyExtHeaders:
				return
			}
			t.Fatalf("error %v", err)
		}
		if x.Offset < IPv6HeaderLen || x.Offset > len(p) || x.NumExt > MaxIPv6ExtHeaders {
			t.Fatalf("walk result out of bounds: %+v len %d", x, len(p))
		}
		if x.NumExt == 0 && (x.Offset != IPv6HeaderLen || x.Proto != p.NextHeader()) {
			t.Fatalf("no ext: %+v", x)
		}
	})
}

// FuzzIPv4: ParseIPv4 never panics and its view stays inside b.
func FuzzIPv4(f *testing.F) {
	b, _ := hex.DecodeString(goldRstV4Opts)
	f.Add(b[14:])
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseIPv4(b)
		if err != nil {
			return
		}
		if p.HeaderLen() < 20 || p.HeaderLen() > len(p) || len(p) > len(b) || int(p.TotalLength()) != len(p) {
			t.Fatal("view out of bounds")
		}
		_ = p.Options()
		_ = p.Payload()
		_ = p.ChecksumValid()
	})
}

// FuzzICMPQuoted: ParseQuotedTCP never panics on any quote.
func FuzzICMPQuoted(f *testing.F) {
	b, _ := hex.DecodeString(goldSynV4)
	f.Add(b[14:], false)
	b, _ = hex.DecodeString(goldFinV6Ext)
	f.Add(b[14:], true)
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		var q QuotedTCP
		if err := ParseQuotedTCP(b, v6, &q); err == nil && !q.Src.IsValid() {
			t.Fatal("success without addresses")
		}
	})
}

// FuzzARP: ParseARP never panics.
func FuzzARP(f *testing.F) {
	f.Add(make([]byte, 28))
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := ParseARP(b); err == nil {
			_, _, _ = a.Op(), a.SenderIP(), a.TargetMAC()
		}
	})
}

// FuzzChecksum: the fast checksum equals the textbook one for any input
// and any initial value.
func FuzzChecksum(f *testing.F) {
	f.Add(bytes.Repeat([]byte{0xff}, 300), uint16(0xffff))
	f.Add([]byte{1}, uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, init uint16) {
		want := refChecksum([]byte{byte(init >> 8), byte(init)}, b)
		if got := ^Checksum(b, init); got != want {
			t.Fatalf("len %d init %#x: %#04x, want %#04x", len(b), init, got, want)
		}
	})
}

// FuzzCopyChecksumAt: text copied and summed in two parts, split
// anywhere, sums as the textbook checksum of the whole.
func FuzzCopyChecksumAt(f *testing.F) {
	f.Add(bytes.Repeat([]byte{0xff}, 301), uint16(0xffff), uint16(151))
	f.Add([]byte{1, 2, 3}, uint16(0), uint16(1))
	f.Fuzz(func(t *testing.T, b []byte, init, split uint16) {
		k := int(split) % (len(b) + 1)
		dst := make([]byte, len(b)+1)
		sum := CopyChecksumAt(dst[k:], b[k:], CopyChecksum(dst, b[:k], init), k)
		if want := refChecksum([]byte{byte(init >> 8), byte(init)}, b); ^sum != want {
			t.Fatalf("len %d split %d init %#x: %#04x, want %#04x", len(b), k, init, ^sum, want)
		}
		if !bytes.Equal(dst[:len(b)], b) {
			t.Fatalf("len %d split %d: copy differs", len(b), k)
		}
	})
}
