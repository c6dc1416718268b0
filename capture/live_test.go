package capture_test

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/sluicenet/sluice/capture"
	"github.com/sluicenet/sluice/systest/live"
	"github.com/sluicenet/sluice/testbed"
)

func TestMain(m *testing.M) { testbed.Main(m) }

type packet struct {
	iface    string
	src, dst netip.AddrPort
	tcp      *layers.TCP
}

func readCapture(t *testing.T, path string) []packet {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var out []packet
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		intf, _ := r.Interface(ci.InterfaceIndex)
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip == nil || tcp == nil {
			t.Fatalf("captured frame is not IPv4/TCP: %v", p)
		}
		src, _ := netip.AddrFromSlice(ip.SrcIP)
		dst, _ := netip.AddrFromSlice(ip.DstIP)
		out = append(out, packet{intf.Name, netip.AddrPortFrom(src, uint16(tcp.SrcPort)), netip.AddrPortFrom(dst, uint16(tcp.DstPort)), tcp})
	}
}

// TestCaptureLiveEcho: a Writer installed as the group's tap records a
// whole echo exchange with a kernel client — handshake, text both ways,
// both FINs — on q0-rx (client to server) and q0-tx (server to client);
// switched off, or filtered to another port, it records nothing more; and
// tcpdump reads the file.
func TestCaptureLiveEcho(t *testing.T) {
	s := live.Start(t, live.Options{})
	path := filepath.Join(t.TempDir(), "echo.pcapng")
	w, err := capture.Create(path, capture.Options{Port: live.Port})
	if err != nil {
		t.Fatal(err)
	}
	s.Group.SetTap(w)
	defer s.Group.SetTap(nil)

	c := s.DialPeer(t, s.Addr)
	client := netip.MustParseAddrPort(c.LocalAddr().String())
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := "captured hello"
	c.Write([]byte(msg))
	if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("want the server's FIN: %d %v", n, err)
	}
	c.Close()
	time.Sleep(200 * time.Millisecond) // the last ACK
	mid := w.Stats()

	// Off, then filtered to another port: a second exchange leaves no trace.
	w.Enable(false)
	c2 := s.DialPeer(t, s.Addr)
	c2.Close()
	w.Enable(true)
	w.SetPort(live.Port + 1)
	c3 := s.DialPeer(t, s.Addr)
	c3.Close()
	time.Sleep(200 * time.Millisecond)
	s.Group.SetTap(nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	t.Logf("capture stats: %+v", st)
	if st.Written != mid.Written || st.Filtered == 0 {
		t.Errorf("after Enable(false) and SetPort: written %d -> %d, filtered %d", mid.Written, st.Written, st.Filtered)
	}

	pkts := readCapture(t, path)
	var sawSYN, sawSYNACK, sawText, sawEcho, sawFinIn, sawFinOut bool
	for _, p := range pkts {
		switch p.iface {
		case "q0-rx":
			if p.src != client || p.dst != s.Addr {
				t.Errorf("received frame %v -> %v is not client -> server", p.src, p.dst)
			}
			sawSYN = sawSYN || (p.tcp.SYN && !p.tcp.ACK)
			sawText = sawText || string(p.tcp.Payload) == msg
			sawFinIn = sawFinIn || p.tcp.FIN
		case "q0-tx":
			if p.src != s.Addr || p.dst != client {
				t.Errorf("sent frame %v -> %v is not server -> client", p.src, p.dst)
			}
			sawSYNACK = sawSYNACK || (p.tcp.SYN && p.tcp.ACK)
			sawEcho = sawEcho || string(p.tcp.Payload) == msg
			sawFinOut = sawFinOut || p.tcp.FIN
		default:
			t.Errorf("frame on interface %q", p.iface)
		}
	}
	if !(sawSYN && sawSYNACK && sawText && sawEcho && sawFinIn && sawFinOut) {
		t.Errorf("exchange incomplete in %d frames: SYN %v SYN-ACK %v text %v echo %v FIN in %v FIN out %v",
			len(pkts), sawSYN, sawSYNACK, sawText, sawEcho, sawFinIn, sawFinOut)
	}
	if uint64(len(pkts)) != st.Written {
		t.Errorf("read %d frames, wrote %d", len(pkts), st.Written)
	}

	if _, err := exec.LookPath("tcpdump"); err != nil {
		if testbed.InCI() {
			t.Fatal("tcpdump not installed (apt package tcpdump)")
		}
		return
	}
	out, err := exec.Command("tcpdump", "-nn", "-r", path).Output()
	if err != nil {
		t.Fatalf("tcpdump -r: %v", err)
	}
	lines := strings.Count(string(out), "\n")
	dotted := func(ap netip.AddrPort) string { return fmt.Sprintf("%s.%d", ap.Addr(), ap.Port()) } // tcpdump's form
	if lines != len(pkts) || !strings.Contains(string(out), dotted(client)+" > "+dotted(s.Addr)+": Flags [S]") {
		t.Errorf("tcpdump read %d lines for %d frames:\n%s", lines, len(pkts), out)
	}
}
