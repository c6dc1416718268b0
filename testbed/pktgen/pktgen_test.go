package pktgen_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/sluicenet/sluice/testbed"
	"github.com/sluicenet/sluice/testbed/pktgen"
)

func TestMain(m *testing.M) { testbed.Main(m) }

// udpFrame builds an Ethernet/IPv4/UDP frame from the peer to the server.
func udpFrame(t *testing.T, b *testbed.Bed, sport, dport uint16, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: b.Peer.MAC, DstMAC: b.Server.MAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: b.Peer.IPv4.AsSlice(), DstIP: b.Server.IPv4.AsSlice()}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		eth, ip, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSendReachesKernel: frames sent by pktgen on the peer are received,
// intact, by a kernel UDP socket on the server.
func TestSendReachesKernel(t *testing.T) {
	b := testbed.New(t, testbed.Options{})
	var conn *net.UDPConn
	if err := b.Server.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.Server.IPv4, 9000)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadBuffer(4 << 20)
	frames := [][]byte{udpFrame(t, b, 1000, 9000, []byte("frame-a")), udpFrame(t, b, 1001, 9000, []byte("frame-b"))}
	const n = 500
	var sent uint64
	if err := b.Peer.Do(func() error {
		s, err := pktgen.New(b.Peer.Ifindex, frames)
		if err != nil {
			return err
		}
		defer s.Close()
		sent, err = s.Run(pktgen.Limits{Duration: 10 * time.Second, Count: n, Rate: 5000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if sent != n {
		t.Fatalf("sent %d frames, want %d", sent, n)
	}
	seen := map[string]int{}
	buf := make([]byte, 100)
	for got := 0; got < n; got++ {
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("received %d of %d datagrams: %v", got, n, err)
		}
		if from.Addr() != b.Peer.IPv4 {
			t.Fatalf("datagram from %v", from)
		}
		seen[string(buf[:k])]++
	}
	if seen["frame-a"] == 0 || seen["frame-b"] == 0 || len(seen) != 2 {
		t.Fatalf("payloads seen: %v", seen)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	if _, err := pktgen.New(1, nil); err == nil {
		t.Fatal("no frames: want error")
	}
	if _, err := pktgen.New(1, [][]byte{{1, 2, 3}}); err == nil {
		t.Fatal("runt frame: want error")
	}
}

func TestRunNeedsALimit(t *testing.T) {
	var s pktgen.Sender
	if _, err := s.Run(pktgen.Limits{Rate: 10}); err == nil {
		t.Fatal("Run without Duration or Count: want error")
	}
}
