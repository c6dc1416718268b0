package impair

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// port is an AF_PACKET socket on one middle link: it reads the frames the
// link receives (the far end's transmissions) and writes frames out of it.
type port struct {
	link string
	fd   int
	mu   sync.Mutex // guards kernelDrops and the PACKET_STATISTICS read
	// kernelDrops accumulates PACKET_STATISTICS tp_drops, which the
	// kernel resets on every read.
	kernelDrops uint64
}

// sockBuf is the socket buffer asked for each way: a few milliseconds of
// frames at the rates these tests reach, so a forwarder thread that is
// descheduled for a moment (two shared cores) does not turn into loss.
const sockBuf = 16 << 20

// pollInterval bounds how long a blocked read waits before it looks at
// the stop channel.
const pollInterval = 50 * time.Millisecond

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openPort opens the socket in the calling thread's namespace.
func openPort(link string, ifindex int) (*port, error) {
	// Protocol 0 until bound: no frame from another link is queued
	// between socket() and bind().
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("impair: AF_PACKET socket (needs CAP_NET_RAW): %w", err)
	}
	p := &port{link: link, fd: fd}
	fail := func(what string, err error) (*port, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("impair: %s on %s: %w", what, link, err)
	}
	// Frames this socket (or the other direction's) writes out of the
	// link would otherwise come back to it as PACKET_OUTGOING.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fail("PACKET_IGNORE_OUTGOING", err)
	}
	for _, o := range []int{unix.SO_RCVBUFFORCE, unix.SO_SNDBUFFORCE} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o, sockBuf); err != nil {
			return fail("socket buffer", err)
		}
	}
	tv := unix.NsecToTimeval(pollInterval.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("SO_RCVTIMEO", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		return fail("bind", err)
	}
	return p, nil
}

// recv reads up to len(bufs) frames (at least one, or none when nothing
// came within pollInterval) and records each one's real length in lens,
// which may exceed its buffer (MSG_TRUNC).
func (p *port) recv(m *mmsg, bufs [][]byte, lens []int) (int, error) {
	for i, b := range bufs {
		m.set(i, b)
	}
	n, err := m.recv(p.fd, len(bufs))
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("impair: read %s: %w", p.link, err)
	}
	for i := range n {
		lens[i] = m.length(i)
	}
	return n, nil
}

// send writes frames (at most batchMax) and returns how many went out. It
// retries while the link's queue is full (the veth applies backpressure
// through its qdisc: ENOBUFS) for up to a second, so a full queue slows the
// forwarder down instead of losing frames.
func (p *port) send(m *mmsg, frames [][]byte, stop <-chan struct{}) (int, error) {
	for i, f := range frames {
		m.set(i, f)
	}
	sent := 0
	for try := 0; sent < len(frames); {
		k, err := m.send(p.fd, sent, len(frames))
		sent += k
		if err == nil {
			if k == 0 {
				try++ // no progress without an error: count it as a retry
			}
			continue
		}
		if !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
			return sent, fmt.Errorf("impair: write %s: %w", p.link, err)
		}
		if try++; try >= 10000 {
			return sent, fmt.Errorf("impair: write %s: queue full for a second: %w", p.link, err)
		}
		select {
		case <-stop:
			return sent, err
		default:
		}
		time.Sleep(100 * time.Microsecond)
	}
	return sent, nil
}

// drops returns the kernel's drop count for this socket so far.
func (p *port) drops() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd >= 0 {
		if st, err := unix.GetsockoptTpacketStats(p.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			p.kernelDrops += uint64(st.Drops)
		}
	}
	return p.kernelDrops
}

func (p *port) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd < 0 {
		return nil
	}
	err := unix.Close(p.fd)
	p.fd = -1
	return err
}
