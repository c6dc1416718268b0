package tcpcheck

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/wire"
)

var (
	srv = netip.MustParseAddrPort("198.18.0.1:80")
	cli = netip.MustParseAddrPort("198.18.0.2:40000")
)

const ack = wire.TCPFlagACK

// handshake: the client (under check) opens to a peer offering MSS 1000
// and window scale 7, whose window then opens to 2048.
func handshake() *Checker {
	c := &Checker{Checks: AllChecks, MaxSegment: 1460}
	c.Segment(cli, srv, &Seg{Seq: 100, Flags: wire.TCPFlagSYN, Window: 65535,
		Options: wire.TCPOptions{MSS: 1460, HasWScale: true, WScale: 7}}, 0)
	c.Peer(srv, cli, &Seg{Seq: 500, Ack: 101, Flags: wire.TCPFlagSYN | ack, Window: 1024,
		Options: wire.TCPOptions{MSS: 1000, HasWScale: true, WScale: 7}}, 1e6)
	c.Segment(cli, srv, &Seg{Seq: 101, Ack: 501, Flags: ack, Window: 512}, 1e6)
	c.Peer(srv, cli, &Seg{Seq: 501, Ack: 101, Flags: ack, Window: 16}, 2e6) // 2048 octets
	return c
}

func TestCheckerFlags(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		run        func(c *Checker)
	}{
		{"clean", "", func(c *Checker) {
			c.Segment(cli, srv, &Seg{Seq: 101, Ack: 501, Flags: ack, Window: 512, Len: 1000}, 3e6)
			c.Segment(cli, srv, &Seg{Seq: 1101, Ack: 501, Flags: ack, Window: 512, Len: 948,
				Options: wire.TCPOptions{NumSACK: 1}}, 3e6) // 12 option octets: 960 in all
		}},
		{"over the peer's MSS", "exceed the peer's MSS 1000", func(c *Checker) {
			c.Segment(cli, srv, &Seg{Seq: 101, Ack: 501, Flags: ack, Window: 512, Len: 990,
				Options: wire.TCPOptions{HasTS: true}}, 3e6)
		}},
		{"edge moves left", "right edge moved left by 128", func(c *Checker) {
			c.Segment(cli, srv, &Seg{Seq: 101, Ack: 501, Flags: ack, Window: 511}, 3e6)
		}},
		{"beyond the window", "beyond the peer's right edge", func(c *Checker) {
			c.Segment(cli, srv, &Seg{Seq: 101, Ack: 501, Flags: ack, Window: 512, Len: 1000}, 3e6)
			c.Segment(cli, srv, &Seg{Seq: 1101, Ack: 501, Flags: ack, Window: 512, Len: 1000}, 3e6)
			c.Segment(cli, srv, &Seg{Seq: 2149, Ack: 501, Flags: ack, Window: 512, Len: 1}, 3e6) // a probe: allowed
			c.Segment(cli, srv, &Seg{Seq: 2101, Ack: 501, Flags: ack, Window: 512, Len: 100}, 3e6)
		}},
		{"backoff shrinks", "previous gap was 400ms", func(c *Checker) {
			for _, at := range []time.Duration{0, 200, 600, 800} {
				c.Segment(cli, srv, &Seg{Seq: 101, Ack: 501, Flags: ack, Window: 512, Len: 10}, int64(at*time.Millisecond))
			}
		}},
		{"backoff after the peer spoke", "", func(c *Checker) {
			for _, at := range []time.Duration{0, 200, 600, 800} {
				if at == 800 {
					c.Peer(srv, cli, &Seg{Seq: 501, Ack: 101, Flags: ack, Window: 16}, int64(700*time.Millisecond))
				}
				c.Segment(cli, srv, &Seg{Seq: 101, Ack: 501, Flags: ack, Window: 512, Len: 10}, int64(at*time.Millisecond))
			}
		}},
		{"backoff across a re-cut retransmission", "", func(c *Checker) {
			// 101+90 and 191+10 go out together; one round re-cuts them as
			// 101+80 and 181+20, so 191 is sent inside a segment starting
			// at 181. Its gaps are 0.2, 0.4, 0.8, 1.6 and 1.8 s.
			at := []time.Duration{0, 200, 600, 1400, 3000, 4800}
			for i, t := range at {
				ms := int64(t * time.Millisecond)
				if i == 3 {
					c.Segment(cli, srv, &Seg{Seq: 101, Ack: 501, Flags: ack, Window: 512, Len: 80}, ms)
					c.Segment(cli, srv, &Seg{Seq: 181, Ack: 501, Flags: ack, Window: 512, Len: 20}, ms)
					continue
				}
				c.Segment(cli, srv, &Seg{Seq: 101, Ack: 501, Flags: ack, Window: 512, Len: 90}, ms)
				c.Segment(cli, srv, &Seg{Seq: 191, Ack: 501, Flags: ack, Window: 512, Len: 10}, ms)
			}
		}},
		{"backoff shrinks inside a re-cut retransmission", "retransmission of 191 after 200ms", func(c *Checker) {
			for i, t := range []time.Duration{0, 200, 600, 800} {
				ms := int64(t * time.Millisecond)
				if i == 3 {
					c.Segment(cli, srv, &Seg{Seq: 181, Ack: 501, Flags: ack, Window: 512, Len: 20}, ms)
					continue
				}
				c.Segment(cli, srv, &Seg{Seq: 191, Ack: 501, Flags: ack, Window: 512, Len: 10}, ms)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := handshake()
			tc.run(c)
			err := c.Err()
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestCheckerFrame: a frame over the MTU, and one whose checksum is bad.
func TestCheckerFrame(t *testing.T) {
	spec := wire.TCPFrameSpec{Src: cli.Addr(), Dst: srv.Addr(), SrcPort: cli.Port(), DstPort: srv.Port(),
		Seq: 101, Ack: 501, Flags: ack, Window: 512}
	b := make([]byte, 2048)
	n, err := wire.BuildTCP(b, &spec, make([]byte, 1461))
	if err != nil {
		t.Fatal(err)
	}
	c := &Checker{Checks: AllChecks, MTU: 1500}
	c.Frame(b[:n], true, 0)
	if err := c.Err(); err == nil || !strings.Contains(err.Error(), "over the MTU") {
		t.Fatalf("1501-octet datagram: %v", err)
	}
	n, _ = wire.BuildTCP(b, &spec, []byte("x"))
	b[n-1] ^= 1
	c = &Checker{Checks: AllChecks, MTU: 1500}
	c.Frame(b[:n], false, 0) // received: not ours to check
	if err := c.Err(); err != nil {
		t.Fatal(err)
	}
	c.Frame(b[:n], true, 0)
	if err := c.Err(); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("bad checksum: %v", err)
	}
}
