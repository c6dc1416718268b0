// Package gsoprobe measures what transmitting bulk TCP text through an
// AF_PACKET socket with PACKET_VNET_HDR (one 64 KiB GSO "super-segment"
// per send) would cost the sender, against one MSS-sized frame per skb
// (a stand-in for copy-mode AF_XDP) and against kernel TCP (gnet's path).
// All three send the same stream from the testbed's Peer to a kernel TCP
// receiver on its Server; the test checks the stream and logs the sender's
// CPU per MiB, the benchmark reports it. Nothing here times anything it
// asserts.
package gsoprobe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/sluicenet/sluice/testbed"
	"github.com/sluicenet/sluice/wire"
	"golang.org/x/sys/unix"
)

const (
	mss       = 1460 // the raw senders offer MSS 1460, no timestamps
	superSegs = 44   // 44*1460 + 40 octets of headers fit IPv4's 65535
	superLen  = superSegs * mss
	burst     = 64 // frames per sendmmsg in the per-frame mode
	srvPort   = 9000
	hdrLen    = 14 + 20 + 20
	vnetLen   = 10 // struct virtio_net_hdr
	senderCPU = 1  // the sender thread and the Peer's NAPI thread
	recvCPU   = 0  // the receiver and the Server's NAPI thread
)

// mode is one way of sending the stream.
type mode int

const (
	perFrame  mode = iota // AF_PACKET, one MSS frame per skb (sendmmsg batches)
	gsoSuper              // AF_PACKET + PACKET_VNET_HDR, one 64 KiB GSO skb per send
	kernelTCP             // kernel TCP socket, 64 KiB writes
)

var modes = []mode{perFrame, gsoSuper, kernelTCP}

func (m mode) String() string {
	return [...]string{"perframe", "gso", "kerneltcp"}[m]
}

// The stream's octet at offset o is pattern[o%patLen]: a period no write
// or segment size divides, so misordered or corrupted data fails.
const patLen = 4<<20 + 13

var pattern = func() []byte {
	b := make([]byte, patLen+128<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < patLen; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	copy(b[patLen:], b[:len(b)-patLen])
	return b
}()

// pat is the stream's n octets (n <= 128 KiB) from offset off.
func pat(off int64, n int) []byte {
	o := int(off % patLen)
	return pattern[o : o+n]
}

// rig is a testbed with threaded NAPI on both veth ends (as bench/rig.go
// sets up its napi rig) and a kernel TCP receiver on the Server.
type rig struct {
	bed      *testbed.Bed
	offloads bool
	peerNAPI []int
	results  chan recvResult
	port     uint16
}

type recvResult struct {
	n   int64
	err error
}

func newRig(tb testing.TB, offloads bool) *rig {
	tb.Helper()
	testbed.Require(tb)
	r := &rig{offloads: offloads, results: make(chan recvResult, 1), port: 40000}
	r.bed = testbed.New(tb, testbed.Options{PeerOffloads: offloads})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The raw senders' address, as testbed.RawPeer has it: the Server
	// reaches it by a permanent neighbour entry; the Peer's kernel drops
	// frames to its MAC (PACKET_OTHERHOST) before TCP sees them.
	if _, err := r.bed.Server.Exec(ctx, "ip", "neigh", "replace", testbed.RawIPv4.String(),
		"lladdr", testbed.RawMAC.String(), "dev", r.bed.Server.Link, "nud", "permanent"); err != nil {
		tb.Fatal(err)
	}
	// veth hands an skb to the receiving end's NAPI thread only if the
	// sending end has no TSO feature at all (or the skb is a packet
	// socket's and the receiver has rx-udp-gro-forwarding or rx-gro-list:
	// veth_skb_is_eligible_for_gro); otherwise netif_rx queues it on the
	// sending CPU's backlog, and the receiver's TCP runs in the sender's
	// softirq, charged to the sender. The testbed's offloadsOff turns
	// off tx-tcp-segmentation only, leaving the ECN, mangle-ID, IPv6
	// and AccECN TSO bits on: turn all of them off where offloads are
	// meant to be off; turn rx-udp-gro-forwarding on at the Server end
	// (it touches UDP only) so that the raw senders' skbs take the NAPI
	// path also from a Peer with TSO. And steer what the Server end still
	// gets by netif_rx (kernel TCP's skbs from a Peer with TSO: not a
	// packet socket's) to recvCPU, by RPS: an IPI from the sender.
	ends := []*testbed.Host{r.bed.Server}
	if !offloads {
		ends = append(ends, r.bed.Peer)
	}
	for _, h := range ends {
		if _, err := h.Exec(ctx, "ethtool", "-K", h.Link, "tso", "off"); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := r.bed.Server.Exec(ctx, "ethtool", "-K", r.bed.Server.Link, "rx-udp-gro-forwarding", "on"); err != nil {
		tb.Fatal(err)
	}
	if _, err := r.bed.Server.Exec(ctx, "sh", "-c",
		fmt.Sprintf("echo %x > /sys/class/net/%s/queues/rx-0/rps_cpus", 1<<recvCPU, r.bed.Server.Link)); err != nil {
		tb.Fatal(err)
	}
	if _, err := r.bed.Server.ThreadedNAPI(recvCPU); err != nil {
		tb.Fatal(err)
	}
	var err error
	if r.peerNAPI, err = r.bed.Peer.ThreadedNAPI(senderCPU); err != nil {
		tb.Fatal(err)
	}
	ln := r.bed.Server.ListenTCP(tb, testbed.HostPort(testbed.ServerIPv4, srvPort))
	go r.accept(ln)
	for _, h := range []*testbed.Host{r.bed.Peer, r.bed.Server} {
		out, err := h.Exec(ctx, "ethtool", "-k", h.Link)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Logf("offloads=%v %s: %s", offloads, h.Link, features(out))
	}
	return r
}

// features picks the lines of `ethtool -k` that matter here.
func features(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		for _, k := range []string{"scatter-gather:", "tx-checksumming:", "tcp-segmentation-offload:", "\ttx-tcp-segmentation:", "\ttx-tcp-ecn-segmentation:", "\ttx-tcp6-segmentation:",
			"generic-segmentation-offload:", "generic-receive-offload:"} {
			if strings.HasPrefix(l, k) {
				keep = append(keep, strings.Join(strings.Fields(l), " "))
			}
		}
	}
	return strings.Join(keep, ", ")
}

// accept serves one connection at a time on a thread pinned to recvCPU.
func (r *rig) accept(ln net.Listener) {
	runtime.LockOSThread() // not unlocked: the pinned thread dies with us
	var set unix.CPUSet
	set.Set(recvCPU)
	unix.SchedSetaffinity(0, &set)
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		r.results <- receive(c)
		c.Close()
	}
}

// receive reads c to its end, checking every octet against the pattern.
func receive(c net.Conn) recvResult {
	buf := make([]byte, 256<<10)
	var off int64
	for {
		n, err := c.Read(buf)
		for i := 0; i < n; {
			k := min(n-i, 64<<10)
			if want := pat(off, k); !bytes.Equal(buf[i:i+k], want) {
				j := 0
				for buf[i+j] == want[j] {
					j++
				}
				return recvResult{off, fmt.Errorf("stream differs from the pattern at offset %d", off+int64(j))}
			}
			off += int64(k)
			i += k
		}
		if err == io.EOF {
			return recvResult{off, nil}
		}
		if err != nil {
			return recvResult{off, err}
		}
	}
}

// result is one stream's sender-side cost.
type result struct {
	mib          float64
	thread, napi time.Duration // sender thread CPU, Peer NAPI thread(s) CPU
	user, sys    time.Duration // the thread's split (getrusage)
	sends        int           // syscalls that sent data
	peerTx       int64         // Peer veth tx_packets during the stream
	srvRx        int64         // Server veth rx_packets during the stream
	acks, dup    int           // ACK frames read by a raw sender, duplicates among them
}

func (s result) perMiB(d time.Duration) float64 { return float64(d.Microseconds()) / s.mib }
func (s result) String() string {
	return fmt.Sprintf("%.0f us/MiB (thread %.0f [user %.0f sys %.0f] + NAPI %.0f); %.1f sends/MiB, "+
		"Peer tx %.0f skb/MiB, Server rx %.0f skb/MiB, %d ACKs read",
		s.perMiB(s.thread+s.napi), s.perMiB(s.thread), s.perMiB(s.user), s.perMiB(s.sys), s.perMiB(s.napi),
		float64(s.sends)/s.mib, float64(s.peerTx)/s.mib, float64(s.srvRx)/s.mib, s.acks)
}

type mark struct {
	thread, user, sys time.Duration
}

func threadMark() mark {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return mark{time.Duration(ts.Nano()), time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
}

// run sends total octets of the pattern with m and waits for the
// receiver to have them all.
func (r *rig) run(tb testing.TB, m mode, total int64) result {
	tb.Helper()
	r.port++
	napi0 := napiCPU(tb, r.peerNAPI)
	tx0 := linkStat(tb, r.bed.Peer, "tx_packets")
	rx0 := linkStat(tb, r.bed.Server, "rx_packets")
	type out struct {
		res result
		err error
	}
	done := make(chan out, 1)
	var rc *rawConn
	var kc *net.TCPConn
	var err error
	if m == kernelTCP {
		kc = r.bed.Peer.Dial(tb, testbed.HostPort(testbed.ServerIPv4, srvPort))
	} else {
		rc, err = r.openRaw(m == gsoSuper)
		if err != nil {
			tb.Fatal(err)
		}
		defer rc.close()
	}
	go func() {
		runtime.LockOSThread() // not unlocked: the pinned thread dies with us
		var set unix.CPUSet
		set.Set(senderCPU)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			done <- out{err: err}
			return
		}
		var o out
		m0 := threadMark()
		if m == kernelTCP {
			o.res.sends, o.err = sendKernel(kc, total)
		} else {
			o.err = rc.stream(m, total, &o.res)
		}
		m1 := threadMark()
		o.res.thread, o.res.user, o.res.sys = m1.thread-m0.thread, m1.user-m0.user, m1.sys-m0.sys
		done <- o
	}()
	var o out
	select {
	case o = <-done:
	case <-time.After(60 * time.Second):
		tb.Fatalf("%v: sender stuck", m)
	}
	if o.err != nil {
		tb.Fatalf("%v: %v", m, o.err)
	}
	select {
	case rr := <-r.results:
		if rr.err != nil || rr.n != total {
			tb.Fatalf("%v: receiver got %d of %d octets: %v", m, rr.n, total, rr.err)
		}
	case <-time.After(30 * time.Second):
		tb.Fatalf("%v: receiver did not finish", m)
	}
	o.res.napi = napiCPU(tb, r.peerNAPI) - napi0
	o.res.peerTx = linkStat(tb, r.bed.Peer, "tx_packets") - tx0
	o.res.srvRx = linkStat(tb, r.bed.Server, "rx_packets") - rx0
	o.res.mib = float64(total) / (1 << 20)
	return o.res
}

// sendKernel writes total octets of the pattern in 64 KiB writes from the
// calling thread (blocking: File puts the descriptor in blocking mode),
// then closes the connection.
func sendKernel(c *net.TCPConn, total int64) (sends int, err error) {
	f, err := c.File()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	defer f.Close()
	fd := int(f.Fd())
	for off := int64(0); off < total; {
		n, err := unix.Write(fd, pat(off, int(min(64<<10, total-off))))
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return sends, err
		}
		sends++
		off += int64(n)
	}
	return sends, nil
}

// rawConn is a TCP sender made of raw frames: an AF_PACKET socket that
// only sends (protocol 0: the kernel hands it nothing, not even our own
// frames, which an ETH_P_ALL tap would make the sender clone) and one
// bound to ETH_P_IP that only receives (the Server's ACKs).
type rawConn struct {
	tx, rx  int
	vnet    bool
	port    uint16
	iss     uint32
	nxt     uint32
	una     uint32
	wnd     uint32
	rcvNxt  uint32
	wscale  uint8
	ipid    uint16
	srcMAC  net.HardwareAddr
	dstMAC  net.HardwareAddr
	rxbuf   []byte
	f       wire.Frame
	acks    int
	dupacks int
}

func (r *rig) openRaw(vnet bool) (*rawConn, error) {
	c := &rawConn{tx: -1, rx: -1, vnet: vnet, port: r.port, iss: rand.Uint32(),
		srcMAC: testbed.RawMAC, dstMAC: r.bed.Server.MAC, rxbuf: make([]byte, 1<<16)}
	ifindex := r.bed.Peer.Ifindex
	err := r.bed.Peer.Do(func() error {
		var err error
		if c.tx, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err := unix.Bind(c.tx, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
			return err
		}
		// As copy-mode AF_XDP does, straight to the driver. Not the
		// super-segments: software GSO (an end without TSO) makes a list
		// of 44 skbs the sender's buffer no longer holds back, and the
		// direct path drops what the veth's ring cannot take
		// (ENOBUFS after part of the list went), where the qdisc
		// path queues it.
		if !vnet {
			if err := unix.SetsockoptInt(c.tx, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
				return fmt.Errorf("PACKET_QDISC_BYPASS: %w", err)
			}
		}
		if vnet {
			if err := unix.SetsockoptInt(c.tx, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
				return fmt.Errorf("PACKET_VNET_HDR: %w", err)
			}
		}
		if c.rx, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP))); err != nil {
			return err
		}
		if err := unix.Bind(c.rx, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifindex}); err != nil {
			return err
		}
		unix.SetsockoptInt(c.rx, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
		tv := unix.NsecToTimeval((2 * time.Second).Nanoseconds())
		return unix.SetsockoptTimeval(c.rx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		c.close()
		return nil, fmt.Errorf("raw sockets: %w", err)
	}
	return c, nil
}

func (c *rawConn) close() {
	for _, fd := range []int{c.tx, c.rx} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	c.tx, c.rx = -1, -1
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// putHeaders writes Ethernet, IPv4 and TCP headers (no options unless
// opts) for n octets of payload into b and returns the TCP header's
// offset and length; the TCP checksum field holds the pseudo-header sum.
func (c *rawConn) putHeaders(b []byte, seq uint32, flags uint8, opts []byte, n int) {
	copy(b[0:6], c.dstMAC)
	copy(b[6:12], c.srcMAC)
	binary.BigEndian.PutUint16(b[12:], unix.ETH_P_IP)
	ip := b[14:34]
	tcpLen := 20 + len(opts)
	ip[0], ip[1] = 0x45, 0
	binary.BigEndian.PutUint16(ip[2:], uint16(20+tcpLen+n))
	c.ipid++
	binary.BigEndian.PutUint16(ip[4:], c.ipid)
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
	ip[8], ip[9] = 64, unix.IPPROTO_TCP
	ip[10], ip[11] = 0, 0
	s4, d4 := testbed.RawIPv4.As4(), testbed.ServerIPv4.As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	binary.BigEndian.PutUint16(ip[10:], ^wire.Checksum(ip, 0))
	th := b[34 : 34+tcpLen]
	binary.BigEndian.PutUint16(th[0:], c.port)
	binary.BigEndian.PutUint16(th[2:], srvPort)
	binary.BigEndian.PutUint32(th[4:], seq)
	binary.BigEndian.PutUint32(th[8:], c.rcvNxt)
	th[12] = byte(tcpLen/4) << 4
	th[13] = flags
	binary.BigEndian.PutUint16(th[14:], 512) // 64 KiB at our scale 7; we receive nothing
	binary.BigEndian.PutUint32(th[16:], 0)   // checksum, urgent
	copy(th[20:], opts)
	binary.BigEndian.PutUint16(th[16:],
		wire.PseudoHeaderSumAddr(unix.IPPROTO_TCP, testbed.RawIPv4, testbed.ServerIPv4, uint32(tcpLen+n)))
}

// finish turns the pseudo-header sum in the TCP header at b[34:34+tcpLen]
// into the full checksum over it and payload.
func finish(b []byte, tcpLen int, payload []byte) {
	th := b[34 : 34+tcpLen]
	s := binary.BigEndian.Uint16(th[16:])
	th[16], th[17] = 0, 0
	s = wire.Checksum(payload, wire.Checksum(th, s))
	binary.BigEndian.PutUint16(th[16:], ^s)
}

// sendControl sends a payload-less segment with a full checksum.
func (c *rawConn) sendControl(seq uint32, flags uint8, opts []byte) error {
	b := make([]byte, vnetLen+hdrLen+len(opts))
	f := b
	if c.vnet {
		f = b[vnetLen:] // a zero virtio_net_hdr: no GSO, checksum complete
	}
	c.putHeaders(f, seq, flags, opts, 0)
	finish(f, 20+len(opts), nil)
	if !c.vnet {
		b = f
	}
	_, err := unix.Write(c.tx, b)
	return err
}

// recv reads one frame of this flow; block waits up to the socket's
// timeout. It returns false when nothing came.
func (c *rawConn) recv(block bool) (bool, error) {
	for {
		flags := unix.MSG_DONTWAIT
		if block {
			flags = 0
		}
		n, _, err := unix.Recvfrom(c.rx, c.rxbuf, flags)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if wire.ParseFrameFlags(c.rxbuf[:n], &c.f, wire.AcceptPartialChecksum) != nil ||
			c.f.Dst != testbed.RawIPv4 || c.f.DstPort != c.port || c.f.SrcPort != srvPort {
			continue
		}
		if c.f.Flags&wire.TCPFlagRST != 0 {
			return false, errors.New("RST from the server")
		}
		return true, nil
	}
}

// onAck takes the frame in c.f as an ACK.
func (c *rawConn) onAck() {
	if c.f.Flags&wire.TCPFlagACK == 0 {
		return
	}
	c.acks++
	ack := c.f.Ack
	wnd := uint32(c.f.Window) << c.wscale
	switch {
	case int32(ack-c.una) > 0 && int32(ack-c.nxt) <= 0:
		c.una, c.wnd, c.dupacks = ack, wnd, 0
	case ack == c.una:
		if wnd == c.wnd && c.nxt != c.una && len(c.f.Payload) == 0 && c.f.Flags&wire.TCPFlagFIN == 0 {
			c.dupacks++
		}
		c.wnd = wnd
	}
}

// drain takes every ACK already queued, or with block waits for one.
func (c *rawConn) drain(block bool) error {
	for {
		ok, err := c.recv(block)
		if err != nil {
			return err
		}
		if !ok {
			if block {
				return fmt.Errorf("no ACK for 2 s (una %d nxt %d)", c.una-c.iss, c.nxt-c.iss)
			}
			return nil
		}
		c.onAck()
		if c.dupacks >= 3 {
			return fmt.Errorf("loss: %d duplicate ACKs at %d (no retransmission here)", c.dupacks, c.una-c.iss)
		}
		block = false
	}
}

func (c *rawConn) handshake() error {
	opts := []byte{wire.TCPOptMSS, 4, mss >> 8, mss & 0xff, wire.TCPOptNOP, wire.TCPOptWScale, 3, 7}
	for try := 0; ; try++ {
		if try == 5 {
			return errors.New("no SYN-ACK")
		}
		if err := c.sendControl(c.iss, wire.TCPFlagSYN, opts); err != nil {
			return fmt.Errorf("SYN: %w", err)
		}
		ok, err := c.recv(true)
		if err != nil {
			return err
		}
		if ok && c.f.Flags&(wire.TCPFlagSYN|wire.TCPFlagACK) == wire.TCPFlagSYN|wire.TCPFlagACK && c.f.Ack == c.iss+1 {
			break
		}
	}
	if !c.f.Options.HasWScale {
		return errors.New("SYN-ACK without window scaling")
	}
	c.wscale = c.f.Options.WScale
	c.rcvNxt = c.f.Seq + 1
	c.una, c.nxt, c.wnd = c.iss+1, c.iss+1, uint32(c.f.Window)
	return c.sendControl(c.nxt, wire.TCPFlagACK, nil)
}

// stream does the handshake, sends total octets of the pattern within the
// receiver's window, a FIN, and waits for all of it to be acknowledged.
func (c *rawConn) stream(m mode, total int64, res *result) error {
	if err := c.handshake(); err != nil {
		return err
	}
	start := c.nxt
	var sent int64
	var err error
	if m == gsoSuper {
		err = c.sendGSO(total, &sent, res)
	} else {
		err = c.sendFrames(total, &sent, res)
	}
	if err != nil {
		return err
	}
	if c.nxt-start != uint32(total) {
		return fmt.Errorf("sent %d of %d", c.nxt-start, total)
	}
	if err := c.sendControl(c.nxt, wire.TCPFlagFIN|wire.TCPFlagACK, nil); err != nil {
		return err
	}
	c.nxt++
	for c.una != c.nxt {
		if err := c.drain(true); err != nil {
			return err
		}
	}
	res.acks, res.dup = c.acks, c.dupacks
	return nil
}

// room waits until the window has room for want octets (fewer at the
// end of the stream) and returns how much it has.
func (c *rawConn) room(want int64) (int64, error) {
	if err := c.drain(false); err != nil {
		return 0, err
	}
	for {
		avail := int64(int32(c.una + c.wnd - c.nxt))
		if avail >= want {
			return avail, nil
		}
		if err := c.drain(true); err != nil {
			return 0, err
		}
	}
}

// sendFrames sends one MSS per frame, up to burst frames per sendmmsg:
// headers built and the payload summed in user space, the payload handed
// to the kernel by iovec (the kernel copies it into each frame's skb).
func (c *rawConn) sendFrames(total int64, sent *int64, res *result) error {
	hdrs := make([]byte, burst*hdrLen)
	iov := make([]unix.Iovec, 2*burst)
	msgs := make([]unix.Mmsghdr, burst)
	for *sent < total {
		avail, err := c.room(min(mss, total-*sent))
		if err != nil {
			return err
		}
		k := 0
		for ; k < burst && *sent < total && avail >= min(mss, total-*sent); k++ {
			n := int(min(mss, total-*sent))
			h := hdrs[k*hdrLen : (k+1)*hdrLen]
			p := pat(*sent, n)
			c.putHeaders(h, c.nxt, wire.TCPFlagACK, nil, n)
			finish(h, 20, p)
			iov[2*k] = unix.Iovec{Base: &h[0], Len: hdrLen}
			iov[2*k+1] = unix.Iovec{Base: &p[0], Len: uint64(n)}
			msgs[k] = unix.Mmsghdr{Hdr: unix.Msghdr{Iov: &iov[2*k], Iovlen: 2}}
			c.nxt += uint32(n)
			*sent += int64(n)
			avail -= int64(n)
		}
		for i := 0; i < k; {
			r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(c.tx),
				uintptr(unsafe.Pointer(&msgs[i])), uintptr(k-i), 0, 0, 0)
			if errno == unix.EINTR {
				continue
			}
			if errno != 0 {
				return fmt.Errorf("sendmmsg: %w", errno)
			}
			res.sends++
			i += int(r)
		}
		runtime.KeepAlive(hdrs)
	}
	return nil
}

// sendGSO sends up to superLen octets per sendmsg as one TCP segment with
// a virtio_net_hdr asking for TCPv4 segmentation at mss and a partial
// checksum (the TCP checksum field holding the pseudo-header sum over
// the whole super-segment's TCP length, as tcp_v4_send_check leaves it).
func (c *rawConn) sendGSO(total int64, sent *int64, res *result) error {
	h := make([]byte, vnetLen+hdrLen)
	iov := make([]unix.Iovec, 2)
	for *sent < total {
		avail, err := c.room(min(mss, total-*sent))
		if err != nil {
			return err
		}
		n := min(superLen, total-*sent, avail)
		if n > mss && n < total-*sent {
			n -= n % mss
		}
		p := pat(*sent, int(n))
		// struct virtio_net_hdr, little-endian (PACKET_VNET_HDR's is).
		h[0] = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM
		h[1] = 0 // VIRTIO_NET_HDR_GSO_NONE
		gsoSize := uint16(0)
		if n > mss {
			h[1] = 1 // VIRTIO_NET_HDR_GSO_TCPV4
			gsoSize = mss
		}
		binary.LittleEndian.PutUint16(h[2:], hdrLen)  // hdr_len
		binary.LittleEndian.PutUint16(h[4:], gsoSize) // gso_size
		binary.LittleEndian.PutUint16(h[6:], 34)      // csum_start: the TCP header
		binary.LittleEndian.PutUint16(h[8:], 16)      // csum_offset: its checksum field
		c.putHeaders(h[vnetLen:], c.nxt, wire.TCPFlagACK, nil, int(n))
		iov[0] = unix.Iovec{Base: &h[0], Len: uint64(len(h))}
		iov[1] = unix.Iovec{Base: &p[0], Len: uint64(n)}
		msg := unix.Msghdr{Iov: &iov[0], Iovlen: 2}
		for {
			r, _, errno := unix.Syscall(unix.SYS_SENDMSG, uintptr(c.tx), uintptr(unsafe.Pointer(&msg)), 0)
			if errno == unix.EINTR {
				continue
			}
			if errno != 0 {
				return fmt.Errorf("sendmsg %d octets: %w", n, errno)
			}
			if int64(r) != int64(len(h))+n {
				return fmt.Errorf("sendmsg sent %d of %d", r, int64(len(h))+n)
			}
			break
		}
		runtime.KeepAlive(h)
		res.sends++
		c.nxt += uint32(n)
		*sent += n
	}
	return nil
}

// napiCPU is the CPU time the threads have used (testbed.ThreadCPU).
func napiCPU(tb testing.TB, pids []int) time.Duration {
	var sum time.Duration
	for _, p := range pids {
		d, err := testbed.ThreadCPU(p)
		if err != nil {
			tb.Fatalf("NAPI thread %d: %v", p, err)
		}
		sum += d
	}
	return sum
}

// linkStat reads one of h's veth's counters (sysfs as `ip netns exec`
// mounts it: the namespace's own devices).
func linkStat(tb testing.TB, h *testbed.Host, name string) int64 {
	out, err := h.Exec(context.Background(), "cat", "/sys/class/net/"+h.Link+"/statistics/"+name)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// TestGSOProbe sends 32 MiB with each mode, with the Peer's veth offloads
// off (the testbed's default) and on, checks the stream and that each
// mode took its path, and logs the sender's cost.
func TestGSOProbe(t *testing.T) {
	const total = 32 << 20
	for _, offloads := range []bool{false, true} {
		t.Run(fmt.Sprintf("offloads=%v", offloads), func(t *testing.T) {
			r := newRig(t, offloads)
			for _, m := range modes {
				res := r.run(t, m, total)
				t.Logf("%v: %v", m, res)
				frames := float64(total) / mss
				switch m {
				case perFrame:
					// One send per batch of MSS frames.
					if float64(res.sends) > frames || res.sends == 0 {
						t.Errorf("%v: %d sends for %.0f frames", m, res.sends, frames)
					}
				case gsoSuper:
					// Each send carried up to 44 MSS in one skb (a send
					// larger than the MTU fails without GSO).
					if max := int(frames); res.sends > max/4 {
						t.Errorf("%v: %d sends, want about %.0f", m, res.sends, frames/superSegs)
					}
				}
				// What crossed the veth: one skb per MSS, except a
				// super-segment (or kernel TCP's GSO skb) to a Peer end
				// with TSO, which veth hands over whole.
				whole := offloads && m != perFrame
				if tx := float64(res.peerTx); whole && tx > frames/4 || !whole && tx < frames {
					t.Errorf("%v: %d skbs crossed the Peer's veth for %.0f MSS", m, res.peerTx, frames)
				}
				if res.dup != 0 {
					t.Errorf("%v: %d duplicate ACKs", m, res.dup)
				}
			}
		})
	}
}

// BenchmarkSend reports the sender's CPU per MiB (its thread and the
// Peer's NAPI thread) for each mode; b.N is MiB of stream.
//
//	flock /work/wt/bench.lock go test -run '^$' -bench Send -benchtime 256x -count 3 ./bench/gsoprobe/
func BenchmarkSend(b *testing.B) {
	for _, offloads := range []bool{false, true} {
		b.Run(fmt.Sprintf("offloads=%v", offloads), func(b *testing.B) {
			r := newRig(b, offloads)
			for _, m := range modes {
				b.Run(m.String(), func(b *testing.B) {
					b.ReportAllocs()
					res := r.run(b, m, int64(b.N)<<20)
					b.ReportMetric(res.perMiB(res.thread+res.napi), "us/MiB")
					b.ReportMetric(res.perMiB(res.thread), "thread-us/MiB")
					b.ReportMetric(res.perMiB(res.napi), "napi-us/MiB")
					b.ReportMetric(float64(res.sends)/res.mib, "sends/MiB")
					b.ReportMetric(float64(res.peerTx)/res.mib, "skb/MiB")
				})
			}
		})
	}
}
