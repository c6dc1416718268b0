package main

// The idle workload: how much memory a server spends on a connection that
// does nothing. Each server in turn gets -idle-conns connections (100,000
// by default) left idle; the figure is the growth of the server process's
// resident set over the connections it holds, each end read after the
// server collected its garbage and returned it to the OS (live memory).
//
// sluice's servers get their connections from the raw-frame generator
// (bench/conngen, Config.Idle): SYN, a bare ACK of the SYN-ACK, nothing
// more, a million in seconds; the divisor is the server's own count of
// ESTABLISHED connections, not what the generator sent. The kernel-TCP
// servers get them from kernel clients (connect(2) in client processes),
// at most idleKernelMax: more pushes the host's tcp_mem past its limit
// and takes half an hour. For those servers the figure is only the
// user-space share (goroutine, buffers, gnet's connection): the kernel's
// socket (about 2 KiB of slab per TCP socket, more with buffers) is not
// in RSS. sluice keeps all of a connection in the process, so its figure
// is the whole cost.

import (
	"context"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicenet/sluice/testbed"
)

// idleRSSLimit stops opening connections when a server's RSS grows past it:
// a server that spends much per connection must not take the machine down;
// its figure is then measured over the connections it got.
const idleRSSLimit = 6 << 30

// idleKernelMax is the most connections kernel clients open to one
// server: beyond it the host's tcp_mem (shared by every namespace) runs
// out and opening takes most of an hour.
const idleKernelMax = 100_000

// idleSources is how many extra source addresses the generator uses: with
// IP_BIND_ADDRESS_NO_PORT each gives ~64k ports toward one server address.
func idleSources(n int) int { return n/50000 + 1 }

func idleWorkload(c config) ([]Result, error) {
	f := &figures{workload: "idle"}
	// The kernel clients and servers need a descriptor per connection,
	// at most idleKernelMax of them: main raised the limit for
	// -idle-conns, which fails for a million.
	raiseFileLimit(min(c.idleConns, idleKernelMax))
	bed, err := testbed.Create(testbed.Options{Queues: 1})
	if err != nil {
		return nil, err
	}
	defer bed.Close()
	widenPortRange(bed.Peer)
	var srcs []netip.Addr
	base := bed.Peer.IPv4.As4()
	for i := range idleSources(min(c.idleConns, idleKernelMax)) {
		a := base
		a[3] = byte(100 + i)
		src := netip.AddrFrom4(a)
		if out, err := bed.Peer.Exec(context.Background(), "ip", "addr", "add", src.String()+"/32", "dev", bed.Peer.Link); err != nil {
			return nil, fmt.Errorf("add source address %s: %v: %s", src, err, out)
		}
		srcs = append(srcs, src)
	}
	// idle runs once per server: opening 100k connections per run is the
	// expensive part, and memory is not noisy the way throughput is.
	for _, s := range httpServers {
		progressStep("idle", s.name)
		srv, err := startServer(bed, s, c.serverCPU)
		if err != nil {
			return nil, err
		}
		if isSluice(s.name) {
			err = measureIdleRaw(c, bed, srv, f, s)
		} else {
			err = measureIdle(c, bed, srv, srcs, f, s.name)
		}
		srv.stop()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return f.results(), nil
}

// idlePerProcess is how many connections one client process opens: under
// the open-file limit, which may not be raised where the suite runs in a
// container (the hard limit binds root too without CAP_SYS_RESOURCE).
func idlePerProcess() int {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil || l.Cur < 2000 {
		return 1000
	}
	return int(min(l.Cur-1000, 50000))
}

// idleServerMax is how many connections a kernel-TCP server is given: at
// most idleKernelMax, and it needs a descriptor per connection, so the
// open-file limit it inherits bounds it too.
func idleServerMax(want int) int {
	want = min(want, idleKernelMax)
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return want
	}
	return min(want, int(l.Cur)-1000)
}

// idleBaseline is srv's RSS before any idle connection: live memory
// only (as at the other end), garbage collected and returned to the OS
// first.
func idleBaseline(srv *serverProc) (int64, error) {
	time.Sleep(200 * time.Millisecond) // let the server finish starting
	if _, err := srv.statsAfterGC(); err != nil {
		return 0, err
	}
	return srv.rss()
}

func measureIdle(c config, bed *testbed.Bed, srv *serverProc, srcs []netip.Addr, f *figures, name string) error {
	rss0, err := idleBaseline(srv)
	if err != nil {
		return err
	}
	want := idleServerMax(c.idleConns)
	// Client processes in the peer namespace, each holding its share of
	// the connections until its stdin closes.
	per := idlePerProcess()
	var clients []*idleClient
	defer func() {
		for _, cl := range clients {
			cl.stop()
		}
	}()
	var srcList []string
	for _, a := range srcs {
		srcList = append(srcList, a.String())
	}
	for left := want; left > 0; left -= per {
		cl, err := startIdleClient(bed, srv.addr, srcList, min(left, per))
		if err != nil {
			return err
		}
		clients = append(clients, cl)
	}
	opened, failed := 0, 0
	var firstErr string
	for _, cl := range clients {
		for cl.result == nil {
			select {
			case <-cl.done:
				return fmt.Errorf("idle client exited: %s", cl.stderr)
			case <-srv.done:
				return fmt.Errorf("server exited: %s", srv.stderr)
			case r := <-cl.results:
				cl.result = &r
			case <-time.After(200 * time.Millisecond):
				if r, err := srv.rss(); err == nil && r-rss0 > idleRSSLimit {
					return fmt.Errorf("server RSS grew past %d MiB while opening idle connections", idleRSSLimit>>20)
				}
			}
		}
		opened += cl.result.opened
		failed += cl.result.failed
		if firstErr == "" {
			firstErr = cl.result.err
		}
	}
	if opened == 0 {
		return fmt.Errorf("no connection opened (%d failed: %s)", failed, firstErr)
	}
	// Connections the kernel completed may still wait in the accept queue
	// of a kernel-TCP server: give it time to take them all.
	time.Sleep(time.Second + time.Duration(opened)*5*time.Microsecond)
	if _, err := srv.statsAfterGC(); err != nil {
		return err
	}
	rss1, err := srv.rss()
	if err != nil {
		return fmt.Errorf("server RSS: %w (%s)", err, srv.stderr)
	}
	n := float64(opened)
	r := f.add(name, "bytes/idle connection", "B", lower, float64(rss1-rss0)/n)
	r.Note = fmt.Sprintf("server RSS delta / %d connections", opened)
	if !isSluice(name) {
		r.Note += "; user space only (kernel socket memory is not in RSS)"
	}
	if want < c.idleConns {
		r.Note += fmt.Sprintf("; %d, not %d: kernel clients open at most %d (tcp_mem), and one descriptor per connection under the open-file limit",
			want, c.idleConns, idleKernelMax)
	}
	if failed > 0 {
		r.Note += fmt.Sprintf("; %d connects failed: %s", failed, firstErr)
	}
	f.add(name, "idle connections", "conns", higher, n)
	f.add(name, "server RSS", "MiB", lower, float64(rss1)/(1<<20)).Note = "with the idle connections open"
	return nil
}

// dialIdle opens one blocking connection from src (port chosen at connect
// time, IP_BIND_ADDRESS_NO_PORT, so one address serves ~64k connections
// per destination) with a 5 s connect timeout.
func dialIdle(src netip.Addr, dst netip.AddrPort) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	tv := unix.Timeval{Sec: 5}
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4()}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %s: %w", src, err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: dst.Addr().As4(), Port: int(dst.Port())}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("connect %s: %w", dst, err)
	}
	return fd, nil
}

func isSluice(impl string) bool { return len(impl) >= 6 && impl[:6] == "sluice" }
