//go:build linux

package bpf

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/sluicenet/sluice/testbed"
)

// xdpMD is struct xdp_md, the context BPF_PROG_TEST_RUN accepts: data and
// data_meta 0, data_end the frame length, and an ingress device plus RX
// queue the kernel checks against the device in the caller's namespace.
type xdpMD struct {
	Data, DataEnd, DataMeta    uint32
	IngressIfindex, RxQueueIdx uint32
	EgressIfindex              uint32
}

// runOnQueue runs the program as if frame arrived on queue q of ifindex.
// It must run inside the device's namespace.
func runOnQueue(p *Program, ifindex, q int, frame []byte) (uint32, error) {
	ctx := xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex), RxQueueIdx: uint32(q)}
	return p.objs.SluiceSteer.Run(&ebpf.RunOptions{Data: frame, Context: ctx})
}

// closeAtEnd closes the program and the sockets the test set, when it
// ends: the pointers are read then, so the test may fill them in later.
func closeAtEnd(t *testing.T, p **Program, xsks ...**testXSK) {
	t.Cleanup(func() {
		if *p != nil {
			(*p).Close()
		}
		for _, x := range xsks {
			if *x != nil {
				(*x).Close()
			}
		}
	})
}

// TestQueueIndexing: a segment is redirected to the socket of the RX queue
// it arrived on, XSKMAP[rx_queue_index], and to no other.
func TestQueueIndexing(t *testing.T) {
	bed := testbed.New(t, testbed.Options{Queues: 2})
	srv := ap(bed.Server.IPv4, 7300)
	frame := tcp4(ap(bed.Peer.IPv4, 1234), srv)
	var p *Program
	var xsk *testXSK
	closeAtEnd(t, &p, &xsk)
	err := bed.Server.Do(func() (err error) {
		if p, err = Load(Options{}); err != nil { // unattached: only test runs move the counters
			return err
		}
		if err := p.AddListen(srv); err != nil {
			return err
		}
		// One socket, bound to queue 1 and registered for queue 1 only.
		if xsk, err = newTestXSK(bed.Server.Ifindex, 1); err != nil {
			return err
		}
		if err := p.SetSocket(1, xsk.fd); err != nil {
			return err
		}
		for _, c := range []struct {
			q    int
			want uint32
		}{{0, xdpPass}, {1, xdpRedirect}} {
			ret, err := runOnQueue(p, bed.Server.Ifindex, c.q, frame)
			if err != nil {
				return err
			}
			if ret != c.want {
				t.Errorf("frame on queue %d: verdict %d, want %d", c.q, ret, c.want)
			}
		}
		// Unregistered: queue 1's segments go to the kernel.
		if err := p.RemoveSocket(1); err != nil {
			return err
		}
		ret, err := runOnQueue(p, bed.Server.Ifindex, 1, frame)
		if err != nil {
			return err
		}
		if ret != xdpPass {
			t.Errorf("after RemoveSocket(1): verdict %d, want XDP_PASS", ret)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c := counters(t, p)
	if c.Redirected != 1 || c.RedirectNoSocket != 2 {
		t.Errorf("counters %+v: want Redirected 1, RedirectNoSocket 2", c)
	}
}

// TestFanout: under software steering the program picks the socket
// FanoutSlot predicts, or the flow's pinned slot. One real socket fills a
// single slot; a segment redirects iff it maps to that slot.
func TestFanout(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	local := ap(bed.Server.IPv4, 7400)
	var p *Program
	var xsk *testXSK
	closeAtEnd(t, &p, &xsk)
	if err := bed.Server.Do(func() (err error) {
		if p, err = Load(Options{}); err != nil { // unattached: only test runs move the counters
			return err
		}
		xsk, err = newTestXSK(bed.Server.Ifindex, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.AddListen(local); err != nil {
		t.Fatal(err)
	}
	if err := p.SetFanout(0, []int{xsk.fd, xsk.fd, xsk.fd}); err != nil {
		t.Fatal(err)
	}
	// Every slot holds the socket: everything redirects, all of it fanout.
	ret, d := run(t, p, tcp4(ap(bed.Peer.IPv4, 1), local))
	if ret != xdpRedirect || d["Redirected"] != 1 || d["Fanout"] != 1 || len(d) != 2 {
		t.Fatalf("full fanout: verdict %d, counters %s", ret, fmtDelta(d))
	}

	const n = 4
	for slot := 0; slot < n; slot++ {
		fds := make([]int, n)
		// Slots other than `slot` hold... nothing: SetFanout needs real
		// sockets, so fill them and then delete the others directly.
		for i := range fds {
			fds[i] = xsk.fd
		}
		if err := p.SetFanout(0, fds); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if i != slot {
				if err := p.objs.XsksFanout.Delete(uint32(i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		hits := 0
		for port := uint16(1000); port < 1100; port++ {
			remote := ap(bed.Peer.IPv4, port)
			want := uint32(xdpPass)
			if FanoutSlot(remote, local, n) == slot {
				want = xdpRedirect
				hits++
			}
			if ret, _ := run(t, p, tcp4(remote, local)); ret != want {
				t.Errorf("slot %d, %s: verdict %d, want %d (FanoutSlot says %d)", slot, remote, ret, want, FanoutSlot(remote, local, n))
			}
		}
		if hits == 0 || hits == 100 {
			t.Errorf("slot %d got %d of 100 flows: the hash does not spread", slot, hits)
		}
		// A pinned flow goes to its slot whatever the hash says.
		for port := uint16(2000); port < 2010; port++ {
			remote := ap(bed.Peer.IPv4, port)
			if err := p.AddFlow(remote, local, slot); err != nil {
				t.Fatal(err)
			}
			if ret, _ := run(t, p, tcp4(remote, local)); ret != xdpRedirect {
				t.Errorf("flow pinned to slot %d: verdict %d", slot, ret)
			}
			if err := p.RemoveFlow(remote, local); err != nil {
				t.Fatal(err)
			}
		}
	}
	// IPv6 agrees with the Go hash too.
	local6 := ap(bed.Server.IPv6, 7400)
	if err := p.AddListen(local6); err != nil {
		t.Fatal(err)
	}
	for port := uint16(1000); port < 1050; port++ {
		remote := ap(bed.Peer.IPv6, port)
		want := uint32(xdpPass)
		if FanoutSlot(remote, local6, n) == n-1 {
			want = xdpRedirect
		}
		if ret, _ := run(t, p, tcp6(remote, local6, protoTCP, nil)); ret != want {
			t.Errorf("v6 %s: verdict %d, want %d", remote, ret, want)
		}
	}
	// Off: back to XSKMAP[queue], which is empty here.
	if err := p.SetFanout(0, nil); err != nil {
		t.Fatal(err)
	}
	if ret, d := run(t, p, tcp4(ap(bed.Peer.IPv4, 1), local)); ret != xdpPass || d["RedirectNoSocket"] != 1 {
		t.Errorf("fanout off: verdict %d, counters %s", ret, fmtDelta(d))
	}
}

// TestMultiQueueTraffic: on a 2-queue veth with a socket per queue, real
// SYNs from many flows arrive, each on the socket of the queue it came in
// on (the kernel drops a frame redirected to a socket of another queue, so
// "all arrived" means "all on the right socket"), and both queues get some.
func TestMultiQueueTraffic(t *testing.T) {
	bed := testbed.New(t, testbed.Options{Queues: 2})
	srv := ap(bed.Server.IPv4, 7600)
	var p *Program
	xsks := make([]*testXSK, 2)
	closeAtEnd(t, &p, &xsks[0], &xsks[1])
	if err := bed.Server.Do(func() (err error) {
		if p, err = Load(Options{Ifindex: bed.Server.Ifindex}); err != nil {
			return err
		}
		for q := range xsks {
			if xsks[q], err = newTestXSK(bed.Server.Ifindex, q); err != nil {
				return err
			}
			if err := p.SetSocket(q, xsks[q].fd); err != nil {
				return err
			}
		}
		return p.AddListen(srv)
	}); err != nil {
		t.Fatal(err)
	}

	const flows = 16
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, flows)
	for i := 0; i < flows; i++ {
		from := ap(bed.Peer.IPv4, uint16(43000+i))
		go func() { done <- dial(ctx, bed.Peer, from, srv) }()
	}
	seen := map[uint16]int{} // source port -> queue
	perQueue := make([]int, 2)
	for try := 0; try < 1000 && len(seen) < flows; try++ {
		for q, x := range xsks {
			for _, f := range x.Receive() {
				sport, ok := tcpSrc(f)
				if !ok {
					continue
				}
				if prev, dup := seen[sport]; dup && prev != q {
					t.Errorf("flow from port %d arrived on queue %d and queue %d", sport, prev, q)
				}
				if _, dup := seen[sport]; !dup {
					perQueue[q]++
				}
				seen[sport] = q
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	for i := 0; i < flows; i++ {
		if err := <-done; err == nil {
			t.Error("a dial to the steered port succeeded: the kernel got its SYN")
		}
	}
	t.Logf("flows per queue: %v", perQueue)
	if len(seen) != flows {
		t.Errorf("%d of %d flows' SYNs arrived on the sockets", len(seen), flows)
	}
	if perQueue[0] == 0 || perQueue[1] == 0 {
		t.Errorf("flows per queue %v: the veth did not spread them, or a queue's socket got nothing", perQueue)
	}
	c := counters(t, p)
	if c.RedirectNoSocket != 0 {
		t.Errorf("RedirectNoSocket = %d", c.RedirectNoSocket)
	}
}

// tcpSrc returns the TCP source port of an untagged Ethernet/IPv4 frame.
func tcpSrc(f []byte) (uint16, bool) {
	if len(f) < 14+20 || binary.BigEndian.Uint16(f[12:]) != etherIPv4 || f[14+9] != protoTCP {
		return 0, false
	}
	l4 := f[14+int(f[14]&0xf)*4:]
	if len(l4) < 20 {
		return 0, false
	}
	return binary.BigEndian.Uint16(l4), true
}
