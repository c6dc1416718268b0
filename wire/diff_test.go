package wire

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Differential tests against gopacket (test-only dependency): frames it
// serializes (with its own checksum code) must parse here to the same
// fields, and frames BuildTCP writes must decode there to the spec and
// re-serialize, checksums recomputed by gopacket, to identical bytes.

func randAddrs(r *rand.Rand, v6 bool) (netip.Addr, netip.Addr) {
	if v6 {
		var s, d [16]byte
		s[0], s[1], s[2], s[3] = 0x20, 0x01, 0, 2 // 2001:2::/48
		d = s
		for i := 6; i < 16; i++ {
			s[i], d[i] = byte(r.Uint32()), byte(r.Uint32())
		}
		return netip.AddrFrom16(s), netip.AddrFrom16(d)
	}
	s := [4]byte{198, 18 + byte(r.IntN(2)), byte(r.Uint32()), byte(r.Uint32())}
	d := [4]byte{198, 18 + byte(r.IntN(2)), byte(r.Uint32()), byte(r.Uint32())}
	return netip.AddrFrom4(s), netip.AddrFrom4(d)
}

// randTCPOptions returns a random valid option list for gopacket (in a
// random order, with NOPs and an unknown kind) and what it means.
func randTCPOptions(r *rand.Rand) ([]layers.TCPOption, TCPOptions) {
	var opts []layers.TCPOption
	var want TCPOptions
	room := TCPMaxOptionsLen
	add := func(o layers.TCPOption) bool {
		n := 2 + len(o.OptionData)
		if o.OptionType <= 1 {
			n = 1
		}
		if n > room {
			return false
		}
		room -= n
		opts = append(opts, o)
		return true
	}
	for _, k := range r.Perm(7) {
		if r.IntN(2) == 0 {
			continue
		}
		switch k {
		case 0:
			v := uint16(1 + r.IntN(65535))
			if add(layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionData: binary.BigEndian.AppendUint16(nil, v)}) {
				want.MSS = v
			}
		case 1:
			v := uint8(r.IntN(16))
			if add(layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionData: []byte{v}}) {
				want.HasWScale, want.WScale = true, min(v, 14)
			}
		case 2:
			if add(layers.TCPOption{OptionType: layers.TCPOptionKindSACKPermitted}) {
				want.SACKPermitted = true
			}
		case 3:
			a, b := r.Uint32(), r.Uint32()
			d := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, a), b)
			if add(layers.TCPOption{OptionType: layers.TCPOptionKindTimestamps, OptionData: d}) {
				want.HasTS, want.TSVal, want.TSEcr = true, a, b
			}
		case 4:
			n := 1 + r.IntN(4)
			var d []byte
			var blocks [MaxSACKBlocks]SACKBlock
			for i := range n {
				blocks[i] = SACKBlock{r.Uint32(), r.Uint32()}
				d = binary.BigEndian.AppendUint32(d, blocks[i].Left)
				d = binary.BigEndian.AppendUint32(d, blocks[i].Right)
			}
			if add(layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionData: d}) {
				want.NumSACK, want.SACK = uint8(n), blocks
			}
		case 5:
			for range r.IntN(3) {
				add(layers.TCPOption{OptionType: layers.TCPOptionKindNop})
			}
		case 6: // unknown kind, skipped by length
			add(layers.TCPOption{OptionType: 30, OptionData: make([]byte, r.IntN(6))})
		}
	}
	return opts, want
}

func tcpFlags(t *layers.TCP) uint8 {
	var f uint8
	for i, b := range []bool{t.FIN, t.SYN, t.RST, t.PSH, t.ACK, t.URG, t.ECE, t.CWR} {
		if b {
			f |= 1 << i
		}
	}
	return f
}

func setTCPFlags(t *layers.TCP, f uint8) {
	t.FIN, t.SYN, t.RST, t.PSH = f&1 != 0, f&2 != 0, f&4 != 0, f&8 != 0
	t.ACK, t.URG, t.ECE, t.CWR = f&16 != 0, f&32 != 0, f&64 != 0, f&128 != 0
}

func TestDifferentialGopacketToWire(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	n := 3000
	if testing.Short() {
		n = 300
	}
	var nExt, nOpts4, nPad int
	defer func() {
		t.Logf("%d frames: %d with IPv6 dest options, %d with IPv4 options, %d padded", n, nExt, nOpts4, nPad)
	}()
	for i := range n {
		v6 := r.IntN(2) == 0
		src, dst := randAddrs(r, v6)
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(i)}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 1, byte(i >> 8)}}
		var ls []gopacket.SerializableLayer
		ls = append(ls, eth)
		vlan := r.IntN(3) == 0
		var tci uint16
		netType := layers.EthernetTypeIPv4
		if v6 {
			netType = layers.EthernetTypeIPv6
		}
		if vlan {
			tci = uint16(r.Uint32())
			eth.EthernetType = layers.EthernetTypeDot1Q
			ls = append(ls, &layers.Dot1Q{Priority: uint8(tci >> 13), DropEligible: tci&0x1000 != 0, VLANIdentifier: tci & 0xfff, Type: netType})
		} else {
			eth.EthernetType = netType
		}
		ttl, tos := uint8(1+r.IntN(255)), uint8(r.Uint32())
		var netLayer gopacket.NetworkLayer
		extLen := 0
		if v6 {
			ip := &layers.IPv6{Version: 6, TrafficClass: tos, FlowLabel: r.Uint32() & 0xfffff, HopLimit: ttl,
				NextHeader: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
			ls = append(ls, ip)
			netLayer = ip
			if r.IntN(3) == 0 {
				ip.NextHeader = layers.IPProtocolIPv6Destination
				do := &layers.IPv6Destination{}
				do.NextHeader = layers.IPProtocolTCP
				do.Options = []*layers.IPv6DestinationOption{{OptionType: 0x1e, OptionData: make([]byte, 4+8*r.IntN(3))}}
				ls = append(ls, do)
				extLen = -1 // computed from the decode
				nExt++
			}
		} else {
			ip := &layers.IPv4{Version: 4, TOS: tos, TTL: ttl, Id: uint16(r.Uint32()), Flags: layers.IPv4DontFragment,
				Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
			if r.IntN(4) == 0 {
				ip.Flags = 0
			}
			if r.IntN(4) == 0 {
				ip.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}
				nOpts4++
			}
			ls = append(ls, ip)
			netLayer = ip
		}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(r.Uint32()), DstPort: layers.TCPPort(r.Uint32()),
			Seq: r.Uint32(), Ack: r.Uint32(), Window: uint16(r.Uint32()), Urgent: uint16(r.Uint32())}
		flags := uint8(r.Uint32())
		setTCPFlags(tcp, flags)
		var wantOpts TCPOptions
		tcp.Options, wantOpts = randTCPOptions(r)
		tcp.SetNetworkLayerForChecksum(netLayer)
		payload := make([]byte, r.IntN(300))
		if r.IntN(3) == 0 { // small frames, to exercise Ethernet padding
			payload, tcp.Options, wantOpts = make([]byte, r.IntN(6)), nil, TCPOptions{}
		}
		for j := range payload {
			payload[j] = byte(r.Uint32())
		}
		ls = append(ls, tcp, gopacket.Payload(payload))
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatalf("frame %d: serialize: %v", i, err)
		}
		frame := buf.Bytes()
		// Ethernet minimum-size padding must not leak into the payload.
		if len(frame) < 60 && r.IntN(2) == 0 {
			frame = append(frame, make([]byte, 60-len(frame))...)
		}

		var f Frame
		if err := ParseFrame(frame, &f); err != nil {
			t.Fatalf("frame %d (%x): %v", i, frame, err)
		}
		if len(frame) > f.L4Off+f.L4Len {
			nPad++ // gopacket pads to the 60-octet minimum itself
		}
		pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		gt := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if extLen == -1 {
			extLen = len(pkt.Layer(layers.LayerTypeIPv6Destination).LayerContents())
		}
		l3 := 14
		if vlan {
			l3 = 18
		}
		ipHL := 40 + extLen
		if !v6 {
			ipHL = int(pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4).IHL) * 4
		}
		want := Frame{
			Eth:       EthernetHeader{Dst: MAC(eth.DstMAC), Src: MAC(eth.SrcMAC), HasVLAN: vlan, VLAN: tci, EtherType: uint16(netType)},
			IPVersion: 4, Src: src, Dst: dst, TTL: ttl, TOS: tos,
			L3Off: l3, L4Off: l3 + ipHL, L4Len: len(gt.Contents) + len(gt.Payload), Proto: ProtoTCP,
			SrcPort: uint16(gt.SrcPort), DstPort: uint16(gt.DstPort), Seq: gt.Seq, Ack: gt.Ack,
			Flags: tcpFlags(gt), Window: gt.Window, Urgent: gt.Urgent, HeaderLen: int(gt.DataOffset) * 4,
			Options: wantOpts,
		}
		if v6 {
			g := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			want.IPVersion, want.FlowLabel = 6, g.FlowLabel
		} else {
			g := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			want.IPID, want.DontFragment = g.Id, g.Flags&layers.IPv4DontFragment != 0
		}
		if !bytes.Equal(f.Payload, payload) || !bytes.Equal(gt.Payload, payload) {
			t.Fatalf("frame %d: payload differs", i)
		}
		f.Payload = nil
		if !reflect.DeepEqual(f, want) {
			t.Fatalf("frame %d (%x):\n got %+v\nwant %+v", i, frame, f, want)
		}

		// Any single-bit flip in checksummed octets must be rejected.
		lo := l3
		if v6 {
			lo = l3 + 40 + extLen
		}
		bit := lo*8 + r.IntN((len(frame)-lo)*8)
		if bit/8 < f.L4Off+f.L4Len { // not in Ethernet padding
			frame[bit/8] ^= 1 << (bit % 8)
			if err := ParseFrame(frame, &f); err == nil {
				t.Fatalf("frame %d: flipped bit %d accepted", i, bit)
			}
		}
	}
}

func TestDifferentialWireToGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	n := 3000
	if testing.Short() {
		n = 300
	}
	buf := make([]byte, 2048)
	for i := range n {
		src, dst := randAddrs(r, r.IntN(2) == 0)
		s := TCPFrameSpec{
			SrcMAC: MAC{2, 0, 0, 0, 0, byte(i)}, DstMAC: MAC{2, 0, 0, 0, 1, byte(i >> 8)},
			HasVLAN: r.IntN(3) == 0, VLAN: uint16(r.Uint32()),
			Src: src, Dst: dst, TTL: uint8(r.Uint32()), TOS: uint8(r.Uint32()), FlowLabel: r.Uint32() & 0xfffff,
			IPID: uint16(r.Uint32()), AllowFragment: r.IntN(2) == 0,
			SrcPort: uint16(r.Uint32()), DstPort: uint16(r.Uint32()), Seq: r.Uint32(), Ack: r.Uint32(),
			Flags: uint8(r.Uint32()), Window: uint16(r.Uint32()), Urgent: uint16(r.Uint32()),
		}
		if !s.HasVLAN {
			s.VLAN = 0
		}
		_, s.Options = randTCPOptions(r)
		s.Options = normalize(s.Options)
		payload := make([]byte, r.IntN(1400))
		for j := range payload {
			payload[j] = byte(r.Uint32())
		}
		nb, err := BuildTCP(buf, &s, payload)
		if err != nil {
			t.Fatal(err)
		}
		frame := buf[:nb]
		pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("frame %d: gopacket: %v", i, el.Error())
		}
		gt, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok {
			t.Fatalf("frame %d: no TCP layer", i)
		}
		if uint16(gt.SrcPort) != s.SrcPort || uint16(gt.DstPort) != s.DstPort || gt.Seq != s.Seq || gt.Ack != s.Ack ||
			tcpFlags(gt) != s.Flags || gt.Window != s.Window || gt.Urgent != s.Urgent || !bytes.Equal(gt.Payload, payload) {
			t.Fatalf("frame %d: TCP fields differ: %+v", i, gt)
		}
		ttl := s.TTL
		if ttl == 0 {
			ttl = DefaultTTL
		}
		var netLayer gopacket.NetworkLayer
		if src.Is4() {
			g := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if netip.AddrFrom4([4]byte(g.SrcIP)) != src || netip.AddrFrom4([4]byte(g.DstIP)) != dst || g.TTL != ttl ||
				g.TOS != s.TOS || g.Id != s.IPID || (g.Flags&layers.IPv4DontFragment != 0) == s.AllowFragment {
				t.Fatalf("frame %d: IPv4 fields differ: %+v", i, g)
			}
			netLayer = g
		} else {
			g := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			if netip.AddrFrom16([16]byte(g.SrcIP)) != src || netip.AddrFrom16([16]byte(g.DstIP)) != dst || g.HopLimit != ttl ||
				g.TrafficClass != s.TOS || g.FlowLabel != s.FlowLabel {
				t.Fatalf("frame %d: IPv6 fields differ: %+v", i, g)
			}
			netLayer = g
		}
		if s.HasVLAN {
			q := pkt.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
			if uint16(q.Priority)<<13|q.VLANIdentifier != s.VLAN&^0x1000 || q.DropEligible != (s.VLAN&0x1000 != 0) {
				t.Fatalf("frame %d: VLAN %+v", i, q)
			}
		}
		// Re-serialize what gopacket decoded, checksums computed by
		// gopacket: the bytes must be ours exactly.
		gt.SetNetworkLayerForChecksum(netLayer)
		var ls []gopacket.SerializableLayer
		for _, l := range pkt.Layers() {
			ls = append(ls, l.(gopacket.SerializableLayer))
		}
		out := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(out, gopacket.SerializeOptions{ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), frame) {
			t.Fatalf("frame %d: gopacket re-serialization differs\n ours %x\n gpkt %x", i, frame, out.Bytes())
		}
	}
}
