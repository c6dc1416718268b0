package bulk

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/sched"
)

// chunk is how much the sluice server generates per Write.
const chunk = 64 << 10

// handler serves the protocol on sluice's loop thread.
type handler struct{ r *Rig }

type xfer struct {
	hdr       [headerLen]byte
	nh        int
	size, n   int64
	h         hash.Hash
	gen       *rand.ChaCha8
	buf       []byte
	published bool
}

func (x *xfer) mode() byte { return x.hdr[0] }

func (hd *handler) OnOpen(c *sched.Conn) { c.Context = &xfer{h: sha256.New()} }

func (hd *handler) OnData(c *sched.Conn, data []byte) {
	x := c.Context.(*xfer)
	if x.nh < headerLen {
		k := copy(x.hdr[x.nh:], data)
		x.nh += k
		data = data[k:]
		if x.nh < headerLen {
			return
		}
		x.size = int64(binary.BigEndian.Uint64(x.hdr[1:]))
		switch x.mode() {
		case Upload:
		case Download:
			x.gen = stream(binary.BigEndian.Uint64(x.hdr[9:]))
			x.buf = make([]byte, chunk)
			hd.fill(c, x)
		default:
			hd.fail(c, x, fmt.Errorf("unknown mode %q", x.mode()))
			return
		}
	}
	if len(data) == 0 {
		return
	}
	if x.mode() != Upload || x.n+int64(len(data)) > x.size {
		hd.fail(c, x, fmt.Errorf("unexpected %d octets after %d (mode %q, size %d)", len(data), x.n, x.mode(), x.size))
		return
	}
	x.h.Write(data)
	x.n += int64(len(data))
}

// fill writes the next chunks of a download until Write holds some back
// (OnWritable then calls again) or all is written, then closes.
func (hd *handler) fill(c *sched.Conn, x *xfer) {
	for x.n < x.size && c.Buffered() == 0 {
		b := x.buf[:min(int64(len(x.buf)), x.size-x.n)]
		x.gen.Read(b)
		x.h.Write(b)
		if _, err := c.Write(b); err != nil {
			hd.fail(c, x, err)
			return
		}
		x.n += int64(len(b))
	}
	if x.n == x.size && !x.published {
		c.Close()
		hd.publish(c, x, nil)
	}
}

func (hd *handler) OnWritable(c *sched.Conn) {
	if x := c.Context.(*xfer); x.mode() == Download {
		hd.fill(c, x)
	}
}

func (hd *handler) OnEOF(c *sched.Conn) {
	x := c.Context.(*xfer)
	if x.mode() == Upload && x.nh == headerLen {
		var sum [32]byte
		x.h.Sum(sum[:0])
		c.Write(sum[:])
		c.Close()
		hd.publish(c, x, nil)
		return
	}
	c.Close()
}

func (hd *handler) OnClose(c *sched.Conn, err error) {
	x := c.Context.(*xfer)
	if err == nil {
		err = errors.New("closed before the transfer ended")
	}
	hd.publish(c, x, err)
}

func (hd *handler) fail(c *sched.Conn, x *xfer, err error) {
	hd.publish(c, x, err)
	c.Abort()
}

func (hd *handler) publish(c *sched.Conn, x *xfer, err error) {
	if x.published {
		return
	}
	x.published = true
	res := serverResult{mode: x.mode(), octets: x.n, err: err}
	x.h.Sum(res.sum[:0])
	if tcb := c.TCB(); tcb != nil {
		st := *tcb.Stats()
		res.tcp = &st
	}
	hd.r.publish(c.RemoteAddr(), res)
}

// serveLinux is the kernel-TCP server of the same protocol.
func (r *Rig) serveLinux() {
	defer r.lnDone.Done()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			tc := c.(*net.TCPConn)
			var res serverResult
			var err error
			if err = setCongestion(tc, r.linuxCC); err == nil {
				res, err = linuxServe(tc)
			}
			res.err = err
			r.publish(c.RemoteAddr().(*net.TCPAddr).AddrPort(), res)
		}()
	}
}

func linuxServe(c *net.TCPConn) (res serverResult, err error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return res, err
	}
	res.mode = hdr[0]
	size := int64(binary.BigEndian.Uint64(hdr[1:]))
	h := sha256.New()
	switch res.mode {
	case Upload:
		res.octets, err = io.Copy(h, io.LimitReader(c, size+1))
		h.Sum(res.sum[:0])
		if err != nil || res.octets != size {
			return res, fmt.Errorf("upload: %d of %d octets: %v", res.octets, size, err)
		}
		_, err = c.Write(res.sum[:])
		return res, err
	case Download:
		res.octets, err = io.Copy(c, io.TeeReader(io.LimitReader(stream(binary.BigEndian.Uint64(hdr[9:])), size), h))
		h.Sum(res.sum[:0])
		return res, err
	}
	return res, fmt.Errorf("unknown mode %q", res.mode)
}

// setCongestion selects the socket's congestion control (TCP_CONGESTION);
// an empty name keeps the host's default.
func setCongestion(c *net.TCPConn, name string) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	return setCongestionRaw(rc, name)
}

func setCongestionRaw(rc syscall.RawConn, name string) error {
	if name == "" {
		return nil
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, name)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("TCP_CONGESTION %q: %w", name, serr)
	}
	return nil
}
