package wire

import (
	"encoding/binary"
	"errors"
	"testing"
)

// TestParseFrameDrops mutates golden frames into each kind of bad frame
// and checks the reason ParseFrame reports.
func TestParseFrameDrops(t *testing.T) {
	type mut func(b []byte) []byte
	v4 := func(m mut, fix bool) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			b := m(unhex(t, goldSynV4))
			if fix {
				fixChecksums(b, 14, 14+int(b[14]&0xf)*4, true)
			}
			return b
		}
	}
	v6 := func(m mut, fix bool) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			b := m(unhex(t, goldFinV6Ext))
			if fix {
				fixChecksums(b, 14, 78, false)
			}
			return b
		}
	}
	tests := []struct {
		name  string
		frame func(t *testing.T) []byte
		want  DropReason
	}{
		{"short ethernet", v4(func(b []byte) []byte { return b[:13] }, false), DropTruncated},
		{"arp", v4(func(b []byte) []byte { b[12], b[13] = 0x08, 0x06; return b }, false), DropNotIP},
		{"qinq", v4(func(b []byte) []byte { b[12], b[13] = 0x88, 0xa8; return b }, false), DropNotIP},
		{"vlan truncated", v4(func(b []byte) []byte { b[12], b[13] = 0x81, 0x00; return b[:16] }, false), DropTruncated},
		{"v6 in v4 ethertype", v4(func(b []byte) []byte { b[14] = 0x65; return b }, false), DropBadIPVersion},
		{"ihl 4", v4(func(b []byte) []byte { b[14] = 0x44; return b }, false), DropBadIPHeader},
		{"ihl beyond frame", v4(func(b []byte) []byte { b[14] = 0x4f; return b[:40] }, false), DropTruncated},
		{"total < ihl", v4(func(b []byte) []byte { binary.BigEndian.PutUint16(b[16:], 19); return b }, false), DropBadLength},
		{"total > frame", v4(func(b []byte) []byte { binary.BigEndian.PutUint16(b[16:], 61); return b }, false), DropTruncated},
		{"ip checksum", v4(func(b []byte) []byte { b[24] ^= 1; return b }, false), DropBadIPChecksum},
		{"more fragments", v4(func(b []byte) []byte { b[20] |= 0x20; return b }, true), DropFragment},
		{"frag offset", v4(func(b []byte) []byte { b[21] = 1; return b }, true), DropFragment},
		{"udp", v4(func(b []byte) []byte { b[23] = ProtoUDP; return b }, true), DropNotTCP},
		{"multicast dst", v4(func(b []byte) []byte { b[30] = 224; return b }, true), DropBadAddress},
		{"broadcast src", v4(func(b []byte) []byte { copy(b[26:30], []byte{255, 255, 255, 255}); return b }, true), DropBadAddress},
		{"loopback src", v4(func(b []byte) []byte { copy(b[26:30], []byte{127, 0, 0, 1}); return b }, true), DropBadAddress},
		{"v6 mapped src", v6(func(b []byte) []byte { clear(b[22:38]); b[32], b[33] = 0xff, 0xff; return b }, true), DropBadAddress},
		{"zero src", v4(func(b []byte) []byte { copy(b[26:30], []byte{0, 0, 0, 0}); return b }, true), DropBadAddress},
		{"tcp doff 4", v4(func(b []byte) []byte { b[46] = 0x40; return b }, true), DropBadTCPHeader},
		{"tcp doff beyond", v4(func(b []byte) []byte { b[46] = 0xf0; return b }, true), DropBadTCPHeader},
		{"tcp checksum", v4(func(b []byte) []byte { b[40] ^= 0x80; return b }, false), DropBadTCPChecksum},
		{"tcp truncated", v4(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[16:], 20+19)
			return b[:14+39]
		}, true), DropTruncated},
		{"bad option len", v4(func(b []byte) []byte { b[55] = 5; return b }, true), DropBadOptions},
		{"option len 1", v4(func(b []byte) []byte { b[55] = 1; return b }, true), DropBadOptions},
		{"option overruns", v4(func(b []byte) []byte { b[71] = 3; b[72] = 9; return b }, true), DropBadOptions},
		{"bad ip option", v4(func(b []byte) []byte {
			// Grow IHL to 6 with a truncated option (length 9 in a 4-octet area).
			nb := append(append(append([]byte{}, b[:34]...), 0x83, 9, 0, 0), b[34:]...)
			nb[14] = 0x46
			binary.BigEndian.PutUint16(nb[16:], uint16(len(nb)-14))
			return nb
		}, true), DropBadIPHeader},
		{"v6 truncated payload", v6(func(b []byte) []byte { return b[:len(b)-1] }, false), DropTruncated},
		{"v6 jumbo", v6(func(b []byte) []byte { b[18], b[19] = 0, 0; return b }, false), DropBadLength},
		{"v6 tcp checksum", v6(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, false), DropBadTCPChecksum},
		{"v6 multicast dst", v6(func(b []byte) []byte { b[38] = 0xff; return b }, true), DropBadAddress},
		{"v6 unspecified src", v6(func(b []byte) []byte { clear(b[22:38]); return b }, true), DropBadAddress},
		{"v6 ext overruns", v6(func(b []byte) []byte { b[63] = 200; return b }, false), DropTruncated},
		{"v6 hbh not first", v6(func(b []byte) []byte { b[54] = ProtoHopByHop; return b }, false), DropBadIPHeader},
		{"v6 udp", v6(func(b []byte) []byte { b[62] = ProtoUDP; return b }, false), DropNotTCP},
		{"v6 no next header", v6(func(b []byte) []byte { b[62] = ProtoNoNext; return b }, false), DropNotTCP},
		{"v6 fragment", v6(func(b []byte) []byte {
			// Turn the destination options header into a Fragment header
			// (offset 8, M=1) followed by 8 octets of padding.
			b[54] = ProtoFragment
			copy(b[62:70], []byte{ProtoTCP, 0, 0, 8 | 1, 0, 0, 0, 42})
			return b
		}, false), DropFragment},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f Frame
			err := ParseFrame(tc.frame(t), &f)
			if !errors.Is(err, tc.want) || Reason(err) != tc.want {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

// TestParseFrameTruncations: every prefix of every golden frame is either
// rejected or (for the padded frame) parsed identically; never a panic.
func TestParseFrameTruncations(t *testing.T) {
	for _, h := range []string{goldSynV4, goldDataV6VLAN, goldRstV4Opts, goldFinV6Ext} {
		b := unhex(t, h)
		var full Frame
		if err := ParseFrame(b, &full); err != nil {
			t.Fatal(err)
		}
		for n := range len(b) {
			var f Frame
			err := ParseFrame(b[:n], &f)
			if err == nil && (n < full.L4Off+full.L4Len || f.L4Len != full.L4Len) {
				t.Fatalf("prefix %d of %d accepted", n, len(b))
			}
		}
	}
}

func TestV6AtomicFragmentAccepted(t *testing.T) {
	b := unhex(t, goldFinV6Ext)
	b[54] = ProtoFragment
	copy(b[62:70], []byte{ProtoTCP, 0, 0, 0, 0, 0, 0, 42}) // offset 0, M=0 (RFC 6946)
	// 16-octet dstopts became 8-octet fragment + 8 unparsed octets: shrink.
	b = append(b[:70], b[78:]...)
	binary.BigEndian.PutUint16(b[18:], uint16(len(b)-54))
	fixChecksums(b, 14, 70, false)
	var f Frame
	if err := ParseFrame(b, &f); err != nil {
		t.Fatal(err)
	}
	if f.L4Off != 70 || string(f.Payload) != "x" {
		t.Fatalf("L4Off %d payload %q", f.L4Off, f.Payload)
	}
}

func TestSkipL4Checksum(t *testing.T) {
	b := unhex(t, goldSynV4)
	b[50] ^= 0xff // checksum field
	var f Frame
	if err := ParseFrame(b, &f); err != DropBadTCPChecksum {
		t.Fatalf("err %v", err)
	}
	if err := ParseFrameFlags(b, &f, SkipL4Checksum); err != nil {
		t.Fatalf("err %v", err)
	}
}

func TestDropReasonNames(t *testing.T) {
	for r := DropNone; r < NumDropReasons; r++ {
		if r.String() == "" || r.String() == "unknown" {
			t.Errorf("reason %d has no name", r)
		}
	}
	if Reason(errors.New("x")) != NumDropReasons || Reason(nil) != DropNone {
		t.Error("Reason of foreign/nil error")
	}
}

func TestLenientTCPOptions(t *testing.T) {
	b := unhex(t, goldSynV4)
	b[71], b[72] = 3, 9 // WS option with length 9: overruns the list
	fixChecksums(b, 14, 34, true)
	var f Frame
	if err := ParseFrame(b, &f); err != DropBadOptions {
		t.Fatalf("strict: %v", err)
	}
	if err := ParseFrameFlags(b, &f, LenientTCPOptions); err != nil {
		t.Fatalf("lenient: %v", err)
	}
	// Options before the bad one survive, the bad one does not.
	if f.Options.MSS != 1460 || !f.Options.HasTS || f.Options.HasWScale {
		t.Fatalf("options %+v", f.Options)
	}
}
