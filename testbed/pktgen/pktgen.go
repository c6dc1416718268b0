// Package pktgen sends prebuilt Ethernet frames out of an interface as fast
// as the kernel takes them, through an AF_PACKET socket with
// PACKET_QDISC_BYPASS and sendmmsg batches. It is the load source of the
// AF_XDP reflector benchmark and of flood tests on the testbed; it only ever
// sends on the interface it is given, which callers keep inside a testbed
// namespace.
package pktgen

import (
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// Sender transmits frames on one interface.
type Sender struct {
	fd     int
	frames [][]byte
	next   int
	batch  batch
}

// Batch is how many frames one sendmmsg call carries.
const Batch = 64

// New opens an AF_PACKET socket bound to ifindex (in the calling thread's
// namespace: call it inside testbed's Host.Do). frames are sent round-robin.
func New(ifindex int, frames [][]byte) (*Sender, error) {
	if len(frames) == 0 {
		return nil, errors.New("pktgen: no frames to send")
	}
	for i, f := range frames {
		if len(f) < 14 {
			return nil, fmt.Errorf("pktgen: frame %d is %d bytes, shorter than an Ethernet header", i, len(f))
		}
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0) // protocol 0: send only, receive nothing
	if err != nil {
		return nil, fmt.Errorf("pktgen: AF_PACKET socket (needs CAP_NET_RAW): %w", err)
	}
	// Bypass the qdisc, as a NIC driver's xmit would see it: the benchmark
	// measures the receiver, not the sender's queueing discipline.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pktgen: PACKET_QDISC_BYPASS: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pktgen: bind to ifindex %d: %w", ifindex, err)
	}
	s := &Sender{fd: fd, frames: frames}
	s.batch.init()
	return s, nil
}

// Send transmits up to n frames (in batches) and returns how many the
// kernel accepted. A full device queue (ENOBUFS/EAGAIN) ends the call early
// without an error: the caller decides whether to try again.
func (s *Sender) Send(n int) (int, error) {
	sent := 0
	for sent < n {
		k := min(Batch, n-sent)
		for i := range k {
			s.batch.set(i, s.frames[s.next])
			s.next++
			if s.next == len(s.frames) {
				s.next = 0
			}
		}
		m, err := s.batch.send(s.fd, k)
		sent += m
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) {
				return sent, nil
			}
			return sent, fmt.Errorf("pktgen: sendmmsg: %w", err)
		}
		if m < k {
			return sent, nil
		}
	}
	return sent, nil
}

// Limits bound a Run. The zero value of a field means "no limit" for it,
// except that a Run always needs Duration or Count.
type Limits struct {
	Duration time.Duration // stop after this long
	Count    uint64        // stop after this many frames
	Rate     int           // frames per second; 0 means as fast as possible
	Stop     <-chan struct{}
}

// Run sends until a limit is reached and returns the number of frames the
// kernel accepted. A rate is paced in 1 ms steps.
func (s *Sender) Run(l Limits) (uint64, error) {
	if l.Duration <= 0 && l.Count == 0 {
		return 0, errors.New("pktgen: Run needs a Duration or a Count")
	}
	var total uint64
	start := time.Now()
	for {
		select {
		case <-l.Stop:
			return total, nil
		default:
		}
		now := time.Now()
		if l.Duration > 0 && now.Sub(start) >= l.Duration {
			return total, nil
		}
		want := uint64(16 * Batch)
		if l.Count > 0 {
			if total >= l.Count {
				return total, nil
			}
			want = min(want, l.Count-total)
		}
		if l.Rate > 0 {
			due := uint64(now.Sub(start).Seconds() * float64(l.Rate))
			if due <= total {
				time.Sleep(time.Millisecond)
				continue
			}
			want = min(want, due-total)
		}
		n, err := s.Send(int(want))
		total += uint64(n)
		if err != nil {
			return total, err
		}
	}
}

// Close releases the socket.
func (s *Sender) Close() error {
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}

// MAC parses a MAC address or panics; for building frames in tests.
func MAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}
