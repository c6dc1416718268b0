package netenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicenet/sluice/testbed"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// wantErr checks that err matches kind and its message contains every want.
func wantErr(t *testing.T, err, kind error, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("got no error, want %v", kind)
		return
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q does not match %v", err, kind)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	t.Logf("%v", err)
}

func TestMissingInterface(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	err := bed.Server.Do(func() error {
		err := CheckInterface("nope0")
		wantErr(t, err, ErrNoInterface, `"nope0"`, "ip link", "lo", bed.Server.Link)
		// The other entry points say the same.
		_, err = Describe("nope0")
		wantErr(t, err, ErrNoInterface, `"nope0"`)
		wantErr(t, CheckQueues("nope0", 1), ErrNoInterface, `"nope0"`)
		wantErr(t, Preflight(Spec{Interface: "nope0", SkipPrivileges: true}), ErrNoInterface, `"nope0"`)
		// The peer's interface exists only in the peer's namespace.
		wantErr(t, CheckInterface(bed.Peer.Link), ErrNoInterface, bed.Peer.Link)
		return CheckInterface(bed.Server.Link)
	})
	if err != nil {
		t.Fatalf("the testbed's own interface: %v", err)
	}
}

// addLink makes an Ethernet device (one end of a veth pair, down, no
// address) in the calling thread's namespace; the namespace's removal
// takes it away. Never t.Fatal inside Host.Do: it would end Do's goroutine
// and Do would never return.
func addLink(name string) (netlink.Link, error) {
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}); err != nil {
		return nil, fmt.Errorf("add veth %s: %w", name, err)
	}
	return netlink.LinkByName(name)
}

func TestInterfaceDown(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	err := bed.Server.Do(func() error {
		l, err := addLink("sl-dummy")
		if err != nil {
			return err
		}
		wantErr(t, CheckInterface("sl-dummy"), ErrInterfaceDown, "sl-dummy", `"ip link set dev sl-dummy up"`)
		if err := netlink.LinkSetUp(l); err != nil {
			return err
		}
		if err := CheckInterface("sl-dummy"); err != nil {
			t.Errorf("after ip link set up: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAddressNotOnInterface(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	srv := bed.Server
	err := bed.Server.Do(func() error {
		wantErr(t, CheckAddress(srv.Link, netip.MustParseAddr("198.18.0.9")), ErrAddressNotOnInterface,
			"198.18.0.9", srv.Link, "198.18.0.1/24", "2001:2::1/64", "ip addr add 198.18.0.9/LEN dev "+srv.Link)
		wantErr(t, CheckAddress(srv.Link, bed.Peer.IPv6), ErrAddressNotOnInterface, "2001:2::2 is not on")
		for _, a := range []netip.Addr{srv.IPv4, srv.IPv6, netip.IPv4Unspecified(), netip.IPv6Unspecified(),
			netip.AddrFrom16(srv.IPv4.As16())} { // v4-mapped form of the IPv4 address
			if err := CheckAddress(srv.Link, a); err != nil {
				t.Errorf("%s is on %s: %v", a, srv.Link, err)
			}
		}
		// A wildcard needs some address of its family.
		if _, err := addLink("sl-dummy"); err != nil {
			return err
		}
		wantErr(t, CheckAddress("sl-dummy", netip.IPv4Unspecified()), ErrAddressNotOnInterface,
			"sl-dummy has no IPv4 address", "has: none")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// listen opens a kernel TCP listener in the calling thread's namespace.
func listen(network, addr string, v6only bool) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if v6only {
			c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1) })
		}
		return serr
	}}
	return lc.Listen(context.Background(), network, addr)
}

func TestKernelListener(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	srv := bed.Server
	v4, v6 := srv.IPv4, srv.IPv6
	any4, any6 := netip.IPv4Unspecified(), netip.IPv6Unspecified()
	me := fmt.Sprintf("pid %d", os.Getpid())
	type probe struct {
		addr     netip.Addr
		conflict bool
	}
	for i, c := range []struct {
		name, network, addr string
		v6only              bool
		probes              []probe
	}{
		{"ipv4 exact", "tcp4", "198.18.0.1", false, []probe{{v4, true}, {v6, false}, {any4, true}, {any6, false}}},
		{"ipv6 exact", "tcp6", "[2001:2::1]", false, []probe{{v6, true}, {v4, false}, {any6, true}, {any4, false}}},
		{"ipv4 wildcard", "tcp4", "0.0.0.0", false, []probe{{v4, true}, {v6, false}, {any4, true}}},
		{"dual-stack wildcard", "tcp", "[::]", false, []probe{{v4, true}, {v6, true}, {any4, true}, {any6, true}}},
		{"ipv6-only wildcard", "tcp6", "[::]", true, []probe{{v6, true}, {v4, false}, {any4, false}}},
		{"loopback only", "tcp4", "127.0.0.1", false, []probe{{v4, false}, {any4, false}}},
		{"other address", "tcp4", "198.18.0.77", false, []probe{{v4, false}, {any4, true}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			port := uint16(20000 + i)
			err := srv.Do(func() error {
				if c.addr == "198.18.0.77" {
					// An extra address on the interface, served by the kernel.
					l, _ := netlink.LinkByName(srv.Link)
					a, _ := netlink.ParseAddr("198.18.0.77/32")
					if err := netlink.AddrAdd(l, a); err != nil {
						return err
					}
					defer netlink.AddrDel(l, a)
				}
				ln, err := listen(c.network, fmt.Sprintf("%s:%d", c.addr, port), c.v6only)
				if err != nil {
					return err
				}
				defer ln.Close()
				for _, p := range c.probes {
					err := CheckKernelListener(srv.Link, p.addr, port)
					if !p.conflict {
						if err != nil {
							t.Errorf("serving %s:%d: unexpected %v", p.addr, port, err)
						}
						continue
					}
					wantErr(t, err, ErrKernelListener, fmt.Sprintf(":%d", port), srv.Link,
						"never see traffic", me)
				}
				// Another port is free.
				if err := CheckKernelListener(srv.Link, v4, port+100); err != nil {
					t.Errorf("other port: %v", err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	// The peer's namespace is separate: its listeners are not ours.
	var ln net.Listener
	if err := bed.Peer.Do(func() (err error) {
		ln, err = listen("tcp", ":21000", false)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv.Do(func() error {
		if err := CheckKernelListener(srv.Link, v4, 21000); err != nil {
			t.Errorf("a listener in the peer namespace was seen: %v", err)
		}
		return nil
	})
}

func TestQueueCount(t *testing.T) {
	bed := testbed.New(t, testbed.Options{Queues: 1})
	link := bed.Server.Link
	bed.Server.Do(func() error {
		ch, err := ChannelsOf(link)
		if err != nil {
			t.Error(err)
			return nil
		}
		if ch.Queues() != 1 || ch.FromSysfs {
			t.Errorf("channels %+v, want 1 rx queue from the ioctl", ch)
		}
		if err := CheckQueues(link, 1); err != nil {
			t.Errorf("1 loop on 1 queue: %v", err)
		}
		wantErr(t, CheckQueues(link, 2), ErrQueueCount,
			link+" has 1 RX queue but 2 loops", "at most 1", "software")
		return nil
	})

	bed2 := testbed.New(t, testbed.Options{Queues: 2})
	bed2.Server.Do(func() error {
		if err := CheckQueues(link, 2); err != nil {
			t.Errorf("2 loops on 2 queues: %v", err)
		}
		wantErr(t, CheckQueues(link, 3), ErrQueueCount, "has 2 RX queues but 3 loops")
		return nil
	})
}

// TestQueueAdvice: the advice follows the driver's channel model.
func TestQueueAdvice(t *testing.T) {
	nic := Channels{Combined: 4, MaxCombined: 64}
	wantErr(t, queuesError("eth0", nic, 8), ErrQueueCount, `"ethtool -L eth0 combined 8"`, "or run 4 loops")
	split := Channels{RX: 2, TX: 2, MaxRX: 16, MaxTX: 16}
	wantErr(t, queuesError("veth0", split, 4), ErrQueueCount, `"ethtool -L veth0 rx 4 tx 4"`)
	if err := queuesError("eth0", nic, 4); err != nil {
		t.Errorf("4 loops on 4 queues: %v", err)
	}
}

func TestMTU(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	link := bed.Server.Link
	bed.Server.Do(func() error {
		// 1500: fits 2048-byte frames with 256 bytes of headroom
		// (2048 - 256 - 256 - 18 = 1518).
		if err := CheckMTU(link, 2048, 256); err != nil {
			t.Errorf("mtu 1500 in 2048-byte frames: %v", err)
		}
		wantErr(t, CheckMTU(link, 2048, 512), ErrMTU, "MTU 1500 of interface "+link, "largest MTU that fits: 1262",
			fmt.Sprintf(`"ip link set dev %s mtu 1262"`, link))
		l, _ := netlink.LinkByName(link)
		if err := netlink.LinkSetMTU(l, 9000); err != nil {
			t.Error(err)
			return nil
		}
		wantErr(t, CheckMTU(link, 4096, 0), ErrMTU, "MTU 9000", "4096-byte frames", "largest MTU that fits: 3822")
		wantErr(t, CheckMTU(link, 256, 0), ErrMTU, "no room")
		return nil
	})
}

func TestDescribe(t *testing.T) {
	bed := testbed.New(t, testbed.Options{Queues: 2})
	srv := bed.Server
	srv.Do(func() error {
		d, err := Describe(srv.Link)
		if err != nil {
			t.Error(err)
			return nil
		}
		t.Log(d)
		if d.Driver != "veth" || d.MTU != 1500 || d.MAC.String() != srv.MAC.String() || d.Index != srv.Ifindex ||
			d.Channels.Queues() != 2 || !d.Up || d.XDPProgID != 0 {
			t.Errorf("Describe = %+v", d)
		}
		for _, want := range []string{"198.18.0.1/24", "2001:2::1/64"} {
			found := false
			for _, a := range d.Addresses {
				found = found || a.String() == want
			}
			if !found {
				t.Errorf("addresses %v lack %s", d.Addresses, want)
			}
		}
		for _, want := range []string{srv.Link, "driver veth", "2 rx queues", "mtu 1500", srv.MAC.String(), "no xdp program"} {
			if !strings.Contains(d.String(), want) {
				t.Errorf("%q lacks %q", d, want)
			}
		}
		return nil
	})
}

// TestPreflight: Preflight reports every problem at once.
func TestPreflight(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	srv := bed.Server
	srv.Do(func() error {
		ln, err := listen("tcp4", "198.18.0.1:8081", false)
		if err != nil {
			t.Error(err)
			return nil
		}
		defer ln.Close()
		err = Preflight(Spec{
			Interface: srv.Link,
			Listen:    []netip.AddrPort{netip.MustParseAddrPort("198.18.0.9:8080"), netip.MustParseAddrPort("198.18.0.1:8081")},
			Loops:     2, FrameSize: 2048, Headroom: 1024,
		})
		for _, kind := range []error{ErrAddressNotOnInterface, ErrKernelListener, ErrQueueCount, ErrMTU} {
			if !errors.Is(err, kind) {
				t.Errorf("Preflight error lacks %v:\n%v", kind, err)
			}
		}
		if errors.Is(err, ErrPermission) || errors.Is(err, ErrInterfaceDown) {
			t.Errorf("Preflight reports a problem that is not there:\n%v", err)
		}
		t.Logf("%v", err)
		if err := Preflight(Spec{Interface: srv.Link, Listen: []netip.AddrPort{netip.MustParseAddrPort("[2001:2::1]:443")},
			Loops: 1, FrameSize: 4096, UMEMBytes: 1 << 20}); err != nil {
			t.Errorf("a good configuration: %v", err)
		}
		return nil
	})
}
