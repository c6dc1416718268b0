package afxdp

import (
	"encoding/binary"
	"fmt"
	"net"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/sluicenet/sluice/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// udpRedirect loads a minimal XDP program: IPv4 (no options) UDP to dport
// goes to xsks[ctx->rx_queue_index] (XDP_PASS if no socket is there),
// everything else passes. It is attached in driver mode on the server's
// veth and removed in t.Cleanup. The real steering program is in bpf/;
// this one keeps afxdp's tests independent of it.
func udpRedirect(t *testing.T, h *testbed.Host, dport uint16, queues int) *ebpf.Map {
	return udpRedirectTB(t, h, dport, queues)
}

func udpRedirectTB(t testing.TB, h *testbed.Host, dport uint16, queues int) *ebpf.Map {
	t.Helper()
	xsks, err := ebpf.NewMap(&ebpf.MapSpec{Name: "xsks", Type: ebpf.XSKMap, KeySize: 4, ValueSize: 4, MaxEntries: uint32(queues)})
	if err != nil {
		t.Fatalf("XSKMAP: %v", err)
	}
	t.Cleanup(func() { xsks.Close() })
	var be [2]byte
	binary.BigEndian.PutUint16(be[:], dport)
	portLE := int32(binary.LittleEndian.Uint16(be[:])) // a LE load of the BE port
	const (
		ethIPv4LE = 0x0008 // htons(ETH_P_IP) read little-endian
		xdpPass   = 2
	)
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // ctx->data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // ctx->data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14+20+8),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),
		asm.JNE.Imm(asm.R5, ethIPv4LE, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 14, asm.Byte),
		asm.JNE.Imm(asm.R5, 0x45, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 14+9, asm.Byte),
		asm.JNE.Imm(asm.R5, 17, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 14+20+2, asm.Half),
		asm.JNE.Imm(asm.R5, portLE, "pass"),
		asm.LoadMem(asm.R2, asm.R6, 16, asm.Word), // ctx->rx_queue_index
		asm.LoadMapPtr(asm.R1, xsks.FD()),
		asm.Mov.Imm(asm.R3, xdpPass),
		asm.FnRedirectMap.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "afxdp_test", Type: ebpf.XDP, Instructions: insns, License: "GPL"})
	if err != nil {
		t.Fatalf("load XDP program: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	var l link.Link
	if err := h.Do(func() (err error) {
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: h.Ifindex, Flags: link.XDPDriverMode})
		return err
	}); err != nil {
		t.Fatalf("attach XDP (driver mode) to %s: %v", h.Link, err)
	}
	t.Cleanup(func() { l.Close() })
	return xsks
}

// newUmemSocket makes a UMEM and binds a socket to (server veth, queue)
// inside the server namespace; both are closed in t.Cleanup.
func newUmemSocket(t *testing.T, h *testbed.Host, queue int, ucfg UmemConfig) (*Umem, *Socket) {
	t.Helper()
	u, err := NewUmem(ucfg)
	if err != nil {
		t.Fatalf("NewUmem: %v", err)
	}
	t.Cleanup(func() { u.Close() })
	s := bindIn(t, h, u, queue)
	return u, s
}

func bindIn(t *testing.T, h *testbed.Host, u *Umem, queue int) *Socket {
	return bindInCfg(t, h, u, queue, SocketConfig{})
}

func newUmemSocketB(t testing.TB, h *testbed.Host, ucfg UmemConfig, scfg SocketConfig) (*Umem, *Socket) {
	t.Helper()
	u, err := NewUmem(ucfg)
	if err != nil {
		t.Fatalf("NewUmem: %v", err)
	}
	t.Cleanup(func() { u.Close() })
	return u, bindInCfg(t, h, u, 0, scfg)
}

func bindInCfg(t testing.TB, h *testbed.Host, u *Umem, queue int, cfg SocketConfig) *Socket {
	t.Helper()
	var s *Socket
	if err := h.Do(func() (err error) {
		s, err = NewSocket(u, h.Ifindex, queue, cfg)
		return err
	}); err != nil {
		t.Fatalf("NewSocket queue %d: %v", queue, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fillFrom gives every frame of p to the socket's fill ring.
func fillFrom(t *testing.T, s *Socket, p *FramePool) {
	t.Helper()
	f := s.Fill()
	idx, got := f.Reserve(uint32(p.Len()))
	for i := range got {
		a, _ := p.Get()
		f.Set(idx+i, a)
	}
	f.Submit(got)
	if got == 0 {
		t.Fatal("fill ring took no frames")
	}
}

// received is one frame read off an RX ring, copied out.
type received struct {
	queue int
	data  []byte
}

// drain reads everything on s's RX ring, recycling the frames to its
// fill ring. It returns the frames it read.
func drain(s *Socket, out []received) []received {
	rx, f, u := s.Rx(), s.Fill(), s.Umem()
	idx, got := rx.Peek(64)
	if got == 0 {
		return out
	}
	fidx, fgot := f.Reserve(got)
	for i := range got {
		d := rx.Desc(idx + i)
		out = append(out, received{queue: s.Queue(), data: append([]byte(nil), u.Frame(d.Addr, d.Len)...)})
		if i < fgot {
			f.Set(fidx+i, u.FrameBase(d.Addr))
		}
	}
	f.Submit(fgot)
	rx.Release(got)
	s.WakeupFill()
	return out
}

// sendUDP sends payloads from the peer namespace to the server over a
// kernel UDP socket bound to sport.
func sendUDP(b *testbed.Bed, sport, dport int, payloads ...[]byte) error {
	return b.Peer.Do(func() error {
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: b.Peer.IPv4.AsSlice(), Port: sport},
			&net.UDPAddr{IP: b.Server.IPv4.AsSlice(), Port: dport})
		if err != nil {
			return err
		}
		defer c.Close()
		for _, p := range payloads {
			if _, err := c.Write(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// decodeUDP parses an Ethernet/IPv4/UDP frame, checking the checksums
// the way the receiving stack would.
func decodeUDP(frame []byte) (*layers.IPv4, *layers.UDP, error) {
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
	if ip == nil || udp == nil {
		return nil, nil, fmt.Errorf("not IPv4/UDP: %v", pkt)
	}
	return ip, udp, nil
}

// buildUDP serializes Ethernet/IPv4/UDP with computed lengths and checksums.
func buildUDP(t testing.TB, src, dst *testbed.Host, sport, dport uint16, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: src.MAC, DstMAC: dst.MAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.IPv4.AsSlice(), DstIP: dst.IPv4.AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// waitFor polls until cond holds, for at most a bounded number of rounds
// (a failure bound, not a timing assertion).
func waitFor(s []*Socket, rounds int, cond func() bool) bool {
	for range rounds {
		if cond() {
			return true
		}
		for _, x := range s {
			x.Poll(10)
		}
	}
	return cond()
}
