// Package capture writes the frames sluice's loops receive and send to a
// pcapng file that tcpdump, tshark and Wireshark read, and pcapgo reads
// back. A Writer is a sluice.Tap (and a sched.Tap): install it with
// Server.SetTap (or Group.SetTap) once and switch it on and off at run
// time (Enable), optionally keeping only the segments to or from one TCP
// port (SetPort).
//
// The frames never reach the kernel's own capture points: AF_XDP takes them
// in the driver, before the taps tcpdump -i uses, and sends them after. So
// this is the only way to see what sluice saw and said on the wire.
//
// Direction: classic pcap has no direction field and pcapgo writes no
// pcapng epb_flags, so each (queue, direction) pair gets an interface of
// its own in the pcapng file, named "q<queue>-rx" and "q<queue>-tx"
// (`tshark -T fields -e frame.interface_name`, or pcapgo's
// NgReader.Interface(ci.InterfaceIndex).Name).
package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Options shape a Writer.
type Options struct {
	// Snaplen keeps at most this many octets of each frame [65535].
	Snaplen int
	// MaxBytes stops writing once the file has grown past this many octets
	// of frame data (later frames are counted as Skipped); 0: no limit.
	MaxBytes int64
	// Port keeps only TCP segments from or to this port; 0 keeps every
	// frame. SetPort changes it at run time.
	Port uint16
	// Disabled starts the writer switched off (Enable turns it on).
	Disabled bool
}

// Stats count what a Writer did.
type Stats struct {
	Written  uint64 // frames written
	Filtered uint64 // frames the port filter left out
	Skipped  uint64 // frames not written: MaxBytes reached or a write error
	Bytes    int64  // frame octets written
}

// Writer is a pcapng writer and a frame tap. Frame may be called from
// every loop at once; the file is written under a lock, so a capture
// serializes the loops it sees: capture for diagnosis, not permanently.
type Writer struct {
	on   atomic.Bool
	port atomic.Uint32

	mu      sync.Mutex
	w       *pcapgo.NgWriter
	file    io.Closer
	ifaces  map[int]int // queue*2+dir -> pcapng interface id
	snaplen int
	max     int64
	st      Stats
	err     error
	closed  bool
}

// New writes a pcapng section header to w and returns a Writer appending
// to it. Close flushes (and closes w if it is an io.Closer of Create).
func New(w io.Writer, o Options) (*Writer, error) {
	if o.Snaplen <= 0 {
		o.Snaplen = 65535
	}
	// The first interface must exist before the writer is made; it is
	// queue 0's RX, which nearly every capture has.
	ng, err := pcapgo.NewNgWriterInterface(w, ngIface(0, false, o.Snaplen), pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Application: "sluice capture"},
	})
	if err != nil {
		return nil, fmt.Errorf("capture: pcapng header: %w", err)
	}
	c := &Writer{w: ng, ifaces: map[int]int{0: 0}, snaplen: o.Snaplen, max: o.MaxBytes}
	c.port.Store(uint32(o.Port))
	c.on.Store(!o.Disabled)
	return c, nil
}

// Create makes (truncates) the file at path and returns a Writer to it.
func Create(path string, o Options) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	c, err := New(f, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.file = f
	return c, nil
}

func ngIface(queue int, out bool, snaplen int) pcapgo.NgInterface {
	dir := "rx"
	if out {
		dir = "tx"
	}
	return pcapgo.NgInterface{
		Name:                fmt.Sprintf("q%d-%s", queue, dir),
		Description:         fmt.Sprintf("sluice loop %d, frames %s", queue, map[bool]string{false: "received", true: "sent"}[out]),
		LinkType:            layers.LinkTypeEthernet,
		SnapLength:          uint32(snaplen),
		TimestampResolution: 9, // nanoseconds
	}
}

// Enable switches capturing on or off. Off, Frame costs one atomic load.
func (c *Writer) Enable(on bool) { c.on.Store(on) }

// Enabled reports whether the writer captures.
func (c *Writer) Enabled() bool { return c.on.Load() }

// SetPort keeps only TCP segments from or to port (0: every frame).
func (c *Writer) SetPort(port uint16) { c.port.Store(uint32(port)) }

// Frame implements the tap: it records frame as received (out false) or
// sent (out true) by the loop of queue. frame is copied before Frame
// returns.
func (c *Writer) Frame(queue int, out bool, frame []byte) {
	if !c.on.Load() {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if p := uint16(c.port.Load()); p != 0 {
		sp, dp, ok := tcpPorts(frame)
		if !ok || (sp != p && dp != p) {
			c.st.Filtered++
			return
		}
	}
	n := min(len(frame), c.snaplen)
	if c.err != nil || (c.max > 0 && c.st.Bytes+int64(n) > c.max) {
		c.st.Skipped++
		return
	}
	key := queue * 2
	if out {
		key++
	}
	id, ok := c.ifaces[key]
	if !ok {
		var err error
		if id, err = c.w.AddInterface(ngIface(queue, out, c.snaplen)); err != nil {
			c.err = err
			c.st.Skipped++
			return
		}
		c.ifaces[key] = id
	}
	ci := gopacket.CaptureInfo{Timestamp: now, CaptureLength: n, Length: len(frame), InterfaceIndex: id}
	if err := c.w.WritePacket(ci, frame[:n]); err != nil {
		c.err = err
		c.st.Skipped++
		return
	}
	c.st.Written++
	c.st.Bytes += int64(n)
}

// Stats returns the counters.
func (c *Writer) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

// Flush writes buffered frames out, so a reader sees them while capturing
// goes on.
func (c *Writer) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	return c.flushLocked()
}

func (c *Writer) flushLocked() error {
	return c.w.Flush() // NgWriter buffers in a bufio.Writer of its own
}

// Close stops capturing, flushes, and closes the file Create opened. Frame
// calls after Close do nothing. It reports the first write error, if any.
func (c *Writer) Close() error {
	c.on.Store(false)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err := errors.Join(c.err, c.flushLocked())
	if c.file != nil {
		err = errors.Join(err, c.file.Close())
	}
	return err
}

// tcpPorts finds the TCP ports of an Ethernet frame: at most one 802.1Q or
// 802.1ad tag, IPv4 with options, IPv6 with TCP as the first next header
// (frames sluice handles; anything else reports !ok). It checks only what
// it reads: a capture records malformed frames too, it does not judge them.
func tcpPorts(f []byte) (src, dst uint16, ok bool) {
	if len(f) < 14 {
		return 0, 0, false
	}
	et, off := binary.BigEndian.Uint16(f[12:]), 14
	if et == 0x8100 || et == 0x88a8 {
		if len(f) < 18 {
			return 0, 0, false
		}
		et, off = binary.BigEndian.Uint16(f[16:]), 18
	}
	switch et {
	case 0x0800:
		if len(f) < off+20 || f[off+9] != 6 {
			return 0, 0, false
		}
		if frag := binary.BigEndian.Uint16(f[off+6:]); frag&0x1fff != 0 {
			return 0, 0, false // a later fragment carries no TCP header
		}
		off += int(f[off]&0x0f) * 4
	case 0x86dd:
		if len(f) < off+40 || f[off+6] != 6 {
			return 0, 0, false
		}
		off += 40
	default:
		return 0, 0, false
	}
	if len(f) < off+4 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(f[off:]), binary.BigEndian.Uint16(f[off+2:]), true
}
